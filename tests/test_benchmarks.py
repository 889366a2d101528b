"""benchmarks/run.py runs every BENCH.md workload and reports them as JSON.

Timings are never asserted; only the shape of the report and that churn
leaks nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = [
    "array_lookup",
    "hash_update",
    "outer_inner_lookup",
    "outer_inner_lookup_1000",
    "dump_hash",
    "items_rss",
    "update_batch_1m",
    "swap_inner",
    "churn",
    "parse_maps",
    "ringbuf_read",
    "perfbuf_read",
    "object_load",
    "map_list",
    "map_create",
    "map_open_id",
    "import_bpfnest",
    "typed_lookup",
    "mmap_read",
    "kernel_btf_lookup",
    "dump_hash_columns",
    "update_columns",
    "array_lookup_floor",
    "hash_update_floor",
]


@pytest.mark.usefixtures("kernel")
def test_run_py_reports_every_workload() -> None:
    res = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--json", "--scale", "0.01"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert sorted(report) == sorted(WORKLOADS)
    for name in WORKLOADS:
        r = report[name]
        assert r["n"] >= 1 and r["ns_per_op"] > 0 and r["ops_per_s"] > 0, name
    assert report["churn"]["leaked_fds"] == 0
    assert report["churn"]["leaked_maps"] == 0
    assert report["items_rss"]["rss_growth_mb"] >= 0
    assert report["parse_maps"]["bound_ns_per_op"] > 0  # reported, never asserted
    assert isinstance(report["parse_maps"]["within_bound"], bool)
    assert report["update_batch_1m"]["n"] == 10_000  # 1M entries at scale 1
    assert 0 <= report["update_batch_1m"]["rss_growth_mb"] < 100
    assert report["map_list"]["maps"] == 1000  # whatever the scale
    assert report["map_list"]["ratio_to_bpftool"] > 0  # bpftool measured in the same run
    for name in ("map_create", "map_open_id"):
        assert report[name]["raw_ns_per_op"] > 0 and report[name]["ratio_to_raw"] > 0, name
    assert report["import_bpfnest"]["bare_ns"] > 0
    assert report["typed_lookup"]["ratio_to_untyped"] > 0  # reported, never asserted
    assert report["typed_lookup"]["untyped_ns_per_op"] > 0
    btf = report["kernel_btf_lookup"]  # the figures are reported, never asserted
    assert btf["ms"] > 0 and btf["rss_growth_mb"] >= 0 and btf["full_parse_ms"] > 0
    for name in ("array_lookup", "hash_update"):  # the distance to the bare ctypes floor
        assert report[name]["ratio_to_floor"] > 0 and report[name]["floor_ns_per_op"] > 0, name


# The workloads both peers have; items_rss, parse_maps and the object-cost ones
# are bpfnest's own extras (map_list's peer is bpftool, measured in run.py).
PEER_WORKLOADS = [
    name
    for name in WORKLOADS
    if name
    not in (
        "items_rss",
        "parse_maps",
        "map_list",
        "map_create",
        "map_open_id",
        "import_bpfnest",
        "typed_lookup",  # its peer is an untyped lookup, measured in run.py
        "kernel_btf_lookup",
    )
]


@pytest.mark.usefixtures("kernel")
def test_compare_runs_the_peers() -> None:
    """C runs here; bcc runs where benchmarks/bcc/setup was run, else says why not."""
    res = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--json",
            "--scale",
            "0.01",
            "--compare",
            "--only",
            *WORKLOADS[:-1],  # several names after one --only ...
            "--only",
            WORKLOADS[-1],  # ... and --only repeated
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert sorted(name for name in report if not name.startswith("_")) == sorted(WORKLOADS)
    assert "_c" not in report, report.get("_c")  # C built and ran
    for name in PEER_WORKLOADS:
        assert report[name]["c_ns_per_op"] > 0 and report[name]["ratio_to_c"] > 0, name
    assert report["items_rss"]["c_unavailable"]
    assert report["update_batch_1m"]["c_rss_growth_mb"] >= 0  # C reports its peak RSS growth too

    # bcc: a figure or a stated reason for every workload, never silently nothing.
    if "_bcc" in report:  # bcc could not run at all (not installed: CI)
        reason = report["_bcc"]["unavailable"]
        assert isinstance(reason, str) and reason, report["_bcc"]
        for name in WORKLOADS:
            assert not any(key.startswith(("bcc_", "ratio_to_bcc")) for key in report[name])
        return
    for name in WORKLOADS:
        r = report[name]
        if "bcc_unavailable" in r:
            assert isinstance(r["bcc_unavailable"], str) and r["bcc_unavailable"], name
            assert "bcc_ns_per_op" not in r and "ratio_to_bcc" not in r, name
        else:
            assert r["bcc_ns_per_op"] > 0 and r["ratio_to_bcc"] > 0, name
    for name in ("swap_inner", "churn"):  # bcc creates maps only by compiling C
        assert report[name]["bcc_unavailable"].startswith("not possible at run time"), name


def _load_run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_run", os.path.join(ROOT, "benchmarks", "run.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_bcc_says_why_it_cannot_run(tmp_path: Path) -> None:
    run = _load_run_py()
    missing = str(tmp_path / "python3")
    reason = run.run_bcc(["array_lookup"], 0.01, python=missing)
    assert isinstance(reason, str) and missing in reason and "benchmarks/bcc/setup" in reason

    no_bcc = tmp_path / "python-without-bcc"  # a Python where `import bcc` fails
    no_bcc.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'bcc'\" >&2\nexit 1\n"
    )
    no_bcc.chmod(0o755)
    reason = run.run_bcc(["array_lookup"], 0.01, python=str(no_bcc))
    assert isinstance(reason, str) and "import bcc" in reason and "No module named" in reason

    report: dict[str, dict[str, object]] = {"array_lookup": {"n": 1, "ns_per_op": 2.0}}
    run.add_peer(report, "bcc", reason, "benchmarks/bcc/bench.py")
    assert report["_bcc"] == {"unavailable": reason}
    run.add_peer(report, "c", {"array_lookup": {"unavailable": "why"}}, "bench.c")
    assert report["array_lookup"]["c_unavailable"] == "why"


@pytest.mark.usefixtures("kernel")
def test_kernel_btf_lookup_reports_ms_and_rss() -> None:
    """BENCH.md's kernel_btf_lookup: a fresh process, the first lookup of
    task_struct.pid; reported with its RSS growth and the full parse's ms."""
    res = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--json",
            "--only",
            "kernel_btf_lookup",
            "--scale",
            "0.01",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)["kernel_btf_lookup"]
    assert r["n"] == 1 and r["ms"] > 0 and r["ns_per_op"] == pytest.approx(r["ms"] * 1e6)
    assert r["rss_growth_mb"] > 0 and r["full_parse_ms"] > 0
    assert (r["target_ms"], r["target_rss_mb"]) == (100, 50)


