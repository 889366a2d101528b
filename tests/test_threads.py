"""Threads, close() races and fork: never an operation on another object's fd number.

An fd number is reused by the next open as soon as it is closed. Every
operation that hands our number to the kernel therefore holds a borrow
(``FD.borrow``) that ``close()`` waits for, and the element fast path points
its attrs at fd -1 before the close. These tests make the interleavings
happen on purpose (an operation held open in one thread while another
closes) and check the results against the kernel.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bpfnest import Map, MapSpec, MapType, OuterMap
from bpfnest._sys import elem, ops
from bpfnest._sys import fd as fdmod

pytestmark = pytest.mark.usefixtures("kernel")

INNER = MapSpec(MapType.ARRAY, 4, 4, 2, name="inner")
ROOT = pathlib.Path(__file__).resolve().parent.parent


def kind(raw: int) -> str:
    try:
        return fdmod.fd_kind(raw)
    except OSError:
        return "closed"


@pytest.fixture
def held_syscall(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """Make ``ops.<name>`` stop before the real syscall until released.

    Returns a function taking the ops name and giving ``(entered, go)``
    events: ``entered`` is set when a thread is inside (with its borrow),
    ``go`` lets it make the real call.
    """
    gates: list[threading.Event] = []

    def hold(name: str) -> tuple[threading.Event, threading.Event]:
        real = getattr(ops, name)
        entered, go = threading.Event(), threading.Event()
        gates.append(go)

        def held(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            assert go.wait(10), "the test never released the syscall"
            return real(*args, **kwargs)

        monkeypatch.setattr(ops, name, held)
        return entered, go

    yield hold
    for go in gates:
        go.set()


def test_close_waits_for_an_operation_in_flight(held_syscall: Callable[[str], Any]) -> None:
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 8, name="busy"))
    m[1] = 7
    number = m.fd
    entered, go = held_syscall("map_info")
    results: list[Any] = []
    reader = threading.Thread(target=lambda: results.append(m.info()))
    reader.start()
    assert entered.wait(10)
    closer = threading.Thread(target=m.close)
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive()  # close waits for the borrow ...
    assert kind(number) == "anon_inode:bpf-map"  # ... and the number is still this map's
    assert m.closed
    with pytest.raises(ValueError, match="HASH 'busy' is closed"):
        m.info()  # new operations fail at once
    go.set()
    reader.join(10)
    closer.join(10)
    assert results and results[0].name == "busy"  # the one in flight completed on this map
    assert kind(number) == "closed"


def test_close_inside_own_borrow_is_deferred() -> None:
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 8, name="self"))
    number = m.fd
    with m._use() as raw:
        m.close()  # same thread: does not wait for itself
        assert m.closed
        assert kind(raw) == "anon_inode:bpf-map"
    assert kind(number) == "closed"


def test_an_inner_map_closed_during_an_outer_update_is_never_replaced_by_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """outer[k] = inner holds inner's fd: a close waits, and the next map gets another number."""
    entered, go = threading.Event(), threading.Event()
    real = OuterMap._encode_inner

    def encode_then_wait(self: OuterMap, inner: object, key: object = None) -> bytes:
        raw = real(self, inner, key)  # the fd number is read: the syscall comes next
        entered.set()
        assert go.wait(10)
        return raw

    monkeypatch.setattr(OuterMap, "_encode_inner", encode_then_wait)
    with Map.create(MapSpec(MapType.HASH_OF_MAPS, 4, 4, 4, name="outer", inner=INNER)) as outer:
        assert isinstance(outer, OuterMap)
        inner = Map.create(INNER)
        intended, number = inner.id, inner.fd
        writer = threading.Thread(target=outer.update, args=(0, inner))
        writer.start()
        try:
            assert entered.wait(10)
            closer = threading.Thread(target=inner.close)
            closer.start()
            time.sleep(0.1)
            assert closer.is_alive()  # waiting for the update's borrow
            with Map.create(INNER) as decoy:
                assert decoy.fd != number  # so the decoy cannot take the number
                go.set()
                writer.join(10)
                closer.join(10)
                assert outer.lookup(0) == intended
        finally:
            go.set()
            writer.join(10)
            inner.close()


