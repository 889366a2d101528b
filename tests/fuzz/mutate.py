"""Mutators: seed bytes -> mutant bytes, driven by a ``random.Random``.

Blind mutations (bit flips, interesting integers at random offsets,
truncation, inserted/deleted/duplicated ranges, splicing two seeds) find
shallow bugs; structured ones reach deep code: they use :mod:`.layout` to
pick a real field (a section header's ``sh_size``, a BTF record's ``info``
or type id, a symbol's ``st_shndx``, a relocation's symbol index, a
``.BTF.ext`` ``num_info``...) and write a value that means something for
it (the record's own type id, the size of the file, another section's
offset). Length-changing mutations inside an ELF fix the section table up
so the result stays parseable that far.

The ``rnd`` argument only needs ``random()``, ``randrange()``, ``choice()``
and ``getrandbits()``: a plain ``random.Random`` for the CLI, Hypothesis's
``st.randoms(use_true_random=False)`` in tests (so failures shrink).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

from .layout import (
    SHT_NOBITS,
    Field,
    Layout,
    btf_layout,
    elf_layout,
    ext_layout,
)

Rnd = random.Random

U32_MASK = 0xFFFFFFFF
U8 = (0, 1, 0x7F, 0x80, 0xFE, 0xFF)
U16 = (0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
U32 = (0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
U64 = (*U32, 1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
#: Section names the ELF reader treats specially.
NAMES = (
    ".maps",
    "maps",
    "license",
    "version",
    ".BTF",
    ".BTF.ext",
    ".text",
    ".data",
    ".bss",
    ".rodata",
    ".kconfig",
    ".symtab",
    ".strtab",
    "xdp",
    ".relxdp",
    ".rel.maps",
    ".data.x",
)
SHT_VALUES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 17, 18, 19, 0x6FFFFFF6, 0x6FFFFFFF, 0x6FFFFFFE)


# ------------------------------------------------------------------ helpers


def _pick(rnd: Rnd, options: Sequence[int]) -> int:
    return options[rnd.randrange(len(options))]


def _write(data: bytearray, f: Field, value: int, order: str) -> None:
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size]
    if f.offset + f.size <= len(data):
        struct.pack_into(order + fmt, data, f.offset, value & ((1 << (8 * f.size)) - 1))


def _read(data: bytes, f: Field, order: str) -> int:
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size]
    if f.offset + f.size > len(data):
        return 0
    return int(struct.unpack_from(order + fmt, data, f.offset)[0])


def _near(rnd: Rnd, old: int) -> int:
    return _pick(rnd, (old + 1, old - 1, old + 4, old - 4, old + 8, old - 8, old * 2, old // 2))


def _generic_value(rnd: Rnd, f: Field, old: int) -> int:
    r = rnd.random()
    if r < 0.3:
        return _near(rnd, old)
    if r < 0.4:
        return old ^ (1 << rnd.randrange(8 * f.size))
    if r < 0.5:
        return rnd.getrandbits(8 * f.size)
    return _pick(rnd, {1: U8, 2: U16, 4: U32, 8: U64}[f.size])


def _type_ids(rnd: Rnd, lay: Layout, own: int) -> int:
    n = max(lay.ntypes, 1)
    return _pick(rnd, (0, own, own + 1, own - 1, n - 1, n, n + 1, rnd.randrange(n), 0xFFFFFFFF))


def _string_offset(rnd: Rnd, lay: Layout, key: str, old: int) -> int:
    starts = lay.strings.get(key) or [0]
    size = lay.btf_strlen if key == "btfstr" else max(starts) + 1
    r = rnd.random()
    if r < 0.6:
        return _pick(rnd, starts)
    if r < 0.75:
        return _pick(rnd, starts) + 1  # the middle of a string
    return _pick(rnd, (size - 1, size, size + 1, 0xFFFFFFFF, old + 1))


def field_value(rnd: Rnd, f: Field, lay: Layout, data: bytes, old: int) -> int:
    """A value for field ``f`` that means something for its role."""
    role = f.role
    nsec = len(lay.sections)
    if rnd.random() < 0.15:
        return _generic_value(rnd, f, old)
    if role.endswith("type_id"):
        return _type_ids(rnd, lay, f.ctx)
    if role in ("btf.name_off", "ext.str_off"):
        return _string_offset(rnd, lay, "btfstr", old)
    if role == "btf.info":
        kind = _pick(rnd, (*range(20), 0, 31, (old >> 24) & 0x1F))
        vlen = _pick(rnd, (old & 0xFFFF, 0, 1, 2, 0xFFFF, (old & 0xFFFF) + 1, (old & 0xFFFF) - 1))
        kflag = rnd.getrandbits(1) << 31
        unused = (1 << _pick(rnd, (16, 23, 29, 30))) if rnd.random() < 0.1 else 0
        return kflag | kind << 24 | (vlen & 0xFFFF) | unused
    if role in ("btf.hdr_len", "btf.type_off", "btf.type_len", "btf.str_off", "btf.str_len"):
        size = lay.btf[1] if lay.btf else 0
        near = (size, size - 24, size - 23, old + 4, old - 4)
        return _pick(rnd, (0, 4, 23, 24, 25, 32, *near, 1 << 31))
    if role in ("btf.nelems", "btf.size", "btf.var_size"):
        return _pick(rnd, (0, 1, 3, 4, 8, 16, 0x1000, 0x7FFFFFFF, 0xFFFFFFFF, old * 2))
    if role == "btf.member_off":
        return _pick(rnd, (0, 1, 8, 31, 32, 64, old + 1, 1 << 24 | old, 0xFF000000 | old))
    if role == "btf.component":
        return _pick(rnd, (0, 1, 2, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF))
    if role == "btf.linkage":
        return _pick(rnd, (0, 1, 2, 3))
    if role == "ext.rec_size":
        return _pick(rnd, (0, 4, 7, 8, 12, 16, 20, 24, 32, 0xFFFFFFF0))
    if role == "ext.num_info":
        return _pick(rnd, (0, 1, f.ctx + 1, f.ctx - 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF))
    if role == "ext.hdr_len":
        return _pick(rnd, (0, 8, 23, 24, 28, 31, 32, 36, 0xFFFFFFFF))
    if role == "ext.insn_off":
        return _pick(rnd, (0, 1, 4, 8, old + 8, old + 1, 0x7FFFFFF8, 0xFFFFFFF8))
    if role.startswith("ext.block"):
        size = lay.ext[1] if lay.ext else 0
        return _pick(rnd, (0, 3, 4, 8, old + 4, old - 4, size, size - 24, 0xFFFFFFFF))
    if role == "shdr.name":
        return _string_offset(rnd, lay, "shstr", old)
    if role == "sym.name":
        return _string_offset(rnd, lay, "str", old)
    if role == "shdr.type":
        return _pick(rnd, SHT_VALUES)
    if role == "shdr.flags":
        return _pick(rnd, (old ^ 0x4, old | 0x800, 0, 0x6, 0x2, old | 0x1))
    if role == "shdr.offset":
        offs = [s.offset for s in lay.sections] or [0]
        return _pick(rnd, (*offs, 0, len(data), len(data) - 1, old + 8, old - 8, 1 << 63))
    if role == "shdr.size":
        sizes = [s.size for s in lay.sections] or [0]
        here = lay.sections[f.ctx].offset if f.ctx < nsec else 0
        return _pick(rnd, (*sizes, 0, len(data), len(data) - here, len(data) - here + 1, 1 << 62))
    if role in ("shdr.link", "shdr.info"):
        return _pick(rnd, (0, f.ctx, nsec - 1, nsec, nsec + 1, rnd.randrange(max(nsec, 1)), 0xFFFF))
    if role == "shdr.entsize":
        return _pick(rnd, (0, 1, 8, 16, 24, 64, 1 << 40))
    if role == "ehdr.shnum":
        return _pick(rnd, (0, 1, 2, nsec - 1, nsec + 1, 0xFF00, 0xFFFF))
    if role == "ehdr.shentsize":
        return _pick(rnd, (0, 1, 40, 63, 64, 65, 128, 0xFFFF))
    if role == "ehdr.shstrndx":
        return _pick(rnd, (0, 1, nsec - 1, nsec, 0xFFFF, 0xFF00, rnd.randrange(max(nsec, 1))))
    if role == "ehdr.shoff":
        return _pick(rnd, (0, 64, len(data), len(data) - 64, len(data) - 63, old + 8, 1 << 63))
    if role == "ehdr.machine":
        return _pick(rnd, (247, 0, 62, 0xFFFF))
    if role in ("ehdr.class", "ehdr.data"):
        return _pick(rnd, (0, 1, 2, 3))
    if role == "sym.info":
        return _pick(rnd, (0, 1, 2, 3, 4)) << 4 | _pick(rnd, (0, 1, 2, 3, 4, 5, 6, 10))
    if role == "sym.shndx":
        special = (0xFFF1, 0xFFF2, 0xFFFF)  # SHN_ABS, SHN_COMMON, SHN_XINDEX
        return _pick(rnd, (0, 1, nsec - 1, nsec, *special, rnd.randrange(max(nsec, 1))))
    if role == "sym.value":
        sizes = [s.size for s in lay.sections] or [0]
        return _pick(rnd, (0, 8, old + 8, old + 1, old - 8, *sizes, 1 << 40, (1 << 64) - 8))
    if role == "sym.size":
        return _pick(rnd, (0, 8, 16, 4, old + 8, old - 8, old + 1, 1 << 40, (1 << 64) - 8))
    if role == "rel.offset":
        return _pick(rnd, (0, old + 8, old - 8, old + 1, old + 16, 1 << 20, (1 << 64) - 8))
    if role == "rel.info":
        n = max(lay.nsyms, 1)
        sym = _pick(rnd, (0, 1, n - 1, n, n + 1, rnd.randrange(n), 0xFFFFFFFF, old >> 32))
        rtype = _pick(rnd, (old & 0xFFFFFFFF, 1, 2, 3, 10, 0))
        return sym << 32 | rtype
    if role == "insn.code":
        return _pick(rnd, (0x18, 0x85, 0x95, 0x07, 0xB7, 0x00, 0x05))
    if role == "insn.regs":
        return _pick(rnd, (0x10, 0x01, 0x40, 0x04, 0x20, 0x02, 0x11, 0x00))
    if role == "insn.imm":
        return _pick(rnd, (0, 1, 2, -1, -2, -3, 0x7FFFFFFF, -0x80000000, old + 1, old - 1))
    return _generic_value(rnd, f, old)


# ------------------------------------------------------------------ structured


def set_field(data: bytes, lay: Layout, rnd: Rnd, prefix: str = "") -> bytes:
    """Overwrite one field whose role starts with ``prefix``."""
    fields = lay.by_role(prefix) if prefix else lay.fields
    if not fields:
        return data
    f = fields[rnd.randrange(len(fields))]
    out = bytearray(data)
    _write(out, f, field_value(rnd, f, lay, data, _read(data, f, lay.order)), lay.order)
    return bytes(out)


def rename(data: bytes, lay: Layout, rnd: Rnd) -> bytes:
    """Overwrite a string in a string table with a name the reader knows."""
    if not lay.string_tables:
        return data
    start, size = lay.string_tables[rnd.randrange(len(lay.string_tables))]
    table = data[start : start + size]
    offs = [i + 1 for i, b in enumerate(table[:-1]) if b == 0]
    if not offs:
        return data
    at = start + _pick(rnd, offs)
    name = _pick_name(rnd).encode() + b"\0"
    out = bytearray(data)
    out[at : at + len(name)] = name[: max(0, min(len(name), start + size - at))]
    return bytes(out[: len(data)])


def _pick_name(rnd: Rnd) -> str:
    if rnd.random() < 0.1:
        return "\xff\xfe" + "x" * rnd.randrange(4)
    return NAMES[rnd.randrange(len(NAMES))]


def make_cycle(data: bytes, lay: Layout, rnd: Rnd) -> bytes:
    """Point a type-id field at its own record, or two records at each other."""
    ids = [f for f in lay.fields if f.role == "btf.type_id"]
    if not ids:
        return data
    out = bytearray(data)
    a = ids[rnd.randrange(len(ids))]
    if rnd.random() < 0.5:
        _write(out, a, a.ctx, lay.order)
    else:
        b = ids[rnd.randrange(len(ids))]
        _write(out, a, b.ctx, lay.order)
        _write(out, b, a.ctx, lay.order)
    return bytes(out)


def btf_records(rnd: Rnd, lay: Layout, order: str, new_id: int) -> bytes:
    """One to a few crafted BTF type records, to append as ``new_id``..."""
    name = _string_offset(rnd, lay, "btfstr", 1) if rnd.random() < 0.9 else 0
    n = max(lay.ntypes, 1)
    other = rnd.randrange(n)

    def rec(kind: int, st: int, *extra: int, vlen: int = 0, nm: int = 0, kflag: int = 0) -> bytes:
        info = kflag << 31 | kind << 24 | vlen
        words = [x & 0xFFFFFFFF for x in (nm, info, st, *extra)]
        return struct.pack(f"{order}{len(words)}I", *words)

    choices: list[Callable[[], bytes]] = [
        lambda: rec(8, new_id, nm=name),  # typedef T T
        lambda: rec(2, new_id),  # T *T
        lambda: rec(10, new_id + 1) + rec(9, new_id),  # const -> volatile -> const
        lambda: rec(4, 8, name, new_id, 0, vlen=1, nm=name),  # struct s { struct s m; }
        lambda: rec(5, 4, name, new_id, 0, name, new_id, 0, vlen=2, nm=name),
        lambda: rec(3, 0, new_id, other, 0xFFFFFFFF),  # array of itself
        lambda: rec(3, 0, other, other, 0xFFFFFFFF) + rec(3, 0, new_id, other, 0xFFFFFFFF),
        lambda: rec(12, other, nm=name),  # FUNC of anything
        lambda: rec(13, other, name, new_id, 0, 0, 0, 5, vlen=3),  # proto with void middle
        lambda: rec(14, new_id, 1, nm=name),  # var of itself
        lambda: rec(15, 0, new_id, 0, 4, other, 0, 4, vlen=2, nm=name),  # datasec of itself
        lambda: rec(17, new_id, _pick(rnd, (0, 1, 0x7FFFFFFF)), nm=name),  # decl tag on itself
        lambda: rec(17, other, 5, nm=name),
        lambda: rec(18, new_id, nm=name),  # type tag on itself
        lambda: rec(4, 4, vlen=0xFFFF, nm=name),  # vlen with no members
        lambda: rec(4, 4, name, n + 5, 0, vlen=1, nm=name),  # member out of range
        lambda: rec(6, 3, name, 1, vlen=1, nm=name),  # enum of size 3
        lambda: rec(1, 4, 0x0100_0040, nm=name),  # int of 64 bits in 4 bytes
        lambda: rec(16, 5, nm=name),  # float of 5 bytes
        lambda: rec(7, 0),  # anonymous fwd
        lambda: rec(19, 8, name, 0xFFFFFFFF, 0xFFFFFFFF, vlen=1, nm=name, kflag=1),
        lambda: b"".join(
            rec(8, new_id + i + 1 if i < 255 else new_id, nm=name) for i in range(256)
        ),  # a long typedef chain that loops back
        lambda: b"".join(rec(3, 0, new_id + i + 1, other, 2) for i in range(300)) + rec(2, 0),
        lambda: rec(4, 0xFFFFFFFF, *(x for i in range(64) for x in (name, new_id, i)), vlen=64),
        lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 40))),
    ]
    return choices[rnd.randrange(len(choices))]()


def btf_append(data: bytes, rnd: Rnd) -> bytes:
    """Append crafted records to a standalone BTF blob, header fixed up."""
    lay = btf_layout(data)
    if lay is None or (not lay.btf_records and lay.ntypes == 0):
        return data
    e = lay.order
    hdr_len, type_off, type_len, str_off, _ = struct.unpack_from(e + "IIIII", data, 4)
    at = hdr_len + type_off + type_len
    if at > len(data):
        return data
    recs = btf_records(rnd, lay, e, lay.ntypes)
    out = bytearray(data[:at] + recs + data[at:])
    new_str_off = str_off + len(recs) if str_off >= type_off + type_len else str_off
    struct.pack_into(e + "II", out, 12, (type_len + len(recs)) & U32_MASK, new_str_off & U32_MASK)
    return bytes(out)


def elf_resize(
    data: bytes, lay: Layout, sec_index: int, at: int, insert: bytes, delete: int
) -> bytes:
    """Insert ``insert`` and delete ``delete`` bytes at file offset ``at``
    inside section ``sec_index``; move what follows and fix the table."""
    e = lay.order
    shift = len(insert) - delete
    out = bytearray(data[:at] + insert + data[at + delete :])
    (shoff,) = struct.unpack_from(e + "Q", data, 40)
    new_shoff = shoff + shift if shoff > at else shoff
    u64 = (1 << 64) - 1
    struct.pack_into(e + "Q", out, 40, new_shoff & u64)
    for s in lay.sections:
        h = s.header - shoff + new_shoff
        if not 0 <= h <= len(out) - 64:
            continue
        if s.index == sec_index:
            struct.pack_into(e + "Q", out, h + 32, max(0, s.size + shift) & u64)
        elif s.offset > at and s.type != SHT_NOBITS:
            struct.pack_into(e + "Q", out, h + 24, (s.offset + shift) & u64)
    return bytes(out)


def elf_btf_append(data: bytes, lay: Layout, rnd: Rnd) -> bytes:
    """Append crafted BTF records to the object's .BTF (section and header fixed)."""
    sec = lay.section(".BTF")
    if sec is None or lay.btf is None:
        return data
    e = lay.order
    base = sec.offset
    hdr_len, type_off, type_len, str_off, _ = struct.unpack_from(e + "IIIII", data, base + 4)
    at = base + hdr_len + type_off + type_len
    if at > base + sec.size:
        return data
    recs = btf_records(rnd, lay, e, lay.ntypes)
    out = bytearray(elf_resize(data, lay, sec.index, at, recs, 0))
    new_str_off = str_off + len(recs) if str_off >= type_off + type_len else str_off
    new_len = (type_len + len(recs)) & U32_MASK
    struct.pack_into(e + "II", out, base + 12, new_len, new_str_off & U32_MASK)
    return bytes(out)


