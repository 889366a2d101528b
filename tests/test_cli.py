"""The command line, called through main() and as a process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from bpfnest import Map, MapSpec, MapType
from bpfnest.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.usefixtures("kernel")
def test_map_list_json_and_table() -> None:
    with Map.create(MapSpec(MapType.LRU_HASH, 4, 16, 32, name="cli_list")) as m:
        out = io.StringIO()
        assert main(["map", "list", "--json"], out) == 0
        rows = {r["id"]: r for r in json.loads(out.getvalue())}
        assert rows[m.id] == {
            "id": m.id,
            "type": "lru_hash",
            "name": "cli_list",
            "flags": 0,
            "bytes_key": 4,
            "bytes_value": 16,
            "max_entries": 32,
        }
        out = io.StringIO()
        assert main(["map", "list"], out) == 0
        line = next(x for x in out.getvalue().splitlines() if x.split()[0] == str(m.id))
        assert "lru_hash" in line and "cli_list" in line and "max_entries       32" in line


@pytest.mark.usefixtures("kernel")
def test_demo_runs_and_leaves_no_maps() -> None:
    out = io.StringIO()
    assert main(["demo"], out) == 0
    text = out.getvalue()
    assert "lookup slot 0 -> inner map id" in text
    assert "all 4 maps the demo made are gone" in text


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map", "frobnicate"], io.StringIO()) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_m_bpfnest() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "bpfnest", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert res.returncode == 0 and res.stdout.startswith("bpfnest ")
