"""Soak: inner maps churned and swapped for a long time under a program that keeps reading.

One body, :func:`run_soak`, at two sizes: ``test_soak_short`` in the default
run (CI) and ``test_soak_full``, marked ``soak`` and left out of the default
run (``pytest -m soak -s tests/test_soak.py``; see tests/SOAK.md for how to run
it and the figures of the last full run).

Three threads at once, on the collection of tests/bpf/soak.c:

- **churn** (HASH_OF_MAPS ``churn``): cycles of create an inner map, fill it,
  insert it at a key, close the user's fd, delete the key, in batches;
- **swap** (ARRAY_OF_MAPS ``slot``): a fresh inner map, filled with its own
  generation, replaces the one in slot 0, one update (one RCU wait) a swap;
- **reader**: ``test_run`` of ``soak_read`` in a loop (bpf(2) is called with
  the GIL released, so it runs while the others sleep in the kernel). The
  program reads slot 0 and one churn key through the outer maps, checks every
  entry itself, and reports what it saw in the packet.

The program must never see a freed or half-filled inner map: every entry it
reads is ``{gen, MAGIC, ~gen, index}`` of a generation that was put in. At the
end no fd and no map is left, and the figures are printed (``-s``) and written
as JSON to ``$BPFNEST_SOAK_REPORT`` when that is set.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import pytest

from bpfnest import Collection, CollectionSpec, Map, MapSpec, MapType, OuterMap, Program

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

Objs = Callable[..., str]

# Mirrors tests/bpf/soak.c.
MAGIC = 0x50A1C0DE
ENTRIES = 4
SOAK_OK, SOAK_BAD = 2, 0xBAD
SEEN_NONE, SEEN_GOOD, SEEN_BAD = 0, 1, 2
STATS = (
    "runs",
    "slot_none",
    "slot_good",
    "slot_bad",
    "churn_none",
    "churn_good",
    "churn_bad",
)
ENTRY = struct.Struct("=4I")  # struct gen_value: gen, magic, not_gen, index
REPORT = struct.Struct(f"=4I{4 * ENTRIES}I")  # struct report
INNER = MapSpec(MapType.ARRAY, 4, ENTRY.size, ENTRIES, name="soak_gen")

#: One run per test_run. An XDP test_run with repeat > 1 costs ~17 ms a call
#: here (~32 ms under this soak's load) whatever the count, against ~10 us for
#: repeat=1 (SCHED_CLS and SOCKET_FILTER do not pay it): the kernel switches
#: the XDP dispatcher to the program and back, waiting for RCU.
REPEAT = 1


def entries(gen: int) -> list[bytes]:
    """The ENTRIES values of an inner map of generation ``gen``."""
    return [ENTRY.pack(gen, MAGIC, gen ^ 0xFFFFFFFF, i) for i in range(ENTRIES)]


def fill(m: Map, values: list[bytes]) -> None:
    """Write ``values`` at keys 0, 1, ... of ``m``."""
    for i, value in enumerate(values):
        m[i] = value


def filled_inner(gen: int) -> Map:
    """A new inner map with every entry of generation ``gen`` written; the caller closes it."""
    m = Map.create(INNER)
    try:
        fill(m, entries(gen))
    except BaseException:
        m.close()
        raise
    return m


def packet(churn_key: int) -> bytes:
    """The program's input: struct report with churn_key set."""
    return REPORT.pack(churn_key, *[0] * (REPORT.size // 4 - 1))


def read_stats(coll: Collection) -> dict[str, int]:
    """The program's counters (`stats` in soak.c) by name."""
    stats = coll.maps["stats"]
    return {n: int.from_bytes(stats[i], sys.byteorder) for i, n in enumerate(STATS)}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) - 1  # listdir's own fd


@dataclass
class SoakFigures:
    """What one soak did; printed and written to $BPFNEST_SOAK_REPORT."""

    name: str
    cycles: int = 0  # inner maps created, inserted, closed and deleted in `churn`
    batches: int = 0  # update_batch + delete_batch pairs (two RCU waits each)
    batch_size: int = 0
    swaps: int = 0  # inner maps put in `slot` slot 0 (each replaces the one before)
    test_runs: int = 0  # test_run calls
    program_runs: int = 0  # times the program ran (test_runs * REPEAT), from `stats`
    generations_seen: int = 0  # distinct slot-0 generations in the reports
    churn_hits: int = 0  # program runs that found an inner map in `churn`, from `stats`
    elapsed_s: float = 0.0
    churn_s: float = 0.0  # time the churn thread took
    swap_s: float = 0.0  # time the swap thread took
    fds_before: int = 0
    peak_fds: int = 0
    fds_after: int = 0
    maps_left: int = 0  # maps of this soak still in the system at the end
    max_rss_mb: float = 0.0  # peak resident memory of the whole (pytest) process
    passed: bool = False  # every check held (the figures are reported either way)


class Worker(threading.Thread):
    """A thread that keeps the exception that ended it; the first failure stops the others."""

    def __init__(self, name: str, body: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.body, self.stop = body, stop
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        start = time.monotonic()
        try:
            self.body()
        except BaseException as err:  # re-raised by the main thread
            self.error = err
            self.stop.set()
        finally:
            self.seconds = time.monotonic() - start


@dataclass
class Issued:
    """The highest generations handed out so far (written before each update)."""

    slot: int = 0
    churn: int = 0


def run_soak(objs: Objs, *, name: str, cycles: int, swaps: int, batch: int) -> SoakFigures:
    """Run the soak and check it; return its figures.

    How cycles are counted: one cycle is one inner map created, filled,
    inserted in ``churn``, its user fd closed, and its key deleted. Each
    successful outer update or delete waits for an RCU grace period (~8-12
    ms), so the cycles go ``batch`` at a time: one ``update_batch`` of
    ``batch`` maps (keys 0..batch-1, one RCU wait), the fds closed, one
    ``delete_batch`` of the same keys (one RCU wait). ``cycles`` must be a
    multiple of ``batch``. Swaps are one-by-one: ``swaps`` inner maps of
    generations 1..swaps put in slot 0 in turn, each update waiting for RCU.
    The inner map in churn key ``k`` of batch ``b`` has generation
    ``b * batch + k + 1``.

    Raises:
        AssertionError: the program saw something it must not, or an fd or
            a map was left behind.
    """
    assert cycles % batch == 0 and 0 < batch <= 128
    fig = SoakFigures(name=name, batch_size=batch)
    maps_before = own_map_ids()
    fig.fds_before = fig.peak_fds = open_fds()
    created: set[int] = set()  # ids of every inner map this soak made
    issued = Issued()
    stop = threading.Event()
    seen_gens: set[int] = set()
    threads: list[Worker] = []

    def peak() -> None:
        fig.peak_fds = max(fig.peak_fds, open_fds())

    start = time.monotonic()
    try:
        with CollectionSpec.from_file(objs("soak")).load() as coll:
            slot, churn = coll.maps["slot"], coll.maps["churn"]
            assert isinstance(slot, OuterMap) and isinstance(churn, OuterMap)
            prog = coll.programs["soak_read"]

            def swap_one() -> None:
                issued.slot += 1
                with filled_inner(issued.slot) as m:
                    created.add(m.id)
                    slot[0] = m
                    peak()
                fig.swaps += 1

            def swap_all() -> None:
                while fig.swaps < swaps and not stop.is_set():
                    swap_one()

            def churn_all() -> None:
                for b in range(cycles // batch):
                    if stop.is_set():
                        return
                    first = b * batch + 1
                    inners: list[Map] = []
                    try:
                        for k in range(batch):
                            inners.append(filled_inner(first + k))
                            created.add(inners[-1].id)
                        issued.churn = first + batch - 1
                        assert churn.update_batch(dict(enumerate(inners))) == batch
                        peak()
                    finally:
                        for m in inners:
                            m.close()
                    assert churn.delete_batch(range(batch)) == batch
                    fig.cycles += batch
                    fig.batches += 1

            def read_all() -> None:
                read_loop(prog, batch, issued, seen_gens, fig, stop)

            swap_one()  # slot 0 is never empty while the reader runs
            try:
                for tname, body in (("reader", read_all), ("churn", churn_all), ("swap", swap_all)):
                    threads.append(Worker(tname, body, stop))
                    threads[-1].start()
                for w in threads[1:]:
                    w.join()
            finally:
                stop.set()
                for w in threads:
                    w.join()
            for w in threads:
                if w.error is not None:
                    raise AssertionError(f"{w.name} thread failed: {w.error!r}") from w.error
            fig.churn_s, fig.swap_s = (round(w.seconds, 2) for w in threads[1:])

            stats = read_stats(coll)
            fig.program_runs, fig.churn_hits = stats["runs"], stats["churn_good"]
            assert stats["slot_bad"] == stats["churn_bad"] == stats["slot_none"] == 0, stats
            assert stats["runs"] == fig.test_runs * REPEAT == stats["slot_good"], stats
            assert (fig.cycles, fig.swaps) == (cycles, swaps)
            assert churn.lookup_batch() == []
            # Every map that left an outer map is gone while the outer maps
            # are still open: the outer maps did not keep them.
            current = slot[0]
            assert current in created
            assert not wait_maps_gone(created - {current})
        fig.maps_left = len(wait_maps_gone(created | (own_map_ids() - maps_before)))
        fig.fds_after = open_fds()
        assert fig.maps_left == 0, fig
        assert fig.fds_after == fig.fds_before, fig
        # At most one churn batch and one swap map open at a time, besides the collection.
        assert fig.peak_fds <= fig.fds_before + batch + 16, fig
        assert fig.generations_seen >= 2, fig
        fig.passed = True
    finally:
        fig.elapsed_s = round(time.monotonic() - start, 2)
        fig.max_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        report(fig)
    return fig


def read_loop(
    prog: Program,
    batch: int,
    issued: Issued,
    seen_gens: set[int],
    fig: SoakFigures,
    stop: threading.Event,
) -> None:
    """test_run until ``stop``; check each report against what was put in."""
    last_gen = 0
    key = 0
    while not stop.is_set():
        res = prog.test_run(packet(key), repeat=REPEAT)
        fig.test_runs += 1
        top_slot, top_churn = issued.slot, issued.churn  # read after the run
        got = REPORT.unpack(res.data[: REPORT.size])
        churn_key, slot_state, churn_state, churn_gen = got[:4]
        seen = [ENTRY.pack(*got[4 + 4 * i : 8 + 4 * i]) for i in range(ENTRIES)]
        where = f"test_run {fig.test_runs}: report {got}"
        assert res.retval == SOAK_OK, where
        assert churn_key == key, where
        assert slot_state == SEEN_GOOD, where
        gen = got[4]
        assert seen == entries(gen), where
        assert last_gen <= gen <= top_slot, f"{where}: generation out of order"
        if gen != last_gen:
            seen_gens.add(gen)
            fig.generations_seen = len(seen_gens)
        last_gen = gen
        if churn_state == SEEN_GOOD:
            assert 1 <= churn_gen <= top_churn, where
            assert (churn_gen - 1) % batch == key, f"{where}: map of another key"
        else:
            assert churn_state == SEEN_NONE and churn_gen == 0, where
        key = (key + 1) % batch


def report(fig: SoakFigures) -> None:
    """Print the figures; write them as JSON to $BPFNEST_SOAK_REPORT if set."""
    figures = asdict(fig)
    print(f"\nsoak {fig.name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    path = os.environ.get("BPFNEST_SOAK_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")


# --------------------------------------------------------------------- tests


def test_soak_short(objs: Objs) -> None:
    """The soak at CI size: 500 cycles in batches of 50, 50 swaps (a few seconds)."""
    run_soak(objs, name="short", cycles=500, swaps=50, batch=50)


@pytest.mark.soak
def test_soak_full(objs: Objs) -> None:
    """The soak at full size: 20,000 cycles in batches of 100, 10,000 swaps (a few minutes)."""
    run_soak(objs, name="full", cycles=20_000, swaps=10_000, batch=100)


@pytest.fixture
def loaded(objs: Objs) -> Iterator[Collection]:
    with CollectionSpec.from_file(objs("soak")).load() as coll:
        yield coll


#: Inner maps that break the rule, each written as ``write(map, gen)``.
BAD_INNER: dict[str, Callable[[Map, int], None]] = {
    "half filled": lambda m, gen: fill(m, entries(gen)[:1]),
    "two generations": lambda m, gen: fill(m, entries(gen)[:2] + entries(gen + 1)[2:]),
    "wrong magic": lambda m, gen: fill(m, [e[:4] + bytes(4) + e[8:] for e in entries(gen)]),
    "wrong index": lambda m, gen: fill(m, entries(gen)[::-1]),
    "generation 0": lambda m, gen: fill(m, entries(0)),
}


@pytest.mark.parametrize("what", list(BAD_INNER))
def test_reader_catches_bad_inner_maps(loaded: Collection, what: str) -> None:
    """The check can fail: the program reports inner maps that break the rule."""
    prog, slot, churn = (
        loaded.programs["soak_read"],
        loaded.maps["slot"],
        loaded.maps["churn"],
    )
    res = prog.test_run(packet(3))
    assert res.retval == SOAK_OK
    assert REPORT.unpack(res.data[: REPORT.size])[1:4] == (SEEN_NONE, SEEN_NONE, 0)
    with Map.create(INNER) as good, Map.create(INNER) as bad:
        fill(good, entries(4))
        BAD_INNER[what](bad, 7)
        slot[0], churn[3] = good, good
        res = prog.test_run(packet(3))
        assert res.retval == SOAK_OK
        assert REPORT.unpack(res.data[: REPORT.size])[1:5] == (SEEN_GOOD, SEEN_GOOD, 4, 4)
        for outer, key, field in ((slot, 0, 1), (churn, 3, 2)):
            outer[key] = bad
            res = prog.test_run(packet(3))
            assert res.retval == SOAK_BAD, what
            assert REPORT.unpack(res.data[: REPORT.size])[field] == SEEN_BAD, what
            outer[key] = good
    assert read_stats(loaded) == {
        "runs": 4,
        "slot_none": 1,
        "slot_good": 2,
        "slot_bad": 1,
        "churn_none": 1,
        "churn_good": 2,
        "churn_bad": 1,
    }
