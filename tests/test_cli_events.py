"""``bpfnest map events`` (issue 15, item 4): records of a RINGBUF or
PERF_EVENT_ARRAY map printed as they arrive, on the real kernel, with records
written by real programs (XDP through BPF_PROG_TEST_RUN, a raw tracepoint
triggered by getpgid); --count, --timeout, --json, the wrong map type, and
Ctrl-C / a closed pipe on ``python -m bpfnest``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import test_events

import bpfnest
from bpfnest.cli import main

pytestmark = pytest.mark.usefixtures("kernel")

# The fixtures of the readers' own tests: the collections of
# tests/bpf/ringbuf_events.c and perf_events.c, and emit_getpgid attached.
rings, perfs, getpgid_ring = test_events.rings, test_events.perfs, test_events.getpgid_ring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKET = bytes(64)


def record(seq: int) -> bytes:
    """What emit_output writes as record ``seq``: {u64 seq; u8 fill[seq % 8]}."""
    return seq.to_bytes(8, "little") + bytes([seq & 0xFF]) * (seq % 8)


def hexline(raw: bytes) -> str:
    return " ".join(f"{b:02x}" for b in raw)


def hexlist(raw: bytes) -> list[str]:
    """bytes as --json shows them (bpftool's)."""
    return [f"0x{b:02x}" for b in raw]


def stat(coll: bpfnest.Collection, key: int) -> int:
    return int.from_bytes(coll.maps["stats"].lookup(key), "little")


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out), out.getvalue()


