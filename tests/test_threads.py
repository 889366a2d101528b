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
from bpfnest._sys import fd as fdmod
from bpfnest._sys import ops

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
