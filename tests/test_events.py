"""Events (issue 15): RingBuffer, PerfBuffer and UserRingBuffer on the real
kernel, with records written by real programs (XDP through BPF_PROG_TEST_RUN,
a raw tracepoint on sys_enter triggered by getpgid), several rings and inner
rings in one poller, callbacks that raise, asyncio, close() from another
thread, a producer in another process, and the bad input of each reader.
"""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
import select
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import bpfnest
from bpfnest import MapSpec, MapType, PerfBuffer, RingBuffer, UserRingBuffer
from bpfnest._sys import link_ops

from netns import _GETPGID
from support import LeakCheck, bpf_mappings, skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

PACKET = bytes(64)
PAGE = mmap.PAGESIZE


def seq_of(record: bytes | memoryview) -> int:
    return int.from_bytes(record[:8], "little")


def ring_spec(size: int = 4096, map_type: MapType = MapType.RINGBUF) -> MapSpec:
    return MapSpec(name="ring", type=map_type, key_size=0, value_size=0, max_entries=size)


@pytest.fixture
def rings(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("ringbuf_events")).load() as coll:
        yield coll


@pytest.fixture
def perfs(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("perf_events")).load() as coll:
        yield coll


def dropped(coll: bpfnest.Collection) -> int:
    return int.from_bytes(coll.maps["stats"].lookup(1), "little")


# ------------------------------------------------------------------ ring buffer


def test_ring_records_arrive_once_in_order_with_their_lengths(rings: bpfnest.Collection) -> None:
    # bpf_ringbuf_output of 8..15 bytes: lengths are exact, positions rounded to 8.
    emit = rings.programs["emit_output"]
    got: list[bytes] = []
    with RingBuffer(rings.maps["events"]) as ring:
        for _ in range(3):  # 3 x 400 records of <= 24 bytes through 16 KiB: wraps
            emit.test_run(PACKET, repeat=400)
            while ring.poll(lambda view: got.append(bytes(view)), timeout=0):
                pass
    assert dropped(rings) == 0
    assert [seq_of(r) for r in got] == list(range(1200))
    for rec in got:
        seq = seq_of(rec)
        assert len(rec) == 8 + seq % 8
        assert rec[8:] == bytes([seq & 0xFF]) * (seq % 8)


def test_ring_discarded_records_are_skipped(rings: bpfnest.Collection) -> None:
    # reserve + submit, every third discarded; read() returns them one by one.
    with RingBuffer(rings.maps["events"]) as ring:
        got = []
        for _ in range(4):  # 4 x 300 records of 24 bytes through 16 KiB: wraps
            rings.programs["emit_reserve"].test_run(PACKET, repeat=300)
            while (rec := ring.read(timeout=0)) is not None:
                got.append(rec)
        assert ring.read(timeout=0.05) is None
    assert [seq_of(r) for r in got] == [n for n in range(1200) if n % 3]
    assert all(struct.unpack("<QQ", r) == (n, ~n & (1 << 64) - 1) for r in got for n in [seq_of(r)])


def test_ring_callback_that_raises_loses_and_repeats_nothing(rings: bpfnest.Collection) -> None:
    rings.programs["emit_output"].test_run(PACKET, repeat=20)
    seen: list[int] = []
    kept: list[memoryview] = []

    def take(view: memoryview) -> None:
        kept.append(view)
        seen.append(seq_of(view))
        if len(seen) in (5, 12):
            raise RuntimeError("callback failed")

    with RingBuffer(rings.maps["events"]) as ring:
        for _ in range(2):
            with pytest.raises(RuntimeError, match="callback failed"):
                ring.poll(take)
        assert ring.poll(take) == 8
        assert ring.poll(take, timeout=0) == 0
    assert seen == list(range(20))
    # Each view was released after its callback: none outlives the mapping.
    with pytest.raises(ValueError, match="released"):
        bytes(kept[0])


