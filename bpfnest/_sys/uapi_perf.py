"""``struct perf_event_attr`` of ``<linux/perf_event.h>`` (perf_event_open(2)),
as a ctypes structure with the header's field names.

Kept apart from :mod:`bpfnest._sys.uapi` (``union bpf_attr`` and the info
structs of bpf(2)), which re-exports it and lists it in ``ATTR_CLASSES``, so
``tests/test_uapi.py`` checks every offset against the system header and the
running kernel's BTF as for the others.
"""

from __future__ import annotations

import ctypes
from ctypes import c_int32, c_uint16, c_uint32, c_uint64

__all__ = ["PerfEventAttr"]


class _SamplePeriod(ctypes.Union):
    _fields_ = [
        ("sample_period", c_uint64),
        ("sample_freq", c_uint64),
    ]


class _Wakeup(ctypes.Union):
    _fields_ = [
        ("wakeup_events", c_uint32),
        ("wakeup_watermark", c_uint32),
    ]


class _Config1(ctypes.Union):
    _fields_ = [
        ("bp_addr", c_uint64),
        ("kprobe_func", c_uint64),
        ("uprobe_path", c_uint64),
        ("config1", c_uint64),
    ]


class _Config2(ctypes.Union):
    _fields_ = [
        ("bp_len", c_uint64),
        ("kprobe_addr", c_uint64),
        ("probe_offset", c_uint64),
        ("config2", c_uint64),
    ]


class _AuxBits(ctypes.Structure):
    _fields_ = [
        ("aux_start_paused", c_uint32, 1),
        ("aux_pause", c_uint32, 1),
        ("aux_resume", c_uint32, 1),
        ("__reserved_3", c_uint32, 29),
    ]


class _AuxAction(ctypes.Union):
    _anonymous_ = ("_s_bits",)
    _fields_ = [
        ("aux_action", c_uint32),
        ("_s_bits", _AuxBits),
    ]


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` of perf_event_open(2) (PERF_ATTR_SIZE_VER8, 136
    bytes; the kernel accepts any size it knows, reading a shorter one as zeros)."""

    _anonymous_ = ("_u_period", "_u_wakeup", "_u_config1", "_u_config2", "_u_aux")
    _fields_ = [
        ("type", c_uint32),
        ("size", c_uint32),
        ("config", c_uint64),
        ("_u_period", _SamplePeriod),
        ("sample_type", c_uint64),
        ("read_format", c_uint64),
        ("disabled", c_uint64, 1),
        ("inherit", c_uint64, 1),
        ("pinned", c_uint64, 1),
        ("exclusive", c_uint64, 1),
        ("exclude_user", c_uint64, 1),
        ("exclude_kernel", c_uint64, 1),
        ("exclude_hv", c_uint64, 1),
        ("exclude_idle", c_uint64, 1),
        ("mmap", c_uint64, 1),
        ("comm", c_uint64, 1),
        ("freq", c_uint64, 1),
        ("inherit_stat", c_uint64, 1),
        ("enable_on_exec", c_uint64, 1),
        ("task", c_uint64, 1),
        ("watermark", c_uint64, 1),
        ("precise_ip", c_uint64, 2),
        ("mmap_data", c_uint64, 1),
        ("sample_id_all", c_uint64, 1),
        ("exclude_host", c_uint64, 1),
        ("exclude_guest", c_uint64, 1),
        ("exclude_callchain_kernel", c_uint64, 1),
        ("exclude_callchain_user", c_uint64, 1),
        ("mmap2", c_uint64, 1),
        ("comm_exec", c_uint64, 1),
        ("use_clockid", c_uint64, 1),
        ("context_switch", c_uint64, 1),
        ("write_backward", c_uint64, 1),
        ("namespaces", c_uint64, 1),
        ("ksymbol", c_uint64, 1),
        ("bpf_event", c_uint64, 1),
        ("aux_output", c_uint64, 1),
        ("cgroup", c_uint64, 1),
        ("text_poke", c_uint64, 1),
        ("build_id", c_uint64, 1),
        ("inherit_thread", c_uint64, 1),
        ("remove_on_exec", c_uint64, 1),
        ("sigtrap", c_uint64, 1),
        ("__reserved_1", c_uint64, 26),
        ("_u_wakeup", _Wakeup),
        ("bp_type", c_uint32),
        ("_u_config1", _Config1),
        ("_u_config2", _Config2),
        ("branch_sample_type", c_uint64),
        ("sample_regs_user", c_uint64),
        ("sample_stack_user", c_uint32),
        ("clockid", c_int32),
        ("sample_regs_intr", c_uint64),
        ("aux_watermark", c_uint32),
        ("sample_max_stack", c_uint16),
        ("__reserved_2", c_uint16),
        ("aux_sample_size", c_uint32),
        ("_u_aux", _AuxAction),
        ("sig_data", c_uint64),
        ("config3", c_uint64),
    ]
