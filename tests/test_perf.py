"""perf events for tracing hooks (``bpfnest._sys.perf``) and uprobe offsets
(``bpfnest._uprobe``), with real programs: a tracepoint through a perf link and
through the ioctls, uprobes on libc's ``getpid`` and on a function of a small
binary compiled here, and the kprobe PMU's absence reported clearly.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import bpfnest
from bpfnest import AttachType
from bpfnest._sys import link_ops, perf
from bpfnest._sys.fd import FD
from bpfnest._uprobe import symbol_offset

from netns import closed_and_gone, counter, trace_counts
from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

LINK_PERF_EVENT = 7
PERF_EVENT_UPROBE, PERF_EVENT_URETPROBE, PERF_EVENT_TRACEPOINT = 1, 2, 5
KPROBE_PMU = Path("/sys/bus/event_source/devices/kprobe")


@pytest.fixture(scope="module")
def tracefs() -> Iterator[str]:
    """tracefs, mounted at /sys/kernel/tracing for these tests when it is not
    (and unmounted after, if this fixture mounted it and nothing holds it)."""
    try:
        yield perf.tracefs()
        return
    except OSError as err:
        # Not mounted: the error says so and how to mount it.
        assert err.errno == errno.ENOENT
        assert "mount -t tracefs nodev /sys/kernel/tracing" in str(err)
    where = "/sys/kernel/tracing"
    proc = subprocess.run(
        ["mount", "-t", "tracefs", "nodev", where], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        skip_or_fail(f"tracefs is not mounted and mounting it failed: {proc.stderr.strip()}")
    try:
        yield perf.tracefs()
    finally:
        subprocess.run(["umount", where], capture_output=True, check=False)


@pytest.fixture
def trace(objs: Callable[[str], str], tracefs: str) -> Iterator[bpfnest.Collection]:
    with trace_counts(objs) as coll:
        yield coll


@pytest.fixture
def fds() -> Iterator[list[FD]]:
    """Event and link fds a test makes: closed at the end; the links must be gone."""
    made: list[FD] = []
    yield made
    for fd in made:
        fd.close()


# ------------------------------------------------------------------ tracepoints


def test_tracepoint_through_a_perf_link(trace: bpfnest.Collection, fds: list[FD]) -> None:
    prog = trace.programs["tp_getpgid"]
    event = perf.tracepoint_open("syscalls", "sys_enter_getpgid")
    fds.append(event)
    link = link_ops.link_create(prog.fd, event.raw, AttachType.PERF_EVENT, bpf_cookie=0xC0FFEE)
    fds.append(link)
    got = link_ops.link_info(link.raw)
    assert (got.info.type, got.info.prog_id, got.info.perf_event.type, got.name) == (
        LINK_PERF_EVENT, prog.id, PERF_EVENT_TRACEPOINT, "sys_enter_getpgid",
    )  # fmt: skip
    tracepoint = got.info.perf_event.tracepoint
    assert (tracepoint.name_len, tracepoint.cookie) == (len("sys_enter_getpgid") + 1, 0xC0FFEE)
    for _ in range(7):
        os.getpgid(0)
    assert counter(trace, 0) == 7
    assert closed_and_gone(link)
    os.getpgid(0)
    assert counter(trace, 0) == 7


def test_tracepoint_through_the_ioctls(trace: bpfnest.Collection, fds: list[FD]) -> None:
    event = perf.tracepoint_open("syscalls", "sys_enter_getpgid")
    fds.append(event)
    perf.set_bpf(event.raw, trace.programs["tp_getpgid"].fd)
    with pytest.raises(OSError) as caught:  # one program per event
        perf.set_bpf(event.raw, trace.programs["tp_getpgid"].fd)
    assert caught.value.errno == errno.EEXIST
    # A program on a syscall tracepoint runs before the kernel looks at the
    # event's enabled state (measured on 6.18): it counts from SET_BPF on, and
    # DISABLE does not stop it; closing the event detaches it. (libbpf
    # enables the event all the same, for the other event kinds.)
    os.getpgid(0)
    assert counter(trace, 0) == 1
    perf.enable(event.raw)
    for _ in range(5):
        os.getpgid(0)
    assert counter(trace, 0) == 6
    perf.disable(event.raw)
    os.getpgid(0)
    assert counter(trace, 0) == 7
    event.close()
    os.getpgid(0)
    assert counter(trace, 0) == 7


def test_tracepoint_names(tracefs: str) -> None:
    assert perf.tracepoint_id("syscalls", "sys_enter_getpgid") > 0
    with pytest.raises(OSError) as caught:
        perf.tracepoint_id("syscalls", "sys_enter_no_such_call")
    assert caught.value.errno == errno.ENOENT
    assert "syscalls/sys_enter_no_such_call" in str(caught.value)
    for group, name in (("..", "x"), ("syscalls", "../../id"), ("", "x")):
        with pytest.raises(ValueError, match="not an event name"):
            perf.tracepoint_id(group, name)


def test_tracefs_is_found(tracefs: str) -> None:
    assert os.path.isdir(os.path.join(tracefs, "events", "syscalls"))


# ------------------------------------------------------------------ uprobes


def libc_path() -> str:
    """The libc this process has mapped (from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "/libc.so" in path or "/libc-" in path:
                return path
    skip_or_fail("no libc mapped in this process")


def test_uprobe_on_libc_getpid(trace: bpfnest.Collection, fds: list[FD]) -> None:
    trace.maps["config"].update(0, 0)  # the program counts every process: the event filters
    path = libc_path()
    offset = symbol_offset(path, "getpid")
    event = perf.probe_open("uprobe", path, offset, pid=os.getpid())
    fds.append(event)
    prog = trace.programs["uprobe_hit"]
    link = link_ops.link_create(prog.fd, event.raw, AttachType.PERF_EVENT)
    fds.append(link)
    got = link_ops.link_info(link.raw)
    assert (got.info.perf_event.type, got.info.perf_event.uprobe.offset) == (
        PERF_EVENT_UPROBE, offset,
    )  # fmt: skip
    assert os.path.realpath(got.name) == os.path.realpath(path)
    for _ in range(9):
        os.getpid()
    assert counter(trace, 2) == 9
    # The event has pid=this process: another process calling getpid does not count.
    code = "import os\nfor _ in range(50): os.getpid()"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert counter(trace, 2) == 9
    assert closed_and_gone(link)
    os.getpid()
    assert counter(trace, 2) == 9


PROBED_C = r"""
#include <stdlib.h>
__attribute__((noinline)) int bpfnest_probe_me(int x) { __asm__ volatile(""); return x + 1; }
int other(int x) { return x * 2; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0, acc = 0;
    for (int i = 0; i < n; i++) acc += bpfnest_probe_me(i);
    return acc == -1;
}
"""


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small executable whose bpfnest_probe_me runs argv[1] times."""
    gcc = shutil.which("gcc")
    if gcc is None:
        skip_or_fail("gcc is not installed")
    workdir = tmp_path_factory.mktemp("probed")
    (workdir / "probed.c").write_text(PROBED_C)
    out = workdir / "probed"
    subprocess.run([gcc, "-O1", "-o", str(out), str(workdir / "probed.c")], check=True)
    return str(out)


def nm_address(path: str, symbol: str) -> int:
    proc = subprocess.run(["nm", path], capture_output=True, text=True, check=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == symbol:
            return int(parts[0], 16)
    raise AssertionError(f"nm: no {symbol} in {path}")


def test_uprobe_on_a_function_of_a_test_binary(
    probed: str, trace: bpfnest.Collection, fds: list[FD]
) -> None:
    trace.maps["config"].update(0, 0)  # count every process: the probe is on this file only
    offset = symbol_offset(probed, "bpfnest_probe_me")
    event = perf.probe_open("uprobe", probed, offset)
    fds.append(event)
    perf.set_bpf(event.raw, trace.programs["uprobe_hit"].fd)  # the ioctl path
    perf.enable(event.raw)
    subprocess.run([probed, "13"], check=True)
    assert counter(trace, 2) == 13
    # A uretprobe on the same function, through a perf link: each call counts twice.
    ret = perf.probe_open("uprobe", probed, offset, retprobe=True)
    fds.append(ret)
    link = link_ops.link_create(trace.programs["uprobe_hit"].fd, ret.raw, AttachType.PERF_EVENT)
    fds.append(link)
    assert link_ops.link_info(link.raw).info.perf_event.type == PERF_EVENT_URETPROBE
    subprocess.run([probed, "5"], check=True)
    assert counter(trace, 2) == 23
    event.close()
    assert closed_and_gone(link)
    subprocess.run([probed, "4"], check=True)
    assert counter(trace, 2) == 23


def test_symbol_offset(probed: str, tmp_path: Path) -> None:
    # gcc's default PIE maps the text segment at p_offset == p_vaddr, so the
    # file offset equals nm's address there; a non-PIE binary shows the
    # translation (address 0x401xxx, offset 0x1xxx).
    assert symbol_offset(probed, "bpfnest_probe_me") == nm_address(probed, "bpfnest_probe_me")
    nopie = tmp_path / "nopie"
    source = tmp_path / "p.c"
    source.write_text(PROBED_C)
    subprocess.run(["gcc", "-O1", "-no-pie", "-o", str(nopie), str(source)], check=True)
    address = nm_address(str(nopie), "bpfnest_probe_me")
    offset = symbol_offset(str(nopie), "bpfnest_probe_me")
    assert offset != address and offset == address - 0x400000
    assert symbol_offset(libc_path(), "getpid@@GLIBC_2.2.5") == symbol_offset(libc_path(), "getpid")
    with pytest.raises(ValueError, match="no function 'no_such_function' in"):
        symbol_offset(probed, "no_such_function")
    text = tmp_path / "text"
    text.write_text("not an ELF file\n")
    with pytest.raises(ValueError, match="not a readable ELF file"):
        symbol_offset(str(text), "main")


# ------------------------------------------------------------------ kprobes


def test_kprobe_pmu_absence_is_reported_clearly() -> None:
    if KPROBE_PMU.exists():
        assert perf.pmu_type("kprobe") > 0
        return
    for call in (
        lambda: perf.pmu_type("kprobe"),
        lambda: perf.probe_open("kprobe", "do_sys_openat2"),
    ):
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.ENOENT
        assert "no kprobe PMU" in str(caught.value)
        assert "CONFIG_KPROBES" in str(caught.value)


def test_uprobe_pmu() -> None:
    assert perf.pmu_type("uprobe") > 0
    assert perf.retprobe_bit("uprobe") == 0


# ------------------------------------------------------------------ numbers against C


@pytest.mark.parametrize(
    ("lookup", "call"),
    [(perf.syscall_number, "perf_event_open(2)"), (bpfnest._sys.syscall_number, "bpf(2)")],
)
def test_unknown_machine_is_enosys(lookup: Callable[[str], int], call: str) -> None:
    """Both syscall tables answer an unknown machine the same way (one helper)."""
    assert lookup("x86_64") > 0 and lookup("aarch64") > 0
    with pytest.raises(OSError) as caught:
        lookup("vax")
    assert caught.value.errno == errno.ENOSYS
    assert str(caught.value) == f"[Errno 38] {call} syscall number unknown for machine 'vax'"


def test_numbers_match_the_c_headers(tmp_path: Path) -> None:
    source = tmp_path / "perf_check.c"
    checks = {
        "__NR_perf_event_open": perf.syscall_number(),
        "PERF_EVENT_IOC_ENABLE": perf.PERF_EVENT_IOC_ENABLE,
        "PERF_EVENT_IOC_DISABLE": perf.PERF_EVENT_IOC_DISABLE,
        "PERF_EVENT_IOC_SET_BPF": perf.PERF_EVENT_IOC_SET_BPF,
        "PERF_FLAG_FD_CLOEXEC": perf.PERF_FLAG_FD_CLOEXEC,
        "PERF_TYPE_TRACEPOINT": perf.PERF_TYPE_TRACEPOINT,
    }
    source.write_text(
        "#include <sys/syscall.h>\n#include <linux/perf_event.h>\n"
        + "".join(f'_Static_assert({k} == {v}u, "{k} == {v}");\n' for k, v in checks.items())
    )
    proc = subprocess.run(
        ["gcc", "-fsyntax-only", str(source)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


_UNMOUNTED = textwrap.dedent(
    """
    import sys
    from bpfnest._sys import perf
    try:
        print("mounted at", perf.tracefs())
    except OSError:
        print("not mounted")
    print(perf.tracepoint_id("syscalls", "sys_enter_getpgid"))
    try:
        perf.tracepoint_id("syscalls", "sys_enter_no_such_call")
    except OSError as err:
        print(err.errno, err.strerror)
    """
)


def test_tracepoint_id_where_tracefs_is_not_mounted(tracefs: str) -> None:
    """A process that sees no tracefs (a mount namespace of its own where it is
    unmounted) still gets tracepoint ids: read through a private mount in a
    short-lived child; nothing is left mounted, here or there."""
    unshare = shutil.which("unshare")
    if unshare is None:
        skip_or_fail("util-linux's unshare is missing (apt-get install util-linux)")
    with open(os.path.join(tracefs, "events", "syscalls", "sys_enter_getpgid", "id")) as f:
        truth = f.read().strip()
    mounts = _tracefs_mounts()
    unmount_all = "umount -l /sys/kernel/tracing /sys/kernel/debug/tracing 2>/dev/null;"
    proc = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c",
         unmount_all + ' exec "$0" -c "$1"', sys.executable, _UNMOUNTED],
        capture_output=True, text=True, timeout=60, check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "not mounted",
        truth,
        "2 no tracepoint syscalls/sys_enter_no_such_call (events in tracefs:"
        " /sys/kernel/tracing/events)",
    ]
    assert _tracefs_mounts() == mounts


def _tracefs_mounts() -> list[str]:
    with open("/proc/mounts") as f:
        return [line for line in f if " tracefs " in line]
