"""BTF and BTF.ext parsing: clang objects in both byte orders, the running
kernel's vmlinux BTF, hand-built blobs and corrupted input. No kernel calls."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from bpfnest.btf import (
    BTF,
    VOID,
    Array,
    BTFExt,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Float,
    Func,
    FuncInfo,
    FuncProto,
    Fwd,
    Int,
    LineInfo,
    Linkage,
    Pointer,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
    encode_func_info,
    encode_line_info,
    parse_ext,
)
from bpfnest.errors import ParseError

from support import compile_bpf, skip_or_fail

BPF_DIR = Path(__file__).parent / "bpf"
KINDS_SRC = BPF_DIR / "btf_kinds.c"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
ORDERS = ["little", "big"]


# ---------------------------------------------------------------- objects


@dataclasses.dataclass
class Obj:
    raw_btf: bytes
    raw_ext: bytes
    btf: BTF
    ext: BTFExt


def _section(obj: bytes, name: str) -> bytes:
    sec = ELFFile(io.BytesIO(obj)).get_section_by_name(name)
    assert sec is not None, name
    data: bytes = sec.data()
    return data


@pytest.fixture(scope="session")
def kinds() -> dict[str, Obj]:
    """btf_kinds.c compiled for bpfel and bpfeb, keyed by byte order."""
    out = {}
    for order, target in (("little", "bpfel"), ("big", "bpfeb")):
        obj = Path(compile_bpf("btf_kinds", target)).read_bytes()
        raw_btf, raw_ext = _section(obj, ".BTF"), _section(obj, ".BTF.ext")
        btf = BTF.parse(raw_btf, file=f"btf_kinds.{target}.o")
        out[order] = Obj(raw_btf, raw_ext, btf, parse_ext(raw_ext, btf))
    return out


def spell(t: Type) -> str:
    """A C-ish spelling of ``t`` that does not recurse into structs."""
    if isinstance(t, Void):
        return "void"
    if isinstance(t, Pointer):
        return f"{spell(t.target)} *"
    if isinstance(t, Array):
        return f"{spell(t.type)}[{t.nelems}]"
    if isinstance(t, Struct):
        return f"struct {t.name or '<anon>'}"
    if isinstance(t, Union):
        return f"union {t.name or '<anon>'}"
    if isinstance(t, Enum):
        return f"enum {t.name}"
    if isinstance(t, Fwd):
        return f"{t.kind} {t.name} (fwd)"
    if isinstance(t, Const):
        return f"const {spell(t.type)}"
    if isinstance(t, Volatile):
        return f"volatile {spell(t.type)}"
    if isinstance(t, Restrict):
        return f"restrict {spell(t.type)}"
    if isinstance(t, TypeTag):
        return f"tag:{t.name} {spell(t.type)}"
    if isinstance(t, FuncProto):
        return f"fn({', '.join(spell(p.type) for p in t.params)}) -> {spell(t.return_type)}"
    return t.name  # Int, Float, Typedef, Func, Var, ...


def _flat(v: Any) -> Any:
    if isinstance(v, Type):
        return ("#", v.id)
    if isinstance(v, list):
        return tuple(_flat(x) for x in v)
    if dataclasses.is_dataclass(v):
        return tuple(_flat(getattr(v, f.name)) for f in dataclasses.fields(v))
    return v


def dump(btf: BTF) -> list[tuple[Any, ...]]:
    """Every type as (class, name, fields with references as ids)."""
    return [
        (type(t).__name__, t.name, *(_flat(getattr(t, f.name)) for f in dataclasses.fields(t)[2:]))
        for t in btf.types
    ]


# ---------------------------------------------------------------- clang objects


@pytest.mark.parametrize("order", ORDERS)
def test_struct_members(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    assert btf.byteorder == order
    pkt = btf.find("packet", Struct)
    assert pkt.size == 104 == btf.sizeof(pkt)
    got = [(m.name, m.bit_offset, m.bitfield_size, spell(m.type)) for m in pkt.members]
    assert got == [
        ("tag", 0, 0, "unsigned char"),
        ("flags", 8, 3, "unsigned int"),
        ("kind", 11, 5, "unsigned int"),
        ("delta", 16, 0, "signed char"),
        ("", 32, 0, "union <anon>"),
        ("when", 64, 0, "long long"),
        ("opaque", 128, 0, "struct undeclared (fwd) *"),
        ("opaque_u", 192, 0, "union undeclared_u (fwd) *"),
        ("color", 256, 0, "enum color"),
        ("big", 320, 0, "enum big"),
        ("ratio", 384, 0, "float"),
        ("precise", 448, 0, "double"),
        ("ok", 512, 0, "_Bool"),
        ("name", 520, 0, "char[6]"),
        ("id", 576, 0, "u32_t"),
        ("s", 608, 0, "short"),
        ("ul", 640, 0, "unsigned long"),
        ("cv", 704, 0, "const volatile int *"),
        ("tagged", 768, 0, "tag:user int *"),
    ]
    anon = pkt.members[4].type
    assert isinstance(anon, Union) and anon.size == 4
    assert [(m.name, m.bit_offset, spell(m.type)) for m in anon.members] == [
        ("word", 0, "unsigned int"),
        ("half", 0, "unsigned short[2]"),
    ]
    half = anon.members[1].type
    assert isinstance(half, Array) and spell(half.index_type) == "__ARRAY_SIZE_TYPE__"
    either = btf.find("either", Union)
    assert (either.size, [m.name for m in either.members]) == (8, ["i", "l"])


@pytest.mark.parametrize("order", ORDERS)
def test_sizes_and_ints(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    sizes = {m.name: btf.sizeof(m.type) for m in btf.find("packet", Struct).members}
    assert sizes == {
        "tag": 1, "flags": 4, "kind": 4, "delta": 1, "": 4, "when": 8, "opaque": 8,
        "opaque_u": 8, "color": 4, "big": 8, "ratio": 4, "precise": 8, "ok": 1, "name": 6,
        "id": 4, "s": 2, "ul": 8, "cv": 8, "tagged": 8,
    }  # fmt: skip
    ints = {
        t.name: (t.size, t.bits, t.signed, t.char, t.bool) for t in btf.types if isinstance(t, Int)
    }
    assert ints == {
        "unsigned int": (4, 32, False, False, False),
        "int": (4, 32, True, False, False),
        "unsigned char": (1, 8, False, False, False),
        "signed char": (1, 8, True, False, False),
        "unsigned short": (2, 16, False, False, False),
        "__ARRAY_SIZE_TYPE__": (4, 32, False, False, False),
        "long long": (8, 64, True, False, False),
        "_Bool": (1, 8, False, False, True),
        "char": (1, 8, True, False, False),  # clang encodes char as SIGNED, not CHAR
        "short": (2, 16, True, False, False),
        "unsigned long": (8, 64, False, False, False),
        "long": (8, 64, True, False, False),
    }
    assert {(t.name, t.size) for t in btf.types if isinstance(t, Float)} == {
        ("float", 4),
        ("double", 8),
    }
    u32 = btf.find("u32_t", Typedef)
    assert spell(btf.resolve(u32)) == "unsigned int" and btf.sizeof(u32) == 4
    ro = btf.find("ro_value", Var)
    assert spell(ro.type) == "const volatile int" and spell(btf.resolve(ro.type)) == "int"
    assert btf.sizeof(ro) == 4
    assert btf.sizeof(btf.find("LICENSE", Var)) == 4
    assert btf.types[0] is VOID and btf.type_by_id(0) is VOID


@pytest.mark.parametrize("order", ORDERS)
def test_enums_and_fwd(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    color = btf.find("color", Enum)
    assert (color.size, color.kind64) == (4, False)
    # clang < 15 never sets the signed flag, so BLUE = -1 reads as u32.
    blue = -1 if color.signed else 0xFFFF_FFFF
    assert [(v.name, v.value) for v in color.values] == [("RED", 0), ("GREEN", 5), ("BLUE", blue)]
    big = btf.find("big", Enum)
    assert big.size == 8
    if big.kind64:  # clang >= 15 emits ENUM64
        assert [(v.name, v.value) for v in big.values] == [("SMALL", 1), ("B", 1 << 32)]
    else:  # clang 14 emits an 8-byte ENUM and truncates the value to 32 bits
        assert [(v.name, v.value) for v in big.values] == [("SMALL", 1), ("B", 0)]
    assert btf.find("undeclared", Fwd).kind == "struct"
    assert btf.find("undeclared_u", Fwd).kind == "union"
    with pytest.raises(ParseError, match=r"FWD 'undeclared'.* has no size") as ei:
        btf.sizeof(btf.find("undeclared", Fwd))
    assert ei.value.section == ".BTF"


@pytest.mark.parametrize("order", ORDERS)
def test_functions(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    sub = btf.find("add_fields", Func)
    assert sub.linkage is Linkage.STATIC
    assert [(p.name, spell(p.type)) for p in sub.type.params] == [
        ("p", "restrict struct packet *"),
        ("scale", "int"),
    ]
    assert spell(sub.type.return_type) == "int" and not sub.type.variadic
    prog = btf.find("prog", Func)
    assert prog.linkage is Linkage.GLOBAL
    assert spell(prog.type) == "fn(struct xdp_md *) -> int"
    assert prog.type.params[0].name == "ctx"
    with pytest.raises(ParseError, match=r"FUNC 'prog'.* has no size"):
        btf.sizeof(prog)
    with pytest.raises(ParseError, match="VOID #0 has no size"):
        btf.sizeof(VOID)


@pytest.mark.parametrize("order", ORDERS)
def test_datasecs(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    secs = {
        t.name: (t.size, [(v.type.name, v.offset, v.size) for v in t.vars])
        for t in btf.types
        if isinstance(t, Datasec)
    }
    # clang leaves section sizes and (relocated) offsets 0; see the fixup test.
    assert secs == {
        ".bss": (0, [("bss_either", 0, 8)]),
        ".data": (0, [("pkt_data", 0, 104), ("counter", 0, 4)]),
        ".data.extra": (0, [("extra_var", 0, 4)]),
        ".rodata": (0, [("ro_value", 0, 4)]),
        "license": (0, [("LICENSE", 0, 4)]),
    }
    assert all(
        isinstance(v.type, Var) and v.type.linkage is Linkage.GLOBAL
        for v in btf.find(".data", Datasec).vars
    )


@pytest.mark.parametrize("order", ORDERS)
def test_tags(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    tags = {t.name: (spell(t.type), t.component_idx) for t in btf.types if isinstance(t, DeclTag)}
    assert tags == {
        "pkt": ("struct packet", -1),
        "key": ("struct packet", 14),
        "arg": ("add_fields", 1),
    }
    tagged = btf.find("packet", Struct).members[18].type
    assert isinstance(tagged, Pointer)
    tag = tagged.target
    assert isinstance(tag, TypeTag) and (tag.name, spell(tag.type)) == ("user", "int")
    assert btf.resolve(tag) is btf.find("int", Int)


def test_byte_orders_agree(kinds: dict[str, Obj]) -> None:
    le, be = kinds["little"], kinds["big"]
    assert le.raw_btf != be.raw_btf
    assert len(dump(le.btf)) == 56
    assert dump(le.btf) == dump(be.btf)
    assert le.btf.strings == be.btf.strings
    assert le.ext == be.ext


@pytest.mark.parametrize("order", ORDERS)
def test_ext(kinds: dict[str, Obj], order: str) -> None:
    btf, ext = kinds[order].btf, kinds[order].ext
    assert (ext.func_info_rec_size, ext.line_info_rec_size) == (8, 16)
    assert ext.func_info == {
        "xdp": [FuncInfo(0, btf.find("prog", Func).id)],
        ".text": [FuncInfo(0, btf.find("add_fields", Func).id)],
    }
    assert ext.core_relos == {}
    source = KINDS_SRC.read_text().splitlines()
    lines = {}
    for sec, infos in ext.line_info.items():
        assert infos[0].insn_off == 0
        assert [i.insn_off for i in infos] == sorted(i.insn_off for i in infos)
        for li in infos:
            assert li.file_name.endswith("tests/bpf/btf_kinds.c")
            assert li.line_text == source[li.line - 1]
            assert 0 < li.col < 80
            assert btf.string(li.line_off) == li.line_text
        lines[sec] = sorted({li.line for li in infos})
    assert lines == {".text": [57], "xdp": [63, 64, 65]}
    assert source[56].strip() == "return p->tag * scale + p->flags;"


@pytest.mark.parametrize("order", ORDERS)
def test_datasec_fixups_round_trip(kinds: dict[str, Obj], order: str) -> None:
    btf = kinds[order].btf
    raw = btf.with_datasec_fixups({".data": 108, ".bss": 8, "nope": 1}, {"counter": 104})
    assert len(raw) == len(btf.raw) and raw != btf.raw and btf.raw == kinds[order].raw_btf
    fixed = BTF.parse(raw)
    assert fixed.byteorder == order
    data = fixed.find(".data", Datasec)
    assert (data.size, [(v.type.name, v.offset, v.size) for v in data.vars]) == (
        108,
        [("pkt_data", 0, 104), ("counter", 104, 4)],
    )
    assert fixed.find(".bss", Datasec).size == 8
    assert fixed.find(".rodata", Datasec).size == 0
    assert dump(fixed)[:50] == dump(btf)[:50]
    # Entries are re-sorted by offset, as the kernel wants them.
    swapped = BTF.parse(btf.with_datasec_fixups({}, {"pkt_data": 8, "counter": 0}))
    assert [(v.type.name, v.offset) for v in swapped.find(".data", Datasec).vars] == [
        ("counter", 0),
        ("pkt_data", 8),
    ]
    assert btf.with_datasec_fixups({}, {}) == btf.raw
    with pytest.raises(ValueError, match="32 bits"):
        btf.with_datasec_fixups({".data": 1 << 32}, {})


def test_lookup(kinds: dict[str, Obj]) -> None:
    btf = kinds["little"].btf
    assert [type(t).__name__ for t in btf.named("packet")] == ["Struct"]
    assert btf.named("nope") == []
    assert btf.find("int") is btf.find("int", Int)
    with pytest.raises(KeyError, match="no BTF Union named 'packet'"):
        btf.find("packet", Union)
    with pytest.raises(KeyError):
        btf.find("nope")
    for bad in (-1, len(btf.types)):
        with pytest.raises(ParseError, match="out of range") as ei:
            btf.type_by_id(bad)
        assert ei.value.section == ".BTF"
    with pytest.raises(ParseError, match="string offset"):
        btf.string(len(btf.strings))
    assert btf.string(0) == ""
    pkt = btf.find("packet", Struct)
    assert repr(pkt) == "<Struct #10 'packet', size=104, members=19>"
    assert repr(pkt.members[1]) == "<Member 'flags':3 @8 #4 'unsigned int'>"
    assert repr(btf.find("add_fields", Func)) == "<Func #40 'add_fields', static, #39>"
    assert "packet" in repr(btf.types[9]) and len(repr(btf.types)) < 5000


# ---------------------------------------------------------------- vmlinux


@pytest.fixture(scope="module")
def vmlinux() -> tuple[BTF, float]:
    if not VMLINUX.exists():
        skip_or_fail(f"{VMLINUX} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)")
    raw = VMLINUX.read_bytes()
    t0 = time.perf_counter()
    btf = BTF.parse(raw, file=str(VMLINUX))
    return btf, time.perf_counter() - t0


def test_vmlinux(vmlinux: tuple[BTF, float]) -> None:
    btf, elapsed = vmlinux
    assert elapsed < 3.0, f"vmlinux parse took {elapsed:.2f}s"
    assert btf.byteorder == sys.byteorder
    assert len(btf.types) > 50_000
    attr = btf.find("bpf_attr", Union)
    assert attr.size == 168 == btf.sizeof(attr)
    map_type = {v.name: v.value for v in btf.find("bpf_map_type", Enum).values}
    assert map_type["BPF_MAP_TYPE_ARENA"] == 33
    assert map_type["BPF_MAP_TYPE_HASH_OF_MAPS"] == 13
    # The kernel's own enum says which kinds exist: none after ENUM64 (19).
    kinds = next(
        names
        for t in btf.types
        if isinstance(t, Enum) and "NR_BTF_KINDS" in (names := {v.name: v.value for v in t.values})
    )
    assert kinds["BTF_KIND_ENUM64"] == 19 and kinds["NR_BTF_KINDS"] == 20
    cc = btf.find("perf_callchain_context", Enum)
    assert cc.kind64 and not cc.signed
    assert {v.name: v.value for v in cc.values}["PERF_CONTEXT_MAX"] == (1 << 64) - 4095
    task = btf.find("task_struct", Struct)
    assert btf.sizeof(task) == task.size > 1000
    assert any(m.bitfield_size for m in task.members)
    assert isinstance(btf.find("bpf_map_lookup_elem", Func).type, FuncProto)


# ---------------------------------------------------------------- hand-built BTF

K = dict(INT=1, PTR=2, ARRAY=3, STRUCT=4, UNION=5, ENUM=6, FWD=7, TYPEDEF=8, VOLATILE=9,
         CONST=10, RESTRICT=11, FUNC=12, FUNC_PROTO=13, VAR=14, DATASEC=15, FLOAT=16,
         DECL_TAG=17, TYPE_TAG=18, ENUM64=19)  # fmt: skip


class Builder:
    """Writes BTF record by record (independently of bpfnest's _wire)."""

    def __init__(
        self,
        order: str = "little",
        *,
        first_id: int = 1,
        str_base: int = 0,
        strings_first: bool = False,
    ) -> None:
        self.e = "<" if order == "little" else ">"
        self.strings_first = strings_first
        self.first_id = first_id
        self.str_base = str_base
        self.strtab = bytearray(b"" if str_base else b"\0")
        self.recs: list[bytes] = []

    def s(self, text: str) -> int:
        off = self.str_base + len(self.strtab)
        self.strtab += text.encode() + b"\0"
        return off

    def add(
        self,
        kind: int | str,
        name: str | int = "",
        st: int = 0,
        *,
        vlen: int | None = None,
        kflag: int = 0,
        extra: Sequence[int] = (),
        info: int | None = None,
    ) -> int:
        """Append a record; ``extra`` are u32 words (negative ones wrap)."""
        kind = K[kind] if isinstance(kind, str) else kind
        name_off = name if isinstance(name, int) else (self.s(name) if name else 0)
        if info is None:
            info = kflag << 31 | kind << 24 | (vlen or 0)
        words = [x & 0xFFFF_FFFF for x in extra]
        self.recs.append(struct.pack(f"{self.e}III{len(words)}I", name_off, info, st, *words))
        return self.first_id + len(self.recs) - 1

    def _strs(self) -> bytes:
        """The string section; padded with NULs to keep the types aligned
        when it comes first."""
        strs = bytes(self.strtab)
        return strs + bytes(-len(strs) % 4) if self.strings_first else strs

    def offset(self, type_id: int) -> int:
        """Byte offset of record ``type_id`` in :meth:`build`'s output."""
        start = 24 + (len(self._strs()) if self.strings_first else 0)
        return start + sum(len(r) for r in self.recs[: type_id - self.first_id])

    def build(self, *, tail: bytes = b"") -> bytes:
        """Header, then the type records (plus ``tail``) and the strings, or the
        strings first when ``strings_first`` (the kernel allows either order)."""
        types = b"".join(self.recs) + tail
        strs = self._strs()
        type_off, str_off = (len(strs), 0) if self.strings_first else (0, len(types))
        hdr = struct.pack(
            f"{self.e}HBBIIIII", 0xEB9F, 1, 0, 24, type_off, len(types), str_off, len(strs)
        )
        return hdr + (strs + types if self.strings_first else types + strs)


def basic(order: str = "little", *, strings_first: bool = False) -> Builder:
    """int (1), typedef myint (2), struct s { myint a; int b:3; } (3)."""
    b = Builder(order, strings_first=strings_first)
    b.add("INT", "int", 4, extra=[1 << 24 | 32])
    b.add("TYPEDEF", "myint", 1)
    b.add("STRUCT", "s", 8, vlen=2, kflag=1, extra=[b.s("a"), 2, 0, b.s("b"), 1, 3 << 24 | 32])
    return b


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("strings_first", [False, True])
def test_builder_basic(order: str, strings_first: bool) -> None:
    btf = BTF.parse(basic(order, strings_first=strings_first).build())
    s = btf.find("s", Struct)
    assert [(m.name, spell(m.type), m.bit_offset, m.bitfield_size) for m in s.members] == [
        ("a", "myint", 0, 0),
        ("b", "int", 32, 3),
    ]
    assert btf.sizeof(s) == 8 and btf.byteorder == order


@pytest.mark.parametrize("order", ORDERS)
def test_enum64_and_signed_enums(order: str) -> None:
    b = Builder(order)
    b.add("ENUM64", "u", 8, vlen=2, extra=[b.s("LOW"), 5, 0, b.s("HIGH"), 0, 0x8000_0001])
    b.add("ENUM64", "s", 8, vlen=1, kflag=1, extra=[b.s("NEG"), 0xFFFF_FFFE, 0xFFFF_FFFF])
    b.add("ENUM", "e", 4, vlen=2, kflag=1, extra=[b.s("M1"), -1, b.s("P7"), 7])
    b.add("ENUM", "f", 4, vlen=1, extra=[b.s("BIG"), 0xFFFF_FFFF])
    btf = BTF.parse(b.build())
    got = {
        t.name: (t.kind64, t.signed, [(v.name, v.value) for v in t.values])
        for t in btf.types
        if isinstance(t, Enum)
    }
    assert got == {
        "u": (True, False, [("LOW", 5), ("HIGH", 0x8000_0001 << 32)]),
        "s": (True, True, [("NEG", -2)]),
        "e": (False, True, [("M1", -1), ("P7", 7)]),
        "f": (False, False, [("BIG", 0xFFFF_FFFF)]),
    }
    assert btf.sizeof(btf.find("u", Enum)) == 8


def test_variadic_and_tags() -> None:
    b = Builder()
    b.add("INT", "int", 4, extra=[1 << 24 | 32])
    proto = b.add("FUNC_PROTO", "", 1, vlen=2, extra=[b.s("fmt"), 1, 0, 0])
    fn = b.add("FUNC", "logf", proto, vlen=2)
    b.add("DECL_TAG", "noinline", fn, kflag=1, extra=[-1])
    b.add("TYPE_TAG", "percpu", 1, kflag=1)
    b.add("FLOAT", "long double", 16)
    btf = BTF.parse(b.build())
    f = btf.find("logf", Func)
    assert f.linkage is Linkage.EXTERN and f.type.variadic
    assert [(p.name, p.type) for p in f.type.params][1] == ("", VOID)
    tag = btf.find("noinline", DeclTag)
    assert tag.attribute and tag.type is f and tag.component_idx == -1
    assert btf.find("percpu", TypeTag).attribute
    assert btf.sizeof(btf.find("long double", Float)) == 16


def test_plain_bitfields() -> None:
    """Without kind_flag, the INT's bits/offset carry the bitfield."""
    b = Builder()
    b.add("INT", "unsigned int", 4, extra=[32])
    b.add("INT", "", 4, extra=[2 << 16 | 5])  # 5 bits at +2
    b.add("STRUCT", "old", 8, vlen=2, extra=[b.s("x"), 1, 0, b.s("y"), 2, 32])
    btf = BTF.parse(b.build())
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in btf.find("old", Struct).members] == [
        ("x", 0, 0),
        ("y", 34, 5),
    ]


