"""Object lifetimes against the process around them: signals, fork, no /proc.

- A ``KeyboardInterrupt`` arriving just as a syscall hands back a new fd (or
  while it is being wrapped) closes that fd: no fd and no kernel object is
  left without an owner (issue 12 item 12).
- A child forked while other threads are inside operations can still use and
  close every object: locks and borrows of threads that do not exist in the
  child are released there (item 5).
- Without /proc (a minimal container) fds are identified by the kernel:
  ``from_pinned`` and ``from_fd`` work, and say what a wrong fd is (item 13).
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bpfnest import Map, MapSpec, MapType, Program, ProgramSpec, ProgType
from bpfnest._sys import fd as fdmod
from bpfnest._sys import ops
from bpfnest._sys.uapi import Cmd

from support import _open_fds

pytestmark = pytest.mark.usefixtures("kernel")

XDP_PASS = 2
# r0 = XDP_PASS; exit
PASS_CODE = struct.pack("<BBhi", 0xB7, 0, 0, XDP_PASS) + struct.pack("<BBhi", 0x95, 0, 0, 0)


def pass_spec(name: str) -> ProgramSpec:
    return ProgramSpec(name, ProgType.XDP, PASS_CODE, license="GPL")


def tiny_btf() -> bytes:
    """A BTF blob with one type, ``int``."""
    types = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", 32)  # INT 'int', 32 bits
    strs = b"\0int\0"
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return header + types + strs


def names_in_system(cmd: Cmd) -> set[str]:
    """The names of every map (MAP_GET_NEXT_ID) or program (PROG_GET_NEXT_ID)."""
    by_id, info = (
        (Cmd.MAP_GET_FD_BY_ID, ops.map_info)
        if cmd == Cmd.MAP_GET_NEXT_ID
        else (Cmd.PROG_GET_FD_BY_ID, ops.prog_info)
    )
    names: set[str] = set()
    cur = 0
    while (nxt := ops.get_next_id(cmd, cur)) is not None:
        cur = nxt
        try:
            with ops.get_fd_by_id(by_id, nxt) as fd:
                names.add(bytes(info(fd.raw).name).split(b"\0", 1)[0].decode())
        except OSError:
            continue  # gone meanwhile
    return names


# ------------------------------------------------------------- item 12: signals


@pytest.fixture
def prepared(bpffs: str) -> Iterator[dict[str, Any]]:
    """What the operations open: a pinned map and program, and their fds."""
    with (
        Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="sig_src")) as m,
        Program.load(pass_spec("sig_src_prog")) as p,
    ):
        m.pin(os.path.join(bpffs, "map"))
        p.pin(os.path.join(bpffs, "prog"))
        yield {"map": m, "prog": p, "dir": bpffs}


# name -> (operation, the name of what it would create, or "" when it opens an existing one)
OPERATIONS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "map create": (lambda _: Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="sig_new")), "sig_new"),
    "outer map create": (
        lambda _: Map.create(
            MapSpec(
                MapType.ARRAY_OF_MAPS,
                4,
                4,
                2,
                name="sig_outer",
                inner=MapSpec(MapType.ARRAY, 4, 4, 1, name="sig_tmpl"),
            )
        ),
        "sig_outer",
    ),
    "program load": (lambda _: Program.load(pass_spec("sig_new_prog")), "sig_new_prog"),
    "BTF load": (lambda _: ops.btf_load(tiny_btf())[0], ""),
    "map from_pinned": (lambda p: Map.from_pinned(os.path.join(p["dir"], "map")), ""),
    "program from_pinned": (lambda p: Program.from_pinned(os.path.join(p["dir"], "prog")), ""),
    "map from_id": (lambda p: Map.from_id(p["map"].id), ""),
    "program from_id": (lambda p: Program.from_id(p["prog"].id), ""),
    "map from_fd": (lambda p: Map.from_fd(p["map"].fd), ""),
    "program from_fd": (lambda p: Program.from_fd(p["prog"].fd), ""),
}


def interrupt_in_fd_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ``FD(...)`` raises KeyboardInterrupt: the fd is not wrapped yet."""
    real = fdmod.FD.__init__
    fired = [False]

    def init(self: fdmod.FD, *args: Any, **kwargs: Any) -> None:
        if not fired[0]:
            fired[0] = True
            raise KeyboardInterrupt
        real(self, *args, **kwargs)

    monkeypatch.setattr(fdmod.FD, "__init__", init)


