"""PerfBuffer options (issue 15, item 2): wake-ups by record count
(``wakeup_events``) or by bytes (``watermark``), the last look a timed-out
call takes at records that woke no one, ``pause()``/``resume()``, and their
bad input, on the real kernel with tests/bpf/perf_events.c run through
BPF_PROG_TEST_RUN on one CPU.
"""

from __future__ import annotations

import mmap
import select
import threading
import time
from typing import Any

import pytest
import test_events

import bpfnest
from bpfnest import PerfBuffer

pytestmark = pytest.mark.usefixtures("kernel")

# The collection of tests/bpf/perf_events.c (8-byte samples: 24-byte records),
# and this thread pinned to one CPU (test_run runs where it is called).
perfs, one_cpu = test_events.perfs, test_events.one_cpu
PACKET = bytes(64)


def send(coll: bpfnest.Collection, n: int = 1) -> None:
    for _ in range(n):  # (repeat=1 each: XDP repeat > 1 waits for RCU)
        coll.programs["send"].test_run(PACKET)


def refused(coll: bpfnest.Collection) -> int:
    return int.from_bytes(coll.maps["stats"].lookup(1), "little")


def readable(perf: PerfBuffer, timeout: float) -> bool:
    return select.select([perf], [], [], timeout)[0] == [perf]


def seqs(perf: PerfBuffer) -> list[int]:
    out = []
    while (rec := perf.read(timeout=0)) is not None:
        out.append(int.from_bytes(rec.data[:8], "little"))
    return out


@pytest.mark.usefixtures("one_cpu")
@pytest.mark.parametrize(
    ("options", "quiet", "wakes"),
    [
        ({}, 0, 1),  # every record wakes the reader
        ({"wakeup_events": 4}, 3, 1),  # the 4th record does
        ({"watermark": 64}, 2, 1),  # 3 x 24 bytes > 64 does
    ],
    ids=["default", "wakeup_events", "watermark"],
)
def test_wake_ups_by_count_or_bytes(
    perfs: bpfnest.Collection, options: dict[str, Any], quiet: int, wakes: int
) -> None:
    with PerfBuffer(perfs.maps["samples"], **options) as perf:
        send(perfs, quiet)
        assert not readable(perf, 0.2)
        send(perfs, wakes)
        assert readable(perf, 2)
        assert seqs(perf) == list(range(quiet + wakes))
    assert refused(perfs) == 0


@pytest.mark.usefixtures("one_cpu")
def test_a_timed_out_call_takes_the_records_that_woke_no_one(perfs: bpfnest.Collection) -> None:
    with PerfBuffer(perfs.maps["samples"], wakeup_events=100) as perf:
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append(perf.read(timeout=0.5)))
        start = time.monotonic()
        reader.start()
        time.sleep(0.1)  # blocked by now
        send(perfs, 2)
        reader.join(5)
        assert time.monotonic() - start >= 0.45  # not woken: it waited its time
        first = got[0]
        assert isinstance(first, bpfnest.PerfRecord) and first.data[:8] == bytes(8)
        send(perfs)
        taken: list[int] = []
        assert perf.poll(lambda r: taken.append(r.data[0]), timeout=0.3) == 2
        assert taken == [1, 2]


@pytest.mark.usefixtures("one_cpu")
def test_pause_empties_the_slots_and_resume_stores_them_back(perfs: bpfnest.Collection) -> None:
    perf = PerfBuffer(perfs.maps["samples"])
    with perf:
        send(perfs)  # 0: read
        assert not perf.paused
        perf.pause()
        perf.pause()  # idempotent
        assert perf.paused
        send(perfs)  # 1: refused, not lost
        assert refused(perfs) == 1
        assert seqs(perf) == [0]  # what came before the pause stays readable
        perf.resume()
        perf.resume()
        assert not perf.paused
        send(perfs)  # 2: read
        assert seqs(perf) == [2]
        assert perf.lost == 0
        perf.pause()  # closed while paused: nothing to delete, no error
    send(perfs)
    assert refused(perfs) == 2  # the reader left nothing in the map
    for call in (perf.pause, perf.resume):
        with pytest.raises(ValueError, match="is closed"):
            call()


PAGE = mmap.PAGESIZE


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"wakeup_events": 0}, "wakeup_events must be an int >= 1, got 0"),
        ({"wakeup_events": True}, "wakeup_events must be an int >= 1, got True"),
        ({"wakeup_events": 1.5}, "wakeup_events must be an int >= 1, got 1.5"),
        ({"watermark": 0}, f"watermark must be a number of bytes in 1..{8 * PAGE - 1}"),
        ({"watermark": -1}, "got -1"),
        (
            {"watermark": 2 * PAGE, "pages": 2},
            f"in 1..{2 * PAGE - 1} (less than the ring: 2 pages)",
        ),
        ({"watermark": "64"}, "got '64'"),
        ({"watermark": 64, "wakeup_events": 2}, "give wakeup_events or watermark, not both"),
    ],
)
def test_bad_options(perfs: bpfnest.Collection, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PerfBuffer(perfs.maps["samples"], **options)
    send(perfs)
    assert refused(perfs) == 1  # no event was stored in the map
