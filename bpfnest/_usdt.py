"""USDT probes from an ELF file, and the argument specs libbpf's
``<bpf/usdt.bpf.h>`` reads (pure: reads files, no syscall).

A USDT probe (``<sys/sdt.h>``'s ``DTRACE_PROBE``/``STAP_PROBE``) is a ``nop``
in the code and an ELF note in ``.note.stapsdt`` (owner ``stapsdt``, type 3):
three addresses (the probe's location, the link-time address of
``.stapsdt.base``, the semaphore or 0), then provider, name and the argument
string (``-4@%eax 8@-8(%rbp) 4@$71``). :func:`usdt_probes` lists them as
``readelf -n`` prints them.

:func:`sites` does what libbpf's ``collect_usdt_targets`` does for one
probe: it compensates prelink (``.stapsdt.base``'s ``sh_addr`` minus the
note's base, added to the location), finds the executable ``PT_LOAD``
segment that maps the address and turns it into the file offset the uprobe
needs (``addr - p_vaddr + p_offset``, for executables and shared libraries
alike), and the semaphore's address into the file offset of its (writable)
segment, the uprobe's ``ref_ctr_offset``.

:func:`parse_args` parses an argument string as libbpf's x86_64
``parse_usdt_arg`` (constant ``N@$V``, register ``N@%reg``, memory
``N@OFF(%reg)`` and ``N@(%reg)``; ``N`` is the size in bytes, negative for a
signed value) and :func:`encode_spec` packs the result as ``struct
__bpf_usdt_spec`` of ``usdt.bpf.h``.
"""

from __future__ import annotations

import platform
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

__all__ = [
    "ARG_CONST",
    "ARG_REG",
    "ARG_REG_DEREF",
    "MAX_ARGS",
    "SPEC_SIZE",
    "ArgSpec",
    "Site",
    "UsdtProbe",
    "encode_spec",
    "is_shared",
    "parse_args",
    "sites",
    "usdt_probes",
]

NOTE_SECTION = ".note.stapsdt"
BASE_SECTION = ".stapsdt.base"
_NOTE_OWNER = b"stapsdt"
_NOTE_TYPE = 3

# enum __bpf_usdt_arg_type
ARG_CONST, ARG_REG, ARG_REG_DEREF = 0, 1, 2
#: BPF_USDT_MAX_ARG_CNT of usdt.bpf.h.
MAX_ARGS = 12
# struct __bpf_usdt_arg_spec: u64 val_off; enum arg_type; short reg_off;
# bool arg_signed; char arg_bitshift (16 bytes).
_ARG = struct.Struct("<QiHbb")
# struct __bpf_usdt_spec: args[12], u64 usdt_cookie, short arg_cnt (+6 padding).
_TAIL = struct.Struct("<Qh6x")
#: sizeof(struct __bpf_usdt_spec): the value size of ``__bpf_usdt_specs``.
SPEC_SIZE = _ARG.size * MAX_ARGS + _TAIL.size

# offsetof(struct pt_regs, reg) on x86_64, by every name of the register, as
# libbpf's calc_pt_regs_off.
_X86_64_REGS = {
    names: off
    for names, off in (
        (("rip", "eip"), 128),
        (("rax", "eax", "ax", "al"), 80),
        (("rbx", "ebx", "bx", "bl"), 40),
        (("rcx", "ecx", "cx", "cl"), 88),
        (("rdx", "edx", "dx", "dl"), 96),
        (("rsi", "esi", "si", "sil"), 104),
        (("rdi", "edi", "di", "dil"), 112),
        (("rbp", "ebp", "bp", "bpl"), 32),
        (("rsp", "esp", "sp", "spl"), 152),
        (("r8", "r8d", "r8w", "r8b"), 72),
        (("r9", "r9d", "r9w", "r9b"), 64),
        (("r10", "r10d", "r10w", "r10b"), 56),
        (("r11", "r11d", "r11w", "r11b"), 48),
        (("r12", "r12d", "r12w", "r12b"), 24),
        (("r13", "r13d", "r13w", "r13b"), 16),
        (("r14", "r14d", "r14w", "r14b"), 8),
        (("r15", "r15d", "r15w", "r15b"), 0),
    )
}
_REG_OFFSETS = {name: off for names, off in _X86_64_REGS.items() for name in names}

