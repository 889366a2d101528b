"""Pin paths on the real kernel (issue 12, items 1-4, 17 and 29).

Names that cannot be one file name, symlinks planted in pin directories,
pin-by-name maps under the CLI's ``--pin``, directory modes under umask 0,
SIGTERM/SIGHUP during ``bpfnest load --pin`` (real subprocesses), path
arguments of ``pin``/``from_pinned``, and names that collide once sanitised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import os
import pathlib
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bpfnest import BPFError, Collection, CollectionSpec, Map, MapSpec, MapType, Program
from bpfnest.cli import main
from bpfnest.spec import PIN_BY_NAME

from support import BPF_DIR, _clang_flags, own_map_ids, skip_or_fail, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

Objs = Callable[..., str]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ESCAPE = "/sys/fs/bpf/bpfnest-test-escape"  # where tests/bpf/pin_names.c's map would go


# ------------------------------------------------------------------ helpers


def compile_c(src: str, out: str, *, debug: bool = True) -> str:
    """clang ``src`` (a .c path) into ``out`` for bpfel; without ``-g`` when not ``debug``."""
    flags = [f for f in _clang_flags("bpfel") if debug or f != "-g"]
    res = subprocess.run(
        ["clang", *flags, "-c", src, "-o", out], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        skip_or_fail(f"clang failed on {src}:\n{res.stderr}")
    return out


def files_under(top: str) -> list[str]:
    """Every entry under ``top`` that is not a directory (pins, symlinks), sorted."""
    found = []
    for root, dirs, files in os.walk(top):
        found += [os.path.join(root, f) for f in files]
        found += [os.path.join(root, d) for d in dirs if os.path.islink(os.path.join(root, d))]
    return sorted(found)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out)
    return code, out.getvalue(), capsys.readouterr().err


def rename(spec: CollectionSpec, kind: str, old: str, new: str) -> None:
    """Rename map or program ``old`` of ``spec`` to ``new``, as Python code may."""
    if kind == "program":
        spec.programs[new] = spec.programs.pop(old)
        return
    spec.maps[new] = spec.maps.pop(old)
    for ps in spec.programs.values():
        ps.map_refs = [dataclasses.replace(r, map=new) if r.map == old else r for r in ps.map_refs]


@pytest.fixture
def no_escape() -> Iterator[None]:
    """Fails if anything appears at ESCAPE (and removes it)."""
    assert not os.path.lexists(ESCAPE), f"{ESCAPE} exists before the test"
    yield
    if os.path.lexists(ESCAPE):
        os.unlink(ESCAPE)
        pytest.fail(f"a pin escaped its directory to {ESCAPE}")


# ------------------------------------------------------- item 1: bad names

BAD_NAMES = {
    "slash": ("a/b", "holds '/'"),
    "absolute": (ESCAPE, "holds '/'"),
    "dotdot": ("..", "is '..'"),
    "dot": (".", "is '.'"),
    "empty": ("", "is ''"),
    "nul": ("x\0y", "holds a NUL byte"),
}


@pytest.mark.usefixtures("no_escape")
@pytest.mark.parametrize("kind, old", [("map", "sized"), ("program", "check")])
@pytest.mark.parametrize("case", BAD_NAMES)
def test_pin_all_refuses_names_that_are_not_one_file_name(
    objs: Objs, bpffs: str, kind: str, old: str, case: str
) -> None:
    bad, why = BAD_NAMES[case]
    spec = CollectionSpec.from_file(objs("map_fields"))
    rename(spec, kind, old, bad)
    with spec.load() as coll, pytest.raises(ValueError) as err:
        coll.pin_all(os.path.join(bpffs, "d"))
    assert str(err.value).startswith(f"pin {kind} {bad!r}: the name {why}")
    assert "\n" not in str(err.value)
    assert os.listdir(bpffs) == []  # not even the directories


@pytest.mark.usefixtures("no_escape")
def test_names_from_the_elf_cannot_escape(
    tmp_path: pathlib.Path, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = compile_c(os.path.join(BPF_DIR, "pin_names.c"), str(tmp_path / "n.o"), debug=False)
    spec = CollectionSpec.from_file(obj)
    assert set(spec.maps) == {ESCAPE} and set(spec.programs) == {"escape/prog"}
    with spec.load() as coll, pytest.raises(ValueError, match="holds '/'"):
        coll.pin_all(bpffs)
    code, _, err = run(["load", obj, "--pin", bpffs], capsys)
    assert code == 1 and err == f"bpfnest: pin map {ESCAPE!r}: the name holds '/', so it" + (
        " cannot be a file name in the pin directory; rename it in the object or in the spec\n"
    )
    assert files_under(bpffs) == []


@pytest.mark.usefixtures("no_escape")
@pytest.mark.parametrize("case", ["slash", "absolute", "dotdot", "nul"])
def test_pin_by_name_refuses_bad_names_before_creating_anything(
    objs: Objs, bpffs: str, case: str
) -> None:
    bad, why = BAD_NAMES[case]
    spec = CollectionSpec.from_file(objs("pinned"))
    rename(spec, "map", "pinned_stats", bad)
    before = own_map_ids()
    with pytest.raises(ValueError, match=f"the name {why}"):
        spec.load(pin_root=bpffs)
    assert own_map_ids() == before and os.listdir(bpffs) == []


# --------------------------------------------- item 1: symlinks planted in pin dirs


@pytest.mark.parametrize("where", ["maps", "progs", "."])
def test_pin_all_never_follows_a_planted_symlink(objs: Objs, bpffs: str, where: str) -> None:
    elsewhere = os.path.join(bpffs, "elsewhere")
    os.mkdir(elsewhere)
    target = os.path.join(bpffs, "d")
    if where == ".":
        os.symlink(elsewhere, target)
        link = target
    else:
        os.mkdir(target, 0o700)
        link = os.path.join(target, where)
        os.symlink(elsewhere, link)
    with (
        CollectionSpec.from_file(objs("map_fields")).load() as coll,
        pytest.raises(BPFError) as err,
    ):
        coll.pin_all(target)
    assert err.value.errno == errno.ELOOP
    assert f"'{link}' is a symbolic link" in str(err.value)
    assert os.listdir(elsewhere) == []
    assert files_under(bpffs) == [link]  # the symlink only: no pin anywhere


def test_pin_by_name_never_follows_a_planted_symlink(objs: Objs, bpffs: str) -> None:
    """A symlink named like a pin-by-name map must not make the load reuse a map
    pinned outside pin_root (nor write into it)."""
    root, outside = os.path.join(bpffs, "root"), os.path.join(bpffs, "outside")
    os.mkdir(root, 0o700)
    os.mkdir(outside)
    spec = MapSpec(type=MapType.HASH, key_size=4, value_size=8, max_entries=16, name="victim")
    with Map.create(spec) as victim:
        victim.pin(os.path.join(outside, "pinned_stats"))
        victim[1] = 7
        os.symlink(os.path.join(outside, "pinned_stats"), os.path.join(root, "pinned_stats"))
        before = own_map_ids()
        with pytest.raises(BPFError) as err:
            CollectionSpec.from_file(objs("pinned")).load(pin_root=root)
        assert err.value.errno == errno.ELOOP and "is a symbolic link, not a pin" in str(err.value)
        assert dict(victim.items()) == {(1).to_bytes(4, "little"): (7).to_bytes(8, "little")}
        assert not wait_maps_gone(own_map_ids() - before)
    assert sorted(os.listdir(root)) == ["pinned_stats"]  # the symlink, nothing added


def test_pin_root_that_is_a_symlink_is_refused(objs: Objs, bpffs: str) -> None:
    elsewhere = os.path.join(bpffs, "elsewhere")
    os.mkdir(elsewhere)
    os.symlink(elsewhere, os.path.join(bpffs, "root"))
    with pytest.raises(BPFError, match="is a symbolic link"):
        CollectionSpec.from_file(objs("pinned")).load(pin_root=os.path.join(bpffs, "root"))
    assert os.listdir(elsewhere) == []


# ------------------------------------------- item 2: the CLI and pin-by-name maps


@pytest.fixture
def nothing_at_bpffs_root() -> Iterator[None]:
    """pinned.c's pin-by-name maps must never land in /sys/fs/bpf itself."""
    names = ("pinned_stats", "pinned_outer")
    before = {n for n in names if os.path.lexists(os.path.join("/sys/fs/bpf", n))}
    yield
    after = {n for n in names if os.path.lexists(os.path.join("/sys/fs/bpf", n))}
    for n in after - before:
        os.unlink(os.path.join("/sys/fs/bpf", n))
    assert after == before, f"pinned at /sys/fs/bpf: {sorted(after - before)}"