def test_split_btf() -> None:
    base_b = basic()
    base = BTF.parse(base_b.build())
    b = Builder(first_id=4, str_base=len(base.strings))
    ptr = b.add("PTR", "", 3)
    b.add("STRUCT", "mod", 8, vlen=1, extra=[b.s("p"), ptr, 0])
    b.add("TYPEDEF", "int_alias", 1)  # name in the split strings, type in base
    b.add("VAR", base_b.strtab.index(b"myint"), 2, extra=[0])  # name from the base strings
    split = BTF.parse(b.build(), base=base)
    assert len(split.types) == 8 and split.types[:4] == base.types
    mod = split.find("mod", Struct)
    assert mod.id == 5 and spell(mod.members[0].type) == "struct s *"
    assert split.find("int_alias", Typedef).type is base.types[1]
    assert split.find("s", Struct) is base.types[3]
    assert split.types[7].name == "myint" and isinstance(split.types[7], Var)
    assert split.sizeof(mod) == 8
    with pytest.raises(ParseError, match="type id 8 out of range"):
        b2 = Builder(first_id=4, str_base=len(base.strings))
        b2.add("PTR", "", 8)
        BTF.parse(b2.build(), base=base)


def test_cycles() -> None:
    b = Builder()
    a = b.add("TYPEDEF", "A", 1)  # typedef A A;
    arr = b.add("ARRAY", "", 0, extra=[3, 1, 4])  # elem: the typedef below
    b.add("CONST", "", 2)
    b.add("PTR", "", 4)  # pointers end the walk: no cycle
    btf = BTF.parse(b.build())
    for op in (btf.sizeof, btf.resolve):
        with pytest.raises(ParseError, match="cycle through TYPEDEF 'A'") as ei:
            op(btf.types[a])
        assert (ei.value.section, ei.value.offset) == (".BTF", b.offset(a))
    with pytest.raises(ParseError, match="cycle") as ei:
        btf.sizeof(btf.types[arr])
    assert ei.value.offset in (b.offset(arr), b.offset(arr + 1))
    assert btf.sizeof(btf.types[4]) == 8


