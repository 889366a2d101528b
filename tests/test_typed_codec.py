"""bpfnest.btf.values, the BTF <-> Python codec, against clang's own layout.

tests/bpf/typed_layout.c holds structs of every kind of member and, in its
``layout`` global, the sizes and offsets clang computed (sizeof/offsetof):
the generated ctypes classes must put every field at the same place, and
values must round-trip (bytes -> value -> bytes). No kernel here: the kernel
round trip (bitfields written by a program and read back) is in test_typed.py.
"""

from __future__ import annotations

import ctypes
import enum
import os
import struct
from typing import Any

import pytest

from bpfnest import CollectionSpec
from bpfnest.btf import BTF, Composite, Enum, Func, Int, Struct
from bpfnest.btf import values as bv

ALL_FIELDS = [
    "u8",
    "s8",
    "u16",
    "s16",
    "u32",
    "s32",
    "u64",
    "s64",
    "flag",
    "sm",
    "b64",
    "name",
    "mac",
    "in",
    "grid",
    "ptr",
    "word",
    "pair",
    "tail",
]


@pytest.fixture(scope="module")
def spec(objs: Any) -> CollectionSpec:
    return CollectionSpec.from_file(objs("typed_layout"))


def _btf(spec: CollectionSpec) -> BTF:
    assert spec.btf is not None
    return spec.btf


def composite(spec: CollectionSpec, name: str) -> bv.Codec:
    btf = _btf(spec)
    t = next(t for t in btf.named(name) if isinstance(t, Composite))
    return bv.codec(btf, t)


def clang_layout(spec: CollectionSpec) -> list[int]:
    raw = spec.get_global("layout")
    return list(struct.unpack(f"<{len(raw) // 4}I", raw))


# Values expected() in typed_layout.c writes (the kernel test checks them too).
EXPECTED: dict[str, Any] = {
    "u8": 0xFE,
    "s8": -3,
    "u16": 0xBEEF,
    "s16": -1234,
    "u32": 0xDEADBEEF,
    "s32": -123456,
    "u64": 0x1122334455667788,
    "s64": -5,
    "flag": True,
    "sm": 0xFF,  # S_A = -1 in a 1-byte enum; clang 14's BTF calls it unsigned
    "b64": 1 << 32,
    "name": b"bpf",
    "mac": [1, 2, 3, 4, 5, 6],
    "in": [{"x": 0x1234, "y": 9}, {"x": 7, "y": 255}],
    "grid": [[1, 2, 3], [4, 5, 6]],
    "ptr": 0x1000,
    "word": 0x01020304,
    "bytes": [4, 3, 2, 1],
    "pair": {"lo": 10, "hi": 20},
    "f1": 5,
    "f2": 4000,
    "f3": -7,
    "tail": 0x42,
}


def test_layout_matches_clang(spec: CollectionSpec) -> None:
    lay = clang_layout(spec)
    a = composite(spec, "all").cls
    assert ctypes.sizeof(a) == lay[0] == 120
    assert [getattr(a, f).offset for f in ALL_FIELDS] == lay[1:20]
    packed = composite(spec, "packed").cls
    assert [ctypes.sizeof(packed), packed.a.offset, packed.b.offset, packed.c.offset] == lay[20:24]
    al = composite(spec, "aligned16").cls
    assert [ctypes.sizeof(al), al.a.offset, al.b.offset] == lay[24:27]
    assert ctypes.sizeof(composite(spec, "variant").cls) == lay[27]
    assert ctypes.sizeof(composite(spec, "inner").cls) == lay[28]
    wide = composite(spec, "wide")
    # big (__int128) is a property over its bytes: its storage is the first field
    assert [wide.size, wide.cls.after.offset - 16, wide.cls.after.offset] == lay[29:32]
    assert [wide.cls.f.offset, wide.cls.d.offset] == lay[32:34]


def test_every_size_matches_btf(spec: CollectionSpec) -> None:
    btf = _btf(spec)
    for t in btf.types:
        if isinstance(t, Composite) and t.name in ("all", "packed", "aligned16", "variant", "wide"):
            c = bv.codec(btf, t)
            assert c.size == t.size == ctypes.sizeof(c.cls), t
            assert bytes(c.cls()) == bytes(t.size)


