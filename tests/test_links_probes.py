"""Program.attach_uprobe and attach_kprobe on the real kernel (issue 14).

The uprobe target is tests/bin/probed.c, compiled by gcc here: its
``bpfnest_probe_me(i)`` returns ``i + 1`` and runs N times on request, so a
probe must count exactly N and a uretprobe must see the sum of the returns.
libc's ``getpid`` is probed by path and by bare name, called through ctypes
by a child Python. The programs are tests/bpf/probe_count.c. Where the
kernel has no kprobes (these machines: CONFIG_KPROBES unset) the kprobe test
asserts the clear ``NotSupportedError``; where it has them, it counts.
Nothing leaks: the leak guard checks fds and links, and the tracefs tests
check that ``uprobe_events`` holds none of our events afterwards. The
conformance test of every link kind (pin, reopen by pin and id, info, the
refusals of update and detach, close) runs on an uprobe link in
tests/test_links.py, with the fixtures of this module.
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
from typing import NoReturn

import pytest
from test_perf import libc_path, tracefs  # noqa: F401  (tracefs: mounts it when it is not)

import bpfnest
from bpfnest import BPFError, Link, LinkType, NotSupportedError, features
from bpfnest._hints import effective_caps, perf_perm_hint
from bpfnest._sys import link_ops, perf
from bpfnest._uprobe import ld_so_cache, resolve_binary, symbol_offset
from bpfnest.link import LegacyLink, _probe

from netns import counter, trace_counts, wait_for
from netns import link_ids as all_link_ids
from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

BIN = Path(__file__).parent / "bin"
FUNC = "bpfnest_probe_me"
# counts[] slots of probe_count.c
ENTRIES, RETURNS, RETSUM, KPROBES, KRETPROBES = range(5)
# The word of struct pt_regs that holds the return value, by machine.
RETURN_REG = {"x86_64": 10, "riscv64": 10, "aarch64": 0}
# getpgid's syscall entry symbol, by machine, for the kprobe test.
GETPGID = {"x86_64": "__x64_sys_getpgid", "aarch64": "__arm64_sys_getpgid"}


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/bin/probed.c compiled by gcc (with its symbols)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        skip_or_fail("gcc is not installed (apt-get install gcc)")
    out = tmp_path_factory.mktemp("probed") / "probed"
    subprocess.run([gcc, "-O1", "-o", str(out), str(BIN / "probed.c")], check=True)
    return str(out)


@pytest.fixture
def probes(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    """tests/bpf/probe_count.c loaded, counting every process."""
    machine = os.uname().machine
    if machine not in RETURN_REG:
        pytest.skip(f"the return register of {machine} is not in this test's table")
    with bpfnest.CollectionSpec.from_file(objs("probe_count")).load() as coll:
        coll.maps["config"].update(1, RETURN_REG[machine])
        yield coll


class Runner:
    """A running process that calls its probed function on request."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        if argv[0] == sys.executable:  # a Python child says when it is set up
            self._expect("ready")

    def _expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == word, line

    def call(self, n: int) -> None:
        """Make the process call its function ``n`` times; return when it has."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        self._expect(f"done {n}")

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        self.proc.stdout.close()


@pytest.fixture
def runners() -> Iterator[Callable[[list[str]], Runner]]:
    made: list[Runner] = []

    def start(argv: list[str]) -> Runner:
        made.append(Runner(argv))
        return made[-1]

    yield start
    for each in made:
        each.close()


# A child Python that calls libc's getpid through ctypes N times per line "N".
GETPID_CHILD = textwrap.dedent(
    """
    import ctypes, sys
    getpid = ctypes.CDLL("libc.so.6").getpid
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        for _ in range(n):
            getpid()
        print(f"done {n}", flush=True)
    """
)


def fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def gone(link: Link) -> bool:
    """Close ``link``; True once the kernel has forgotten it."""
    lid = link.id
    link.close()
    return wait_for(lambda: lid not in all_link_ids())


def our_events() -> list[str]:
    """The lines of tracefs uprobe_events that this library defined."""
    path = perf.probe_events("uprobe")
    if path is None:
        return []
    with open(path) as f:
        return [line for line in f if f":{_probe.GROUP}/" in line]


# ------------------------------------------------------------------ uprobes


def test_uprobe_counts_exactly_n_and_close_stops(probed: str, probes: bpfnest.Collection) -> None:
    prog = probes.programs["on_entry"]
    before = fds()
    with prog.attach_uprobe(probed, FUNC) as link:
        assert len(fds() - before) == 2  # the link and its perf event
        info = link.info()
        assert (info.type, info.program_id, info.perf_event, info.name, info.offset) == (
            LinkType.PERF_EVENT, prog.id, "uprobe", probed, symbol_offset(probed, FUNC),
        )  # fmt: skip
        subprocess.run([probed, "13"], check=True)
        assert counter(probes, ENTRIES) == 13
        subprocess.run([probed, "0"], check=True)
        assert counter(probes, ENTRIES) == 13
        assert gone(link)
    assert fds() == before
    subprocess.run([probed, "4"], check=True)
    assert counter(probes, ENTRIES) == 13


def test_uretprobe_sees_the_return_values(probed: str, probes: bpfnest.Collection) -> None:
    with probes.programs["on_return"].attach_uprobe(probed, FUNC, retprobe=True) as link:
        assert link.info().perf_event == "uretprobe"
        subprocess.run([probed, "10"], check=True)
        assert counter(probes, RETURNS) == 10
        assert counter(probes, RETSUM) == sum(i + 1 for i in range(10))  # 55
    assert counter(probes, ENTRIES) == 0


def test_uprobe_by_file_offset_alone(probed: str, probes: bpfnest.Collection) -> None:
    where = symbol_offset(probed, FUNC)
    with probes.programs["on_entry"].attach_uprobe(probed, offset=where) as link:
        assert (link.info().offset, link.info().name) == (where, probed)
        subprocess.run([probed, "6"], check=True)
        assert counter(probes, ENTRIES) == 6


def test_uprobe_pid_filter(
    probed: str, probes: bpfnest.Collection, runners: Callable[[list[str]], Runner]
) -> None:
    one, other = runners([probed]), runners([probed])
    with probes.programs["on_entry"].attach_uprobe(probed, FUNC, pid=one.pid):
        one.call(5)
        other.call(7)  # the same function in another process: not counted
        assert counter(probes, ENTRIES) == 5
        one.call(2)
        assert counter(probes, ENTRIES) == 7
    with probes.programs["on_entry"].attach_uprobe(probed, FUNC):  # every process
        one.call(1)
        other.call(3)
        assert counter(probes, ENTRIES) == 11


@pytest.mark.parametrize("by", ["path", "name"])
def test_libc_getpid_counts_a_child(
    by: str, probes: bpfnest.Collection, runners: Callable[[list[str]], Runner]
) -> None:
    """A shared library by its path (with pid=) or by its bare name (resolved
    as libbpf does; the program filters by the child's pid)."""
    child = runners([sys.executable, "-c", GETPID_CHILD])
    prog = probes.programs["on_entry"]
    if by == "path":
        link = prog.attach_uprobe(libc_path(), "getpid", pid=child.pid)
    else:
        probes.maps["config"].update(0, child.pid)
        link = prog.attach_uprobe("libc.so.6", "getpid")
    with link:
        assert os.path.realpath(link.info().name or "") == os.path.realpath(libc_path())
        start = counter(probes, ENTRIES)
        child.call(25)
        assert counter(probes, ENTRIES) - start == 25
        os.getpid()  # this process is not counted
        assert counter(probes, ENTRIES) - start == 25


def test_pinned_uprobe_link_outlives_its_object(
    probed: str, probes: bpfnest.Collection, bpffs: str
) -> None:
    path = os.path.join(bpffs, "kept")
    with probes.programs["on_entry"].attach_uprobe(probed, FUNC) as link:
        lid = link.id
        link.pin(path)
    try:
        subprocess.run([probed, "4"], check=True)  # the pin holds the link and its event
        assert counter(probes, ENTRIES) == 4
    finally:
        os.unlink(path)
    assert wait_for(lambda: lid not in all_link_ids())
    subprocess.run([probed, "4"], check=True)
    assert counter(probes, ENTRIES) == 4


# ------------------------------------------------------------------ tracefs (legacy)


@pytest.fixture
def no_uprobe_pmu(monkeypatch: pytest.MonkeyPatch, tracefs: str) -> None:  # noqa: F811
    """Make the attach take the path of kernels before 4.17 (no probe PMU):
    a uniquely named event in tracefs uprobe_events, on the real kernel."""
    if perf.probe_events("uprobe") is None:
        skip_or_fail(f"no uprobe_events in {tracefs}")
    monkeypatch.setattr(perf, "has_pmu", lambda pmu: False)
    assert our_events() == []


@pytest.mark.usefixtures("no_uprobe_pmu")
def test_uprobe_through_tracefs_removes_its_event(
    probed: str, probes: bpfnest.Collection, runners: Callable[[list[str]], Runner]
) -> None:
    before = fds()
    one, other = runners([probed]), runners([probed])
    with probes.programs["on_return"].attach_uprobe(
        probed, FUNC, retprobe=True, pid=one.pid
    ) as link:
        (line,) = our_events()
        assert line.startswith(f"r:{_probe.GROUP}/uprobe_{os.getpid()}_"), line
        file, at = line.split()[1].rsplit(":", 1)
        assert (file, int(at, 16)) == (probed, symbol_offset(probed, FUNC)), line
        info = link.info()
        assert (info.perf_event, info.name) == ("uretprobe", probed)
        one.call(4)
        other.call(9)
        assert (counter(probes, RETURNS), counter(probes, RETSUM)) == (4, 1 + 2 + 3 + 4)
        assert len(fds() - before) == 6  # link, perf event, two runners' pipes
    assert our_events() == []


@pytest.mark.usefixtures("no_uprobe_pmu")
def test_uprobe_through_tracefs_failure_leaves_nothing(
    probed: str, probes: bpfnest.Collection
) -> None:
    before, links = fds(), all_link_ids()
    with pytest.raises(BPFError) as caught:  # perf_event_open: no such process
        probes.programs["on_entry"].attach_uprobe(probed, FUNC, pid=no_such_pid())
    assert caught.value.errno == errno.ESRCH
    assert our_events() == []
    assert (fds(), all_link_ids()) == (before, links)


@pytest.fixture
def no_perf_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the attach take the path of kernels before 5.15 (no perf-event
    links): PERF_EVENT_IOC_SET_BPF on the probe's event, on the real kernel."""
    monkeypatch.setitem(features.link_support, "perf_event", False)


@pytest.mark.usefixtures("no_perf_links")
@pytest.mark.parametrize("through", ["pmu", "tracefs"])
def test_uprobe_by_ioctl_counts_and_close_removes_it(
    through: str,
    probed: str,
    probes: bpfnest.Collection,
    monkeypatch: pytest.MonkeyPatch,
    tracefs: str,  # noqa: F811
) -> None:
    if through == "tracefs":
        if perf.probe_events("uprobe") is None:
            skip_or_fail(f"no uprobe_events in {tracefs}")
        monkeypatch.setattr(perf, "has_pmu", lambda pmu: False)
    before, links = fds(), all_link_ids()
    with probes.programs["on_return"].attach_uprobe(probed, FUNC, retprobe=True) as link:
        assert isinstance(link, LegacyLink) and link.id == 0
        info = link.info()
        assert (info.program_id, info.perf_event, info.name) == (
            probes.programs["on_return"].id, "uretprobe", probed,
        )  # fmt: skip
        subprocess.run([probed, "5"], check=True)
        assert (counter(probes, RETURNS), counter(probes, RETSUM)) == (5, 15)
        with pytest.raises(NotSupportedError, match="nothing to pin"):
            link.pin("/sys/fs/bpf/never")
        with pytest.raises(BPFError, match="cannot switch programs"):
            link.update(probes.programs["on_entry"])
        assert all_link_ids() == links  # no BPF link: the event holds the program
    assert our_events() == []
    assert (fds(), all_link_ids()) == (before, links)
    subprocess.run([probed, "3"], check=True)
    assert counter(probes, RETURNS) == 5


# ------------------------------------------------------------------ kprobes


def kprobes_here() -> bool:
    return perf.has_pmu("kprobe") or perf.probe_events("kprobe") is not None


@pytest.mark.usefixtures("tracefs")
def test_kprobe_counts_or_is_not_supported(
    probes: bpfnest.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probed, not frozen: this machine's kernel decides which half runs."""
    prog = probes.programs["on_kprobe"]
    if not kprobes_here():
        before, links = fds(), all_link_ids()

        def tripwire(*args: object, **kwargs: object) -> NoReturn:
            raise AssertionError("a syscall was made before NotSupportedError")

        for module, name in ((perf, "perf_event_open"), (perf, "probe_event_add")):
            monkeypatch.setattr(module, name, tripwire)
        monkeypatch.setattr(link_ops, "link_create", tripwire)
        with pytest.raises(NotSupportedError) as caught:
            prog.attach_kprobe("do_sys_openat2")
        err = caught.value
        assert (err.feature, err.min_kernel) == ("CONFIG_KPROBES", "5.15")
        assert str(err) == (
            "attach_kprobe 'do_sys_openat2': this kernel has no kprobes (no kprobe PMU in"
            " /sys/bus/event_source/devices, no kprobe_events in tracefs): it was built without"
            " CONFIG_KPROBES (attach_kprobe needs Linux 5.15: a perf-event link on a kprobe)"
        )
        with pytest.raises(NotSupportedError):
            probes.programs["on_kretprobe"].attach_kprobe("do_sys_openat2", retprobe=True)
        assert (fds(), all_link_ids()) == (before, links)
        monkeypatch.undo()
        return
    machine = os.uname().machine
    if machine not in GETPGID:
        pytest.skip(f"getpgid's entry symbol on {machine} is not in this test's table")
    probes.maps["config"].update(0, os.getpid())
    symbol = GETPGID[machine]
    with (
        prog.attach_kprobe(symbol) as link,
        probes.programs["on_kretprobe"].attach_kprobe(symbol, retprobe=True) as ret,
    ):
        assert (link.info().perf_event, link.info().name) == ("kprobe", symbol)
        assert ret.info().perf_event == "kretprobe"
        for _ in range(8):
            os.getpgid(0)
        assert (counter(probes, KPROBES), counter(probes, KRETPROBES)) == (8, 8)
    os.getpgid(0)
    assert counter(probes, KPROBES) == 8
    with pytest.raises(BPFError) as caught:
        prog.attach_kprobe("bpfnest_no_such_kernel_function")
    assert caught.value.errno in (errno.ENOENT, errno.EINVAL)
    assert "'bpfnest_no_such_kernel_function'" in str(caught.value)
    assert "/proc/kallsyms" in str(caught.value)


# ------------------------------------------------------------------ bad input


def no_such_pid() -> int:
    """A pid above the kernel's pid_max: no process can have it."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read()) + 1


def test_bad_input_fails_before_perf_event_open(
    probed: str, probes: bpfnest.Collection, objs: Callable[[str], str], tmp_path: Path
) -> None:
    entry = probes.programs["on_entry"]
    text = tmp_path / "text"
    text.write_text("not ELF\n")
    with trace_counts(objs) as other:
        tp = other.programs["tp_getpgid"]
        cases: list[tuple[Callable[[], object], type[Exception], str]] = [
            (
                lambda: tp.attach_uprobe("/no/such/file", FUNC),  # the type first
                TypeError,
                "attach program 'tp_getpgid' to an uprobe: it is a TRACEPOINT program,"
                " an uprobe takes KPROBE programs",
            ),
            (
                lambda: tp.attach_kprobe("do_sys_openat2"),
                TypeError,
                "attach program 'tp_getpgid' to kprobe 'do_sys_openat2': it is a"
                " TRACEPOINT program, kprobe 'do_sys_openat2' takes KPROBE programs",
            ),
            (
                lambda: entry.attach_uprobe("/no/such/file", FUNC),
                ValueError,
                "attach_uprobe: '/no/such/file' does not exist (give an executable or a"
                " shared library)",
            ),
            (
                lambda: entry.attach_uprobe(str(tmp_path), FUNC),
                ValueError,
                f"attach_uprobe: '{tmp_path}' is not a regular file",
            ),
            (
                lambda: entry.attach_uprobe("libbpfnest-none.so.1", FUNC),
                ValueError,
                "attach_uprobe: no 'libbpfnest-none.so.1' in LD_LIBRARY_PATH, /etc/ld.so.cache or ",
            ),
            (
                lambda: entry.attach_uprobe(probed, "no_such_function"),
                ValueError,
                f"attach_uprobe: no function 'no_such_function' in {probed}",
            ),
            (
                lambda: entry.attach_uprobe(str(text), "main"),
                ValueError,
                f"attach_uprobe: {text} is not a readable ELF file",
            ),
            (
                lambda: entry.attach_uprobe(probed, FUNC, offset=-1),
                ValueError,
                "attach_uprobe: offset must be >= 0 (a byte offset), got -1",
            ),
            (
                lambda: entry.attach_uprobe(probed),
                ValueError,
                "attach_uprobe: give a symbol, or the file offset of the instruction",
            ),
            (
                lambda: entry.attach_uprobe(probed, FUNC, pid=0),
                ValueError,
                "attach_uprobe: pid must be a process id > 0 (None: every process), got 0",
            ),
            (
                lambda: entry.attach_uprobe(probed, FUNC, pid="1"),  # type: ignore[arg-type]
                TypeError,
                "attach_uprobe: pid must be an int or None, got str",
            ),
            (
                lambda: entry.attach_uprobe(probed, FUNC, retprobe=1),  # type: ignore[arg-type]
                TypeError,
                "attach_uprobe: retprobe must be a bool, got int",
            ),
            (
                lambda: entry.attach_uprobe(None, FUNC),  # type: ignore[arg-type]
                TypeError,
                "attach_uprobe: path must be a str or os.PathLike, got NoneType",
            ),
            (
                lambda: entry.attach_uprobe(probed, ""),
                ValueError,
                "attach_uprobe: symbol must be a function name or None, got ''",
            ),
            (
                lambda: entry.attach_kprobe("do sys"),
                ValueError,
                "attach_kprobe: symbol 'do sys' is not a kernel function name (see /proc/kallsyms)",
            ),
            (
                lambda: entry.attach_kprobe("do_sys_openat2", offset=-4),
                ValueError,
                "attach_kprobe: offset must be >= 0 (a byte offset), got -4",
            ),
            (
                lambda: entry.attach_kprobe("do_sys_openat2", retprobe=True, offset=4),
                ValueError,
                "attach_kprobe: a kretprobe is on the function's return: offset must be 0",
            ),
        ]
        before, links = fds(), all_link_ids()
        for call, kind, message in cases:
            with pytest.raises(kind) as caught:
                call()
            assert str(caught.value).startswith(message), str(caught.value)
            assert (fds(), all_link_ids()) == (before, links)


def test_kernel_refusals_name_the_cause(probed: str, probes: bpfnest.Collection) -> None:
    entry = probes.programs["on_entry"]
    pid = no_such_pid()
    with pytest.raises(BPFError) as caught:
        entry.attach_uprobe(probed, FUNC, pid=pid)
    assert caught.value.errno == errno.ESRCH
    assert str(caught.value) == (
        f"attach program 'on_entry' to uprobe '{probed}:{FUNC}' of pid {pid}:"
        f" No such process (no process {pid})"
    )
    entry.close()
    with pytest.raises(ValueError, match="closed"):
        entry.attach_uprobe(probed, FUNC)


@pytest.mark.parametrize("caps", [("cap_bpf",), ("cap_bpf", "cap_perfmon")])
def test_attach_without_sys_admin_says_which_capability(
    caps: tuple[str, ...], probed: str, probes: bpfnest.Collection, bpffs: str
) -> None:
    """A child without CAP_SYS_ADMIN opens the pinned program (6.5: a pin needs
    no capability) and attaches. Without CAP_PERFMON perf_event_open refuses
    and the hint names it; with it, the attach works, or (as on 6.18 here,
    measured) the kernel refuses anyway and the hint suggests CAP_SYS_ADMIN."""
    import test_privileges as priv

    priv._need_root_with(caps)
    if priv.KERNEL < (6, 5):
        skip_or_fail("opening a pin without CAP_SYS_ADMIN needs Linux 6.5")
    pinned = os.path.join(bpffs, "prog")
    probes.programs["on_entry"].pin(pinned)
    code = textwrap.dedent(
        """
        import subprocess, sys, bpfnest
        with bpfnest.Program.from_pinned(sys.argv[1]) as p:
            try:
                with p.attach_uprobe(sys.argv[2], "bpfnest_probe_me"):
                    subprocess.run([sys.argv[2], "3"], check=True)
                print("attached")
            except bpfnest.BPFError as err:
                print(err.errno, err, sep="\\n")
        """
    )
    done = priv._finish(priv._launch(priv._mask(caps), ["-c", code, pinned, probed], None))
    assert done.returncode == 0, done.stderr
    if "cap_perfmon" in caps and done.stdout.strip() == "attached":
        assert counter(probes, ENTRIES) == 3
        return
    code_line, message = done.stdout.splitlines()
    assert int(code_line) in (errno.EACCES, errno.EPERM)
    hint = REFUSED_PERFMON if "cap_perfmon" in caps else NEEDS
    assert message.endswith(f"({hint})"), message
    assert counter(probes, ENTRIES) == 0


NEEDS = "needs root, or CAP_PERFMON (or CAP_SYS_ADMIN) for kprobe and uprobe events"
REFUSED_PERFMON = (
    "the kernel refused although this process has CAP_PERFMON: try CAP_SYS_ADMIN"
    " (some kernels, LSMs or sandbox policies want it for probe events)"
)
REFUSED = (
    "the kernel refused although this process has {}:"
    " kernel lockdown, an LSM or a sandbox policy forbids it"
)


@pytest.mark.parametrize(
    ("release", "caps", "expected"),
    [
        ("6.18.4", 0, NEEDS),
        ("6.18.4", None, NEEDS),
        ("6.18.4", 1 << 38, REFUSED_PERFMON),
        ("6.18.4", 1 << 21, REFUSED.format("CAP_SYS_ADMIN")),
        ("5.4.0-1", 1 << 38, "needs root (CAP_SYS_ADMIN: Linux 5.4 predates CAP_PERFMON)"),
        ("5.4.0-1", 1 << 21, REFUSED.format("CAP_SYS_ADMIN")),
    ],
)
def test_perf_perm_hint(release: str, caps: int | None, expected: str) -> None:
    assert perf_perm_hint(release, caps) == expected


def test_this_process_would_hear_the_kernel_refused() -> None:
    caps = effective_caps()
    if caps is None or not caps >> 38 & 1:
        skip_or_fail("this process lacks CAP_PERFMON: run the tests as root")
    assert perf_perm_hint(os.uname().release, caps).startswith("the kernel refused although")


# ------------------------------------------------------------------ library names


def test_resolve_binary_as_libbpf() -> None:
    libc = resolve_binary("libc.so.6")
    assert os.path.realpath(libc) == os.path.realpath(libc_path())
    assert ("libc.so.6", libc) in ld_so_cache() or not os.path.exists("/etc/ld.so.cache")
    assert resolve_binary("/any/path/kept") == "/any/path/kept"
    assert os.path.realpath(resolve_binary("sh")) == os.path.realpath(shutil.which("sh") or "")
    with pytest.raises(ValueError, match=r"^no 'bpfnest-no-such-tool' in PATH or /usr/bin"):
        resolve_binary("bpfnest-no-such-tool")


def test_ld_library_path_comes_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, probed: str
) -> None:
    lib = tmp_path / "libc.so.6"
    shutil.copy(libc_path(), lib)
    monkeypatch.setenv("LD_LIBRARY_PATH", f"/nonexistent:{tmp_path}")
    assert resolve_binary("libc.so.6") == str(lib)
    (tmp_path / "libnotelf.so").write_text("text")  # not ELF of this machine: skipped
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    with pytest.raises(ValueError):
        resolve_binary("libnotelf.so")


def test_symbol_versions_as_libbpf() -> None:
    """libc defines some functions in two versions at two addresses (readelf
    shows ``name@@NEW`` and ``name@OLD``): a bare name means the default."""
    readelf = shutil.which("readelf")
    if readelf is None:
        skip_or_fail("readelf is not installed (apt-get install binutils)")
    libc = libc_path()
    out = subprocess.run(
        [readelf, "--dyn-syms", "-W", libc], capture_output=True, text=True, check=True
    ).stdout
    seen: dict[str, dict[str, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 8 and parts[3] == "FUNC" and parts[6] != "UND" and "@" in parts[7]:
            seen.setdefault(parts[7].split("@", 1)[0], {})[parts[7]] = int(parts[1], 16)
    pairs = [
        (name, v)
        for name, v in sorted(seen.items())
        if len(set(v.values())) == 2 and sum("@@" in k for k in v) == 1
    ]
    if not pairs:
        skip_or_fail(f"no function of {libc} has two versions at two addresses")
    name, versions = pairs[0]
    (new,) = [k for k in versions if "@@" in k]
    (old,) = [k for k in versions if "@@" not in k]
    assert symbol_offset(libc, name) == symbol_offset(libc, new)
    assert symbol_offset(libc, old) - symbol_offset(libc, new) == versions[old] - versions[new]
    with pytest.raises(ValueError, match="no function"):
        symbol_offset(libc, f"{name}@BPFNEST_NO_SUCH_VERSION")


@pytest.mark.parametrize(
    ("args", "retprobe", "line"),
    [
        (("kprobe", "g", "n", "do_sys_openat2", 0), False, "p:g/n do_sys_openat2"),
        (("kprobe", "g", "n", "do_sys_openat2", 16), False, "p:g/n do_sys_openat2+16"),
        (("kprobe", "g", "n", "do_sys_openat2", 0), True, "r:g/n do_sys_openat2"),
        (("uprobe", "g", "n", "/bin/x", 0x1169), False, "p:g/n /bin/x:0x1169"),
        (("uprobe", "g", "n", "/bin/x", 0x1169), True, "r:g/n /bin/x:0x1169"),
    ],
)
def test_probe_event_lines(args: tuple[str, str, str, str, int], retprobe: bool, line: str) -> None:
    """The legacy definitions (kprobe_events cannot be exercised where the
    kernel has no kprobes; uprobe_events is, by the tracefs tests above)."""
    assert perf.probe_event_line(*args, retprobe=retprobe) == line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("uprobe", "g", "n", "/a b", 1), "probe target '/a b' cannot be written to uprobe_events"),
        (("uprobe", "g", "n/x", "/a", 1), "probe event name 'n/x' is not an event name"),
        (("fprobe", "g", "n", "f", 0), "probe kind must be 'kprobe' or 'uprobe', got 'fprobe'"),
    ],
)
def test_probe_event_lines_refused(args: tuple[str, str, str, str, int], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        perf.probe_event_line(*args)
    assert str(caught.value) == message
