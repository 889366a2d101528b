"""extern variables and functions (issue 16): .kconfig values and __ksym symbols.

- .kconfig of every type libbpf supports, checked against /proc/config.gz;
  __weak ones the kernel lacks read 0; a value that does not suit the
  extern's C type is one line naming both, before any map is created.
- __ksym: untyped (an address from /proc/kallsyms, compared with the file),
  kfunc calls (BPF_PSEUDO_KFUNC_CALL, run: the open-coded number iterator
  sums 0..9), typed VARs (BPF_PSEUDO_BTF_ID with the kernel's id; the
  kernel loads them only where kallsyms lists data symbols, which this
  machine's CONFIG_KALLSYMS_ALL=n does not: the error says so), and weak
  ones the kernel lacks (0, or a poisoned call).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import platform
import struct
from typing import Any

import pytest

from bpfnest import BPFError, CollectionSpec, VerifierError
from bpfnest._externs import (
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_KFUNC_CALL,
    POISON_CALL_KFUNC_BASE,
    KsymValue,
    compatible,
    link_ksyms,
    strip,
)
from bpfnest._kconfig import kernel_version_code, read_kernel_config
from bpfnest._kernel_btf import kallsyms, kernel_btf, kernel_type_id, resolve_ksyms
from bpfnest.btf import Struct, Var
from bpfnest.errors import ParseError
from bpfnest.spec import ExternSpec, KsymRef, ProgramSpec

from support import own_map_ids

Objs = Any
pytestmark = pytest.mark.usefixtures("kernel")


def u64(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def insn(code: bytes, i: int) -> tuple[int, int, int, int]:
    """(opcode, src_reg, off, imm) of instruction ``i`` (little-endian)."""
    op, regs, off, imm = struct.unpack_from("<BBhi", code, i * 8)
    return op, regs >> 4, off, imm


# ------------------------------------------------------------------ .kconfig


def test_kconfig_externs_are_read_with_their_kind(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("kconfig_kinds"))
    got = {e.name: (e.kind, e.size, e.signed, e.weak) for e in spec.externs.values()}
    assert got == {
        "CONFIG_BPF_SYSCALL": ("bool", 1, False, False),
        "CONFIG_BPF_JIT": ("tristate", 4, False, False),
        "CONFIG_BPF_LSM": ("char", 1, True, False),
        "CONFIG_NR_CPUS_RANGE_BEGIN": ("char", 1, False, False),
        "CONFIG_HZ": ("int", 2, False, False),
        "CONFIG_NR_CPUS": ("int", 4, True, False),
        "CONFIG_NR_CPUS_RANGE_END": ("int", 8, False, False),
        "CONFIG_LOCALVERSION": ("char_array", 16, False, False),
        "LINUX_KERNEL_VERSION": ("int", 4, False, False),
        "LINUX_HAS_BPF_COOKIE": ("bool", 1, False, False),
        "CONFIG_BPFNEST_NO_SUCH_OPTION": ("bool", 1, False, True),
        "CONFIG_BPFNEST_NO_SUCH_NUMBER": ("int", 4, True, True),
        "CONFIG_BPFNEST_NO_SUCH_TRISTATE": ("tristate", 4, False, True),
        "LINUX_BPFNEST_UNKNOWN": ("int", 4, True, True),
    }
    assert all(e.section == ".kconfig" for e in spec.externs.values())


def test_kconfig_of_every_kind_is_the_kernel_config(objs: Objs) -> None:
    config = read_kernel_config()
    tri = {"y": 1, "m": 2, "n": 0}
    local = config["CONFIG_LOCALVERSION"].strip('"').encode()[:15].ljust(16, b"\0")
    want = [
        tri[config["CONFIG_BPF_SYSCALL"]],
        tri[config["CONFIG_BPF_JIT"]],  # enum libbpf_tristate: TRI_YES is 1, TRI_MODULE 2
        ord(config["CONFIG_BPF_LSM"]),  # a char: the letter itself
        int(config["CONFIG_NR_CPUS_RANGE_BEGIN"]),
        int(config["CONFIG_HZ"]),
        int(config["CONFIG_NR_CPUS"]),
        int(config["CONFIG_NR_CPUS_RANGE_END"]),
        u64(local[:8]),
        u64(local[8:]),
        kernel_version_code(platform.release()),
        1,  # LINUX_HAS_BPF_COOKIE: 5.15+
        0,  # the weak ones the kernel lacks
        0,
        0,
        0,
    ]
    with CollectionSpec.from_file(objs("kconfig_kinds")).load() as coll:
        assert coll.programs["kinds"].test_run(bytes(16)).retval == 0
        got = [u64(coll.maps["out"][k]) for k in range(len(want))]
    assert got == want


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("CONFIG_BPF_SYSCALL", "m", r"value m does not suit a bool \(declare it enum libbpf"),
        ("CONFIG_HZ", "y", r"value y does not suit a int \(declare it bool, enum libbpf_tristate"),
        ("CONFIG_BPF_JIT", "250", r"value 250 does not suit a tristate \(declare it an integer"),
        ("CONFIG_LOCALVERSION", "7", r"value 7 does not suit a char_array"),
        ("CONFIG_NR_CPUS", '"abc"', r'value "abc" does not suit a int \(declare it a char array'),
        ("CONFIG_BPF_SYSCALL", "7", r"7 is not a bool \(declare it an integer\)"),
        ("CONFIG_HZ", "70000", r"70000 \(0x11170\) does not fit its 2 bytes; it needs 3"),
    ],
)
def test_a_value_that_does_not_suit_its_extern(
    objs: Objs, monkeypatch: pytest.MonkeyPatch, option: str, value: str, message: str
) -> None:
    import bpfnest._kconfig

    config = {**read_kernel_config(), option: value}
    monkeypatch.setattr(bpfnest._kconfig, "read_kernel_config", lambda: config)
    spec = CollectionSpec.from_file(objs("kconfig_kinds"))
    before = own_map_ids()
    with pytest.raises(ValueError, match=rf"extern '{option}' \(\.kconfig\): .*{message}") as exc:
        spec.load()
    assert "\n" not in str(exc.value)
    assert own_map_ids() == before  # answered before the first syscall


def test_a_strong_option_the_kernel_lacks_says_weak_would_do(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("kconfig_kinds"))
    ext = spec.externs["CONFIG_BPFNEST_NO_SUCH_OPTION"]
    spec.externs[ext.name] = dataclasses.replace(ext, weak=False)
    with pytest.raises(ValueError, match=r"not set in the running kernel's config.*__weak"):
        spec.load()


def test_a_kconfig_extern_of_another_type_is_refused_on_read(objs: Objs) -> None:
    with pytest.raises(ParseError, match=r"extern 'CONFIG_BPF_SYSCALL' \(\.kconfig\) is a struct"):
        CollectionSpec.from_file(objs("bad_kconfig_type"))


# ------------------------------------------------------------------ __ksym


def _ksyms(objs: Objs, *, typed: bool = False) -> CollectionSpec:
    spec = CollectionSpec.from_file(objs("ksyms"))
    spec.programs["typed"].autoload = typed
    return spec


def test_ksym_externs_are_read_as_typed_untyped_or_kfuncs(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("ksyms"))
    got = {e.name: (e.section, e.kind, e.weak) for e in spec.externs.values()}
    assert got == {
        "bpf_prog_active": (".ksyms", "var", False),
        "runqueues": (".ksyms", "var", False),
        "bpfnest_no_such_var": (".ksyms", "var", True),
        "bpf_prog_put": (".ksyms", "untyped", False),
        "bpfnest_no_such_symbol": (".ksyms", "untyped", True),
        "bpf_iter_num_new": (".ksyms", "func", False),
        "bpf_iter_num_next": (".ksyms", "func", False),
        "bpf_iter_num_destroy": (".ksyms", "func", False),
        "bpfnest_no_such_kfunc": (".ksyms", "func", True),
    }
    runqueues = spec.externs["runqueues"].type
    assert runqueues is not None and strip(runqueues).name == "rq"  # const struct rq
    kfuncs = spec.programs["kfuncs"].ksym_refs
    assert [(r.extern.name, r.call) for r in kfuncs] == [
        ("bpf_iter_num_new", True),
        ("bpf_iter_num_next", True),
        ("bpf_iter_num_next", True),
        ("bpf_iter_num_destroy", True),
        ("bpfnest_no_such_kfunc", False),  # its address, tested before the call
        ("bpfnest_no_such_kfunc", True),
    ]


def test_untyped_ksym_is_its_kallsyms_address(objs: Objs) -> None:
    with open("/proc/kallsyms") as f:
        (line,) = [x for x in f.read().splitlines() if x.split()[2:3] == ["bpf_prog_put"]]
    want = int(line.split()[0], 16)
    assert kallsyms(["bpf_prog_put"]) == {"bpf_prog_put": [want]}
    with _ksyms(objs).load() as coll:
        assert coll.programs["untyped"].test_run(bytes(16)).retval == 0
        assert u64(coll.maps["out"][3]) == want
        assert u64(coll.maps["out"][4]) == 0  # weak, and not in the kernel


def test_kfunc_calls_run(objs: Objs) -> None:
    with _ksyms(objs).load() as coll:
        assert coll.programs["kfuncs"].test_run(bytes(16)).retval == 45  # sum(range(10))
        assert u64(coll.maps["out"][5]) == 45
        assert u64(coll.maps["out"][6]) == 0  # the weak kfunc does not exist here


def test_ksym_instructions_are_patched_as_libbpf_does(objs: Objs) -> None:
    """The linked code: kfunc calls by FUNC id, a typed VAR's ld_imm64 by VAR
    id, weak ones the kernel lacks 0 (a load) or poisoned (a call)."""
    spec = CollectionSpec.from_file(objs("ksyms"))
    held: list[object] = []

    def hold(fd: object) -> int:
        held.append(fd)
        return 0

    for name in ("kfuncs", "typed"):
        p = spec.programs[name]
        values = resolve_ksyms(p.ksym_refs, p.name, hold)
        assert held == []  # vmlinux only: no module BTF fd
        code = link_ksyms(p.instructions, p.ksym_refs, values, "little", program=p.name)
        for n, ref in enumerate(p.ksym_refs):
            op, src, off, imm = insn(code, ref.insn)
            name_ = ref.extern.name
            if name_.startswith("bpfnest_no_such"):
                if ref.call:  # libbpf's poison: an unknown helper if ever reached
                    assert (op, src, imm) == (0x85, 0, POISON_CALL_KFUNC_BASE + n)
                else:
                    assert (src, imm, insn(code, ref.insn + 1)[3]) == (0, 0, 0)
            elif ref.call:
                assert (src, off, imm) == (BPF_PSEUDO_KFUNC_CALL, 0, kernel_type_id(name_, "FUNC"))
            else:
                assert (src, imm) == (BPF_PSEUDO_BTF_ID, kernel_type_id(name_, "VAR"))
                assert insn(code, ref.insn + 1)[3] == 0  # vmlinux: no BTF object fd


def test_typed_var_ksym_loads_where_kallsyms_lists_it(objs: Objs) -> None:
    """The kernel resolves a typed ksym's address with kallsyms_lookup_name:
    with CONFIG_KALLSYMS_ALL the program loads and reads bpf_prog_active
    (1 inside a tracepoint program); without it (this machine) the load
    fails with ENOENT, the verifier's words and why."""
    listed = kallsyms(["bpf_prog_active"])["bpf_prog_active"]
    spec = _ksyms(objs, typed=True)
    before = own_map_ids()
    if not listed:
        with pytest.raises(VerifierError) as exc:
            spec.load()
        assert exc.value.errno == errno.ENOENT
        assert "failed to find the address for kernel symbol 'bpf_prog_active'" in str(exc.value)
        assert "CONFIG_KALLSYMS_ALL" in str(exc.value)
        assert own_map_ids() == before
        return
    with spec.load() as coll:  # pragma: no cover - a kernel with CONFIG_KALLSYMS_ALL
        with coll.programs["typed"].attach_tracepoint("syscalls", "sys_enter_getpgid"):
            os.getpgid(0)
        assert [u64(coll.maps["out"][k]) for k in range(3)] == [1, 1, 1]


