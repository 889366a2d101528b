"""Errors without privileges say what is needed (capabilities dropped with capsh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import errno, sys
    from bpfnest import BPFError, Map, MapSpec, MapType
    spec = MapSpec(MapType.HASH, 4, 4, 4, name="priv")
    try:
        m = Map.create(spec)
    except BPFError as err:
        print("create", err.errno, err)
        raise SystemExit(0)
    with m:
        m[1] = 1
        print("create ok", m[1] == (1).to_bytes(4, "little"))
        try:
            Map.from_id(m.id).close()
            print("from_id ok")
        except BPFError as err:
            print("from_id", err.errno, err)
    """
)


def run_without(caps: str) -> list[str]:
    if shutil.which("capsh") is None:
        skip_or_fail("capsh is not installed (apt-get install libcap2-bin)")
    if os.geteuid() != 0:
        skip_or_fail("dropping capabilities needs root")
    res = subprocess.run(
        ["capsh", f"--drop={caps}", "--", "-c", f'exec "{sys.executable}" -c "$0"', SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_cap_bpf_without_sys_admin() -> None:
    out = run_without("cap_sys_admin")
    assert out[0] == "create ok True"
    assert out[1].startswith("from_id 1 open map id ")
    assert "needs CAP_SYS_ADMIN" in out[1]


def test_no_capabilities() -> None:
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        if f.read().strip() == "0":
            pytest.skip("unprivileged BPF is enabled here: creating a map needs no capability")
    out = run_without("cap_sys_admin,cap_bpf,cap_perfmon,cap_net_admin")
    assert out == [
        "create 1 create HASH 'priv': Operation not permitted (needs root or CAP_BPF;"
        " on kernels before 5.11 also a higher RLIMIT_MEMLOCK)"
    ]


def test_cli_without_sys_admin_says_what_is_needed() -> None:
    if shutil.which("capsh") is None:
        skip_or_fail("capsh is not installed (apt-get install libcap2-bin)")
    from bpfnest import Map, MapSpec, MapType

    with Map.create(MapSpec(MapType.HASH, 4, 4, 1, name="priv_cli")):  # one map to open
        res = subprocess.run(
            [
                "capsh",
                "--drop=cap_sys_admin",
                "--",
                "-c",
                f'exec "{sys.executable}" -m bpfnest map list',
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "CAP_SYS_ADMIN" in res.stderr
