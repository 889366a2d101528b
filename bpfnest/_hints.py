"""Hints for the errors of creating and opening maps and loading programs: the
likely cause, from the errno and the spec (as cilium's ``handleMapCreateError``
does).

Everything here is pure except :func:`running_kernel`, which reads the kernel
release and ``RLIMIT_MEMLOCK``, and :func:`effective_caps`, which reads this
process's capabilities, once an ``EPERM`` needs explaining. The decisions
take those values as arguments so that they can be tested for kernels and
processes other than the running one.
"""

from __future__ import annotations

import errno
import os
import re
import resource

from .constants import ENOTSUPP, MapType, ProgType
from .spec import MapSpec

__all__ = [
    "BY_ID",
    "btf_eperm_hint",
    "create_hint",
    "effective_caps",
    "kernel_version",
    "map_perm_hint",
    "memlock_note",
    "perf_eperm_hint",
    "perf_perm_hint",
    "perm_hint",
    "prog_eperm_hint",
    "prog_perm_hint",
    "running_kernel",
]

#: Why opening or listing by id got ``EPERM``: ``capable(CAP_SYS_ADMIN)`` in the kernel.
BY_ID = "needs root (CAP_SYS_ADMIN; CAP_BPF is not enough)"

#: Linux 5.11 charges BPF memory to the memory cgroup; before, to RLIMIT_MEMLOCK.
MEMCG_ACCOUNTING = (5, 11)
#: CAP_BPF (and CAP_PERFMON) exist since Linux 5.8; before, BPF needed CAP_SYS_ADMIN.
CAP_BPF_SINCE = (5, 8)

#: Map types whose creation also needs CAP_NET_ADMIN (measured on 6.18).
_NET_ADMIN_MAPS = frozenset(
    {MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.SOCKMAP, MapType.SOCKHASH, MapType.XSKMAP}
)
#: Program types whose load also needs CAP_NET_ADMIN (``is_net_admin_prog_type``).
_NET_ADMIN_PROGS = frozenset(
    {
        ProgType.SCHED_CLS,
        ProgType.SCHED_ACT,
        ProgType.XDP,
        ProgType.LWT_IN,
        ProgType.LWT_OUT,
        ProgType.LWT_XMIT,
        ProgType.LWT_SEG6LOCAL,
        ProgType.SK_SKB,
        ProgType.SK_MSG,
        ProgType.LIRC_MODE2,
        ProgType.FLOW_DISSECTOR,
        ProgType.CGROUP_DEVICE,
        ProgType.CGROUP_SOCK,
        ProgType.CGROUP_SOCK_ADDR,
        ProgType.CGROUP_SOCKOPT,
        ProgType.CGROUP_SYSCTL,
        ProgType.SOCK_OPS,
        ProgType.EXT,
        ProgType.NETFILTER,
    }
)
#: Program types whose load also needs CAP_PERFMON (``is_perfmon_prog_type``).
_PERFMON_PROGS = frozenset(
    {
        ProgType.KPROBE,
        ProgType.TRACEPOINT,
        ProgType.PERF_EVENT,
        ProgType.RAW_TRACEPOINT,
        ProgType.RAW_TRACEPOINT_WRITABLE,
        ProgType.TRACING,
        ProgType.LSM,
        ProgType.STRUCT_OPS,
        ProgType.EXT,
    }
)

_RELEASE = re.compile(r"(\d+)\.(\d+)")

#: Capability numbers (linux/capability.h).
CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39
_CAP_NUMBERS = {
    "CAP_NET_ADMIN": CAP_NET_ADMIN,
    "CAP_SYS_ADMIN": CAP_SYS_ADMIN,
    "CAP_PERFMON": CAP_PERFMON,
    "CAP_BPF": CAP_BPF,
}


