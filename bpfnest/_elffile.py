"""The ELF container of a BPF object: header, section table, symbols, relocations.

pyelftools identifies the file and decodes the records; every offset, size
and count is checked against the file before it is used, so a malformed
object fails here with a :class:`~bpfnest.errors.ParseError` naming the
file, the section and the offset, and nothing the file says can make the
reader loop or allocate much more than the file's size. What the sections
mean for BPF is :mod:`bpfnest.elf`'s business. Pure: no kernel.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from struct import Struct
from typing import Any, Literal

from .errors import ParseError

__all__ = ["ElfFile", "Header", "Symbol"]

EM_BPF = 247
# Section types as pyelftools names them.
SHT_NULL = "SHT_NULL"
SHT_NOBITS = "SHT_NOBITS"
SHT_STRTAB = "SHT_STRTAB"
SHT_SYMTAB = "SHT_SYMTAB"
SHT_REL = "SHT_REL"
SHT_RELA = "SHT_RELA"
SHF_COMPRESSED = 0x800
SHN_LORESERVE = 0xFF00
SHN_XINDEX = 0xFFFF


@dataclass
class Header:
    """One section header, as read from the table (``type`` as pyelftools names it)."""

    index: int
    name: str
    type: str | int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int

    @property
    def nobits(self) -> bool:
        return self.type == SHT_NOBITS

    @property
    def compressed(self) -> bool:
        return bool(self.flags & SHF_COMPRESSED)


# pyelftools' names of ELF symbol visibilities (st_other & 3), as numbers.
_VISIBILITY = {"STV_DEFAULT": 0, "STV_INTERNAL": 1, "STV_HIDDEN": 2, "STV_PROTECTED": 3}
STV_INTERNAL, STV_HIDDEN = 1, 2


@dataclass
class Symbol:
    """One symbol. ``shndx`` is a section index or pyelftools' name of a
    special one (``"SHN_UNDEF"``, ``"SHN_ABS"``...); ``type`` and ``bind``
    are pyelftools' names (``"STT_FUNC"``, ``"STB_GLOBAL"``) or numbers."""

    name: str
    value: int
    size: int
    shndx: int | str
    type: str | int
    bind: str | int
    #: ``st_other & 3``: STV_DEFAULT 0, STV_INTERNAL 1, STV_HIDDEN 2, STV_PROTECTED 3.
    visibility: int = 0

    @property
    def section(self) -> int | None:
        """The index of the section the symbol is in (None: undefined, absolute...)."""
        shndx = self.shndx
        return shndx if isinstance(shndx, int) and 0 < shndx < SHN_LORESERVE else None


