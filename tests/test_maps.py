"""Map on the real kernel: every creatable type, CRUD, per-CPU, queues, batch, pins."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import os
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import bpfnest
from bpfnest import (
    ANY,
    ENOTSUPP,
    EXIST,
    F_NO_PREALLOC,
    NOEXIST,
    BPFError,
    Map,
    MapSpec,
    MapType,
    PerCPUMap,
    Program,
    ProgramSpec,
    ProgType,
)
from bpfnest.codec import lpm_key

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

PAGE = os.sysconf("SC_PAGE_SIZE")

# Every map type user space can create without BTF, with the smallest valid spec.
CREATABLE = [
    MapSpec(MapType.HASH, 4, 8, 16),
    MapSpec(MapType.ARRAY, 4, 8, 16),
    MapSpec(MapType.PROG_ARRAY, 4, 4, 4),
    MapSpec(MapType.PERF_EVENT_ARRAY, 4, 4, 4),
    MapSpec(MapType.PERCPU_HASH, 4, 8, 16),
    MapSpec(MapType.PERCPU_ARRAY, 4, 8, 16),
    MapSpec(MapType.STACK_TRACE, 4, 8 * 16, 16),
    MapSpec(MapType.CGROUP_ARRAY, 4, 4, 4),
    MapSpec(MapType.LRU_HASH, 4, 8, 16),
    MapSpec(MapType.LRU_PERCPU_HASH, 4, 8, 16),
    MapSpec(MapType.LPM_TRIE, 8, 8, 16, flags=F_NO_PREALLOC),
    MapSpec(MapType.DEVMAP, 4, 4, 4),
    MapSpec(MapType.SOCKMAP, 4, 4, 4),
    MapSpec(MapType.CPUMAP, 4, 4, 4),
    MapSpec(MapType.XSKMAP, 4, 4, 4),
    MapSpec(MapType.SOCKHASH, 4, 4, 4),
    MapSpec(MapType.CGROUP_STORAGE, 8, 8, 0),
    MapSpec(MapType.REUSEPORT_SOCKARRAY, 4, 4, 4),
    MapSpec(MapType.PERCPU_CGROUP_STORAGE, 8, 8, 0),
    MapSpec(MapType.QUEUE, 0, 8, 16),
    MapSpec(MapType.STACK, 0, 8, 16),
    MapSpec(MapType.DEVMAP_HASH, 4, 4, 4),
    MapSpec(MapType.RINGBUF, 0, 0, 4 * PAGE),
    MapSpec(MapType.BLOOM_FILTER, 0, 8, 16, map_extra=3),
    MapSpec(MapType.USER_RINGBUF, 0, 0, 4 * PAGE),
    MapSpec(MapType.ARENA, 0, 0, 4, flags=bpfnest.F_MMAPABLE),
]

# Types the kernel creates only with BTF for key and value (or a struct_ops type).
NEED_BTF = [
    MapSpec(MapType.SK_STORAGE, 4, 8, 0, flags=F_NO_PREALLOC),
    MapSpec(MapType.INODE_STORAGE, 4, 8, 0, flags=F_NO_PREALLOC),
    MapSpec(MapType.TASK_STORAGE, 4, 8, 0, flags=F_NO_PREALLOC),
    MapSpec(MapType.CGRP_STORAGE, 4, 8, 0, flags=F_NO_PREALLOC),
    MapSpec(MapType.STRUCT_OPS, 4, 8, 1),
]


def test_every_type_is_in_a_table() -> None:
    listed = {s.type for s in CREATABLE + NEED_BTF}
    missing = set(MapType) - listed - {MapType.UNSPEC, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}
    assert not missing, f"map types with no create test: {sorted(t.name for t in missing)}"


@pytest.mark.parametrize("spec", CREATABLE, ids=lambda s: s.type.name)
def test_create_every_type(spec: MapSpec) -> None:
    spec = MapSpec(**{**spec.__dict__, "name": f"t_{spec.type.name.lower()}"[:15]})
    with Map.create(spec) as m:
        assert m.type == spec.type
        assert m.key_size == spec.key_size
        assert m.value_size == spec.value_size
        assert m.name == spec.name
        assert m.id in own_map_ids()
        info = m.info()
        assert info.id == m.id and info.type == spec.type
        assert isinstance(m, PerCPUMap) == spec.type.is_per_cpu
        map_id = m.id
    assert m.closed
    assert not wait_maps_gone({map_id})


@pytest.mark.parametrize("spec", NEED_BTF, ids=lambda s: s.type.name)
def test_types_needing_btf_say_so(spec: MapSpec) -> None:
    before = own_map_ids()
    with pytest.raises(BPFError) as exc:
        Map.create(spec)
    assert exc.value.errno in (errno.EINVAL, ENOTSUPP, errno.EOPNOTSUPP)
    assert f"create {spec.type.name}" in str(exc.value)
    assert own_map_ids() - before == set()


@pytest.fixture
def hash_map() -> Iterator[Map[bytes]]:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 64, name="h")) as m:
        yield m


def test_crud(hash_map: Map[bytes]) -> None:
    m = hash_map
    assert m.lookup(1) is None
    assert 1 not in m
    m.update(1, 100)
    m[2] = (200).to_bytes(8, "little")
    assert m.lookup(1) == (100).to_bytes(8, "little")
    assert m[b"\x02\x00\x00\x00"] == (200).to_bytes(8, "little")
    assert 1 in m and m.get(3) is None and m.get(3, b"x") == b"x"
    assert sorted(m.keys()) == [(1).to_bytes(4, "little"), (2).to_bytes(4, "little")]
    assert dict(m.items()) == {
        (1).to_bytes(4, "little"): (100).to_bytes(8, "little"),
        (2).to_bytes(4, "little"): (200).to_bytes(8, "little"),
    }
    assert sorted(m.values()) == sorted([(100).to_bytes(8, "little"), (200).to_bytes(8, "little")])
    del m[1]
    with pytest.raises(KeyError) as exc:
        m.delete(1)
    assert exc.value.errno == errno.ENOENT
    assert "delete HASH 'h' key 1" in str(exc.value)
    with pytest.raises(KeyError):
        m[1]
    assert list(m) == [(2).to_bytes(4, "little")]


def test_update_flags(hash_map: Map[bytes]) -> None:
    m = hash_map
    with pytest.raises(BPFError) as exc:
        m.update(5, 1, EXIST)
    assert exc.value.errno == errno.ENOENT
    assert "EXIST" in str(exc.value)
    m.update(5, 1, NOEXIST)
    with pytest.raises(BPFError) as exc:
        m.update(5, 2, NOEXIST)
    assert exc.value.errno == errno.EEXIST
    m.update(5, 3, EXIST)
    assert m[5] == (3).to_bytes(8, "little")
    m.update(5, 4, ANY)
    assert m[5] == (4).to_bytes(8, "little")


def test_hash_full_is_e2big() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 4, 2, name="full")) as m:
        m[1] = 1
        m[2] = 2
        with pytest.raises(BPFError) as exc:
            m[3] = 3
        assert exc.value.errno == errno.E2BIG
        assert "full (max_entries 2)" in str(exc.value)


@pytest.mark.parametrize(
    ("key", "value", "error", "text"),
    [
        (b"\x01\x02\x03", 1, ValueError, "key must be 4 bytes, got 3"),
        (1, b"\x00" * 7, ValueError, "value must be 8 bytes, got 7"),
        (1 << 32, 1, ValueError, "key 4294967296 out of range for 4 bytes"),
        (-1, 1, ValueError, "out of range"),
        (1, 1 << 64, ValueError, "out of range for 8 bytes"),
        ("1", 1, TypeError, "key must be bytes or int, got str"),
        (1, 1.5, TypeError, "value must be bytes or int, got float"),
        (True, 1, TypeError, "key must be bytes or int, got bool"),
    ],
)
def test_bad_keys_and_values_change_nothing(
    hash_map: Map[bytes], key: object, value: object, error: type[Exception], text: str
) -> None:
    hash_map[7] = 7
    with pytest.raises(error) as exc:
        hash_map.update(key, value)
    assert text in str(exc.value)
    assert dict(hash_map.items()) == {(7).to_bytes(4, "little"): (7).to_bytes(8, "little")}


def test_array_semantics() -> None:
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 4, name="arr")) as m:
        assert m[3] == b"\0" * 4
        m[3] = 9
        assert [int.from_bytes(v, "little") for v in m.values()] == [0, 0, 0, 9]
        assert len(list(m.keys())) == 4
        with pytest.raises(BPFError) as exc:
            m[4] = 1
        assert exc.value.errno == errno.E2BIG
        assert "below max_entries 4" in str(exc.value)
        with pytest.raises(BPFError) as exc:
            del m[1]
        assert exc.value.errno == errno.EINVAL
        assert "cannot be deleted" in str(exc.value)
        assert m.lookup(4) is None


@pytest.mark.parametrize("t", [MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH])
def test_per_cpu_values(t: MapType) -> None:
    n = bpfnest.possible_cpus()
    with Map.create(MapSpec(t, 4, 4, 8, name="pcpu")) as m:
        assert isinstance(m, PerCPUMap)
        m[1] = list(range(10, 10 + n))
        got = m[1]
        assert [int.from_bytes(v, "little") for v in got] == list(range(10, 10 + n))
        assert all(len(v) == 4 for v in got)
        m[1] = 5  # one value for every CPU
        assert m[1] == [(5).to_bytes(4, "little")] * n
        with pytest.raises(ValueError, match=f"must have {n} entries"):
            m[1] = [1] * (n + 1)
        assert m[1] == [(5).to_bytes(4, "little")] * n
        assert dict(m.items())[(1).to_bytes(4, "little")] == [(5).to_bytes(4, "little")] * n


def test_per_cpu_count_matches_sysfs() -> None:
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read()
    last = max(int(p.split("-")[-1]) for p in text.strip().split(","))
    assert bpfnest.possible_cpus() == last + 1


def test_lpm_trie() -> None:
    spec = MapSpec(MapType.LPM_TRIE, 8, 4, 16, flags=F_NO_PREALLOC, name="lpm")
    with Map.create(spec) as m:
        m[lpm_key(16, bytes([10, 1, 0, 0]))] = 1
        m[lpm_key(24, bytes([10, 1, 2, 0]))] = 2
        assert m[lpm_key(32, bytes([10, 1, 2, 3]))] == (2).to_bytes(4, "little")
        assert m[lpm_key(32, bytes([10, 1, 9, 9]))] == (1).to_bytes(4, "little")
        assert m.lookup(lpm_key(32, bytes([10, 2, 0, 0]))) is None
        assert len(list(m.keys())) == 2


@pytest.mark.parametrize(("t", "order"), [(MapType.QUEUE, [1, 2, 3]), (MapType.STACK, [3, 2, 1])])
def test_queue_and_stack(t: MapType, order: list[int]) -> None:
    with Map.create(MapSpec(t, 0, 4, 3, name="q")) as m:
        assert m.pop() is None and m.peek() is None
        for v in (1, 2, 3):
            m.push(v)
        with pytest.raises(BPFError) as exc:
            m.push(4)
        assert exc.value.errno == errno.E2BIG
        assert m.peek() == order[0].to_bytes(4, "little")
        assert [int.from_bytes(m.pop() or b"", "little") for _ in range(3)] == order
        assert m.pop() is None
        with pytest.raises(TypeError, match="no keys"):
            list(m.keys())


def test_bloom_filter() -> None:
    with Map.create(MapSpec(MapType.BLOOM_FILTER, 0, 4, 64, map_extra=3, name="bf")) as m:
        m.push(42)
        assert m.contains_value(42)
        assert not m.contains_value(43)  # 64 bits of filter, one element: no false positive here


KEYLESS_OPS = ("push", "pop", "peek", "contains_value")
KEYED_OPS = ("lookup", "get", "update", "delete", "items", "keys", "columns", "__getitem__")


@pytest.mark.parametrize(
    "spec",
    [
        MapSpec(MapType.HASH, 4, 8, 4, name="h"),
        MapSpec(MapType.PERCPU_ARRAY, 4, 8, 4, name="pa"),
        MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="o", inner=MapSpec(MapType.ARRAY, 4, 4, 1)),
        MapSpec(MapType.QUEUE, 0, 4, 4, name="q"),
        MapSpec(MapType.BLOOM_FILTER, 0, 4, 64, name="bf"),
    ],
    ids=lambda s: s.type.name,
)
def test_keyless_ops_only_on_keyless_maps(spec: MapSpec) -> None:
    """push/pop/peek/contains_value exist only where the kernel has them (QUEUE, STACK,
    BLOOM_FILTER): a HASH, a per-CPU or an outer map does not show them at all."""
    from bpfnest import KeylessMap

    with Map.create(spec) as m:
        keyless = spec.type.is_keyless
        assert isinstance(m, KeylessMap) == keyless
        assert [hasattr(m, op) for op in KEYLESS_OPS] == [keyless] * len(KEYLESS_OPS)
        if not keyless:
            with pytest.raises(AttributeError, match="push"):
                m.push(1)  # type: ignore[attr-defined]
        # ... and the other way round: the methods that need keys.
        assert [hasattr(m, op) for op in KEYED_OPS] == [not keyless] * len(KEYED_OPS)
        if keyless:
            instead = "contains_value" if spec.type == MapType.BLOOM_FILTER else "pop"
            for call in (lambda: m.lookup(1), lambda: m[1], lambda: 1 in m, lambda: m.items()):
                with pytest.raises(TypeError, match=f"has no keys: use push.*{instead}"):
                    call()


def test_lookup_and_delete(hash_map: Map[bytes]) -> None:
    hash_map[1] = 11
    assert hash_map.lookup_and_delete(1) == (11).to_bytes(8, "little")
    assert hash_map.lookup_and_delete(1) is None
    assert 1 not in hash_map


def test_closed_map_raises(hash_map: Map[bytes]) -> None:
    hash_map.close()
    hash_map.close()  # idempotent
    for call in (lambda: hash_map.lookup(1), lambda: hash_map.update(1, 1), lambda: hash_map.fd):
        with pytest.raises(ValueError, match="HASH 'h' is closed"):
            call()


def test_from_id_pinned_fd_and_freeze(bpffs: str) -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 4, 8, name="shared")) as m:
        m[1] = 1
        with Map.from_id(m.id) as by_id:
            assert by_id.id == m.id and by_id.fd != m.fd and by_id[1] == m[1]
        path = os.path.join(bpffs, "shared")
        m.pin(path)
        with pytest.raises(BPFError) as exc:
            m.pin(path)
        assert exc.value.errno == errno.EEXIST
        with Map.from_pinned(path) as pinned:
            pinned[2] = 2
        assert m[2] == (2).to_bytes(4, "little")
        with Map.from_pinned(path, readonly=True) as ro:
            assert ro[2] == (2).to_bytes(4, "little")
            with pytest.raises(BPFError) as exc:
                ro[3] = 3
            assert exc.value.errno == errno.EPERM
            assert "read-only" in str(exc.value)
        with Map.from_fd(m.fd) as dup:
            assert dup.id == m.id and dup.fd != m.fd
        m.freeze()
        with pytest.raises(BPFError) as exc:
            m[3] = 3
        assert exc.value.errno == errno.EPERM
        assert "frozen" in str(exc.value)
        os.unlink(path)


def test_openers_give_the_class_asked_for(bpffs: str) -> None:
    """OuterMap.from_id/from_pinned/from_fd/create give an OuterMap (typed so); a map of
    another class is refused with a TypeError, and the fd opened for it is closed."""
    from bpfnest import KeylessMap, OuterMap

    outer_spec = MapSpec(
        MapType.ARRAY_OF_MAPS, 4, 4, 2, name="o", inner=MapSpec(MapType.ARRAY, 4, 4, 1)
    )
    with (
        OuterMap.create(outer_spec) as outer,
        Map.create(MapSpec(MapType.HASH, 4, 4, 2, name="h")) as h,
    ):
        path = os.path.join(bpffs, "h")
        h.pin(path)
        for open_ in (
            lambda: OuterMap.from_id(outer.id),
            lambda: OuterMap.from_fd(outer.fd),
            lambda: Map.from_id(outer.id),
        ):
            with open_() as same:
                assert type(same) is OuterMap and same.id == outer.id
        for refused in (
            lambda: OuterMap.from_id(h.id),
            lambda: OuterMap.from_fd(h.fd),
            lambda: OuterMap.from_pinned(path),
            lambda: KeylessMap.from_id(h.id),
            lambda: OuterMap.create(MapSpec(MapType.HASH, 4, 4, 2, name="h2")),
        ):
            with pytest.raises(TypeError, match="HASH"):
                refused()
        os.unlink(path)


def test_open_errors(bpffs: str) -> None:
    with pytest.raises(BPFError) as exc:
        Map.from_id(0xFFFFFFF0)
    assert exc.value.errno == errno.ENOENT and "no map has this id" in str(exc.value)
    with pytest.raises(BPFError) as exc:
        Map.from_pinned(os.path.join(bpffs, "nothing"))
    assert exc.value.errno == errno.ENOENT and "nothing is pinned" in str(exc.value)
    with pytest.raises(BPFError) as exc:
        Map.from_fd(9999)
    assert exc.value.errno == errno.EBADF
    with open("/dev/null") as f, pytest.raises(BPFError) as exc:
        Map.from_fd(f.fileno())
    assert exc.value.errno == errno.EINVAL and "not a BPF map" in str(exc.value)
    with pytest.raises(ValueError, match="map id"):
        Map.from_id(-1)


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        (MapSpec(MapType.HASH, 4, 8, 0), BPFError, "max_entries must be > 0"),
        (MapSpec(MapType.HASH, 4, 8, 4, name="bad name"), ValueError, "not valid"),
        (MapSpec(MapType.HASH, 4, 8, 4, name="é"), ValueError, "only"),
        (MapSpec(MapType.HASH, -1, 8, 4), ValueError, "key_size -1 out of range"),
        (
            MapSpec(MapType.HASH, 4, 8, 4, inner=MapSpec(MapType.HASH, 4, 4, 1)),
            ValueError,
            "inner is only for",
        ),
        (MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4), ValueError, "needs an inner map template"),
        (MapSpec(MapType.HASH, "4", 8, 4), TypeError, "key_size must be int"),  # type: ignore[arg-type]
    ],
)
def test_bad_specs(spec: MapSpec, error: type[Exception], text: str) -> None:
    before = own_map_ids()
    with pytest.raises(error, match=text):
        Map.create(spec)
    assert own_map_ids() == before


def test_long_names_are_cut_by_the_kernel() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 4, 1, name="a_rather_long_map_name")) as m:
        assert m.name == "a_rather_long_m"


def test_unknown_map_type_number() -> None:
    with pytest.raises(ValueError, match="unknown map type 999"):
        MapSpec(999, 4, 4, 4)  # type: ignore[arg-type]


# ----------------------------------------------------------------- iteration


def test_iteration_survives_deleting_as_you_go() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 4, 256, name="del")) as m:
        for i in range(200):
            m[i] = i
        seen = []
        for key in m:
            seen.append(key)
            del m[key]
        assert len(seen) == 200 and len(set(seen)) == 200
        assert list(m) == []


def test_iteration_survives_concurrent_deletion() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 4, 4096, name="conc")) as m:
        for i in range(4000):
            m[i] = i
        stop = threading.Event()

        def deleter() -> None:
            for i in range(0, 4000, 3):
                if stop.is_set():
                    return
                m.delete(i)

        t = threading.Thread(target=deleter)
        t.start()
        try:
            keys = list(m.keys())
        finally:
            stop.set()
            t.join()
        assert len(keys) == len(set(keys))  # never the same key twice
        survivors = {i.to_bytes(4, "little") for i in range(4000) if i % 3}
        assert survivors <= set(keys)  # every key that was never deleted was seen


def test_iteration_aborts_instead_of_looping_forever() -> None:
    """A map that gains a new key for every key read never ends: give up, loudly."""
    with Map.create(MapSpec(MapType.HASH, 4, 4, 16, name="grow")) as m:
        for i in range(8):
            m[i] = i
        fresh = iter(range(1000, 100000))
        with pytest.raises(bpfnest.IterationAbortedError) as exc:
            for key in m:
                del m[key]
                m[next(fresh)] = 0
        assert exc.value.errno == errno.EAGAIN
        assert "aborted after" in str(exc.value) and "keeps changing" in str(exc.value)


# --------------------------------------------------------------------- batch


@pytest.mark.parametrize("t", [MapType.HASH, MapType.LRU_HASH, MapType.ARRAY, MapType.PERCPU_HASH])
def test_batch_roundtrip(t: MapType) -> None:
    with Map.create(MapSpec(t, 4, 8, 1024, name="b")) as m:
        items = {i: i * 3 for i in range(1000)}
        assert m.update_batch(items) == 1000
        got = m.lookup_batch(chunk=64)
        expect = dict(m.items())
        assert len(got) == len(expect) == (1000 if not t.is_array else 1024)
        assert dict(got) == expect
        if t.is_array:
            return
        assert m.delete_batch(range(500)) == 500
        assert len(list(m.keys())) == 500
        drained = m.lookup_and_delete_batch(chunk=7)
        assert len(drained) == 500
        assert list(m.keys()) == []


def test_batch_fallback_on_lpm_trie() -> None:
    spec = MapSpec(MapType.LPM_TRIE, 8, 4, 16, flags=F_NO_PREALLOC, name="lpmb")
    with Map.create(spec) as m:
        items = {lpm_key(32, bytes([10, 0, 0, i])): i for i in range(5)}
        assert m.update_batch(items) == 5
        assert dict(m.lookup_batch()) == {k: v.to_bytes(4, "little") for k, v in items.items()}
        assert m.delete_batch(list(items)[:2]) == 2
        assert len(m.lookup_and_delete_batch()) == 3
        assert list(m.keys()) == []


def test_update_batch_bad_input_changes_nothing(hash_map: Map[bytes]) -> None:
    with pytest.raises(ValueError, match="value must be 8 bytes"):
        hash_map.update_batch([(1, 1), (2, b"short")])
    assert list(hash_map.keys()) == []


def test_delete_batch_missing_key(hash_map: Map[bytes]) -> None:
    hash_map.update_batch({1: 1, 2: 2})
    with pytest.raises(KeyError) as exc:
        hash_map.delete_batch([1, 5, 2])
    assert "key 5" in str(exc.value)
    assert [int.from_bytes(k, "little") for k in hash_map] == [2]


@pytest.mark.parametrize("spec", CREATABLE, ids=lambda s: s.type.name)
def test_batch_commands_match_kernel(spec: MapSpec) -> None:
    from bpfnest import features
    from bpfnest._sys import ops

    with Map.create(spec) as m:
        probes = {
            "lookup": lambda: ops.map_lookup_batch(
                m.fd, None, max(m.key_size, 4), m.key_size, 64, 4
            ),
            "lookup_and_delete": lambda: ops.map_lookup_batch(
                m.fd, None, max(m.key_size, 4), m.key_size, 64, 4, delete=True
            ),
            "update": lambda: ops.map_update_batch(m.fd, b"", b"", 0),
            "delete": lambda: ops.map_delete_batch(m.fd, b"", 0),
        }
        supported = set()
        for name, probe in probes.items():
            try:
                probe()
            except OSError as err:
                assert err.errno == ENOTSUPP, (name, err)
                continue
            supported.add(name)
        # The library assumes nothing: its first walk asks the kernel, and a
        # refusal (only a refusal) is remembered for the type.
        if hasattr(m, "items"):
            with contextlib.suppress(BPFError, TypeError):  # elements that cannot be read
                list(m.items())
            assert features.batch_refused(spec.type, "lookup") == ("lookup" not in supported)


@pytest.mark.parametrize(
    "spec",
    [
        MapSpec(MapType.HASH, 4, 8, 4096),
        MapSpec(MapType.PERCPU_HASH, 4, 8, 4096),
        MapSpec(MapType.LRU_HASH, 8, 4, 4096),
        MapSpec(MapType.ARRAY, 4, 8, 3000),
        MapSpec(MapType.PERCPU_ARRAY, 4, 4, 3000),
    ],
    ids=lambda s: s.type.name,
)
def test_items_fast_path_equals_slow_path(spec: MapSpec) -> None:
    """items() reads in LOOKUP_BATCH chunks of 1024; the result is that of the
    per-element walk, across chunk boundaries."""
    with Map.create(spec) as m:
        m.update_batch({k: k * 7 + 1 for k in range(0, 3000, 1 if spec.type.is_array else 2)})
        fast = list(m.items())
        slow = list(m._items_each())
        assert len(fast) == len(slow) == (3000 if spec.type.is_array else 1500)
        assert dict(fast) == dict(slow)
        assert len({k for k, _ in fast}) == len(fast)  # each key once


class Flag(enum.IntEnum):
    """Update flags as an application's own IntEnum (issue 12 item 20)."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2