@pytest.mark.usefixtures("nothing_at_bpffs_root")
def test_cli_pins_pin_by_name_maps_under_dir_and_reuses_them(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = objs("pinned")
    code, out, err = run(["load", obj, "--pin", bpffs], capsys)
    assert code == 0, err
    maps, progs = os.path.join(bpffs, "maps"), os.path.join(bpffs, "progs")
    assert sorted(os.listdir(maps)) == ["pinned_inner", "pinned_outer", "pinned_stats"]
    assert os.listdir(progs) == ["count"]
    with Map.from_pinned(os.path.join(maps, "pinned_stats")) as stats:
        first = stats.id
    # A second load into the same directory reuses the pin-by-name maps.
    for name in ("maps/pinned_inner", "progs/count"):
        os.unlink(os.path.join(bpffs, name))
    code, out, err = run(["load", obj, "--pin", bpffs], capsys)
    assert code == 0, err
    assert f"map pinned_stats: hash id {first} (reused its pin)" in out
    with Map.from_pinned(os.path.join(maps, "pinned_stats")) as stats:
        assert stats.id == first


@pytest.mark.usefixtures("nothing_at_bpffs_root")
def test_cli_without_pin_leaves_no_pin(objs: Objs, capsys: pytest.CaptureFixture[str]) -> None:
    before = own_map_ids()
    code, out, err = run(["load", objs("pinned")], capsys)
    assert code == 0, err
    assert "not pinned: everything is released when this command exits" in out
    assert "pinned_outer, pinned_stats" in out
    assert not wait_maps_gone(own_map_ids() - before)


@pytest.mark.usefixtures("nothing_at_bpffs_root")
def test_cli_failed_load_leaves_no_pin(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkdir(os.path.join(bpffs, "progs"), 0o700)
    with Map.create(MapSpec(type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1)) as m:
        m.pin(os.path.join(bpffs, "progs", "count"))  # the program's pin fails: EEXIST
        before = own_map_ids()
        code, _, err = run(["load", objs("pinned"), "--pin", bpffs], capsys)
        assert code == 1 and "progs/count" in err and "File exists" in err
        assert files_under(bpffs) == [os.path.join(bpffs, "progs", "count")]
        assert not wait_maps_gone(own_map_ids() - before)


@pytest.mark.usefixtures("nothing_at_bpffs_root")
def test_cli_refuses_an_incompatible_pin_by_name_map(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    maps = os.path.join(bpffs, "maps")
    os.mkdir(maps, 0o700)
    with Map.create(MapSpec(type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1)) as m:
        m.pin(os.path.join(maps, "pinned_stats"))
    code, _, err = run(["load", objs("pinned"), "--pin", bpffs], capsys)
    assert code == 1
    assert err == (
        f"bpfnest: reuse pinned map 'pinned_stats' at {maps}/pinned_stats:"
        " type ARRAY != spec HASH\n"
    )
    assert files_under(bpffs) == [os.path.join(maps, "pinned_stats")]


@pytest.mark.usefixtures("nothing_at_bpffs_root")
def test_cli_never_follows_a_symlinked_maps_dir(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere, target = os.path.join(bpffs, "elsewhere"), os.path.join(bpffs, "d")
    os.mkdir(elsewhere)
    os.mkdir(target, 0o700)
    os.symlink(elsewhere, os.path.join(target, "maps"))
    code, _, err = run(["load", objs("pinned"), "--pin", target], capsys)
    assert code == 1 and f"'{target}/maps' is a symbolic link" in err and err.count("\n") == 1
    assert os.listdir(elsewhere) == [] and files_under(bpffs) == [os.path.join(target, "maps")]


def test_pin_root_must_be_a_path(objs: Objs) -> None:
    before = own_map_ids()
    with pytest.raises(TypeError, match=r"pin_root: path must be str, bytes or os\.PathLike"):
        CollectionSpec.from_file(objs("pinned")).load(pin_root=None)  # type: ignore[arg-type]
    assert own_map_ids() == before


# ------------------------------------------------------ item 3: modes, umask 0


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(top: str) -> dict[str, str]:
    """``{relative path: octal mode}`` of everything under ``top``."""
    found = {}
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            path = os.path.join(root, n)
            found[os.path.relpath(path, top)] = oct(stat.S_IMODE(os.lstat(path).st_mode))
    return found


@pytest.mark.usefixtures("umask0")
def test_pin_all_makes_directories_0700_and_pins_0600(objs: Objs, bpffs: str) -> None:
    with CollectionSpec.from_file(objs("map_fields")).load() as coll:
        coll.pin_all(os.path.join(bpffs, "a", "b"))
    assert modes(bpffs) == {
        "a": "0o700",
        "a/b": "0o700",
        "a/b/maps": "0o700",
        "a/b/progs": "0o700",
        "a/b/maps/bloom": "0o600",
        "a/b/maps/sized": "0o600",
        "a/b/progs/check": "0o600",
    }


@pytest.mark.usefixtures("umask0")
def test_pin_root_made_0700(objs: Objs, bpffs: str) -> None:
    CollectionSpec.from_file(objs("pinned")).load(pin_root=os.path.join(bpffs, "r")).close()
    assert modes(bpffs) == {"r": "0o700", "r/pinned_outer": "0o600", "r/pinned_stats": "0o600"}


@pytest.mark.usefixtures("umask0")
def test_cli_load_pin_modes(objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["load", objs("map_fields"), "--pin", os.path.join(bpffs, "d")], capsys)
    assert code == 0, err
    assert {p: m for p, m in modes(bpffs).items() if p.count("/") < 2} == {
        "d": "0o700",
        "d/maps": "0o700",
        "d/progs": "0o700",
    }


def test_failed_pin_all_removes_the_directories_it_made(objs: Objs, bpffs: str) -> None:
    target = os.path.join(bpffs, "d")
    os.makedirs(os.path.join(target, "progs"))
    taken = os.path.join(target, "progs", "check")
    with (
        Map.create(MapSpec(type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1)) as m,
        CollectionSpec.from_file(objs("map_fields")).load() as coll,
    ):
        m.pin(taken)
        with pytest.raises(BPFError, match=r"progs/check.*File exists"):
            coll.pin_all(target)
    # maps/ was made by pin_all, so it went with its pins; d and d/progs were there
    assert files_under(bpffs) == [taken]
    assert os.listdir(target) == ["progs"]


# ------------------------------------------- item 4: signals during load --pin


def many_maps_object(tmp_path: pathlib.Path, n: int) -> str:
    """An object with ``n`` BTF-defined ARRAY maps and one program."""
    src = tmp_path / "many.c"
    decl = (
        "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);"
        " __type(key, __u32); __type(value, __u32); }"
    )
    lines = ['#include "common.h"']
    lines += [f'{decl} m{i} SEC(".maps");' for i in range(n)]
    lines += [
        'SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }',
        'char LICENSE[] SEC("license") = "GPL";',
    ]
    src.write_text("\n".join(lines) + "\n")
    return compile_c(str(src), str(tmp_path / "many.o"))


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": REPO}


# The child signals itself right after the k-th pin syscall returned, before
# the pin is recorded anywhere (k = 2001: after the last pin, the program's).
SELF_KILL = """
import os, sys
from bpfnest import _object
from bpfnest.cli import main

k, sig = int(sys.argv[1]), int(sys.argv[2])
real, count = _object.KernelObject.pin, [0]

def pin(self, *args, **kwargs):
    real(self, *args, **kwargs)
    count[0] += 1
    if count[0] == k:
        os.kill(os.getpid(), sig)

_object.KernelObject.pin = pin
raise SystemExit(main(sys.argv[3:]))
"""

STATUS = {signal.SIGTERM: -signal.SIGTERM, signal.SIGHUP: -signal.SIGHUP, signal.SIGINT: 130}


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> str:
    return many_maps_object(tmp_path_factory.mktemp("many"), 2000)


def self_kill(
    k: int, sig: signal.Signals, argv: list[str], *, ignore: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``bpfnest argv`` in a child that sends itself ``sig`` after its k-th pin
    (with ``sig`` ignored from the start when ``ignore``, as under nohup)."""
    return subprocess.run(
        [sys.executable, "-c", SELF_KILL, str(k), str(int(sig)), *argv],
        env=child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=(lambda: signal.signal(sig, signal.SIG_IGN)) if ignore else None,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("k", [1, 700, 2001])
def test_signal_right_after_a_pin_leaves_nothing(
    many: str, bpffs: str, sig: signal.Signals, k: int
) -> None:
    res = self_kill(k, sig, ["load", many, "--pin", os.path.join(bpffs, "d")])
    assert res.returncode == STATUS[sig], res.stderr
    assert "Traceback" not in res.stderr
    assert os.listdir(bpffs) == [], files_under(bpffs)[:5]


def test_an_ignored_sighup_stays_ignored(many: str, bpffs: str) -> None:
    """Under ``nohup`` (SIGHUP ignored) a hang-up must not abort the load."""
    target = os.path.join(bpffs, "d")
    res = self_kill(700, signal.SIGHUP, ["load", many, "--pin", target], ignore=True)
    assert res.returncode == 0, res.stderr
    assert len(os.listdir(os.path.join(target, "maps"))) == 2000


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_kill_during_load_pin_is_all_or_nothing(many: str, bpffs: str, sig: signal.Signals) -> None:
    """A real ``python -m bpfnest load --pin`` signalled from outside as its first
    pins appear. Every attempt must leave all 2001 pins or none; a signal that
    comes after the last check (the pins complete) ends the process all the same.
    At least one attempt must have been rolled back."""
    rolled_back = 0
    for attempt in range(5):
        target = os.path.join(bpffs, f"d{attempt}")
        code, err = signal_when_pinning(many, target, sig)
        left = files_under(target) if os.path.lexists(target) else []
        assert code in (0, -sig), err
        assert "Traceback" not in err
        assert len(left) in (0, 2001), f"attempt {attempt}: {len(left)} pins left, {left[:3]}"
        if not left:
            assert code == -sig and not os.path.lexists(target)
            rolled_back += 1
            if rolled_back == 2:
                break
    assert rolled_back, "the signal never came while the load was pinning"


def signal_when_pinning(obj: str, target: str, sig: signal.Signals) -> tuple[int, str]:
    """Run ``python -m bpfnest load obj --pin target``, send ``sig`` as soon as
    a pin appears; return its exit status and stderr."""
    maps = os.path.join(target, "maps")
    child = subprocess.Popen(
        [sys.executable, "-m", "bpfnest", "load", obj, "--pin", target],
        env=child_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if os.listdir(maps):
                    break
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


class Interrupted(BaseException):
    """What a signal handler raises right after a pin syscall returned."""


@pytest.mark.parametrize(
    "how, k",
    [("pin_all", 1), ("pin_all", 2), ("pin_all", 3), ("pin_root", 1), ("pin_root", 2)],
)
def test_an_exception_right_after_a_pin_leaves_nothing(
    objs: Objs, bpffs: str, monkeypatch: pytest.MonkeyPatch, how: str, k: int
) -> None:
    """In the library itself (no CLI holding signals back), an exception that
    comes between the pin syscall and its bookkeeping must not leave the pin:
    the k-th pin is made, then interrupted (k = 3: map_fields' program)."""
    from bpfnest._object import KernelObject

    real, count = KernelObject.pin, [0]

    def pin(self: KernelObject, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        count[0] += 1
        if count[0] == k:
            raise Interrupted

    monkeypatch.setattr(KernelObject, "pin", pin)
    before = own_map_ids()
    with pytest.raises(Interrupted):
        if how == "pin_all":
            with CollectionSpec.from_file(objs("map_fields")).load() as coll:
                coll.pin_all(os.path.join(bpffs, "d"))
        else:
            CollectionSpec.from_file(objs("pinned")).load(pin_root=bpffs)
    assert count[0] == k
    assert os.listdir(bpffs) == [], files_under(bpffs)
    assert not wait_maps_gone(own_map_ids() - before)


# ------------------------------------------------ item 17: path arguments

BAD_PATHS: dict[str, tuple[Any, type[Exception], str]] = {
    "None": (None, TypeError, "path must be str, bytes or os.PathLike, got NoneType"),
    "int": (3, TypeError, "got int"),
    "NUL": ("pin\0tail", ValueError, "holds a NUL byte"),
    "bytes NUL": (b"pin\0tail", ValueError, "holds a NUL byte"),
    "empty": ("", ValueError, "the path is empty"),
}


@pytest.fixture
def loaded(objs: Objs) -> Iterator[Collection]:
    with CollectionSpec.from_file(objs("map_fields")).load() as coll:
        yield coll


@pytest.mark.parametrize("case", BAD_PATHS)
@pytest.mark.parametrize(
    "call", ["Map.pin", "Program.pin", "Map.from_pinned", "Program.from_pinned", "pin_all"]
)
def test_bad_paths_are_refused_before_any_syscall(
    loaded: Collection, bpffs: str, monkeypatch: pytest.MonkeyPatch, case: str, call: str
) -> None:
    from bpfnest._sys import ops

    value, exc, text = BAD_PATHS[case]
    monkeypatch.chdir(bpffs)  # a path cut at the NUL would be pinned here
    calls: list[str] = []
    for name in ("obj_pin", "obj_get"):
        real = getattr(ops, name)
        monkeypatch.setattr(ops, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    fn: Callable[[Any], object] = {
        "Map.pin": loaded.maps["sized"].pin,
        "Program.pin": loaded.programs["check"].pin,
        "Map.from_pinned": Map.from_pinned,
        "Program.from_pinned": Program.from_pinned,
        "pin_all": loaded.pin_all,
    }[call]
    with pytest.raises(exc, match=text):
        fn(value)
    assert calls == [] and os.listdir(bpffs) == []


@pytest.mark.parametrize("kind", ["bytes", "PathLike", "PathLike of bytes"])
def test_bytes_and_pathlike_paths(loaded: Collection, bpffs: str, kind: str) -> None:
    m, p = loaded.maps["sized"], loaded.programs["check"]

    class BytesPath:
        def __init__(self, raw: bytes) -> None:
            self.raw = raw

        def __fspath__(self) -> bytes:
            return self.raw

    def as_kind(path: str) -> Any:
        return {
            "bytes": os.fsencode(path),
            "PathLike": pathlib.Path(path),
            "PathLike of bytes": BytesPath(os.fsencode(path)),
        }[kind]

    m.pin(as_kind(os.path.join(bpffs, "m")))
    p.pin(as_kind(os.path.join(bpffs, "p")))
    assert sorted(os.listdir(bpffs)) == ["m", "p"]
    with Map.from_pinned(as_kind(os.path.join(bpffs, "m"))) as again:
        assert again.id == m.id
    with Program.from_pinned(as_kind(os.path.join(bpffs, "p"))) as again_p:
        assert again_p.id == p.id


def test_dir_fd_pins_and_opens_relative_to_a_directory(loaded: Collection, bpffs: str) -> None:
    m, p = loaded.maps["sized"], loaded.programs["check"]
    dir_fd = os.open(bpffs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        m.pin("m", dir_fd=dir_fd)
        p.pin(b"p", dir_fd=dir_fd)
        with Map.from_pinned("m", dir_fd=dir_fd) as again:
            assert again.id == m.id
        with Program.from_pinned("p", dir_fd=dir_fd) as again_p:
            assert again_p.id == p.id
        with pytest.raises(BPFError, match=f"pin at '{bpffs}/m'.*File exists"):
            m.pin("m", dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    assert sorted(os.listdir(bpffs)) == ["m", "p"]


# --------------------------------------------- item 29: colliding pin names


def test_colliding_pin_names_name_both_maps(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = objs("bss_collide")
    with CollectionSpec.from_file(obj).load() as coll, pytest.raises(ValueError) as err:
        coll.pin_all(bpffs)
    expected = (
        f"pin maps '.bss' and '_bss': both would be pinned at '{bpffs}/maps/_bss'"
        " (bpffs names hold no dots: they become '_'); rename one of them"
    )
    assert str(err.value) == expected
    code, _, text = run(["load", obj, "--pin", bpffs], capsys)
    assert (code, text) == (1, f"bpfnest: {expected}\n")
    assert os.listdir(bpffs) == []


def test_colliding_pin_by_name_maps_name_both(objs: Objs, bpffs: str) -> None:
    spec = CollectionSpec.from_file(objs("pinned"))
    rename(spec, "map", "pinned_stats", "stats.x")
    rename(spec, "map", "pinned_outer", "stats_x")
    assert spec.maps["stats.x"].pinning == spec.maps["stats_x"].pinning == PIN_BY_NAME
    before = own_map_ids()
    with pytest.raises(ValueError, match=r"pin maps 'stats\.x' and 'stats_x': both would be"):
        spec.load(pin_root=bpffs)
    assert own_map_ids() == before and os.listdir(bpffs) == []
