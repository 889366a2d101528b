"""Privileges on the real kernel: what CAP_BPF allows without CAP_SYS_ADMIN, and
what every entry point says without capabilities.

Each column of the tables runs in one child process whose capability bounding
set was cut down with ``prctl(PR_CAPBSET_DROP)`` before it exec'd Python:
exec as root grants exactly the bounding set (the inheritable and ambient sets
are empty), so the child runs with the capabilities named and no others. The
objects the children open (pinned maps, an outer map with a filled slot, a
program) are made and pinned by this root process first, on a bpffs directory
of our own, and removed afterwards.

Columns:
    ``bpf+net+perfmon``  CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON: not CAP_SYS_ADMIN
    ``bpf``              CAP_BPF alone
    ``none``             no capability at all, still uid 0: pins owned by root
                         open, so one pin is chowned to nobody to show the
                         refusal a user other than the owner gets (a real
                         other user cannot run this Python: /root is 0700)

Kernel facts behind the expectations, measured on 6.18:
    * opening or listing by id needs CAP_SYS_ADMIN, whatever else one has;
    * DEVMAP, DEVMAP_HASH, SOCKMAP, SOCKHASH, XSKMAP need CAP_NET_ADMIN too;
      networking program types need CAP_NET_ADMIN, tracing ones CAP_PERFMON;
    * since 6.5 ``BPF_OBJ_GET`` needs no capability even with
      ``kernel.unprivileged_bpf_disabled`` set: the pin's owner and mode
      decide (before 6.5 every command gave EPERM there);
    * since 5.11 map and program memory is charged to the memory cgroup,
      not to RLIMIT_MEMLOCK.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from bpfnest import Map, MapSpec, MapType, Program, ProgramSpec, ProgType
from bpfnest._hints import (
    attach_perm_hint,
    effective_caps,
    kernel_version,
    map_perm_hint,
    memlock_note,
    perm_hint,
    prog_perm_hint,
    running_kernel,
)

from support import BPFFS, compile_bpf, skip_or_fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = kernel_version(os.uname().release) or (0, 0)
#: Since 6.5 (the permission checks moved into map_create/prog_load), opening
#: a pin needs no capability: the file's owner and mode decide.
PIN_NEEDS_NO_CAP = KERNEL >= (6, 5)
MEMCG = KERNEL >= (5, 11)

CAP = {"cap_net_admin": 12, "cap_sys_admin": 21, "cap_perfmon": 38, "cap_bpf": 39}
COLUMNS = {
    "bpf+net+perfmon": ("cap_bpf", "cap_net_admin", "cap_perfmon"),
    "bpf": ("cap_bpf",),
    "none": (),
}
NOBODY = 65534

# ------------------------------------------------------------ the children

#: Drops every capability not in the mask argv[1] from the bounding set, sets
#: RLIMIT_MEMLOCK to argv[2] (unless it is "keep"), then execs Python with the rest.
LAUNCHER = textwrap.dedent(
    """
    import ctypes, os, resource, sys
    keep = int(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if not keep >> cap & 1 and libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise SystemExit(f"launcher: drop cap {cap}: {os.strerror(ctypes.get_errno())}")
    with open("/proc/self/status") as f:
        status = dict(line.split(":\\t", 1) for line in f)
    if int(status["CapBnd"], 16) != keep or int(status["CapInh"], 16) or int(status["CapAmb"], 16):
        raise SystemExit(f"launcher: bounding set not cut down: {status}")
    if sys.argv[2] != "keep":
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (int(sys.argv[2]),) * 2)
    os.execv(sys.executable, [sys.executable, *sys.argv[3:]])
    """
)

#: The library entry points. Each case prints one JSON line: its value, or
#: the error's type, errno and message.
CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, traceback
    from bpfnest import CollectionSpec, Map, MapSpec, MapType, Program, ProgramSpec, ProgType
    from bpfnest.constants import AttachType
    from bpfnest.maps import map_ids
    from bpfnest.programs import program_ids
    import bpfnest._hints

    ARGS = json.loads(sys.argv[1])
    PINS, OBJS = ARGS["pins"], ARGS["objs"]
    RET2 = bytes.fromhex("b700000002000000 9500000000000000")  # r0 = 2 (XDP_PASS); exit
    INNER = MapSpec(MapType.ARRAY, 4, 4, 1, name="priv_inner")

    def prog(t):
        return ProgramSpec(name="priv_prog", type=t, instructions=RET2, license="GPL")

    def map_elements():
        with Map.create(MapSpec(MapType.HASH, 4, 4, 16, name="priv_hash")) as m:
            m[1] = 7
            got = int.from_bytes(m[1], "little")
            del m[1]
            n = m.update_batch({i: i * i for i in range(8)})
            items = sorted(int.from_bytes(v, "little") for _, v in m.lookup_batch())
            gone = m.delete_batch(range(8))
            return [got, 1 in m, n, items, gone, len(list(m.keys()))]

    def outer_by_fd(t):
        def run():
            spec = MapSpec(t, 4, 4, 2, name="priv_outer", inner=INNER)
            with Map.create(spec) as outer, Map.create(INNER) as inner:
                outer[0] = inner.fd  # an int fd
                outer[1] = inner  # a Map
                n = outer.update_batch({0: inner, 1: inner.fd})
                return [outer[0] == inner.id, outer[1] == inner.id, n]
        return run

    def memlock_big_map():
        # 65536 preallocated elements: megabytes, far above RLIMIT_MEMLOCK 0.
        with Map.create(MapSpec(MapType.HASH, 4, 64, 1 << 16, name="priv_big")) as m:
            m[1] = bytes(64)
            with open(f"/proc/self/fdinfo/{m.fd}") as f:
                memlock = int(dict(l.split(":", 1) for l in f)["memlock"])
            limit = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
            return [memlock > 1 << 20, limit]

    def pinned_map(key):
        def run():
            with Map.from_pinned(PINS[key]) as m:
                return int.from_bytes(m[1], "little")
        return run

    def pinned_outer(how):
        def run():
            with Map.from_pinned(PINS["outer"]) as outer:
                if how == "get_map":
                    with outer.get_map(0) as inner:
                        return int.from_bytes(inner[0], "little")
                return int.from_bytes(outer.inner_lookup(0, 0), "little")
        return run

    def load(t):
        def run():
            with Program.load(prog(t)) as p:
                return p.type.name
        return run

    def fentry():
        # A real target (loading looks it up in the kernel's BTF); where a
        # policy refuses fentry the EPERM comes before the verifier.
        spec = prog(ProgType.TRACING)
        spec.attach_type = AttachType.TRACE_FENTRY
        spec.attach_to = "bpf_fentry_test1"
        with Program.load(spec) as p:
            return p.type.name

    def pinned_prog():
        with Program.from_pinned(PINS["prog"]) as p:
            return p.type.name

    def collection(name):
        def run():
            with CollectionSpec.from_file(OBJS[name]).load() as c:
                out = {"maps": sorted(c.maps), "programs": sorted(c.programs)}
                if name == "outer_init":
                    m = c.maps
                    out["slots"] = [
                        m["outer_arr"][0] == m["inner_map2"].id,
                        m["outer_hash"][4] == m["inner_map1"].id,
                    ]
                    out["retval"] = c.programs["write_through"].test_run(bytes(64)).retval
                return out
        return run

    def as_on_5_10(what):
        def run():
            bpfnest._hints.running_kernel = lambda: ("5.10.0-23-amd64", 64 << 10)
            if what == "map":
                return map_elements()
            return load(ProgType.SOCKET_FILTER)()
        return run

    CASES = {
        "Map.create HASH, elements, batch": map_elements,
        "Map.create ARRAY_OF_MAPS, inner by fd": outer_by_fd(MapType.ARRAY_OF_MAPS),
        "Map.create HASH_OF_MAPS, inner by fd": outer_by_fd(MapType.HASH_OF_MAPS),
        "Map.create DEVMAP": lambda: Map.create(MapSpec(MapType.DEVMAP, 4, 4, 1)).close(),
        "Map.create HASH of megabytes": memlock_big_map,
        "Map.create, as on Linux 5.10": as_on_5_10("map"),
        "Map.from_pinned": pinned_map("hash"),
        "Map.from_pinned, owned by nobody": pinned_map("foreign"),
        "Map.from_id": lambda: Map.from_id(ARGS["hash_id"]).close(),
        "map_ids()": lambda: list(map_ids()),
        "OuterMap.get_map": pinned_outer("get_map"),
        "OuterMap.inner_lookup": pinned_outer("inner_lookup"),
        "Program.load SOCKET_FILTER": load(ProgType.SOCKET_FILTER),
        "Program.load XDP": load(ProgType.XDP),
        "Program.load KPROBE": load(ProgType.KPROBE),
        "Program.load, as on Linux 5.10": as_on_5_10("prog"),
        "Program.load TRACING fentry": fentry,
        "Program.from_pinned": pinned_prog,
        "Program.from_id": lambda: Program.from_id(ARGS["prog_id"]).close(),
        "program_ids()": lambda: list(program_ids()),
        "CollectionSpec.load xdp_pass.o": collection("xdp_pass"),
        "CollectionSpec.load outer_init.o": collection("outer_init"),
    }

    with open("/proc/self/status") as f:
        caps = int(dict(line.split(":\\t", 1) for line in f)["CapEff"], 16)
    print(json.dumps({"case": "CapEff", "value": caps}))
    for name in ARGS["cases"]:
        case, real = CASES[name], bpfnest._hints.running_kernel
        try:
            row = {"value": case()}
        except Exception as err:
            row = {
                "error": type(err).__name__,
                "errno": getattr(err, "errno", None),
                "message": str(err),
                "where": traceback.format_exc(limit=-1).splitlines()[-2].strip(),
            }
        bpfnest._hints.running_kernel = real
        print(json.dumps({"case": name, **row}), flush=True)
    """
)


