"""CO-RE against the running kernel: real programs built with a vmlinux.h made
in the test run, checked against the truth (this process, /proc, the
kernel's BTF), and against libbpf: bpftool loads the same object, and both
programs' translated instructions must be identical once map ids are
normalised (libbpf's relocation is the oracle)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from bpfnest import CollectionSpec, VerifierError
from bpfnest._kernel_btf import kernel_btf
from bpfnest.btf import Composite, Enum
from bpfnest.btf.core import POISON
from bpfnest.constants import MapType

from support import compile_bpf, skip_or_fail, vmlinux_h

pytestmark = pytest.mark.usefixtures("kernel")

Objs = Callable[..., str]
#: Objects relocated against the kernel whose xlated code is compared with libbpf's.
DIFFERENTIAL = ["core_task", "core_kinds"]


@pytest.fixture(scope="module")
def core_objs() -> Callable[[str], str]:
    """Objects built with a vmlinux.h of the running kernel, made in the test run."""
    include = (vmlinux_h(),)
    return lambda name: compile_bpf(name, include=include)


def _u(raw: bytes, at: int, size: int) -> int:
    return int.from_bytes(raw[at : at + size], "little")


def _member(comp: Composite, name: str) -> tuple[int, int]:
    """(bit offset, bitfield size) of ``comp``'s member ``name`` (searching
    through anonymous members, as the kernel's task_struct needs)."""
    btf = kernel_btf()
    for m in comp.members:
        if m.name == name:
            return m.bit_offset, m.bitfield_size
        inner = btf.resolve(m.type)
        if not m.name and isinstance(inner, Composite):
            try:
                off, bits = _member(inner, name)
            except KeyError:
                continue
            return m.bit_offset + off, bits
    raise KeyError(name)


def test_task_struct_fields(core_objs: Callable[[str], str]) -> None:
    spec = CollectionSpec.from_file(core_objs("core_task"))
    assert spec.programs["read_task"].core_relos > 10
    with spec.load() as coll:
        coll.set_global("want_tgid", os.getpid())
        coll.programs["read_task"].test_run(ctx=bytes(16))  # runs in this thread's task
        raw = coll.get_global("res")
    btf = kernel_btf()
    task = btf.find("task_struct", Composite)
    bit, bits = _member(task, "in_execve")
    comm = raw[80:96].split(b"\0", 1)[0].decode()
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        want_comm = f.read().strip()
    got = {
        "pid": _u(raw, 0, 4),
        "tgid": _u(raw, 4, 4),
        "parent": _u(raw, 8, 4),
        "has_pid": _u(raw, 12, 4),
        "has_missing": _u(raw, 16, 4),
        "missing": _u(raw, 20, 4),
        "task_size": _u(raw, 24, 8),
        "array": _u(raw, 32, 8),
        "ringbuf": _u(raw, 40, 8),
        "in_execve": _u(raw, 48, 8),
        "lshift": _u(raw, 56, 8),
        "rshift": _u(raw, 64, 8),
        "prio_off": _u(raw, 72, 8),
        "comm": comm,
    }
    byte_off = bit // 32 * 4  # a 4-byte unsigned int holds the bit
    assert got == {
        "pid": threading.get_native_id(),
        "tgid": os.getpid(),
        "parent": os.getppid(),
        "has_pid": 1,
        "has_missing": 0,
        "missing": 0xDEAD,  # the guarded read was dead code, removed
        "task_size": task.size,
        "array": MapType.ARRAY,
        "ringbuf": MapType.RINGBUF,
        "in_execve": 0,  # not in the middle of an execve
        "lshift": 64 - (bit + bits - byte_off * 8),
        "rshift": 64 - bits,
        "prio_off": _member(task, "prio")[0] // 8,
        "comm": want_comm,
    }


def test_tp_btf_kinds(core_objs: Callable[[str], str]) -> None:
    spec = CollectionSpec.from_file(core_objs("core_kinds"))
    assert spec.btf is not None
    btf = kernel_btf()
    with spec.load() as coll:
        coll.set_global("want_tid", threading.get_native_id())
        with coll.programs["kinds"].attach_tracing():
            os.getppid()  # a syscall of this process
        out = memoryview(coll.get_global("out")).cast("Q").tolist()
    with open(f"/proc/self/task/{threading.get_native_id()}/stat") as f:
        flags = int(f.read().rsplit(")", 1)[1].split()[6])  # field 9: the task's flags
    skb = btf.find("sk_buff", Composite)
    assert out[13] >= 1  # calls
    assert out[:13] == [
        flags,  # a u64 load of the kernel's unsigned int flags, shrunk to 4 bytes
        threading.get_native_id(),
        _comm().encode().ljust(16, b"\0")[3],
        spec.btf.find("task_struct___wide").id,
        btf.find("task_struct", Composite).id,
        1,
        0,  # struct no_such_type
        1,
        0,  # BPF_MAP_TYPE_NO_SUCH
        MapType.HASH,
        _member(skb, "len")[0] // 8,
        _member(skb, "tstamp")[0] // 8,  # in an anonymous union
        16,
    ]


def _comm() -> str:
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        return f.read().strip()


