"""CO-RE at load: the target BTF, the programs relocated, a poisoned instruction explained.

:class:`bpfnest.Collection` calls :func:`relocate_all` before it creates
anything (all or nothing), then loads the relocated programs. The target is
the running kernel's BTF (:func:`bpfnest._kernel_btf.kernel_btf`, read once
per process) or a file the user gives: raw BTF, as btfhub ships it, or an
ELF file with a ``.BTF`` section (a ``vmlinux``). The computation itself is
pure, in :mod:`bpfnest.btf.core`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re

from . import _kernel_btf
from .btf import BTF
from .btf.core import POISON, CoreFixup, Relocator
from .errors import ParseError, VerifierError
from .spec import CollectionSpec, ProgramSpec

__all__ = ["KernelBTF", "explain", "read_btf_file", "relocate_all", "target_btf"]

#: What ``kernel_btf=`` accepts: None (the running kernel), a path, or parsed BTF.
KernelBTF = str | os.PathLike[str] | BTF | None

_BTF_MAGIC = (b"\x9f\xeb", b"\xeb\x9f")
_ELF_MAGIC = b"\x7fELF"


def read_btf_file(path: str | os.PathLike[str]) -> BTF:
    """Parse the BTF in ``path``: raw BTF (btfhub's ``.btf`` files, or
    ``/sys/kernel/btf/vmlinux``) or an ELF file's ``.BTF`` section.

    Raises:
        OSError: the file cannot be read.
        ParseError: it is neither BTF nor an ELF file with a ``.BTF`` section
            (a compressed btfhub archive must be unpacked first), or its BTF
            is malformed.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    if data[:2] in _BTF_MAGIC:
        return BTF.parse(data, file=name)
    if data[:4] == _ELF_MAGIC:
        from elftools.elf.elffile import ELFFile

        try:
            sec = ELFFile(io.BytesIO(data)).get_section_by_name(".BTF")
            raw = sec.data() if sec is not None else None
        except Exception as exc:  # pyelftools raises many kinds on a bad file
            raise ParseError(f"kernel_btf: malformed ELF: {exc}", file=name) from None
        if raw is None:
            raise ParseError("kernel_btf: the ELF file has no .BTF section", file=name)
        return BTF.parse(raw, file=name)
    raise ParseError(
        "kernel_btf: not BTF (magic eb9f) nor an ELF file with a .BTF section"
        " (unpack a btfhub .tar.xz first)",
        file=name,
    )


def target_btf(kernel_btf: KernelBTF) -> BTF:
    """The BTF to relocate against: the running kernel's for None, a parsed
    :class:`BTF` as given, else the file at that path.

    Raises:
        NotSupportedError: None, and the kernel has no BTF.
        TypeError: ``kernel_btf`` is of another type.
        OSError, ParseError: as :func:`read_btf_file`.
    """
    if kernel_btf is None:
        return _kernel_btf.kernel_btf()
    if isinstance(kernel_btf, BTF):
        return kernel_btf
    if isinstance(kernel_btf, (str, os.PathLike)):
        return read_btf_file(kernel_btf)
    raise TypeError(f"kernel_btf must be a path or a BTF, got {type(kernel_btf).__name__}")


def relocate_all(
    spec: CollectionSpec, kernel_btf: KernelBTF
) -> tuple[dict[str, tuple[ProgramSpec, list[CoreFixup]]], str]:
    """Every program to load that has CO-RE relocations, relocated: a copy of
    its spec with the patched code (and no relocations left), and what each
    relocation did; and the target's file name. Reads the target only when
    some program needs it.

    Raises:
        ValueError: relocations but no BTF in the object.
        ParseError: a malformed relocation record.
        BPFError: a relocation that cannot be applied (ambiguous candidates,
            an instruction of an unexpected form).
        NotSupportedError, OSError, ParseError: as :func:`target_btf`.
    """
    wanted = {n: ps for n, ps in spec.programs.items() if ps.autoload and ps.core_relocations}
    if not wanted:
        return {}, ""
    if spec.btf is None:
        name = next(iter(wanted))
        raise ValueError(f"program '{name}' has CO-RE relocations but the object has no BTF")
    target = target_btf(kernel_btf)
    relocator = Relocator(spec.btf, target)
    out: dict[str, tuple[ProgramSpec, list[CoreFixup]]] = {}
    for name, ps in wanted.items():
        code, fixups = relocator.relocate(
            ps.name, ps.instructions, ps.core_relocations, byteorder=ps.byteorder
        )
        out[name] = (dataclasses.replace(ps, instructions=code, core_relocations=[]), fixups)
    return out, target.file


_POISONED = re.compile(rf"^(\d+): \(85\) call unknown#{POISON}\b", re.M)


def explain(
    err: VerifierError, spec: ProgramSpec, fixups: list[CoreFixup], target: str
) -> VerifierError | None:
    """The verifier's refusal of a poisoned instruction, said in CO-RE's words:
    the program, the instruction and the local type and access path that the
    target BTF (file ``target``) lacks. None when the refusal is about
    something else.
    """
    found = _POISONED.findall(err.log)
    if not found:
        return None
    idx = int(found[-1])
    fix = next(
        (f for f in fixups if f.poisoned and f.insn in (idx, idx - 1)),
        None,
    )
    if fix is None:
        return None
    where = f"the target BTF ({target or 'given'})"
    if fix.resized:
        reason = (
            f"instruction {idx} uses {fix.path}, whose size differs in {where}: a load or"
            " store can change size only for unsigned integers and pointers (read it with"
            " BPF_CORE_READ_INTO(), or check bpf_core_field_size() first)"
        )
    else:
        reason = (
            f"instruction {idx} uses {fix.path}, which {where} lacks"
            f" (CO-RE relocation {fix.kind.label} failed; guard the access with"
            " bpf_core_field_exists() or bpf_core_type_exists())"
        )
    return VerifierError(
        err.errno,
        f"load program '{spec.name}' ({spec.type.name}): {reason}",
        err.log,
        reason=reason,
    )
