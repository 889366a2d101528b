"""BTF-targeted programs: loading with ``attach_btf_id``, ``attach_tracing()``,
``attach_iter()`` and ``Link.read()``, on the real kernel.

tests/bpf/btf_trace.c holds tp_btf, fentry, fexit, fmod_ret and lsm programs;
tests/bpf/iter_dump.c the iterators. On the project's machines fentry, fexit,
fmod_ret, lsm and map-element iterators are refused with ``EPERM`` by a
sandbox policy although root has the capabilities: the tests then check the
load request and the error; where the kernel allows them they attach and count.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bpfnest
from bpfnest import AttachType, BPFError, Link, LinkType, ProgType
from bpfnest._hints import effective_caps, prog_eperm_hint
from bpfnest._kernel_btf import VMLINUX, kernel_btf, kernel_type_id
from bpfnest._sys import link_ops, ops
from bpfnest.btf import Func, Struct
from bpfnest.errors import NotSupportedError
from bpfnest.sections import kernel_btf_target, program_type

from netns import wait_for
from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

# getpgid's syscall number and the function the syscall table calls for it.
_GETPGID = {"x86_64": 121, "aarch64": 155, "riscv64": 155}
_SYS_GETPGID = {
    "x86_64": "__x64_sys_getpgid",
    "aarch64": "__arm64_sys_getpgid",
    "riscv64": "__riscv_sys_getpgid",
}
_MACHINE = os.uname().machine
_CAP_BPF, _CAP_PERFMON, _CAP_SYS_ADMIN = 39, 38, 21


def _spec(path: str, *names: str) -> bpfnest.CollectionSpec:
    """The object at ``path`` with only the programs ``names``."""
    spec = bpfnest.CollectionSpec.from_file(path)
    spec.programs = {name: spec.programs[name] for name in names}
    return spec


def _count(coll: bpfnest.Collection, slot: int) -> int:
    raw = coll.maps["counts"].lookup(slot)
    assert raw is not None
    return int.from_bytes(raw, "little")


def _need_vmlinux() -> None:
    if not os.path.exists(VMLINUX):
        skip_or_fail(f"no kernel BTF at {VMLINUX} (a kernel without CONFIG_DEBUG_INFO_BTF)")


def _offset(struct: str, field: str) -> int:
    """Byte offset of ``field`` in the kernel's ``struct``, from its BTF."""
    for member in kernel_btf().find(struct, Struct).members:
        if member.name == field:
            return member.bit_offset // 8
    raise AssertionError(f"no {struct}.{field} in the kernel's BTF")