def _update(m: Map, key: int, value: object, flags: int) -> None:
    m.update(key, value, flags)


def _update_batch(m: Map, key: int, value: object, flags: int) -> None:
    m.update_batch({key: value}, flags)


@pytest.mark.parametrize("op", [_update, _update_batch], ids=["update", "update_batch"])
@pytest.mark.parametrize(
    "spec",
    [
        MapSpec(MapType.HASH, 4, 8, 8, name="flags_h"),
        MapSpec(MapType.PERCPU_HASH, 4, 8, 8, name="flags_pc"),
        MapSpec(MapType.LPM_TRIE, 8, 8, 8, flags=F_NO_PREALLOC, name="flags_lpm"),
    ],
    ids=lambda s: s.type.name,
)
def test_flags_may_be_any_int_enum(spec: MapSpec, op: Any) -> None:
    key = lpm_key(32, b"\x0a\x00\x00\x01") if spec.type == MapType.LPM_TRIE else 1
    with Map.create(spec) as m:
        op(m, key, 5, Flag.NOEXIST)
        with pytest.raises(BPFError) as exc:
            op(m, key, 6, Flag.NOEXIST)
        assert exc.value.errno == errno.EEXIST
        op(m, key, 7, Flag.EXIST)
        op(m, key, 8, Flag.ANY)
        got = m[key]
        assert (got[0] if isinstance(got, list) else got) == (8).to_bytes(8, "little")
        with pytest.raises(ValueError, match="flags must be a u64 int"):
            op(m, key, 9, True)  # a bool is not a flag
        with pytest.raises(ValueError, match="flags must be a u64 int"):
            op(m, key, 9, 1 << 64)


