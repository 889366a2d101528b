"""Where an uprobe goes: an ELF symbol -> the file offset the kernel wants.

An uprobe is placed at an offset in a file (perf_event_attr.probe_offset),
not at a virtual address. As libbpf's ``elf_find_func_offset`` does: look the
function up in ``.symtab`` and then ``.dynsym`` (a stripped library has only
the latter), take its value (a virtual address in executables and shared
objects alike) and turn it into a file offset through the ``PT_LOAD``
program header that maps it (``vaddr - p_vaddr + p_offset``). Several
symbols of one name at one address (aliases, versions) are one answer.
Symbol versions (``.gnu.version``, ``.gnu.version_d``) pick among several
addresses: ``name@@VER`` is the default version, ``name@VER`` that one, and
a bare ``name`` the default (what the dynamic linker binds), as libbpf; two
addresses left after that make the name ambiguous.

:func:`resolve_binary` turns a bare name into a path as libbpf's
``resolve_full_path`` does, plus the dynamic linker's cache: a name with a
``/`` is used as it is; a library name (one holding ``.so``) is looked up in
``LD_LIBRARY_PATH``, then in ``/etc/ld.so.cache`` (what ``ldconfig -p``
lists), then in the standard directories; any other name in ``PATH``, then
``/usr/bin`` and ``/usr/sbin``. Only a file of this process's ELF class and
machine is taken (a 32-bit ``libc.so.6`` in the cache is skipped).

Pure: reads files, no syscall beyond that.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection

__all__ = ["ld_so_cache", "resolve_binary", "symbol_offset"]

_FUNC_TYPES = ("STT_FUNC", "STT_GNU_IFUNC")


def symbol_offset(path: str, symbol: str) -> int:
    """The file offset of function ``symbol`` in the ELF executable or shared
    library at ``path`` (``getpid`` and ``getpid@@GLIBC_2.2.5`` alike;
    ``realpath@GLIBC_2.2.5`` the old version, a bare ``realpath`` the default).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not ELF, has no defined function ``symbol``
            (the message names both), the name has several addresses, or no
            loadable segment holds the address.
    """
    with open(path, "rb") as f:
        try:
            elf = ELFFile(f)
            addresses = _addresses(elf, symbol)
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


def _addresses(elf: ELFFile, symbol: str) -> set[int]:
    """Addresses of the defined functions ``symbol`` names (``.symtab`` first).

    ``name@@VER`` is the default version, ``name@VER`` that version; a bare
    ``name`` whose versions lie at several addresses means the default one
    (what the dynamic linker binds), as libbpf's ``elf_find_func_offset``.
    """
    name, _, version = symbol.partition("@")
    default = version.startswith("@")
    version = version.lstrip("@")
    for section_name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(section_name)
        if not isinstance(table, SymbolTableSection):
            continue
        versions = _versions(elf) if section_name == ".dynsym" else None
        found: list[tuple[int, str | None, bool]] = []  # address, version, hidden
        for i, sym in enumerate(table.iter_symbols()):
            base, _, in_name = sym.name.partition("@")
            if (
                base != name
                or sym["st_info"]["type"] not in _FUNC_TYPES
                or sym["st_shndx"] == "SHN_UNDEF"
                or sym["st_value"] == 0
            ):
                continue
            if versions is not None:
                ver, hidden = versions(i)
            else:  # .symtab spells it: name@@VER (default), name@VER (hidden)
                ver, hidden = in_name.lstrip("@") or None, bool(in_name) and in_name[:2] != "@@"
            found.append((int(sym["st_value"]), ver, hidden))
        if version:
            found = [f for f in found if f[1] == version and not (default and f[2])]
        addresses = {f[0] for f in found}
        if len(addresses) > 1 and not version:
            addresses = {f[0] for f in found if not f[2]} or addresses
        if addresses:
            return addresses
    return set()


def _versions(elf: ELFFile) -> Callable[[int], tuple[str | None, bool]] | None:
    """``(version name, hidden)`` of each ``.dynsym`` entry by index, from
    ``.gnu.version`` and ``.gnu.version_d``; None when the file has no versions."""
    versym = elf.get_section_by_name(".gnu.version")
    verdef = elf.get_section_by_name(".gnu.version_d")
    if not isinstance(versym, GNUVerSymSection):
        return None
    names: dict[int, str] = {}
    if isinstance(verdef, GNUVerDefSection):
        for entry, aux in verdef.iter_versions():
            names[int(entry["vd_ndx"])] = next(aux).name

    def lookup(index: int) -> tuple[str | None, bool]:
        ndx = versym.get_symbol(index).entry["ndx"]
        if not isinstance(ndx, int):  # VER_NDX_LOCAL, VER_NDX_GLOBAL: unversioned
            return None, False
        return names.get(ndx & 0x7FFF), bool(ndx & 0x8000)

    return lookup


_LD_SO_CACHE = "/etc/ld.so.cache"
_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
_CACHE_HEADER = struct.Struct("=20sII4xI12x")  # magic+version, nlibs, len_strings, ext
_CACHE_ENTRY = struct.Struct("=iIIIQ")  # flags, key, value, osversion, hwcap


def _library_dirs() -> list[str]:
    machine = os.uname().machine
    return [
        "/lib64",
        "/usr/lib64",
        f"/lib/{machine}-linux-gnu",
        f"/usr/lib/{machine}-linux-gnu",
        "/lib",
        "/usr/lib",
    ]


def _elf_kind(path: str) -> bytes | None:
    """The ELF class, data encoding and machine of ``path``; None when not ELF."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4:6] + head[18:20]