def elf_section_edit(data: bytes, lay: Layout, rnd: Rnd) -> bytes:
    """Insert or delete a few bytes inside a section, keeping the table right."""
    secs = [s for s in lay.sections if s.size and s.type != SHT_NOBITS and s.offset < len(data)]
    if not secs:
        return data
    s = secs[rnd.randrange(len(secs))]
    at = s.offset + rnd.randrange(s.size + 1)
    at = min(at, len(data))
    if rnd.random() < 0.5:
        n = _pick(rnd, (4, 8, 12, 16, 24, 1, 3))
        return elf_resize(data, lay, s.index, at, bytes(rnd.getrandbits(8) for _ in range(n)), 0)
    n = min(_pick(rnd, (4, 8, 12, 16, 24, 1)), s.offset + s.size - at)
    return elf_resize(data, lay, s.index, at, b"", max(n, 0))


# ------------------------------------------------------------------ blind


def blind(data: bytes, rnd: Rnd, pool: Sequence[bytes] = ()) -> bytes:
    """One format-agnostic mutation."""
    n = len(data)
    op = rnd.randrange(9)
    if n == 0:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64)))
    out = bytearray(data)
    if op == 0:  # bit flips
        for _ in range(1 + rnd.randrange(8)):
            i = rnd.randrange(n)
            out[i] ^= 1 << rnd.randrange(8)
    elif op == 1:  # interesting byte
        out[rnd.randrange(n)] = _pick(rnd, U8)
    elif op == 2:  # interesting integer, either byte order, maybe aligned
        size = _pick(rnd, (2, 4, 8))
        i = rnd.randrange(n)
        if rnd.random() < 0.7:
            i -= i % size
        if i + size <= n:
            value = _pick(rnd, {2: U16, 4: U32, 8: U64}[size])
            fmt = {2: "H", 4: "I", 8: "Q"}[size]
            struct.pack_into(_pick_order(rnd) + fmt, out, i, value)
    elif op == 3:  # truncate
        return bytes(out[: rnd.randrange(n)])
    elif op == 4:  # insert random bytes
        i = rnd.randrange(n + 1)
        noise = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 32)))
        return bytes(out[:i] + noise + out[i:])
    elif op == 5:  # delete a range
        i = rnd.randrange(n)
        j = min(n, i + 1 + rnd.randrange(64))
        return bytes(out[:i] + out[j:])
    elif op == 6:  # copy a range over another
        i, j = rnd.randrange(n), rnd.randrange(n)
        k = min(1 + rnd.randrange(64), n - i, n - j)
        out[j : j + k] = out[i : i + k]
    elif op == 7 and pool:  # splice with another input
        other = pool[rnd.randrange(len(pool))]
        if other:
            return bytes(out[: rnd.randrange(n)] + other[rnd.randrange(len(other)) :])
    else:  # random byte
        out[rnd.randrange(n)] = rnd.getrandbits(8)
    return bytes(out)