class ElfFile:
    """An ELF object, read and checked.

    ``headers`` are every section header (named, inside the file, not
    overlapping); ``symbols`` the symbol table. :meth:`data_of` and
    :meth:`relocations` read sections on demand.

    Raises:
        ParseError: malformed header, section table or symbol table; not EM_BPF.
    """

    def __init__(self, data: bytes, file: str) -> None:
        from elftools.elf.elffile import ELFFile

        self.data = data
        self.file = file
        try:
            self.elf = ELFFile(io.BytesIO(data))
            machine = self.elf["e_machine"]
            ehdr = tuple(self.elf[k] for k in ("e_shoff", "e_shentsize", "e_shnum", "e_shstrndx"))
        except Exception as exc:  # pyelftools raises many kinds on a bad header
            raise self.err(f"malformed ELF header: {_describe(exc)}") from None
        if machine not in ("EM_BPF", EM_BPF):
            raise self.err(f"not a BPF object (e_machine {machine})", offset=0x12)
        self.byteorder: Literal["little", "big"] = "little" if self.elf.little_endian else "big"
        self.structs = self.elf.structs
        self.stream = io.BytesIO(data)
        # File offsets of e_shoff, e_shentsize, e_shnum and e_shstrndx.
        self.ehdr_at = (
            (0x28, 0x3A, 0x3C, 0x3E) if self.elf.elfclass == 64 else (0x20, 0x2E, 0x30, 0x32)
        )
        self.headers = self.section_table(*ehdr)
        self.symbols = self.symbol_table()

    def err(self, message: str, section: str = "", offset: int | None = None) -> ParseError:
        return ParseError(message, file=self.file, section=section, offset=offset)

    def record(self, struct: Any, offset: int, section: str, at: int | None) -> Any:
        """Decode the record at file ``offset`` (already known to be in the file)."""
        from elftools.common.utils import struct_parse

        try:
            return struct_parse(struct, self.stream, stream_pos=offset)
        except Exception as exc:  # pyelftools refusing a value
            raise self.err(f"malformed record: {_describe(exc)}", section, at) from None

    def data_of(self, h: Header) -> bytes:
        """The bytes of section ``h`` (empty for SHT_NOBITS), as in the file:
        call :meth:`check_plain` first where they are used."""
        return b"" if h.nobits else self.data[h.offset : h.offset + h.size]

    def check_plain(self, h: Header) -> None:
        """Refuse a section whose bytes are zlib/zstd-compressed (SHF_COMPRESSED).

        clang ``-gz`` compresses ``.debug_*`` sections, which are never read;
        expanding anything else is not supported (and a small compressed
        section can expand to gigabytes)."""
        if h.compressed:
            raise self.err("compressed sections are not supported", h.name, 0)

    # ------------------------------------------------------------ section table

    def section_table(self, shoff: int, entsize: int, shnum: int, shstrndx: int) -> list[Header]:
        """Every section header, checked: in the file, named, not overlapping."""
        if shoff == 0:
            return []
        size = len(self.data)
        shdr = self.structs.Elf_Shdr
        want = shdr.sizeof()
        if entsize != want:
            raise self.err(f"e_shentsize is {entsize}, not {want}", offset=self.ehdr_at[1])
        if shoff > size - want:
            raise self.err(
                f"section header table at {shoff:#x} is outside the file ({size} bytes)",
                offset=self.ehdr_at[0],
            )
        raw = [self.record(shdr, shoff, "", shoff)]
        count = shnum or raw[0]["sh_size"]  # e_shnum 0: the count is in header 0
        if count > (size - shoff) // want:
            raise self.err(
                f"{count} section headers at {shoff:#x} run past the end of the file"
                f" ({size} bytes)",
                offset=self.ehdr_at[2],
            )
        raw += [self.record(shdr, shoff + i * want, "", shoff + i * want) for i in range(1, count)]
        if shstrndx == SHN_XINDEX:
            shstrndx = raw[0]["sh_link"]
        if not 0 < shstrndx < count or raw[shstrndx]["sh_type"] != SHT_STRTAB:
            raise self.err(
                f"e_shstrndx {shstrndx} is not a string table section", offset=self.ehdr_at[3]
            )
        for i, h in enumerate(raw):
            if h["sh_type"] not in (SHT_NOBITS, SHT_NULL) and h["sh_offset"] + h["sh_size"] > size:
                raise self.err(
                    f"section {i}: {h['sh_size']} bytes at {h['sh_offset']:#x} run past the end"
                    f" of the file ({size} bytes)",
                    offset=shoff + i * want,
                )
        names = raw[shstrndx]
        if names["sh_flags"] & SHF_COMPRESSED:
            raise self.err("the section name table is compressed", offset=self.ehdr_at[3])
        table = self.data[names["sh_offset"] : names["sh_offset"] + names["sh_size"]]
        headers = []
        for i, h in enumerate(raw):
            name = cstring(table, h["sh_name"])
            if name is None:
                raise self.err(
                    f"section {i}: name offset {h['sh_name']} is not a string in the"
                    f" section name table ({len(table)} bytes)",
                    offset=shoff + i * want,
                )
            headers.append(
                Header(
                    i,
                    name,
                    h["sh_type"],
                    h["sh_flags"],
                    h["sh_offset"],
                    h["sh_size"],
                    h["sh_link"],
                    h["sh_info"],
                    h["sh_entsize"],
                )
            )
        # The gABI: no byte of the file is in more than one section. Checking
        # it also bounds what the reader copies out of sections by the file size.
        spans = sorted(
            (h.offset, h.offset + h.size, h.name)
            for h in headers
            if h.size and h.type not in (SHT_NOBITS, SHT_NULL)
        )
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                raise self.err(f"overlaps section {first!r}", second, 0)
        return headers

    def table(self, h: Header, struct: Any, what: str) -> list[tuple[int, Any]]:
        """(offset in ``h``, record) of each record of table section ``h``."""
        want = self.checked_table(h, struct.sizeof(), what)
        return [
            (off, self.record(struct, h.offset + off, h.name, off))
            for off in range(0, h.size, want)
        ]

    def checked_table(self, h: Header, want: int, what: str) -> int:
        """Refuse table section ``h`` unless it holds whole records of ``want`` bytes."""
        self.check_plain(h)
        if h.entsize != want:
            raise self.err(f"{what} size (sh_entsize) is {h.entsize}, not {want}", h.name, 0)
        if h.nobits or h.size % want:
            raise self.err(f"size {h.size} is not a whole number of {what}s", h.name, 0)
        return want

    def rows(self, h: Header, layout: Struct, what: str) -> Iterator[tuple[Any, ...]]:
        """The records of table section ``h`` decoded with ``layout`` (ELF64: the
        hot tables, symbols and relocations, without pyelftools' per-field parse)."""
        self.checked_table(h, layout.size, what)
        return layout.iter_unpack(self.data[h.offset : h.offset + h.size])

    # ------------------------------------------------------------ symbols

    def symbol_table(self) -> list[Symbol]:
        symtab = next((h for h in self.headers if h.type == SHT_SYMTAB), None)
        if symtab is None:
            raise self.err("no symbol table (.symtab)")
        link = symtab.link
        if not 0 < link < len(self.headers) or self.headers[link].type != SHT_STRTAB:
            raise self.err(f"sh_link {link} is not a string table section", symtab.name, 0)
        strtab = self.headers[link]
        self.check_plain(strtab)
        strings = self.data_of(strtab)
        if self.elf.elfclass == 64:
            return self.symbols64(symtab, strtab, strings)
        symbols: list[Symbol] = []
        for off, raw in self.table(symtab, self.structs.Elf_Sym, "symbol"):
            name = cstring(strings, raw["st_name"])
            if name is None:
                raise self.err(
                    f"symbol {len(symbols)}: name offset {raw['st_name']} is not a string in"
                    f" {strtab.name} ({len(strings)} bytes)",
                    symtab.name,
                    off,
                )
            info = raw["st_info"]
            symbols.append(
                Symbol(
                    name,
                    raw["st_value"],
                    raw["st_size"],
                    raw["st_shndx"],
                    info["type"],
                    info["bind"],
                    _VISIBILITY.get(raw["st_other"]["visibility"], 0),
                )
            )
        return symbols

    def symbols64(self, symtab: Header, strtab: Header, strings: bytes) -> list[Symbol]:
        """:meth:`symbol_table` of an ELF64 file, decoded with ``struct``; the
        same values pyelftools gives (its names for known types, binds and
        special section indexes, else the numbers)."""
        from elftools.elf.enums import ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE

        layout = Struct(("<" if self.byteorder == "little" else ">") + "IBBHQQ")
        types, binds, shndxs = _names(ENUM_ST_INFO_TYPE), _names(ENUM_ST_INFO_BIND), _SHNDX
        symbols: list[Symbol] = []
        for name_at, info, other, shndx, value, size in self.rows(symtab, layout, "symbol"):
            name = cstring(strings, name_at)
            if name is None:
                raise self.err(
                    f"symbol {len(symbols)}: name offset {name_at} is not a string in"
                    f" {strtab.name} ({len(strings)} bytes)",
                    symtab.name,
                    len(symbols) * layout.size,
                )
            symbols.append(
                Symbol(
                    name,
                    value,
                    size,
                    shndxs.get(shndx, shndx),
                    types.get(info & 0xF, info & 0xF),
                    binds.get(info >> 4, info >> 4),
                    other & 3,
                )
            )
        return symbols

    # ------------------------------------------------------------ relocations

    def relocations(self, target: Header) -> list[tuple[int, Symbol]]:
        """(offset, symbol) of every relocation applying to section ``target``,
        each checked: a known symbol, an offset inside ``target``."""
        out = []
        for h in self.headers:
            if h.type not in (SHT_REL, SHT_RELA) or h.info != target.index:
                continue
            for n, (at, offset, symi) in enumerate(self.relocation_table(h)):
                if symi >= len(self.symbols):
                    raise self.err(
                        f"relocation {n} refers to symbol {symi} of {len(self.symbols)}",
                        h.name,
                        at,
                    )
                if offset >= max(target.size, 1):
                    raise self.err(
                        f"relocation {n} at offset {offset:#x} is outside section"
                        f" {target.name} ({target.size} bytes)",
                        h.name,
                        at,
                    )
                out.append((offset, self.symbols[symi]))
        return out

    def relocation_table(self, h: Header) -> Iterator[tuple[int, int, int]]:
        """(offset in ``h``, r_offset, symbol index) of each record of SHT_REL(A) ``h``."""
        if self.elf.elfclass == 64:
            end = "<" if self.byteorder == "little" else ">"
            layout = Struct(end + ("QQq" if h.type == SHT_RELA else "QQ"))
            for i, (offset, info, *_) in enumerate(self.rows(h, layout, "relocation")):
                yield i * layout.size, offset, info >> 32
            return
        rel = self.structs.Elf_Rela if h.type == SHT_RELA else self.structs.Elf_Rel
        for at, r in self.table(h, rel, "relocation"):
            yield at, r["r_offset"], r["r_info_sym"]


def cstring(table: bytes, offset: int) -> str | None:
    """The NUL-terminated string at ``offset`` of a string table (None if there is none)."""
    end = table.find(b"\0", offset) if offset < len(table) else -1
    return table[offset:end].decode("utf-8", "replace") if end >= 0 else None


def _names(enum: Mapping[str, Any]) -> dict[int, str]:
    """pyelftools' decoding of an enum: number -> name (the last name of a number wins)."""
    return {v: k for k, v in enum.items() if k != "_default_"}


_SHNDX = {0: "SHN_UNDEF", 0xFFF1: "SHN_ABS", 0xFFF2: "SHN_COMMON"}  # ENUM_ST_SHNDX


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