def test_a_view_kept_by_the_caller_does_not_stop_close(rings: bpfnest.Collection) -> None:
    rings.programs["emit_output"].test_run(PACKET)
    kept: list[memoryview] = []
    ring = RingBuffer(rings.maps["events"])
    ring.poll(lambda view: kept.append(view[0:8]))  # a slice of its own
    before = bpf_mappings()
    ring.close()
    assert ring.closed
    assert seq_of(kept[0]) == 0  # still readable: it holds the mapping
    kept[0].release()  # and the mapping goes with it
    assert len(bpf_mappings()) < len(before)


def test_several_rings_and_inner_rings_in_one_poller(objs: Callable[[str], str]) -> None:
    with bpfnest.CollectionSpec.from_file(objs("ringbuf_inner")).load() as coll:
        coll.programs["spread"].test_run(PACKET, repeat=50)
        outer = coll.maps["rings"]
        with outer.get_map(0) as a, outer.get_map(1) as b, RingBuffer(a, b) as ring:
            seen: list[int] = []
            assert ring.poll(lambda v: seen.append(seq_of(v))) == 50
            assert [n for n in seen if n % 2 == 0] == list(range(0, 50, 2))
            assert [n for n in seen if n % 2] == list(range(1, 50, 2))
            coll.programs["spread"].test_run(PACKET, repeat=3)
            assert sorted(r for r in iter(lambda: ring.read(0), None) if r) == sorted(
                n.to_bytes(8, "little") for n in (50, 51, 52)
            )


@pytest.fixture
def getpgid_ring(rings: bpfnest.Collection) -> Iterator[bpfnest.Collection]:
    """emit_getpgid attached to raw_tp sys_enter for this process's getpgid."""
    machine = os.uname().machine
    if machine not in _GETPGID:
        pytest.skip(f"getpgid syscall number unknown here ({machine})")
    rings.maps["config"].update(0, os.getpid())
    rings.maps["config"].update(1, _GETPGID[machine])
    with link_ops.raw_tracepoint_open("sys_enter", rings.programs["emit_getpgid"].fd):
        yield rings


def test_ring_from_a_raw_tracepoint(getpgid_ring: bpfnest.Collection) -> None:
    with RingBuffer(getpgid_ring.maps["events"]) as ring:
        assert ring.read(timeout=0) is None
        for _ in range(100):
            os.getpgid(0)
        got = [ring.read(timeout=1) for _ in range(100)]
        assert ring.read(timeout=0) is None
    assert [seq_of(r or b"") for r in got] == list(range(100))


def test_ring_from_a_producer_in_another_process(getpgid_ring: bpfnest.Collection) -> None:
    # A child calls getpgid in a tight loop for 2 s while this process reads:
    # every record the program got room for arrives once, in order, and the
    # ones it had no room for are counted.
    config = getpgid_ring.maps["config"]
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: wait for the go, then produce
        try:
            os.read(go_r, 1)
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                for _ in range(100):
                    os.getpgid(0)
        finally:
            os._exit(0)
    os.close(go_r)
    seqs: list[int] = []
    longest = 0.0
    try:
        config.update(0, pid)
        with RingBuffer(getpgid_ring.maps["events"]) as ring:
            os.write(go_w, b"g")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                start = time.monotonic()
                n = ring.poll(lambda v: seqs.append(seq_of(v)), timeout=0.2)
                longest = max(longest, time.monotonic() - start)
                if n == 0 and os.waitpid(pid, os.WNOHANG) != (0, 0):
                    pid = 0
                    break
            while ring.poll(lambda v: seqs.append(seq_of(v)), timeout=0):
                pass
    finally:
        os.close(go_w)
        if pid:
            os.waitpid(pid, 0)
    produced = int.from_bytes(getpgid_ring.maps["stats"].lookup(0), "little")
    assert produced > 1000
    assert seqs == list(range(produced))  # exactly once, in order
    assert longest < 1.0  # never stalled much past its poll timeout
    print(f"{produced} records, {dropped(getpgid_ring)} without room")


