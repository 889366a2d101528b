"""The per-process tracer, written for any kernel: vmlinux.h, BPF_CORE_READ, CO-RE.

``count_getpgid`` (in ``core_tracer.bpf.c``) includes ``vmlinux.h`` (the
running kernel's types as C) and reads the calling task's tgid, its parent's
tgid, its comm and its state with ``BPF_CORE_READ``, choosing between two
versions of a field with ``bpf_core_field_exists``. It is attached to the
tracepoint ``syscalls/sys_enter_getpgid`` by its section name
(``Program.attach()``), and counts each traced process's calls in that
process's own map of ``by_pid``, a HASH_OF_MAPS keyed by pid that the script
fills. Child processes call getpgid a known number of times; the script
checks every count, that the parent the program read is this script, and
what CO-RE changed in the program against the kernel's own BTF.

It loads twice: ``CollectionSpec.load()`` relocates against the running
kernel's BTF, ``load(kernel_btf=...)`` against a BTF file given explicitly
(here the same kernel's, so the program comes out the same).

``vmlinux.h`` is generated at run time with
``bpftool btf dump file /sys/kernel/btf/vmlinux format c`` into a temporary
directory, and the object is compiled there; the directory, the children,
the maps, the program and the link are all gone when the script exits. When
tracefs is not mounted, the tracepoint's id is read through a private mount
that nothing else sees.

Run it as root from the repository root: ``python examples/core_tracer.py``
(needs clang, bpftool and the libbpf headers).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator

from bpfnest import Collection, CollectionSpec, Map, MapSpec, OuterMap
from bpfnest.btf import BTF, LazyBTF, Struct
from bpfnest.btf.core import CoreKind, Relocator

HERE = os.path.dirname(os.path.abspath(__file__))
VMLINUX = "/sys/kernel/btf/vmlinux"
# comm of each child -> its getpgid(0) calls (it also calls getpgid(parent) once)
CHILDREN = {"getpgid-a": 10, "getpgid-b": 25, "getpgid-c": 7}
TASK_RUNNING = 0
STATE_FIELDS = {1: "__state", 2: "state"}


class Proc(ctypes.Structure):
    """``struct proc`` of core_tracer.bpf.c: what the program notes about a process."""

    _fields_ = [
        ("calls", ctypes.c_uint64),
        ("own", ctypes.c_uint64),
        ("tgid", ctypes.c_uint32),
        ("parent", ctypes.c_uint32),
        ("state", ctypes.c_uint32),
        ("state_field", ctypes.c_uint32),
        ("comm", ctypes.c_char * 16),
    ]


def tool(name: str, package: str) -> str:
    """The path of command ``name``; FileNotFoundError naming the package otherwise."""
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install {package})")
    return path


def build(where: str) -> str:
    """Write the running kernel's ``vmlinux.h`` into ``where``, compile
    core_tracer.bpf.c against it there, and return the object's path."""
    header = os.path.join(where, "vmlinux.h")
    with open(header, "wb") as out:
        dump = [tool("bpftool", "bpftool"), "btf", "dump", "file", VMLINUX, "format", "c"]
        subprocess.run(dump, stdout=out, check=True)
    flags = ["-O2", "-g", "-target", "bpf", "-I", where]
    multiarch = sysconfig.get_config_var("MULTIARCH")  # <asm/types.h> for <bpf/bpf_helpers.h>
    if multiarch:
        flags.append(f"-I/usr/include/{multiarch}")
    obj = os.path.join(where, "core_tracer.o")
    src = os.path.join(HERE, "core_tracer.bpf.c")
    res = subprocess.run(
        [tool("clang", "clang"), *flags, "-c", src, "-o", obj], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError(f"clang failed on {src}:\n{res.stderr}")
    print(f"built {os.path.basename(obj)} against vmlinux.h ({os.path.getsize(header)} bytes)")
    return obj


def task_struct(kernel: BTF) -> dict[str, int]:
    """The running kernel's ``struct task_struct``: member name -> byte offset."""
    (task,) = [t for t in kernel.named("task_struct") if isinstance(t, Struct)]
    return {m.name: m.bit_offset // 8 for m in task.members if m.name}


def show_relocations(spec: CollectionSpec, kernel: BTF, members: dict[str, int]) -> None:
    """Print what CO-RE changes in the program for this kernel, checked against its BTF."""
    prog = spec.programs["count_getpgid"]
    assert spec.btf is not None
    _, fixups = Relocator(spec.btf, kernel).relocate(
        prog.name, prog.instructions, prog.core_relocations
    )
    print(f"{prog.name}: {len(fixups)} CO-RE relocations for this kernel")
    for fix in fixups:
        after = "poisoned (no such field here)" if fix.poisoned else str(fix.new)
        print(f"  insn {fix.insn:3} {fix.kind.name:17} {fix.path:40} {fix.old} -> {after}")
        struct, _, field = fix.path.partition(".")
        if not struct.startswith("struct task_struct") or "." in field:
            continue  # the tracepoint's record; nested paths
        if fix.kind == CoreKind.FIELD_BYTE_OFFSET:
            # What the loader writes is where the kernel's BTF puts the field.
            assert fix.poisoned == (field not in members), fix
            assert fix.poisoned or fix.new == members[field], fix
        elif fix.kind == CoreKind.FIELD_EXISTS:
            assert fix.new == (field in members), fix


def start(comm: str, zeros: int) -> tuple[int, int]:
    """Fork a child named ``comm`` that, once told to go, calls getpgid(0)
    ``zeros`` times and getpgid(parent) once, then exits. Its pid and the fd
    to tell it (closing the fd unheard makes it exit without a call)."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(go_w)
            with open("/proc/self/comm", "w") as f:  # the name the program reads
                f.write(comm)
            if os.read(go_r, 1) == b"g":
                for _ in range(zeros):
                    os.getpgid(0)
                os.getpgid(os.getppid())
                status = 0
        finally:
            os._exit(status)  # the child leaves the parent's objects to the parent
    os.close(go_r)
    return pid, go_w


@contextlib.contextmanager
def children() -> Iterator[dict[int, int]]:
    """A dict of children (pid -> go fd) to fill with :func:`start`; every
    child still in it at the end is told to stop and waited for."""
    kids: dict[int, int] = {}
    try:
        yield kids
    finally:
        for pid, go in kids.items():
            os.close(go)  # EOF: the child exits without calling getpgid
            os.waitpid(pid, 0)


def trace(coll: Collection, template: MapSpec) -> dict[str, Proc]:
    """Attach the program, trace one child per entry of CHILDREN in a map of
    its own, and return what the program noted for each (by comm)."""
    by_pid = coll.maps["by_pid"]
    assert isinstance(by_pid, OuterMap)
    prog = coll.programs["count_getpgid"]
    seen: dict[str, Proc] = {}
    with prog.attach() as link, children() as kids:  # SEC("tracepoint/syscalls/...")
        info = link.info()
        print(f"attached {prog.name} to {info.perf_event} {info.name}: link id {link.id}")
        pids = {}
        for comm, zeros in CHILDREN.items():
            pid, go = start(comm, zeros)
            kids[pid] = go
            pids[comm] = pid
            with Map.create(dataclasses.replace(template, name=f"procs_{pid}")) as m:
                by_pid[pid] = m  # by fd; the outer map keeps the map, our fd closes
        for pid in pids.values():
            go = kids.pop(pid)
            os.write(go, b"g")
            os.close(go)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, f"child {pid} failed"
        for comm, pid in pids.items():
            with by_pid.open_inner(pid) as procs:  # opened by id: ours to close
                seen[comm] = Proc.from_buffer_copy(procs[0])
            del by_pid[pid]  # done with it: its map goes with the slot
    return seen


def check(seen: dict[str, Proc], members: dict[str, int]) -> None:
    """Print a table of what the program read, and check it against the truth."""
    me = os.getpid()
    want_field = "__state" if "__state" in members else "state"
    print(f"  {'comm':10} {'pid':>7} {'calls':>5} {'own':>4} {'parent':>7}  state")
    for comm, p in seen.items():
        field = STATE_FIELDS.get(p.state_field, "?")
        print(f"  {comm:10} {p.tgid:7} {p.calls:5} {p.own:4} {p.parent:7}  {field}={p.state}")
        assert p.comm.decode() == comm, p.comm
        assert (p.calls, p.own) == (CHILDREN[comm] + 1, CHILDREN[comm]), (p.calls, p.own)
        assert p.parent == me, f"the parent read is {p.parent}, this script is {me}"
        assert (field, p.state) == (want_field, TASK_RUNNING), (field, p.state)
    assert len({p.tgid for p in seen.values()}) == len(CHILDREN)


def main() -> None:
    with open(VMLINUX, "rb") as f:
        kernel = LazyBTF.parse(f.read(), file=VMLINUX)  # indexed; types decoded when asked
    members = task_struct(kernel)

    with tempfile.TemporaryDirectory(prefix="core_tracer-") as where:
        spec = CollectionSpec.from_file(build(where))
    template = spec.maps["by_pid"].inner  # struct procs: ARRAY of one struct proc
    assert isinstance(template, MapSpec)
    assert ctypes.sizeof(Proc) == template.value_size
    show_relocations(spec, kernel, members)

    print("load(): relocated against the running kernel's BTF")
    with spec.load() as coll:
        tag = coll.programs["count_getpgid"].info().tag
        check(trace(coll, template), members)

    print(f"load(kernel_btf={VMLINUX!r}): relocated against the file")
    with spec.load(kernel_btf=VMLINUX) as coll:
        again = coll.programs["count_getpgid"].info().tag
        check(trace(coll, template), members)
    # The same types either way: the kernel got the same instructions.
    print(f"program tag {tag} both times")
    assert again == tag, (tag, again)


if __name__ == "__main__":
    main()