def test_push_flags_may_be_an_int_enum() -> None:
    with Map.create(MapSpec(MapType.QUEUE, 0, 4, 1, name="flags_q")) as q:
        q.push(1, Flag.ANY)
        q.push(2, Flag.EXIST)  # full: EXIST drops the oldest
        assert q.pop() == (2).to_bytes(4, "little")


# ------------------------------------------- Map.create: contents and pinning


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (MapSpec(MapType.HASH, 4, 4, 8, name="init_hash"), 7),
        (MapSpec(MapType.ARRAY, 4, 4, 8, name="init_array"), 7),
        (MapSpec(MapType.PERCPU_ARRAY, 4, 4, 8, name="init_pcpu"), 7),
        (  # no batch commands: filled element by element
            MapSpec(MapType.LPM_TRIE, 8, 4, 8, flags=F_NO_PREALLOC, name="init_lpm"),
            lpm_key(32, b"\x0a\x00\x00\x07"),
        ),
    ],
    ids=lambda v: v.type.name if isinstance(v, MapSpec) else "",
)
def test_create_fills_contents(spec: MapSpec, key: Any) -> None:
    other = _u32(1) if spec.key_size == 4 else lpm_key(8, b"\x01\x00\x00\x00")
    spec.contents = {key: 42, other: _u32(5)}
    with Map.create(spec) as m:
        for k, v in ((key, 42), (other, 5)):
            got = m[k]
            assert (got[0] if isinstance(got, list) else got) == _u32(v)
        if not spec.type.is_array:
            assert len(list(m.items())) == 2