def ld_so_cache(path: str = _LD_SO_CACHE) -> list[tuple[str, str]]:
    """The (name, path) entries of the dynamic linker's cache, in its order
    (glibc's format "1.1", alone or after the old one); [] when absent or unknown."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    start = data.find(_CACHE_MAGIC)
    if start < 0 or len(data) < start + _CACHE_HEADER.size:
        return []
    _, nlibs, _, _ = _CACHE_HEADER.unpack_from(data, start)
    entries = []
    for i in range(nlibs):
        at = start + _CACHE_HEADER.size + i * _CACHE_ENTRY.size
        if at + _CACHE_ENTRY.size > len(data):
            break
        _, key, value, _, _ = _CACHE_ENTRY.unpack_from(data, at)
        name, lib = _cstr(data, start + key), _cstr(data, start + value)
        if name and lib:
            entries.append((name, lib))
    return entries


def _cstr(data: bytes, at: int) -> str:
    end = data.find(b"\0", at)
    return os.fsdecode(data[at:end]) if 0 <= at < end else ""


def resolve_binary(name: str) -> str:
    """The path of executable or library ``name`` for an uprobe (see the module).

    Raises:
        ValueError: no file of that name is found; the message says where it looked.
    """
    if "/" in name:
        return name
    mine = _elf_kind("/proc/self/exe")

    def usable(path: str) -> bool:
        return os.path.isfile(path) and (mine is None or _elf_kind(path) == mine)

    if ".so" in name:
        env = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        for path in [os.path.join(d, name) for d in env]:
            if usable(path):
                return path
        for key, path in ld_so_cache():
            if key == name and usable(path):
                return path
        dirs = _library_dirs()
        where = f"LD_LIBRARY_PATH, {_LD_SO_CACHE} or {':'.join(dirs)}"
    else:
        dirs = [d for d in os.environ.get("PATH", "").split(":") if d]
        dirs += ["/usr/bin", "/usr/sbin"]
        where = "PATH or /usr/bin:/usr/sbin"
    for path in [os.path.join(d, name) for d in dirs]:
        if usable(path) and (".so" in name or os.access(path, os.X_OK)):
            return path
    raise ValueError(f"no {name!r} in {where} (give its path)")
