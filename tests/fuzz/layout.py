"""Where the fields are: ELF64, .BTF and .BTF.ext layouts read with ``struct``.

Written from the specs (the ELF gABI, ``include/uapi/linux/btf.h``, libbpf's
``btf_ext_header``), not from bpfnest, so the mutators do not share the
parser's mistakes. Every function here is best effort: on malformed input it
returns what it found so far and never raises, because it also runs on
mutants.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct

BTF_MAGIC = 0xEB9F
ELF_MAGIC = b"\x7fELF"

# BTF kind -> (bytes after struct btf_type, bytes per vlen item)
BTF_EXTRA = {
    1: (4, 0),  # INT
    2: (0, 0),  # PTR
    3: (12, 0),  # ARRAY
    4: (0, 12),  # STRUCT
    5: (0, 12),  # UNION
    6: (0, 8),  # ENUM
    7: (0, 0),  # FWD
    8: (0, 0),  # TYPEDEF
    9: (0, 0),  # VOLATILE
    10: (0, 0),  # CONST
    11: (0, 0),  # RESTRICT
    12: (0, 0),  # FUNC
    13: (0, 8),  # FUNC_PROTO
    14: (4, 0),  # VAR
    15: (0, 12),  # DATASEC
    16: (0, 0),  # FLOAT
    17: (4, 0),  # DECL_TAG
    18: (0, 0),  # TYPE_TAG
    19: (0, 12),  # ENUM64
}
#: Kinds whose btf_type.size_or_type is a type id (the rest: a size).
BTF_KINDS_WITH_TYPE = {2, 8, 9, 10, 11, 12, 13, 14, 17, 18}

SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHF_EXECINSTR = 0x4


@dataclasses.dataclass(frozen=True)
class Field:
    """One integer field of the input: ``size`` bytes at ``offset``.

    ``role`` says what it means ("shdr.size", "btf.type_id"...); ``ctx`` is
    a number the value generator may want (a record's own type id, a
    section's index, the offset of the string it points at...).
    """

    offset: int
    size: int
    role: str
    ctx: int = 0


@dataclasses.dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    header: int  # file offset of the section header
    link: int
    info: int


@dataclasses.dataclass
class Layout:
    """What :func:`elf_layout` / :func:`btf_layout` found."""

    order: str = "<"  # struct byte-order prefix
    fields: list[Field] = dataclasses.field(default_factory=list)
    sections: list[Section] = dataclasses.field(default_factory=list)
    #: role -> valid string offsets: "shstr", "str" (symbol names), "btfstr"
    strings: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    #: string-table byte ranges (file offset, size)
    string_tables: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    #: BTF type records: (file offset of the record, total record size, type id)
    btf_records: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    btf: tuple[int, int] | None = None  # (offset, size) of .BTF (the whole input for a blob)
    ext: tuple[int, int] | None = None
    ntypes: int = 0
    nsyms: int = 0
    btf_strlen: int = 0

    def by_role(self, prefix: str) -> list[Field]:
        return [f for f in self.fields if f.role.startswith(prefix)]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


def _cstr(data: bytes, off: int) -> str:
    end = data.find(b"\0", off)
    if off < 0 or off >= len(data) or end < 0:
        return ""
    return data[off:end].decode("latin-1")


def _string_starts(table: bytes) -> list[int]:
    starts = [0]
    for i, b in enumerate(table[:-1]):
        if b == 0:
            starts.append(i + 1)
    return starts


# ------------------------------------------------------------------ ELF


def elf_layout(data: bytes) -> Layout | None:
    """Every interesting field of an ELF64 object; None when it is not one."""
    if len(data) < 64 or data[:4] != ELF_MAGIC or data[4] != 2 or data[5] not in (1, 2):
        return None
    lay = Layout(order="<" if data[5] == 1 else ">")
    with contextlib.suppress(struct.error, IndexError, ValueError):
        _elf(data, lay)
    return lay


def _elf(data: bytes, lay: Layout) -> None:
    e = lay.order
    f = lay.fields
    f += [
        Field(4, 1, "ehdr.class"),
        Field(5, 1, "ehdr.data"),
        Field(6, 1, "ehdr.version8"),
        Field(16, 2, "ehdr.type"),
        Field(18, 2, "ehdr.machine"),
        Field(40, 8, "ehdr.shoff"),
        Field(52, 2, "ehdr.ehsize"),
        Field(58, 2, "ehdr.shentsize"),
        Field(60, 2, "ehdr.shnum"),
        Field(62, 2, "ehdr.shstrndx"),
    ]
    (shoff,) = struct.unpack_from(e + "Q", data, 40)
    shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 58)
    if shentsize != 64 or not shnum or shoff + 64 * shnum > len(data):
        return
    raw = []
    for i in range(shnum):
        h = shoff + 64 * i
        fmt = e + "IIQQQQIIQQ"
        name, typ, flags, _, off, size, link, info, _, _ = struct.unpack_from(fmt, data, h)
        raw.append((i, h, name, typ, flags, off, size, link, info))
        for o, sz, role in (
            (0, 4, "shdr.name"),
            (4, 4, "shdr.type"),
            (8, 8, "shdr.flags"),
            (24, 8, "shdr.offset"),
            (32, 8, "shdr.size"),
            (40, 4, "shdr.link"),
            (44, 4, "shdr.info"),
            (48, 8, "shdr.addralign"),
            (56, 8, "shdr.entsize"),
        ):
            f.append(Field(h + o, sz, role, i))
    shstr = b""
    if shstrndx < shnum:
        _, _, _, _, _, off, size, _, _ = raw[shstrndx]
        shstr = data[off : off + size]
        lay.strings["shstr"] = [n for n in _string_starts(shstr)]
        lay.string_tables.append((off, len(shstr)))
    for i, h, name, typ, flags, off, size, link, info in raw:
        lay.sections.append(Section(i, _cstr(shstr, name), typ, flags, off, size, h, link, info))
    symtab = next((s for s in lay.sections if s.type == SHT_SYMTAB), None)
    if symtab is not None:
        if symtab.link < len(lay.sections):
            strtab = lay.sections[symtab.link]
            table = data[strtab.offset : strtab.offset + strtab.size]
            lay.strings["str"] = _string_starts(table)
            if strtab.index != shstrndx:
                lay.string_tables.append((strtab.offset, len(table)))
        lay.nsyms = symtab.size // 24
        for n in range(min(lay.nsyms, (len(data) - symtab.offset) // 24)):
            p = symtab.offset + 24 * n
            f += [
                Field(p, 4, "sym.name", n),
                Field(p + 4, 1, "sym.info", n),
                Field(p + 6, 2, "sym.shndx", n),
                Field(p + 8, 8, "sym.value", n),
                Field(p + 16, 8, "sym.size", n),
            ]
    for s in lay.sections:
        end = min(s.offset + s.size, len(data))
        if s.type in (SHT_REL, SHT_RELA):
            step = 24 if s.type == SHT_RELA else 16
            for p in range(s.offset, end - step + 1, step):
                f += [Field(p, 8, "rel.offset", s.info), Field(p + 8, 8, "rel.info", s.info)]
        elif s.flags & SHF_EXECINSTR and s.type != SHT_NOBITS:
            for p in range(s.offset, end - 7, 8):
                f += [
                    Field(p, 1, "insn.code", s.index),
                    Field(p + 1, 1, "insn.regs", s.index),
                    Field(p + 2, 2, "insn.off", s.index),
                    Field(p + 4, 4, "insn.imm", s.index),
                ]
        elif s.name in ("license", "version") and s.type != SHT_NOBITS:
            f += [Field(p, 1, "byte") for p in range(s.offset, end)]
    btf = lay.section(".BTF")
    if btf is not None and btf.offset + btf.size <= len(data):
        lay.btf = (btf.offset, btf.size)
        _btf(data, btf.offset, btf.size, lay)
    ext = lay.section(".BTF.ext")
    if ext is not None and ext.offset + ext.size <= len(data):
        lay.ext = (ext.offset, ext.size)
        _ext(data, ext.offset, ext.size, lay)


# ------------------------------------------------------------------ BTF


def btf_layout(data: bytes) -> Layout | None:
    """Every field of a standalone ``.BTF`` blob; None without the magic."""
    if len(data) < 24:
        return None
    if data[:2] == b"\x9f\xeb":
        order = "<"
    elif data[:2] == b"\xeb\x9f":
        order = ">"
    else:
        return None
    lay = Layout(order=order, btf=(0, len(data)))
    with contextlib.suppress(struct.error, IndexError, ValueError):
        _btf(data, 0, len(data), lay)
    return lay


def _btf(data: bytes, base: int, size: int, lay: Layout) -> None:
    e = lay.order
    f = lay.fields
    f += [Field(base + o, 4, r) for o, r in ((4, "btf.hdr_len"), (8, "btf.type_off"))]
    f += [Field(base + o, 4, r) for o, r in ((12, "btf.type_len"), (16, "btf.str_off"))]
    f += [Field(base + 20, 4, "btf.str_len"), Field(base + 2, 1, "btf.version")]
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(e + "IIIII", data, base + 4)
    if hdr_len + str_off + str_len <= size:
        s0 = base + hdr_len + str_off
        table = data[s0 : s0 + str_len]
        lay.strings["btfstr"] = _string_starts(table)
        lay.string_tables.append((s0, len(table)))
        lay.btf_strlen = str_len
    pos = base + hdr_len + type_off
    end = min(pos + type_len, base + size)
    tid = 1
    while pos + 12 <= end:
        _, info, _ = struct.unpack_from(e + "III", data, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        fixed, per = BTF_EXTRA.get(kind, (0, 0))
        rec_end = pos + 12 + fixed + per * vlen
        if rec_end > end:
            break
        lay.btf_records.append((pos, rec_end - pos, tid))
        f += [Field(pos, 4, "btf.name_off", tid), Field(pos + 4, 4, "btf.info", tid)]
        role = "btf.type_id" if kind in BTF_KINDS_WITH_TYPE else "btf.size"
        f.append(Field(pos + 8, 4, role, tid))
        body = pos + 12
        if kind == 1:
            f.append(Field(body, 4, "btf.int_bits", tid))
        elif kind == 3:
            f += [Field(body, 4, "btf.type_id", tid), Field(body + 4, 4, "btf.type_id", tid)]
            f.append(Field(body + 8, 4, "btf.nelems", tid))
        elif kind in (14, 17):
            f.append(Field(body, 4, "btf.linkage" if kind == 14 else "btf.component", tid))
        sub = body + fixed
        for _ in range(vlen):
            if kind in (4, 5):
                f += [Field(sub, 4, "btf.name_off", tid), Field(sub + 4, 4, "btf.type_id", tid)]
                f.append(Field(sub + 8, 4, "btf.member_off", tid))
            elif kind in (6, 19):
                f += [Field(sub, 4, "btf.name_off", tid), Field(sub + 4, 4, "btf.value", tid)]
            elif kind == 13:
                f += [Field(sub, 4, "btf.name_off", tid), Field(sub + 4, 4, "btf.type_id", tid)]
            elif kind == 15:
                f += [Field(sub, 4, "btf.type_id", tid), Field(sub + 4, 4, "btf.var_off", tid)]
                f.append(Field(sub + 8, 4, "btf.var_size", tid))
            sub += per
        pos = rec_end
        tid += 1
    lay.ntypes = tid


# ------------------------------------------------------------------ BTF.ext


def ext_layout(data: bytes) -> Layout | None:
    """Every field of a standalone ``.BTF.ext`` blob; None without the magic."""
    if len(data) < 24:
        return None
    if data[:2] == b"\x9f\xeb":
        order = "<"
    elif data[:2] == b"\xeb\x9f":
        order = ">"
    else:
        return None
    lay = Layout(order=order, ext=(0, len(data)))
    with contextlib.suppress(struct.error, IndexError, ValueError):
        _ext(data, 0, len(data), lay)
    return lay


# (header offset of the block's off field, per-record fields (offset, role))
_EXT_BLOCKS = (
    (8, ((0, "ext.insn_off"), (4, "ext.type_id"))),
    (16, ((0, "ext.insn_off"), (4, "ext.str_off"), (8, "ext.str_off"), (12, "ext.line_col"))),
    (24, ((0, "ext.insn_off"), (4, "ext.type_id"), (8, "ext.str_off"), (12, "ext.relo_kind"))),
)


def _ext(data: bytes, base: int, size: int, lay: Layout) -> None:
    e = lay.order
    f = lay.fields
    (hdr_len,) = struct.unpack_from(e + "I", data, base + 4)
    f += [Field(base + 4, 4, "ext.hdr_len"), Field(base + 2, 1, "ext.version")]
    for hoff, recs in _EXT_BLOCKS:
        if hoff + 8 > hdr_len:
            break
        f += [Field(base + hoff, 4, "ext.block_off"), Field(base + hoff + 4, 4, "ext.block_len")]
        off, length = struct.unpack_from(e + "II", data, base + hoff)
        start = base + hdr_len + off
        end = min(start + length, base + size)
        if length < 4 or start + 4 > end:
            continue
        (rec_size,) = struct.unpack_from(e + "I", data, start)
        f.append(Field(start, 4, "ext.rec_size"))
        pos = start + 4
        while pos + 8 <= end and rec_size >= 8:
            _, num = struct.unpack_from(e + "II", data, pos)
            f += [Field(pos, 4, "ext.str_off"), Field(pos + 4, 4, "ext.num_info", num)]
            pos += 8
            for _ in range(num):
                if pos + rec_size > end:
                    break
                f += [Field(pos + o, 4, role) for o, role in recs]
                pos += rec_size
            else:
                continue
            break


def section_bytes(data: bytes, name: str) -> bytes | None:
    """The bytes of section ``name`` of an ELF64 object (None if absent)."""
    lay = elf_layout(data)
    s = lay.section(name) if lay is not None else None
    if s is None or s.offset + s.size > len(data):
        return None
    return data[s.offset : s.offset + s.size]
