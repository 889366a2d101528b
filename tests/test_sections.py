"""The section table (issue 19 item 3): every row of libbpf's ``section_defs``.

``LIBBPF`` below is libbpf's table written out from its source, row by row:
``src/libbpf.c`` of libbpf v1.7.0-78-gf7081a6b (commit
f7081a6baf3f54949aacb8c2fc11bb30783b83e9, 2026-07-30), ``SEC_DEF(sec,
prog_type, expected_attach_type, flags)``. For every row the test names a
section the row matches (the name alone, and ``name/target`` for ``+`` and
``/`` rows) and checks program type, expected attach type and prog_flags
against :func:`bpfnest.sections.program_type`. Pure: no kernel.
"""

from __future__ import annotations

import pytest

import bpfnest
from bpfnest import AttachType, ProgType
from bpfnest.sections import F_SLEEPABLE, F_XDP_HAS_FRAGS, NEWER_SECTIONS, program_type

# (sec, BPF_PROG_TYPE_*, BPF_* attach type or "0", flags) as in libbpf.c.
LIBBPF = [
    ("socket", "SOCKET_FILTER", "0", "SEC_NONE"),
    (
        "sk_reuseport/migrate",
        "SK_REUSEPORT",
        "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE",
        "SEC_ATTACHABLE",
    ),
    ("sk_reuseport", "SK_REUSEPORT", "BPF_SK_REUSEPORT_SELECT", "SEC_ATTACHABLE"),
    ("kprobe+", "KPROBE", "0", "SEC_NONE"),
    ("uprobe+", "KPROBE", "0", "SEC_NONE"),
    ("uprobe.s+", "KPROBE", "0", "SEC_SLEEPABLE"),
    ("kretprobe+", "KPROBE", "0", "SEC_NONE"),
    ("uretprobe+", "KPROBE", "0", "SEC_NONE"),
    ("uretprobe.s+", "KPROBE", "0", "SEC_SLEEPABLE"),
    ("kprobe.multi+", "KPROBE", "BPF_TRACE_KPROBE_MULTI", "SEC_NONE"),
    ("kretprobe.multi+", "KPROBE", "BPF_TRACE_KPROBE_MULTI", "SEC_NONE"),
    ("kprobe.session+", "KPROBE", "BPF_TRACE_KPROBE_SESSION", "SEC_NONE"),
    ("uprobe.multi+", "KPROBE", "BPF_TRACE_UPROBE_MULTI", "SEC_NONE"),
    ("uretprobe.multi+", "KPROBE", "BPF_TRACE_UPROBE_MULTI", "SEC_NONE"),
    ("uprobe.session+", "KPROBE", "BPF_TRACE_UPROBE_SESSION", "SEC_NONE"),
    ("uprobe.multi.s+", "KPROBE", "BPF_TRACE_UPROBE_MULTI", "SEC_SLEEPABLE"),
    ("uretprobe.multi.s+", "KPROBE", "BPF_TRACE_UPROBE_MULTI", "SEC_SLEEPABLE"),
    ("uprobe.session.s+", "KPROBE", "BPF_TRACE_UPROBE_SESSION", "SEC_SLEEPABLE"),
    ("ksyscall+", "KPROBE", "0", "SEC_NONE"),
    ("kretsyscall+", "KPROBE", "0", "SEC_NONE"),
    ("usdt+", "KPROBE", "0", "SEC_USDT"),
    ("usdt.s+", "KPROBE", "0", "SEC_USDT | SEC_SLEEPABLE"),
    ("tc/ingress", "SCHED_CLS", "BPF_TCX_INGRESS", "SEC_NONE"),
    ("tc/egress", "SCHED_CLS", "BPF_TCX_EGRESS", "SEC_NONE"),
    ("tcx/ingress", "SCHED_CLS", "BPF_TCX_INGRESS", "SEC_NONE"),
    ("tcx/egress", "SCHED_CLS", "BPF_TCX_EGRESS", "SEC_NONE"),
    ("tc", "SCHED_CLS", "0", "SEC_NONE"),
    ("classifier", "SCHED_CLS", "0", "SEC_NONE"),
    ("action", "SCHED_ACT", "0", "SEC_NONE"),
    ("netkit/primary", "SCHED_CLS", "BPF_NETKIT_PRIMARY", "SEC_NONE"),
    ("netkit/peer", "SCHED_CLS", "BPF_NETKIT_PEER", "SEC_NONE"),
    ("tracepoint+", "TRACEPOINT", "0", "SEC_NONE"),
    ("tp+", "TRACEPOINT", "0", "SEC_NONE"),
    ("tracepoint.s+", "TRACEPOINT", "0", "SEC_SLEEPABLE"),
    ("tp.s+", "TRACEPOINT", "0", "SEC_SLEEPABLE"),
    ("raw_tracepoint+", "RAW_TRACEPOINT", "0", "SEC_NONE"),
    ("raw_tp+", "RAW_TRACEPOINT", "0", "SEC_NONE"),
    ("raw_tracepoint.s+", "RAW_TRACEPOINT", "0", "SEC_SLEEPABLE"),
    ("raw_tp.s+", "RAW_TRACEPOINT", "0", "SEC_SLEEPABLE"),
    ("raw_tracepoint.w+", "RAW_TRACEPOINT_WRITABLE", "0", "SEC_NONE"),
    ("raw_tp.w+", "RAW_TRACEPOINT_WRITABLE", "0", "SEC_NONE"),
    ("tp_btf+", "TRACING", "BPF_TRACE_RAW_TP", "SEC_ATTACH_BTF"),
    ("tp_btf.s+", "TRACING", "BPF_TRACE_RAW_TP", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("fentry+", "TRACING", "BPF_TRACE_FENTRY", "SEC_ATTACH_BTF"),
    ("fmod_ret+", "TRACING", "BPF_MODIFY_RETURN", "SEC_ATTACH_BTF"),
    ("fexit+", "TRACING", "BPF_TRACE_FEXIT", "SEC_ATTACH_BTF"),
    ("fentry.s+", "TRACING", "BPF_TRACE_FENTRY", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("fmod_ret.s+", "TRACING", "BPF_MODIFY_RETURN", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("fexit.s+", "TRACING", "BPF_TRACE_FEXIT", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("fsession+", "TRACING", "BPF_TRACE_FSESSION", "SEC_ATTACH_BTF"),
    ("fsession.s+", "TRACING", "BPF_TRACE_FSESSION", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("fsession.multi+", "TRACING", "BPF_TRACE_FSESSION_MULTI", "0"),
    ("fsession.multi.s+", "TRACING", "BPF_TRACE_FSESSION_MULTI", "SEC_SLEEPABLE"),
    ("fentry.multi+", "TRACING", "BPF_TRACE_FENTRY_MULTI", "0"),
    ("fexit.multi+", "TRACING", "BPF_TRACE_FEXIT_MULTI", "0"),
    ("fentry.multi.s+", "TRACING", "BPF_TRACE_FENTRY_MULTI", "SEC_SLEEPABLE"),
    ("fexit.multi.s+", "TRACING", "BPF_TRACE_FEXIT_MULTI", "SEC_SLEEPABLE"),
    ("freplace+", "EXT", "0", "SEC_ATTACH_BTF"),
    ("lsm+", "LSM", "BPF_LSM_MAC", "SEC_ATTACH_BTF"),
    ("lsm.s+", "LSM", "BPF_LSM_MAC", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("lsm_cgroup+", "LSM", "BPF_LSM_CGROUP", "SEC_ATTACH_BTF"),
    ("iter+", "TRACING", "BPF_TRACE_ITER", "SEC_ATTACH_BTF"),
    ("iter.s+", "TRACING", "BPF_TRACE_ITER", "SEC_ATTACH_BTF | SEC_SLEEPABLE"),
    ("syscall", "SYSCALL", "0", "SEC_SLEEPABLE"),
    ("xdp.frags/devmap", "XDP", "BPF_XDP_DEVMAP", "SEC_XDP_FRAGS"),
    ("xdp/devmap", "XDP", "BPF_XDP_DEVMAP", "SEC_ATTACHABLE"),
    ("xdp.frags/cpumap", "XDP", "BPF_XDP_CPUMAP", "SEC_XDP_FRAGS"),
    ("xdp/cpumap", "XDP", "BPF_XDP_CPUMAP", "SEC_ATTACHABLE"),
    ("xdp.frags", "XDP", "BPF_XDP", "SEC_XDP_FRAGS"),
    ("xdp", "XDP", "BPF_XDP", "SEC_ATTACHABLE_OPT"),
    ("perf_event", "PERF_EVENT", "0", "SEC_NONE"),
    ("lwt_in", "LWT_IN", "0", "SEC_NONE"),
    ("lwt_out", "LWT_OUT", "0", "SEC_NONE"),
    ("lwt_xmit", "LWT_XMIT", "0", "SEC_NONE"),
    ("lwt_seg6local", "LWT_SEG6LOCAL", "0", "SEC_NONE"),
    ("sockops", "SOCK_OPS", "BPF_CGROUP_SOCK_OPS", "SEC_ATTACHABLE_OPT"),
    ("sk_skb/stream_parser", "SK_SKB", "BPF_SK_SKB_STREAM_PARSER", "SEC_ATTACHABLE_OPT"),
    ("sk_skb/stream_verdict", "SK_SKB", "BPF_SK_SKB_STREAM_VERDICT", "SEC_ATTACHABLE_OPT"),
    ("sk_skb/verdict", "SK_SKB", "BPF_SK_SKB_VERDICT", "SEC_ATTACHABLE_OPT"),
    ("sk_skb", "SK_SKB", "0", "SEC_NONE"),
    ("sk_msg", "SK_MSG", "BPF_SK_MSG_VERDICT", "SEC_ATTACHABLE_OPT"),
    ("lirc_mode2", "LIRC_MODE2", "BPF_LIRC_MODE2", "SEC_ATTACHABLE_OPT"),
    ("flow_dissector", "FLOW_DISSECTOR", "BPF_FLOW_DISSECTOR", "SEC_ATTACHABLE_OPT"),
    ("cgroup_skb/ingress", "CGROUP_SKB", "BPF_CGROUP_INET_INGRESS", "SEC_ATTACHABLE_OPT"),
    ("cgroup_skb/egress", "CGROUP_SKB", "BPF_CGROUP_INET_EGRESS", "SEC_ATTACHABLE_OPT"),
    ("cgroup/skb", "CGROUP_SKB", "0", "SEC_NONE"),
    ("cgroup/sock_create", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_CREATE", "SEC_ATTACHABLE"),
    ("cgroup/sock_release", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_RELEASE", "SEC_ATTACHABLE"),
    ("cgroup/sock", "CGROUP_SOCK", "BPF_CGROUP_INET_SOCK_CREATE", "SEC_ATTACHABLE_OPT"),
    ("cgroup/post_bind4", "CGROUP_SOCK", "BPF_CGROUP_INET4_POST_BIND", "SEC_ATTACHABLE"),
    ("cgroup/post_bind6", "CGROUP_SOCK", "BPF_CGROUP_INET6_POST_BIND", "SEC_ATTACHABLE"),
    ("cgroup/bind4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_BIND", "SEC_ATTACHABLE"),
    ("cgroup/bind6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_BIND", "SEC_ATTACHABLE"),
    ("cgroup/connect4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_CONNECT", "SEC_ATTACHABLE"),
    ("cgroup/connect6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_CONNECT", "SEC_ATTACHABLE"),
    ("cgroup/connect_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_CONNECT", "SEC_ATTACHABLE"),
    ("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP4_SENDMSG", "SEC_ATTACHABLE"),
    ("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP6_SENDMSG", "SEC_ATTACHABLE"),
    ("cgroup/sendmsg_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_SENDMSG", "SEC_ATTACHABLE"),
    ("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP4_RECVMSG", "SEC_ATTACHABLE"),
    ("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UDP6_RECVMSG", "SEC_ATTACHABLE"),
    ("cgroup/recvmsg_unix", "CGROUP_SOCK_ADDR", "BPF_CGROUP_UNIX_RECVMSG", "SEC_ATTACHABLE"),
    ("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETPEERNAME", "SEC_ATTACHABLE"),
    ("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETPEERNAME", "SEC_ATTACHABLE"),
    (
        "cgroup/getpeername_unix",
        "CGROUP_SOCK_ADDR",
        "BPF_CGROUP_UNIX_GETPEERNAME",
        "SEC_ATTACHABLE",
    ),
    ("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET4_GETSOCKNAME", "SEC_ATTACHABLE"),
    ("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "BPF_CGROUP_INET6_GETSOCKNAME", "SEC_ATTACHABLE"),
    (
        "cgroup/getsockname_unix",
        "CGROUP_SOCK_ADDR",
        "BPF_CGROUP_UNIX_GETSOCKNAME",
        "SEC_ATTACHABLE",
    ),
    ("cgroup/sysctl", "CGROUP_SYSCTL", "BPF_CGROUP_SYSCTL", "SEC_ATTACHABLE"),
    ("cgroup/getsockopt", "CGROUP_SOCKOPT", "BPF_CGROUP_GETSOCKOPT", "SEC_ATTACHABLE"),
    ("cgroup/setsockopt", "CGROUP_SOCKOPT", "BPF_CGROUP_SETSOCKOPT", "SEC_ATTACHABLE"),
    ("cgroup/dev", "CGROUP_DEVICE", "BPF_CGROUP_DEVICE", "SEC_ATTACHABLE_OPT"),
    ("struct_ops+", "STRUCT_OPS", "0", "SEC_NONE"),
    ("struct_ops.s+", "STRUCT_OPS", "0", "SEC_SLEEPABLE"),
    ("sk_lookup", "SK_LOOKUP", "BPF_SK_LOOKUP", "SEC_ATTACHABLE"),
    ("netfilter", "NETFILTER", "BPF_NETFILTER", "SEC_NONE"),
]

#: libbpf's exact names that bpfnest also takes with "/anything" (iproute2,
#: cilium objects); see bpfnest/sections.py.
WIDER = {"tc", "classifier", "action", "xdp"}


def _names(sec: str) -> list[tuple[str, str]]:
    """(section name that ``sec`` matches, the target it gives)."""
    if sec.endswith("/"):
        return [(sec + "some_target", "some_target")]
    if sec.endswith("+"):
        base = sec[:-1]
        return [(base, ""), (base + "/some/target", "some/target")]
    if sec in WIDER:
        return [(sec, ""), (sec + "/x", "x")]
    return [(sec, "")]


def _flags(spelled: str) -> int:
    flags = 0
    if "SEC_SLEEPABLE" in spelled:
        flags |= F_SLEEPABLE
    if "SEC_XDP_FRAGS" in spelled:
        flags |= F_XDP_HAS_FRAGS
    return flags


def _attach(spelled: str) -> AttachType | None:
    return None if spelled == "0" else AttachType[spelled.removeprefix("BPF_")]


_CASES = [
    (name, target, row)
    for row in LIBBPF
    if row[0] not in NEWER_SECTIONS
    for name, target in _names(row[0])
]


@pytest.mark.parametrize(("name", "target", "row"), _CASES, ids=[c[0] for c in _CASES])
def test_every_libbpf_row(name: str, target: str, row: tuple[str, str, str, str]) -> None:
    sec, ptype, attach, flags = row
    got = program_type(name)
    assert got is not None, f"{name} (libbpf row {sec}) is unknown"
    assert (got.type, got.attach_type, got.flags, got.attach_to) == (
        ProgType[ptype],
        _attach(attach),
        _flags(flags),
        target,
    )


def test_the_table_has_every_libbpf_row_and_no_other() -> None:
    from bpfnest.sections import _DEFS

    ours = [d[0] for d in _DEFS]
    theirs = [s + "+" if s in WIDER else s for s, *_ in LIBBPF if s not in NEWER_SECTIONS]
    assert ours == theirs  # same rows, same order (first match wins in both)


def test_newer_rows_are_the_attach_types_this_kernel_lacks() -> None:
    newer = {
        sec
        for sec, _, at, _ in LIBBPF
        if at != "0" and at.removeprefix("BPF_") not in AttachType.__members__
    }
    assert newer == set(NEWER_SECTIONS)
    for sec in NEWER_SECTIONS:
        assert program_type(sec[:-1] + "/f") is None


@pytest.mark.parametrize(
    "name",
    [
        "kprobe.bogus",  # "+" needs the name alone or a "/"
        "kprobex/f",
        "fentry.s.x/f",
        "sk_lookup/x",  # exact names take nothing after them
        "socket/x",
        "cgroup/sock/x",
        "struct_opsx",
        "",
    ],
)
def test_names_libbpf_refuses_are_unknown(name: str) -> None:
    assert program_type(name) is None


def test_an_unknown_section_is_named_at_load_with_the_fix() -> None:
    from bpfnest import ProgramSpec
    from bpfnest.programs import unknown_type

    for section in ("fsession/f", "no_such_type", "xdp_typo"):
        assert program_type(section) is None
        spec = ProgramSpec("p", ProgType.UNSPEC, bytes(16), section=section)
        assert unknown_type(spec) == (
            f"program 'p': section '{section}' names no program type: set"
            " spec.programs['p'].type (and .attach_type) before loading"
        )
        with pytest.raises(ValueError, match=f"section '{section}' names no program type"):
            bpfnest.Program.load(spec)  # refused before any syscall
