"""Program section names -> program type, expected attach type and flags.

libbpf's conventions (``SEC("xdp")``, ``SEC("kprobe/do_sys_open")`` ...).
A name ending in ``/`` is a prefix whose remainder is the attach target; a
``+`` means "the name alone, or followed by ``/target``". Pure data.
"""

from __future__ import annotations

from typing import NamedTuple

from .constants import AttachType as A
from .constants import ProgType as P

__all__ = [
    "SectionDef",
    "F_SLEEPABLE",
    "F_XDP_HAS_FRAGS",
    "NEWER_SECTIONS",
    "BTF_TARGET_SECTIONS",
    "kernel_btf_target",
    "program_type",
]

F_SLEEPABLE = 1 << 4  # BPF_F_SLEEPABLE
F_XDP_HAS_FRAGS = 1 << 5  # BPF_F_XDP_HAS_FRAGS


class SectionDef(NamedTuple):
    """What a section name says about its programs."""

    type: P
    attach_type: A | None
    attach_to: str
    flags: int


# libbpf's section_defs (src/libbpf.c of libbpf v1.7.0-78-gf7081a6b, commit
# f7081a6baf3f54949aacb8c2fc11bb30783b83e9, 2026-07-30), row by row and in its
# order: (pattern, type, expected attach type, prog_flags); first match wins.
# SEC_SLEEPABLE is F_SLEEPABLE, SEC_XDP_FRAGS F_XDP_HAS_FRAGS; libbpf's 0
# attach type is None here. Two kinds of difference, both on purpose:
# - "tc", "classifier", "action" and "xdp" are exact names in libbpf; here they
#   also take "/anything" (iproute2 and cilium objects name sections so).
# - NEWER_SECTIONS (fsession, fentry.multi, ...) are left out: their attach
#   types are newer than the kernel's enum bpf_attach_type that AttachType
#   mirrors, so no kernel that bpfnest knows can load them.
_DEFS: list[tuple[str, P, A | None, int]] = [
    ("socket", P.SOCKET_FILTER, None, 0),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, 0),
    ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, 0),
    ("kprobe+", P.KPROBE, None, 0),
    ("uprobe+", P.KPROBE, None, 0),
    ("uprobe.s+", P.KPROBE, None, F_SLEEPABLE),
    ("kretprobe+", P.KPROBE, None, 0),
    ("uretprobe+", P.KPROBE, None, 0),
    ("uretprobe.s+", P.KPROBE, None, F_SLEEPABLE),
    ("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, 0),
    ("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, 0),
    ("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION, 0),
    ("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, 0),
    ("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, 0),
    ("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION, 0),
    ("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F_SLEEPABLE),
    ("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F_SLEEPABLE),
    ("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, F_SLEEPABLE),
    ("ksyscall+", P.KPROBE, None, 0),
    ("kretsyscall+", P.KPROBE, None, 0),
    ("usdt+", P.KPROBE, None, 0),
    ("usdt.s+", P.KPROBE, None, F_SLEEPABLE),
    ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, 0),
    ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, 0),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, 0),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, 0),
    ("tc+", P.SCHED_CLS, None, 0),  # libbpf: exact name only (see below)
    ("classifier+", P.SCHED_CLS, None, 0),  # libbpf: exact name only (see below)
    ("action+", P.SCHED_ACT, None, 0),  # libbpf: exact name only (see below)
    ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, 0),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, 0),
    ("tracepoint+", P.TRACEPOINT, None, 0),
    ("tp+", P.TRACEPOINT, None, 0),
    ("tracepoint.s+", P.TRACEPOINT, None, F_SLEEPABLE),
    ("tp.s+", P.TRACEPOINT, None, F_SLEEPABLE),
    ("raw_tracepoint+", P.RAW_TRACEPOINT, None, 0),
    ("raw_tp+", P.RAW_TRACEPOINT, None, 0),
    ("raw_tracepoint.s+", P.RAW_TRACEPOINT, None, F_SLEEPABLE),
    ("raw_tp.s+", P.RAW_TRACEPOINT, None, F_SLEEPABLE),
    ("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, None, 0),
    ("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, None, 0),
    ("tp_btf+", P.TRACING, A.TRACE_RAW_TP, 0),
    ("tp_btf.s+", P.TRACING, A.TRACE_RAW_TP, F_SLEEPABLE),
    ("fentry+", P.TRACING, A.TRACE_FENTRY, 0),
    ("fmod_ret+", P.TRACING, A.MODIFY_RETURN, 0),
    ("fexit+", P.TRACING, A.TRACE_FEXIT, 0),
    ("fentry.s+", P.TRACING, A.TRACE_FENTRY, F_SLEEPABLE),
    ("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, F_SLEEPABLE),
    ("fexit.s+", P.TRACING, A.TRACE_FEXIT, F_SLEEPABLE),
    ("freplace+", P.EXT, None, 0),
    ("lsm+", P.LSM, A.LSM_MAC, 0),
    ("lsm.s+", P.LSM, A.LSM_MAC, F_SLEEPABLE),
    ("lsm_cgroup+", P.LSM, A.LSM_CGROUP, 0),
    ("iter+", P.TRACING, A.TRACE_ITER, 0),
    ("iter.s+", P.TRACING, A.TRACE_ITER, F_SLEEPABLE),
    ("syscall", P.SYSCALL, None, F_SLEEPABLE),
    ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, F_XDP_HAS_FRAGS),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, 0),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, F_XDP_HAS_FRAGS),
    ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, 0),
    ("xdp.frags", P.XDP, A.XDP, F_XDP_HAS_FRAGS),
    ("xdp+", P.XDP, A.XDP, 0),  # libbpf: exact name only (see below)
    ("perf_event", P.PERF_EVENT, None, 0),
    ("lwt_in", P.LWT_IN, None, 0),
    ("lwt_out", P.LWT_OUT, None, 0),
    ("lwt_xmit", P.LWT_XMIT, None, 0),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, None, 0),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, 0),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, 0),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, 0),
    ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, 0),
    ("sk_skb", P.SK_SKB, None, 0),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, 0),
    ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, 0),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, 0),
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, 0),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, 0),
    ("cgroup/skb", P.CGROUP_SKB, None, 0),
    ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, 0),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, 0),
    ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, 0),
    ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, 0),
    ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, 0),
    ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, 0),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, 0),
    ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, 0),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, 0),
    ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, 0),
    ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, 0),
    ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, 0),
    ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, 0),
    ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, 0),
    ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, 0),
    ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, 0),
    ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, 0),
    ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, 0),
    ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, 0),
    ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, 0),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, 0),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, 0),
    ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, 0),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, 0),
    ("struct_ops+", P.STRUCT_OPS, None, 0),
    ("struct_ops.s+", P.STRUCT_OPS, None, F_SLEEPABLE),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, 0),
    ("netfilter", P.NETFILTER, A.NETFILTER, 0),
]

