"""Kernel numbers: map and program types, update flags and map flags.

Values are those of the 6.18 uapi (``enum bpf_map_type``, ``enum bpf_prog_type``,
``enum bpf_attach_type`` and the ``BPF_F_*`` flags of ``include/uapi/linux/bpf.h``);
``tests/test_constants.py`` checks them against the running kernel's BTF.
"""

from __future__ import annotations

import enum

__all__ = [
    "ANY",
    "ENOTSUPP",
    "EXIST",
    "F_CLONE",
    "F_INNER_MAP",
    "F_LINK",
    "F_LOCK",
    "F_MMAPABLE",
    "F_NO_COMMON_LRU",
    "F_NO_PREALLOC",
    "F_NO_USER_CONV",
    "F_NUMA_NODE",
    "F_PATH_FD",
    "F_PRESERVE_ELEMS",
    "F_RDONLY",
    "F_RDONLY_PROG",
    "F_SEGV_ON_FAULT",
    "F_STACK_BUILD_ID",
    "F_TOKEN_FD",
    "F_VTYPE_BTF_OBJ_FD",
    "F_WRONLY",
    "F_WRONLY_PROG",
    "F_ZERO_SEED",
    "NOEXIST",
    "AttachType",
    "LinkType",
    "MapType",
    "ProgType",
]

#: The kernel-internal errno 524 that bpf(2) returns for "not supported"
#: (distinct from ``errno.EOPNOTSUPP``; Python's ``errno`` module has no name for it).
ENOTSUPP = 524

# Update flags (``BPF_ANY`` ...): the ``flags`` argument of ``Map.update``.
ANY = 0
NOEXIST = 1
EXIST = 2
F_LOCK = 4

# Map flags (``map_flags`` of BPF_MAP_CREATE).
F_NO_PREALLOC = 0x1
F_NO_COMMON_LRU = 0x2
F_NUMA_NODE = 0x4
F_RDONLY = 0x8
F_WRONLY = 0x10
F_STACK_BUILD_ID = 0x20
F_ZERO_SEED = 0x40
F_RDONLY_PROG = 0x80
F_WRONLY_PROG = 0x100
F_CLONE = 0x200
F_MMAPABLE = 0x400
F_PRESERVE_ELEMS = 0x800
F_INNER_MAP = 0x1000
F_LINK = 0x2000
F_PATH_FD = 0x4000
F_VTYPE_BTF_OBJ_FD = 0x8000
F_TOKEN_FD = 0x10000
F_SEGV_ON_FAULT = 0x20000
F_NO_USER_CONV = 0x40000


class MapType(enum.IntEnum):
    """``enum bpf_map_type`` without the ``BPF_MAP_TYPE_`` prefix."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @property
    def is_outer(self) -> bool:
        """True for the map-in-map types, whose values are other maps."""
        return self in _OUTER

    @property
    def is_per_cpu(self) -> bool:
        """True when a value is one slot per possible CPU."""
        return self in _PER_CPU

    @property
    def is_array(self) -> bool:
        """True when keys are u32 indexes below ``max_entries`` that always exist."""
        return self in _ARRAY_LIKE

    @property
    def is_fd_array(self) -> bool:
        """True when user space writes a file descriptor as the value."""
        return self in _FD_VALUES

    @property
    def is_keyless(self) -> bool:
        """True for QUEUE, STACK and BLOOM_FILTER: no key, push/pop/peek."""
        return self in _KEYLESS

    @property
    def is_ringbuf(self) -> bool:
        """True for RINGBUF and USER_RINGBUF: no elements, a shared ring."""
        return self in (MapType.RINGBUF, MapType.USER_RINGBUF)

    @property
    def is_storage(self) -> bool:
        """True for local-storage maps, which need BTF to be created."""
        return self in _STORAGE

    @property
    def can_be_inner(self) -> bool:
        """True when the kernel accepts this type as an inner map (template)."""
        return not (self.is_outer or self in _NOT_INNER)


_OUTER = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
_PER_CPU = frozenset(
    {
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_PERCPU_HASH,
        MapType.PERCPU_CGROUP_STORAGE,
    }
)
_ARRAY_LIKE = frozenset(
    {
        MapType.ARRAY,
        MapType.PERCPU_ARRAY,
        MapType.PROG_ARRAY,
        MapType.PERF_EVENT_ARRAY,
        MapType.CGROUP_ARRAY,
        MapType.ARRAY_OF_MAPS,
    }
)
_FD_VALUES = frozenset(
    {
        MapType.PROG_ARRAY,
        MapType.PERF_EVENT_ARRAY,
        MapType.CGROUP_ARRAY,
        MapType.ARRAY_OF_MAPS,
        MapType.HASH_OF_MAPS,
        MapType.SOCKMAP,
        MapType.SOCKHASH,
        MapType.REUSEPORT_SOCKARRAY,
        MapType.XSKMAP,
    }
)
_KEYLESS = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})
_STORAGE = frozenset(
    {
        MapType.SK_STORAGE,
        MapType.INODE_STORAGE,
        MapType.TASK_STORAGE,
        MapType.CGRP_STORAGE,
    }
)
# Types without map_meta_equal (the kernel answers ENOTSUPP) or that make no
# sense as inner maps; outer types are excluded separately (EINVAL).
_NOT_INNER = frozenset(
    {
        MapType.UNSPEC,
        MapType.PROG_ARRAY,
        MapType.CGROUP_STORAGE,
        MapType.PERCPU_CGROUP_STORAGE,
        MapType.STRUCT_OPS,
    }
)


class ProgType(enum.IntEnum):
    """``enum bpf_prog_type`` without the ``BPF_PROG_TYPE_`` prefix."""

    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32


class AttachType(enum.IntEnum):
    """``enum bpf_attach_type`` without the ``BPF_`` prefix."""

    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43
    STRUCT_OPS = 44
    NETFILTER = 45
    TCX_INGRESS = 46
    TCX_EGRESS = 47
    TRACE_UPROBE_MULTI = 48
    CGROUP_UNIX_CONNECT = 49
    CGROUP_UNIX_SENDMSG = 50
    CGROUP_UNIX_RECVMSG = 51
    CGROUP_UNIX_GETPEERNAME = 52
    CGROUP_UNIX_GETSOCKNAME = 53
    NETKIT_PRIMARY = 54
    NETKIT_PEER = 55
    TRACE_KPROBE_SESSION = 56
    TRACE_UPROBE_SESSION = 57


class LinkType(enum.IntEnum):
    """``enum bpf_link_type`` without the ``BPF_LINK_TYPE_`` prefix: what a link attaches to."""

    UNSPEC = 0
    RAW_TRACEPOINT = 1
    TRACING = 2
    CGROUP = 3
    ITER = 4
    NETNS = 5
    XDP = 6
    PERF_EVENT = 7
    KPROBE_MULTI = 8
    STRUCT_OPS = 9
    NETFILTER = 10
    TCX = 11
    UPROBE_MULTI = 12
    NETKIT = 13
    SOCKMAP = 14
