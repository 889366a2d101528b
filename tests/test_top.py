"""``bpfnest top``: run-time stats on only while it runs, the rates of a
program run through test_run meanwhile, and the stats fd closed on every exit."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bpfnest import CollectionSpec, Program
from bpfnest.cli import main
from bpfnest.cli._top import rates

STATS = "anon_inode:bpf-stats"
PACKET = bytes(14) + struct.pack("<QI", 3, 1) + bytes(6)


def _stats_fds(pid: int | str = "self") -> int:
    """How many BPF_ENABLE_STATS fds process ``pid`` holds."""
    n = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or not ours to read
        return 0
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{name}") == STATS:
                n += 1
    return n


def _stats_on_elsewhere() -> bool:
    """Whether anything but this process keeps run-time stats on."""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/bpf_stats_enabled") as f:
        if f.read().strip() != "0":
            return True
    me = str(os.getpid())
    return any(_stats_fds(p) for p in os.listdir("/proc") if p.isdigit() and p != me)


@contextlib.contextmanager
def _running(prog: Program) -> Iterator[dict[str, int]]:
    """Run ``prog`` through test_run in a thread (50 runs, then a 10 ms pause)
    until the block ends; yields counts of what the thread saw."""
    seen = {"runs": 0, "stats_fds": 0}
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            prog.test_run(PACKET, repeat=50)
            seen["runs"] += 50
            seen["stats_fds"] = max(seen["stats_fds"], _stats_fds())
            stop.wait(0.01)

    t = threading.Thread(target=work)
    t.start()
    try:
        yield seen
    finally:
        stop.set()
        t.join()


@pytest.fixture
def fill(kernel: None, objs: Any) -> Iterator[Program]:
    with CollectionSpec.from_file(objs("hist_fill")).load() as coll:
        yield coll.programs["fill"]


def test_top_json_shows_the_running_program(fill: Program) -> None:
    assert _stats_fds() == 0
    out = io.StringIO()
    with _running(fill) as seen:
        code = main(["top", "--json", "--count", "2", "--interval", "0.2"], out)
    assert code == 0
    assert seen["stats_fds"] == 1  # top held exactly one while it ran ...
    assert _stats_fds() == 0  # ... and closed it
    periods = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(periods) == 2
    for period in periods:
        assert period["interval_s"] > 0
        row = next(r for r in period["programs"] if r["id"] == fill.id)
        assert (row["type"], row["name"]) == ("sched_cls", "fill")
        assert row["runs"] > 0 and row["runs_per_s"] > 0
        assert row["run_time_ns"] > 0 and row["avg_ns"] > 0 and row["cpu_percent"] > 0
    # Stats are off again: the program's run time stops growing (unless some
    # other process keeps stats on: checked before and after).
    before_on = _stats_on_elsewhere()
    t0 = fill.info().run_time_ns
    fill.test_run(PACKET, repeat=20)
    if not before_on and not _stats_on_elsewhere():
        assert fill.info().run_time_ns == t0


def test_top_text_lines(fill: Program) -> None:
    out = io.StringIO()
    with _running(fill):
        code = main(["top", "--count", "1", "--interval", "0.1"], out)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["ID", "TYPE", "NAME", "RUNS/S", "AVG", "NS", "CPU", "%"]
    row = next(line.split() for line in lines[1:] if line.split()[0] == str(fill.id))
    assert row[1:3] == ["sched_cls", "fill"] and float(row[3]) > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_top_and_closes_the_stats_fd(kernel: None, sig: signal.Signals) -> None:
    class Signalling(io.StringIO):
        """Sends ``sig`` to the main thread once the first interval is printed."""

        def flush(self) -> None:
            if self.getvalue():
                signal.pthread_kill(threading.main_thread().ident or 0, sig)

    out = Signalling()
    code = main(["top", "--json", "--interval", "0.05"], out)
    assert code == 130
    assert len(out.getvalue().splitlines()) == 1
    assert _stats_fds() == 0
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handler given back


def _prog(pid: int, cnt: int, ns: int, load: int = 0) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "xdp",
        "name": f"p{pid}",
        "run_cnt": cnt,
        "run_time_ns": ns,
        "load_time": load,
    }


def test_rates_handle_programs_coming_and_going() -> None:
    t0, t1 = 10_000_000_000, 12_000_000_000  # a 2 s interval
    before = (t0, {1: _prog(1, 100, 1000), 2: _prog(2, 5, 50)})
    after = (
        t1,
        {
            1: _prog(1, 300, 5000),  # 200 runs, 4000 ns
            3: _prog(3, 10, 2000, load=t0 + 1),  # loaded during the interval: from 0
            4: _prog(4, 7, 70, load=t0 - 1),  # there before, not seen then: unknown
        },  # 2 went away
    )
    rows = {r["id"]: r for r in rates(before, after)}
    assert set(rows) == {1, 3, 4}
    assert rows[1]["runs"] == 200 and rows[1]["runs_per_s"] == 100.0
    assert rows[1]["avg_ns"] == 20.0 and rows[1]["cpu_percent"] == pytest.approx(2e-4)
    assert rows[3]["runs"] == 10 and rows[3]["avg_ns"] == 200.0
    assert rows[4]["runs"] is None and rows[4]["runs_per_s"] is None
    assert [r["id"] for r in rates(before, after)] == [1, 3, 4]  # busiest first


def test_top_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["top", "--interval", "0"], ["top", "--count", "-1"], ["top", "--interval", "x"]):
        assert main(argv, io.StringIO()) == 2
        assert "bpfnest top: error:" in capsys.readouterr().err
