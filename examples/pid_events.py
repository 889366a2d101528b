"""Per-process events: a HASH_OF_MAPS of per-process ring buffers, one poller.

``by_pid`` (declared in ``pid_events.bpf.c``) maps a process id to that
process's own ring buffer; ``on_syscall``, a ``raw_tp/sys_enter`` program,
writes an event (pid, thread id, syscall number, command name) into the ring
of the process making the syscall, and ignores processes that have no ring.

The script starts three worker processes, gives each a ring in ``by_pid``,
reads all the rings with one ``RingBuffer`` while the workers produce, and
checks that each process's events arrived once, in order, in its own ring.
Each worker runs the program through ``Program.test_run`` with the
arguments ``sys_enter`` passes (``args[1]``: the syscall number), which
keeps the output exact; attached to the tracepoint, the same program sees
every syscall of the traced processes and the reading side is unchanged.

Run it as root from the repository root: ``python examples/pid_events.py``
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import struct
import time

from buildobj import build

from bpfnest import CollectionSpec, Map, OuterMap, Program, RingBuffer

EVENT = struct.Struct("<IIQ16s")  # struct event: pid, tid, nr, comm
SYSCALLS = {0: "read", 1: "write", 3: "close", 39: "getpid"}
WORKERS = 3


def syscalls_of(worker: int) -> list[int]:
    """The syscall numbers worker ``worker`` makes, in order."""
    numbers = list(SYSCALLS)
    return [numbers[i % len(numbers)] for i in range(50 * (worker + 1))]


def worker(k: int, prog: Program, go: int) -> None:
    """A traced process: wait for the go, then make its syscalls."""
    with open("/proc/self/comm", "w") as comm:
        comm.write(f"worker-{k}")
    os.read(go, 1)
    for nr in syscalls_of(k):
        prog.test_run(ctx=struct.pack("<QQ", 0, nr))  # sys_enter's (regs, id)


def start_worker(k: int, prog: Program) -> tuple[int, int]:
    """Fork worker ``k``; return its pid and the fd that starts it."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            worker(k, prog, go_r)
        except BaseException:
            status = 1
        os._exit(status)  # the child leaves the parent's objects to the parent
    os.close(go_r)
    return pid, go_w


def main() -> None:
    spec = CollectionSpec.from_file(build("pid_events"))
    template = spec.maps["by_pid"].inner  # struct pid_ring: RINGBUF, 16 KiB
    assert template is not None and not isinstance(template, Map)

    with spec.load() as coll:
        by_pid = coll.maps["by_pid"]
        assert isinstance(by_pid, OuterMap)
        prog = coll.programs["on_syscall"]
        workers = dict(start_worker(k, prog) for k in range(WORKERS))
        names = {pid: f"worker-{k}" for k, pid in enumerate(workers)}

        # Trace each worker: a ring of its own in by_pid. Ours is closed at
        # once; the outer map holds the ring.
        for pid in workers:
            with Map.create(dataclasses.replace(template, name=f"pid_{pid}")) as ring:
                by_pid[pid] = ring
        print(f"tracing {sum(1 for _ in by_pid)} processes: {sorted(names.values())}")

        events: dict[int, list[tuple[int, int, str]]] = collections.defaultdict(list)

        def take(view: memoryview) -> None:
            pid, tid, nr, comm = EVENT.unpack(view)
            events[pid].append((tid, nr, comm.rstrip(b"\0").decode()))

        expected = {pid: syscalls_of(k) for k, pid in enumerate(workers)}
        total = sum(map(len, expected.values()))
        with contextlib.ExitStack() as stack:
            # One poller for every ring, opened from the outer map (as another
            # process that knows only by_pid would); the reader keeps its own
            # fds, so the Maps of open_inner may close at once.
            rings = [stack.enter_context(by_pid.open_inner(pid)) for pid in workers]
            poller = stack.enter_context(RingBuffer(*rings))
            for go in workers.values():
                os.write(go, b"g")
                os.close(go)
            deadline = time.monotonic() + 30
            while sum(map(len, events.values())) < total and time.monotonic() < deadline:
                poller.poll(take, timeout=1)
        for pid in workers:
            _, status = os.waitpid(pid, 0)
            assert status == 0, f"worker {pid} failed"
            del by_pid[pid]  # stop tracing it; its ring goes with the last fd

        print(f"{total} events, {sum(1 for _ in by_pid)} processes still traced")
        for pid, seen in sorted(events.items(), key=lambda item: names[item[0]]):
            counts = collections.Counter(SYSCALLS[nr] for _, nr, _ in seen)
            print(f"  {names[pid]}: {len(seen)} events, comm {seen[0][2]!r}, {dict(counts)}")
            assert [nr for _, nr, _ in seen] == expected[pid]  # once each, in order
            assert all(tid == pid and comm == names[pid] for tid, _, comm in seen)
        full = int.from_bytes(coll.get_global("full"), "little")
        assert set(events) == set(workers) and full == 0
        prog.test_run(ctx=struct.pack("<QQ", 0, 39))  # this process has no ring
        print(f"untraced calls: {int.from_bytes(coll.get_global('untraced'), 'little')}")


if __name__ == "__main__":
    main()
