"""Kernel facts that differ between kernel builds, probed once and cached.

A fact that two builds of the same kernel release answer differently is never
frozen in a table: it is asked of the running kernel the first time it
matters, and the answer is kept for the life of the process. Each probe
creates what it needs, closes it, and leaves nothing behind.
"""

from __future__ import annotations

import errno
import functools
import sys

from ._sys import link_ops, ops
from .constants import AttachType, MapType, ProgType

__all__ = [
    "LINK_KINDS",
    "batch_refused",
    "has_bpf_cookie",
    "has_links",
    "has_syscall_wrapper",
    "inner_max_entries_types",
    "refuse_batch",
    "syscall_prefix",
]

# (map type, batch command) pairs the kernel answered ENOTSUPP for.
_batch_refused: set[tuple[int, str]] = set()


def batch_refused(map_type: int, command: str) -> bool:
    """True once the kernel refused ``command`` (``"lookup"``, ``"update"``,
    ``"delete"``, ``"lookup_and_delete"``) with ENOTSUPP for this map type.

    Which ``*_BATCH`` commands a map type has depends on the kernel (none
    before 5.6; more types gained them later), so nothing is assumed: the
    first batch call of each type asks the kernel, and a refusal is kept for
    the life of the process, so later calls go straight to the per-element
    fallback.
    """
    return (int(map_type), command) in _batch_refused


def refuse_batch(map_type: int, command: str) -> None:
    """Remember that the kernel has no ``command`` batch for ``map_type``."""
    _batch_refused.add((int(map_type), command))


@functools.cache
def inner_max_entries_types() -> frozenset[MapType]:
    """Return the inner map types whose ``max_entries`` must match the template.

    ``ARRAY`` always does (unless both carry ``F_INNER_MAP``). Whether
    ``PERCPU_ARRAY`` does depends on the kernel build (``array_map_meta_equal``
    or plain ``bpf_map_meta_equal`` in its ops): two 6.18.44 builds seen here
    differ. The probe puts a ``PERCPU_ARRAY`` of two entries into an outer map
    whose template has one; it costs one RCU grace period when accepted.
    When the probe cannot run (no bpf(2) here), ``PERCPU_ARRAY`` is left out:
    the kernel then has the last word and its error is reported as usual.
    """
    checked = {MapType.ARRAY}
    try:
        if _percpu_array_compares_max_entries():
            checked.add(MapType.PERCPU_ARRAY)
    except OSError:
        pass
    return frozenset(checked)


def _percpu_array_compares_max_entries() -> bool:
    pcpu = int(MapType.PERCPU_ARRAY)
    with ops.map_create(map_type=pcpu, key_size=4, value_size=4, max_entries=1) as template:
        outer = ops.map_create(
            map_type=int(MapType.ARRAY_OF_MAPS),
            key_size=4,
            value_size=4,
            max_entries=1,
            inner_map_fd=template.raw,
        )
    with outer, ops.map_create(map_type=pcpu, key_size=4, value_size=4, max_entries=2) as inner:
        try:
            ops.map_update_elem(outer.raw, bytes(4), inner.raw.to_bytes(4, sys.byteorder))
        except OSError as err:
            if err.errno == errno.EINVAL:
                return True
            raise
    return False


# The arch's prefix of syscall wrappers (__<pfx>_sys_NAME), as libbpf names them.
_SYSCALL_PREFIX = {
    "x86_64": "x64",
    "i386": "ia32",
    "i686": "ia32",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "s390x": "s390x",
    "s390": "s390",
    "ppc64le": "powerpc64",
    "ppc64": "powerpc64",
    "mips": "mips",
    "riscv64": "riscv",
    "loongarch64": "loongarch",
}


def syscall_prefix(machine: str | None = None) -> str | None:
    """``__<prefix>_sys_NAME``'s prefix on this machine (``"x64"``), None where unknown."""
    import platform

    return _SYSCALL_PREFIX.get(machine or platform.machine())


@functools.cache
def has_syscall_wrapper() -> bool:
    """libbpf's ``LINUX_HAS_SYSCALL_WRAPPER``: whether syscalls enter the kernel
    through ``__<arch>_sys_NAME`` wrappers taking a ``struct pt_regs *`` (4.17+
    on x86_64 and arm64).

    Asked of ``/proc/kallsyms`` (``__<arch>_sys_bpf`` is there or not). libbpf
    asks by opening a kprobe on that symbol, so where a kernel has no kprobes
    it answers False; this answer is the kernel's either way. Unreadable
    kallsyms or an unknown architecture: False, as libbpf.
    """
    prefix = syscall_prefix()
    if prefix is None:
        return False
    wanted = f" __{prefix}_sys_bpf"
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as f:
            return any(line.rstrip("\n").endswith(wanted) for line in f)
    except OSError:
        return False


