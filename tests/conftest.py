"""Shared fixtures: the kernel gate, the fd and map leak guard, bpffs, objects.

Kernel tests request the ``kernel`` fixture (``pytestmark =
pytest.mark.usefixtures("kernel")``). It skips with the reason when bpf(2) is
not usable here; under ``CI=true`` or ``BPFNEST_REQUIRE_KERNEL=1`` that skip
is a failure, so CI proves the kernel tests ran.

Every test runs under a leak guard: file descriptors of this process, FDs the
library closed only through its safety net, and BPF maps that appeared in the
system during the test and are still there afterwards all fail the test.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from bpfnest._sys import fd as fdmod
from bpfnest._sys import ops
from bpfnest._sys.uapi import Cmd

fdmod.set_tracing(True)

BPFFS = "/sys/fs/bpf"


def require_kernel() -> bool:
    """True when skips of kernel tests must fail instead (CI)."""
    return os.environ.get("CI") == "true" or os.environ.get("BPFNEST_REQUIRE_KERNEL") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail under CI=true / BPFNEST_REQUIRE_KERNEL=1."""
    if require_kernel():
        pytest.fail(f"kernel test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _probe_kernel() -> str | None:
    try:
        raw = ops.map_create(map_type=2, key_size=4, value_size=4, max_entries=1)
    except OSError as err:
        if err.errno == errno.EPERM:
            return "bpf(2) refused: needs root or CAP_BPF"
        return f"bpf(2) unusable here: {err}"
    os.close(raw)
    return None


_KERNEL_REASON: list[str | None] = []


@pytest.fixture(scope="session")
def kernel_reason() -> str | None:
    if not _KERNEL_REASON:
        _KERNEL_REASON.append(_probe_kernel())
    return _KERNEL_REASON[0]


@pytest.fixture
def kernel(kernel_reason: str | None) -> None:
    """Gate for tests that need the real bpf(2)."""
    if kernel_reason is not None:
        skip_or_fail(kernel_reason)


def system_map_ids() -> set[int]:
    """Every map id in the system now (empty set when bpf(2) is unusable)."""
    ids: set[int] = set()
    cur = 0
    while True:
        try:
            nxt = ops.get_next_id(Cmd.MAP_GET_NEXT_ID, cur)
        except OSError:
            return ids
        if nxt is None:
            return ids
        ids.add(nxt)
        cur = nxt


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def wait_maps_gone(ids: set[int], timeout: float = 5.0) -> set[int]:
    """Poll until none of ``ids`` exists (the kernel frees inner maps from a
    workqueue); return those still there after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = ids & system_map_ids()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def leak_guard() -> Iterator[None]:
    fds_before = _open_fds()
    live_before = {raw for raw, _ in fdmod.live()}
    finalized_before = len(fdmod.finalized)
    maps_before = system_map_ids()
    yield
    problems = []
    live_now = [(raw, stack) for raw, stack in fdmod.live() if raw not in live_before]
    for raw, stack in live_now:
        problems.append(f"FD {raw} still open, created at:\n{stack}")
    new_fds = _open_fds() - fds_before
    # listdir itself opens a transient fd; keep only fds that still exist.
    new_fds = {n for n in new_fds if os.path.exists(f"/proc/self/fd/{n}")}
    if new_fds and not live_now:
        problems.append(f"file descriptors leaked: {sorted(new_fds)}")
    for raw, stack in fdmod.finalized[finalized_before:]:
        problems.append(f"FD {raw} closed only by the safety net, created at:\n{stack}")
    if maps_before:
        leaked = wait_maps_gone(system_map_ids() - maps_before)
        if leaked:
            problems.append(f"BPF maps leaked (ids still in the system): {sorted(leaked)}")
    if problems:
        pytest.fail("leak guard:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def bpffs(kernel: None) -> Iterator[str]:
    """A fresh directory on the bpffs, removed with everything pinned in it."""
    if not os.path.ismount(BPFFS):
        skip_or_fail(f"no bpffs mounted at {BPFFS} (mount -t bpf bpf {BPFFS})")
    path = os.path.join(BPFFS, f"bpfnest-test-{os.getpid()}-{time.monotonic_ns()}")
    os.mkdir(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ objects

BPF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bpf")
OBJ_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".objs")


def _clang_flags(target: str) -> list[str]:
    import subprocess

    multiarch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    flags = ["-O2", "-g", "-target", target, "-I", BPF_DIR]
    if multiarch:
        flags += ["-I", f"/usr/include/{multiarch}"]
    return flags


def compile_bpf(name: str, target: str = "bpfel") -> str:
    """Compile tests/bpf/<name>.c with clang for ``target``; return the object's path.

    Objects are cached in tests/.objs by a hash of the sources, flags and clang.
    """
    import hashlib
    import subprocess

    clang = shutil.which("clang")
    if clang is None:
        skip_or_fail("clang is not installed (apt-get install clang)")
    src = os.path.join(BPF_DIR, f"{name}.c")
    flags = _clang_flags(target)
    h = hashlib.sha256()
    for path in (src, os.path.join(BPF_DIR, "common.h")):
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(" ".join(flags).encode())
    h.update(subprocess.run([clang, "--version"], capture_output=True, check=False).stdout)
    os.makedirs(OBJ_CACHE, exist_ok=True)
    out = os.path.join(OBJ_CACHE, f"{name}.{target}.{h.hexdigest()[:16]}.o")
    if not os.path.exists(out):
        tmp = f"{out}.{os.getpid()}.tmp"
        res = subprocess.run(
            [clang, *flags, "-c", src, "-o", tmp], capture_output=True, text=True, check=False
        )
        if res.returncode != 0:
            pytest.fail(f"clang failed on {name}.c:\n{res.stderr}", pytrace=False)
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="session")
def objs() -> Any:
    """``objs(name, target="bpfel") -> path`` of tests/bpf/<name>.c compiled by clang."""
    return compile_bpf