def bpfnest_process(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bpfnest", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


def test_ring_records_one_line_each_then_count_and_timeout(rings: bpfnest.Collection) -> None:
    # Records written before the command starts wait in the ring: --count 5
    # takes the first five, the next call the rest until 0.3 s pass empty.
    rings.programs["emit_output"].test_run(PACKET, repeat=8)
    ring_id = str(rings.maps["events"].id)
    assert run(["map", "events", ring_id, "--count", "5"]) == (
        0,
        "".join(hexline(record(n)) + "\n" for n in range(5)),
    )
    start = time.monotonic()
    status, text = run(["map", "events", "id", ring_id, "--timeout", "0.3", "--json"])
    waited = time.monotonic() - start
    assert status == 0
    assert [json.loads(line) for line in text.splitlines()] == [
        {"data": hexlist(record(n))} for n in (5, 6, 7)
    ]
    assert 0.3 <= waited < 3
    assert run(["map", "events", ring_id, "--timeout", "0"]) == (0, "")


def test_ring_records_arriving_while_it_waits(rings: bpfnest.Collection, bpffs: str) -> None:
    # Named by pin; the program runs after the command started waiting.
    path = os.path.join(bpffs, "events")
    rings.maps["events"].pin(path)
    result: list[tuple[int, str]] = []
    t = threading.Thread(
        target=lambda: result.append(run(["map", "events", "pinned", path, "--count", "3"]))
    )
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # waiting: nothing yet
    rings.programs["emit_output"].test_run(PACKET, repeat=3)
    t.join(10)
    assert result == [(0, "".join(hexline(record(n)) + "\n" for n in range(3)))]


@pytest.mark.parametrize("decoded", [False, True], ids=["hex", "decoded"])
def test_perf_records_with_their_cpu_and_lost_count(
    perfs: bpfnest.Collection, objs: Callable[[str], str], decoded: bool
) -> None:
    # Samples sent before the command stored its events in the map are
    # refused by the kernel (stats[1]); send until three got through, on CPU 0.
    result: list[tuple[int, str]] = []
    argv = ["map", "events", "name", "samples", "--count", "3"]
    if decoded:  # the first 8 bytes (of 12) as the u64 they are
        argv += ["--type", "__u64", "--object", objs("perf_events")]
    t = threading.Thread(target=lambda: result.append(run(argv)))
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    sent: list[int] = []
    try:
        t.start()
        deadline = time.monotonic() + 10
        while len(sent) < 3 and time.monotonic() < deadline:
            seq, refused = stat(perfs, 0), stat(perfs, 1)
            perfs.programs["send"].test_run(PACKET)
            if stat(perfs, 1) == refused:
                sent.append(seq)
            else:
                time.sleep(0.01)
    finally:
        os.sched_setaffinity(0, affinity)
        t.join(10)
    if decoded:
        assert result == [(0, "".join(f"cpu 0  lost 0  {n}\n" for n in sent))]
        return
    # 8-byte samples: the kernel pads the raw data to 12 bytes.
    assert result == [
        (
            0,
            "".join(
                f"cpu 0  lost 0  {hexline(n.to_bytes(8, 'little') + bytes(4))}\n" for n in sent
            ),
        )
    ]


def test_records_decoded_by_a_btf_type_of_the_object(
    rings: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    # emit_output's records start with their u64 number (__u64, a typedef in
    # the object's BTF); emit_reserve's 16-byte records are too short for a
    # struct xdp_md (24 bytes): shown in hex, with why.
    obj = objs("ringbuf_events")
    ring_id = str(rings.maps["events"].id)
    rings.programs["emit_output"].test_run(PACKET, repeat=3)
    typed = ["--type", "__u64", "--object", obj, "--timeout", "0"]
    assert run(["map", "events", ring_id, *typed]) == (0, "0\n1\n2\n")
    rings.programs["emit_output"].test_run(PACKET)
    status, text = run(["map", "events", ring_id, *typed, "--json"])
    assert (status, json.loads(text)) == (0, {"data": hexlist(record(3)), "formatted": 3})
    rings.programs["emit_reserve"].test_run(PACKET, repeat=3)  # 4, 5 kept; 6 discarded
    xdp_md = ["--type", "struct xdp_md", "--object", obj, "--count", "1"]
    why = "16 bytes, struct xdp_md needs 24"
    assert run(["map", "events", ring_id, *xdp_md]) == (
        0,
        f"{hexline(reserved(4))}  (not decoded: {why})\n",
    )
    status, text = run(["map", "events", ring_id, *xdp_md, "--json"])
    assert (status, json.loads(text)) == (
        0,
        {"data": hexlist(reserved(5)), "error": why},
    )


@pytest.mark.parametrize(
    ("name", "argv", "status", "message"),
    [
        (
            "stats",
            ["map", "events", "{id}"],
            1,
            "bpfnest: map events reads ringbuf and perf_event_array maps;"
            " map {id} 'stats' is array",
        ),
        (
            "events",
            ["map", "events", "{id}", "--timeout", "-1"],
            2,
            "argument --timeout: must be 0 or more seconds, not -1",
        ),
        (
            "events",
            ["map", "events", "{id}", "--count", "x"],
            2,
            "argument --count: not a number: 'x'",
        ),
        (
            "events",
            ["map", "events", "{id}", "--type", "__u64"],
            2,
            "bpfnest: --type NAME and --object OBJECT.o go together",
        ),
        (
            "events",
            ["map", "events", "{id}", "--type", "struct nope", "--object", "{obj}"],
            1,
            "bpfnest: {obj} has no BTF type named 'struct nope' (clang -g emits the types"
            " of maps, globals and function arguments, not those only used by local variables)",
        ),
    ],
)
def test_bad_input(
    rings: bpfnest.Collection,
    objs: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
    name: str,
    argv: list[str],
    status: int,
    message: str,
) -> None:
    where = {"id": rings.maps[name].id, "obj": objs("ringbuf_events")}
    assert run([a.format(**where) for a in argv]) == (status, "")
    err = capsys.readouterr().err
    assert message.format(**where) in err.splitlines()[-1]
    assert "Traceback" not in err


def reserved(seq: int) -> bytes:
    """What emit_getpgid writes as record ``seq``: {u64 seq; u64 ~seq}."""
    return seq.to_bytes(8, "little") + (~seq & (1 << 64) - 1).to_bytes(8, "little")


def test_ctrl_c_exits_130_quietly(getpgid_ring: bpfnest.Collection) -> None:
    os.getpgid(0)
    proc = bpfnest_process("map", "events", str(getpgid_ring.maps["events"].id))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == hexline(reserved(0)) + "\n"
        os.getpgid(0)  # arrives while it waits
        assert proc.stdout.readline() == hexline(reserved(1)) + "\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "")


def test_a_closed_pipe_exits_quietly(rings: bpfnest.Collection) -> None:
    # As `bpfnest map events ID | head -1`: the reader goes away.
    rings.programs["emit_output"].test_run(PACKET)
    proc = bpfnest_process("map", "events", str(rings.maps["events"].id))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == hexline(record(0)) + "\n"
        proc.stdout.close()
        rings.programs["emit_output"].test_run(PACKET)
        proc.wait(timeout=10)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert (proc.returncode, err) == (128 + signal.SIGPIPE, "")
