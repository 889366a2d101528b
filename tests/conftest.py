"""Shared fixtures: the kernel gate, the fd and map leak guard, bpffs, objects.

Kernel tests request the ``kernel`` fixture (``pytestmark =
pytest.mark.usefixtures("kernel")``). It skips with the reason when bpf(2) is
not usable here; under ``CI=true`` or ``BPFNEST_REQUIRE_KERNEL=1`` that skip
is a failure, so CI proves the kernel tests ran.

Every test runs under a leak guard: file descriptors of this process, FDs the
library closed only through its safety net, and BPF maps, programs or links
that this process created during the test and that are still in the system
afterwards (held by a pin or an outer map) all fail the test. Only what this process
created counts: another process making maps at the same time cannot fail a
test here. ``bpfnest._sys.ops.bpf`` is wrapped to record the id of every map
and program this process creates (one extra info call per creation, in tests
only); so is ``ops.bpf_fd``, which the commands that create an fd go through,
and ``link_ops.bpf_fd`` for links.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support import (
    BPFFS,
    LeakCheck,
    _probe_kernel,
    compile_bpf,
    skip_or_fail,
)

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


@pytest.fixture(autouse=True)
def leak_guard() -> Iterator[None]:
    check = LeakCheck()
    yield
    problems = check.problems()
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


@pytest.fixture(scope="session")
def objs() -> Any:
    """``objs(name, target="bpfel") -> path`` of tests/bpf/<name>.c compiled by clang."""
    return compile_bpf


# Attach tests: a veth pair across two network namespaces, a child cgroup2 (tests/netns.py).
from netns import cgroup, veth  # noqa: E402, F401
