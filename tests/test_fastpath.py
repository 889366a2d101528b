"""The element fast path (ElemOps) gives the same results as the plain syscall wrappers.

``Map.lookup``/``update``/``delete`` of a plain map are per-thread preallocated
closures; these tests hold them to the slow path (``bpfnest._sys.ops``
wrappers that build every buffer per call), to the input checks of the codec,
and to the fd-reuse rule: a closed map's fast path never reaches whatever
object gets its fd number next.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Iterator

import pytest

from bpfnest import (
    BPFError,
    KeyNotFoundError,
    Map,
    MapSpec,
    MapType,
    OuterMap,
    PerCPUMap,
    possible_cpus,
)
from bpfnest._sys import fd as fdmod
from bpfnest._sys import ops
from bpfnest.constants import EXIST, NOEXIST

pytestmark = pytest.mark.usefixtures("kernel")

SIZES = [1, 2, 3, 4, 8, 16]


@pytest.fixture
def hmap(request: pytest.FixtureRequest) -> Iterator[Map]:
    key_size, value_size = request.param
    with Map.create(MapSpec(MapType.HASH, key_size, value_size, 64, name="fast")) as m:
        yield m


@pytest.mark.parametrize("hmap", [(k, v) for k in SIZES for v in (1, 4, 8, 12)], indirect=True)
def test_fast_and_slow_paths_agree(hmap: Map) -> None:
    ks, vs = hmap.key_size, hmap.value_size
    key_max, value_max = (1 << (8 * ks)) - 1, (1 << (8 * vs)) - 1
    keys = sorted({0, 1, key_max, key_max // 3})
    for n, key in enumerate(keys):
        value = (value_max - n) & value_max
        hmap.update(key, value)  # fast path, int key and int value
        raw = ops.map_lookup_elem(hmap.fd, key.to_bytes(ks, "little"), vs)
        assert raw == value.to_bytes(vs, "little")
        # ... and back: written slowly, read fast, by int and by bytes.
        ops.map_update_elem(hmap.fd, key.to_bytes(ks, "little"), bytes([n + 1]) * vs)
        assert hmap.lookup(key) == bytes([n + 1]) * vs
        assert hmap[key.to_bytes(ks, "little")] == bytes([n + 1]) * vs
        assert hmap.get(bytearray(key.to_bytes(ks, "little"))) == bytes([n + 1]) * vs
    for key in keys:
        hmap.delete(key)
        with pytest.raises(OSError):
            ops.map_lookup_elem(hmap.fd, key.to_bytes(ks, "little"), vs)
        assert hmap.lookup(key) is None


@pytest.mark.parametrize("hmap", [(4, 8)], indirect=True)
@pytest.mark.parametrize(
    ("key", "value", "flags", "error", "words"),
    [
        (True, 1, 0, TypeError, "key must be bytes or int"),
        (-1, 1, 0, ValueError, "out of range"),
        (1 << 32, 1, 0, ValueError, "out of range"),
        (1.0, 1, 0, TypeError, "float"),
        (b"abc", 1, 0, ValueError, "4 bytes"),
        ("k", 1, 0, TypeError, "str"),
        (1, -1, 0, ValueError, "value -1 out of range"),
        (1, 1 << 64, 0, ValueError, "out of range"),
        (1, False, 0, TypeError, "value must be bytes or int"),
        (1, b"\0" * 9, 0, ValueError, "8 bytes"),
        (1, 1, -1, ValueError, "flags must be a u64"),
        (1, 1, 1 << 64, ValueError, "flags must be a u64"),
        (1, 1, "x", ValueError, "flags must be a u64"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    hmap: Map, key: object, value: object, flags: object, error: type, words: str
) -> None:
    """Updates and deletes check before the syscall; a lookup of an int key out
    of range finds it out by reading the key back (after reading the masked
    key's element, which changes nothing)."""
    hmap[7] = 70
    before = {(7).to_bytes(4, "little"): (70).to_bytes(8, "little")}
    with pytest.raises(error, match=words):
        hmap.update(key, value, flags)  # type: ignore[arg-type]
    assert dict(hmap.items()) == before
    if value == 1 and flags == 0:
        with pytest.raises(error, match=words):
            hmap.lookup(key)
        with pytest.raises(error, match=words):
            hmap.delete(key)
        assert dict(hmap.items()) == before


@pytest.mark.parametrize("hmap", [(4, 8)], indirect=True)
def test_kernel_errors_name_the_map_and_key(hmap: Map) -> None:
    with pytest.raises(KeyNotFoundError, match="HASH 'fast' key 5"):
        hmap.delete(5)
    with pytest.raises(KeyNotFoundError, match="key 5"):
        hmap[5]
    hmap.update(5, 1, NOEXIST)
    with pytest.raises(BPFError, match="update HASH 'fast' key 5: File exists"):
        hmap.update(5, 2, NOEXIST)
    with pytest.raises(BPFError, match="key 6: No such file"):
        hmap.update(6, 2, EXIST)
    assert hmap[5] == (1).to_bytes(8, "little")


def test_a_bound_method_of_a_closed_map_never_reaches_the_next_map() -> None:
    spec = MapSpec(MapType.ARRAY, 4, 8, 4, name="first")
    first = Map.create(spec)
    lookup, update, delete = first.lookup, first.update, first.delete
    update(1, 4)  # the buffers and attrs of this thread now exist
    assert lookup(1) == (4).to_bytes(8, "little")
    with pytest.raises(BPFError, match="Invalid argument"):
        delete(1)  # array elements cannot be deleted
    number = first.fd
    first.close()
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 4, name="second")) as second:
        assert second.fd == number  # the number was reused ...
        second[1] = 5
        for call, args in ((lookup, (1,)), (update, (1, 9)), (delete, (1,))):
            with pytest.raises(ValueError, match="ARRAY 'first' is closed"):
                call(*args)  # type: ignore[operator]
        assert second[1] == (5).to_bytes(8, "little")  # ... but never through first's path
    with pytest.raises(ValueError, match="closed"):
        Map.lookup(first, 1)