def test_unguarded_missing_field_named(core_objs: Callable[[str], str]) -> None:
    spec = CollectionSpec.from_file(core_objs("core_unguarded"))
    with pytest.raises(VerifierError) as exc:
        spec.load()
    msg = str(exc.value)
    assert re.fullmatch(
        r"load program 'unguarded' \(RAW_TRACEPOINT\): instruction \d+ uses"
        r" struct task_struct___mine\.no_such_field, which the target BTF"
        r" \(/sys/kernel/btf/vmlinux\) lacks \(CO-RE relocation byte_off failed; guard the"
        r" access with bpf_core_field_exists\(\) or bpf_core_type_exists\(\)\)",
        msg,
    ), msg
    assert f"unknown#{POISON}" not in msg
    assert f"unknown#{POISON}" in exc.value.log  # the kernel's own words are kept


def test_enum_value_truth() -> None:
    # The kernel's BTF says what test_task_struct_fields expects of enum bpf_map_type.
    e = kernel_btf().find("bpf_map_type", Enum)
    values = {v.name: v.value for v in e.values}
    assert values["BPF_MAP_TYPE_ARRAY"] == MapType.ARRAY


# ------------------------------------------------------------ libbpf, the oracle


def _bpftool(*args: str) -> str:
    res = subprocess.run(["bpftool", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.fail(f"bpftool {' '.join(args)}: {res.stderr.strip()}", pytrace=False)
    return res.stdout


def _normalised(xlated: str) -> str:
    """Map ids renumbered by first appearance (each load has its own maps)."""
    seen: dict[str, str] = {}
    return re.sub(
        r"map\[id:(\d+)\]",
        lambda m: f"map[#{seen.setdefault(m.group(1), str(len(seen)))}]",
        xlated,
    )


@pytest.fixture
def libbpf_dir(bpffs: str) -> Iterator[str]:
    if shutil.which("bpftool") is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    where = os.path.join(bpffs, "libbpf")
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def core_loader(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/bin/core_loader.c (libbpf with btf_custom_path) compiled by gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        skip_or_fail("gcc is not installed (apt-get install gcc)")
    if not os.path.exists("/usr/include/bpf/libbpf.h"):
        skip_or_fail("libbpf's headers are not installed (apt-get install libbpf-dev)")
    out = str(tmp_path_factory.mktemp("core_loader") / "core_loader")
    src = os.path.join(os.path.dirname(__file__), "bin", "core_loader.c")
    subprocess.run([gcc, "-O1", "-o", out, src, "-lbpf"], check=True)
    return out


def _xlated(prog_id: int) -> str:
    return _normalised(_bpftool("prog", "dump", "xlated", "id", str(prog_id)))


def _libbpf_code(pins: str, names: list[str]) -> dict[str, str]:
    """The xlated code of the programs libbpf pinned in ``pins``, which are then removed."""
    out: dict[str, str] = {}
    for prog in names:
        info = json.loads(_bpftool("-j", "prog", "show", "pinned", os.path.join(pins, prog)))
        out[prog] = _xlated(info["id"])
    shutil.rmtree(pins)  # libbpf's programs go as soon as their pins do
    return out


@pytest.mark.parametrize("name", DIFFERENTIAL)
def test_same_code_as_libbpf(core_objs: Callable[[str], str], libbpf_dir: str, name: str) -> None:
    # Relocated against the running kernel: bpftool (libbpf 1.1) loads the object.
    obj = core_objs(name)
    spec = CollectionSpec.from_file(obj)
    assert all(p.core_relocations for p in spec.programs.values())
    _bpftool("prog", "loadall", obj, libbpf_dir)
    theirs = _libbpf_code(libbpf_dir, list(spec.programs))
    with spec.load() as coll:
        ours = {prog: _xlated(p.id) for prog, p in coll.programs.items()}
    assert ours == theirs
    assert all(text.count("\n") > 10 for text in ours.values())


#: (object, target whose BTF plays the kernel's): moved and resized fields,
#: bitfields, missing fields (poisoned, dead), flavors, enum values, flexible
#: arrays, subprograms.
CUSTOM = [
    ("core_fields", "core_fields"),
    ("core_fields", "core_target_moved"),
    ("core_fields", "core_target_gone"),
    ("core_flex", "core_target_flex"),
    ("core_subprog", "core_subprog"),
]


@pytest.mark.parametrize(("name", "target"), CUSTOM, ids=[f"{n}-{t}" for n, t in CUSTOM])
def test_same_code_as_libbpf_on_other_types(
    objs: Objs, core_loader: str, libbpf_dir: str, name: str, target: str
) -> None:
    # Relocated against another BTF: libbpf through btf_custom_path, bpfnest
    # through kernel_btf=, both given the target object's file.
    obj, target_obj = objs(name), objs(target)
    spec = CollectionSpec.from_file(obj)
    res = subprocess.run(
        [core_loader, obj, libbpf_dir, target_obj], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    theirs = _libbpf_code(libbpf_dir, list(spec.programs))
    with spec.load(kernel_btf=target_obj) as coll:
        ours = {prog: _xlated(p.id) for prog, p in coll.programs.items()}
    assert ours == theirs