# ---------------------------------------------------------------- malformed .BTF


def _patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def _bad_vlen() -> tuple[bytes, int]:
    b = basic()
    t = b.add("STRUCT", "huge", 4, vlen=0xFFFF, extra=[b.s("x"), 1, 0])
    return b.build(), b.offset(t)


def _bad_kind(kind: int) -> Callable[[], tuple[bytes, int]]:
    def make() -> tuple[bytes, int]:
        b = basic()
        t = b.add(kind, "", 0)
        return b.build(), b.offset(t)

    return make


def _one(*args: Any, sub: int = 0, **kw: Any) -> Callable[[], tuple[bytes, int]]:
    """basic() plus one record; expect an error at that record (+ ``sub``)."""

    def make() -> tuple[bytes, int]:
        b = basic()
        t = b.add(*args, **kw)
        return b.build(), b.offset(t) + sub

    return make


def _truncated_record(strings_first: bool) -> Callable[[], tuple[bytes, int]]:
    def make() -> tuple[bytes, int]:
        b = basic(strings_first=strings_first)
        return b.build(tail=bytes(8)), b.offset(4)

    return make


def _unterminated() -> tuple[bytes, int]:
    raw = basic().build() + b"x"
    raw = _patch(raw, 20, "<I", struct.unpack_from("<I", raw, 20)[0] + 1)
    return raw, len(raw) - 1