def _pick_order(rnd: Rnd) -> str:
    return "<" if rnd.random() < 0.5 else ">"


# ------------------------------------------------------------------ drivers


def mutate_elf(data: bytes, rnd: Rnd, pool: Sequence[bytes] = (), *, rounds: int = 0) -> bytes:
    """1 to ~4 mutations of an ELF object, most of them structured."""
    for _ in range(rounds or 1 + _geometric(rnd)):
        lay = elf_layout(data)
        r = rnd.random()
        if lay is None or r < 0.2:
            data = blind(data, rnd, pool)
            continue
        op = rnd.randrange(12)
        if op == 0:
            data = set_field(data, lay, rnd, "ehdr.")
        elif op == 1:
            data = set_field(data, lay, rnd, "shdr.")
        elif op == 2:
            data = set_field(data, lay, rnd, "sym.")
        elif op == 3:
            data = set_field(data, lay, rnd, "rel.")
        elif op == 4:
            data = set_field(data, lay, rnd, "insn.")
        elif op == 5:
            data = set_field(data, lay, rnd, "btf.")
        elif op == 6:
            data = set_field(data, lay, rnd, "ext.")
        elif op == 7:
            data = rename(data, lay, rnd)
        elif op == 8:
            data = make_cycle(data, lay, rnd)
        elif op == 9:
            data = elf_btf_append(data, lay, rnd)
        elif op == 10:
            data = elf_section_edit(data, lay, rnd)
        else:
            data = set_field(data, lay, rnd)
    return data


