"""Whole maps as two buffers (issue 21): ``Map.columns()``, ``update_columns()``,
``delete_columns()``, and ``items()``/``lookup_batch()`` on the same batch engine.

- Content: ``columns()``, ``items()`` and ``lookup_batch()`` give what the
  per-element walk gives (keys + lookup), for HASH, LRU_HASH, ARRAY,
  PERCPU_HASH, PERCPU_ARRAY, ARRAY_OF_MAPS and HASH_OF_MAPS, and for a type
  without the batch command (DEVMAP) and a kernel pretending to have none.
- Chunk boundaries: 0, 1, size-1, size and size+1 elements, read and written.
- Bad buffers are refused before any syscall, the map unchanged; a partial
  failure names the index and how many elements went in.
- 1M entries are read in buffers of at most a chunk each, reused every step,
  and written in chunks of at most CHUNK_BYTES.
- Concurrent deletes: an element present for the whole walk comes exactly
  once, with its value.
"""

from __future__ import annotations

import contextlib
import threading
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

from bpfnest import BPFError, KeyNotFoundError, Map, MapSpec, MapType, OuterMap, features
from bpfnest._sys import ops
from bpfnest.maps import _batch, possible_cpus

pytestmark = pytest.mark.usefixtures("kernel")

NCPU = possible_cpus()
INNER = MapSpec(MapType.HASH, 4, 8, 8, name="inner")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def stride(value_size: int) -> int:
    return (value_size + 7) & ~7


def reference(m: Map[Any]) -> dict[bytes, bytes]:
    """Every element by the per-element walk (GET_NEXT_KEY + LOOKUP_ELEM), values
    as the kernel lays them out (per-CPU: every slot; outer maps: the id)."""
    out = {}
    for key in list(m.keys()):
        value = m.lookup(key)
        if value is None:
            continue
        if isinstance(value, list):  # per-CPU: pad each slot as the kernel does
            pad = bytes(stride(m.value_size) - m.value_size)
            out[key] = b"".join(v + pad for v in value)
        elif isinstance(value, int):  # an outer map's inner id
            out[key] = u32(value)
        else:
            out[key] = value
    return out


def from_columns(m: Map[Any], size: int | None = None) -> dict[bytes, bytes]:
    """``columns()`` as {key: value bytes}; checks every step's shape."""
    ks = m.key_size
    vs = m.value_size if not m.type.is_per_cpu else NCPU * stride(m.value_size)
    out: dict[bytes, bytes] = {}
    for keys, values in m.columns(size):
        assert keys.readonly and values.readonly
        n = len(keys) // ks
        assert n >= 1 and len(keys) == n * ks and len(values) == n * vs
        if size is not None:
            assert n <= size
        for i in range(n):
            key = bytes(keys[i * ks : (i + 1) * ks])
            assert key not in out, "a key came twice"
            out[key] = bytes(values[i * vs : (i + 1) * vs])
    return out


def encoded_items(m: Map[Any], pairs: list[tuple[bytes, Any]]) -> dict[bytes, bytes]:
    """items()/lookup_batch() pairs as {key: kernel-layout bytes} (see reference)."""
    out = {}
    for key, value in pairs:
        assert key not in out
        if isinstance(value, list):
            pad = bytes(stride(m.value_size) - m.value_size)
            out[key] = b"".join(v + pad for v in value)
        elif isinstance(value, int):
            out[key] = u32(value)
        else:
            out[key] = value
    return out