@pytest.fixture
def tp_btf(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    """tests/bpf/btf_trace.c's tp_btf program, counting this process's getpgid calls."""
    _need_vmlinux()
    if _MACHINE not in _GETPGID:
        pytest.skip(f"getpgid syscall number unknown here ({_MACHINE})")
    with _spec(objs("btf_trace"), "tp_btf_sys_enter").load() as coll:
        coll.maps["config"].update(0, os.getpid())
        coll.maps["config"].update(1, _GETPGID[_MACHINE])
        yield coll


@pytest.fixture
def iters(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    """tests/bpf/iter_dump.c's task and map iterators, with the kernel's field offsets."""
    _need_vmlinux()
    spec = _spec(objs("iter_dump"), "dump_task", "dump_task_pid", "dump_map")
    with spec.load() as coll:
        for slot, (struct, field) in enumerate(
            [("task_struct", "tgid"), ("task_struct", "pid"), ("bpf_map", "id")]
        ):
            coll.maps["config"].update(slot, _offset(struct, field))
        yield coll


@pytest.fixture
def load_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every BPF_PROG_LOAD the library sends (then sent for real)."""
    seen: list[dict[str, Any]] = []
    real = ops.prog_load

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(ops, "prog_load", spy)
    return seen


# ------------------------------------------------------------ the targets (pure)


@pytest.mark.parametrize(
    ("section", "want"),
    [
        ("fentry/do_unlinkat", ("do_unlinkat", "FUNC")),
        ("fexit/do_unlinkat", ("do_unlinkat", "FUNC")),
        ("fmod_ret/do_unlinkat", ("do_unlinkat", "FUNC")),
        ("fentry.s/do_unlinkat", ("do_unlinkat", "FUNC")),
        ("tp_btf/sys_enter", ("btf_trace_sys_enter", "TYPEDEF")),
        ("lsm/file_open", ("bpf_lsm_file_open", "FUNC")),
        ("lsm.s/file_open", ("bpf_lsm_file_open", "FUNC")),
        ("lsm_cgroup/socket_bind", ("bpf_lsm_socket_bind", "FUNC")),
        ("iter/task", ("bpf_iter_task", "FUNC")),
        ("iter.s/task", ("bpf_iter_task", "FUNC")),
        ("raw_tp/sys_enter", None),
        ("xdp", None),
    ],
)
def test_each_section_names_its_kernel_type_as_libbpf(
    section: str, want: tuple[str, str] | None
) -> None:
    found = program_type(section)
    assert found is not None
    assert kernel_btf_target(found.attach_type, found.attach_to) == want


def test_the_lookup_takes_the_kind_libbpf_takes() -> None:
    _need_vmlinux()
    # bpf_iter_task is a STRUCT and a FUNC in 6.x kernels: iter/task names the FUNC.
    found = kernel_type_id("bpf_iter_task", "FUNC")
    assert found is not None
    t = kernel_btf().type_by_id(found)
    assert isinstance(t, Func) and t.name == "bpf_iter_task"
    assert all(
        o.id == found or not isinstance(o, Func) for o in kernel_btf().named("bpf_iter_task")
    )
    assert kernel_type_id("bpf_iter_task", "TYPEDEF") is None
    assert kernel_type_id("no_such_function_in_any_kernel", "FUNC") is None
    assert kernel_btf() is kernel_btf()  # parsed once
    with pytest.raises(ValueError, match="kind must be one of"):
        kernel_type_id("bpf_iter_task", "STRUCT")


def test_a_kernel_without_btf_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "vmlinux")
    with pytest.raises(NotSupportedError) as caught:
        kernel_type_id("do_unlinkat", "FUNC", missing)
    assert caught.value.feature == "kernel BTF"
    assert caught.value.errno == errno.ENOENT
    assert str(caught.value) == (
        f"no kernel BTF at {missing}: programs with a kernel target (fentry, tp_btf, lsm,"
        " iter) need a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    )


# ------------------------------------------------------------ loading


@pytest.mark.parametrize(
    ("section", "missing"),
    [
        ("fentry/no_such_function_bpfnest", "FUNC 'no_such_function_bpfnest'"),
        ("tp_btf/no_such_tracepoint", "TYPEDEF 'btf_trace_no_such_tracepoint'"),
        ("iter/no_such_iterator", "FUNC 'bpf_iter_no_such_iterator'"),
    ],
)
def test_an_unknown_target_is_named_before_any_load(
    section: str, missing: str, objs: Callable[[str], str], load_requests: list[dict[str, Any]]
) -> None:
    _need_vmlinux()
    spec = _spec(objs("btf_trace"), "tp_btf_sys_enter")
    prog = spec.programs["tp_btf_sys_enter"]
    found = program_type(section)
    assert found is not None
    prog.section, prog.type, prog.attach_type, prog.attach_to = (
        section, found.type, found.attach_type, found.attach_to,
    )  # fmt: skip
    with pytest.raises(BPFError) as caught:
        spec.load()
    assert caught.value.errno == errno.ESRCH
    assert str(caught.value) == (
        f"load program 'tp_btf_sys_enter' (TRACING): no {missing} in the kernel's BTF"
        f" ({VMLINUX}): this kernel has no {found.attach_to!r} to attach to (check the name"
        f" in section '{section}')"
    )
    assert load_requests == []  # the leak guard checks the maps were removed


def test_a_tracing_program_without_target_is_refused_before_the_load(
    objs: Callable[[str], str], load_requests: list[dict[str, Any]]
) -> None:
    spec = _spec(objs("btf_trace"), "tp_btf_sys_enter")
    prog = spec.programs["tp_btf_sys_enter"]
    prog.attach_to = ""
    with pytest.raises(ValueError) as caught:
        bpfnest.Program.load(prog)
    assert str(caught.value) == (
        "load program 'tp_btf_sys_enter' (TRACING): it needs a kernel target from its section"
        " (fentry/FUNC, fexit/FUNC, fmod_ret/FUNC, tp_btf/TRACEPOINT, lsm/HOOK, iter/TARGET);"
        " section 'tp_btf/sys_enter', attach type TRACE_RAW_TP names none"
        " (set attach_type and attach_to)"
    )
    assert load_requests == []


def test_tp_btf_loads_with_the_kernel_type_id(
    objs: Callable[[str], str], load_requests: list[dict[str, Any]]
) -> None:
    _need_vmlinux()
    with _spec(objs("btf_trace"), "tp_btf_sys_enter").load() as coll:
        prog = coll.programs["tp_btf_sys_enter"]
        want = kernel_type_id("btf_trace_sys_enter", "TYPEDEF")
        assert want is not None and prog.info().attach_btf_id == want
        assert prog.type == ProgType.TRACING
    # The request libbpf sends too (measured with strace on bpftool prog load).
    (sent,) = load_requests
    assert (sent["prog_type"], sent["expected_attach_type"], sent["attach_btf_id"]) == (
        ProgType.TRACING, AttachType.TRACE_RAW_TP, want,
    )  # fmt: skip


# ------------------------------------------------------------ attach_tracing


def test_tp_btf_counts_this_process_getpgid_calls(
    tp_btf: bpfnest.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    for name in ("link_create", "raw_tracepoint_open"):
        real = getattr(link_ops, name)
        monkeypatch.setattr(
            link_ops,
            name,
            lambda *a, _n=name, _f=real, **k: calls.append((_n, a[1:])) or _f(*a, **k),
        )
    prog = tp_btf.programs["tp_btf_sys_enter"]
    with prog.attach_tracing() as link:
        # A link with the program's attach type, as libbpf makes on 5.13+.
        assert calls == [("link_create", (0, AttachType.TRACE_RAW_TP))]
        info = link.info()
        assert (info.type, info.program_id, info.name) == (
            LinkType.RAW_TRACEPOINT, prog.id, "sys_enter",
        )  # fmt: skip
        for _ in range(10):
            os.getpgid(0)
        assert _count(tp_btf, 0) == 10
        lid = link.id
    assert wait_for(lambda: lid not in set(bpfnest.link_ids()))
    os.getpgid(0)
    assert _count(tp_btf, 0) == 10


def test_a_program_opened_by_id_attaches_without_its_attach_type(
    tp_btf: bpfnest.Collection,
) -> None:
    # Opened by id, the program's expected attach type is unknown here:
    # BPF_RAW_TRACEPOINT_OPEN without a name lets the kernel use its own.
    with bpfnest.Program.from_id(tp_btf.programs["tp_btf_sys_enter"].id) as prog:
        assert prog._attach_type is None
        with prog.attach_tracing() as link:
            assert link.info().name == "sys_enter"
            for _ in range(3):
                os.getpgid(0)
        assert _count(tp_btf, 0) == 3


@pytest.mark.parametrize(
    ("name", "slot"),
    [("fentry_getpgid", 1), ("fexit_getpgid", 2), ("fmod_ret_getpgid", 3), ("lsm_file_open", 4)],
)
def test_fentry_family_attaches_and_counts_or_names_the_refusal(
    name: str, slot: int, objs: Callable[[str], str], load_requests: list[dict[str, Any]]
) -> None:
    _need_vmlinux()
    spec = _spec(objs("btf_trace"), name)
    prog_spec = spec.programs[name]
    if name != "lsm_file_open":
        if _MACHINE not in _SYS_GETPGID:
            pytest.skip(f"getpgid's syscall function unknown here ({_MACHINE})")
        prog_spec.attach_to = _SYS_GETPGID[_MACHINE]
    kind, target = (
        ("FUNC", f"bpf_lsm_{prog_spec.attach_to}")
        if name == "lsm_file_open"
        else ("FUNC", prog_spec.attach_to)
    )
    want_id = kernel_type_id(target, kind)
    assert want_id is not None
    try:
        coll = spec.load()
    except BPFError as err:
        if err.errno != errno.EPERM:
            raise
        # The request was right (what libbpf sends); the kernel refused it.
        assert load_requests[0]["prog_type"] == prog_spec.type
        assert load_requests[0]["expected_attach_type"] == prog_spec.attach_type
        assert load_requests[0]["attach_btf_id"] == want_id
        caps = effective_caps()
        assert caps is not None
        hint = prog_eperm_hint(prog_spec.type)
        assert str(err) == (
            f"load program '{name}' ({prog_spec.type.name}): Operation not permitted ({hint})"
        )
        bpf_ok = caps >> _CAP_BPF & 1 or caps >> _CAP_SYS_ADMIN & 1
        perfmon_ok = caps >> _CAP_PERFMON & 1 or caps >> _CAP_SYS_ADMIN & 1
        if bpf_ok and perfmon_ok:  # root here: the message must not ask for capabilities
            assert "the kernel refused although this process has" in hint
            assert "a sandbox policy forbids it" in hint
        return
    with coll:  # the kernel allows it: attach, trigger from Python, count
        coll.maps["config"].update(0, os.getpid())
        prog = coll.programs[name]
        assert prog.info().attach_btf_id == want_id
        with prog.attach_tracing() as link:
            assert link.info().program_id == prog.id
            for _ in range(5):
                if name == "lsm_file_open":
                    with open(os.devnull, "rb"):
                        pass
                else:
                    os.getpgid(0)
            got = _count(coll, slot)
        assert got == 5 if name != "lsm_file_open" else got >= 5


def test_attach_tracing_and_attach_iter_name_the_right_method(
    tp_btf: bpfnest.Collection, iters: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    with bpfnest.CollectionSpec.from_file(objs("trace_count")).load() as other:
        raw = other.programs["raw_sys_enter"]
        with pytest.raises(TypeError) as caught:
            raw.attach_tracing()
        assert str(caught.value) == (
            "attach program 'raw_sys_enter' to its kernel target: it is a RAW_TRACEPOINT"
            " program, its kernel target takes TRACING or LSM programs"
        )
        with pytest.raises(TypeError) as caught:
            raw.attach_iter()
        assert str(caught.value) == (
            "attach program 'raw_sys_enter' to an iterator: it is a RAW_TRACEPOINT program,"
            " an iterator takes TRACING programs"
        )
    with pytest.raises(TypeError) as caught:
        iters.programs["dump_task"].attach_tracing()
    assert str(caught.value) == (
        "attach_tracing: program 'dump_task' is an iter/* program: attach it with"
        " attach_iter(), not attach_tracing()"
    )
    with pytest.raises(TypeError) as caught:
        tp_btf.programs["tp_btf_sys_enter"].attach_iter()
    assert str(caught.value) == (
        "attach_iter: program 'tp_btf_sys_enter' has attach type TRACE_RAW_TP, not"
        " TRACE_ITER (an iter/* section); use attach_tracing() for"
        " fentry/fexit/fmod_ret/tp_btf programs"
    )


# ------------------------------------------------------------ iterators


def test_iter_task_lists_this_process(iters: bpfnest.Collection) -> None:
    pid = os.getpid()
    prog = iters.programs["dump_task"]
    assert prog.info().attach_btf_id == kernel_type_id("bpf_iter_task", "FUNC")
    with prog.attach_iter() as link:
        info = link.info()
        assert (info.type, info.program_id, info.name, info.map_id) == (
            LinkType.ITER, prog.id, "task", 0,
        )  # fmt: skip
        first = link.read().decode().splitlines()
        assert f"{pid} {pid}" in first  # this process's main thread
        assert all(len(line.split()) == 2 for line in first)
        assert f"{pid} {pid}" in link.read().decode().splitlines()  # a new iterator each time
    with pytest.raises(ValueError, match="closed"):
        link.read()


def test_iter_task_for_one_process(iters: bpfnest.Collection) -> None:
    pid = os.getpid()
    with iters.programs["dump_task"].attach_iter(pid=pid) as link:
        lines = link.read().decode().splitlines()
    assert f"{pid} {pid}" in lines
    assert {line.split()[0] for line in lines} == {str(pid)}  # only this process's threads


def test_iter_bpf_map_sees_maps_come_and_go(iters: bpfnest.Collection) -> None:
    with iters.programs["dump_map"].attach_iter() as link:

        def ids() -> set[int]:
            return {int(word) for word in link.read().split()}

        assert {iters.maps["config"].id, iters.maps["elems"].id} <= ids()
        extra = bpfnest.Map.create(bpfnest.MapSpec(bpfnest.MapType.ARRAY, 4, 4, 1))
        extra_id = extra.id
        assert extra_id in ids()
        extra.close()
        assert wait_for(lambda: extra_id not in ids())


def test_iter_map_elem_walks_the_given_map_or_names_the_refusal(
    objs: Callable[[str], str],
) -> None:
    _need_vmlinux()
    try:
        coll = _spec(objs("iter_dump"), "dump_elem").load()
    except BPFError as err:
        # Measured on the project's machines: map-element iterators are refused
        # like fentry (EPERM, the log stops before the first instruction).
        if err.errno != errno.EPERM:
            raise
        assert str(err) == (
            "load program 'dump_elem' (TRACING): Operation not permitted"
            f" ({prog_eperm_hint(ProgType.TRACING)})"
        )
        return
    with coll:
        elems = coll.maps["elems"]
        elems.update(1, 10)
        elems.update(2, 20)
        prog = coll.programs["dump_elem"]
        with prog.attach_iter(map=elems) as link:
            assert link.info().map_id == elems.id
            assert sorted(link.read().decode().splitlines()) == ["1 10", "2 20"]
        with pytest.raises(BPFError) as caught:
            prog.attach_iter()
        assert caught.value.errno == errno.EBADF
        assert "needs map= a map" in str(caught.value)


def test_attach_iter_checks_its_options_before_any_syscall(iters: bpfnest.Collection) -> None:
    prog = iters.programs["dump_task"]
    before = set(bpfnest.link_ids())
    with pytest.raises(ValueError, match=r"give map= .* or pid= .*, not both"):
        prog.attach_iter(map=iters.maps["elems"], pid=1)
    with pytest.raises(ValueError, match=r"pid must be in 1\.\."):
        prog.attach_iter(pid=0)
    with pytest.raises(TypeError, match="map \\(a Map or an fd\\) must be an int, got str"):
        prog.attach_iter(map="elems")  # type: ignore[arg-type]
    assert set(bpfnest.link_ids()) <= before


def test_read_refuses_a_link_that_is_not_an_iterator(tp_btf: bpfnest.Collection) -> None:
    with tp_btf.programs["tp_btf_sys_enter"].attach_tracing() as link:
        with pytest.raises(TypeError) as caught:
            link.read()
        assert str(caught.value) == (
            f"read RAW_TRACEPOINT link {link.id}: only ITER links can be read (make one"
            " with Program.attach_iter() on an iter/* program)"
        )


# ------------------------------------------------------------ conformance


def test_iter_link_pins_reopens_reads_updates_and_cannot_detach(
    iters: bpfnest.Collection, bpffs: str
) -> None:
    """What test_links' conformance test checks, for an ITER link."""
    pid = os.getpid()
    with iters.programs["dump_task"].attach_iter() as link:
        path = os.path.join(bpffs, "iter")
        link.pin(path)
        try:
            with Link.from_pinned(path) as pinned, Link.from_id(link.id) as by_id:
                assert pinned.info() == by_id.info() == link.info()
                assert f"{pid} {pid}" in pinned.read().decode().splitlines()
        finally:
            os.unlink(path)
        link.update(iters.programs["dump_task_pid"])  # same target: the kernel swaps
        assert link.program_id == iters.programs["dump_task_pid"].id
        assert f"pid {pid}" in link.read().decode().splitlines()
        with pytest.raises(BPFError) as caught:
            link.update(iters.programs["dump_map"])  # another target
        assert caught.value.errno == errno.EINVAL
        with pytest.raises(BPFError) as caught:
            link.detach()
        assert str(caught.value) == (
            f"detach ITER link {link.id}: Operation not supported (a ITER link cannot"
            " detach: close it (and remove its pin))"
        )
    assert link.closed


def test_tp_btf_link_pins_and_reopens(tp_btf: bpfnest.Collection, bpffs: str) -> None:
    with tp_btf.programs["tp_btf_sys_enter"].attach_tracing() as link:
        path = os.path.join(bpffs, "tp_btf")
        link.pin(path)
        try:
            with Link.from_pinned(path) as pinned:
                assert pinned.info() == link.info()
        finally:
            os.unlink(path)
        with pytest.raises(BPFError) as caught:
            link.detach()
        assert caught.value.errno == errno.EOPNOTSUPP