def test_values_round_trip(spec: CollectionSpec) -> None:
    c = composite(spec, "all")
    v = c.cls(**EXPECTED)
    assert bv.asdict(v) == EXPECTED
    raw = bytes(v)
    assert len(raw) == 120
    assert c.decode(raw) == v
    assert bytes(c.decode(raw)) == raw
    assert c.encode(v) == raw == c.encode(EXPECTED) == c.encode(bytearray(raw))
    # every field reads back what was set
    back = c.decode(raw)
    assert (back.u64, back.s8, back.f3, back.name, back.word) == (
        0x1122334455667788,
        -3,
        -7,
        b"bpf",
        0x01020304,
    )
    assert list(back.bytes) == [4, 3, 2, 1]  # the anonymous union's other member
    assert bytes(back.mac) == bytes([1, 2, 3, 4, 5, 6])
    assert getattr(back, "in")[1].y == 255  # "in": a C name, a Python keyword


def test_arbitrary_bytes_round_trip_exactly(spec: CollectionSpec) -> None:
    for name in ("all", "packed", "aligned16", "variant", "wide", "inner"):
        c = composite(spec, name)
        raw = os.urandom(c.size)
        assert bytes(c.decode(raw)) == raw, name
        assert c.encode(c.decode(raw)) == raw, name


def test_scalars(spec: CollectionSpec) -> None:
    btf = _btf(spec)
    s16 = bv.codec(btf, btf.find("__s16"))
    assert (s16.cls, s16.size, s16.decode(b"\xfe\xff"), s16.encode(-2)) == (int, 2, -2, b"\xfe\xff")
    u64 = bv.codec(btf, btf.find("__u64"))
    assert u64.encode(2**64 - 1) == b"\xff" * 8
    with pytest.raises(ValueError, match=r"value = 18446744073709551616 does not fit in u64"):
        u64.encode(2**64)
    with pytest.raises(ValueError, match="does not fit in s16"):
        s16.encode(40000)
    with pytest.raises(TypeError, match="value must be a short, got str"):
        s16.encode("1")
    b = bv.codec(btf, btf.find("_Bool", Int))
    assert (b.cls, b.decode(b"\x01"), b.encode(True), b.encode(0)) == (bool, True, b"\x01", b"\0")
    ptr = bv.codec(btf, next(m.type for m in btf.find("all", Struct).members if m.name == "ptr"))
    assert (ptr.cls, ptr.size, ptr.decode(ptr.encode(0x1000))) == (int, 8, 0x1000)


def test_enums_are_intenums(spec: CollectionSpec) -> None:
    btf = _btf(spec)
    small = bv.codec(btf, btf.find("small", Enum))
    assert issubclass(small.cls, enum.IntEnum) and small.size == 1
    assert small.cls.S_B == 7 and small.decode(b"\x07") is small.cls.S_B
    assert small.decode(b"\x05") == 5  # no name: a plain int
    assert small.decode(b"\xff") is small.cls.S_A  # -1, as clang 14 writes it (0xffffffff)
    assert small.encode(-1) == b"\xff"  # signed or unsigned: clang 14 does not say
    a = composite(spec, "all").cls(sm=7)
    assert "sm=S_B" in repr(a)
    assert bv.asdict(a)["sm"] is small.cls.S_B


def test_classes_are_named_cached_and_shared(spec: CollectionSpec) -> None:
    btf = _btf(spec)
    c = composite(spec, "packed")
    assert c.cls.__name__ == "packed" and c.name == "struct packed"
    assert composite(spec, "packed") is c
    again = BTF.parse(btf.raw)  # the same BTF parsed again: the same classes
    assert bv.codec(again, again.find("packed", Struct)).cls is c.cls
    assert repr(c.cls(a=1, b=2, c=3)) == "packed(a=1, b=2, c=3)"
    grid = composite(spec, "all").cls(grid=[[1, 2, 3], [4, 5, 6]]).grid
    assert type(grid).__name__ == "unsigned int[2][3]"
    assert repr(grid[1]) == "unsigned int[3]([4, 5, 6])"
    assert grid == [[1, 2, 3], [4, 5, 6]] and grid[1] == [4, 5, 6]
    assert "anon" in type(composite(spec, "all").cls().pair).__name__


def test_bitfields(spec: CollectionSpec) -> None:
    a = composite(spec, "all").cls()
    a.f1, a.f2, a.f3 = 7, 8191, -16
    assert (a.f1, a.f2, a.f3) == (7, 8191, -16)
    a.f3 = 15
    assert (a.f1, a.f2, a.f3, a.tail) == (7, 8191, 15, 0)
    with pytest.raises(ValueError, match=r"all\.f1 = 8 does not fit in 3 bits \(0\.\.7\)"):
        a.f1 = 8
    with pytest.raises(ValueError, match=r"all\.f3 = -17 does not fit in 5 bits \(-16\.\.15\)"):
        a.f3 = -17
    assert (a.f1, a.f3) == (7, 15)