def test_close_from_another_thread_wakes_a_blocked_reader(rings: bpfnest.Collection) -> None:
    ring = RingBuffer(rings.maps["events"])
    results: list[object] = []
    calls = [lambda: ring.read(), lambda: ring.poll(lambda v: None)]
    threads = [threading.Thread(target=lambda c=c: results.append(c())) for c in calls]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert results == []  # blocked
    ring.close()
    for t in threads:
        t.join(5)
    assert sorted(map(repr, results)) == ["0", "None"]
    ring.close()  # idempotent
    with pytest.raises(ValueError, match="is closed"):
        ring.read(0)
    with pytest.raises(ValueError, match="is closed"):
        ring.fileno()


def test_close_inside_a_callback(rings: bpfnest.Collection) -> None:
    rings.programs["emit_output"].test_run(PACKET, repeat=3)
    ring = RingBuffer(rings.maps["events"])
    seen: list[int] = []

    def take(view: memoryview) -> None:
        seen.append(seq_of(view))
        ring.close()

    ring.poll(take)
    assert ring.closed and seen[0] == 0


def test_ring_fileno_with_select(rings: bpfnest.Collection) -> None:
    with RingBuffer(rings.maps["events"]) as ring:
        assert select.select([ring], [], [], 0)[0] == []
        rings.programs["emit_output"].test_run(PACKET)
        assert select.select([ring], [], [], 1)[0] == [ring]
        assert seq_of(ring.read(0) or b"") == 0


def test_ring_async_for(rings: bpfnest.Collection) -> None:
    emit = rings.programs["emit_output"]

    async def main(ring: RingBuffer) -> list[int]:
        loop = asyncio.get_running_loop()
        emit.test_run(PACKET, repeat=5)  # ready before
        loop.call_later(0.1, lambda: emit.test_run(PACKET, repeat=5))  # and while waiting
        got = []
        async for record in ring:
            got.append(seq_of(record))
            if len(got) == 10:
                loop.call_later(0.1, ring.close)  # close ends the iteration
        return got

    ring = RingBuffer(rings.maps["events"])
    assert asyncio.run(asyncio.wait_for(main(ring), 10)) == list(range(10))
    assert ring.closed


# ------------------------------------------------------------------ perf buffer


def test_perf_records_in_order_wrapped_and_padded(perfs: bpfnest.Collection) -> None:
    perfs.maps["config"].update(0, 250)  # sizes 8..257 (capped at 256)
    send = perfs.programs["send"]
    got: list[bpfnest.PerfRecord] = []
    with PerfBuffer(perfs.maps["samples"], pages=2) as buf:
        for _ in range(10):  # 10 x 20 records of up to 272 bytes through 8 KiB: wraps
            send.test_run(PACKET, repeat=20)
            while buf.poll(got.append, timeout=0):
                pass
        assert buf.lost == 0
    assert dropped(perfs) == 0
    by_cpu: dict[int, list[int]] = {}
    for rec in got:
        seq = seq_of(rec.data)
        size = min(8 + seq % 250, 256)
        assert len(rec.data) == (size + 4 + 7) // 8 * 8 - 4  # the kernel's padding
        assert rec.data[8:size] == bytes([seq & 0xFF]) * (size - 8)
        assert rec.lost == 0
        by_cpu.setdefault(rec.cpu, []).append(seq)
    assert sorted(n for seqs in by_cpu.values() for n in seqs) == list(range(200))
    assert all(seqs == sorted(seqs) for seqs in by_cpu.values())


@pytest.fixture
def one_cpu() -> Iterator[int]:
    """This thread pinned to one CPU (test_run runs where it is called): the
    kernel writes a LOST notice into the ring of the CPU that lost records."""
    old = os.sched_getaffinity(0)
    cpu = min(old)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, old)