def test_iteration_of_a_map_closed_by_another_thread_fails_cleanly() -> None:
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 4096, name="walk"))
    m.update_batch({k: k for k in range(4096)})
    it = iter(m.items())
    first = next(it)
    assert len(first) == 2
    threading.Thread(target=m.close).start()
    with pytest.raises(ValueError, match="HASH 'walk' is closed"):
        for _ in it:
            pass


def test_readers_writers_and_get_map_while_slots_are_replaced() -> None:
    """Lookups, inner_lookup and get_map on an outer map whose slots another thread swaps."""
    spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="swapped", inner=INNER)
    errors: list[BaseException] = []
    ids: set[int] = set()
    stop = threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with Map.create(spec) as outer:
            assert isinstance(outer, OuterMap)

            def swapper() -> None:
                try:
                    for gen in range(1, 60):
                        with Map.create(INNER) as m:
                            m[0] = gen
                            ids.add(m.id)
                            outer.update_batch({slot: m for slot in range(4)})
                finally:
                    stop.set()

            def reader() -> None:
                try:
                    while not stop.is_set():
                        for slot in range(4):
                            got = outer.inner_lookup(slot, 0)
                            assert got is None or 1 <= int.from_bytes(got, "little") < 60
                            inner = outer.get_map(slot)
                            if inner is not None:
                                with inner:
                                    assert inner.id in ids  # a map that was in the slot
                                    assert 1 <= int.from_bytes(inner[0], "little") < 60
                except BaseException as err:  # reported below
                    errors.append(err)
                    stop.set()

            threads = [threading.Thread(target=swapper)] + [
                threading.Thread(target=reader) for _ in range(3)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join(60)
            assert errors == []
            assert outer.inner_lookup(0, 0) == (59).to_bytes(4, "little")
    finally:
        sys.setswitchinterval(interval)


FORK = """
import os, sys
from bpfnest import Map, MapSpec, MapType
m = Map.create(MapSpec(MapType.HASH, 4, 4, 8, name="forked"))
m[1] = 10
pid = os.fork()
if pid == 0:
    # The child uses the map, drops it without close and exits through the
    # interpreter: finalizers and atexit close the child's copies only.
    assert m[1] == (10).to_bytes(4, "little")
    m[2] = 20
    del m
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert m[2] == (20).to_bytes(4, "little")
m[3] = 30
assert os.readlink(f"/proc/self/fd/{m.fd}") == "anon_inode:bpf-map"
m.close()
print("ok")
"""


def test_a_forked_child_does_not_close_the_parents_maps() -> None:
    res = subprocess.run(
        [sys.executable, "-c", FORK],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


# ------------------------------------------------------------------------ fork

FORK_TIMEOUT = 10.0


def in_forked_child(action: Callable[[], None]) -> str:
    """Run ``action`` in a forked child; return "ok", its traceback, or "hung"
    (the child is killed after ``FORK_TIMEOUT`` seconds so the test fails, not hangs)."""
    import signal
    import traceback

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists here
        status = 1
        try:
            os.close(r)
            action()
            os.write(w, b"ok")
            status = 0
        except BaseException:
            os.write(w, traceback.format_exc().encode()[-30000:])
        finally:
            os._exit(status)
    os.close(w)
    deadline = time.monotonic() + FORK_TIMEOUT
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return "hung"
        time.sleep(0.01)
    with os.fdopen(r, "rb") as f:
        return f.read().decode(errors="replace")


@pytest.fixture
def held_in_parent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any, str], Any]]:
    """Make ``owner.<name>`` stop until released, in this process only (a forked
    child calls the real one). Gives ``(entered, go)`` events, as ``held_syscall``."""
    gates: list[threading.Event] = []
    parent = os.getpid()

    def hold(owner: Any, name: str) -> tuple[threading.Event, threading.Event]:
        real = getattr(owner, name)
        entered, go = threading.Event(), threading.Event()
        gates.append(go)

        def held(*args: Any, **kwargs: Any) -> Any:
            if os.getpid() == parent:
                entered.set()
                assert go.wait(FORK_TIMEOUT + 10), "the test never released the call"
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, held)
        return entered, go

    yield hold
    for go in gates:
        go.set()


Scenario = tuple[Callable[[], None], list[Callable[[], None]]]