def test_create_fills_a_prog_array_with_programs_and_fds() -> None:
    spec = ProgramSpec("init_tail", ProgType.XDP, bytes.fromhex("b7000000020000009500000000000000"))
    spec.license = "GPL"
    with Program.load(spec) as p, Program.load(spec) as q:
        ms = MapSpec(MapType.PROG_ARRAY, 4, 4, 4, name="init_jmp", contents={0: p, 2: q.fd})
        with Map.create(ms) as jmp:
            assert jmp[0] == _u32(p.id) and jmp[2] == _u32(q.id) and jmp.get(1) is None


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        (
            MapSpec(MapType.PROG_ARRAY, 4, 4, 4, name="init_jmp", contents={1: "handler"}),
            ValueError,
            "map 'init_jmp' slot [1]: contents names program 'handler': a name resolves only in"
            " a collection (CollectionSpec.load); give the Program or its fd",
        ),
        (
            MapSpec(MapType.QUEUE, 0, 4, 4, name="init_q", contents={0: 1}),
            ValueError,
            "map 'init_q': contents cannot initialise a QUEUE map (it has no keys):"
            " push() the values after create",
        ),
        (
            MapSpec(MapType.HASH, 4, 4, 4, name="init_pin", pinning=bpfnest.PIN_BY_NAME),
            ValueError,
            "map 'init_pin': pinning is PIN_BY_NAME but no pin_root was given:"
            " Map.create(spec, pin_root=DIR) pins it at DIR/init_pin (or set spec.pinning = None)",
        ),
        (
            MapSpec(MapType.HASH, 4, 4, 4, name="init_ns", pinning=2),
            ValueError,
            "map 'init_ns': pinning 2 is not supported by Map.create"
            " (only PIN_BY_NAME, 1; or None)",
        ),
        (  # a value of the wrong size: the map was created, then closed
            MapSpec(MapType.HASH, 4, 4, 4, name="init_bad", contents={1: b"\x01\x02"}),
            ValueError,
            "value must be 4 bytes, got 2",
        ),
        (  # the kernel refuses the second element: all or nothing
            MapSpec(MapType.ARRAY, 4, 4, 4, name="init_e2big", contents={0: 1, 9: 2}),
            BPFError,
            "index must be below max_entries 4",
        ),
    ],
    ids=["program name", "keyless", "pin without root", "other pinning", "bad value", "kernel"],
)
def test_create_refuses_what_it_cannot_do_and_leaves_nothing(
    spec: MapSpec, error: type[Exception], text: str
) -> None:
    before = own_map_ids()
    with pytest.raises(error) as exc:
        Map.create(spec)
    assert text in str(exc.value)
    assert wait_maps_gone(own_map_ids() - before) == set()