def test_a_bound_method_keeps_the_fd_of_a_dropped_map() -> None:
    m = Map.create(MapSpec(MapType.ARRAY, 4, 8, 4, name="dropped"))
    m[2] = 22
    number, lookup = m.fd, m.lookup
    del m
    gc.collect()
    assert lookup(2) == (22).to_bytes(8, "little")  # the fd is still this map's
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 4, name="other")) as other:
        assert other.fd != number
    before = len(fdmod.finalized)
    del lookup
    gc.collect()
    # Never closed by the user: the safety net closed it, and says so.
    assert [raw for raw, _ in fdmod.finalized[before:]] == [number]
    del fdmod.finalized[before:]


def _run_switching(threads: list[threading.Thread]) -> None:
    """Start and join ``threads`` with CPython switching between them as often as it can."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(interval)


def test_threads_share_one_map() -> None:
    """Each thread has its own buffers: no key or value of one thread leaks into another."""
    spec = MapSpec(MapType.HASH, 4, 8, 8192, name="threads")
    errors: list[BaseException] = []
    with Map.create(spec) as m:

        def work(t: int) -> None:
            try:
                for i in range(1500):
                    key = t * 2000 + i
                    m[key] = key * 3
                    assert m[key] == (key * 3).to_bytes(8, "little")
                    assert m.lookup(key + 1_000_000) is None
                    if i % 3 == 0:
                        del m[key]
            except BaseException as err:
                errors.append(err)

        _run_switching([threading.Thread(target=work, args=(t,)) for t in range(4)])
        assert errors == []
        got = {int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in m.items()}
        assert got == {
            t * 2000 + i: (t * 2000 + i) * 3 for t in range(4) for i in range(1500) if i % 3
        }


def _array_of(n: int, name: str) -> Map:
    """An ARRAY of ``n`` u32 -> u64 elements holding ``key * 7 + 1``."""
    m = Map.create(MapSpec(MapType.ARRAY, 4, 8, n, name=name))
    m.update_batch({k: k * 7 + 1 for k in range(n)})
    return m


def test_int_lookups_of_threads_interleaved_get_their_own_values() -> None:
    """Int-key lookups share one pair of buffers per map: a lookup another thread
    ran between this one's syscall and its copy of the value is done again."""
    errors: list[BaseException] = []
    with _array_of(1024, "interleave") as m:
        lookup = m.lookup

        def work(t: int) -> None:
            try:
                for i in range(20000):
                    key = (t * 257 + i) % 1024
                    value = lookup(key)
                    assert value == (key * 7 + 1).to_bytes(8, "little"), (key, value)
            except BaseException as err:
                errors.append(err)

        _run_switching([threading.Thread(target=work, args=(t,)) for t in range(4)])
    assert errors == []


def test_a_signal_handler_looking_up_between_the_syscall_and_the_copy() -> None:
    """A handler runs where a thread could switch (after the syscall returns):
    its lookup of another key does not leak into the one it interrupted."""
    seen: list[bytes | None] = []
    with _array_of(16, "reentrant") as m:
        lookup = m.lookup

        def handler(signum: int, frame: object) -> None:
            seen.append(lookup(9))

        old = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        try:
            wrong = [
                v for v in (lookup(3) for _ in range(100000)) if v != (22).to_bytes(8, "little")
            ]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, old)
    assert wrong == []
    assert seen and set(seen) == {(64).to_bytes(8, "little")}