@pytest.mark.parametrize("how", ["read", "poll"])
def test_perf_lost_records_are_counted_on_the_next_record(
    perfs: bpfnest.Collection, one_cpu: int, how: str
) -> None:
    perfs.maps["config"].update(0, 200)
    send = perfs.programs["send"]
    with PerfBuffer(perfs.maps["samples"], pages=1) as buf:

        def take() -> list[bpfnest.PerfRecord | None]:
            if how == "read":
                return list(iter(lambda: buf.read(0), None))
            got: list[bpfnest.PerfRecord | None] = []
            while buf.poll(got.append, 0):  # poll's own loop (drain), not read's
                pass
            return got

        send.test_run(PACKET, repeat=100)  # ~14 KB into 4 KiB rings: most refused
        first = take()
        refused = dropped(perfs)
        assert refused > 0 and len(first) + refused == 100
        for _ in range(3):  # the kernel writes the LOST notice with the next sample
            send.test_run(PACKET)
        after = take()
        assert sum(r.lost for r in after if r) == refused == buf.lost
        assert [seq_of(r.data) for r in after if r] == [100, 101, 102]
        assert {r.cpu for r in first + after if r} == {one_cpu}


def test_perf_async_and_close_from_another_thread(perfs: bpfnest.Collection) -> None:
    send = perfs.programs["send"]

    async def main(buf: PerfBuffer) -> list[int]:
        asyncio.get_running_loop().call_later(0.1, lambda: send.test_run(PACKET, repeat=4))
        got = []
        async for record in buf:
            got.append(seq_of(record.data))
            if len(got) == 4:
                break
        return got

    with PerfBuffer(perfs.maps["samples"]) as buf:
        assert sorted(asyncio.run(asyncio.wait_for(main(buf), 10))) == [0, 1, 2, 3]
    buf = PerfBuffer(perfs.maps["samples"])
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(buf.read()))
    t.start()
    time.sleep(0.2)
    buf.close()
    t.join(5)
    assert result == [None]


# ------------------------------------------------------------- user ring buffer


def test_user_ring_submit_writes_the_kernels_header_protocol() -> None:
    spec = ring_spec(4096, MapType.USER_RINGBUF)
    with bpfnest.Map.create(spec) as m, UserRingBuffer(m) as user:
        assert user.max_sample == 4088
        user.submit(b"hello")
        user.submit(bytearray(b"12345678"))
        # The ring read back through its layout: the producer position
        # past both records, each header the length with BUSY cleared and
        # DISCARD unset, the data after it, the next record at +8 rounded.
        mm = mmap.mmap(m.fd, PAGE + 2 * 4096, mmap.MAP_SHARED, mmap.PROT_READ, offset=PAGE)
        try:
            assert struct.unpack_from("<Q", mm, 0) == (32,)
            assert struct.unpack_from("<II5s", mm, PAGE) == (5, 0, b"hello")
            assert struct.unpack_from("<II8s", mm, PAGE + 16) == (8, 0, b"12345678")
            # Fill it: then it is full, and a sample that would wrap is
            # written contiguously across the end (the data is mapped twice).
            n = 0
            with pytest.raises(TimeoutError, match="no room for a 100-byte sample"):
                while True:
                    user.submit(bytes([n]) * 100)
                    n += 1
            assert n == (4096 - 32) // 112
            assert struct.unpack_from("<Q", mm, 0) == (32 + 112 * n,)
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                user.submit(b"x" * 100, timeout=0.2)
            assert time.monotonic() - start >= 0.2
        finally:
            mm.close()


def test_user_ring_bad_samples_and_close_wakes_a_blocked_submit() -> None:
    with bpfnest.Map.create(ring_spec(4096, MapType.USER_RINGBUF)) as m:
        user = UserRingBuffer(m)
        with pytest.raises(ValueError, match="empty sample"):
            user.submit(b"")
        with pytest.raises(ValueError, match="4089-byte sample cannot fit a 4096-byte ring"):
            user.submit(b"x" * 4089)
        with pytest.raises(TypeError, match="data must be bytes"):
            user.submit("text")  # type: ignore[arg-type]
        user.submit(b"x" * 4088)  # exactly full
        result: list[BaseException] = []
        t = threading.Thread(target=lambda: _submit_into(user, result))
        t.start()
        time.sleep(0.2)
        assert result == []
        user.close()
        t.join(5)
        assert [type(e) for e in result] == [TimeoutError]
        with pytest.raises(ValueError, match="is closed"):
            user.submit(b"z")