#: libbpf sections whose attach types no kernel known here has (see above).
NEWER_SECTIONS = (
    "fsession+",
    "fsession.s+",
    "fsession.multi+",
    "fsession.multi.s+",
    "fentry.multi+",
    "fexit.multi+",
    "fentry.multi.s+",
    "fexit.multi.s+",
)


def program_type(section: str) -> SectionDef | None:
    """Return what ``section`` says about its programs, or None if unknown."""
    for pattern, ptype, attach, flags in _DEFS:
        if pattern.endswith("/"):
            if section.startswith(pattern):
                return SectionDef(ptype, attach, section[len(pattern) :], flags)
        elif pattern.endswith("+"):
            base = pattern[:-1]
            if section == base:
                return SectionDef(ptype, attach, "", flags)
            if section.startswith(base + "/"):
                return SectionDef(ptype, attach, section[len(base) + 1 :], flags)
        elif section == pattern:
            return SectionDef(ptype, attach, "", flags)
    return None


#: The sections whose programs name a kernel BTF target, for error messages.
BTF_TARGET_SECTIONS = (
    "fentry/FUNC, fexit/FUNC, fmod_ret/FUNC, tp_btf/TRACEPOINT, lsm/HOOK, iter/TARGET"
)

# Attach type -> (prefix of the kernel BTF name, its BTF kind), as libbpf's
# btf_get_kernel_prefix_kind: tp_btf/N is the typedef btf_trace_N, lsm/H the
# function bpf_lsm_H, iter/T the function bpf_iter_T, fentry/F the function F.
_BTF_TARGETS: dict[A, tuple[str, str]] = {
    A.TRACE_FENTRY: ("", "FUNC"),
    A.TRACE_FEXIT: ("", "FUNC"),
    A.MODIFY_RETURN: ("", "FUNC"),
    A.TRACE_RAW_TP: ("btf_trace_", "TYPEDEF"),
    A.LSM_MAC: ("bpf_lsm_", "FUNC"),
    A.LSM_CGROUP: ("bpf_lsm_", "FUNC"),
    A.TRACE_ITER: ("bpf_iter_", "FUNC"),
}


def kernel_btf_target(attach_type: A | None, target: str) -> tuple[str, str] | None:
    """The kernel BTF type a program of ``attach_type`` attached to ``target``
    must name in ``attach_btf_id`` at load: ``(name, kind)`` with ``kind``
    ``"FUNC"`` or ``"TYPEDEF"``; None for attach types that name none.

    ``target`` is the rest of the section name (``fentry/do_unlinkat`` ->
    ``do_unlinkat``, ``tp_btf/sys_enter`` -> ``btf_trace_sys_enter``,
    ``lsm/file_open`` -> ``bpf_lsm_file_open``, ``iter/task`` ->
    ``bpf_iter_task``), as libbpf's ``libbpf_find_attach_btf_id`` does. An
    empty ``target`` gives ``("", kind)``: the caller says what is missing.
    """
    if attach_type is None or attach_type not in _BTF_TARGETS:
        return None
    prefix, kind = _BTF_TARGETS[attach_type]
    return (prefix + target if target else "", kind)