def test_create_pins_by_name_under_pin_root_and_reuses_the_pin(bpffs: str) -> None:
    spec = MapSpec(
        MapType.HASH, 4, 4, 8, name="init.pinned", pinning=bpfnest.PIN_BY_NAME, contents={1: 10}
    )
    path = os.path.join(bpffs, "init_pinned")  # dots become _, as libbpf does
    with Map.create(spec, pin_root=bpffs) as m:
        with Map.from_pinned(path) as again:
            assert again.id == m.id and again[1] == _u32(10)
        m[1] = 11
        with Map.create(spec, pin_root=bpffs) as reused:  # opened, not filled again
            assert reused.id == m.id and reused[1] == _u32(11)
        other = MapSpec(MapType.HASH, 4, 8, 8, name="init.pinned", pinning=bpfnest.PIN_BY_NAME)
        with pytest.raises(BPFError) as exc:
            Map.create(other, pin_root=bpffs)
        assert exc.value.errno == errno.EINVAL
        assert f"reuse pinned map 'init.pinned' at {path}: value_size 4 != spec 8" in str(exc.value)
    os.unlink(path)


def test_create_closes_the_map_when_the_pin_fails(tmp_path: pathlib.Path) -> None:
    """Off bpffs the pin itself fails: the new map is closed, the directory made for it removed."""
    before = own_map_ids()
    spec = MapSpec(MapType.HASH, 4, 4, 8, name="init_nodir", pinning=bpfnest.PIN_BY_NAME)
    root = tmp_path / "made"
    with pytest.raises(BPFError) as exc:
        Map.create(spec, pin_root=root)
    assert exc.value.errno == errno.EPERM  # BPF_OBJ_PIN outside a bpffs
    assert wait_maps_gone(own_map_ids() - before) == set()
    assert not root.exists()


