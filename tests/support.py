"""What the tests share that is not a fixture: the kernel gate's skip rule,
the record of what this process created and the leak check, bpffs, and the
clang build of tests/bpf/*.c (cached by source hash). Fixtures live in
conftest.py and use these; a test module imports from here, never from
conftest.

Importing this module wraps ``bpfnest._sys.ops.bpf`` and ``ops.bpf_fd`` (and
``link_ops.bpf_fd``) to record the id of every map, program and link this
process creates (one extra info call per creation, in tests only).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from typing import Any, NoReturn

import pytest

from bpfnest._sys import fd as fdmod
from bpfnest._sys import link_ops, ops
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
        fd = ops.map_create(map_type=2, key_size=4, value_size=4, max_entries=1)
    except OSError as err:
        if err.errno == errno.EPERM:
            return "bpf(2) refused: needs root or CAP_BPF"
        return f"bpf(2) unusable here: {err}"
    fd.close()
    return None


# Ids of every map and program this process (or a test's fork of it) created.
created_maps: set[int] = set()


created_progs: set[int] = set()


created_links: set[int] = set()


_real_bpf = ops.bpf


_real_bpf_fd = ops.bpf_fd


def _record(cmd: Cmd, raw: int) -> None:
    if cmd == Cmd.MAP_CREATE:
        created_maps.add(ops.map_info(raw).id)
    elif cmd == Cmd.PROG_LOAD:
        created_progs.add(ops.prog_info(raw).id)
    elif cmd in (Cmd.LINK_CREATE, Cmd.RAW_TRACEPOINT_OPEN):
        created_links.add(int(link_ops.link_info(raw).info.id))


def _recording_bpf(cmd: Cmd, attr: Any) -> int:
    ret = _real_bpf(cmd, attr)
    _record(cmd, ret)
    return ret


def _recording_bpf_fd(cmd: Cmd, attr: Any) -> fdmod.FD:
    fd = _real_bpf_fd(cmd, attr)
    _record(cmd, fd.raw)
    return fd


ops.bpf = _recording_bpf  # type: ignore[assignment]


ops.bpf_fd = _recording_bpf_fd


link_ops.bpf_fd = _recording_bpf_fd


def _system_ids(cmd: Cmd) -> set[int]:
    ids: set[int] = set()
    cur = 0
    while True:
        try:
            nxt = ops.get_next_id(cmd, cur)
        except OSError:
            return ids
        if nxt is None:
            return ids
        ids.add(nxt)
        cur = nxt


def own_map_ids() -> set[int]:
    """The maps this process created that still exist in the system."""
    return _system_ids(Cmd.MAP_GET_NEXT_ID) & created_maps


def own_prog_ids() -> set[int]:
    """The programs this process loaded that still exist in the system."""
    return _system_ids(Cmd.PROG_GET_NEXT_ID) & created_progs


def own_link_ids() -> set[int]:
    """The BPF links this process created that still exist in the system."""
    return _system_ids(Cmd.LINK_GET_NEXT_ID) & created_links


def _open_fds() -> set[int]:
    # listdir itself holds an fd while it reads: keep only those still open.
    listed = {int(n) for n in os.listdir("/proc/self/fd")}
    return {n for n in listed if os.path.exists(f"/proc/self/fd/{n}")}


# What /proc/self/maps shows for an mmap of a BPF map (ring buffers, mmapable
# arrays) and of a perf event (perf buffers).
_EVENT_MAPPINGS = ("anon_inode:bpf-map", "anon_inode:[perf_event]")


def bpf_mappings() -> set[str]:
    """The lines of /proc/self/maps that map a BPF map or a perf event."""
    with open("/proc/self/maps") as f:
        return {line.strip() for line in f if line.rstrip().endswith(_EVENT_MAPPINGS)}


def wait_maps_gone(ids: set[int], timeout: float = 5.0) -> set[int]:
    """Poll until none of ``ids`` exists (the kernel frees inner maps from a
    workqueue); return those still there after ``timeout`` seconds."""
    return _wait_gone(ids, Cmd.MAP_GET_NEXT_ID, timeout)


def wait_progs_gone(ids: set[int], timeout: float = 5.0) -> set[int]:
    """Poll until none of the program ``ids`` exists; return those left."""
    return _wait_gone(ids, Cmd.PROG_GET_NEXT_ID, timeout)


def _wait_gone(ids: set[int], cmd: Cmd, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = ids & _system_ids(cmd) if ids else set()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


class LeakCheck:
    """What a test leaked: started before it, asked after it."""

    def __init__(self) -> None:
        self.fds_before = _open_fds()
        self.live_before = {raw for raw, _ in fdmod.live()}
        self.finalized_before = len(fdmod.finalized)
        self.maps_before = own_map_ids()
        self.progs_before = own_prog_ids()
        self.links_before = own_link_ids()
        self.mappings_before = bpf_mappings()

    def problems(self, timeout: float = 5.0) -> list[str]:
        problems = []
        live_now = [(raw, stack) for raw, stack in fdmod.live() if raw not in self.live_before]
        for raw, stack in live_now:
            problems.append(f"FD {raw} still open, created at:\n{stack}")
        new_fds = _open_fds() - self.fds_before
        if new_fds and not live_now:
            problems.append(f"file descriptors leaked: {sorted(new_fds)}")
        for raw, stack in fdmod.finalized[self.finalized_before :]:
            problems.append(f"FD {raw} closed only by the safety net, created at:\n{stack}")
        leaked = wait_maps_gone(own_map_ids() - self.maps_before, timeout)
        if leaked:
            problems.append(f"BPF maps leaked (ids still in the system): {sorted(leaked)}")
        mapped = bpf_mappings() - self.mappings_before
        if mapped:
            problems.append(f"BPF map or perf event mappings left: {sorted(mapped)}")
        leaked = wait_progs_gone(own_prog_ids() - self.progs_before, timeout)
        if leaked:
            problems.append(f"BPF programs leaked (ids still in the system): {sorted(leaked)}")
        leaked = _wait_gone(own_link_ids() - self.links_before, Cmd.LINK_GET_NEXT_ID, timeout)
        if leaked:
            problems.append(f"BPF links leaked (ids still in the system): {sorted(leaked)}")
        return problems


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


def compile_bpf(name: str, target: str = "bpfel", include: tuple[str, ...] = ()) -> str:
    """Compile tests/bpf/<name>.c with clang for ``target``; return the object's path.

    ``include`` adds directories searched first; a source that includes
    ``"vmlinux.h"`` gets :func:`vmlinux_h`'s directory by default (its
    path names the kernel's BTF, so it is part of the hash). Objects are
    cached in tests/.objs by a hash of the sources, flags and clang.
    """
    import hashlib
    import subprocess

    clang = shutil.which("clang")
    if clang is None:
        skip_or_fail("clang is not installed (apt-get install clang)")
    src = os.path.join(BPF_DIR, f"{name}.c")
    if not include:
        with open(src, "rb") as f:
            if b'#include "vmlinux.h"' in f.read():
                include = (vmlinux_h(),)
    flags = [f for d in include for f in ("-I", d)] + _clang_flags(target)
    h = hashlib.sha256()
    headers = sorted(n for n in os.listdir(BPF_DIR) if n.endswith(".h"))
    for path in (src, *(os.path.join(BPF_DIR, n) for n in headers)):
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


def vmlinux_h() -> str:
    """A directory holding ``vmlinux.h`` for the running kernel, generated by
    ``bpftool btf dump file /sys/kernel/btf/vmlinux format c`` into
    tests/.objs (never committed), named by a hash of the kernel's BTF."""
    import hashlib
    import subprocess

    src = "/sys/kernel/btf/vmlinux"
    if not os.path.exists(src):
        skip_or_fail("no /sys/kernel/btf/vmlinux: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)")
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    where = os.path.join(OBJ_CACHE, f"vmlinux-{digest}")
    header = os.path.join(where, "vmlinux.h")
    if not os.path.exists(header):
        os.makedirs(where, exist_ok=True)
        res = subprocess.run(
            [bpftool, "btf", "dump", "file", src, "format", "c"],
            capture_output=True,
            check=False,
        )
        if res.returncode != 0:
            pytest.fail(f"bpftool btf dump failed: {res.stderr.decode()}", pytrace=False)
        tmp = f"{header}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(res.stdout)
        os.replace(tmp, header)
    return where
