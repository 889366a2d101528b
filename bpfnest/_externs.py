"""``extern`` declarations: ``.kconfig`` values and ``__ksym`` kernel symbols. Pure.

The reading side (:func:`collect_externs`) finds each undefined ELF symbol's
VAR or FUNC in the object's BTF and the DATASEC that holds it, as libbpf's
``bpf_object__collect_externs`` does, and says what the loader must answer:
a ``.kconfig`` value of a C type (:func:`kconfig_kind`), or a kernel symbol,
typed (a VAR or FUNC in the kernel's BTF) or not (an address). The load side
writes the answers into the code (:func:`link_ksyms`: libbpf's
``RELO_EXTERN_LD64`` / ``RELO_EXTERN_CALL``) and makes the object's BTF one
the kernel takes (:func:`fix_ksyms_btf`). Resolving against the running
kernel is not here: that is ``bpfnest._kernel_btf``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Mapping, Sequence

from ._elffile import Symbol
from .btf import (
    BTF,
    VOID,
    Array,
    Composite,
    Datasec,
    Enum,
    Func,
    FuncProto,
    Fwd,
    Int,
    Pointer,
    Qualifier,
    Type,
    Typedef,
    Var,
)
from .errors import ParseError
from .spec import ExternSpec, KsymRef

__all__ = [
    "BPF_PSEUDO_BTF_ID",
    "BPF_PSEUDO_KFUNC_CALL",
    "KsymValue",
    "collect_externs",
    "compatible",
    "fix_ksyms_btf",
    "kconfig_kind",
    "link_ksyms",
]

KCONFIG = ".kconfig"
KSYMS = ".ksyms"
#: ``src_reg`` of a call of a kernel function by BTF id (5.13).
BPF_PSEUDO_KFUNC_CALL = 2
#: ``src_reg`` of an ``ld_imm64`` of a kernel variable by BTF id (5.10).
BPF_PSEUDO_BTF_ID = 3
#: libbpf's poison for a call of a weak kfunc the kernel lacks: an unknown
#: helper (``invalid func unknown#2002000000``) if it is ever reached.
POISON_CALL_KFUNC_BASE = 2002000000
_LD_IMM64 = 0x18
_CALL = 0x85
_KIND_ENUM64 = 19
_FUNC_GLOBAL = 1


@dataclasses.dataclass(frozen=True)
class KsymValue:
    """What a ``__ksym`` resolved to: ``btf_id`` of its VAR or FUNC in the
    kernel's BTF (typed; ``btf_obj_fd`` the module's BTF fd, 0 for
    vmlinux), or ``address`` (untyped). All 0: a weak one the kernel lacks."""

    btf_id: int = 0
    btf_obj_fd: int = 0
    address: int = 0


def strip(t: Type) -> Type:
    """``t`` without typedefs and qualifiers (at most 64 of them: a cycle stops there)."""
    for _ in range(64):
        if not isinstance(t, (Typedef, Qualifier)):
            break
        t = t.type
    return t


def kconfig_kind(t: Type) -> tuple[str | None, bool]:
    """(kind, signed) of a ``.kconfig`` extern of type ``t``, as libbpf's
    ``find_kcfg_type``: kind None when no config value can have that type."""
    t = strip(t)
    if isinstance(t, Int):
        if t.bool:
            return ("bool" if t.size == 1 else None), False
        if t.size == 1:
            return "char", t.signed
        return ("int" if t.size in (2, 4, 8) else None), t.signed
    if isinstance(t, Enum):
        ok = t.name == "libbpf_tristate" and (t.kind64 or t.size == 4)
        return ("tristate" if ok else None), False
    if isinstance(t, Array):
        ok = t.nelems > 0 and kconfig_kind(t.type)[0] == "char"
        return ("char_array" if ok else None), False
    return None, False


def _describe(t: Type) -> str:
    kind = type(t).__name__.lower()
    return f"{kind} {t.name}" if t.name else kind


def collect_externs(btf: BTF | None, symbols: Iterable[Symbol]) -> dict[str, ExternSpec]:
    """The externs of an object: each undefined ELF symbol of ``symbols``
    found as a VAR or FUNC in BTF DATASEC ``.kconfig`` or ``.ksyms`` becomes
    an :class:`ExternSpec` (``weak`` from the symbol's binding). Others are
    left out (a relocation against one is an error there).

    Raises:
        ParseError: a ``.kconfig`` extern of a type no config value has, or
            a function declared ``__kconfig``.
    """
    if btf is None:
        return {}
    where: dict[str, tuple[Type, str]] = {}
    for sec in (KCONFIG, KSYMS):
        for ds in btf.named(sec):
            if isinstance(ds, Datasec):
                for vsi in ds.vars:
                    where.setdefault(vsi.type.name, (vsi.type, sec))
    out: dict[str, ExternSpec] = {}
    for sym in symbols:
        name, weak = sym.name, sym.bind == "STB_WEAK"
        found = where.get(name) if sym.shndx == "SHN_UNDEF" and name else None
        if found is None:
            continue
        t, sec = found
        if sec == KCONFIG:
            if not isinstance(t, Var):
                raise ParseError(f"extern function '{name}' cannot be __kconfig", section=".BTF")
            kind, signed = kconfig_kind(t.type)
            if kind is None:
                raise ParseError(
                    f"extern '{name}' (.kconfig) is a {_describe(strip(t.type))}: a config value"
                    " is a bool, a char, an enum libbpf_tristate, an integer of 1, 2, 4 or 8"
                    " bytes, or a char array",
                    section=".BTF",
                )
            size = btf.sizeof(t.type)
            out[name] = ExternSpec(name, KCONFIG, kind, weak, size, signed)
        elif isinstance(t, Func):
            out[name] = ExternSpec(name, KSYMS, "func", weak, type=t.type)
        elif isinstance(t, Var):
            typed = strip(t.type) is not VOID
            kind = "var" if typed else "untyped"
            out[name] = ExternSpec(name, KSYMS, kind, weak, type=t.type if typed else None)
    return out


def compatible(local: Type, target: Type, level: int = 2) -> bool:
    """Whether the kernel's ``target`` type can stand for the declared
    ``local`` one, as libbpf's ``bpf_core_types_are_compat``: the same kind
    (enums of either width alike), integers of any size, structs and unions
    by kind only, pointers and arrays by what they hold, prototypes by
    their parameters and return type."""
    for _ in range(32):
        local, target = strip(local), strip(target)
        if isinstance(local, Enum) and isinstance(target, Enum):
            return True
        if type(local).__name__ != type(target).__name__:  # the kind (lazy types too)
            return False
        if isinstance(local, (Composite, Fwd)) or local is VOID:
            return True
        if isinstance(local, Int) and isinstance(target, Int):
            return local.bit_offset == 0 and target.bit_offset == 0
        if isinstance(local, Pointer) and isinstance(target, Pointer):
            local, target = local.target, target.target
        elif isinstance(local, Array) and isinstance(target, Array):
            local, target = local.type, target.type
        elif isinstance(local, FuncProto) and isinstance(target, FuncProto):
            if len(local.params) != len(target.params) or level <= 0:
                return False
            for lp, tp in zip(local.params, target.params, strict=True):
                if not compatible(lp.type, tp.type, level - 1):
                    return False
            local, target = local.return_type, target.return_type
        else:
            return False
    return False


def link_ksyms(
    insns: bytes,
    refs: Sequence[KsymRef],
    values: Mapping[str, KsymValue],
    byteorder: str,
    *,
    program: str = "",
) -> bytes:
    """A copy of ``insns`` with each ``__ksym`` reference answered (libbpf's
    ``bpf_object__relocate_data`` for externs).

    A typed one resolved (``btf_id``): its ``ld_imm64`` gets ``src_reg``
    ``BPF_PSEUDO_BTF_ID``, ``imm`` the id and the second slot's ``imm`` the
    module BTF fd (0: vmlinux); a kfunc call gets ``src_reg``
    ``BPF_PSEUDO_KFUNC_CALL`` and ``imm`` the FUNC's id. Otherwise the
    ``ld_imm64`` loads ``address`` (its two halves in the two ``imm``), 0 for
    a weak one the kernel lacks, and a call of a weak kfunc the kernel lacks
    becomes libbpf's poisoned helper call. Pure.

    Raises:
        ValueError: a reference outside the code or on an instruction of the
            wrong kind, or to an extern missing from ``values``.
    """
    who = f"program '{program}'" if program else "program"
    order = "<" if byteorder == "little" else ">"
    insn = struct.Struct(order + "BBhi")
    out = bytearray(insns)
    count = len(insns) // 8
    for n, ref in enumerate(refs):
        name, i = ref.extern.name, ref.insn
        want = _CALL if ref.call else _LD_IMM64
        if not 0 <= i < count - (0 if ref.call else 1) or out[i * 8] != want:
            raise ValueError(
                f"{who}: insn {i} refers to extern '{name}' but is not a"
                f" {'call' if ref.call else 'ld_imm64'}"
            )
        if name not in values:
            raise ValueError(f"{who}: insn {i} refers to extern '{name}', which was not resolved")
        value = values[name]
        code, regs, off, _ = insn.unpack_from(out, i * 8)
        if ref.call:
            src, imm, off = BPF_PSEUDO_KFUNC_CALL, value.btf_id, 0
            if not value.btf_id:  # a weak kfunc the kernel lacks: poisoned, as libbpf does
                src, imm, regs = 0, POISON_CALL_KFUNC_BASE + n, 0
        elif value.btf_id:
            src, imm = BPF_PSEUDO_BTF_ID, value.btf_id
            struct.pack_into(order + "i", out, (i + 1) * 8 + 4, value.btf_obj_fd)
        else:
            src, imm = 0, value.address & 0xFFFFFFFF
            struct.pack_into(order + "I", out, (i + 1) * 8 + 4, value.address >> 32)
        regs = (regs & 0x0F) | (src << 4) if byteorder == "little" else (regs & 0xF0) | src
        insn.pack_into(out, i * 8, code, regs, off, imm - (1 << 32) if imm >= 1 << 31 else imm)
    return bytes(out)


def fix_ksyms_btf(btf: BTF, raw: bytearray) -> None:
    """Make the ``.ksyms`` part of an object's BTF (``raw``, in ``btf``'s byte
    order) one the kernel takes, as libbpf does: its DATASEC, which names
    functions and has no section to size it, becomes an anonymous ENUM64 of
    the same length (the kernel never reads it); an untyped extern VAR
    points at a 4-byte INT (a VAR of void is refused); an extern FUNC
    becomes global, its unnamed parameters named after it."""
    e = "<" if btf.byteorder == "little" else ">"
    u32 = struct.Struct(e + "I")
    an_int = next((t.id for t in btf.types if isinstance(t, Int) and t.size == 4), 0)
    for ds in btf.named(KSYMS):
        rec = btf.record_offset(ds)
        if not isinstance(ds, Datasec) or rec is None:
            continue
        u32.pack_into(raw, rec + 4, _KIND_ENUM64 << 24 | len(ds.vars))
        u32.pack_into(raw, rec + 8, 8)
        for k, vsi in enumerate(ds.vars):
            t = vsi.type
            t_rec = btf.record_offset(t)
            if t_rec is None:
                continue
            name_off = u32.unpack_from(raw, t_rec)[0]
            struct.pack_into(e + "III", raw, rec + 12 + 12 * k, name_off, 0, 0)
            if isinstance(t, Var) and strip(t.type) is VOID and an_int:
                u32.pack_into(raw, t_rec + 8, an_int)
            elif isinstance(t, Func):
                info = u32.unpack_from(raw, t_rec + 4)[0]
                u32.pack_into(raw, t_rec + 4, info & ~0xFFFF | _FUNC_GLOBAL)
                proto_rec = btf.record_offset(t.type)
                for j, p in enumerate(t.type.params):
                    if proto_rec is not None and not p.name and p.type is not VOID:
                        u32.pack_into(raw, proto_rec + 12 + 8 * j, name_off)