def _mask(caps: tuple[str, ...]) -> int:
    return sum(1 << CAP[c] for c in caps)


def _launch(mask: int, argv: list[str], memlock: int | None) -> subprocess.Popen[str]:
    """Start ``python argv`` with capability bounding set ``mask`` (and RLIMIT_MEMLOCK)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            str(mask),
            "keep" if memlock is None else str(memlock),
            *argv,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


def _own_caps() -> int:
    """This process's capability bounding set (root here lacks CAP_SYS_RESOURCE)."""
    with open("/proc/self/status") as f:
        return int(dict(line.split(":\t", 1) for line in f)["CapBnd"], 16)


def _need_root_with(caps: tuple[str, ...]) -> None:
    if os.geteuid() != 0:
        skip_or_fail("the children drop capabilities from root's set: run as root")
    missing = [c for c in caps if not _own_caps() >> CAP[c] & 1]
    if missing:
        skip_or_fail(f"this process lacks {', '.join(missing)}, which the tests keep")


@dataclasses.dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _finish(p: subprocess.Popen[str]) -> Done:
    try:
        out, err = p.communicate(timeout=60)
    finally:
        if p.returncode is None:  # timed out, or interrupted
            p.kill()
            p.communicate()
    return Done(p.returncode, out, err)


def _results(done: Done) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0 and not done.stderr, done.stderr
    return {row["case"]: row for row in map(json.loads, done.stdout.splitlines())}