def test_median_of_runs_and_side_by_side_rounds() -> None:
    """--rounds: each workload's median run, each ratio the median of the runs'; a
    floor measured beside its workload: the median of its interleaved rounds."""
    run = _load_run_py()
    runs = [
        {"w": {"n": 1, "ns_per_op": ns, "ratio_to_c": ratio}, "_bcc": {"unavailable": "x"}}
        for ns, ratio in ((30.0, 1.0), (10.0, 3.0), (20.0, 2.5))
    ]
    merged = run.median_of(runs)
    assert merged["w"]["ns_per_op"] == 20.0  # the median run, as it was measured
    assert merged["w"]["ratio_to_c"] == 2.5 and merged["w"]["ratio_to_c_runs"] == [1.0, 3.0, 2.5]
    assert merged["_bcc"] == {"unavailable": "x"}
    assert run.median_of(runs[:1])["w"] == runs[0]["w"]  # one run: as it is

    calls: list[tuple[str, int]] = []

    def timed(who: str, ns: float) -> Callable[[int], dict[str, float]]:
        def op(count: int) -> dict[str, float]:
            calls.append((who, count))
            return {"n": count, "ns_per_op": ns + len(calls), "ops_per_s": 1.0}

        return op

    r = run.side_by_side(90, timed("ours", 100.0), timed("floor", 50.0), "floor")
    assert [who for who, _ in calls[:4]] == ["ours", "floor", "floor", "ours"]  # order swaps
    assert {count for _, count in calls} == {90 // run.ROUNDS} and len(calls) == 2 * run.ROUNDS
    assert r["n"] == 90 and len(r["ratio_to_floor_rounds"]) == run.ROUNDS
    middle = sorted(r["ratio_to_floor_rounds"])[run.ROUNDS // 2]
    assert r["ratio_to_floor"] == pytest.approx(middle, abs=1e-3)