def _submit_into(user: UserRingBuffer, result: list[BaseException]) -> None:
    try:
        user.submit(b"y", timeout=None)
    except BaseException as err:
        result.append(err)


def test_user_ring_drained_by_a_program(objs: Callable[[str], str]) -> None:
    spec = bpfnest.CollectionSpec.from_file(objs("user_ringbuf"))
    with spec.load() as coll, UserRingBuffer(coll.maps["requests"]) as user:
        for n in range(5):
            user.submit(n.to_bytes(8, "little") + b"pad")
        coll.programs["drain"].test_run(PACKET)
        got = coll.maps["got"]
        assert [got.lookup(i) for i in range(6)] == [
            n.to_bytes(8, "little") for n in (5, 0, 1, 2, 3, 4)
        ]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("reader", "map_type", "message"),
    [
        (RingBuffer, MapType.PERF_EVENT_ARRAY, "needs a RINGBUF map, got PERF_EVENT_ARRAY 'ring'"
         " (read it with bpfnest.PerfBuffer)"),
        (RingBuffer, MapType.USER_RINGBUF, "(read it with bpfnest.UserRingBuffer)"),
        (RingBuffer, MapType.HASH, "needs a RINGBUF map, got HASH 'ring'"),
        (PerfBuffer, MapType.RINGBUF, "(read it with bpfnest.RingBuffer)"),
        (UserRingBuffer, MapType.RINGBUF, "needs a USER_RINGBUF map, got RINGBUF 'ring'"),
    ],
)  # fmt: skip
def test_wrong_map_type(reader: type, map_type: MapType, message: str) -> None:
    if map_type in (MapType.RINGBUF, MapType.USER_RINGBUF):
        spec = ring_spec(4096, map_type)
    else:
        spec = MapSpec(name="ring", type=map_type, key_size=4, value_size=4, max_entries=4)
    with bpfnest.Map.create(spec) as m:
        with pytest.raises(TypeError) as caught:
            reader(m)
        assert message in str(caught.value)
        assert "(read it with" not in str(caught.value) or map_type != MapType.HASH


@pytest.mark.parametrize(
    ("reader", "spec"),
    [
        (RingBuffer, ring_spec()),
        (UserRingBuffer, ring_spec(4096, MapType.USER_RINGBUF)),
        (PerfBuffer, MapSpec(name="ring", type=MapType.PERF_EVENT_ARRAY, key_size=4,
                             value_size=4, max_entries=64)),
    ],
)  # fmt: skip
def test_not_a_map_or_a_closed_map(reader: type, spec: MapSpec) -> None:
    with pytest.raises(TypeError, match=r"needs a bpfnest\.Map, got str"):
        reader("events")
    m = bpfnest.Map.create(spec)
    m.close()
    with pytest.raises(ValueError, match=r"'ring' is closed"):
        reader(m)


@pytest.mark.parametrize("pages", [0, 3, 6, -8, True, 2.0])
def test_perf_pages_not_a_power_of_two(perfs: bpfnest.Collection, pages: object) -> None:
    with pytest.raises(ValueError, match="pages must be a power of two"):
        PerfBuffer(perfs.maps["samples"], pages=pages)  # type: ignore[arg-type]


def test_perf_array_smaller_than_the_cpus() -> None:
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        skip_or_fail("needs 2 CPUs: a perf array smaller than the CPU count")
    spec = MapSpec(name="small", type=MapType.PERF_EVENT_ARRAY, key_size=4, value_size=4,
                   max_entries=1)  # fmt: skip
    with bpfnest.Map.create(spec) as m, pytest.raises(ValueError, match="has 1 entries but CPU"):
        PerfBuffer(m)


