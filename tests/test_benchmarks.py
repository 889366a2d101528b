"""benchmarks/run.py runs every BENCH.md workload and reports them as JSON.

Timings are never asserted; only the shape of the report and that churn
leaks nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = [
    "array_lookup",
    "hash_update",
    "outer_inner_lookup",
    "dump_hash",
    "items_rss",
    "swap_inner",
    "churn",
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


@pytest.mark.usefixtures("kernel")
def test_compare_runs_the_c_program() -> None:
    res = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--json",
            "--scale",
            "0.01",
            "--compare",
            "--only",
            "array_lookup",
            "--only",
            "churn",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert "_c" not in report, report.get("_c")  # C built and ran
    for name in ("array_lookup", "churn"):
        assert report[name]["c_ns_per_op"] > 0 and report[name]["ratio_to_c"] > 0