# libbpf's sscanf formats, in its order: " %d @ %ld ( %%%15[^)] ) %n",
# " %d @ ( %%%15[^)] ) %n", " %d @ %%%15s %n", " %d @ $%ld %n".
_INT = r"[+-]?\d+"
_DEREF = re.compile(rf"\s*({_INT})\s*@\s*({_INT})\s*\(\s*%([^)]{{1,15}})\)\s*")
_DEREF0 = re.compile(rf"\s*({_INT})\s*@\s*\(\s*%([^)]{{1,15}})\)\s*")
_REG = re.compile(rf"\s*({_INT})\s*@\s*%(\S{{1,15}})\s*")
_CONST = re.compile(rf"\s*({_INT})\s*@\s*\$({_INT})\s*")


@dataclass(frozen=True)
class UsdtProbe:
    """One USDT probe site: one ``.note.stapsdt`` note, as ``readelf -n`` shows it.

    A probe (``provider:name``) may have several sites (one per place the
    macro expands); each is one :class:`UsdtProbe`.
    """

    #: The provider (``python``).
    provider: str
    #: The probe's name (``function__entry``).
    name: str
    #: The note's location: the probe's link-time address (``Location:``).
    address: int
    #: The link-time address of ``.stapsdt.base`` the note records (``Base:``).
    base: int
    #: The semaphore's link-time address, 0 when the probe has none (``Semaphore:``).
    semaphore: int
    #: The argument string (``Arguments:``), e.g. ``-4@%eax 8@-8(%rbp)``.
    args: str


@dataclass(frozen=True)
class ArgSpec:
    """One argument as ``struct __bpf_usdt_arg_spec`` holds it."""

    #: ARG_CONST, ARG_REG or ARG_REG_DEREF.
    kind: int
    #: The constant (ARG_CONST) or the memory offset (ARG_REG_DEREF).
    val_off: int
    #: offsetof(struct pt_regs, register); 0 for a constant.
    reg_off: int
    signed: bool
    #: The size in bytes: 1, 2, 4 or 8.
    size: int


@dataclass(frozen=True)
class Site:
    """Where the uprobe of one probe site goes."""

    probe: UsdtProbe
    #: The probe's address after the prelink adjustment (libbpf's abs_ip).
    address: int
    #: The file offset of the probe's instruction (libbpf's rel_ip).
    offset: int
    #: The file offset of the semaphore (the uprobe's ref_ctr_offset), 0 for none.
    semaphore_offset: int


def _notes(data: bytes, little: bool, wide: bool, path: str) -> list[UsdtProbe]:
    """The stapsdt notes of a ``.note.stapsdt`` section's bytes."""
    order = "<" if little else ">"
    head = struct.Struct(order + "III")
    addrs = struct.Struct(order + ("QQQ" if wide else "III"))
    found: list[UsdtProbe] = []
    at = 0
    while at + head.size <= len(data):
        namesz, descsz, kind = head.unpack_from(data, at)
        name_at = at + head.size
        desc_at = name_at + (namesz + 3) // 4 * 4
        end = desc_at + (descsz + 3) // 4 * 4
        if desc_at + descsz > len(data):
            raise ValueError(f"{path}: {NOTE_SECTION} is truncated at byte {at}")
        owner = data[name_at : name_at + namesz].rstrip(b"\0")
        at = end
        if owner != _NOTE_OWNER or kind != _NOTE_TYPE:
            continue
        desc = data[desc_at : desc_at + descsz]
        if len(desc) < addrs.size + 3:
            raise ValueError(f"{path}: a {NOTE_SECTION} note is too short ({descsz} bytes)")
        pc, base, sema = addrs.unpack_from(desc)
        strings = desc[addrs.size :].split(b"\0")
        if len(strings) < 3 or not strings[1]:
            raise ValueError(f"{path}: a {NOTE_SECTION} note has no provider or name")
        provider, name, args = (s.decode("utf-8", "replace") for s in strings[:3])
        if args.startswith(":"):  # libbpf: an args string of ':' is no arguments
            args = ""
        found.append(UsdtProbe(provider, name, pc, base, sema, args))
    return found