# ------------------------------------------------------------ the expectations


@dataclasses.dataclass(frozen=True)
class Ok:
    value: Any = None

    def check(self, row: dict[str, Any]) -> None:
        assert "error" not in row, f"{row['error']}: {row['message']} at {row['where']}"
        assert row["value"] == self.value


@dataclasses.dataclass(frozen=True)
class Err:
    code: int
    words: tuple[str, ...]
    absent: tuple[str, ...] = ()

    def check(self, row: dict[str, Any]) -> None:
        assert "error" in row, f"succeeded: {row['value']!r}"
        assert (row["error"], row["errno"]) == ("BPFError", self.code), row
        for w in self.words:
            assert w in row["message"], f"{w!r} not in {row['message']!r}"
        for w in self.absent:
            assert w not in row["message"], f"{w!r} in {row['message']!r}"


def perm(*words: str, absent: tuple[str, ...] = ()) -> Err:
    return Err(errno.EPERM, words, absent)


BY_ID = ("root", "CAP_SYS_ADMIN", "CAP_BPF is not enough")
NO_MEMLOCK = ("RLIMIT_MEMLOCK",) if MEMCG else ()
CRUD = [7, False, 8, [i * i for i in range(8)], 8, 0]
NEEDS_BPF = perm("needs root or CAP_BPF", absent=NO_MEMLOCK)
COLLECTION_OUTER = {
    "maps": [".bss", "inner_map1", "inner_map2", "outer_arr", "outer_hash"],
    "programs": ["write_through"],
    "slots": [True, True],
    "retval": 2,
}


def _pinned(then: Ok | Err) -> tuple[Ok | Err, Ok | Err, Ok | Err]:
    """A case that opens a pin owned by root first: with no capability that
    works since 6.5 (EPERM before), and ``then`` is what follows."""
    return then, then, then if PIN_NEEDS_NO_CAP else NEEDS_BPF


PIN_DENIED = Err(errno.EACCES, ("open pinned", "Permission denied", "permissions"))

