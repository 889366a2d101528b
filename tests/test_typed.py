"""Typed data on the real kernel: Map.key_type/value_type, Map.typed(), buffer-protocol
keys and values on every map, Map.mmap().

tests/bpf/typed_layout.c: ``fill`` writes known values (bitfields, enums,
nested arrays, ...) into ``all_out`` and ``check`` compares ``all_in`` with the
same values, returning a mask of the fields that differ; so values written by
clang-compiled code are read back here, and values written here are read by it.
"""

from __future__ import annotations

import array
import ctypes
import enum
import errno
from collections.abc import Iterator
from typing import Any

import pytest
from test_typed_codec import EXPECTED

from bpfnest import (
    F_MMAPABLE,
    BPFError,
    Collection,
    CollectionSpec,
    KeyNotFoundError,
    Map,
    MapSpec,
    MapType,
    TypedMap,
    possible_cpus,
)
from bpfnest.btf import Struct, Union
from bpfnest.btf import values as bv

from support import bpf_mappings

pytestmark = pytest.mark.usefixtures("kernel")


@pytest.fixture
def coll(objs: Any) -> Iterator[Collection]:
    with CollectionSpec.from_file(objs("typed_layout")).load() as c:
        yield c


def test_kernel_writes_what_python_reads_and_back(coll: Collection) -> None:
    out, inp = coll.maps["all_out"].typed(), coll.maps["all_in"].typed()
    assert coll.programs["fill"].test_run(bytes(64)).retval == 0
    got = out[0]
    assert type(got) is out.value_class and got.__class__.__name__ == "all"
    assert bv.asdict(got) == EXPECTED
    # back to the kernel: as a dict, as an instance, as raw bytes
    for value in (EXPECTED, got, bytes(got), bytearray(bytes(got))):
        inp[0] = bytes(120)
        inp[0] = value
        assert coll.programs["check"].test_run(bytes(64)).retval == 0
    # one field off: the program sees exactly that one (bit 14 is f3)
    got.f3 = -6
    inp[0] = got
    assert coll.programs["check"].test_run(bytes(64)).retval == 1 << 14
    got.f3, got.f1 = -7, 4
    inp.update(0, got)
    assert coll.programs["check"].test_run(bytes(64)).retval == 1 << 12


def test_key_and_value_types(coll: Collection) -> None:
    m = coll.maps["packed_map"]
    assert isinstance(m.key_type, Struct) and m.key_type.name == "packed"
    assert isinstance(m.value_type, Union) and m.value_type.name == "variant"
    tm = m.typed()
    assert isinstance(tm, TypedMap) and tm.map is m
    assert tm.key_class.__name__ == "packed" and tm.value_class.__name__ == "variant"
    assert repr(tm) == "<TypedMap HASH 'packed_map' struct packed -> union variant>"
    # a typedef of an anonymous struct names its class
    assert coll.maps["endpoints"].typed().key_class.__name__ == "endpoint_t"


def test_typed_map_api(coll: Collection) -> None:
    tm = coll.maps["packed_map"].typed()
    K, V = tm.key_class, tm.value_class
    k1, k2 = K(a=1, b=2, c=3), K(a=2, b=3, c=4)
    tm[k1] = V(q=5)
    tm[{"a": 2, "b": 3, "c": 4}] = {"in": {"x": 7, "y": 8}}
    assert tm[k1].q == 5 and tm[k2].q == 0x080007
    assert tm.lookup(k1) == V(q=5) and tm.get(bytes(k2)).raw[:3] == [7, 0, 8]
    assert tm.lookup(K(a=9)) is None and tm.get(K(a=9), "none") == "none"
    assert k1 in tm and {"a": 2, "b": 3, "c": 4} in tm and K() not in tm
    assert sorted(k.a for k in tm) == [1, 2] == sorted(k.a for k in tm.keys())  # noqa: SIM118
    assert dict(tm.items()) == {k1: V(q=5), k2: tm[k2]}
    assert sorted(v.q for v in tm.values()) == [5, 0x080007]
    with pytest.raises(KeyNotFoundError, match=r"lookup HASH 'packed_map' key packed\(a=9"):
        tm[K(a=9)]
    with pytest.raises(BPFError) as err:
        tm.update(k1, V(q=6), flags=1)  # NOEXIST on an existing key
    assert err.value.errno == errno.EEXIST and tm[k1].q == 5
    del tm[k1]
    assert k1 not in tm
    assert tm.lookup_and_delete(k2) == V(q=0x080007) and len(list(tm)) == 0
    assert tm.update_batch({k1: {"q": 1}, k2: V(q=2)}) == 2
    assert {k.a: v.q for k, v in tm.items()} == {1: 1, 2: 2}
    assert tm.delete_batch([k1, {"a": 2, "b": 3, "c": 4}]) == 2
    with pytest.raises(KeyNotFoundError):
        tm.delete(k1)