@contextlib.contextmanager
def filled(t: MapType, n: int) -> Iterator[Map[Any]]:
    """A map of type ``t`` with distinct contents (per CPU too) in ``n`` keys
    (of 2n for hashes: every other key, so the walk has holes)."""
    if t.is_outer:
        with Map.create(MapSpec(t, 4, 4, 2 * n, name="outer", inner=INNER)) as outer:
            inners = [Map.create(INNER) for _ in range(3)]
            try:
                for i, inner in enumerate(inners):
                    inner[0] = i
                outer.update_batch({2 * k: inners[k % 3] for k in range(n)})
            finally:
                for inner in inners:
                    inner.close()
            yield outer
        return
    entries = n if t.is_array else 2 * n
    with Map.create(MapSpec(t, 4, 12, entries, name="cols")) as m:
        keys = range(n) if t.is_array else range(0, 2 * n, 2)
        if t.is_per_cpu:
            m.update_batch({k: [k * 1000 + c for c in range(NCPU)] for k in keys})
        else:
            m.update_batch({k: k * 7 + 1 for k in keys})
        yield m


TYPES = [
    MapType.HASH,
    MapType.LRU_HASH,
    MapType.ARRAY,
    MapType.PERCPU_HASH,
    MapType.PERCPU_ARRAY,
    MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS,
]


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_columns_items_and_lookup_batch_give_the_same_content(t: MapType) -> None:
    with filled(t, 300) as m:
        expect = reference(m)
        assert len(expect) == 300
        assert from_columns(m) == expect
        assert from_columns(m, 7) == expect
        assert encoded_items(m, list(m.items())) == expect
        assert encoded_items(m, m.lookup_batch()) == expect
        assert encoded_items(m, m.lookup_batch(chunk=1)) == expect
        if t.is_per_cpu:  # the documented layout: [n][ncpu][round_up(value_size, 8)]
            for keys, values in m.columns():
                k = int.from_bytes(keys[:4], "little")
                for cpu in range(NCPU):
                    slot = values[cpu * 16 : cpu * 16 + 16]
                    assert bytes(slot) == (k * 1000 + cpu).to_bytes(12, "little") + bytes(4)
                break


def test_outer_columns_give_inner_ids() -> None:
    with filled(MapType.ARRAY_OF_MAPS, 6) as outer:
        assert isinstance(outer, OuterMap)
        ids = {outer[k] for k in range(0, 12, 2)}
        got = set()
        for keys, values in outer.columns():
            assert len(keys) == len(values)  # u32 keys, u32 ids; empty slots skipped
            got |= set(values.cast("I"))
        assert got == ids and len(ids) == 3