#: case: (bpf+net+perfmon, bpf, none)
TABLE: dict[str, tuple[Ok | Err, Ok | Err, Ok | Err]] = {
    "Map.create HASH, elements, batch": (
        Ok(CRUD),
        Ok(CRUD),
        perm("create HASH 'priv_hash'", "needs root or CAP_BPF", absent=NO_MEMLOCK),
    ),
    "Map.create ARRAY_OF_MAPS, inner by fd": (
        Ok([True, True, 2]),
        Ok([True, True, 2]),
        perm("create ARRAY 'priv_inner'", "needs root or CAP_BPF"),
    ),
    "Map.create HASH_OF_MAPS, inner by fd": (
        Ok([True, True, 2]),
        Ok([True, True, 2]),
        perm("create ARRAY 'priv_inner'", "needs root or CAP_BPF"),
    ),
    "Map.create DEVMAP": (
        Ok(),
        perm("create DEVMAP", "needs root or CAP_BPF and CAP_NET_ADMIN"),
        perm("create DEVMAP", "needs root or CAP_BPF and CAP_NET_ADMIN"),
    ),
    "Map.create, as on Linux 5.10": (
        Ok(CRUD),
        Ok(CRUD),
        perm(
            "needs root or CAP_BPF",
            "on Linux 5.10 (before 5.11)",
            "RLIMIT_MEMLOCK, now 64 KiB",
            "ulimit -l unlimited",
        ),
    ),
    "Map.from_pinned": _pinned(Ok(7)),
    "Map.from_pinned, owned by nobody": (
        PIN_DENIED,
        PIN_DENIED,
        PIN_DENIED if PIN_NEEDS_NO_CAP else NEEDS_BPF,
    ),
    "Map.from_id": (perm("open map id", *BY_ID),) * 3,
    "map_ids()": (perm("list maps", *BY_ID),) * 3,
    "OuterMap.get_map": _pinned(perm("open map id", *BY_ID)),
    "OuterMap.inner_lookup": _pinned(perm("open map id", *BY_ID)),
    "Program.load SOCKET_FILTER": (
        Ok("SOCKET_FILTER"),
        Ok("SOCKET_FILTER"),
        perm("load program 'priv_prog' (SOCKET_FILTER)", "needs root or CAP_BPF"),
    ),
    "Program.load XDP": (
        Ok("XDP"),
        perm("load program 'priv_prog' (XDP)", "needs root or CAP_BPF and CAP_NET_ADMIN"),
        perm("load program 'priv_prog' (XDP)", "needs root or CAP_BPF and CAP_NET_ADMIN"),
    ),
    "Program.load KPROBE": (
        Ok("KPROBE"),
        perm("load program 'priv_prog' (KPROBE)", "needs root or CAP_BPF and CAP_PERFMON"),
        perm("load program 'priv_prog' (KPROBE)", "needs root or CAP_BPF and CAP_PERFMON"),
    ),
    "Program.load, as on Linux 5.10": (
        Ok("SOCKET_FILTER"),
        Ok("SOCKET_FILTER"),
        perm("needs root or CAP_BPF", "on Linux 5.10 (before 5.11)", "RLIMIT_MEMLOCK"),
    ),
    "Program.from_pinned": _pinned(Ok("SOCKET_FILTER")),
    "Program.from_id": (perm("open program id", *BY_ID),) * 3,
    "program_ids()": (perm("list programs", *BY_ID),) * 3,
    "CollectionSpec.load xdp_pass.o": (
        Ok({"maps": [], "programs": ["pass"]}),
        perm("'pass'", "needs root or CAP_BPF and CAP_NET_ADMIN"),
        perm("xdp_pass", "needs root or CAP_BPF"),
    ),
    "CollectionSpec.load outer_init.o": (
        Ok(COLLECTION_OUTER),
        perm("'write_through'", "needs root or CAP_BPF and CAP_NET_ADMIN"),
        perm("outer_init", "needs root or CAP_BPF"),
    ),
}

#: The CLI, run as ``python -m bpfnest``: (argv, stdout words if it works, else
#: stderr words) per column; ``{...}`` fields are filled from the fixture.
CliRow = tuple[int, tuple[str, ...], tuple[str, ...]]


def _cli_ok(*words: str) -> CliRow:
    return 0, words, ()


def _cli_err(*words: str, absent: tuple[str, ...] = ()) -> CliRow:
    return 1, words, absent


CLI_BY_ID = _cli_err("bpfnest: ", *BY_ID)
CLI_PIN_OK = _cli_ok("{hash_id}: hash  name priv_pinned", "pinned {pins[hash]}")
CLI_TABLE: dict[str, tuple[CliRow, CliRow, CliRow]] = {
    "map list": (CLI_BY_ID,) * 3,
    "map show {hash_id}": (CLI_BY_ID,) * 3,
    "map show pinned {pins[hash]}": (
        CLI_PIN_OK,
        CLI_PIN_OK,
        CLI_PIN_OK if PIN_NEEDS_NO_CAP else _cli_err("needs root or CAP_BPF"),
    ),
    "map dump pinned {pins[outer]}": (
        CLI_BY_ID,
        CLI_BY_ID,
        CLI_BY_ID if PIN_NEEDS_NO_CAP else _cli_err("needs root or CAP_BPF"),
    ),
    "load {objs[xdp_pass]}": (
        _cli_ok("program pass: xdp id ", "not pinned"),
        _cli_err("bpfnest: load program 'pass'", "CAP_NET_ADMIN", absent=("by id",)),
        _cli_err("bpfnest: ", "needs root or CAP_BPF", absent=("by id",)),
    ),
    "demo": (CLI_BY_ID,) * 3,
}

# ------------------------------------------------------------ the fixture


@dataclasses.dataclass
class World:
    """What the root process made for the children, and what they reported."""

    fmt: dict[str, Any]
    lib: dict[str, dict[str, dict[str, Any]]]
    cli: dict[tuple[str, str], Done]
    caps: dict[str, int]


