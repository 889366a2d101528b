"""``bpfnest top``: the loaded BPF programs with their run rates, live.

Run-time statistics are switched on (``BPF_ENABLE_STATS``) for as long as
the command runs and off when it ends, whether by ``--count``, ``q``,
Ctrl-C, SIGTERM or SIGHUP (both raise in the main thread while it runs, so
the fd is closed on the way out). Each interval every program's
``run_cnt``/``run_time_ns`` are read and compared with the previous read:
runs per second, average ns per run, and the share of one CPU (run time
over wall time; above 100% when it runs on several CPUs at once). A program
loaded during the interval counts from 0; one that was there before the
first read but not seen (it appeared between two reads of the list) has no
rates yet. Programs that went away are dropped.

On a terminal (and without ``--json``) the table fills the screen through
the standard library's curses: no dependency, and it restores the
terminal on every exit path (``curses.wrapper``); otherwise one block of
lines per interval, or with ``--json`` one JSON object per line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from .. import view

__all__ = ["rates", "top"]

_Sample = tuple[int, dict[int, dict[str, Any]]]  # (CLOCK_BOOTTIME ns, programs)


def _sample() -> _Sample:
    now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return now, view.prog_stats()


def rates(before: _Sample, after: _Sample) -> list[dict[str, Any]]:
    """The rows of one interval, busiest first: each program of ``after``
    with ``runs`` and ``run_time_ns`` during the interval, ``runs_per_s``,
    ``avg_ns`` (per run) and ``cpu_percent`` (of one CPU); the rates are
    None for a program whose start of the interval is unknown."""
    t0, old = before
    t1, new = after
    dt = max(t1 - t0, 1)
    rows = []
    for pid, p in new.items():
        prev = old.get(pid)
        if prev is None and p["load_time"] >= t0:
            prev = {"run_cnt": 0, "run_time_ns": 0}  # loaded during the interval
        row: dict[str, Any] = {k: p[k] for k in ("id", "type", "name")}
        if prev is None:
            row.update(runs=None, run_time_ns=None, runs_per_s=None, avg_ns=None, cpu_percent=None)
        else:
            runs = max(p["run_cnt"] - prev["run_cnt"], 0)
            ns = max(p["run_time_ns"] - prev["run_time_ns"], 0)
            row.update(
                runs=runs,
                run_time_ns=ns,
                runs_per_s=runs * 1e9 / dt,
                avg_ns=ns / runs if runs else 0.0,
                cpu_percent=ns * 100.0 / dt,
            )
        rows.append(row)
    rows.sort(key=lambda r: (-(r["cpu_percent"] or 0.0), -(r["runs_per_s"] or 0.0), r["id"]))
    return rows


_HEADER = f"{'ID':>7}  {'TYPE':<16} {'NAME':<16} {'RUNS/S':>12} {'AVG NS':>10} {'CPU %':>7}"


def _line(r: dict[str, Any]) -> str:
    if r["runs_per_s"] is None:
        nums = f"{'-':>12} {'-':>10} {'-':>7}"
    else:
        nums = f"{r['runs_per_s']:>12.1f} {r['avg_ns']:>10.0f} {r['cpu_percent']:>7.2f}"
    return f"{r['id']:>7}  {r['type'][:16]:<16} {r['name'][:16]:<16} {nums}"


def _samples(interval: float, count: int | None) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """(seconds, rows) of each interval, ``count`` times or for ever."""
    before = _sample()
    n = 0
    while count is None or n < count:
        time.sleep(interval)
        after = _sample()
        yield (after[0] - before[0]) / 1e9, rates(before, after)
        before = after
        n += 1


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP came while ``top`` ran: unwinds like Ctrl-C."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`_Stopped` while the block runs (main
    thread only; a signal someone else handles or ignores stays so)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signal.Signals(signum).name)

    old = {}
    for s in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) == signal.SIG_DFL:
            old[s] = signal.signal(s, stop)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def top(args: argparse.Namespace, out: TextIO) -> None:
    """``bpfnest top``: print the programs' rates every interval, stats on meanwhile."""
    with _stop_on_signals(), view.run_stats():
        if not args.json and _is_terminal(out):
            _full_screen(args)
            return
        for i, (seconds, rows) in enumerate(_samples(args.interval, args.count)):
            if args.json:
                out.write(json.dumps({"interval_s": seconds, "programs": rows}) + "\n")
            else:
                lines = [_HEADER] + [_line(r) for r in rows]
                out.write(("\n" if i else "") + "\n".join(lines) + "\n")
            out.flush()


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _full_screen(args: argparse.Namespace) -> None:
    """The table on the whole terminal, redrawn each interval; ``q`` quits."""
    import curses

    def run(screen: Any) -> None:
        curses.curs_set(0)
        screen.nodelay(True)

        def draw(head: str, body: str) -> None:
            screen.erase()
            height, width = screen.getmaxyx()
            for y, text in enumerate([head, *body.splitlines()][: height - 1]):
                screen.addnstr(y, 0, text, width - 1, curses.A_REVERSE if y == 1 else 0)
            screen.refresh()

        draw("bpfnest top: run-time stats on; q quits", _HEADER)
        for seconds, rows in _samples_interruptible(args, screen):
            body = "\n".join([_HEADER] + [_line(r) for r in rows])
            draw(f"bpfnest top: {len(rows)} programs, last {seconds:.1f} s; q quits", body)

    curses.wrapper(run)


def _samples_interruptible(
    args: argparse.Namespace, screen: Any
) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """Like :func:`_samples`, but waits on the keyboard: ``q`` ends it."""
    before = _sample()
    n = 0
    while args.count is None or n < args.count:
        deadline = time.monotonic() + args.interval
        while (left := deadline - time.monotonic()) > 0:
            screen.timeout(max(1, int(left * 1000)))
            if screen.getch() in (ord("q"), ord("Q")):
                return
        after = _sample()
        yield (after[0] - before[0]) / 1e9, rates(before, after)
        before = after
        n += 1
