"""The leak guard itself: it must catch what a test leaks, and only that.

A guard that cannot fail proves nothing, so each kind of leak it claims to
catch is made on purpose here and the guard's verdict is checked; then the
leak is cleaned up so that the real guard around this test stays quiet.
"""

from __future__ import annotations

import os

import pytest

from bpfnest import Map, MapSpec, MapType
from bpfnest._sys import ops

from support import LeakCheck, own_map_ids

pytestmark = pytest.mark.usefixtures("kernel")

SPEC = MapSpec(MapType.ARRAY, 4, 4, 1, name="leak_me")


def raw_array() -> int:
    """A bare fd number of a new map: no FD owns it."""
    with ops.map_create(map_type=int(MapType.ARRAY), key_size=4, value_size=4, max_entries=1) as fd:
        return os.dup(fd.raw)


def test_an_open_map_is_a_leak() -> None:
    check = LeakCheck()
    m = Map.create(SPEC)
    try:
        problems = check.problems(timeout=0.1)
        assert any("still open" in p for p in problems), problems
        assert any(f"{m.id}" in p and "maps leaked" in p for p in problems), problems
    finally:
        m.close()
    assert check.problems() == []


def test_a_pinned_map_with_no_fd_is_a_leak(bpffs: str) -> None:
    check = LeakCheck()
    path = os.path.join(bpffs, "leaked")
    with Map.create(SPEC) as m:
        m.pin(path)
        leaked_id = m.id
    problems = check.problems(timeout=0.1)
    assert problems == [f"BPF maps leaked (ids still in the system): [{leaked_id}]"]
    os.unlink(path)
    assert check.problems() == []


def test_a_raw_fd_is_a_leak() -> None:
    check = LeakCheck()
    raw = raw_array()
    try:
        problems = check.problems(timeout=0.1)
        assert any(f"leaked: [{raw}]" in p for p in problems), problems
    finally:
        os.close(raw)
    assert check.problems() == []


def test_maps_of_another_process_are_not_ours() -> None:
    """A map made by another process (here a forked child that pins nothing and
    holds its map while the parent looks) is not in this process's count."""
    read_end, write_end = os.pipe()
    go_end, wait_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(wait_end)
            os.close(read_end)
            raw = raw_array()
            os.write(write_end, ops.map_info(raw).id.to_bytes(4, "little"))
            os.read(go_end, 1)
        finally:
            os._exit(0)
    os.close(write_end)
    os.close(go_end)
    try:
        child_id = int.from_bytes(os.read(read_end, 4), "little")
        assert child_id and child_id not in own_map_ids()
    finally:
        os.close(wait_end)
        os.close(read_end)
        os.waitpid(pid, 0)