def _unprivileged_bpf_disabled() -> str:
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def world(kernel_reason: str | None) -> World:
    """Pin the objects, run every column's children, remove the pins: the
    tests only read what the children reported."""
    if kernel_reason is not None:
        skip_or_fail(kernel_reason)
    _need_root_with(tuple(CAP))
    if not os.path.ismount(BPFFS):
        skip_or_fail(f"no bpffs mounted at {BPFFS} (mount -t bpf bpf {BPFFS})")
    objs = {name: compile_bpf(name) for name in ("xdp_pass", "outer_init")}
    top = os.path.join(BPFFS, f"bpfnest-priv-{os.getpid()}-{time.monotonic_ns()}")
    os.mkdir(top)
    pins = {k: os.path.join(top, k) for k in ("hash", "foreign", "outer", "prog")}
    try:
        inner_spec = MapSpec(MapType.ARRAY, 4, 4, 1, name="priv_inner")
        with (
            Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="priv_pinned")) as hashmap,
            Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="priv_foreign")) as foreign,
            Map.create(
                MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 1, name="priv_outer", inner=inner_spec)
            ) as outer,
            Map.create(inner_spec) as inner,
            Program.load(
                ProgramSpec(
                    name="priv_pinned",
                    type=ProgType.SOCKET_FILTER,
                    instructions=bytes.fromhex("b700000000000000 9500000000000000"),
                    license="GPL",
                )
            ) as prog,
        ):
            hashmap[1] = foreign[1] = 7
            inner[0] = 42
            outer[0] = inner
            for obj, key in ((hashmap, "hash"), (foreign, "foreign"), (outer, "outer")):
                obj.pin(pins[key])
            prog.pin(pins["prog"])
            os.chown(pins["foreign"], NOBODY, NOBODY)  # mode 0600: only nobody may open it
            args = {"pins": pins, "objs": objs, "hash_id": hashmap.id, "prog_id": prog.id}
            cases = list(TABLE)
            running = {
                col: _launch(_mask(caps), ["-c", CHILD, json.dumps({**args, "cases": cases})], None)
                for col, caps in COLUMNS.items()
            }
            cli_running = {
                (argv, col): _launch(
                    _mask(caps), ["-m", "bpfnest", *argv.format(**args).split()], None
                )
                for argv in CLI_TABLE
                for col, caps in COLUMNS.items()
            }
            cli = {key: _finish(p) for key, p in cli_running.items()}
            lib = {col: _results(_finish(p)) for col, p in running.items()}
    finally:
        shutil.rmtree(top, ignore_errors=True)
    caps = {col: lib[col].pop("CapEff")["value"] for col in COLUMNS}
    return World(fmt=args, lib=lib, cli=cli, caps=caps)


def _column_needs(col: str) -> None:
    if col == "none" and _unprivileged_bpf_disabled() == "0":
        skip_or_fail(
            "kernel.unprivileged_bpf_disabled is 0 here: without capabilities some maps"
            " and programs can be created, so this column expects otherwise"
        )


# ------------------------------------------------------------ the tests


@pytest.mark.parametrize("col", list(COLUMNS))
def test_children_run_with_exactly_these_capabilities(world: World, col: str) -> None:
    assert world.caps[col] == _mask(COLUMNS[col])


@pytest.mark.parametrize("col", list(COLUMNS))
@pytest.mark.parametrize("case", list(TABLE))
def test_entry_point(world: World, case: str, col: str) -> None:
    _column_needs(col)
    expected = TABLE[case][list(COLUMNS).index(col)]
    expected.check(world.lib[col][case])


@pytest.mark.parametrize("col", list(COLUMNS))
@pytest.mark.parametrize("argv", list(CLI_TABLE))
def test_cli(world: World, argv: str, col: str) -> None:
    _column_needs(col)
    code, words, absent = CLI_TABLE[argv][list(COLUMNS).index(col)]
    done = world.cli[(argv, col)]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stdout + done.stderr
    if code == 0:
        text = done.stdout
    else:
        text = done.stderr
        assert text.count("\n") == 1 and text.startswith("bpfnest: "), text
    for w in words:
        w = w.format(**world.fmt)
        assert w in text, f"{w!r} not in {text!r}"
    for w in absent:
        assert w not in text, f"{w!r} in {text!r}"


# ------------------------------------------------------------ RLIMIT_MEMLOCK


