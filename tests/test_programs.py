"""Program on the real kernel: load, map references, verifier log, test_run, pins.

Programs are assembled here by hand (no ELF reader, no clang) so each test
says exactly which instructions the kernel sees.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from collections.abc import Iterator

import pytest

from bpfnest import (
    BPFError,
    Map,
    MapSpec,
    MapType,
    NotSupportedError,
    Program,
    ProgramSpec,
    ProgType,
    VerifierError,
)
from bpfnest import programs as programs_mod
from bpfnest._sys import ops
from bpfnest.constants import ENOTSUPP
from bpfnest.spec import CoreReloSpec, FuncInfoSpec, LineInfoSpec, MapRef

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

XDP_PASS = 2
PACKET = bytes(range(64))
R0, R1, R2, R3, R4, R10 = 0, 1, 2, 3, 4, 10
MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM = 1, 2, 3


# ------------------------------------------------------------ a tiny assembler


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte instruction in this machine's byte order."""
    regs = dst | src << 4 if sys.byteorder == "little" else dst << 4 | src
    return struct.pack("=BBhi", code, regs, off, imm)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(0xB7, dst, imm=imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(0xBF, dst, src)


def add64_imm(dst: int, imm: int) -> bytes:
    return insn(0x07, dst, imm=imm)


def st_w(dst: int, off: int, imm: int) -> bytes:
    """*(u32 *)(dst + off) = imm"""
    return insn(0x62, dst, off=off, imm=imm)


def ldx_w(dst: int, src: int, off: int) -> bytes:
    """dst = *(u32 *)(src + off)"""
    return insn(0x61, dst, src, off=off)


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(0x15, dst, off=off, imm=imm)


def call(helper: int) -> bytes:
    return insn(0x85, imm=helper)


def exit_() -> bytes:
    return insn(0x95)


def ld_map_fd(dst: int) -> bytes:
    """ld_imm64 placeholder (two slots) that a MapRef turns into a map reference."""
    return insn(0x18, dst) + insn(0)


def returning(value: int) -> bytes:
    return mov64_imm(R0, value) + exit_()


def slots(*parts: bytes) -> int:
    """The instruction index just after ``parts``."""
    return sum(len(p) for p in parts) // 8


def spec_of(
    name: str, ptype: ProgType, code: bytes, refs: list[MapRef] | None = None
) -> ProgramSpec:
    return ProgramSpec(name, ptype, code, license="GPL", map_refs=refs or [])


def lookup_key0(map_name: str, miss: int) -> tuple[bytes, list[MapRef]]:
    """r0 = map[0] as u32, or ``miss`` when the lookup gives NULL."""
    head = st_w(R10, -4, 0) + mov64_reg(R2, R10) + add64_imm(R2, -4)
    code = (
        head
        + ld_map_fd(R1)
        + call(MAP_LOOKUP_ELEM)
        + jeq_imm(R0, 0, 2)
        + ldx_w(R0, R0, 0)
        + exit_()
        + returning(miss)
    )
    return code, [MapRef(slots(head), map_name)]


def through_outer(miss: int) -> tuple[bytes, list[MapRef]]:
    """r0 = outer[0][0] as u32 (ARRAY_OF_MAPS of ARRAYs), or ``miss``."""
    head = st_w(R10, -4, 0) + mov64_reg(R2, R10) + add64_imm(R2, -4)
    code = (
        head
        + ld_map_fd(R1)
        + call(MAP_LOOKUP_ELEM)  # r0 = inner map or NULL
        + jeq_imm(R0, 0, 7)
        + mov64_reg(R1, R0)
        + mov64_reg(R2, R10)
        + add64_imm(R2, -4)
        + call(MAP_LOOKUP_ELEM)  # r0 = &inner[0]
        + jeq_imm(R0, 0, 2)
        + ldx_w(R0, R0, 0)
        + exit_()
        + returning(miss)
    )
    return code, [MapRef(slots(head), "outer")]


def u32(v: int) -> bytes:
    return v.to_bytes(4, sys.byteorder)


@pytest.fixture
def array() -> Iterator[Map]:
    m = Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="values"))
    yield m
    m.close()