def _with(spec: CollectionSpec, prog: str, old: str, **change: Any) -> ProgramSpec:
    """``prog`` with the extern ``old`` of its references changed."""
    p = spec.programs[prog]
    p.ksym_refs = [
        dataclasses.replace(r, extern=dataclasses.replace(r.extern, **change))
        if r.extern.name == old
        else r
        for r in p.ksym_refs
    ]
    return p


@pytest.mark.parametrize(
    ("prog", "old", "change", "code", "message"),
    [
        (
            "untyped",
            "bpf_prog_put",
            {"name": "bpfnest_no_symbol"},  # as a data symbol without CONFIG_KALLSYMS_ALL
            errno.ESRCH,
            r"extern 'bpfnest_no_symbol' \(__ksym\): no symbol 'bpfnest_no_symbol' in"
            r" /proc/kallsyms \(the kernel lists data symbols only when built with"
            r" CONFIG_KALLSYMS_ALL",
        ),
        (
            "typed",
            "bpf_prog_active",
            {"name": "bpfnest_nope"},
            errno.ESRCH,
            r"extern 'bpfnest_nope' \(__ksym\): no VAR 'bpfnest_nope' in the kernel's BTF",
        ),
        (
            "typed",
            "runqueues",
            {"name": "bpf_prog_active"},  # declared struct rq, the kernel's is an int
            errno.EINVAL,
            r"extern 'bpf_prog_active' \(__ksym\): declared struct rq, but the kernel's VAR"
            " is int",
        ),
        (
            "kfuncs",
            "bpf_iter_num_new",
            {"name": "bpfnest_nope"},
            errno.ESRCH,
            r"no FUNC 'bpfnest_nope' in the kernel's BTF",
        ),
    ],
)
def test_a_ksym_the_kernel_cannot_answer(
    objs: Objs, prog: str, old: str, change: dict[str, Any], code: int, message: str
) -> None:
    spec = _ksyms(objs, typed=prog == "typed")
    _with(spec, prog, old, **change)
    before = own_map_ids()
    with pytest.raises(BPFError, match=message) as exc:
        spec.load()
    assert exc.value.errno == code and "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"load program '{prog}'")
    assert own_map_ids() == before  # all or nothing