def test_create_pins_under_pin_dir_in_private_directories(bpffs: str) -> None:
    """pin_dir (iproute2's tc/globals) is honoured; missing directories are made 0700."""
    spec = MapSpec(
        MapType.HASH, 4, 4, 8, name="glob", pinning=bpfnest.PIN_BY_NAME, pin_dir="tc/globals"
    )
    root = os.path.join(bpffs, "root")
    old = os.umask(0)
    try:
        with Map.create(spec, pin_root=root) as m:
            path = os.path.join(root, "tc", "globals", "glob")
            with Map.from_pinned(path) as again:
                assert again.id == m.id
            with Map.create(spec, pin_root=root) as reused:
                assert reused.id == m.id
    finally:
        os.umask(old)
    for d in (root, os.path.join(root, "tc"), os.path.join(root, "tc", "globals")):
        assert os.stat(d).st_mode & 0o777 == 0o700, d
    os.unlink(path)


def test_create_never_follows_a_symlink_in_the_pin_path(bpffs: str) -> None:
    """A symlink planted where the pin directory should be is refused; nothing is made."""
    elsewhere = os.path.join(bpffs, "elsewhere")
    os.mkdir(elsewhere)
    os.symlink(elsewhere, os.path.join(bpffs, "tc"))
    before = own_map_ids()
    spec = MapSpec(
        MapType.HASH, 4, 4, 8, name="glob", pinning=bpfnest.PIN_BY_NAME, pin_dir="tc/globals"
    )
    with pytest.raises(BPFError) as exc:
        Map.create(spec, pin_root=bpffs)
    assert exc.value.errno == errno.ELOOP and "symbolic link" in str(exc.value)
    assert os.listdir(elsewhere) == []
    assert own_map_ids() - before == set()
    bad = dataclasses.replace(spec, pin_dir="../out")
    with pytest.raises(ValueError, match=r"pin_dir '\.\./out' must be a relative path"):
        Map.create(bad, pin_root=bpffs)