def _no_leading_nul() -> tuple[bytes, int]:
    start = len(GOOD) - len(basic().strtab)
    return _patch(GOOD, start, "B", ord("x")), start


def _bad_tag() -> tuple[bytes, int]:
    b = basic()
    t = b.add("DECL_TAG", "t", 3, extra=[2])  # struct s has members 0 and 1
    return b.build(), b.offset(t)


def _func_not_proto() -> tuple[bytes, int]:
    b = basic()
    t = b.add("FUNC", "f", 1)
    return b.build(), b.offset(t)


GOOD = basic().build()
BAD_BTF: dict[str, tuple[Callable[[], tuple[bytes, int]], str]] = {
    "empty": (lambda: (b"", 0), "header truncated: 0 bytes"),
    "truncated header": (lambda: (GOOD[:7], 0), "header truncated"),
    "shorter than header": (lambda: (GOOD[:20], 4), "header truncated: hdr_len 24, 20 bytes"),
    "bad magic": (lambda: (b"\x9e\xeb" + GOOD[2:], 0), "bad magic 9eeb"),
    "bad version": (lambda: (_patch(GOOD, 2, "B", 2), 2), "unsupported BTF version 2"),
    "hdr_len too small": (lambda: (_patch(GOOD, 4, "<I", 16), 4), "hdr_len 16"),
    "hdr_len past end": (lambda: (_patch(GOOD, 4, "<I", len(GOOD) + 1), 4), "runs past the end"),
    "type_len past end": (lambda: (_patch(GOOD, 12, "<I", len(GOOD)), 8), "type section .* runs"),
    "type_off unaligned": (lambda: (_patch(GOOD, 8, "<I", 2), 8), "not 4-byte aligned"),
    "str_len past end": (lambda: (_patch(GOOD, 20, "<I", len(GOOD)), 16), "string section .* runs"),
    "sections overlap": (lambda: (_patch(GOOD, 16, "<I", 8), 16), "overlap"),
    "strings not NUL-terminated": (_unterminated, "does not end with NUL"),
    "strings without leading NUL": (_no_leading_nul, "must start with an empty string"),
    "type record truncated": (_truncated_record(False), r"type #4: record truncated \(8 bytes"),
    "type record truncated at the end": (_truncated_record(True), "type #4: record truncated"),
    "vlen huge": (_bad_vlen, r"type #4 \(STRUCT, vlen 65535\) runs past the end"),
    "kind 0": (_bad_kind(0), "type #4: unknown kind 0"),
    "kind 20": (_bad_kind(20), "type #4: unknown kind 20"),
    "kind 31": (_bad_kind(31), "type #4: unknown kind 31"),
    "unused info bits": (_one(1, "", 4, extra=[32], info=1 << 24 | 1 << 16), "unused info bits"),
    "type id out of range": (_one("TYPEDEF", "t", 99), r"type id 99 out of range \(5 types\)"),
    "member type out of range": (
        _one("STRUCT", "m", 4, vlen=1, extra=[0, 99, 0], sub=12),
        "type id 99 out of range",
    ),
    "param type out of range": (
        _one("FUNC_PROTO", "", 1, vlen=2, extra=[0, 1, 0, 99], sub=20),
        "type id 99 out of range",
    ),
    "array index type out of range": (
        _one("ARRAY", "", extra=[1, 99, 2], sub=12),
        "type id 99 out of range",
    ),
    "datasec var out of range": (
        _one("DATASEC", ".d", 4, vlen=1, extra=[99, 0, 4], sub=12),
        "type id 99 out of range",
    ),
    "name offset out of range": (_one("TYPEDEF", 10_000, 1), "string offset 10000 outside"),
    "member name out of range": (
        _one("STRUCT", "m", 4, vlen=1, extra=[10_000, 1, 0], sub=12),
        "string offset 10000 outside",
    ),
    "enum name out of range": (
        _one("ENUM", "e", 4, vlen=2, extra=[0, 0, 10_000, 1], sub=20),
        "string offset 10000 outside",
    ),
    "named pointer": (_one("PTR", "p", 1), "PTR must not have a name"),
    "anonymous typedef": (_one("TYPEDEF", "", 1), "TYPEDEF must have a name"),
    "void param not last": (
        _one("FUNC_PROTO", "", 1, vlen=2, extra=[0, 0, 0, 1], sub=12),
        "only an unnamed last parameter may be void",
    ),
    "bad func linkage": (_one("FUNC", "f", 1, vlen=3), "bad FUNC linkage 3"),
    "bad var linkage": (_one("VAR", "v", 1, extra=[3]), "bad VAR linkage 3"),
    "bad int bits": (_one("INT", "i", 4, extra=[33]), "bad INT: size 4, 33 bits"),
    "bad enum size": (_one("ENUM", "e", 3), "bad enum size 3"),
    "func not a proto": (_func_not_proto, "FUNC 'f' .* not a FUNC_PROTO"),
    "decl tag component": (_bad_tag, "component 2 not in STRUCT 's'"),
    "datasec entry not a var": (
        _one("DATASEC", ".d", 4, vlen=1, extra=[1, 0, 4], sub=12),
        "entry 0 is INT 'int' .* not a VAR or FUNC",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BTF))