def test_weak_ksyms_resolve_to_nothing() -> None:
    refs = [
        KsymRef(0, ExternSpec("bpfnest_no_var", ".ksyms", "var", weak=True)),
        KsymRef(2, ExternSpec("bpfnest_no_sym", ".ksyms", "untyped", weak=True)),
        KsymRef(4, ExternSpec("bpfnest_no_func", ".ksyms", "func", weak=True), call=True),
    ]
    got = resolve_ksyms(refs, "p", lambda fd: 0)
    assert got == {
        name: KsymValue() for name in ("bpfnest_no_var", "bpfnest_no_sym", "bpfnest_no_func")
    }


def test_link_ksyms_refuses_the_wrong_instruction() -> None:
    ref = KsymRef(0, ExternSpec("x", ".ksyms", "untyped"))
    exit_insn = struct.pack("<BBhi", 0x95, 0, 0, 0) * 2
    with pytest.raises(ValueError, match="program 'p': insn 0 refers to extern 'x' but is not"):
        link_ksyms(exit_insn, [ref], {"x": KsymValue()}, "little", program="p")
    ld = struct.pack("<BBhi", 0x18, 1, 0, 0) + bytes(8)
    with pytest.raises(ValueError, match="extern 'x', which was not resolved"):
        link_ksyms(ld, [ref], {}, "little", program="p")
    out = link_ksyms(ld, [ref], {"x": KsymValue(address=0xFFFFFFFF81000000)}, "little")
    assert (insn(out, 0)[3] & 0xFFFFFFFF, insn(out, 1)[3] & 0xFFFFFFFF) == (0x81000000, 0xFFFFFFFF)
    assert insn(out, 0)[1] == 0 and out[1] & 0x0F == 1  # dst_reg kept


def test_compatible_follows_libbpf() -> None:
    btf = kernel_btf()
    task = btf.find("task_struct", Struct)
    pid = next(m for m in task.members if m.name == "pid")
    active = btf.find("bpf_prog_active", Var)
    assert compatible(active.type, pid.type)  # int and pid_t: integers of any size
    assert compatible(task, btf.find("rq", Struct))  # structs by kind, names checked elsewhere
    assert not compatible(task, pid.type)
    mm = next(m for m in task.members if m.name == "mm")
    assert compatible(mm.type, mm.type) and not compatible(mm.type, pid.type)
