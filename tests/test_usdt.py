"""USDT probes (issue 20): notes read from real binaries, and
``Program.attach_usdt`` on the real kernel.

The targets are tests/bin/usdt_target.c (with usdt_sema.c) and its shared
library libusdt.so (usdt_lib.c, usdt_lib_sema.c), built here by gcc with
``<sys/sdt.h>``, as a PIE and a fixed-address executable. Their probes pass
the same eight values (sizes 1, 2, 4, 8; signed and unsigned) as constants,
registers and memory; two probes sit behind semaphores. The BPF side
(tests/bpf/usdt_record.c) records what ``bpf_usdt_arg`` and
``bpf_usdt_cookie`` return, and the tests compare it with the values the C
program passed. ``readelf -n`` checks the notes, libbpf's own
``bpf_program__attach_usdt`` (tests/bin/usdt_libbpf.c) the spec map
contents, and Debian's python3.11 its ``python:function__entry`` probe.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import re
import shutil
import struct
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bpfnest
from bpfnest import BPFError, Collection, CollectionSpec, Link, NotSupportedError, UsdtProbe, _usdt
from bpfnest._sys import perf
from bpfnest._usdt import ARG_CONST, ARG_REG, ARG_REG_DEREF, ArgSpec, parse_args, sites
from bpfnest.link import _usdt as link_usdt

from netns import link_ids, wait_for
from support import skip_or_fail

BIN = Path(__file__).parent / "bin"
PYTHON = "/usr/bin/python3.11"
# What every argument probe of usdt_target.c passes: (value, size, signed).
VALUES = [
    (-5, 1, True),
    (250, 1, False),
    (-3000, 2, True),
    (65000, 2, False),
    (-100000, 4, True),
    (4000000000, 4, False),
    (-5000000000, 8, True),
    (18000000000000000000, 8, False),
]
EXPECTED = [v % (1 << 64) for v, _, _ in VALUES]  # bpf_usdt_arg's long, as a u64
RECORD = struct.Struct("<IiQ12Q12i")  # struct record of usdt_record.c


@dataclass(frozen=True)
class Targets:
    pie: str
    nopie: str
    lib: str
    libbpf: str | None  # the libbpf loader, where libbpf-dev is installed


def _gcc(*args: str) -> None:
    res = subprocess.run(["gcc", *args], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Targets:
    """The USDT targets and the libbpf loader, compiled by gcc."""
    if shutil.which("gcc") is None:
        skip_or_fail("gcc is not installed (apt-get install gcc)")
    probe = subprocess.run(
        ["gcc", "-E", "-x", "c", "-"],
        input="#include <sys/sdt.h>\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        skip_or_fail("<sys/sdt.h> is missing (apt-get install systemtap-sdt-dev)")
    out = tmp_path_factory.mktemp("usdt")
    lib = str(out / "libusdt.so")
    _gcc(
        "-O2", "-shared", "-fPIC", "-o", lib, str(BIN / "usdt_lib.c"), str(BIN / "usdt_lib_sema.c")
    )
    srcs = [str(BIN / "usdt_target.c"), str(BIN / "usdt_sema.c")]
    link = ["-L", str(out), "-lusdt", "-Wl,-rpath," + str(out)]
    _gcc("-O2", "-fPIE", "-pie", "-o", str(out / "pie"), *srcs, *link)
    _gcc("-O2", "-fno-pie", "-no-pie", "-o", str(out / "nopie"), *srcs, *link)
    loader: str | None = str(out / "usdt_libbpf")
    res = subprocess.run(
        ["gcc", "-O1", "-o", str(loader), str(BIN / "usdt_libbpf.c"), "-lbpf"],
        capture_output=True,
        check=False,
    )
    if res.returncode != 0:
        loader = None
    return Targets(str(out / "pie"), str(out / "nopie"), lib, loader)


class Target:
    """A running usdt_target: each go() fires every probe once."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid

    def go(self) -> tuple[int, int]:
        """Fire; the semaphores' values (executable, library) the program saw."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().split()
        assert words[0] == "done", words
        return int(words[1]), int(words[2])

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        self.proc.stdout.close()


@pytest.fixture
def start() -> Iterator[Callable[[str], Target]]:
    made: list[Target] = []

    def run(path: str) -> Target:
        made.append(Target(path))
        return made[-1]

    yield run
    for each in made:
        each.close()


@pytest.fixture
def rec(kernel: None, objs: Callable[[str], str]) -> Iterator[Collection]:
    with CollectionSpec.from_file(objs("usdt_record")).load() as coll:
        yield coll


@pytest.fixture
def made() -> Iterator[list[Link]]:
    links: list[Link] = []
    yield links
    for link in links:
        link.close()


@dataclass(frozen=True)
class Record:
    pid: int
    arg_cnt: int
    cookie: int
    args: list[int]


def records(coll: Collection) -> list[Record]:
    hits = int.from_bytes(coll.get_global("hits"), "little")
    out = []
    for slot in range(min(hits, 64)):
        raw = coll.maps["records"].lookup(slot)
        assert raw is not None
        got = RECORD.unpack(bytes(raw))
        pid, cnt, cookie, args, errs = got[0], got[1], got[2], got[3:15], got[15:]
        assert all(e == 0 for e in errs[:cnt]), errs
        out.append(Record(pid, cnt, cookie, list(args[:cnt])))
    return out


# ---------------------------------------------------------------- the notes


def readelf_notes(path: str) -> list[UsdtProbe]:
    """What ``readelf -n`` prints of the stapsdt notes."""
    text = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    pattern = re.compile(
        r"stapsdt\s+0x\w+\s+NT_STAPSDT.*?\n\s+Provider: (\S+)\n\s+Name: (\S+)\n"
        r"\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\n"
        r"\s+Arguments: ?(.*)\n"
    )
    return [
        UsdtProbe(m[1], m[2], int(m[3], 16), int(m[4], 16), int(m[5], 16), m[6].rstrip())
        for m in pattern.finditer(text)
    ]


def test_usdt_probes_are_what_readelf_prints(targets: Targets) -> None:
    if shutil.which("readelf") is None:
        skip_or_fail("readelf is not installed (apt-get install binutils)")
    paths = [targets.pie, targets.nopie, targets.lib]
    if os.path.exists(PYTHON):
        paths.append(PYTHON)
    for path in paths:
        got = bpfnest.usdt_probes(path)
        assert got == readelf_notes(path), path
        assert got
    names = {(p.provider, p.name, bool(p.semaphore)) for p in bpfnest.usdt_probes(targets.pie)}
    assert names == {
        ("bpfnest", n, n == "gated") for n in ("consts", "regs", "mem", "multi", "rip", "gated")
    }
    assert bpfnest.usdt_probes(targets.libbpf or "/bin/true") == []  # no notes: none


def test_sites_are_nops_at_their_file_offsets(targets: Targets) -> None:
    for path in (targets.pie, targets.nopie, targets.lib):
        data = Path(path).read_bytes()
        for probe in bpfnest.usdt_probes(path):
            for site in sites(path, probe.provider, probe.name):
                assert data[site.offset] == 0x90, (path, probe)  # the probe's nop
                assert site.address == site.probe.address  # not prelinked
                if probe.semaphore:
                    # a zero u16 in the file's data: the kernel counts it up at attach
                    assert site.semaphore_offset > 0
                    assert data[site.semaphore_offset : site.semaphore_offset + 2] == b"\0\0"
    # a fixed-address executable: the offset is the address minus the segment's base
    (gated,) = sites(targets.nopie, "bpfnest", "gated")
    assert gated.address >= 0x400000 and gated.offset == gated.address - 0x400000


def test_prelink_adjustment_moves_the_sites(targets: Targets, tmp_path: Path) -> None:
    # prelink moves .stapsdt.base but not the notes: a note's base 16 bytes
    # below the section's address puts the probe 16 bytes further.
    data = bytearray(Path(targets.pie).read_bytes())
    (multi_a, multi_b) = [p for p in bpfnest.usdt_probes(targets.pie) if p.name == "multi"]
    needle = struct.pack("<QQQ", multi_a.address, multi_a.base, 0)
    at = data.index(needle)
    data[at + 8 : at + 16] = struct.pack("<Q", multi_a.base - 16)
    moved = tmp_path / "moved"
    moved.write_bytes(bytes(data))
    a, b = sites(str(moved), "bpfnest", "multi")
    assert a.address == multi_a.address + 16 and b.address == multi_b.address
    assert a.offset - b.offset == 16 - (multi_b.address - multi_a.address)


def test_argument_specs() -> None:
    got = parse_args("-1@$-5 1@$-6 -2@%dx 8@%r9 -4@-20(%rbp) 8@(%rsp) 2@ 8 ( %rdi)")
    assert got == [
        ArgSpec(ARG_CONST, -5, 0, True, 1),
        ArgSpec(ARG_CONST, -6, 0, False, 1),
        ArgSpec(ARG_REG, 0, 96, True, 2),
        ArgSpec(ARG_REG, 0, 64, False, 8),
        ArgSpec(ARG_REG_DEREF, -20, 32, True, 4),
        ArgSpec(ARG_REG_DEREF, 0, 152, False, 8),
        ArgSpec(ARG_REG_DEREF, 8, 112, False, 2),
    ]
    assert parse_args("") == []
    spec = _usdt.encode_spec(got[:1], 7)
    assert len(spec) == _usdt.SPEC_SIZE == 208
    assert spec[:16] == struct.pack("<QiHbb", (1 << 64) - 5, 0, 0, 1, 56)
    assert spec[192:] == struct.pack("<Qh6x", 7, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("-4@counter(%rip)", "argument #0 '-4@counter(%rip)' is not a USDT argument spec"),
        ("8@%rax 4@%ah", "argument #1 '4@%ah': unknown register '%ah'"),
        ("3@%rax", "argument #0 '3@%rax': size 3 is not 1, 2, 4 or 8"),
        (" ".join(["8@%rax"] * 13), "more than 12 USDT arguments"),
    ],
)
def test_argument_specs_refused(args: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_args(args)


# ---------------------------------------------------------------- attaching


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_args_of_every_kind_size_and_sign(
    targets: Targets, rec: Collection, made: list[Link], start: Callable[[str], Target], kind: str
) -> None:
    path = getattr(targets, kind)
    target = start(path)
    prog = rec.programs["rec"]
    for cookie, name in enumerate(("consts", "regs", "mem"), 100):
        made.append(prog.attach_usdt(path, "bpfnest", name, cookie=cookie))
    target.go()
    got = records(rec)
    assert [(r.pid, r.arg_cnt, r.cookie) for r in got] == [
        (target.pid, 8, 100),
        (target.pid, 8, 101),
        (target.pid, 8, 102),
    ]
    for r in got:
        assert r.args == EXPECTED


def test_library_probes_with_and_without_semaphore(
    targets: Targets, rec: Collection, made: list[Link], start: Callable[[str], Target]
) -> None:
    target = start(targets.pie)
    assert target.go() == (0, 0)  # nobody traces: the library's gated probe is off
    prog = rec.programs["rec"]
    made.append(prog.attach_usdt(targets.lib, "libusdt", "plain", cookie=1))
    made.append(prog.attach_usdt(targets.lib, "libusdt", "gated", cookie=2))
    assert target.go() == (0, 1)  # the kernel counted the semaphore up
    got = records(rec)
    assert [(r.cookie, r.args) for r in got] == [
        (1, [(-7) % (1 << 64), 43, (-100000) % (1 << 64), EXPECTED[7]]),
        (2, [43]),
    ]


def test_semaphore_counts_while_attached(
    targets: Targets, rec: Collection, start: Callable[[str], Target]
) -> None:
    target = start(targets.nopie)
    assert target.go() == (0, 0)
    assert records(rec) == []  # gated: did not fire
    with rec.programs["rec"].attach_usdt(targets.nopie, "bpfnest", "gated", cookie=9):
        assert target.go() == (1, 0)
    assert [(r.cookie, r.args) for r in records(rec)] == [(9, [42, 1])]
    # closing gives the semaphore back (the kernel does it when the uprobe goes)
    assert wait_for(lambda: target.go() == (0, 0), timeout=10)
    assert len(records(rec)) == 1


def test_several_sites_of_one_probe(
    targets: Targets, rec: Collection, made: list[Link], start: Callable[[str], Target]
) -> None:
    target = start(targets.pie)
    before = link_ids()
    made.append(rec.programs["rec"].attach_usdt(targets.pie, "bpfnest", "multi", cookie=5))
    assert len(link_ids() - before) == 2  # one perf-event link per site
    target.go()
    assert [(r.cookie, r.args) for r in records(rec)] == [(5, [1]), (5, [2])]
    made.pop().close()
    assert link_ids() - before == set()


def test_a_usdt_link_is_not_pinned(
    targets: Targets, rec: Collection, made: list[Link], bpffs: str
) -> None:
    """A pin would keep one site of several (and not the spec slots): refused,
    nothing pinned, the link still attached."""
    before = link_ids()
    link = rec.programs["rec"].attach_usdt(targets.pie, "bpfnest", "multi")
    made.append(link)
    path = os.path.join(bpffs, "usdt_link")
    with pytest.raises(NotSupportedError, match="USDT link is a uprobe link for each probe site"):
        link.pin(path)
    assert not os.path.lexists(path)
    assert len(link_ids() - before) == 2  # still attached
    link.close()
    with pytest.raises(ValueError, match="closed"):
        link.pin(path)


def test_pid_filter(
    targets: Targets, rec: Collection, made: list[Link], start: Callable[[str], Target]
) -> None:
    traced, other = start(targets.pie), start(targets.pie)
    made.append(rec.programs["rec"].attach_usdt(targets.pie, "bpfnest", "consts", pid=traced.pid))
    other.go()
    traced.go()
    other.go()
    assert [r.pid for r in records(rec)] == [traced.pid]


def test_two_links_on_one_probe_with_their_own_cookies(
    targets: Targets, rec: Collection, made: list[Link], start: Callable[[str], Target]
) -> None:
    target = start(targets.pie)
    made.append(rec.programs["rec"].attach_usdt(targets.pie, "bpfnest", "regs", cookie=1))
    made.append(rec.programs["rec2"].attach_usdt(targets.pie, "bpfnest", "regs", cookie=2))
    made.append(rec.programs["rec"].attach_usdt(targets.pie, "bpfnest", "regs", cookie=3))
    target.go()
    got = records(rec)
    assert sorted(r.cookie for r in got) == [1, 2, 3]
    assert all(r.args == EXPECTED for r in got)
    made.pop(1).close()
    target.go()
    assert sorted(r.cookie for r in records(rec)[3:]) == [1, 3]


def test_spec_slots_are_freed_for_reuse(
    kernel: None,
    objs: Callable[[str], str],
    targets: Targets,
    start: Callable[[str], Target],
) -> None:
    target = start(targets.pie)
    with CollectionSpec.from_file(objs("usdt_small")).load() as coll:
        prog = coll.programs["small"]
        multi = prog.attach_usdt(targets.pie, "bpfnest", "multi", cookie=10)  # both slots
        before = link_ids()
        with pytest.raises(BPFError) as info:
            prog.attach_usdt(targets.pie, "bpfnest", "consts", cookie=1)
        assert info.value.errno == errno.E2BIG
        assert "all 2 slots of __bpf_usdt_specs are taken" in str(info.value)
        assert link_ids() == before  # nothing attached
        multi.close()
        with prog.attach_usdt(targets.pie, "bpfnest", "consts", cookie=1):
            target.go()
        assert int.from_bytes(coll.get_global("hits"), "little") == 1
        assert int.from_bytes(coll.get_global("cookies"), "little") == 1
    assert link_usdt._slots == {}


# ---------------------------------------------------------------- errors


def test_errors_before_anything_is_attached(
    targets: Targets, rec: Collection, objs: Callable[[str], str]
) -> None:
    prog = rec.programs["rec"]
    before = link_ids()
    with pytest.raises(ValueError, match=r"has no USDT probes \(no \.note\.stapsdt section\)"):
        prog.attach_usdt("/bin/true" if targets.libbpf is None else targets.libbpf, "a", "b")
    with pytest.raises(
        ValueError,
        match=r"has no USDT probe 'bpfnest:nope' \(it has: bpfnest:mem, bpfnest:regs,"
        r" bpfnest:multi, bpfnest:consts, bpfnest:rip, bpfnest:gated\)",
    ):
        prog.attach_usdt(targets.pie, "bpfnest", "nope")
    with pytest.raises(ValueError, match=r"argument #0 '-4@counter\(%rip\)' is not a USDT"):
        prog.attach_usdt(targets.pie, "bpfnest", "rip")
    with pytest.raises(ValueError, match="pid must be a process id > 0"):
        prog.attach_usdt(targets.pie, "bpfnest", "consts", pid=0)
    with pytest.raises(ValueError, match="cookie must be a u64"):
        prog.attach_usdt(targets.pie, "bpfnest", "consts", cookie=-1)
    with pytest.raises(TypeError, match="provider must be a str"):
        prog.attach_usdt(targets.pie, 1, "consts")  # type: ignore[arg-type]
    with CollectionSpec.from_file(objs("probe_count")).load() as other:
        kprobe = next(iter(other.programs.values()))
        with pytest.raises(ValueError, match="uses no __bpf_usdt_specs map, so it cannot read"):
            kprobe.attach_usdt(targets.pie, "bpfnest", "multi", cookie=5)
        assert link_ids() == before
        # without a cookie: plain uprobes on both sites, no spec slot
        with kprobe.attach_usdt(targets.pie, "bpfnest", "multi"):
            assert len(link_ids() - before) == 2
            assert link_usdt._slots == {}
    assert link_ids() == before
    assert link_usdt._slots == {}


def test_a_semaphore_on_a_kernel_without_ref_ctr_offset(
    targets: Targets,
    rec: Collection,
    made: list[Link],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The PMU directory of a kernel before 4.20: no format/ref_ctr_offset.
    real = Path("/sys/bus/event_source/devices/uprobe")
    if not real.exists():
        skip_or_fail("no uprobe PMU here")
    fake = tmp_path / "uprobe"
    (fake / "format").mkdir(parents=True)
    (fake / "type").write_text((real / "type").read_text())
    (fake / "format" / "retprobe").write_text((real / "format" / "retprobe").read_text())
    monkeypatch.setattr(perf, "_PMU_DIR", str(tmp_path))
    prog = rec.programs["rec"]
    before = link_ids()
    with pytest.raises(NotSupportedError, match="has a semaphore, and this kernel's uprobes"):
        prog.attach_usdt(targets.pie, "bpfnest", "gated")
    assert link_ids() == before and link_usdt._slots == {}
    made.append(prog.attach_usdt(targets.pie, "bpfnest", "consts"))  # no semaphore: fine


# ------------------------------------------------- libbpf and CPython itself


def specs_of(coll: Collection) -> dict[int, str]:
    specs = coll.maps["__bpf_usdt_specs"]
    out = {}
    for slot in range(specs.max_entries):
        raw = specs.lookup(slot)
        assert raw is not None
        value = bytes(raw)
        if any(value):
            out[slot] = value.hex()
    return out


@pytest.mark.parametrize(
    ("binary", "provider", "name"),
    [("pie", "bpfnest", "multi"), ("nopie", "bpfnest", "consts"), ("lib", "libusdt", "plain")],
)
def test_spec_map_equals_libbpfs(
    targets: Targets,
    rec: Collection,
    objs: Callable[[str], str],
    binary: str,
    provider: str,
    name: str,
) -> None:
    if targets.libbpf is None:
        skip_or_fail("libbpf-dev is not installed: no libbpf loader (apt-get install libbpf-dev)")
    path = getattr(targets, binary)
    res = subprocess.run(
        [targets.libbpf, objs("usdt_record"), "rec", path, provider, name, "77"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    theirs = {int(k): v for k, v in (line.split() for line in res.stdout.splitlines())}
    with rec.programs["rec"].attach_usdt(path, provider, name, cookie=77):
        ours = specs_of(rec)
    assert ours == theirs and ours


def _python_probes() -> list[UsdtProbe]:
    if not os.path.exists(PYTHON):
        return []
    return bpfnest.usdt_probes(PYTHON)


def python_has_probe(name: str) -> bool:
    """Whether the machine's python3.11 has USDT probe ``python:name``."""
    return any((p.provider, p.name) == ("python", name) for p in _python_probes())


