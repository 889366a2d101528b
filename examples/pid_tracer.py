"""A per-process tracer on a real tracepoint, one inner map per traced process.

``count_getpgid`` (in ``pid_tracer.bpf.c``) is attached to the tracepoint
``syscalls/sys_enter_getpgid`` with ``Program.attach_tracepoint``: it runs
at every getpgid(2) call in the system. ``by_pid``, a HASH_OF_MAPS, maps the
pids being traced to each one's own ``calls`` map, where the program counts
the calls by argument. The script starts worker processes, traces some of
them by giving them a map, lets them call getpgid a known number of times,
and checks that each traced worker's calls were counted exactly, in its own
map, and that an untraced worker left no trace. After the link is closed,
a traced worker's calls are not counted at all.

The tracepoint's id comes from tracefs. When tracefs is not mounted, the
script mounts it in a mount namespace of its own (no other process sees
that mount or loses it) and unmounts it at the end.

Run it as root from the repository root: ``python examples/pid_tracer.py``
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import subprocess
from collections.abc import Iterator

from buildobj import build

from bpfnest import CollectionSpec, Map, MapSpec, OuterMap

CLONE_NEWNS = 0x00020000
TRACEFS = "/sys/kernel/tracing"
# worker name -> (getpgid(0) calls, getpgid(parent) calls, traced?)
WORKERS = {"w1": (10, 1, True), "w2": (25, 2, True), "w3": (7, 0, False)}


def tracefs_in_mounts() -> str | None:
    """Where tracefs is mounted (from /proc/self/mounts), or None."""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "tracefs":
                return parts[1]
    return None


@contextlib.contextmanager
def tracefs() -> Iterator[str]:
    """tracefs for the attach: the one mounted, else one mounted for this process only."""
    found = tracefs_in_mounts()
    if found is not None:
        yield found
        return
    # A mount namespace of our own (a copy of the current one): what we mount
    # here is invisible to other processes, and gone when this process is.
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed (needs CAP_SYS_ADMIN)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
    print(f"mounted tracefs at {TRACEFS} for this process")
    try:
        yield TRACEFS
    finally:
        subprocess.run(["umount", TRACEFS], check=True)
        print(f"unmounted {TRACEFS}")


def start(zeros: int, parents: int) -> tuple[int, int]:
    """Fork a worker that, once told to go, calls getpgid(0) ``zeros`` times and
    getpgid(parent) ``parents`` times, then exits. Its pid and the fd to tell it."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(go_w)
            os.read(go_r, 1)
            parent = os.getppid()
            for _ in range(zeros):
                os.getpgid(0)
            for _ in range(parents):
                os.getpgid(parent)
            status = 0
        finally:
            os._exit(status)  # the child leaves the parent's objects to the parent
    os.close(go_r)
    return pid, go_w


def run(pid: int, go: int) -> None:
    """Let worker ``pid`` go and wait for it to finish."""
    os.write(go, b"g")
    os.close(go)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"worker {pid} failed"


def counted(by_pid: OuterMap, pid: int) -> dict[int, int]:
    """The calls counted in ``pid``'s own map: {argument: calls}."""
    with by_pid.open_inner(pid) as calls:  # opened by id: ours to close
        found = {int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in calls.items()}
    return dict(sorted(found.items()))


def main() -> None:
    spec = CollectionSpec.from_file(build("pid_tracer"))
    template = spec.maps["by_pid"].inner  # struct calls: HASH, u32 argument -> u64 calls
    assert isinstance(template, MapSpec)
    me = os.getpid()

    with tracefs(), spec.load() as coll:
        by_pid = coll.maps["by_pid"]
        assert isinstance(by_pid, OuterMap)
        prog = coll.programs["count_getpgid"]

        with prog.attach_tracepoint("syscalls", "sys_enter_getpgid") as link:
            info = link.info()
            print(f"attached {prog.name} to {info.perf_event} {info.name}: link id {link.id}")
            workers = {name: start(zeros, parents) for name, (zeros, parents, _) in WORKERS.items()}
            for name, (pid, _) in workers.items():
                if WORKERS[name][2]:  # trace it: a map of its own, put in by fd
                    with Map.create(dataclasses.replace(template, name=f"calls_{pid}")) as m:
                        by_pid[pid] = m
            untraced_before = int.from_bytes(coll.get_global("untraced"), "little")
            for pid, go in workers.values():
                run(pid, go)

            for name, (pid, _) in workers.items():
                zeros, parents, traced = WORKERS[name]
                if not traced:
                    assert pid not in by_pid
                    print(f"  {name} (pid {pid}): not traced, {zeros} calls, no map")
                    continue
                seen = counted(by_pid, pid)
                print(
                    f"  {name} (pid {pid}): {seen}  (getpgid(0) x{zeros}, getpgid({me}) x{parents})"
                )
                assert seen == {0: zeros, **({me: parents} if parents else {})}
                del by_pid[pid]  # done with it: its map goes with the slot
            untraced = int.from_bytes(coll.get_global("untraced"), "little") - untraced_before
            # Every process's calls reach the program: w3's at least, maybe others'.
            print(f"  untraced calls meanwhile (w3's and any other process's): {untraced}")
            assert untraced >= WORKERS["w3"][0]

        # The link is closed: the program is off the tracepoint.
        pid, go = start(5, 0)
        with Map.create(dataclasses.replace(template, name="calls_late")) as m:
            by_pid[pid] = m
        run(pid, go)
        print(f"after the link closed: a traced worker's 5 calls -> {counted(by_pid, pid)}")
        assert counted(by_pid, pid) == {}
        del by_pid[pid]


if __name__ == "__main__":
    main()