@pytest.fixture
def xdp_pass() -> Iterator[Program]:
    p = Program.load(spec_of("xdp_pass", ProgType.XDP, returning(XDP_PASS)))
    yield p
    p.close()


@pytest.fixture
def no_syscall(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if Program.load reaches BPF_PROG_LOAD."""

    def refuse(**_: object) -> tuple[int, str]:
        raise AssertionError("BPF_PROG_LOAD was called")

    monkeypatch.setattr(programs_mod.ops, "prog_load", refuse)


# ------------------------------------------------------------------- running


def test_xdp_pass_echoes_data(xdp_pass: Program) -> None:
    res = xdp_pass.test_run(PACKET)
    assert res.retval == XDP_PASS
    assert res.data == PACKET
    assert res.ctx is None
    assert xdp_pass.type == ProgType.XDP and xdp_pass.name == "xdp_pass"
    assert len(xdp_pass.tag) == 16 and int(xdp_pass.tag, 16) != 0
    assert xdp_pass.id > 0 and xdp_pass.info().id == xdp_pass.id


def test_repeat_measures_duration(xdp_pass: Program) -> None:
    before = xdp_pass.info().run_cnt
    res = xdp_pass.test_run(PACKET, repeat=1000)
    assert res.retval == XDP_PASS and res.duration_ns > 0
    assert xdp_pass.info().run_cnt == before  # test runs are not counted as real runs


def test_xdp_ctx_comes_back(xdp_pass: Program) -> None:
    ctx = struct.pack("=6I", 0, len(PACKET), 0, 0, 0, 0)  # struct xdp_md
    res = xdp_pass.test_run(PACKET, ctx=ctx)
    assert res.ctx is not None and len(res.ctx) == 24
    data, data_end = struct.unpack_from("=II", res.ctx)
    assert (data, data_end) == (0, len(PACKET))


@pytest.mark.parametrize("value", [0, 7, 0xFFFF])
def test_socket_filter_returns_a_constant(value: int) -> None:
    with Program.load(spec_of("sf", ProgType.SOCKET_FILTER, returning(value))) as p:
        res = p.test_run(PACKET)
        assert res.retval == value
        # The kernel pulls the Ethernet header off for non-L2 types and gives
        # it back zeroed; the rest of the packet is echoed.
        assert len(res.data) == len(PACKET) and res.data[14:] == PACKET[14:]


def test_skb_ctx_in_and_out() -> None:
    """ctx is a struct __sk_buff: mark (offset 8) goes in, 192 bytes come back."""
    code = ldx_w(R0, R1, 8) + exit_()  # return skb->mark
    with Program.load(spec_of("mark", ProgType.SOCKET_FILTER, code)) as p:
        res = p.test_run(PACKET, ctx=struct.pack("=III", 0, 0, 1234))
    assert res.retval == 1234
    assert res.ctx is not None and len(res.ctx) == 192  # sizeof(struct __sk_buff)
    assert struct.unpack_from("=I", res.ctx, 8) == (1234,)


def test_program_reads_a_map_python_writes(array: Map) -> None:
    code, refs = lookup_key0("values", miss=1000)
    with Program.load(spec_of("read_value", ProgType.XDP, code, refs), {"values": array}) as p:
        assert p.test_run(PACKET).retval == 0
        array[0] = 42
        assert p.test_run(PACKET).retval == 42
        array[0] = 7
        assert p.test_run(PACKET).retval == 7
        assert p.map_ids() == [array.id]


def test_map_given_as_fd(array: Map) -> None:
    code, refs = lookup_key0("values", miss=1000)
    array[0] = 5
    with Program.load(spec_of("by_fd", ProgType.XDP, code, refs), {"values": array.fd}) as p:
        assert p.test_run(PACKET).retval == 5


def test_map_value_reference_with_offset() -> None:
    """MapRef.offset: ld_imm64 of the address of a byte of value 0 (global data)."""
    with Map.create(MapSpec(MapType.ARRAY, 4, 8, 1, name="data")) as data:
        data[0] = u32(5) + u32(9)
        code = ld_map_fd(R1) + ldx_w(R0, R1, 0) + exit_()
        for offset, want in ((0, 5), (4, 9)):
            spec = spec_of("globals", ProgType.XDP, code, [MapRef(0, "data", offset)])
            with Program.load(spec, {"data": data}) as p:
                assert p.test_run(PACKET).retval == want


@pytest.mark.parametrize("outer_type", [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS])
def test_lookup_through_outer_map_and_swap(outer_type: MapType) -> None:
    inner = MapSpec(MapType.ARRAY, 4, 4, 1, name="inner")
    code, refs = through_outer(miss=1000)
    with (
        Map.create(MapSpec(outer_type, 4, 4, 2, name="outer", inner=inner)) as outer,
        Program.load(spec_of("via_outer", ProgType.XDP, code, refs), {"outer": outer}) as p,
    ):
        assert p.test_run(PACKET).retval == 1000  # slot 0 empty
        with Map.create(inner) as a:
            a[0] = 11
            outer[0] = a
        assert p.test_run(PACKET).retval == 11  # the outer map keeps 'a' alive
        with Map.create(inner) as b:
            b[0] = 22
            outer[0] = b
            assert p.test_run(PACKET).retval == 22
            b[0] = 23
            assert p.test_run(PACKET).retval == 23
        del outer[0]
        assert p.test_run(PACKET).retval == 1000


@pytest.mark.parametrize("outer_type", [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS])
@pytest.mark.parametrize(
    ("helper", "name"),
    [(MAP_UPDATE_ELEM, "bpf_map_update_elem"), (MAP_DELETE_ELEM, "bpf_map_delete_elem")],
)
def test_programs_may_not_change_outer_maps(outer_type: MapType, helper: int, name: str) -> None:
    """Kernel fact: a program may only look up in an outer map."""
    head = st_w(R10, -4, 0) + st_w(R10, -8, 0)
    code = (
        head
        + ld_map_fd(R1)
        + mov64_reg(R2, R10)
        + add64_imm(R2, -4)
        + mov64_reg(R3, R10)
        + add64_imm(R3, -8)
        + mov64_imm(R4, 0)
        + call(helper)
        + returning(XDP_PASS)
    )
    refs = [MapRef(slots(head), "outer")]
    inner = MapSpec(MapType.ARRAY, 4, 4, 1)
    outer_spec = MapSpec(outer_type, 4, 4, 2, name="outer", inner=inner)
    with Map.create(outer_spec) as outer, pytest.raises(VerifierError) as exc:
        Program.load(spec_of("change_outer", ProgType.XDP, code, refs), {"outer": outer})
    assert exc.value.errno == errno.EINVAL
    assert name in exc.value.log
    assert f"map_type {int(outer_type)}" in exc.value.log
    assert name in str(exc.value) and "\n" not in str(exc.value)


# ------------------------------------------------------------- verifier log

REJECTED = [
    # (what, code, errno, text the verifier writes)
    ("r0_unset", exit_(), errno.EACCES, "R0 !read_ok"),
    (
        "ctx_out_of_bounds",
        ldx_w(R0, R1, 4000) + exit_(),
        errno.EACCES,
        "invalid bpf_context access",
    ),
    ("stack_out_of_bounds", ldx_w(R0, R10, 8) + exit_(), errno.EACCES, "invalid read from stack"),
    ("unknown_helper", call(0x7FFF) + returning(0), errno.EINVAL, "invalid func unknown#32767"),
]


@pytest.mark.parametrize(
    ("name", "code", "code_errno", "text"), REJECTED, ids=[r[0] for r in REJECTED]
)
def test_rejected_program(name: str, code: bytes, code_errno: int, text: str) -> None:
    with pytest.raises(VerifierError) as exc:
        Program.load(spec_of(name, ProgType.XDP, code))
    err = exc.value
    assert err.errno == code_errno
    assert text in err.log
    assert err.log.rstrip().splitlines()[-1].startswith("processed ")  # the whole log
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"load program '{name}' (XDP): {os.strerror(code_errno)}: ")
    assert text in message and "processed" not in message  # the reason, not the statistics
    assert isinstance(err, BPFError) and isinstance(err, OSError)


def test_statistics_stay_out_of_the_message() -> None:
    """log_level 4 (BPF_LOG_STATS) adds lines after the reason."""
    with pytest.raises(VerifierError) as exc:
        Program.load(spec_of("stats", ProgType.XDP, exit_()), log_level=1 | 4)
    assert "verification time" in exc.value.log and "stack depth" in exc.value.log
    assert str(exc.value) == "load program 'stats' (XDP): Permission denied: R0 !read_ok"


@pytest.mark.parametrize(
    ("needed", "true_size", "sizes", "truncated"),
    [
        (300_000, True, [0, 65536, 300_000], False),  # 6.4+: log_true_size says how much
        (300_000, False, [0, 65536, 262144, 1 << 20], False),  # older: x4 until it fits
        (100 << 20, True, [0, 65536, 16 << 20], True),
        (100 << 20, False, [0, 65536, 262144, 1 << 20, 4 << 20, 16 << 20], True),
    ],
)
def test_log_buffer_policy(
    monkeypatch: pytest.MonkeyPatch, needed: int, true_size: bool, sizes: list[int], truncated: bool
) -> None:
    """No log first; then 64 KiB growing (to log_true_size, or x4) up to 16 MiB."""
    calls: list[tuple[int, int]] = []
    full = "0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000)\n"

    def fake(*, log_level: int, log_size: int, **_: object) -> tuple[int, str]:
        calls.append((log_level, log_size))
        if log_level == 0:
            raise ops.ProgLoadError(errno.EACCES, "", 0)
        if log_size < needed:  # the kernel keeps the tail of a log that does not fit
            raise ops.ProgLoadError(errno.ENOSPC, full[-20:], needed if true_size else 0)
        raise ops.ProgLoadError(errno.EACCES, full, needed)

    monkeypatch.setattr(programs_mod.ops, "prog_load", fake)
    with pytest.raises(VerifierError) as exc:
        Program.load(spec_of("policy", ProgType.XDP, exit_()))
    assert [size for _, size in calls] == sizes
    assert [level for level, _ in calls] == [0] + [1] * (len(sizes) - 1)
    assert exc.value.errno == errno.EACCES  # the real reason, not ENOSPC
    assert exc.value.log == (full[-20:] if truncated else full)
    assert ("was cut" in str(exc.value)) == truncated


def test_log_grows_until_the_whole_log_fits() -> None:
    """A log longer than the first 64 KiB buffer comes back whole."""
    code = mov64_imm(R1, 0) * 8000 + exit_()  # r0 never set: rejected at the end
    with pytest.raises(VerifierError) as exc:
        Program.load(spec_of("long_log", ProgType.XDP, code))
    log = exc.value.log
    assert exc.value.errno == errno.EACCES
    assert len(log) > 64 * 1024
    assert log.startswith("func#0") or log.startswith("0: ")  # the head was not dropped
    assert "R0 !read_ok" in log and str(exc.value).endswith("R0 !read_ok")


@pytest.mark.parametrize("log_level", [1, 2])
def test_verifier_log_on_request(log_level: int) -> None:
    spec = spec_of("logged", ProgType.XDP, returning(XDP_PASS))
    # Level 1 keeps only the path that failed: on success, just the statistics.
    with Program.load(spec, log_level=log_level, log_size=128) as p:  # grows from 128
        assert p.verifier_log is not None
        log = p.verifier_log
        assert log.startswith("processed 2 insns") or log_level == 2
        if log_level == 2:  # every state: did not fit in 128 bytes at first
            assert len(log) > 128 and log.startswith("func#0") and "(95) exit" in log
        assert log.endswith("mark_read 0\n")
    with Program.load(spec) as p:
        assert p.verifier_log is None


def test_bad_log_arguments() -> None:
    spec = spec_of("x", ProgType.XDP, returning(XDP_PASS))
    with pytest.raises(ValueError, match="log_size"):
        Program.load(spec, log_level=1, log_size=16)
    with pytest.raises(ValueError, match="log_level"):
        Program.load(spec, log_level=-1)


# ------------------------------------------------ refused before the syscall


@pytest.mark.usefixtures("no_syscall")
def test_foreign_byte_order_refused() -> None:
    other = "big" if sys.byteorder == "little" else "little"
    spec = spec_of("foreign", ProgType.XDP, returning(XDP_PASS))
    spec.byteorder = other
    with pytest.raises(NotSupportedError) as exc:
        Program.load(spec)
    assert exc.value.feature == "byte order"
    assert "'foreign'" in str(exc.value) and f"{other}-endian" in str(exc.value)


@pytest.mark.usefixtures("no_syscall")
def test_core_relocations_refused() -> None:
    # Program.load has no BTF to relocate against: CollectionSpec.load applies them.
    spec = spec_of("uses_core", ProgType.XDP, returning(XDP_PASS))
    spec.core_relocations = [CoreReloSpec(0, 1, "0:0", 0)] * 3
    assert spec.core_relos == 3
    with pytest.raises(NotSupportedError) as exc:
        Program.load(spec)
    assert exc.value.feature == "CO-RE relocations"
    assert str(exc.value) == (
        "program 'uses_core' has 3 CO-RE relocations, which need the object's BTF:"
        " load it with CollectionSpec.load() (which applies them)"
    )


@pytest.mark.usefixtures("no_syscall")
def test_map_ref_to_a_non_ld_imm64(array: Map) -> None:
    spec = spec_of("bad_ref", ProgType.XDP, returning(0), [MapRef(0, "values")])
    spec.instructions += exit_()  # two slots to look at, first is mov
    with pytest.raises(ValueError, match=r"program 'bad_ref': insn 0 .* not ld_imm64"):
        Program.load(spec, {"values": array})


@pytest.mark.usefixtures("no_syscall")
def test_map_ref_to_a_missing_map(array: Map) -> None:
    code, refs = lookup_key0("nowhere", miss=0)
    spec = spec_of("lost", ProgType.XDP, code, refs)
    with pytest.raises(ValueError, match=r"program 'lost'.*'nowhere'"):
        Program.load(spec, {"values": array})
    with pytest.raises(ValueError, match=r"program 'lost'.*'nowhere'"):
        Program.load(spec)


@pytest.mark.usefixtures("no_syscall")
def test_map_ref_past_the_end() -> None:
    spec = spec_of("short", ProgType.XDP, returning(0), [MapRef(1, "m")])
    with pytest.raises(ValueError, match="program 'short': insn 1"):
        Program.load(spec, {"m": 99})


@pytest.mark.usefixtures("no_syscall")
def test_malformed_code() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        Program.load(spec_of("ragged", ProgType.XDP, returning(0) + b"\0"))
    with pytest.raises(ValueError, match="multiple of 8"):
        Program.load(spec_of("empty", ProgType.XDP, b""))


# ---------------------------------------------------------- BTF func/line info


def _btf() -> tuple[bytes, dict[str, int]]:
    """A minimal BTF: int, FUNC_PROTO () -> int, FUNC main; and line strings."""
    strs = b"\0int\0main\0prog.c\0return 2;\0"
    off = {s: strs.index(s.encode() + b"\0") for s in ("int", "main", "prog.c", "return 2;")}
    types = struct.pack("=III", off["int"], 1 << 24, 4) + struct.pack("=I", 1 << 24 | 32)
    types += struct.pack("=III", 0, 13 << 24, 1)
    types += struct.pack("=III", off["main"], 12 << 24 | 1, 2)  # global FUNC, type 2
    header = struct.pack("=HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return header + types + strs, off


def test_func_and_line_info_need_btf() -> None:
    raw, off = _btf()
    spec = spec_of("main", ProgType.XDP, returning(XDP_PASS))
    spec.func_info = [FuncInfoSpec(0, 3)]
    spec.line_info = [LineInfoSpec(0, off["prog.c"], off["return 2;"], 12, 5)]
    with Program.load(spec) as p:  # no BTF: the infos are not passed
        assert p.info().btf_id == 0
    btf, _ = ops.btf_load(raw)
    btf_fd = btf.raw
    try:
        with Program.load(spec, btf_fd=btf_fd) as p:
            assert p.info().btf_id != 0
            raw_info = ops.prog_info(p.fd)
            assert (raw_info.nr_func_info, raw_info.nr_line_info) == (1, 1)
            assert p.test_run(PACKET).retval == XDP_PASS
        spec.func_info = [FuncInfoSpec(0, 1)]  # type 1 is an INT, not a FUNC
        with pytest.raises(VerifierError) as exc:
            Program.load(spec, btf_fd=btf_fd)
        assert exc.value.errno == errno.EINVAL
        assert "invalid type id 1 in func info" in exc.value.log
        # The kernel writes this line without its newline; the statistics glued
        # to it stay out of the message.
        assert str(exc.value).endswith(": invalid type id 1 in func info")
    finally:
        btf.close()


def test_btf_load_error_carries_the_log() -> None:
    raw, _ = _btf()
    with pytest.raises(ops.BtfLoadError) as exc:
        ops.btf_load(raw[:30], log_level=1, log_size=4096)
    assert exc.value.errno == errno.EINVAL
    assert "Total section length too long" in exc.value.log


# ---------------------------------------------------------- test_run errors


def test_short_packet(xdp_pass: Program) -> None:
    with pytest.raises(BPFError) as exc:
        xdp_pass.test_run(PACKET[:13])
    assert exc.value.errno == errno.EINVAL
    assert str(exc.value) == (
        "test_run program 'xdp_pass' (XDP): Invalid argument"
        " (data is 13 bytes; XDP needs at least 14 (an Ethernet header))"
    )


def test_output_buffer_too_small(xdp_pass: Program) -> None:
    with pytest.raises(BPFError) as exc:
        xdp_pass.test_run(PACKET, data_size_out=10)
    assert exc.value.errno == errno.ENOSPC
    assert f"pass data_size_out={len(PACKET)}" in str(exc.value)
    assert xdp_pass.test_run(PACKET, data_size_out=len(PACKET)).data == PACKET


def test_type_without_test_run() -> None:
    probe = spec_of("probe", ProgType.KPROBE, returning(0))
    with Program.load(probe) as p, pytest.raises(BPFError) as exc:
        p.test_run(PACKET)
    assert exc.value.errno == ENOTSUPP
    assert "program type KPROBE has no test_run" in str(exc.value)


def test_syscall_program_runs_once_and_writes_ctx_back() -> None:
    # *(u32 *)(ctx + 0) = 77; return 5   (SYSCALL programs must be sleepable)
    code = insn(0x62, R1, off=0, imm=77) + returning(5)
    spec = spec_of("sys", ProgType.SYSCALL, code)
    spec.flags = 1 << 4  # BPF_F_SLEEPABLE
    with Program.load(spec) as p:
        res = p.test_run(ctx=u32(1) + u32(2))
        assert res.retval == 5 and res.ctx == u32(77) + u32(2) and res.data == b""
        with pytest.raises(BPFError, match="run once"):
            p.test_run(ctx=bytes(8), repeat=2)


@pytest.mark.parametrize("repeat", [0, -1, True])
def test_bad_repeat(xdp_pass: Program, repeat: int) -> None:
    with pytest.raises(ValueError, match="repeat"):
        xdp_pass.test_run(PACKET, repeat=repeat)


# ------------------------------------------------------------ fds and pins


def test_close_twice() -> None:
    p = Program.load(spec_of("twice", ProgType.XDP, returning(XDP_PASS)))
    assert not p.closed
    p.close()
    p.close()
    assert p.closed
    with pytest.raises(ValueError, match="closed"):
        _ = p.fd
    with pytest.raises(ValueError, match="closed"):
        p.test_run(PACKET)
    assert "closed" in repr(p)


def test_from_id_and_from_fd(xdp_pass: Program) -> None:
    with Program.from_id(xdp_pass.id) as again:
        assert again.id == xdp_pass.id and again.tag == xdp_pass.tag
        assert again.name == "xdp_pass" and again.type == ProgType.XDP
        assert again.fd != xdp_pass.fd
    with Program.from_fd(xdp_pass.fd) as dup:
        assert dup.id == xdp_pass.id and dup.fd != xdp_pass.fd
    assert xdp_pass.test_run(PACKET).retval == XDP_PASS  # closing copies left it alone


def test_name_longer_than_the_kernel_keeps() -> None:
    name = "a_rather_long_program_name"
    with Program.load(spec_of(name, ProgType.XDP, returning(XDP_PASS))) as p:
        assert p.name == name
        assert p.info().name == name[:15]
        with Program.from_id(p.id) as again:
            assert again.name == name[:15]


def test_open_errors(array: Map) -> None:
    with pytest.raises(BPFError) as exc:
        Program.from_id((1 << 32) - 2)
    assert exc.value.errno == errno.ENOENT and "no program has this id" in str(exc.value)
    with pytest.raises(BPFError) as exc:
        Program.from_fd(array.fd)
    assert exc.value.errno == errno.EINVAL and "not a BPF program" in str(exc.value)
    with pytest.raises(ValueError):
        Program.from_id(-1)


def test_pin_and_from_pinned(xdp_pass: Program, bpffs: str, array: Map) -> None:
    path = os.path.join(bpffs, "prog")
    xdp_pass.pin(path)
    with Program.from_pinned(path) as pinned:
        assert pinned.id == xdp_pass.id and pinned.tag == xdp_pass.tag
        assert pinned.test_run(PACKET).retval == XDP_PASS
    with pytest.raises(BPFError) as exc:
        xdp_pass.pin(path)
    assert exc.value.errno == errno.EEXIST and "'xdp_pass'" in str(exc.value)
    array.pin(os.path.join(bpffs, "map"))
    with pytest.raises(BPFError) as exc:
        Program.from_pinned(os.path.join(bpffs, "map"))
    assert exc.value.errno == errno.EINVAL and "not a program" in str(exc.value)
    with pytest.raises(BPFError) as exc:
        Program.from_pinned(os.path.join(bpffs, "nothing"))
    assert exc.value.errno == errno.ENOENT


def test_pinned_program_outlives_its_fd(bpffs: str) -> None:
    path = os.path.join(bpffs, "kept")
    with Program.load(spec_of("kept", ProgType.XDP, returning(XDP_PASS))) as p:
        p.pin(path)
        prog_id = p.id
    with Program.from_pinned(path) as again:
        assert again.id == prog_id


def test_program_keeps_its_maps_alive() -> None:
    before = own_map_ids()
    code, refs = lookup_key0("values", miss=1000)
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="values")) as m:
        m[0] = 3
        p = Program.load(spec_of("holder", ProgType.XDP, code, refs), {"values": m})
        map_id = m.id
    with p:
        assert p.test_run(PACKET).retval == 3
        assert map_id in own_map_ids()
    assert not wait_maps_gone(own_map_ids() - before)