def interrupt_as_the_call_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first C call that makes an fd returns, then KeyboardInterrupt is raised
    (where a signal handler would run: the bytecode right after the call)."""
    real = fdmod._function
    fired = [False]

    class Call:
        def __init__(self, fn: Any) -> None:
            self.fn = fn
            self.restype: Any = None

        def __call__(self, *args: Any) -> Any:
            self.fn.restype = self.restype
            out = self.fn(*args)
            if not fired[0]:
                fired[0] = True
                raise KeyboardInterrupt
            return out

    monkeypatch.setattr(fdmod, "_function", lambda name: Call(real(name)))


@pytest.mark.parametrize(
    "inject",
    [interrupt_in_fd_constructor, interrupt_as_the_call_returns],
    ids=["in the FD constructor", "as the syscall returns"],
)
@pytest.mark.parametrize("op", list(OPERATIONS))
def test_keyboard_interrupt_while_wrapping_a_new_fd_leaks_nothing(
    op: str, inject: Callable[[pytest.MonkeyPatch], None], prepared: dict[str, Any]
) -> None:
    run, made = OPERATIONS[op]
    fds_before = _open_fds()
    with pytest.MonkeyPatch.context() as mp:
        inject(mp)
        with pytest.raises(KeyboardInterrupt):
            obj = run(prepared)
            obj.close()  # not reached: the interrupt comes first
    assert _open_fds() - fds_before == set()
    if made:
        cmd = Cmd.PROG_GET_NEXT_ID if "program" in op else Cmd.MAP_GET_NEXT_ID
        assert made not in names_in_system(cmd)
    # The operation works once the interrupt is over, and closes cleanly.
    obj = run(prepared)
    obj.close()


def test_a_close_cut_short_by_an_interrupt_is_finished_by_the_next_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="sig_close"))
    number = m.fd
    real = fdmod.FD._really_close
    fired = [False]

    def cut_short(self: fdmod.FD) -> None:
        if not fired[0]:
            fired[0] = True
            raise KeyboardInterrupt  # where a signal handler could run: entering the call
        real(self)

    monkeypatch.setattr(fdmod.FD, "_really_close", cut_short)
    with pytest.raises(KeyboardInterrupt):
        m.close()
    assert m.closed  # no new operations from here on
    with pytest.raises(ValueError, match="closed"):
        m.lookup(1)
    m.close()  # finishes the close
    with pytest.raises(OSError):
        os.fstat(number)


def test_new_fd_owns_a_number_and_reports_errno() -> None:
    with fdmod.new_fd("fcntl", 1, 1030, 3) as fd:  # F_DUPFD_CLOEXEC
        assert fd.raw >= 3
        assert os.get_inheritable(fd.raw) is False
    with pytest.raises(OSError) as exc:
        fdmod.new_fd("fcntl", 99999, 1030, 3)
    assert exc.value.errno == 9
    assert ctypes.get_errno() == 9


# ------------------------------------------------------------ item 13: no /proc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NO_PROC_CHILD = r"""
import json, os, sys
from bpfnest import BPFError, Map, MapSpec, MapType, Program, ProgramSpec, ProgType
from bpfnest._sys import ops

assert not os.path.exists("/proc/self"), "/proc is still there"
pins = sys.argv[1]
code = bytes.fromhex(sys.argv[2])
btf = bytes.fromhex(sys.argv[3])


def open_fds():
    found = set()
    for n in range(1024):
        try:
            os.fstat(n)
        except OSError:
            continue
        found.add(n)
    return found


def error(call):
    try:
        obj = call()
    except BPFError as err:
        return [err.errno, str(err)]
    obj.close()
    return "no error"