def effective_caps() -> int | None:
    """This process's effective capabilities as bpf(2) counts them: ``CapEff``
    of /proc/self/status (a bit mask by capability number), or 0 inside a
    user namespace other than the initial one (the kernel checks BPF
    capabilities against the initial namespace, where such a process has
    none); None when they cannot be read."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as f:
            if f.read().split() != ["0", "0", "4294967295"]:
                return 0
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split(":", 1)[1], 16)
    except (OSError, ValueError):
        return None
    return None


def running_kernel() -> tuple[str, int]:
    """The running kernel's release and this process's soft ``RLIMIT_MEMLOCK``
    in bytes (``resource.RLIM_INFINITY`` when unlimited)."""
    return os.uname().release, resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]


def kernel_version(release: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a release string such as ``"5.10.0-23-amd64"``;
    None when it does not start with one."""
    m = _RELEASE.match(release.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def memlock_note(release: str, memlock: int) -> str | None:
    """What to say about ``RLIMIT_MEMLOCK`` for an ``EPERM`` when creating a
    map or loading a program; None when it cannot be the cause.

    Before Linux 5.11 the kernel charged the memory of every BPF map and
    program to the user's ``RLIMIT_MEMLOCK`` and refused with ``EPERM`` once
    it was exceeded, even for root. The charge was per user, across all its
    processes, so any finite limit may be the cause (libbpf and cilium raise
    it to unlimited on such kernels). From 5.11 the memory cgroup is charged
    and the limit plays no part. ``memlock`` is the soft limit in bytes,
    ``resource.RLIM_INFINITY`` for none. An unparsable ``release`` gets the
    note with a condition.
    """
    if memlock == resource.RLIM_INFINITY or memlock < 0:
        return None
    version = kernel_version(release)
    if version is not None and version >= MEMCG_ACCOUNTING:
        return None
    where = (
        f"on Linux {version[0]}.{version[1]} (before 5.11)"
        if version is not None
        else f"if Linux {release!r} is older than 5.11"
    )
    return (
        f"{where} BPF memory is charged to RLIMIT_MEMLOCK, now {_size(memlock)}:"
        " raise it (ulimit -l unlimited)"
    )


def _held(caps: int, needed: list[str]) -> list[str] | None:
    """The capabilities of ``caps`` that grant each of ``needed`` as the kernel
    checks them (CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON), in
    order and once each; None when one is missing."""
    held: list[str] = []
    for cap in needed:
        if caps >> _CAP_NUMBERS[cap] & 1:
            which = cap
        elif cap in ("CAP_BPF", "CAP_PERFMON") and caps >> CAP_SYS_ADMIN & 1:
            which = "CAP_SYS_ADMIN"
        else:
            return None
        if which not in held:
            held.append(which)
    return held


def _perm_hint(extra: list[str], release: str, memlock: int, caps: int | None) -> str:
    version = kernel_version(release)
    old = version is not None and version < CAP_BPF_SINCE
    note = memlock_note(release, memlock)
    held = None if caps is None else _held(caps, ["CAP_SYS_ADMIN" if old else "CAP_BPF", *extra])
    if held is not None:
        refused = (
            f"the kernel refused although this process has {' and '.join(held)}:"
            " kernel lockdown, an LSM or a sandbox policy forbids it"
        )
        return f"{note}; else {refused}" if note else refused
    more = "".join(f" and {cap}" for cap in extra)
    if old and version is not None:
        needs = f"root (CAP_SYS_ADMIN{more}: Linux {version[0]}.{version[1]} predates CAP_BPF)"
    else:
        needs = f"root or CAP_BPF{more}"
    return f"needs {needs}" + (f"; {note}" if note else "")


def perm_hint(release: str, caps: int | None = None) -> str:
    """The hint for an ``EPERM`` from a command that needs CAP_BPF and whose
    memory was never charged to ``RLIMIT_MEMLOCK`` (BTF_LOAD).

    ``caps``: the process's effective capabilities (:func:`effective_caps`);
    when they hold what is needed, the hint says the kernel refused anyway
    (lockdown, an LSM, a sandbox) instead of asking for them. None: unknown.
    """
    return _perm_hint([], release, resource.RLIM_INFINITY, caps)


def map_perm_hint(
    map_type: MapType | int, release: str, memlock: int, caps: int | None = None
) -> str:
    """The hint for an ``EPERM`` from creating a map of ``map_type``.

    Names CAP_NET_ADMIN for the types that need it, and ``RLIMIT_MEMLOCK``
    when :func:`memlock_note` says it may be the cause. ``caps`` as for
    :func:`perm_hint`.
    """
    extra = ["CAP_NET_ADMIN"] if map_type in _NET_ADMIN_MAPS else []
    return _perm_hint(extra, release, memlock, caps)


def prog_perm_hint(
    prog_type: ProgType | int, release: str, memlock: int, caps: int | None = None
) -> str:
    """The hint for an ``EPERM`` from loading a program of ``prog_type``.

    Names CAP_NET_ADMIN and CAP_PERFMON for the types that need them, and
    ``RLIMIT_MEMLOCK`` when :func:`memlock_note` says it may be the cause.
    When ``caps`` (as for :func:`perm_hint`) hold all of them, the hint says
    the kernel refused although they are present: e.g. ``fentry`` under
    kernel lockdown, an LSM or a sandbox policy.
    """
    extra = [
        cap
        for cap, types in (("CAP_NET_ADMIN", _NET_ADMIN_PROGS), ("CAP_PERFMON", _PERFMON_PROGS))
        if prog_type in types
    ]
    return _perm_hint(extra, release, memlock, caps)


def prog_eperm_hint(prog_type: ProgType | int) -> str:
    """:func:`prog_perm_hint` for the running kernel, this process's limit
    and its capabilities."""
    return prog_perm_hint(prog_type, *running_kernel(), caps=effective_caps())


#: Program types whose attach also needs CAP_NET_ADMIN: the network hooks
#: (netlink for XDP and tc, cgroup and socket hooks).
_NET_ADMIN_ATTACH = _NET_ADMIN_PROGS | {ProgType.CGROUP_SKB}


def attach_perm_hint(prog_type: ProgType | int, release: str, caps: int | None = None) -> str:
    """The hint for an ``EPERM`` from attaching a program of ``prog_type``.

    Network hooks (XDP, tc, cgroup, sockets) name CAP_NET_ADMIN, tracing
    hooks CAP_PERFMON, beside CAP_BPF (CAP_SYS_ADMIN before 5.8). When ``caps``
    (as for :func:`perm_hint`) hold them all, the hint says the kernel
    refused anyway (lockdown, an LSM or a sandbox policy) instead.
    """
    extra = [
        cap
        for cap, types in (("CAP_NET_ADMIN", _NET_ADMIN_ATTACH), ("CAP_PERFMON", _PERFMON_PROGS))
        if prog_type in types
    ]
    return _perm_hint(extra, release, resource.RLIM_INFINITY, caps)


def attach_eperm_hint(prog_type: ProgType | int) -> str:
    """:func:`attach_perm_hint` for the running kernel and this process's capabilities."""
    return attach_perm_hint(prog_type, running_kernel()[0], effective_caps())


def perf_perm_hint(release: str, caps: int | None = None) -> str:
    """The hint for an ``EPERM``/``EACCES`` from opening a kprobe or uprobe
    perf event (``perf_event_open``) or attaching a program to it.

    The kernel asks for ``perfmon_capable()``: CAP_PERFMON (5.8) or
    CAP_SYS_ADMIN. When ``caps`` (as for :func:`perm_hint`) hold one, the
    hint says the kernel refused anyway (``perf_event_paranoid`` does not
    apply to a capable process: lockdown, an LSM or a sandbox); with
    CAP_PERFMON alone it suggests CAP_SYS_ADMIN, which a 6.18 kernel here
    wanted for an uprobe event (measured: EACCES with CAP_PERFMON and CAP_BPF).
    """
    version = kernel_version(release)
    old = version is not None and version < CAP_BPF_SINCE
    held = None if caps is None else _held(caps, ["CAP_SYS_ADMIN" if old else "CAP_PERFMON"])
    if held == ["CAP_PERFMON"]:
        return (
            "the kernel refused although this process has CAP_PERFMON: try CAP_SYS_ADMIN"
            " (some kernels, LSMs or sandbox policies want it for probe events)"
        )
    if held is not None:
        return (
            f"the kernel refused although this process has {held[0]}:"
            " kernel lockdown, an LSM or a sandbox policy forbids it"
        )
    if old and version is not None:
        return f"needs root (CAP_SYS_ADMIN: Linux {version[0]}.{version[1]} predates CAP_PERFMON)"
    return "needs root, or CAP_PERFMON (or CAP_SYS_ADMIN) for kprobe and uprobe events"


def perf_eperm_hint() -> str:
    """:func:`perf_perm_hint` for the running kernel and this process's capabilities."""
    return perf_perm_hint(running_kernel()[0], effective_caps())


def btf_eperm_hint() -> str:
    """:func:`perm_hint` for the running kernel and this process's capabilities (BTF_LOAD)."""
    return perm_hint(running_kernel()[0], effective_caps())


def create_hint(code: int, spec: MapSpec) -> str | None:
    t = spec.type
    if code == errno.EPERM:
        return map_perm_hint(t, *running_kernel(), caps=effective_caps())
    if code == ENOTSUPP or code == errno.EOPNOTSUPP:
        if t.is_outer and isinstance(spec.inner, MapSpec) and not spec.inner.type.can_be_inner:
            return f"{spec.inner.type.name} cannot be an inner map"
        return f"the kernel cannot create {t.name} with these parameters"
    if code == errno.EINVAL:
        if t.is_outer:
            if spec.value_size != 4:
                return f"an outer map's value_size must be 4, not {spec.value_size}"
            if t == MapType.ARRAY_OF_MAPS and spec.key_size != 4:
                return f"ARRAY_OF_MAPS key_size must be 4, not {spec.key_size}"
            inner = spec.inner
            if (
                not isinstance(inner, MapSpec)
                and inner is not None
                and isinstance(inner.type, MapType)
                and inner.type.is_outer
            ):
                return f"the template is {inner.type.name}: only one level of nesting"
            return (
                "the inner template is refused: an outer map (only one level of nesting) or invalid"
            )
        if spec.max_entries == 0:
            return "max_entries must be > 0"
        if t.is_storage:
            return f"{t.name} needs BTF for key and value"
        return "a size or flag is not valid for this map type"
    if code == errno.E2BIG:
        return "key, value or max_entries too large for this map type"
    if code == errno.EBADF:
        return "the inner template fd is not open"
    if code == errno.ENOMEM:
        return "not enough memory (or memory cgroup limit) for max_entries"
    return None