@pytest.mark.parametrize("t", [MapType.DEVMAP, MapType.HASH], ids=lambda t: t.name)
def test_without_the_batch_command_the_same_result(
    t: MapType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEVMAP has no LOOKUP_BATCH (ENOTSUPP); a HASH on a kernel made to refuse it:
    GET_NEXT_KEY + LOOKUP_ELEM into the same buffers, empty slots skipped."""
    calls: list[str] = []
    real_walk = ops.walk_into

    def walk(*args: Any) -> Any:
        calls.append("walk")
        return real_walk(*args)

    monkeypatch.setattr(ops, "walk_into", walk)
    if t == MapType.HASH:
        monkeypatch.setattr(features, "batch_refused", lambda map_type, command: True)
    with Map.create(MapSpec(t, 4, 4, 64, name="nobatch")) as m:
        m.update_batch({k: 1 for k in range(0, 64, 3)})  # ifindex 1 (lo) for DEVMAP
        expect = reference(m)
        assert len(expect) == 22
        calls.clear()
        assert from_columns(m, 5) == expect
        assert calls and len(calls) >= 22 // 5
        assert encoded_items(m, list(m.items())) == expect
        assert encoded_items(m, m.lookup_batch(chunk=4)) == expect
        if t == MapType.DEVMAP:
            assert features.batch_refused(t, "lookup")


# ------------------------------------------------------------ chunk boundaries

SIZE = 8


@pytest.mark.parametrize("n", [0, 1, SIZE - 1, SIZE, SIZE + 1, 3 * SIZE + 1])
def test_columns_steps_at_chunk_boundaries(n: int) -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, max(n, 1), name="edge")) as m:
        m.update_columns(array("I", range(n)), array("Q", range(100, 100 + n)))
        got = from_columns(m, SIZE)
        assert got == {u32(k): u64(100 + k) for k in range(n)}
        assert dict(m.lookup_batch(chunk=SIZE)) == got
        assert dict(m.items()) == got
    if n:  # an array has exactly n elements: whole steps of SIZE, then the rest
        with Map.create(MapSpec(MapType.ARRAY, 4, 8, n, name="edge")) as a:
            lengths = [len(k) // 4 for k, _ in a.columns(SIZE)]
            assert lengths == [SIZE] * (n // SIZE) + ([n % SIZE] if n % SIZE else [])


@pytest.mark.parametrize("n", [0, 1, SIZE - 1, SIZE, SIZE + 1, 3 * SIZE + 1])
def test_writes_are_sent_in_chunks(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """CHUNK_BYTES of keys and values a syscall: SIZE u32 -> u64 elements here."""
    monkeypatch.setattr(_batch, "CHUNK_BYTES", SIZE * 12)
    counts: list[int] = []
    real_update, real_delete = ops.update_at, ops.delete_at

    def update(fd: int, k: int, v: int, count: int, flags: int = 0) -> int:
        counts.append(count)
        return real_update(fd, k, v, count, flags)

    def delete(fd: int, k: int, count: int, flags: int = 0) -> int:
        counts.append(count)
        return real_delete(fd, k, count, flags)

    monkeypatch.setattr(ops, "update_at", update)
    monkeypatch.setattr(ops, "delete_at", delete)

    def chunks(step: int) -> list[int]:
        return [step] * (n // step) + ([n % step] if n % step else [])

    with Map.create(MapSpec(MapType.HASH, 4, 8, max(n, 1), name="edge")) as m:
        assert m.update_columns(bytes(array("I", range(n))), array("Q", range(n))) == n
        assert counts == chunks(SIZE)
        assert dict(m.items()) == {u32(k): u64(k) for k in range(n)}
        counts.clear()
        assert m.delete_columns(array("I", range(n))) == n
        assert counts == chunks(SIZE * 3)  # keys only: 4 bytes each
        assert list(m.keys()) == []
        counts.clear()
        assert m.update_batch({k: k for k in range(n)}) == n  # the same engine
        assert counts == chunks(SIZE)


# ------------------------------------------------------------ bad input


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bulk syscalls made (update_at, delete_at, lookup_into), by name."""
    calls: list[str] = []
    for name in ("update_at", "delete_at", "lookup_into"):
        real = getattr(ops, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(ops, name, spy)
    return calls


BAD = [
    (lambda m: m.update_columns(bytes(7), bytes(16)), ValueError, "7 bytes is not a whole"),
    (lambda m: m.update_columns(bytes(8), bytes(12)), ValueError, "12 bytes is not a whole"),
    (lambda m: m.update_columns(bytes(8), bytes(24)), ValueError, "2 keys but 3 values"),
    (lambda m: m.update_columns(array("I", [1, 2]), array("Q", [1])), ValueError, "2 keys but 1"),
    (lambda m: m.update_columns(memoryview(bytes(16))[::2], bytes(16)), ValueError, "contiguous"),
    (lambda m: m.update_columns([1, 2], bytes(16)), TypeError, "buffer protocol"),
    (lambda m: m.update_columns(bytes(4), bytes(8), flags=1 << 64), ValueError, "flags"),
    (lambda m: m.delete_columns(bytes(5)), ValueError, "5 bytes is not a whole"),
    (lambda m: m.delete_columns("abcd"), TypeError, "buffer protocol"),
    (lambda m: m.columns(0), ValueError, "size must be"),
    (lambda m: m.columns(1 << 25), ValueError, "size must be"),
    (lambda m: m.columns(2.0), ValueError, "size must be"),
]


@pytest.mark.parametrize("call, exc, message", BAD)
def test_bad_buffers_are_refused_before_any_syscall(
    call: Any, exc: type[Exception], message: str, watched: list[str]
) -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 16, name="bad")) as m:
        m.update_batch({1: 10, 2: 20})
        watched.clear()
        with pytest.raises(exc, match=message):
            call(m)
        assert watched == []
        assert dict(m.items()) == {u32(1): u64(10), u32(2): u64(20)}