out = {}
before = open_fds()
with Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="noproc")) as m, Program.load(
    ProgramSpec("noproc_prog", ProgType.XDP, code, license="GPL")
) as p, Map.create(
    MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 1, name="noproc_out", inner=MapSpec(MapType.HASH, 4, 4, 4))
) as outer, open(os.devnull) as null:
    m[1] = 2
    m.pin(os.path.join(pins, "map"))
    p.pin(os.path.join(pins, "prog"))
    with Map.from_pinned(os.path.join(pins, "map")) as again:
        out["map from_pinned"] = [again.id == m.id, again[1] == (2).to_bytes(4, "little")]
    with Map.from_fd(m.fd) as again:
        out["map from_fd"] = [again.id == m.id, again[1] == (2).to_bytes(4, "little")]
    with Program.from_pinned(os.path.join(pins, "prog")) as again:
        out["program from_pinned"] = [again.id == p.id, again.test_run(bytes(64)).retval]
    with Program.from_fd(p.fd) as again:
        out["program from_fd"] = [again.id == p.id, again.test_run(bytes(64)).retval]
    outer[0] = m.fd  # an int fd: checked through the kernel
    out["outer slot"] = outer[0] == m.id
    out["map from_pinned of a program"] = error(lambda: Map.from_pinned(os.path.join(pins, "prog")))
    out["program from_pinned of a map"] = error(
        lambda: Program.from_pinned(os.path.join(pins, "map"))
    )
    out["map from_fd of a program"] = error(lambda: Map.from_fd(p.fd))
    out["map from_fd of /dev/null"] = error(lambda: Map.from_fd(null.fileno()))
    out["map from_fd of a closed fd"] = error(lambda: Map.from_fd(999))
    out["program from_fd of a map"] = error(lambda: Program.from_fd(m.fd))
    out["program from_fd of a closed fd"] = error(lambda: Program.from_fd(999))
    out["outer update with a program fd"] = error(lambda: outer.update(0, p.fd))
    with ops.btf_load(btf)[0] as btf_fd:
        out["map from_fd of a BTF"] = error(lambda: Map.from_fd(btf_fd.raw))
        out["program from_fd of a BTF"] = error(lambda: Program.from_fd(btf_fd.raw))
out["fds left open"] = sorted(open_fds() - before)
print(json.dumps(out))
"""


def test_fds_are_identified_without_proc(bpffs: str) -> None:
    """In a mount namespace where /proc is an empty tmpfs (a minimal container)."""
    import json
    import shutil
    import subprocess
    import sys

    from support import skip_or_fail

    if shutil.which("unshare") is None:
        skip_or_fail("unshare(1) is not installed (util-linux)")
    script = 'mount -t tmpfs none /proc && exec "$0" -c "$1" "$2" "$3" "$4"'
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable,
         NO_PROC_CHILD, bpffs, PASS_CODE.hex(), tiny_btf().hex()],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )  # fmt: skip
    if res.returncode != 0 and "unshare failed" in res.stderr:
        skip_or_fail(f"cannot make a mount namespace here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    prog, dev = f"'{bpffs}/prog'", f"'{bpffs}/map'"
    assert got == {
        "map from_pinned": [True, True],
        "map from_fd": [True, True],
        "program from_pinned": [True, XDP_PASS],
        "program from_fd": [True, XDP_PASS],
        "outer slot": True,
        "map from_pinned of a program": [
            22,
            f"open pinned {prog}: not a map (it is a BPF program)",
        ],
        "program from_pinned of a map": [22, f"open pinned {dev}: not a program (it is a BPF map)"],
        "map from_fd of a program": [22, got["map from_fd of a program"][1]],
        "map from_fd of /dev/null": [22, got["map from_fd of /dev/null"][1]],
        "map from_fd of a closed fd": [
            9,
            "from_fd: fd 999: Bad file descriptor (not an open file descriptor)",
        ],
        "program from_fd of a map": [22, got["program from_fd of a map"][1]],
        "program from_fd of a closed fd": [
            9,
            "from_fd: fd 999: Bad file descriptor (not an open file descriptor)",
        ],
        "outer update with a program fd": [22, got["outer update with a program fd"][1]],
        "fds left open": [],
        "map from_fd of a BTF": [22, got["map from_fd of a BTF"][1]],
        "program from_fd of a BTF": [22, got["program from_fd of a BTF"][1]],
    }
    assert got["map from_fd of a program"][1].endswith("is not a BPF map (it is a BPF program)")
    assert got["map from_fd of /dev/null"][1].endswith("is not a BPF map (it is not a BPF object)")
    assert got["program from_fd of a map"][1].endswith("is not a BPF program (it is a BPF map)")
    assert got["outer update with a program fd"][1].endswith("(it is a BPF program)")
    for what in ("map", "program"):
        assert got[f"{what} from_fd of a BTF"][1].endswith("(it is another BPF object)")


def test_detach_hands_the_number_over() -> None:
    """FD.detach: the number stays open, the FD no longer owns or closes it."""
    r, w = os.pipe()
    os.close(w)
    owned = fdmod.FD(r)
    with owned.borrow() as raw:
        with pytest.raises(ValueError, match="in use"):
            owned.detach()  # a borrow in flight keeps it owned
        assert raw == r
    assert owned.detach() == r
    assert owned.closed and r not in {raw for raw, _ in fdmod.live()}
    owned.close()  # nothing left to close: r stays open
    os.fstat(r)
    os.close(r)
    with pytest.raises(ValueError, match="closed"):
        owned.detach()