def test_bitfields_of_an_anonymous_member(spec: CollectionSpec) -> None:
    c = composite(spec, "anon_bits")
    v = c.cls(a=1, lo=15, hi=(1 << 28) - 1)
    assert (v.a, v.lo, v.hi) == (1, 15, (1 << 28) - 1)
    assert bytes(v) == bytes([1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    assert bv.asdict(c.decode(bytes(v))) == {"a": 1, "lo": 15, "hi": (1 << 28) - 1}
    assert repr(v) == f"anon_bits(a=1, lo=15, hi={(1 << 28) - 1})"
    with pytest.raises(ValueError, match="does not fit in 4 bits"):
        v.lo = 16


BAD: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "unknown fields",
        {"u8": 1, "nope": 2, "zz": 3},
        ValueError,
        r"no field 'nope', 'zz' \(fields: u8",
    ),
    ("u8 too big", {"u8": 256}, ValueError, r"all\.u8 = 256 does not fit in u8"),
    ("s8 too small", {"s8": -129}, ValueError, r"all\.s8 = -129 does not fit in s8"),
    ("str for int", {"u32": "1"}, TypeError, r"all\.u32 must be an int"),
    ("bool 2", {"flag": 2}, ValueError, r"all\.flag must be a bool"),
    ("name too long", {"name": b"1234567"}, ValueError, r"all\.name holds at most 6 bytes"),
    ("mac short", {"mac": [1, 2]}, ValueError, r"all\.mac must have 6 elements"),
    ("mac element", {"mac": [1, 2, 3, 4, 5, 256]}, ValueError, r"does not fit in u8"),
    ("nested unknown", {"pair": {"lo": 1, "mid": 2}}, ValueError, r"no field 'mid'"),
    ("nested class", {"in": [{"x": 70000, "y": 0}, {}]}, ValueError, r"inner\.x = 70000"),
]


@pytest.mark.parametrize(("what", "fields", "exc", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_fields_change_nothing(
    spec: CollectionSpec, what: str, fields: dict[str, Any], exc: type[Exception], match: str
) -> None:
    c = composite(spec, "all")
    with pytest.raises(exc, match=match):
        c.encode(fields)
    with pytest.raises(exc, match=match):
        c.cls(**fields)
    obj = c.cls(**EXPECTED)
    before = bytes(obj)
    if len(fields) == 1:
        ((name, value),) = fields.items()
        with pytest.raises(exc, match=match):
            setattr(obj, name, value)
        assert bytes(obj) == before


def test_wrong_values(spec: CollectionSpec) -> None:
    c = composite(spec, "packed")
    other = composite(spec, "inner").cls()
    with pytest.raises(TypeError, match="key must be a struct packed, got a inner"):
        c.encode(other, "key")
    with pytest.raises(ValueError, match=r"value must be 7 bytes \(a struct packed\), got 3"):
        c.encode(b"abc")
    with pytest.raises(TypeError, match="must be a struct packed, got int"):
        c.encode(5)
    with pytest.raises(TypeError, match=r"takes at most 3 positional fields \(a, b, c\), got 4"):
        c.cls(1, 2, 3, 4)
    with pytest.raises(AttributeError, match=r"packed has no field 'd' \(fields: a, b, c\)"):
        c.cls().d = 1  # type: ignore[attr-defined]
    assert c.encode(c.cls(1, 2, c=3)) == bytes([1, 2, 0, 0, 0, 3, 0])


def test_only_data_types_and_this_byte_order(spec: CollectionSpec, objs: Any) -> None:
    btf = _btf(spec)
    with pytest.raises(ValueError, match="has no value layout"):
        bv.codec(btf, btf.find("fill", Func))
    other = BTF.parse(btf.raw)
    with pytest.raises(ValueError, match="is not a type of"):
        bv.codec(other, btf.find("packed", Struct))
    be = CollectionSpec.from_file(objs("typed_layout", target="bpfeb")).btf
    assert be is not None
    with pytest.raises(ValueError, match="big-endian and this machine is little-endian"):
        bv.codec(be, be.find("packed", Struct))