@pytest.mark.parametrize(
    ("release", "memlock", "words"),
    [
        ("5.10.0-23-amd64", 64 << 10, ("on Linux 5.10 (before 5.11)", "now 64 KiB")),
        ("4.19.0-26-amd64", 8 << 20, ("on Linux 4.19 (before 5.11)", "now 8 MiB")),
        ("4.18.0-513.el8.x86_64", 0, ("on Linux 4.18", "now 0 bytes")),
        ("5.10.0", 65537, ("now 65537 bytes",)),
        ("weird", 64 << 10, ("if Linux 'weird' is older than 5.11",)),
        ("5.10.0", resource.RLIM_INFINITY, None),
        ("5.11.0", 0, None),
        ("5.15.0-91-generic", 64 << 10, None),
        ("6.18.44-fc-v657", 0, None),
    ],
)
def test_memlock_note(release: str, memlock: int, words: tuple[str, ...] | None) -> None:
    note = memlock_note(release, memlock)
    if words is None:
        assert note is None
    else:
        assert note is not None and "RLIMIT_MEMLOCK" in note and "ulimit -l unlimited" in note
        for w in words:
            assert w in note, note


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (map_perm_hint(MapType.HASH, "6.18.44", 0), "needs root or CAP_BPF"),
        (
            map_perm_hint(MapType.XSKMAP, "6.1.0", resource.RLIM_INFINITY),
            "needs root or CAP_BPF and CAP_NET_ADMIN",
        ),
        (
            map_perm_hint(MapType.ARRAY, "5.10.0", 64 << 10),
            "needs root or CAP_BPF; on Linux 5.10 (before 5.11) BPF memory is charged to"
            " RLIMIT_MEMLOCK, now 64 KiB: raise it (ulimit -l unlimited)",
        ),
        (
            map_perm_hint(MapType.DEVMAP, "5.4.0", resource.RLIM_INFINITY),
            "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN: Linux 5.4 predates CAP_BPF)",
        ),
        (perm_hint("6.18.44"), "needs root or CAP_BPF"),
        (perm_hint("5.4.0"), "needs root (CAP_SYS_ADMIN: Linux 5.4 predates CAP_BPF)"),
        (prog_perm_hint(ProgType.SOCKET_FILTER, "6.18.44", 0), "needs root or CAP_BPF"),
        (prog_perm_hint(ProgType.CGROUP_SKB, "6.18.44", 0), "needs root or CAP_BPF"),
        (prog_perm_hint(ProgType.XDP, "6.18.44", 0), "needs root or CAP_BPF and CAP_NET_ADMIN"),
        (
            prog_perm_hint(ProgType.TRACING, "6.18.44", 0),
            "needs root or CAP_BPF and CAP_PERFMON",
        ),
        (
            prog_perm_hint(ProgType.EXT, "6.18.44", 0),
            "needs root or CAP_BPF and CAP_NET_ADMIN and CAP_PERFMON",
        ),
        (
            prog_perm_hint(ProgType.KPROBE, "4.19.0", 64 << 10),
            "needs root (CAP_SYS_ADMIN and CAP_PERFMON: Linux 4.19 predates CAP_BPF);"
            " on Linux 4.19 (before 5.11) BPF memory is charged to RLIMIT_MEMLOCK, now"
            " 64 KiB: raise it (ulimit -l unlimited)",
        ),
        (attach_perm_hint(ProgType.XDP, "6.18.44"), "needs root or CAP_BPF and CAP_NET_ADMIN"),
        (
            attach_perm_hint(ProgType.CGROUP_SKB, "6.18.44"),
            "needs root or CAP_BPF and CAP_NET_ADMIN",
        ),
        (
            attach_perm_hint(ProgType.TRACEPOINT, "6.18.44"),
            "needs root or CAP_BPF and CAP_PERFMON",
        ),
        (attach_perm_hint(ProgType.SOCKET_FILTER, "6.18.44"), "needs root or CAP_BPF"),
        (
            attach_perm_hint(ProgType.SCHED_CLS, "5.4.0"),
            "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN: Linux 5.4 predates CAP_BPF)",
        ),
        (
            attach_perm_hint(ProgType.XDP, "6.18.44", caps=(1 << 39) | (1 << 12)),
            "the kernel refused although this process has CAP_BPF and CAP_NET_ADMIN:"
            " kernel lockdown, an LSM or a sandbox policy forbids it",
        ),
        (
            attach_perm_hint(ProgType.XDP, "6.18.44", caps=1 << 39),
            "needs root or CAP_BPF and CAP_NET_ADMIN",
        ),
    ],
)
def test_perm_hints(hint: str, expected: str) -> None:
    assert hint == expected


def test_running_kernel_is_this_one() -> None:
    release, memlock = running_kernel()
    assert release == os.uname().release
    assert memlock == resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]


@pytest.fixture(scope="module")
def low_memlock(kernel_reason: str | None) -> dict[str, dict[str, Any]]:
    """The cases that create maps and load programs, run with RLIMIT_MEMLOCK 0
    and every capability, and with RLIMIT_MEMLOCK 64 KiB and none."""
    if kernel_reason is not None:
        skip_or_fail(kernel_reason)
    _need_root_with(tuple(CAP))
    cases = [
        "Map.create HASH, elements, batch",
        "Map.create ARRAY_OF_MAPS, inner by fd",
        "Map.create HASH of megabytes",
        "Program.load SOCKET_FILTER",
    ]
    args = json.dumps({"pins": {}, "objs": {}, "cases": cases})
    procs = {
        "root": _launch(_own_caps(), ["-c", CHILD, args], 0),
        "none": _launch(0, ["-c", CHILD, args], 64 << 10),
    }
    return {k: _results(_finish(p)) for k, p in procs.items()}


