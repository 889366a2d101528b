"""Iteration, batches and scale on the real kernel (issue 12, items 6, 14, 15, 34, 35).

- ``items()``, ``values()`` and the ``*_batch`` reads move at most
  ``CHUNK_BYTES`` of keys and values per syscall, and copy only what the
  kernel wrote: memory stays flat however large the values (6).
- ``Map.items()`` yields each chunk as it was when read (a snapshot of up to
  ``ITEMS_CHUNK`` elements at a time); ``OuterMap.items()`` reads each slot
  again before yielding it, so a slot deleted meanwhile is never yielded (14).
- ``inner_lookup()`` reads the current cache on every retry: a concurrent
  ``clear_cache()`` never makes it report a slot that "kept changing" (15).
- ``inner_lookup()``'s cache holds every slot of the outer map, within a share
  of the fd limit (34).
- ``update_batch()`` encodes in bounded memory, ints through arrays, and gives
  the same result and the same errors as element by element (35).

Memory is measured in a fresh interpreter (``ru_maxrss``: the peak, so a
transient copy counts too).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from enum import IntEnum
from typing import Any

import pytest

from bpfnest import BPFError, Map, MapSpec, MapType, OuterMap
from bpfnest._sys import fd as fdmod
from bpfnest.maps import _batch

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AOM, HOM = MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS
INNER = MapSpec(MapType.HASH, 4, 4, 16, name="inner")
MiB = 1 << 20


def run_child(script: str, *args: str) -> str:
    """Run ``script`` in a fresh interpreter on this checkout; its stdout."""
    res = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


# ------------------------------------------------- 6: memory of the batch reads

LARGE_VALUES = """
import resource, sys
from bpfnest import Map, MapSpec, MapType