def _open_elf(path: str, f: BinaryIO) -> ELFFile:
    try:
        return ELFFile(f)
    except ELFError as err:
        raise ValueError(f"{path} is not a readable ELF file: {err}") from None


def usdt_probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe site of the ELF executable or shared library ``path``,
    in the order of its ``.note.stapsdt`` notes (what ``readelf -n`` prints).

    Reads the file only: no syscall, no privilege beyond reading it. A file
    without the section has no probes: the list is empty.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not ELF, or a note is malformed (naming the file).
    """
    with open(path, "rb") as f:
        elf = _open_elf(path, f)
        try:
            section = elf.get_section_by_name(NOTE_SECTION)
            if section is None:
                return []
            return _notes(section.data(), elf.little_endian, elf.elfclass == 64, path)
        except ELFError as err:
            raise ValueError(f"{path} is not a readable ELF file: {err}") from None


def _names(probes: list[UsdtProbe]) -> str:
    seen = dict.fromkeys(f"{p.provider}:{p.name}" for p in probes)
    return ", ".join(seen)


def sites(path: str, provider: str, name: str) -> list[Site]:
    """The sites of probe ``provider:name`` in ``path`` and where each uprobe
    goes, as libbpf's ``collect_usdt_targets``: note order, prelink
    adjustment, file offsets of the probe and of its semaphore.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not ELF, has no ``.note.stapsdt`` section, has
            no probe ``provider:name`` (the message lists those it has), or a
            probe's address is in no executable segment (its semaphore in no
            writable one).
    """
    with open(path, "rb") as f:
        elf = _open_elf(path, f)
        try:
            section = elf.get_section_by_name(NOTE_SECTION)
            if section is None:
                raise ValueError(
                    f"{path} has no USDT probes (no {NOTE_SECTION} section):"
                    " it was built without <sys/sdt.h> probes"
                )
            probes = _notes(section.data(), elf.little_endian, elf.elfclass == 64, path)
            base_section = elf.get_section_by_name(BASE_SECTION)
            base = int(base_section["sh_addr"]) if base_section is not None else 0
            segments = [
                (int(s["p_vaddr"]), int(s["p_memsz"]), int(s["p_offset"]), bool(s["p_flags"] & 1))
                for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"
            ]
        except ELFError as err:
            raise ValueError(f"{path} is not a readable ELF file: {err}") from None
    chosen = [p for p in probes if p.provider == provider and p.name == name]
    if not chosen:
        have = _names(probes) or "none"
        raise ValueError(f"{path} has no USDT probe '{provider}:{name}' (it has: {have})")

    def segment(addr: int) -> tuple[int, int, int, bool] | None:
        for seg in sorted(segments):
            if seg[0] <= addr < seg[0] + seg[1]:
                return seg
        return None

    out = []
    for probe in chosen:
        where = f"USDT probe '{provider}:{name}' in {path}"
        address = probe.address
        if base and probe.base:
            address += base - probe.base
        seg = segment(address)
        if seg is None or not seg[3]:
            why = "no" if seg is None else "a non-executable"
            raise ValueError(f"{where}: address {address:#x} is in {why} loadable segment")
        offset = address - seg[0] + seg[2]
        sema_offset = 0
        if probe.semaphore:
            seg = segment(probe.semaphore)
            if seg is None or seg[3]:
                why = "no" if seg is None else "an executable"
                raise ValueError(
                    f"{where}: semaphore {probe.semaphore:#x} is in {why} loadable segment"
                )
            sema_offset = probe.semaphore - seg[0] + seg[2]
        out.append(Site(probe, address, offset, sema_offset))
    return out


def is_shared(path: str) -> bool:
    """Whether ``path`` is position-independent (``ET_DYN``: a shared library
    or a PIE executable), whose addresses move at run time.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not ELF.
    """
    with open(path, "rb") as f:
        return bool(_open_elf(path, f)["e_type"] == "ET_DYN")


def _register(reg: str, arg: str, index: int) -> int:
    off = _REG_OFFSETS.get(reg)
    if off is None:
        raise ValueError(f"argument #{index} '{arg}': unknown register '%{reg}'")
    return off


def parse_args(args: str, machine: str | None = None) -> list[ArgSpec]:
    """The argument specs of an argument string (``-4@%eax 8@-8(%rbp)``), as
    libbpf's ``parse_usdt_spec`` for x86_64.

    Raises:
        ValueError: an argument the parser does not know (naming it and its
            number), an unknown register, a size other than 1, 2, 4 or 8,
            more than 12 arguments.
        NotImplementedError: ``machine`` (default: this one) is not x86_64.
    """
    machine = machine or platform.machine()
    if machine != "x86_64":
        raise NotImplementedError(f"USDT arguments on {machine}: only x86_64 is supported")
    out: list[ArgSpec] = []
    at = 0
    while at < len(args) and args[at:].strip():
        index = len(out)
        if index >= MAX_ARGS:
            raise ValueError(f"more than {MAX_ARGS} USDT arguments in '{args}'")
        rest = args[at:]
        shown = rest.split()[0] if rest.split() else rest
        if m := _DEREF.match(rest):
            size, val, reg = int(m[1]), int(m[2]), _register(m[3], shown, index)
            spec = ArgSpec(ARG_REG_DEREF, val, reg, size < 0, abs(size))
        elif m := _DEREF0.match(rest):
            size, reg = int(m[1]), _register(m[2], shown, index)
            spec = ArgSpec(ARG_REG_DEREF, 0, reg, size < 0, abs(size))
        elif m := _REG.match(rest):
            size, reg = int(m[1]), _register(m[2], shown, index)
            spec = ArgSpec(ARG_REG, 0, reg, size < 0, abs(size))
        elif m := _CONST.match(rest):
            size, val = int(m[1]), int(m[2])
            spec = ArgSpec(ARG_CONST, val, 0, size < 0, abs(size))
        else:
            raise ValueError(
                f"argument #{index} '{shown}' is not a USDT argument spec bpfnest knows"
                " (N@$CONST, N@%REG, N@OFF(%REG), N@(%REG))"
            )
        if spec.size not in (1, 2, 4, 8):
            raise ValueError(f"argument #{index} '{shown}': size {spec.size} is not 1, 2, 4 or 8")
        out.append(spec)
        at += m.end()
    return out


def encode_spec(args: list[ArgSpec], cookie: int) -> bytes:
    """``struct __bpf_usdt_spec`` (little-endian, :data:`SPEC_SIZE` bytes) for
    ``args`` and the user's ``cookie`` (what ``bpf_usdt_cookie`` returns)."""
    out = bytearray(SPEC_SIZE)
    for i, arg in enumerate(args):
        _ARG.pack_into(
            out,
            i * _ARG.size,
            arg.val_off & (1 << 64) - 1,
            arg.kind,
            arg.reg_off,
            arg.signed,
            64 - arg.size * 8,
        )
    _TAIL.pack_into(out, MAX_ARGS * _ARG.size, cookie & (1 << 64) - 1, len(args))
    return bytes(out)