def test_int_keys_and_values(coll: Collection) -> None:
    ep = coll.maps["endpoints"].typed()
    assert ep.value_class is int
    ep[{"addr": 1, "port": 2}] = -5
    assert ep[{"addr": 1, "port": 2}] == -5
    with pytest.raises(ValueError, match=r"value = 9223372036854775808 does not fit in s64"):
        ep[{"addr": 1, "port": 2}] = 1 << 63
    arr = coll.maps["all_in"].typed()
    assert arr.key_class is int
    with pytest.raises(ValueError, match=r"key = -1 does not fit in u32"):
        arr[-1]
    with pytest.raises(BPFError):
        arr[5]  # ARRAY of 1: the kernel says ENOENT


def test_enum_keys_and_bool_values(coll: Collection) -> None:
    tm = coll.maps["by_enum"].typed()
    small = tm.key_class
    assert issubclass(small, enum.IntEnum) and tm.value_class is bool
    tm[small.S_B] = True
    tm[5] = 0
    assert tm[7] is True and tm[small.S_B] is True and tm[5] is False
    assert sorted(tm.keys()) == [5, small.S_B] and type(max(tm.keys())) is small
    with pytest.raises(ValueError, match="value = 2 is not a bool"):
        tm[5] = 2
    with pytest.raises(ValueError, match=r"key = 256 does not fit in u8"):
        tm[256] = True


def test_per_cpu_values(coll: Collection) -> None:
    pc = coll.maps["per_cpu"].typed()
    n = possible_cpus()
    assert coll.programs["fill"].test_run(bytes(64)).retval == 0
    values = pc[0]
    assert len(values) == n and sum(v.x == 0xABCD and v.y == 3 for v in values) == 1
    pc[1] = {"x": 5, "y": 6}  # one value for every CPU
    assert [(v.x, v.y) for v in pc[1]] == [(5, 6)] * n
    pc[1] = [pc.value_class(x=i) for i in range(n)]
    assert [v.x for v in pc[1]] == list(range(n))
    with pytest.raises(ValueError, match=f"value must have {n} entries"):
        pc[1] = [{"x": 1}] * (n + 1)


BAD: list[tuple[str, Any, Any, type[Exception], str]] = [
    ("unknown fields", {"a": 1, "zz": 2, "yy": 3}, {"q": 1}, ValueError, "no field 'zz', 'yy'"),
    ("value too big", {"a": 1}, {"q": 1 << 64}, ValueError, r"variant\.q = 18446744073709551616"),
    ("bitfield of a key", {"a": 256}, {"q": 1}, ValueError, r"packed\.a = 256 does not fit in u8"),
    ("wrong class", {"a": 1}, "key", TypeError, "value must be a union variant, got a packed"),
    ("wrong size", b"123", {"q": 1}, ValueError, r"key must be 7 bytes \(a struct packed\), got 3"),
    ("str", {"a": 1}, "text", TypeError, "value must be a union variant, got str"),
]


@pytest.mark.parametrize(("what", "key", "value", "exc", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_changes_nothing(
    coll: Collection, what: str, key: Any, value: Any, exc: type[Exception], match: str
) -> None:
    tm = coll.maps["packed_map"].typed()
    tm[{"a": 1}] = {"q": 42}
    if value == "key":
        value = tm.key_class(a=1)
    for op in (tm.update, tm.__setitem__):
        with pytest.raises(exc, match=match):
            op(key, value)
    with pytest.raises(exc, match=match):
        tm.update_batch([({"a": 3}, {"q": 3}), (key, value)])
    assert {k.a: v.q for k, v in tm.items()} == {1: 42}


def test_typed_needs_btf(coll: Collection) -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 4, name="plain")) as m:
        assert m.key_type is None and m.value_type is None
        with pytest.raises(
            ValueError, match=r"HASH 'plain' has no BTF for its key and value: .*clang -g"
        ):
            m.typed()
    outer = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="o", inner=MapSpec(MapType.ARRAY, 4, 4, 1))
    with Map.create(outer) as m, pytest.raises(ValueError, match="ARRAY_OF_MAPS maps have no"):
        m.typed()


def test_map_opened_by_id_reads_its_btf(coll: Collection) -> None:
    m = coll.maps["packed_map"]
    m.typed()[{"a": 5}] = {"q": 9}
    with Map.from_id(m.id) as again:
        tm = again.typed()
        # the kernel's copy of the BTF is the object's: the same classes
        assert tm.key_class is m.typed().key_class
        assert tm[{"a": 5}].q == 9
    with pytest.raises(ValueError, match="closed"):
        tm[{"a": 5}]


