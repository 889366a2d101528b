"""All or nothing, as the kernel sees it: a load that fails at any step leaves nothing behind.

tests/bpf/all_steps.c has every step of a Collection load (BTF, global data
and its freeze, a reused pin, new maps, an outer map, programs, declared
slots of an outer map and a PROG_ARRAY, a new pin). A dry run counts how
often each step's function is called; then each call in turn is made to
fail, and after each failure the kernel must show no new maps, no new
programs, no new pins, and the reused pinned map unchanged.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bpfnest import BPFError, CollectionSpec, Map, OuterMap, Program
from bpfnest._object import KernelObject
from bpfnest._sys import ops

from support import own_map_ids, own_prog_ids, wait_maps_gone, wait_progs_gone

pytestmark = pytest.mark.usefixtures("kernel")

MARK = (0xFEED).to_bytes(8, "little")


class Injected(BPFError):
    pass


# (owner, attribute): the functions a load goes through, one per step.
STEPS: list[tuple[Any, str]] = [
    (ops, "btf_load"),
    (Map, "from_pinned"),
    (Map, "create"),
    (Map, "__setitem__"),  # global data filled in
    (Map, "freeze"),  # .rodata
    (Program, "load"),
    (OuterMap, "update_batch"),  # declared slots of the outer map
    (Map, "update_batch"),  # declared slots of the PROG_ARRAY
    (OuterMap, "update"),  # the per-slot fallback, after a refused batch
    (KernelObject, "pin"),
]


def counting(
    monkeypatch: pytest.MonkeyPatch, owner: Any, attr: str, fail_at: int, *, onwards: bool = False
) -> list[int]:
    """Wrap ``owner.attr``: count the calls, and raise ``Injected`` on call ``fail_at``
    (1-based; 0 never), or on every call from it with ``onwards``."""
    # As the class (or a base of it) defines it, e.g. Map.update_batch on the batch layer.
    real = next(vars(k)[attr] for k in getattr(owner, "__mro__", [owner]) if attr in vars(k))
    calls = [0]
    is_static = isinstance(real, staticmethod)
    is_class = isinstance(real, classmethod)
    func = real.__func__ if is_static or is_class else real

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if fail_at and (calls[0] == fail_at or (onwards and calls[0] > fail_at)):
            raise Injected(errno.EIO, f"injected failure in {attr} (call {fail_at})")
        return func(*args, **kwargs)

    if is_class:

        def cls_wrapper(cls: Any, *args: Any, **kwargs: Any) -> Any:
            return wrapper(cls, *args, **kwargs)

        monkeypatch.setattr(owner, attr, classmethod(cls_wrapper))
    elif is_static:
        monkeypatch.setattr(owner, attr, staticmethod(wrapper))
    else:
        monkeypatch.setattr(owner, attr, wrapper)
    return calls


def unpin_new(bpffs: str) -> None:
    for name in ("steps_new", "steps_new2"):
        os.unlink(os.path.join(bpffs, name))


@pytest.fixture
def pinned(objs: Callable[..., str], bpffs: str) -> Iterator[tuple[str, str]]:
    """tests/bpf/all_steps.o with ``steps_reused`` already pinned (holding MARK at key 0)."""
    path = objs("all_steps")
    with CollectionSpec.from_file(path).load(pin_root=bpffs) as coll:
        coll.maps["steps_reused"][0] = MARK
    unpin_new(bpffs)  # the next load creates and pins them
    yield path, bpffs


def test_a_load_that_fails_at_any_step_leaves_nothing(
    pinned: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, bpffs = pinned
    # The dry run: how often does a good load call each step?
    counts = {}
    with monkeypatch.context() as mp:
        calls = {(o, a): counting(mp, o, a, fail_at=0) for o, a in STEPS}
        with CollectionSpec.from_file(path).load(pin_root=bpffs) as coll:
            assert coll.programs["steps_entry"].test_run(bytes(64)).retval == 9
        counts = {k: c[0] for k, c in calls.items()}
    unpin_new(bpffs)
    assert counts[(ops, "btf_load")] == 1
    assert counts[(Map, "from_pinned")] == 1 and counts[(KernelObject, "pin")] == 2
    assert counts[(Map, "create")] >= 6 and counts[(Program, "load")] == 2
    assert counts[(Map, "freeze")] == 1 and counts[(OuterMap, "update")] == 0

    # Each call of each step fails in turn. A refused slot batch is not a
    # failure (the slots are then set one by one), so for those the load must
    # succeed; the per-slot fallback is made to fail with every batch refused.
    recovered = {(OuterMap, "update_batch"), (Map, "update_batch")}
    cases: list[tuple[Any, str, int, bool]] = [
        (o, a, n, False) for (o, a), c in counts.items() for n in range(1, c + 1)
    ]
    setitems = counts[(Map, "__setitem__")]
    cases += [
        (OuterMap, "update", 1, True),
        (Map, "__setitem__", setitems + 1, True),
        (Map, "__setitem__", setitems + 2, True),
    ]
    reused = Map.from_pinned(os.path.join(bpffs, "steps_reused"))
    try:
        for owner, attr, n, no_batches in cases:
            where = f"{attr} call {n}" + (" with every batch refused" if no_batches else "")
            maps_before, progs_before = own_map_ids(), own_prog_ids()
            with monkeypatch.context() as mp:
                counting(mp, owner, attr, fail_at=n)
                if no_batches:
                    counting(mp, Map, "update_batch", fail_at=1, onwards=True)
                if (owner, attr) in recovered:
                    with CollectionSpec.from_file(path).load(pin_root=bpffs) as coll:
                        assert coll.programs["steps_entry"].test_run(bytes(64)).retval == 9
                    unpin_new(bpffs)
                else:
                    with pytest.raises(BPFError, match=f"injected failure in {attr}"):
                        CollectionSpec.from_file(path).load(pin_root=bpffs)
            assert not wait_maps_gone(own_map_ids() - maps_before), f"maps left: {where}"
            assert not wait_progs_gone(own_prog_ids() - progs_before), f"progs left: {where}"
            assert os.listdir(bpffs) == ["steps_reused"], f"pins left: {where}"
            assert dict(reused.items()) == {bytes(4): MARK}, f"reused map changed: {where}"
    finally:
        reused.close()


def test_a_refused_slot_batch_falls_back_per_slot(
    pinned: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, bpffs = pinned
    counting(monkeypatch, OuterMap, "update_batch", fail_at=1)
    with CollectionSpec.from_file(path).load(pin_root=bpffs) as coll:
        outer = coll.maps["steps_outer"]
        assert outer[1] == coll.maps["steps_inner"].id
        assert coll.programs["steps_entry"].test_run(bytes(64)).retval == 9


@pytest.mark.parametrize("outer", [False, True])
def test_batch_with_an_index_out_of_range_applies_nothing(outer: bool) -> None:
    from bpfnest import MapSpec, MapType

    inner = MapSpec(MapType.ARRAY, 4, 4, 1, name="inner")
    spec = (
        MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="outer", inner=inner)
        if outer
        else MapSpec(MapType.ARRAY, 4, 4, 4, name="array")
    )
    with Map.create(spec) as m, Map.create(inner) as a, Map.create(inner) as b:
        value: Any = (lambda x: a if x == 0 else b) if outer else (lambda x: x + 1)
        before = dict(m.items())
        with pytest.raises(
            BPFError, match=r"(key|slot) 4: .*below max_entries 4; nothing was applied"
        ):
            m.update_batch({0: value(0), 1: value(1), 4: value(4)})
        assert dict(m.items()) == before
        assert m.update_batch({0: value(0), 3: value(3)}) == 2
