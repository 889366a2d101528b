"""The changes libbpf makes to an object's BTF before the kernel sees it (pure).

Besides the DATASEC sizes and offsets (``BTF.with_datasec_fixups``): extern
VARs (``.kconfig``, ``.ksyms``) become allocated globals, since the kernel
refuses extern linkage; and a global function of hidden visibility (as
``bpf_usdt_arg`` in libbpf's ``usdt.bpf.h``) becomes static, so the verifier
checks it with its caller's context and not on its own as a global function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._elffile import STV_HIDDEN, STV_INTERNAL, Symbol
from ._externs import fix_ksyms_btf
from .btf import BTF, Func, Var

__all__ = ["fix_for_load", "fixed"]

BTF_TYPE_SIZE = 12  # struct btf_type, followed by struct btf_var { u32 linkage; }
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2
BTF_FUNC_STATIC = 0


def fixed(
    btf: BTF, sizes: Mapping[str, int], offsets: Mapping[str, int], symbols: Iterable[Symbol]
) -> BTF:
    """``btf`` as the kernel is to see it: DATASEC ``sizes`` and variable
    ``offsets`` set (libbpf's ``btf_fixup_datasec``), then :func:`fix_for_load`;
    ``btf`` itself when nothing changed.

    Raises:
        ValueError: a size or offset does not fit in 32 bits.
    """
    raw = bytearray(btf.with_datasec_fixups(sizes, offsets))
    fix_for_load(btf, raw, symbols)
    if raw == btf.raw:  # nothing to fix (no DATASEC, no extern): parsed already
        return btf
    return BTF.parse(bytes(raw), file=btf.file)


def fix_for_load(btf: BTF, raw: bytearray, symbols: Iterable[Symbol]) -> None:
    """Patch ``raw`` (``btf``'s bytes, DATASECs fixed already) in place: extern
    VARs allocated, ksym types as libbpf leaves them, hidden global functions static."""
    order = btf.byteorder
    for t in btf.types:
        if isinstance(t, Var) and t.linkage == BTF_VAR_GLOBAL_EXTERN:
            rec = btf.record_offset(t)
            if rec is not None:
                at = rec + BTF_TYPE_SIZE
                raw[at : at + 4] = BTF_VAR_GLOBAL_ALLOCATED.to_bytes(4, order)
    fix_ksyms_btf(btf, raw)
    hidden = {
        sym.name
        for sym in symbols
        if sym.type == "STT_FUNC"
        and sym.bind in ("STB_GLOBAL", "STB_WEAK")
        and sym.visibility in (STV_HIDDEN, STV_INTERNAL)
    }
    for t in btf.types if hidden else ():
        if isinstance(t, Func) and t.name in hidden and t.linkage != BTF_FUNC_STATIC:
            rec = btf.record_offset(t)
            if rec is not None:
                info = int.from_bytes(raw[rec + 4 : rec + 8], order)
                info = (info & ~0xFFFF) | BTF_FUNC_STATIC  # vlen holds a FUNC's linkage
                raw[rec + 4 : rec + 8] = info.to_bytes(4, order)