def test_a_signal_handler_updating_while_updates_run() -> None:
    """Int updates share buffers too: a handler's update never lands in another's."""
    with Map.create(MapSpec(MapType.HASH, 4, 8, 64, name="reentrant_up")) as m:
        update = m.update
        count = [0]

        def handler(signum: int, frame: object) -> None:
            count[0] += 1
            update(9, 64)
            update(10, count[0])

        lookup = m.lookup
        lost = []
        old = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        try:
            for i in range(50000):
                update(3, i)
                if lookup(3) != i.to_bytes(8, "little"):
                    lost.append(i)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, old)
        got = {int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in m.items()}
    assert count[0] > 0 and lost == []
    assert got == {3: 49999, 9: 64, 10: count[0]}


def test_without_a_gil_every_call_uses_the_threads_own_buffers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A free-threaded build running without the GIL gets no shared buffers
    (what they rest on is gone); the per-thread path gives the same results."""
    with _array_of(8, "gil") as m:
        assert m.lookup.__name__ == "lookup_shared" and m.update.__name__ == "update_shared"
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    with _array_of(8, "nogil") as m:
        assert m.lookup.__name__ == "lookup_each" and m.update.__name__ == "update_each"
        m.update(3, 5)
        assert m.lookup(3) == (5).to_bytes(8, "little") and m[4] == (29).to_bytes(8, "little")
        with pytest.raises(ValueError, match="out of range"):
            m.lookup(1 << 32)


def test_an_int_key_out_of_range_is_refused_even_where_its_low_bytes_exist() -> None:
    with _array_of(4, "masked") as m:
        for key in ((1 << 32) + 1, -4294967295, 1 << 70):  # masked by ctypes: key 1
            with pytest.raises(ValueError, match="out of range"):
                m.lookup(key)
            with pytest.raises(ValueError, match="out of range"):
                m[key]
            with pytest.raises(ValueError, match="out of range"):
                key in m  # noqa: B015
        assert m[1] == (8).to_bytes(8, "little")


def test_close_waits_for_an_outer_update_in_flight() -> None:
    """Outer updates release the GIL (RCU wait); a close waits for the one in flight."""
    inner = MapSpec(MapType.ARRAY, 4, 4, 1, name="in")
    outer = Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="outer", inner=inner))
    assert isinstance(outer, OuterMap)
    seen: list[BaseException] = []
    started = threading.Event()
    with Map.create(inner) as m:

        def writer() -> None:
            try:
                for i in range(1000):
                    outer[i % 4] = m
                    started.set()
            except ValueError as err:
                seen.append(err)
            except BaseException as err:
                seen.append(err)
                started.set()

        th = threading.Thread(target=writer)
        th.start()
        started.wait(10)
        outer.close()
        th.join(30)
        assert not th.is_alive()
    assert len(seen) == 1 and isinstance(seen[0], ValueError), seen
    assert "ARRAY_OF_MAPS 'outer' is closed" in str(seen[0])


def test_per_cpu_values_through_the_fast_path() -> None:
    spec = MapSpec(MapType.PERCPU_ARRAY, 4, 4, 2, name="pcpu")
    with Map.create(spec) as m:
        assert isinstance(m, PerCPUMap)
        m[1] = 7  # one value for every CPU
        assert m[1] == [(7).to_bytes(4, "little")] * possible_cpus()
        values = [n.to_bytes(4, "little") for n in range(possible_cpus())]
        m.update(0, values)
        assert m.lookup(0) == values
        raw = ops.map_lookup_elem(m.fd, (0).to_bytes(4, "little"), 8 * possible_cpus())
        assert [raw[8 * c : 8 * c + 4] for c in range(possible_cpus())] == values
        with pytest.raises(ValueError):
            m.update(0, b"\0" * (8 * possible_cpus() + 1))


def test_element_methods_are_the_class_s_and_built_on_first_use() -> None:
    """No per-instance swap: lookup/update/delete are the class's (documented there);
    on a map without a value codec they give the map's ElemOps closures, built on
    first use, and a per-CPU map runs its decoding methods."""
    with Map.create(MapSpec(MapType.HASH, 4, 8, 4, name="plain")) as m:
        assert "_fast" not in vars(m)  # nothing built by create
        assert not {"lookup", "update", "delete"} & set(vars(m))
        assert (Map.lookup.__doc__ or "").startswith("Return the value at ``key``")
        m.update(1, 2)
        assert m.lookup(1) == (2).to_bytes(8, "little")
        assert Map.lookup(m, 1) == m.lookup(1)  # the documented method, called on the class
        fast = vars(m)["_fast"]
        assert (m.lookup, m.update, m.delete) == (fast.lookup, fast.update, fast.delete)
    with Map.create(MapSpec(MapType.PERCPU_HASH, 4, 8, 4, name="pcpu")) as p:
        p.update(1, 3)
        assert p.lookup.__func__ is type(p).lookup  # type: ignore[attr-defined]
        assert set(p.lookup(1) or []) == {(3).to_bytes(8, "little")}