def test_bad_btf(case: str) -> None:
    make, message = BAD_BTF[case]
    raw, offset = make()
    with pytest.raises(ParseError, match=message) as ei:
        BTF.parse(raw, file="bad.o")
    assert (ei.value.file, ei.value.section, ei.value.offset) == ("bad.o", ".BTF", offset), str(
        ei.value
    )
    assert str(ei.value).startswith(f"bad.o: .BTF: offset {offset:#x}: ")


@pytest.mark.parametrize("order", ORDERS)
def test_bad_btf_from_clang(kinds: dict[str, Obj], order: str) -> None:
    raw = kinds[order].raw_btf
    e = "<" if order == "little" else ">"
    # Kind 31 in the first record (at the end of the 24-byte header).
    (info,) = struct.unpack_from(e + "I", raw, 28)
    with pytest.raises(ParseError, match="unknown kind 31") as ei:
        BTF.parse(_patch(raw, 28, e + "I", info | 31 << 24))
    assert (ei.value.section, ei.value.offset) == (".BTF", 24)
    # The first member of struct packet (#10) pointing past the last type.
    btf = kinds[order].btf
    member = btf.record_offset(btf.types[10])
    assert member is not None
    member += 12
    with pytest.raises(ParseError, match="type id 4096 out of range") as ei:
        BTF.parse(_patch(raw, member + 4, e + "I", 4096))
    assert ei.value.offset == member
    # type_len running past the end of the data.
    with pytest.raises(ParseError, match="type section") as ei:
        BTF.parse(_patch(raw, 12, e + "I", len(raw)))
    assert ei.value.offset == 8