def start_held(
    hold: Callable[[Any, str], Any], owner: Any, name: str, target: Callable[..., Any], *args: Any
) -> Callable[[], None]:
    """Start ``target(*args)`` in a thread and wait until it is held at ``owner.name``;
    return what lets it go on and joins it."""
    entered, go = hold(owner, name)
    t = threading.Thread(target=target, args=args)
    t.start()
    assert entered.wait(10)

    def release() -> None:
        go.set()
        t.join(10)

    return release


def outer_update_in_flight(hold: Callable[[Any, str], Any]) -> Scenario:
    """A thread inside an outer map update (its lock and the inner map's borrow held)."""
    outer = Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="fork_out", inner=INNER))
    inner, other = Map.create(INNER), Map.create(INNER)
    release = start_held(hold, elem, "syscall_released", outer.update, 0, inner)

    def child() -> None:
        outer.update(1, other)
        assert outer.lookup(1) == other.id
        assert outer.lookup(0) is None  # the parent's update never ran here
        inner.close()
        other.close()
        outer.close()

    return child, [release, outer.close, inner.close, other.close]


def items_in_flight(hold: Callable[[Any, str], Any]) -> Scenario:
    """A thread inside items() (the map's fd borrowed for a LOOKUP_BATCH)."""
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 64, name="fork_items"))
    m.update_batch({k: k for k in range(16)})
    release = start_held(hold, ops, "lookup_into", lambda: list(m.items()))

    def child() -> None:
        assert m[3] == (3).to_bytes(4, "little")
        m[3] = 4
        assert len(list(m.items())) == 16
        m.close()

    return child, [release, m.close]


def close_in_flight(hold: Callable[[Any, str], Any]) -> Scenario:
    """One thread inside info(), another in close() waiting for it."""
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="fork_close"))
    release = start_held(hold, ops, "map_info", m.info)
    closer = threading.Thread(target=m.close)
    closer.start()
    time.sleep(0.1)  # the closer is waiting for the reader's borrow

    def child() -> None:
        number = m._fd._raw
        assert m.closed
        m.close()  # the close begun in the parent completes here
        assert kind(number) == "closed"
        with pytest.raises(ValueError, match="closed"):
            m.lookup(1)

    return child, [release, lambda: closer.join(10)]


def elem_build_in_flight(hold: Callable[[Any, str], Any]) -> Scenario:
    """A thread building a map's element fast path (the module lock held)."""
    m = Map.create(MapSpec(MapType.PERCPU_HASH, 4, 4, 4, name="fork_pcpu"))
    release = start_held(hold, Map, "_make_elem", m.lookup, 1)

    def child() -> None:
        with Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="fork_new")) as new:
            new[1] = 2
        assert m.lookup(1) is None
        m.close()

    return child, [release, m.close]


class _Gate:
    def wait(self) -> None:
        """Where a thread is held (see ``held_in_parent``)."""


def cache_lock_held(hold: Callable[[Any, str], Any]) -> Scenario:
    """A thread holding an outer map's inner-map cache lock."""
    outer = Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="fork_cache", inner=INNER))
    assert isinstance(outer, OuterMap)
    inner = Map.create(INNER)
    inner[1] = 5
    outer[0] = inner
    gate = _Gate()

    def holder() -> None:
        with outer._cache_lock:
            gate.wait()

    release = start_held(hold, gate, "wait", holder)

    def child() -> None:
        assert outer.inner_lookup(0, 1) == (5).to_bytes(4, "little")
        outer.clear_cache()
        outer.close()
        inner.close()

    return child, [release, outer.close, inner.close]


@pytest.mark.parametrize(
    "scenario",
    [
        outer_update_in_flight,
        items_in_flight,
        close_in_flight,
        elem_build_in_flight,
        cache_lock_held,
    ],
    ids=["outer update", "items()", "close waiting", "fast path build", "inner cache lock"],
)
def test_a_child_forked_during_an_operation_can_use_and_close_everything(
    scenario: Callable[[Callable[[Any, str], Any]], Scenario],
    held_in_parent: Callable[[Any, str], Any],
) -> None:
    child, cleanup = scenario(held_in_parent)
    try:
        result = in_forked_child(child)
    finally:
        for step in cleanup:
            step()
    assert result == "ok", result