def mutate_btf(data: bytes, rnd: Rnd, pool: Sequence[bytes] = (), *, rounds: int = 0) -> bytes:
    """Mutations of a standalone .BTF blob."""
    for _ in range(rounds or 1 + _geometric(rnd)):
        lay = btf_layout(data)
        r = rnd.random()
        if lay is None or r < 0.2:
            data = blind(data, rnd, pool)
        elif r < 0.6:
            data = set_field(data, lay, rnd)
        elif r < 0.75:
            data = make_cycle(data, lay, rnd)
        elif r < 0.9:
            data = btf_append(data, rnd)
        else:
            data = rename(data, lay, rnd)
    return data


def mutate_ext(
    data: bytes, rnd: Rnd, pool: Sequence[bytes] = (), *, btf: bytes = b"", rounds: int = 0
) -> bytes:
    """Mutations of a standalone .BTF.ext blob; ``btf`` (its .BTF) gives the
    type ids and string offsets worth writing."""
    btf_lay = btf_layout(btf) if btf else None
    for _ in range(rounds or 1 + _geometric(rnd)):
        lay = ext_layout(data)
        if lay is not None and btf_lay is not None:
            lay.ntypes, lay.btf_strlen = btf_lay.ntypes, btf_lay.btf_strlen
            lay.strings["btfstr"] = btf_lay.strings.get("btfstr", [0])
        if lay is None or rnd.random() < 0.3:
            data = blind(data, rnd, pool)
        else:
            data = set_field(data, lay, rnd)
    return data


def _geometric(rnd: Rnd, p: float = 0.5, cap: int = 6) -> int:
    n = 0
    while n < cap and rnd.random() < p:
        n += 1
    return n