def test_the_leak_guard_counts_mappings(rings: bpfnest.Collection) -> None:
    check = LeakCheck()
    ring = RingBuffer(rings.maps["events"])
    try:
        problems = check.problems(timeout=0)
        assert any("mappings left" in p and "bpf-map" in p for p in problems)
    finally:
        ring.close()
    assert check.problems(timeout=0) == []


def test_negative_timeout(rings: bpfnest.Collection) -> None:
    with RingBuffer(rings.maps["events"]) as ring, pytest.raises(ValueError, match="timeout"):
        ring.read(-1)


def test_a_failure_after_the_first_ring_leaves_nothing_mapped(rings: bpfnest.Collection) -> None:
    before = bpf_mappings()
    spec = MapSpec(name="h", type=MapType.HASH, key_size=4, value_size=4, max_entries=1)
    with bpfnest.Map.create(spec) as other, pytest.raises(TypeError, match="got HASH 'h'"):
        RingBuffer(rings.maps["events"], other)
    assert bpf_mappings() == before  # and the leak guard checks the fds


def test_two_threads_reading_share_the_records(rings: bpfnest.Collection) -> None:
    emit = rings.programs["emit_reserve"]
    got: list[list[int]] = [[], []]
    with RingBuffer(rings.maps["events"]) as ring:

        def reader(mine: list[int]) -> None:
            while (rec := ring.read(timeout=0.5)) is not None:
                mine.append(seq_of(rec))

        threads = [threading.Thread(target=reader, args=(g,)) for g in got]
        for t in threads:
            t.start()
        for _ in range(5):
            emit.test_run(PACKET, repeat=200)
        for t in threads:
            t.join(10)
    assert sorted(got[0] + got[1]) == [n for n in range(1000) if n % 3]
    assert got[0] == sorted(got[0]) and got[1] == sorted(got[1])


def test_the_leak_guard_counts_perf_mappings(perfs: bpfnest.Collection) -> None:
    check = LeakCheck()
    buf = PerfBuffer(perfs.maps["samples"], pages=1)
    try:
        assert any("perf_event" in p for p in check.problems(timeout=0))
    finally:
        buf.close()
    assert check.problems(timeout=0) == []


def test_a_read_only_ring_is_refused_with_the_mmap_error(bpffs: str) -> None:
    with bpfnest.Map.create(ring_spec()) as m:
        path = os.path.join(bpffs, "ring")
        m.pin(path)
    before = bpf_mappings()
    with bpfnest.Map.from_pinned(path, readonly=True) as ro:
        with pytest.raises(OSError, match=r"mmap RINGBUF 'ring': ") as caught:
            RingBuffer(ro)
        assert caught.value.errno in (errno.EACCES, errno.EPERM)
    assert bpf_mappings() == before


def test_perf_buffer_on_a_frozen_array_leaves_nothing_open() -> None:
    spec = MapSpec(name="frozen", type=MapType.PERF_EVENT_ARRAY, key_size=4, value_size=4,
                   max_entries=64)  # fmt: skip
    before = bpf_mappings()
    with bpfnest.Map.create(spec) as m:
        m.freeze()
        with pytest.raises(bpfnest.BPFError, match=r"update PERF_EVENT_ARRAY 'frozen' slot \d+: "):
            PerfBuffer(m)
    assert bpf_mappings() == before  # the events it had opened and mapped are gone


def test_perf_callback_that_raises_loses_and_repeats_nothing(perfs: bpfnest.Collection) -> None:
    seen: list[int] = []

    def take(record: bpfnest.PerfRecord) -> None:
        seen.append(seq_of(record.data))
        if len(seen) == 4:
            raise RuntimeError("callback failed")

    with PerfBuffer(perfs.maps["samples"]) as buf:
        perfs.programs["send"].test_run(PACKET, repeat=10)
        with pytest.raises(RuntimeError, match="callback failed"):
            buf.poll(take)
        while buf.poll(take, timeout=0):  # (the samples may be on two CPUs)
            pass
        assert buf.poll(take, timeout=0) == 0
    assert sorted(seen) == list(range(10))