def _exercise(btf: BTF) -> None:
    for t in btf.types:
        for op in (btf.sizeof, btf.resolve):
            with contextlib.suppress(ParseError):
                op(t)
        repr(t)


@pytest.mark.parametrize("order", ORDERS)
def test_corruption_only_raises_parse_error(kinds: dict[str, Obj], order: str) -> None:
    """Every truncation and every single-byte corruption either parses or
    raises ParseError: never IndexError, struct.error or RecursionError."""
    raw = kinds[order].raw_btf
    outcomes = {"ok": 0, "error": 0}
    for cut in range(len(raw)):
        with pytest.raises(ParseError):
            BTF.parse(raw[:cut])
    for i in range(len(raw)):
        for value in (0xFF, 0x00, 0x1F):
            try:
                btf = BTF.parse(_patch(raw, i, "B", value))
            except ParseError:
                outcomes["error"] += 1
                continue
            outcomes["ok"] += 1
            _exercise(btf)
            ext_raw = kinds[order].raw_ext
            with contextlib.suppress(ParseError):
                parse_ext(ext_raw, btf)
    assert outcomes["ok"] > 100 and outcomes["error"] > 100


# ---------------------------------------------------------------- .BTF.ext


def ext_blob(
    order: str = "little",
    *,
    func: tuple[int, list[tuple[int, list[tuple[int, ...]]]]] | None = None,
    line: tuple[int, list[tuple[int, list[tuple[int, ...]]]]] | None = None,
    core: tuple[int, list[tuple[int, list[tuple[int, ...]]]]] | None = None,
    hdr_len: int = 32,
) -> tuple[bytes, list[int]]:
    """A .BTF.ext: each block is (rec_size, [(sec_name_off, [record words])]).
    Returns the blob and the byte offset of each block."""
    e = "<" if order == "little" else ">"
    body = b""
    fields: list[int] = []
    starts: list[int] = []
    for block in (func, line, core):
        if block is None:
            fields += [len(body), 0]
            starts.append(-1)
            continue
        rec_size, groups = block
        start = len(body)
        out = struct.pack(e + "I", rec_size)
        for name_off, records in groups:
            out += struct.pack(e + "II", name_off, len(records))
            for words in records:
                rec = struct.pack(f"{e}{len(words)}I", *words)
                out += rec + bytes(max(0, rec_size - len(rec)))
        body += out
        fields += [start, len(out)]
        starts.append(hdr_len + start)
    hdr = struct.pack(e + "HBBI", 0xEB9F, 1, 0, hdr_len) + struct.pack(f"{e}6I", *fields)
    hdr = hdr[:hdr_len] + bytes(max(0, hdr_len - len(hdr)))
    return hdr + body, starts