def test_low_memlock_does_not_matter_since_5_11(low_memlock: dict[str, dict[str, Any]]) -> None:
    """Root with RLIMIT_MEMLOCK 0 creates a map of megabytes and loads a program
    (memory cgroup accounting); before 5.11 that is EPERM and says so."""
    root = low_memlock["root"]
    assert root["CapEff"]["value"] != 0
    big = root["Map.create HASH of megabytes"]
    if MEMCG:
        Ok([True, 0]).check(big)
        Ok(CRUD).check(root["Map.create HASH, elements, batch"])
        Ok([True, True, 2]).check(root["Map.create ARRAY_OF_MAPS, inner by fd"])
        Ok("SOCKET_FILTER").check(root["Program.load SOCKET_FILTER"])
    else:
        perm("RLIMIT_MEMLOCK, now 0 bytes", "ulimit -l unlimited").check(big)


def test_low_memlock_hint_only_before_5_11(low_memlock: dict[str, dict[str, Any]]) -> None:
    """Without capabilities, RLIMIT_MEMLOCK 64 KiB: the EPERM hint names the
    memlock limit only on kernels that charge it."""
    _column_needs("none")
    none = low_memlock["none"]
    assert none["CapEff"]["value"] == 0
    assert (memlock_note(os.uname().release, 64 << 10) is None) == MEMCG
    for case in ("Map.create HASH, elements, batch", "Program.load SOCKET_FILTER"):
        if MEMCG:
            perm("needs root or CAP_BPF", absent=("RLIMIT_MEMLOCK",)).check(none[case])
        else:
            perm("needs root or CAP_BPF", "RLIMIT_MEMLOCK, now 64 KiB").check(none[case])


# ------------------------------------------------------------ EPERM with the capabilities


@pytest.fixture(scope="module")
def fentry(kernel_reason: str | None) -> dict[str, dict[str, Any]]:
    """``Program.load`` of an fentry program by root (every capability but
    CAP_SYS_RESOURCE here) and by each column's child."""
    if kernel_reason is not None:
        skip_or_fail(kernel_reason)
    _need_root_with(tuple(CAP))
    args = json.dumps({"pins": {}, "objs": {}, "cases": ["Program.load TRACING fentry"]})
    procs = {"root": _launch(_own_caps(), ["-c", CHILD, args], None)} | {
        col: _launch(_mask(caps), ["-c", CHILD, args], None) for col, caps in COLUMNS.items()
    }
    return {k: _results(_finish(p))["Program.load TRACING fentry"] for k, p in procs.items()}


def _vmlinux_func_id() -> int:
    """The BTF id of a kernel function fentry could attach to."""
    from bpfnest.btf import BTF
    from bpfnest.btf.types import Func

    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        btf = BTF.parse(f.read(), file="vmlinux")
    return btf.find("bpf_fentry_test1", Func).id


@functools.cache
def _fentry_refused_to_root() -> bool:
    """Whether this kernel refuses root an fentry load with a real target
    (hand-built: the kernel's BTF id of bpf_fentry_test1); KERNEL.md: it
    does on these machines (a sandbox policy)."""
    from bpfnest._sys import ops
    from bpfnest.constants import AttachType

    try:
        fd, _ = ops.prog_load(
            prog_type=int(ProgType.TRACING),
            insns=bytes.fromhex("b700000000000000 9500000000000000"),
            license=b"GPL",
            expected_attach_type=int(AttachType.TRACE_FENTRY),
            attach_btf_id=_vmlinux_func_id(),
        )
    except OSError as err:
        return err.errno == errno.EPERM
    os.close(fd)
    return False


REFUSED = (
    "the kernel refused although this process has CAP_BPF and CAP_PERFMON:"
    " kernel lockdown, an LSM or a sandbox policy forbids it"
)


@pytest.mark.parametrize(
    ("col", "expected"),
    [
        ("root", perm("load program 'priv_prog' (TRACING)", REFUSED, absent=("needs",))),
        ("bpf+net+perfmon", perm("load program 'priv_prog' (TRACING)", REFUSED, absent=("needs",))),
        (
            "bpf",
            perm("load program 'priv_prog' (TRACING)", "needs root or CAP_BPF and CAP_PERFMON"),
        ),
        (
            "none",
            perm("load program 'priv_prog' (TRACING)", "needs root or CAP_BPF and CAP_PERFMON"),
        ),
    ],
)
def test_eperm_with_the_capabilities_says_the_kernel_refused(
    fentry: dict[str, dict[str, Any]], col: str, expected: Err
) -> None:
    """fentry refused by a policy although CAP_BPF and CAP_PERFMON are there:
    the hint must not ask for them; without them it still does."""
    if col in ("root", "bpf+net+perfmon") and not _fentry_refused_to_root():
        skip_or_fail("this kernel lets root load fentry programs: there is no refusal to explain")
    if col == "none":
        _column_needs(col)
    expected.check(fentry[col])