PYTHON_CHILD = textwrap.dedent(
    """
    import sys

    def bpfnest_traced():
        pass

    sys.setprofile(lambda *a: None)  # CPython 3.11 fires function probes only then
    print("ready", flush=True)
    for line in sys.stdin:
        for _ in range(int(line)):
            bpfnest_traced()
        print("done", flush=True)
    """
)


class PythonChild:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", PYTHON_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def call(self, n: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        assert self._line() == "done"

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        self.proc.stdout.close()


def python_calls(coll: Collection) -> dict[str, int]:
    return {
        bytes(k).rstrip(b"\0").decode(): int.from_bytes(bytes(v), "little")
        for k, v in coll.maps["calls"].items()
    }


def test_python_function_entry(kernel: None, objs: Callable[[str], str], made: list[Link]) -> None:
    probes = [p for p in _python_probes() if (p.provider, p.name) == ("python", "function__entry")]
    if not python_has_probe("function__entry"):
        skip_or_fail(f"{PYTHON} has no python:function__entry USDT probe")
    assert all(p.semaphore for p in probes)  # Debian's: behind a semaphore
    with CollectionSpec.from_file(objs("usdt_python")).load() as coll:
        child = PythonChild()
        try:
            made.append(
                coll.programs["entry"].attach_usdt(
                    PYTHON, "python", "function__entry", pid=child.pid
                )
            )
            child.call(25)
            child.call(17)
            assert python_calls(coll).get("bpfnest_traced") == 42
        finally:
            child.close()
        made.pop().close()