def test_per_cpu_values_are_whole_per_cpu_buffers() -> None:
    with Map.create(MapSpec(MapType.PERCPU_HASH, 4, 4, 4, name="pc")) as m:
        one = NCPU * 8
        with pytest.raises(ValueError, match="2 keys but 1 values"):
            m.update_columns(bytes(8), bytes(one))
        values = b"".join(
            (k * 10 + c).to_bytes(4, "little") + bytes(4) for k in range(2) for c in range(NCPU)
        )
        assert m.update_columns(array("I", [5, 6]), values) == 2
        assert m[6] == [(10 + c).to_bytes(4, "little") for c in range(NCPU)]


def test_outer_map_update_columns_takes_fds() -> None:
    spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="outer", inner=INNER)
    with Map.create(spec) as outer, Map.create(INNER) as a, Map.create(INNER) as b:
        assert outer.update_columns(array("I", [0, 3]), array("I", [a.fd, b.fd])) == 2
        assert outer[0] == a.id and outer[3] == b.id


# ------------------------------------------------------------ partial failures


def test_a_full_map_names_the_index_and_the_count_applied() -> None:
    with Map.create(MapSpec(MapType.HASH, 4, 8, 4, name="full")) as m:
        with pytest.raises(BPFError) as info:
            m.update_columns(array("I", range(10, 16)), array("Q", range(6)))
        assert "update_columns HASH 'full' key 0x0e000000:" in str(info.value)
        assert "the map is full (max_entries 4); index 4: 4 of 6 elements applied" in str(
            info.value
        )
        assert sorted(int.from_bytes(k, "little") for k in m) == [10, 11, 12, 13]


def test_a_partial_failure_in_a_later_chunk_counts_every_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_batch, "CHUNK_BYTES", 2 * 12)  # two elements a syscall
    with Map.create(MapSpec(MapType.HASH, 4, 8, 5, name="full")) as m:
        with pytest.raises(BPFError, match="index 5: 5 of 8 elements applied"):
            m.update_columns(array("I", range(8)), array("Q", range(8)))
        assert len(list(m.keys())) == 5
        with pytest.raises(KeyNotFoundError, match="index 3: 3 of 4 keys deleted") as info:
            m.delete_columns(array("I", [0, 1, 2, 7]))
        assert isinstance(info.value, KeyError)
        assert sorted(int.from_bytes(k, "little") for k in m) == [3, 4]


def test_array_index_out_of_range_is_the_kernels_partial_failure() -> None:
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 4, name="arr")) as m:
        with pytest.raises(BPFError, match="index must be below max_entries 4; index 2: 2 of 3"):
            m.update_columns(array("I", [0, 1, 9]), array("Q", [5, 6, 7]))
        assert m[1] == u64(6)


# ------------------------------------------------------------ memory at 1M


def test_a_million_entries_in_two_chunks_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written in chunks of at most CHUNK_BYTES; read into one pair of buffers of
    at most a chunk, reused by every step (measured by the buffers' sizes)."""
    n = 1_000_000
    sent: list[int] = []
    real = ops.update_at

    def update(fd: int, k: int, v: int, count: int, flags: int = 0) -> int:
        sent.append(count)
        return real(fd, k, v, count, flags)

    monkeypatch.setattr(ops, "update_at", update)
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="million")) as m:
        assert m.update_columns(array("I", range(n)), array("Q", range(n))) == n
        assert sum(sent) == n and len(sent) > 1
        assert max(sent) * 12 <= _batch.CHUNK_BYTES
        buffers = set()
        count = total = 0
        for keys, values in m.columns():
            assert isinstance(keys.obj, bytearray) and isinstance(values.obj, bytearray)
            buffers.add((id(keys.obj), id(values.obj)))
            assert len(keys.obj) + len(values.obj) <= _batch.CHUNK_BYTES
            count += len(keys) // 4
            total += sum(values.cast("Q"))
        assert count == n and total == n * (n - 1) // 2
        assert len(buffers) == 1  # allocated once, reused for every step


