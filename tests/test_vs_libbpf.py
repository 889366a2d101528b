"""Differential test against libbpf (issue 19, Tests): the same object loaded by
libbpf 1.1 (``bpftool prog loadall``) and by bpfnest gives the same
instructions in the kernel.

For each object of ``OBJECTS`` (the test programs libbpf 1.1 loads), every
program's translated instructions (``bpftool prog dump xlated id N file F``:
the code after the verifier's rewrites, dead code removed, with constants
from frozen ``.rodata``/``.kconfig`` maps folded in) are compared, after
normalising what differs between two loads by design: map ids (each becomes
the map's name without libbpf's object-name prefix, ``globals.bss`` ->
``.bss``) and kernel addresses (callbacks' JITed addresses). Objects libbpf
1.1 refuses (legacy ``SEC("maps")``, cilium-style event maps, iproute2's
layouts, ``?`` programs of unknown type, ``.struct_ops.link``, fentry here)
are left out; pinned-by-name objects too (libbpf would pin in /sys/fs/bpf).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable

import pytest

import bpfnest
from bpfnest import Program

from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

Objs = Callable[[str], str]

OBJECTS = [
    "auto_cgroup",
    "auto_partial",
    "auto_probes",
    "auto_socket",
    "auto_trace",
    "bench_events",
    "bss_collide",
    "btf_kinds",
    "btf_values",
    "callbacks",
    "cgroup_count",
    "config_swap",
    "devmap_redirect",
    "globals",
    "kconfig",
    "kconfig_libbpf",
    "map_fields",
    "outer_init",
    "perf_array",
    "perf_events",
    "probe_count",
    "ringbuf_events",
    "ringbuf_inner",
    "soak",
    "struct_ops_cc",
    "tail_calls",
    "tc_count",
    "trace_count",
    "usdt_arg",
    "user_ringbuf",
    "xdp_count",
    "xdp_pass",
]

_LD_IMM64 = 0x18
_PSEUDO_MAP = {1, 2, 5, 6}  # MAP_FD, MAP_VALUE, MAP_IDX, MAP_IDX_VALUE
_KERNEL_ADDR = 0xFFFF_0000_0000_0000


def _bpftool() -> str:
    found = shutil.which("bpftool", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found is None:
        skip_or_fail("bpftool (libbpf 1.1) is not installed (apt-get install bpftool)")
    return found


def _map_name(map_id: int, names: dict[int, str]) -> str:
    if map_id not in names:
        with bpfnest.Map.from_id(map_id) as m:
            name = m.info().name
        names[map_id] = name[name.find(".") :] if "." in name else name
    return names[map_id]


def _xlated(bpftool: str, prog_id: int, out: str) -> list[tuple[object, ...]]:
    """The program's translated instructions, normalised (see the module docstring)."""
    subprocess.run(
        [bpftool, "prog", "dump", "xlated", "id", str(prog_id), "file", out],
        check=True,
        capture_output=True,
    )
    with open(out, "rb") as f:
        raw = f.read()
    os.unlink(out)
    names: dict[int, str] = {}
    insns: list[tuple[object, ...]] = []
    i = 0
    while i < len(raw) // 8:
        code, regs, off, imm = struct.unpack_from("<BBhi", raw, i * 8)
        if code == _LD_IMM64 and i + 1 < len(raw) // 8:
            imm2 = struct.unpack_from("<i", raw, i * 8 + 12)[0]
            src = regs >> 4
            if src in _PSEUDO_MAP:
                insns.append((code, regs, "map", _map_name(imm, names), imm2))
            else:
                value = (imm & 0xFFFFFFFF) | (imm2 & 0xFFFFFFFF) << 32
                insns.append((code, regs, "addr" if value >= _KERNEL_ADDR else value))
            i += 2
            continue
        insns.append((code, regs, off, imm))
        i += 1
    return insns


@pytest.mark.parametrize("name", OBJECTS)
def test_xlated_instructions_equal_libbpf(objs: Objs, bpffs: str, name: str) -> None:
    obj = objs(name)
    bpftool = _bpftool()
    out = f"/tmp/bpfnest-xlated-{os.getpid()}"
    pins = os.path.join(bpffs, "progs")
    res = subprocess.run(
        [bpftool, "prog", "loadall", obj, pins], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, f"libbpf refused {name}: {res.stderr[-1500:]}"
    theirs = {}
    for pin in sorted(os.listdir(pins)):
        with Program.from_pinned(os.path.join(pins, pin)) as prog:
            theirs[prog.info().name] = _xlated(bpftool, prog.id, out)
    shutil.rmtree(pins)
    ours = {}
    spec = bpfnest.CollectionSpec.from_file(obj)
    with spec.load() as coll:
        for prog in coll.programs.values():
            ours[prog.info().name] = _xlated(bpftool, prog.id, out)
    assert sorted(ours) == sorted(theirs)
    for prog_name in ours:
        assert ours[prog_name] == theirs[prog_name], prog_name