def _nested_read_refused(
    reader: RingBuffer | PerfBuffer, fill: bpfnest.Program, seq: Callable[[Any], int], inner: str
) -> None:
    fill.test_run(PACKET, repeat=10)
    seen: list[int] = []

    def take(record: Any) -> None:
        seen.append(seq(record))
        if len(seen) == 3:
            reader.read(0) if inner == "read" else reader.poll(print, 0)

    with pytest.raises(RuntimeError, match="from inside this reader's own poll"):
        while reader.poll(take, timeout=0):
            pass
    while reader.poll(take, timeout=0):
        pass
    assert sorted(seen) == list(range(10)), reader
    assert reader.read(0) is None  # usable as before


@pytest.mark.parametrize("inner", ["read", "poll"])
def test_reading_from_inside_the_readers_own_callback_is_refused(
    rings: bpfnest.Collection, perfs: bpfnest.Collection, inner: str
) -> None:
    """The outer poll keeps its place until it returns: a nested read would make
    records come twice, so it raises, and every record still comes once."""
    with RingBuffer(rings.maps["events"]) as ring:
        _nested_read_refused(ring, rings.programs["emit_output"], seq_of, inner)
    with PerfBuffer(perfs.maps["samples"]) as perf:
        _nested_read_refused(perf, perfs.programs["send"], lambda r: seq_of(r.data), inner)


# ------------------------------------------------------- declarations as cilium's


def test_event_maps_declared_with_types_load_and_report(objs: Callable[[str], str]) -> None:
    spec = bpfnest.CollectionSpec.from_file(objs("cilium_events"))
    sizes = {
        n: (m.key_size, m.value_size, m.btf_key_type_id, m.btf_value_type_id)
        for n, m in spec.maps.items()
        if not n.startswith(".")  # clang may put the record's initial value in .rodata.cst16
    }
    assert sizes == {"ring": (0, 0, 0, 0), "requests": (0, 0, 0, 0), "perf": (4, 4, 0, 0)}
    record = (7).to_bytes(8, "little") + (9).to_bytes(4, "little") + bytes(4)
    with (
        spec.load() as coll,
        RingBuffer(coll.maps["ring"]) as ring,
        PerfBuffer(coll.maps["perf"]) as perf,
    ):
        coll.programs["report"].test_run(PACKET)
        assert ring.read(0) == record
        got = perf.read(0)
        assert got is not None and got.data[: len(record)] == record


def test_ring_sizes_are_rounded_up_as_libbpf_does(objs: Callable[[str], str]) -> None:
    from bpfnest.collection import ring_size

    page = mmap.PAGESIZE
    spec = bpfnest.CollectionSpec.from_file(objs("ring_odd"))
    assert (spec.maps["odd"].max_entries, spec.maps["three_pages"].max_entries) == (
        10000,
        3 * page,
    )  # the spec stays as declared
    with spec.load() as coll, RingBuffer(coll.maps["odd"]) as ring:
        sizes = {n: coll.maps[n].max_entries for n in ("odd", "three_pages")}
        assert sizes == {"odd": ring_size(10000), "three_pages": 4 * page}
        coll.programs["report"].test_run(PACKET)
        assert ring.read(0) == (42).to_bytes(8, "little")
    assert [ring_size(n, 4096) for n in (0, 1, 4096, 4097, 8192, 12288, 10000)] == [
        0, 4096, 4096, 8192, 8192, 16384, 16384,
    ]  # fmt: skip
    assert ring_size(0xFFFF_F000, 4096) == 0xFFFF_F000  # no power of 2 above: the kernel says no