# ------------------------------------------------------------ concurrent deletes


def test_deletes_during_columns_inline() -> None:
    """Deleted after the first step: only what that step had read comes, as it was."""
    n = 3000
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="walk")) as m:
        m.update_columns(array("I", range(n)), array("Q", [3 * k for k in range(n)]))
        seen: dict[int, int] = {}
        for keys, values in m.columns(100):
            if not seen:
                m.delete_columns(array("I", range(n)))
            for k, v in zip(keys.cast("I"), values.cast("Q"), strict=True):
                assert k not in seen and v == 3 * k
                seen[k] = v
        assert 1 <= len(seen) <= 200  # the first step (a bucket may run over)
        assert list(m.columns()) == []


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "get_next_key"])
def test_concurrent_deletes_during_columns(batch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread deletes even keys while the walk runs: every odd key comes
    exactly once with its value, no key twice."""
    if not batch:
        monkeypatch.setattr(features, "batch_refused", lambda map_type, command: True)
    n = 4000
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="walk")) as m:
        m.update_columns(array("I", range(n)), array("Q", [3 * k for k in range(n)]))
        go = threading.Event()
        errors: list[BaseException] = []

        def deleter() -> None:
            try:
                go.wait(10)
                for k in range(0, n, 2):
                    m.delete(k)
            except BaseException as err:  # reported below
                errors.append(err)

        th = threading.Thread(target=deleter)
        th.start()
        seen: set[int] = set()
        try:
            for keys, values in m.columns(64):
                go.set()
                for k, v in zip(keys.cast("I"), values.cast("Q"), strict=True):
                    assert k not in seen and v == 3 * k
                    seen.add(k)
        finally:
            go.set()
            th.join(30)
        assert errors == []
        assert set(range(1, n, 2)) <= seen


def test_map_dump_streams_in_steps_of_one_reused_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bpfnest map dump`` (view.iter_dump) reads the map step by step through
    items(): one pair of buffers of at most a chunk, however large the map."""
    from bpfnest import view

    n = 200_000
    steps: list[tuple[int, int]] = []
    real = ops.lookup_into

    def lookup_into(fd: int, bufs: Any, count: int, **kw: Any) -> Any:
        steps.append((id(bufs), len(bufs.keys) + len(bufs.values)))
        return real(fd, bufs, count, **kw)

    monkeypatch.setattr(ops, "lookup_into", lookup_into)
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="dumped")) as m:
        m.update_columns(array("I", range(n)), array("Q", range(n)))
        entries = view.iter_dump(m)
        first = next(entries)
        assert len(steps) == 1  # one step read, not the whole map
        assert first["key"] and first["value"]
        assert 1 + sum(1 for _ in entries) == n
    assert len(steps) >= n // _batch.ITEMS_CHUNK
    assert len({bufs for bufs, _ in steps}) == 1
    assert max(size for _, size in steps) <= _batch.CHUNK_BYTES


def test_a_bucket_larger_than_size_grows_the_buffers() -> None:
    """size 1 on a HASH of 2000 keys in 2048 buckets: some bucket holds two or
    more (the kernel answers ENOSPC), the step grows to take it; nothing is lost."""
    n = 2000
    with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="buckets")) as m:
        m.update_columns(array("I", range(n)), array("Q", range(n)))
        sizes = []
        got: dict[int, int] = {}
        for keys, values in m.columns(1):
            sizes.append(len(keys) // 4)
            for k, v in zip(keys.cast("I"), values.cast("Q"), strict=True):
                assert k not in got
                got[k] = v
        assert got == {k: k for k in range(n)}
        assert max(sizes) > 1
        assert dict(m.lookup_batch(chunk=1)) == {u32(k): u64(k) for k in range(n)}