kind, op = sys.argv[1], sys.argv[2]
size = 1 << 20
with Map.create(MapSpec(MapType[kind], 4, size, 2, name="large")) as m:
    expect = {}
    for k in range(2):
        m[k] = bytes([k + 1]) * size
        expect[k.to_bytes(4, "little")] = bytes([k + 1]) * size
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if op == "values":
        got = dict(zip(sorted(expect), sorted(m.values())))
    else:
        got = dict(getattr(m, op)())
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert got == expect, sorted(got)
print((after - before) // 1024)
"""


@pytest.mark.parametrize(
    "kind, op",
    [
        ("ARRAY", "items"),
        ("ARRAY", "values"),
        ("ARRAY", "lookup_batch"),
        ("HASH", "items"),
        ("HASH", "lookup_batch"),
        ("HASH", "lookup_and_delete_batch"),
    ],
)
def test_large_values_are_read_in_bounded_memory(kind: str, op: str) -> None:
    """Two 1 MiB values: the peak grows by a few chunks, not by a count of value buffers."""
    growth_mib = int(run_child(LARGE_VALUES, kind, op))
    assert growth_mib < 64, f"{kind} {op}: peak RSS grew by {growth_mib} MiB"


@pytest.mark.parametrize("key_size, value_size", [(4, 8), (4, 1 << 16), (8, 3 << 20)])
def test_chunk_is_sized_by_bytes(key_size: int, value_size: int) -> None:
    with Map.create(MapSpec(MapType.HASH, key_size, value_size, 4, name="chunk")) as m:
        n = m._chunk_elements(_batch.ITEMS_CHUNK)
        assert n >= 1  # at least one element, however large
        assert n == 1 or n * (key_size + value_size) <= _batch.CHUNK_BYTES
        assert n == min(_batch.ITEMS_CHUNK, max(1, _batch.CHUNK_BYTES // (key_size + value_size)))


# ------------------------------------------------------- 14: items() semantics


@pytest.mark.parametrize("value_size", [8, 1 << 16])
def test_array_items_yield_each_chunk_as_it_was_read(value_size: int) -> None:
    """Values changed during the loop: the current chunk is yielded as read, the next ones anew."""
    chunk = min(_batch.ITEMS_CHUNK, _batch.CHUNK_BYTES // (4 + value_size))
    n = chunk + 1000  # the loop crosses into a second chunk
    with Map.create(MapSpec(MapType.ARRAY, 4, value_size, n, name="snap")) as m:
        m.update_batch({k: 1 for k in range(n)})
        seen = []
        for i, (_, value) in enumerate(m.items()):
            if i == 0:
                m.update_batch({k: 2 for k in range(n)})
            seen.append(int.from_bytes(value, "little"))
        assert seen == [1] * chunk + [2] * (n - chunk)


def test_hash_items_skip_what_was_deleted_before_its_chunk() -> None:
    """Deleted at the first item: only what the first chunk had already read still comes."""
    n = 3000
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="snap")) as m:
        m.update_batch({k: k * 3 for k in range(n)})
        seen = {}
        for key, value in m.items():
            if not seen:
                m.delete_batch(range(n))
            seen[key] = value
        assert 1 <= len(seen) <= _batch.ITEMS_CHUNK
        for key, value in seen.items():  # as they were when read
            assert int.from_bytes(value, "little") == int.from_bytes(key, "little") * 3
        assert list(m.items()) == []


@pytest.mark.parametrize("t", [AOM, HOM])
def test_outer_items_never_yield_a_slot_deleted_before_it(t: MapType) -> None:
    """Slots deleted during the loop are skipped; replaced ones give the id in the slot now."""
    before = own_map_ids()
    with Map.create(MapSpec(t, 4, 4, 10, name="outer", inner=INNER)) as outer:
        assert isinstance(outer, OuterMap)
        with Map.create(INNER) as first, Map.create(INNER) as other:
            outer.update_batch({slot: first for slot in range(10)})
            seen: dict[int, int] = {}
            for key, inner_id in outer.items():
                slot = int.from_bytes(key, "little")
                if not seen:
                    rest = [s for s in range(10) if s != slot]
                    for s in rest[:5]:
                        del outer[s]
                    outer.update_batch({s: other for s in rest[5:]})
                    deleted, replaced = set(rest[:5]), set(rest[5:])
                seen[slot] = inner_id
            assert not deleted & set(seen)
            assert set(seen) == {s for s in range(10) if s not in deleted}
            assert {seen[s] for s in replaced} == {other.id}
            assert list(outer.values()) == [outer[s] for s in seen]
            assert sorted(outer.keys()) == sorted(u32(s) for s in seen)
    assert not wait_maps_gone(own_map_ids() - before)


# ------------------------------------------- 15: inner_lookup and clear_cache


@pytest.mark.parametrize("t", [AOM, HOM])
def test_inner_lookup_while_clear_cache_runs(t: MapType) -> None:
    """The slots never change: no "kept changing" error, whatever clear_cache() does."""
    errors: list[BaseException] = []
    done = threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with Map.create(MapSpec(t, 4, 4, 4, name="cleared", inner=INNER)) as outer:
            assert isinstance(outer, OuterMap)
            inners = [Map.create(INNER) for _ in range(4)]
            try:
                for slot, m in enumerate(inners):
                    m[0] = slot + 100
                outer.update_batch(dict(enumerate(inners)))
            finally:
                for m in inners:
                    m.close()

            def reader() -> None:
                try:
                    for i in range(20000):
                        assert outer.inner_lookup(i % 4, 0) == u32(i % 4 + 100)
                except BaseException as err:  # reported below
                    errors.append(err)
                finally:
                    done.set()

            def clearer() -> None:
                try:
                    while not done.is_set():
                        outer.clear_cache()
                except BaseException as err:
                    errors.append(err)

            threads = [threading.Thread(target=reader), threading.Thread(target=clearer)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(120)
            assert errors == []
    finally:
        sys.setswitchinterval(interval)


# -------------------------------------------------- 34: the inner-map cache


def _fill_outer(outer: OuterMap, slots: int) -> None:
    made = []
    try:
        for slot in range(slots):
            m = Map.create(MapSpec(MapType.HASH, 4, 8, 64, name="i"))
            made.append(m)
            m[0] = slot * 7
        outer.update_batch(dict(enumerate(made)))
    finally:
        for m in made:
            m.close()


def test_inner_lookup_cache_holds_every_slot() -> None:
    """300 slots cycled (the old cache held 256): after one round every slot stays open."""
    before = own_map_ids()
    spec = MapSpec(AOM, 4, 4, 300, name="many", inner=MapSpec(MapType.HASH, 4, 8, 64))
    with Map.create(spec) as outer:
        assert isinstance(outer, OuterMap)
        _fill_outer(outer, 300)
        for _ in range(2):
            for slot in range(300):
                assert outer.inner_lookup(slot, 0) == (slot * 7).to_bytes(8, "little")
                assert outer.inner_lookup(slot, 1) is None
        assert len(outer._cache) == 300
        cached = dict(outer._cache)
        for slot in range(300):  # a second round opens nothing
            outer.inner_lookup(slot, 0)
        assert dict(outer._cache) == cached
        outer.clear_cache()
        assert len(outer._cache) == 0
        assert outer.inner_lookup(299, 0) == (299 * 7).to_bytes(8, "little")
    assert outer._cache == {}
    assert not wait_maps_gone(own_map_ids() - before)


@pytest.mark.parametrize("inner_type", [MapType.HASH, MapType.PERCPU_HASH, MapType.ARRAY])
def test_inner_lookup_agrees_with_the_inner_map(
    inner_type: MapType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values as the inner Map gives them, also when the template is learned from a slot."""
    import bpfnest.maps._outer as outer_mod

    inner = MapSpec(inner_type, 4, 8, 8, name="i")
    with Map.create(MapSpec(HOM, 4, 4, 8, name="agree", inner=inner)) as outer:
        assert isinstance(outer, OuterMap)
        with Map.create(inner) as a, Map.create(inner) as b:
            a.update_batch({0: 1, 1: 2})
            b.update_batch({0: 3, 2: 4})
            outer.update_batch({10: a, 20: b, 30: a})
        with Map.from_id(outer.id) as same:  # its template is unknown until a slot is read
            assert isinstance(same, OuterMap)
            monkeypatch.setattr(outer_mod, "INNER_CACHE", 1)  # every other call a miss
            for o in (outer, same, outer):
                for slot in (10, 20, 30, 40):
                    with contextlib.ExitStack() as stack:
                        m = o.get_map(slot)
                        if m is not None:
                            stack.enter_context(m)
                        for k in range(4):
                            expect = None if m is None else m.lookup(k)
                            assert o.inner_lookup(slot, k) == expect, (slot, k)
                assert len(o._cache) == 1
            with pytest.raises(ValueError, match="key must be 4 bytes"):
                same.inner_lookup(10, b"12345")


def test_a_dropped_outer_map_closes_its_cached_inner_fds() -> None:
    """No close(): the safety net closes the cached fds too, and says so (a leak in tests)."""
    before_ids = own_map_ids()
    outer = Map.create(MapSpec(AOM, 4, 4, 8, name="dropped", inner=INNER))
    assert isinstance(outer, OuterMap)
    with Map.create(INNER) as m:
        m[0] = 5
        outer.update_batch({0: m, 1: m, 2: m})
    ids = {m.id}
    assert outer.inner_lookup(0, 0) == u32(5)
    cached = set(outer._cache.values())
    assert len(cached) == 1
    before = len(fdmod.finalized)
    outer_fd = outer.fd
    del outer
    gc.collect()
    closed = {raw for raw, _ in fdmod.finalized[before:]}
    del fdmod.finalized[before:]
    assert closed == cached | {outer_fd}
    for raw in cached:
        with pytest.raises(OSError):
            os.fstat(raw)
    assert not wait_maps_gone((own_map_ids() - before_ids) | ids)


FD_BUDGET = """
import resource
from bpfnest import Map, MapSpec, MapType
resource.setrlimit(resource.RLIMIT_NOFILE, (400, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
inner = MapSpec(MapType.HASH, 4, 8, 64)
with Map.create(MapSpec(MapType.HASH_OF_MAPS, 4, 4, 300, name="budget", inner=inner)) as outer:
    made = [Map.create(inner) for _ in range(300)]
    for slot, m in enumerate(made):
        m[0] = slot
    outer.update_batch(dict(enumerate(made)))
    for m in made:
        m.close()
    for _ in range(2):
        for slot in range(300):
            assert outer.inner_lookup(slot, 0) == slot.to_bytes(8, "little")
    print(len(outer._cache))
"""


def test_inner_lookup_cache_stays_within_a_share_of_the_fd_limit() -> None:
    """RLIMIT_NOFILE 400: the cache keeps at most a quarter of it (100), and still answers."""
    assert int(run_child(FD_BUDGET)) == 100


# -------------------------------------------------------- 35: update_batch

UPDATE_1M = """
import resource, sys
from bpfnest import Map, MapSpec, MapType

source = sys.argv[1]
n = 1_000_000
with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="million")) as m:
    items = {k: k * 3 for k in range(n)} if source == "dict" else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if source == "dict":
        assert m.update_batch(items) == n
    else:
        assert m.update_batch((k, k * 3) for k in range(n)) == n
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for k in (0, 1, 65535, 65536, 500_000, n - 1):
        assert m[k] == (k * 3).to_bytes(8, "little"), k
print((after - before) // 1024)
"""


@pytest.mark.parametrize("source", ["dict", "generator"])
def test_update_batch_of_a_million_in_bounded_memory(source: str) -> None:
    growth_mib = int(run_child(UPDATE_1M, source))
    assert growth_mib < 100, f"update_batch from a {source}: peak RSS grew by {growth_mib} MiB"


class Color(IntEnum):
    RED = 1
    BLUE = 7


def _pairs(kind: str, items: list[tuple[Any, Any]]) -> Any:
    if kind == "dict":
        return dict(items)
    if kind == "list":
        return list(items)
    return iter(items)


SIZES = [(4, 8), (1, 1), (2, 2), (8, 4), (3, 5), (16, 16)]


@pytest.mark.parametrize("key_size, value_size", SIZES)
@pytest.mark.parametrize("kind", ["dict", "list", "generator"])
def test_update_batch_ints_and_bytes_agree(key_size: int, value_size: int, kind: str) -> None:
    """The array fast path and the general encoder store the same bytes, across chunks."""
    count = min(1 << (8 * key_size), 70_000)
    vmax = 1 << (8 * value_size)
    ints = [(k, (k * 2654435761) % vmax) for k in range(count)]
    as_bytes = [(k.to_bytes(key_size, "little"), v.to_bytes(value_size, "little")) for k, v in ints]
    mixed = [p if i % 3 else b for i, (p, b) in enumerate(zip(ints, as_bytes, strict=True))]
    spec = MapSpec(MapType.HASH, key_size, value_size, count, name="agree")
    results = []
    for items in (ints, as_bytes, mixed):
        with Map.create(spec) as m:
            assert m.update_batch(_pairs(kind, items)) == count
            results.append(dict(m.items()))
    assert results[0] == results[1] == results[2] == dict(as_bytes)


def test_update_batch_enum_keys_and_duplicates() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 16, name="enum")) as m:
        assert m.update_batch([(Color.RED, 1), (Color.BLUE, Color.BLUE), (1, 5)]) == 3
        assert dict(m.items()) == {u32(1): u64(5), u32(7): u64(7)}