# ---------------------------------------------------------------- the CLI


def test_cli_usdt_list(
    targets: Targets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bpfnest.cli import main

    out = io.StringIO()
    assert main(["usdt", "list", targets.lib], out) == 0
    plain, gated = bpfnest.usdt_probes(targets.lib)
    assert out.getvalue().splitlines() == [
        f"libusdt:plain  address {plain.address:#x}  base {plain.base:#x}  semaphore 0x0"
        "  args -2@$-7 -8@%rdi -4@8(%rsi) 8@24(%rsi)",
        f"libusdt:gated  address {gated.address:#x}  base {gated.base:#x}"
        f"  semaphore {gated.semaphore:#x}  args -8@%rdi",
    ]
    out = io.StringIO()
    assert main(["usdt", "list", "--json", targets.pie], out) == 0
    got = json.loads(out.getvalue())
    assert got == [dataclasses.asdict(p) for p in bpfnest.usdt_probes(targets.pie)]
    assert {"provider", "name", "address", "base", "semaphore", "args"} == set(got[0])
    out = io.StringIO()
    assert main(["usdt", "list", "--json", "/bin/true"], out) == 0
    assert json.loads(out.getvalue()) == []
    capsys.readouterr()
    (tmp_path / "text").write_text("not ELF")
    assert main(["usdt", "list", str(tmp_path / "text")], io.StringIO()) == 1
    assert "is not a readable ELF file" in capsys.readouterr().err
    assert main(["usdt", "list", "no-such-program-here"], io.StringIO()) == 1
    assert "no 'no-such-program-here' in PATH" in capsys.readouterr().err


def test_run_time_addresses_for_kernels_without_cookies(
    targets: Targets, start: Callable[[str], Target]
) -> None:
    # Before 5.15 usdt.bpf.h finds the spec by the probe's run-time address:
    # a fixed-address executable's is the note's, a PIE's or a library's is
    # where the process mapped the file (/proc/PID/maps), as libbpf computes.
    pie, nopie = start(targets.pie), start(targets.nopie)
    for target, path, provider in (
        (pie, targets.pie, "bpfnest"),
        (pie, targets.lib, "libusdt"),
        (nopie, targets.nopie, "bpfnest"),
    ):
        for site in sites(path, provider, "gated"):
            address = link_usdt._absolute(site, path, target.pid)
            with open(f"/proc/{target.pid}/mem", "rb") as mem:
                mem.seek(address)
                assert mem.read(1) == b"\x90"  # the probe's nop, in the running process
            if path == targets.nopie:
                assert address == site.address
    (site,) = sites(targets.lib, "libusdt", "gated")
    with pytest.raises(ValueError, match="position-independent: on a kernel without BPF"):
        link_usdt._absolute(site, targets.lib, None)
    with pytest.raises(OSError, match="has no executable mapping"):
        link_usdt._absolute(site, targets.lib, os.getpid())
