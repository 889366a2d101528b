"""The attrs of ``BPF_PROG_QUERY``, ``BPF_TASK_FD_QUERY`` and
``BPF_ENABLE_STATS`` (``union bpf_attr`` members ``query``, ``task_fd_query``
and ``enable_stats``), as ctypes structures with ``bpf.h``'s field names.

Kept apart from :mod:`bpfnest._sys.uapi`, which is at its size limit, and
listed in its ``ATTR_CLASSES``, so ``tests/test_uapi.py`` checks every offset
against the system header and the running kernel's BTF as for the others.
"""

from __future__ import annotations

import ctypes
from ctypes import c_uint32, c_uint64

__all__ = ["EnableStatsAttr", "ProgQueryAttr", "TaskFdQueryAttr"]


class _Target(ctypes.Union):
    _fields_ = [
        ("target_fd", c_uint32),
        ("target_ifindex", c_uint32),
    ]


class _ProgCnt(ctypes.Union):
    _fields_ = [
        ("prog_cnt", c_uint32),
        ("count", c_uint32),
    ]


class ProgQueryAttr(ctypes.Structure):
    """BPF_PROG_QUERY (``union bpf_attr.query``, 4.15): the programs attached to
    a cgroup (or, 6.6, a tcx/netkit hook), their ids written to ``prog_ids``."""

    _anonymous_ = ("_u_target", "_u_count")
    _fields_ = [
        ("_u_target", _Target),
        ("attach_type", c_uint32),
        ("query_flags", c_uint32),
        ("attach_flags", c_uint32),
        ("prog_ids", c_uint64),
        ("_u_count", _ProgCnt),
        ("prog_attach_flags", c_uint64),  # after 4 bytes of padding (`__u32 :32`)
        ("link_ids", c_uint64),
        ("link_attach_flags", c_uint64),
        ("revision", c_uint64),
    ]


class TaskFdQueryAttr(ctypes.Structure):
    """BPF_TASK_FD_QUERY (``union bpf_attr.task_fd_query``, 4.18): which program
    a perf event (or raw tracepoint) fd of a task runs, and where."""

    _fields_ = [
        ("pid", c_uint32),
        ("fd", c_uint32),
        ("flags", c_uint32),
        ("buf_len", c_uint32),
        ("buf", c_uint64),
        ("prog_id", c_uint32),
        ("fd_type", c_uint32),
        ("probe_offset", c_uint64),
        ("probe_addr", c_uint64),
    ]


class EnableStatsAttr(ctypes.Structure):
    """BPF_ENABLE_STATS (``union bpf_attr.enable_stats``): the ``enum bpf_stats_type``."""

    _fields_ = [("type", c_uint32)]