BAD_LATE = 70_000  # past the first encoding chunk


@pytest.mark.parametrize(
    "bad, exc, message",
    [
        ((BAD_LATE, -1), ValueError, "value -1 out of range"),
        ((True, 1), TypeError, "key must be bytes or int, got bool"),
        ((BAD_LATE, 1.5), TypeError, "value must be bytes or int, got float"),
        ((1 << 32, 1), ValueError, "key 4294967296 out of range"),
        ((BAD_LATE, b"short"), ValueError, "value must be 8 bytes, got 5"),
        ((1, 2, 3), TypeError, rf"update_batch item {BAD_LATE + 1} must be a \(key, value\) pair"),
        (7, TypeError, rf"update_batch item {BAD_LATE + 1} must be a \(key, value\) pair"),
    ],
)
@pytest.mark.parametrize("kind", ["list", "generator"])
def test_update_batch_bad_item_in_a_late_chunk_changes_nothing(
    bad: Any, exc: type[Exception], message: str, kind: str
) -> None:
    items = [(k, k) for k in range(BAD_LATE + 1)] + [bad] + [(k, k) for k in range(5)]
    with Map.create(MapSpec(MapType.HASH, 4, 8, BAD_LATE + 10, name="late")) as m:
        with pytest.raises(exc, match=message):
            m.update_batch(_pairs(kind, items))
        assert list(m.keys()) == []


def test_update_batch_array_index_in_a_late_chunk_changes_nothing() -> None:
    n = BAD_LATE + 10
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, n, name="late")) as m:
        with pytest.raises(BPFError, match=f"key {n}: .*max_entries {n}; nothing was applied"):
            m.update_batch((k, 1) for k in [*range(BAD_LATE), n, 0])
        assert not any(v != bytes(8) for v in m.values())


def test_update_batch_kernel_failure_names_the_key_and_how_many() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 4, name="full")) as m:
        with pytest.raises(BPFError) as info:
            m.update_batch((k, k) for k in range(10, 16))
        assert info.value.errno == errno.E2BIG
        assert "key 14:" in str(info.value) and "4 of 6 elements applied" in str(info.value)
        assert sorted(int.from_bytes(k, "little") for k in m) == [10, 11, 12, 13]


def _iter_pairs(n: int) -> Iterator[tuple[int, int]]:
    for k in range(n):
        yield k, k + 1


def test_update_batch_empty_and_single() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 4, name="small")) as m:
        assert m.update_batch({}) == 0
        assert m.update_batch(_iter_pairs(0)) == 0
        assert m.update_batch(_iter_pairs(1)) == 1
        assert m[0] == (1).to_bytes(8, "little")