def ext_btf(order: str = "little") -> tuple[BTF, dict[str, int]]:
    """int (1), FUNC_PROTO (2), FUNC main (3); strings for sections and lines."""
    b = Builder(order)
    b.add("INT", "int", 4, extra=[1 << 24 | 32])
    b.add("FUNC_PROTO", "", 1)
    b.add("FUNC", "main", 2, vlen=1)
    names = {n: b.s(n) for n in ("xdp", "a.c", "return 0;", "0:1")}
    return BTF.parse(b.build()), names


@pytest.mark.parametrize("order", ORDERS)
def test_ext_builder(order: str) -> None:
    btf, s = ext_btf(order)
    raw, _ = ext_blob(
        order,
        func=(12, [(s["xdp"], [(0, 3, 0xAAAA), (64, 3)])]),  # 4 extra bytes per record
        line=(16, [(s["xdp"], [(8, s["a.c"], s["return 0;"], 7 << 10 | 3)])]),
        core=(16, [(s["xdp"], [(16, 1, s["0:1"], 0)])]),
    )
    ext = parse_ext(raw, btf)
    assert ext.func_info == {"xdp": [FuncInfo(0, 3), FuncInfo(64, 3)]}
    assert ext.line_info == {
        "xdp": [LineInfo(8, s["a.c"], s["return 0;"], 7, 3, "a.c", "return 0;")]
    }
    assert [(c.insn_off, c.type_id, c.access_str, c.kind) for c in ext.core_relos["xdp"]] == [
        (16, 1, "0:1", 0)
    ]
    assert (ext.func_info_rec_size, ext.line_info_rec_size, ext.core_relo_rec_size) == (12, 16, 16)
    # The oldest header has no CO-RE fields.
    old, _ = ext_blob(order, func=(8, [(s["xdp"], [(0, 3)])]), hdr_len=24)
    ext = parse_ext(old, btf)
    assert (ext.func_info, ext.line_info, ext.core_relos) == ({"xdp": [FuncInfo(0, 3)]}, {}, {})
    assert ext.core_relo_rec_size == 0


def _ext_case(
    where: Callable[[list[int]], int], **blocks: Any
) -> Callable[[dict[str, int]], tuple[bytes, int]]:
    def make(s: dict[str, int]) -> tuple[bytes, int]:
        blocks_ = {k: v(s) if callable(v) else v for k, v in blocks.items()}
        raw, starts = ext_blob(**blocks_)
        return raw, where(starts)

    return make


def _good_ext(s: dict[str, int]) -> bytes:
    return ext_blob(
        func=(8, [(s["xdp"], [(0, 3)])]),
        line=(16, [(s["xdp"], [(0, s["a.c"], s["return 0;"], 1 << 10)])]),
    )[0]


