"""Where an uprobe goes: an ELF symbol -> the file offset the kernel wants.

An uprobe is placed at an offset in a file (perf_event_attr.probe_offset),
not at a virtual address. As libbpf's ``elf_find_func_offset`` does: look the
function up in ``.symtab`` and then ``.dynsym`` (a stripped library has only
the latter), take its value (a virtual address in executables and shared
objects alike) and turn it into a file offset through the ``PT_LOAD``
program header that maps it (``vaddr - p_vaddr + p_offset``). Several
symbols of one name at one address (aliases, versions) are one answer;
at different addresses, the name is ambiguous. Pure: reads the file, no
syscall beyond that.
"""

from __future__ import annotations

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

__all__ = ["symbol_offset"]

_FUNC_TYPES = ("STT_FUNC", "STT_GNU_IFUNC")


def symbol_offset(path: str, symbol: str) -> int:
    """The file offset of function ``symbol`` in the ELF executable or shared
    library at ``path`` (``getpid`` and ``getpid@@GLIBC_2.2.5`` alike).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not ELF, has no defined function ``symbol``
            (the message names both), the name has several addresses, or no
            loadable segment holds the address.
    """
    wanted = symbol.split("@", 1)[0]
    with open(path, "rb") as f:
        try:
            elf = ELFFile(f)
            addresses = _addresses(elf, wanted)
            if not addresses:
                raise ValueError(f"no function {symbol!r} in {path}")
            if len(addresses) > 1:
                shown = ", ".join(hex(a) for a in sorted(addresses))
                raise ValueError(f"function {symbol!r} in {path} has several addresses: {shown}")
            (vaddr,) = addresses
            for seg in elf.iter_segments():
                header = seg.header
                if header.p_type != "PT_LOAD" or not header.p_flags & 1:  # PF_X
                    continue
                if header.p_vaddr <= vaddr < header.p_vaddr + header.p_memsz:
                    return int(vaddr - header.p_vaddr + header.p_offset)
        except ELFError as err:
            raise ValueError(f"{path} is not a readable ELF file: {err}") from None
    raise ValueError(f"function {symbol!r} in {path}: no executable segment maps {vaddr:#x}")


def _addresses(elf: ELFFile, name: str) -> set[int]:
    """Addresses of the defined functions called ``name`` (``.symtab`` first)."""
    for section_name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(section_name)
        if not isinstance(table, SymbolTableSection):
            continue
        found = {
            int(sym["st_value"])
            for sym in table.iter_symbols()
            if sym.name.split("@", 1)[0] == name
            and sym["st_info"]["type"] in _FUNC_TYPES
            and sym["st_shndx"] != "SHN_UNDEF"
            and sym["st_value"] != 0
        }
        if found:
            return found
    return set()