@pytest.mark.parametrize(
    ("caps", "prog_type", "release", "memlock", "expected"),
    [
        # What is needed is there: the kernel refused for another reason.
        (_mask(("cap_bpf", "cap_perfmon")), ProgType.TRACING, "6.18.44", 0, REFUSED),
        (
            1 << CAP["cap_sys_admin"],
            ProgType.TRACING,
            "6.18.44",
            0,
            REFUSED.replace("CAP_BPF and CAP_PERFMON", "CAP_SYS_ADMIN"),
        ),
        (
            _mask(("cap_sys_admin", "cap_perfmon")),
            ProgType.TRACING,
            "6.18.44",
            0,
            REFUSED.replace("CAP_BPF and CAP_PERFMON", "CAP_SYS_ADMIN and CAP_PERFMON"),
        ),
        (
            _mask(("cap_bpf", "cap_net_admin")),
            ProgType.XDP,
            "6.18.44",
            0,
            REFUSED.replace("CAP_PERFMON", "CAP_NET_ADMIN"),
        ),
        (
            1 << CAP["cap_sys_admin"],
            ProgType.KPROBE,
            "5.4.0",
            resource.RLIM_INFINITY,
            REFUSED.replace("CAP_BPF and CAP_PERFMON", "CAP_SYS_ADMIN"),
        ),
        (
            _mask(("cap_bpf", "cap_perfmon")),
            ProgType.TRACING,
            "5.10.0",
            64 << 10,
            "on Linux 5.10 (before 5.11) BPF memory is charged to RLIMIT_MEMLOCK, now 64 KiB:"
            " raise it (ulimit -l unlimited); else " + REFUSED,
        ),
        # Something is missing: ask for it, as without the capabilities.
        (
            1 << CAP["cap_bpf"],
            ProgType.TRACING,
            "6.18.44",
            0,
            "needs root or CAP_BPF and CAP_PERFMON",
        ),
        (
            1 << CAP["cap_sys_admin"],
            ProgType.XDP,
            "6.18.44",
            0,
            "needs root or CAP_BPF and CAP_NET_ADMIN",
        ),
        (0, ProgType.SOCKET_FILTER, "6.18.44", 0, "needs root or CAP_BPF"),
        (None, ProgType.TRACING, "6.18.44", 0, "needs root or CAP_BPF and CAP_PERFMON"),
    ],
)
def test_eperm_hint_with_capabilities(
    caps: int | None, prog_type: ProgType, release: str, memlock: int, expected: str
) -> None:
    assert prog_perm_hint(prog_type, release, memlock, caps) == expected


def test_effective_caps_are_this_process_s() -> None:
    with open("/proc/self/status") as f:
        want = int(dict(line.split(":\t", 1) for line in f)["CapEff"], 16)
    assert effective_caps() == want


def test_a_user_namespace_s_capabilities_do_not_count() -> None:
    """Root of a new user namespace has every capability there and none
    where bpf(2) checks them: the hint asks for them, it does not say the
    kernel refused although they are present."""
    code = textwrap.dedent(
        """
        import json
        from bpfnest import Program, ProgramSpec, ProgType
        from bpfnest._hints import effective_caps
        with open("/proc/self/status") as f:
            raw = int(dict(line.split(":\\t", 1) for line in f)["CapEff"], 16)
        spec = ProgramSpec(name="userns", type=ProgType.SOCKET_FILTER,
                           instructions=bytes.fromhex("b700000000000000 9500000000000000"),
                           license="GPL")
        try:
            Program.load(spec).close()
            message = None
        except OSError as err:
            message = str(err)
        print(json.dumps({"raw": raw, "caps": effective_caps(), "message": message}))
        """
    )
    unshare = shutil.which("unshare")
    if unshare is None:
        skip_or_fail("unshare(1) is not installed (util-linux)")
    res = subprocess.run(
        [unshare, "--user", "--map-root-user", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=60,
    )
    if res.returncode != 0 and "unshare failed" in res.stderr:
        skip_or_fail(f"no user namespaces here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["raw"] >> CAP["cap_bpf"] & 1 and got["caps"] == 0
    if _unprivileged_bpf_disabled() == "0":
        skip_or_fail("kernel.unprivileged_bpf_disabled is 0: the load works without capabilities")
    assert got["message"] is not None
    assert "needs root or CAP_BPF" in got["message"] and "refused" not in got["message"]