BAD_EXT: dict[str, Callable[[dict[str, int]], tuple[bytes, int]]] = {
    "truncated header": lambda s: (_good_ext(s)[:6], 0),
    "bad magic": lambda s: (b"\x9f\xeb"[::-1] + _good_ext(s)[2:], 0),
    "bad version": lambda s: (_patch(_good_ext(s), 2, "B", 9), 2),
    "hdr_len too small": lambda s: (_patch(_good_ext(s), 4, "<I", 20), 4),
    "hdr_len past end": lambda s: (_patch(_good_ext(s), 4, "<I", 4096), 4),
    "func_info past end": lambda s: (_patch(_good_ext(s), 12, "<I", 4096), 8),
    "line_info past end": lambda s: (_patch(_good_ext(s), 20, "<I", 4096), 16),
    "rec_size too small": _ext_case(lambda st: st[0], func=lambda s: (4, [(s["xdp"], [(0,)])])),
    "rec_size unaligned": _ext_case(
        lambda st: st[1], line=lambda s: (18, [(s["xdp"], [(0, 0, 0, 0)])])
    ),
    "num_info huge": lambda s: (_patch(_good_ext(s), 32 + 8, "<I", 0x1000_0000), 32 + 4),
    "num_info zero": _ext_case(lambda st: st[0] + 4, func=lambda s: (8, [(s["xdp"], [])])),
    "section name out of range": _ext_case(
        lambda st: st[0] + 4, func=lambda s: (8, [(9999, [(0, 3)])])
    ),
    "func type out of range": _ext_case(
        lambda st: st[0] + 12, func=lambda s: (8, [(s["xdp"], [(0, 99)])])
    ),
    "func type not a FUNC": _ext_case(
        lambda st: st[0] + 12 + 8, func=lambda s: (8, [(s["xdp"], [(0, 3), (8, 1)])])
    ),
    "line file name out of range": _ext_case(
        lambda st: st[1] + 12 + 16,
        line=lambda s: (16, [(s["xdp"], [(0, s["a.c"], 0, 0), (8, 9999, 0, 0)])]),
    ),
    "core access string out of range": _ext_case(
        lambda st: st[2] + 12, core=lambda s: (16, [(s["xdp"], [(0, 1, 9999, 0)])])
    ),
    "core type out of range": _ext_case(
        lambda st: st[2] + 12, core=lambda s: (16, [(s["xdp"], [(0, 99, s["0:1"], 0)])])
    ),
}


@pytest.mark.parametrize("case", list(BAD_EXT))
def test_bad_ext(case: str) -> None:
    btf, s = ext_btf()
    assert parse_ext(_good_ext(s), btf).func_info == {"xdp": [FuncInfo(0, 3)]}
    raw, offset = BAD_EXT[case](s)
    with pytest.raises(ParseError) as ei:
        parse_ext(raw, btf, file="x.o")
    assert (ei.value.file, ei.value.section, ei.value.offset) == ("x.o", ".BTF.ext", offset), str(
        ei.value
    )


def test_ext_byte_order_mismatch(kinds: dict[str, Obj]) -> None:
    with pytest.raises(ParseError, match="other byte order") as ei:
        parse_ext(kinds["big"].raw_ext, kinds["little"].btf)
    assert (ei.value.section, ei.value.offset) == (".BTF.ext", 0)


@pytest.mark.parametrize("order", ORDERS)
def test_ext_corruption_only_raises_parse_error(kinds: dict[str, Obj], order: str) -> None:
    raw, btf = kinds[order].raw_ext, kinds[order].btf
    for cut in range(len(raw)):
        with pytest.raises(ParseError):
            parse_ext(raw[:cut], btf)
    errors = 0
    for i in range(len(raw)):
        for value in (0xFF, 0x00, 0x07):
            try:
                parse_ext(_patch(raw, i, "B", value), btf)
            except ParseError:
                errors += 1
    assert errors > 50


# ---------------------------------------------------------------- encoding


def test_encode_func_info() -> None:
    n = "<" if sys.byteorder == "little" else ">"
    recs = [FuncInfo(0, 3), FuncInfo(5, 7)]
    assert encode_func_info(recs, 8) == struct.pack(n + "4I", 0, 3, 5, 7)
    assert encode_func_info(recs, 12) == struct.pack(n + "6I", 0, 3, 0, 5, 7, 0)
    assert encode_func_info([], 8) == b""
    for bad in (4, 10):
        with pytest.raises(ValueError, match="record size"):
            encode_func_info(recs, bad)
    with pytest.raises(ValueError, match="func_info"):
        encode_func_info([FuncInfo(-1, 0)], 8)


def test_encode_line_info(kinds: dict[str, Obj]) -> None:
    n = "<" if sys.byteorder == "little" else ">"
    li = LineInfo(16, 1, 2, 57, 3)
    assert encode_line_info([li], 16) == struct.pack(n + "4I", 16, 1, 2, 57 << 10 | 3)
    assert encode_line_info([li], 20) == struct.pack(n + "5I", 16, 1, 2, 57 << 10 | 3, 0)
    with pytest.raises(ValueError, match="line_col"):
        encode_line_info([LineInfo(0, 0, 0, 1, 1024)], 16)
    with pytest.raises(ValueError, match="record size"):
        encode_line_info([li], 8)
    # What the file holds, re-encoded natively, is what the file holds.
    native = kinds[sys.byteorder]
    recs = native.ext.line_info[".text"]
    start = native.raw_ext.find(encode_line_info(recs[:1], 16))
    assert start > 0
    assert native.raw_ext[start : start + 16 * len(recs)] == encode_line_info(recs, 16)


def test_layering() -> None:
    """bpfnest.btf stays pure: it imports only the stdlib modules below and
    bpfnest.errors, never ctypes or bpfnest._sys."""
    allowed = {
        "__future__",
        "builtins",
        "collections.abc",
        "dataclasses",
        "enum",
        "errno",
        "gc",
        "struct",
        "sys",
        "typing",
        "weakref",
    }
    for f in (Path(__file__).parent.parent / "bpfnest" / "btf").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= allowed, f
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert node.module in allowed, (f, node.module)
                else:
                    assert node.level == 1 or node.module == "errors", (f, node.module)