@functools.cache
def has_bpf_cookie() -> bool:
    """libbpf's ``LINUX_HAS_BPF_COOKIE``: whether programs have
    ``bpf_get_attach_cookie`` (5.15). The probe loads, as libbpf does, a
    TRACEPOINT program that calls it and closes it. Cannot load (no bpf(2),
    no permission): False, as libbpf.
    """
    call_get_attach_cookie = bytes([0x85, 0, 0, 0]) + (174).to_bytes(4, sys.byteorder)
    exit_ = bytes([0x95, 0, 0, 0, 0, 0, 0, 0])
    try:
        fd, _ = ops.prog_load(
            prog_type=5,  # BPF_PROG_TYPE_TRACEPOINT
            insns=call_get_attach_cookie + exit_,
            license=b"GPL",
        )
    except OSError:
        return False
    fd.close()
    return True


# ------------------------------------------------------------------ BPF links

#: The hooks whose BPF links came after their older attach path, with the
#: program type, attach type and first kernel of the link:
#: XDP links 5.9 (netlink before), cgroup links 5.7 (BPF_PROG_ATTACH before),
#: perf-event links 5.15 (PERF_EVENT_IOC_SET_BPF before).
LINK_KINDS: dict[str, tuple[ProgType, AttachType, str]] = {
    "xdp": (ProgType.XDP, AttachType.XDP, "5.9"),
    "cgroup": (ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, "5.7"),
    "perf_event": (ProgType.TRACEPOINT, AttachType.PERF_EVENT, "5.15"),
    "tcx": (ProgType.SCHED_CLS, AttachType.TCX_INGRESS, "6.6"),
}

#: The answers of :func:`has_links`, by kind, once probed. A test may set an
#: answer (and restore it) to drive the older path on a newer kernel.
link_support: dict[str, bool] = {}

_LOOPBACK = 1  # LOOPBACK_IFINDEX
_XDP_FLAGS_HW_MODE = 1 << 3
# BPF_MOV64_IMM(R0, 0); BPF_EXIT_INSN()
_RETURN_0 = bytes.fromhex("b7000000000000009500000000000000")


def has_links(kind: str) -> bool:
    """True when the kernel makes BPF links for ``kind`` (a key of
    :data:`LINK_KINDS`): ``"xdp"``, ``"cgroup"``, ``"perf_event"`` or ``"tcx"``.

    Probed once and cached in :data:`link_support`, as cilium's
    ``haveBPFLink``: a two-instruction program of the hook's type is loaded
    and ``BPF_LINK_CREATE`` is asked for an attach that cannot succeed. A
    kernel without such links refuses the attach type first, with
    ``EINVAL``; one with them goes on to the target and fails there: a cgroup
    or perf event fd of -1 gives ``EBADF``, a tcx ifindex of -1 ``ENODEV``,
    XDP in offload mode on ``lo`` (ifindex 1 in every network namespace, no
    XDP driver) ``EOPNOTSUPP``. Nothing is attached; the program is closed. When
    the probe cannot run (no bpf(2), no privilege), links are assumed and the
    attach itself reports the kernel's answer.

    Raises:
        KeyError: ``kind`` is not one of :data:`LINK_KINDS`.
    """
    known = link_support.get(kind)
    if known is None:
        known = link_support[kind] = _probe_links(*LINK_KINDS[kind][:2])
    return known


def _probe_links(prog_type: ProgType, attach_type: AttachType) -> bool:
    try:
        prog, _ = ops.prog_load(
            prog_type=int(prog_type),
            insns=_RETURN_0,
            license=b"GPL",
            expected_attach_type=int(attach_type) if prog_type == ProgType.CGROUP_SKB else 0,
        )
    except OSError:
        return True
    xdp = attach_type == AttachType.XDP
    target, flags = (_LOOPBACK, _XDP_FLAGS_HW_MODE) if xdp else (0xFFFFFFFF, 0)
    with prog:
        try:
            link_ops.link_create(prog.raw, target, int(attach_type), flags=flags).close()
        except OSError as err:
            return err.errno != errno.EINVAL
    return True  # not reached: nothing has this target