# ------------------------------------------------------------------ buffers


class Key(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint16), ("b", ctypes.c_uint16)]


@pytest.mark.parametrize(
    "key",
    [
        Key(1, 2),
        bytearray(bytes(Key(1, 2))),
        memoryview(bytes(Key(1, 2))),
        array.array("H", [1, 2]),
    ],
    ids=["ctypes", "bytearray", "memoryview", "array"],
)
def test_buffer_keys_and_values_on_every_map(key: Any) -> None:
    value = (ctypes.c_uint64 * 2)(7, 8)
    with Map.create(MapSpec(MapType.HASH, 4, 16, 4, name="buf")) as m:
        m[key] = value
        m.update(key, value)
        assert m[key] == bytes(value) == m[bytes(Key(1, 2))]
        assert key in m and m.get(key) == bytes(value)
        assert m.update_batch([(key, memoryview(bytes(value)))]) == 1
        m.delete(key)
        assert key not in m
    with (
        Map.create(MapSpec(MapType.HASH, 4, 16, 4, name="buf")) as m,
        pytest.raises(ValueError, match=r"key must be 4 bytes, got 8 \(c_ulong_Array_1\)"),
    ):
        m[(ctypes.c_uint64 * 1)(1)] = bytes(16)


def test_buffer_values_per_cpu() -> None:
    n = possible_cpus()
    with Map.create(MapSpec(MapType.PERCPU_HASH, 4, 4, 4, name="pcbuf")) as m:
        m[Key(1, 2)] = ctypes.c_uint32(9)  # one value for every CPU
        assert m[Key(1, 2)] == [bytes(ctypes.c_uint32(9))] * n
        m[1] = [bytearray(b"abcd")] * n
        assert m[1] == [b"abcd"] * n


# ------------------------------------------------------------------ mmap


def test_mmap_reads_and_writes_without_syscalls() -> None:
    spec = MapSpec(MapType.ARRAY, 4, 12, 3, name="mm", flags=F_MMAPABLE)
    with Map.create(spec) as m:
        view = m.mmap()
        assert len(view) == 3 * 16 and not view.readonly  # values rounded up to 8 bytes
        m[1] = b"abcdefghijkl"
        assert bytes(view[16:28]) == b"abcdefghijkl"
        view[32:44] = b"x" * 12
        assert m[2] == b"x" * 12
        again = m.mmap()
        again[0:4] = b"1234"
        assert bytes(view[0:4]) == b"1234" == m[0][:4]
        assert len(bpf_mappings()) == 1  # one mapping for both views
        view.release()
        again.release()
    assert bpf_mappings() == set()


def test_mmap_view_outlives_close() -> None:
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 2, name="mm", flags=F_MMAPABLE)) as m:
        m[1] = 5
        view = m.mmap().cast("Q")
    m.close()  # never a BufferError: the view keeps the mapping
    assert view[1] == 5 and len(bpf_mappings()) == 1
    with pytest.raises(ValueError, match="closed"):
        m.mmap()
    view.release()
    assert bpf_mappings() == set()


def test_mmap_frozen_is_read_only() -> None:
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 2, name="mmro", flags=F_MMAPABLE)) as m:
        m[0] = 3
        m.freeze()
        view = m.mmap()
        assert view.readonly and view.cast("Q")[0] == 3
        view.release()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            MapSpec(MapType.ARRAY, 4, 8, 2, name="nommap"),
            "ARRAY 'nommap': it was created without F_MMAPABLE",
        ),
        (MapSpec(MapType.HASH, 4, 8, 2, name="h"), "HASH 'h': it is a HASH map"),
    ],
)
def test_mmap_needs_an_mmapable_array(spec: MapSpec, match: str) -> None:
    with (
        Map.create(spec) as m,
        pytest.raises(
            ValueError, match=f"mmap\\(\\) needs an ARRAY map created with F_MMAPABLE: {match}"
        ),
    ):
        m.mmap()


def test_typed_mmap_of_an_array(coll: Collection) -> None:
    tm = coll.maps["mapped"].typed()
    arr = tm.mmap()
    assert len(arr) == 3 and type(arr[0]) is tm.value_class
    arr[1].b = 5  # a memory write
    assert tm[1].b == 5
    tm[2] = {"a": 7, "b": 8}
    assert (arr[2].a, arr[2].b) == (7, 8)
    with pytest.raises(ValueError, match=r"aligned16\.a = 256 does not fit in u8"):
        arr[0].a = 256
    del arr  # it holds the mapping
    with pytest.raises(ValueError, match="needs a struct, union or array value of a multiple"):
        coll.maps["endpoints"].typed().mmap()
    with pytest.raises(ValueError, match="created without F_MMAPABLE"):
        coll.maps["anon_map"].typed().mmap()
