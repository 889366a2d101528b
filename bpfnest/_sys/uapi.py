"""ctypes mirror of ``union bpf_attr`` and the info structs of the Linux 6.18 uapi.

Hand-written until ``tools/gen_uapi.py`` exists, so treat it as if it were
generated: one :class:`ctypes.Structure` per command family of
``union bpf_attr``, plus ``struct bpf_map_info``, ``struct bpf_prog_info`` and
``struct bpf_btf_info``, with the field names of ``include/uapi/linux/bpf.h``; and
``struct perf_event_attr`` of ``perf_event.h`` for attaching to perf events.
Pointers (``__aligned_u64``) are ``c_uint64`` holding an address. Nested
anonymous unions are ``_anonymous_`` members, so ``attr.value`` and
``attr.next_key`` both work.

``tests/test_uapi.py`` checks every offset, field size, signedness and
structure size here against what clang computes with ``offsetof``/``sizeof``
for the system ``<linux/bpf.h>`` and for the running kernel's BTF
(``bpftool btf dump ... format c``). It also checks that no field of the
kernel's structs is missing here. A wrong layout corrupts memory without any
error, so keep those tests green when editing this file.

Every class is exactly as large as its C struct, not as ``union bpf_attr``.
The kernel accepts a shorter attr and treats the missing tail as zero.
"""

from __future__ import annotations

import ctypes
import enum
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

from .uapi_perf import PerfEventAttr
from .uapi_query import EnableStatsAttr, ProgQueryAttr, TaskFdQueryAttr

__all__ = [
    "ATTR_CLASSES",
    "BPF_F_ALLOW_MULTI",
    "BPF_F_ALLOW_OVERRIDE",
    "BPF_F_RDONLY",
    "BPF_F_REPLACE",
    "BPF_F_TEST_RUN_ON_CPU",
    "BPF_F_TEST_XDP_LIVE_FRAMES",
    "BPF_F_WRONLY",
    "BPF_OBJ_NAME_LEN",
    "BPF_PSEUDO_BTF_ID",
    "BPF_PSEUDO_CALL",
    "BPF_PSEUDO_FUNC",
    "BPF_PSEUDO_KFUNC_CALL",
    "BPF_PSEUDO_MAP_FD",
    "BPF_PSEUDO_MAP_IDX",
    "BPF_PSEUDO_MAP_IDX_VALUE",
    "BPF_PSEUDO_MAP_VALUE",
    "BPF_TAG_SIZE",
    "BpfBtfInfo",
    "BpfLinkInfo",
    "BpfMapInfo",
    "BpfProgInfo",
    "BtfLoadAttr",
    "Cmd",
    "GetIdAttr",
    "InfoAttr",
    "LinkCreateAttr",
    "LinkCreateCgroup",
    "LinkCreateKprobeMulti",
    "LinkCreateNetfilter",
    "LinkCreateNetkit",
    "LinkCreatePerfEvent",
    "LinkCreateTcx",
    "LinkCreateTracing",
    "LinkCreateUprobeMulti",
    "LinkDetachAttr",
    "LinkInfoCgroup",
    "LinkInfoIter",
    "LinkInfoIterCgroup",
    "LinkInfoIterMap",
    "LinkInfoIterTask",
    "LinkInfoKprobeMulti",
    "LinkInfoNetfilter",
    "LinkInfoNetkit",
    "LinkInfoNetns",
    "LinkInfoPerfEvent",
    "LinkInfoPerfEventEvent",
    "LinkInfoPerfKprobe",
    "LinkInfoPerfTracepoint",
    "LinkInfoPerfUprobe",
    "LinkInfoRawTracepoint",
    "LinkInfoSockmap",
    "LinkInfoStructOps",
    "LinkInfoTcx",
    "LinkInfoTracing",
    "LinkInfoUprobeMulti",
    "LinkInfoXdp",
    "LinkUpdateAttr",
    "MapBatchAttr",
    "MapCreateAttr",
    "MapElemAttr",
    "ObjAttr",
    "PerfEventAttr",
    "ProgAttachAttr",
    "ProgLoadAttr",
    "RawTracepointAttr",
    "TestRunAttr",
]


class Cmd(enum.IntEnum):
    """``enum bpf_cmd``: the first argument of bpf(2)."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_RUN = 10  # alias of PROG_TEST_RUN, as in bpf.h
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35
    TOKEN_CREATE = 36
    PROG_STREAM_READ_BY_FD = 37


# --- constants -------------------------------------------------------------

BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8

# File flags: BPF_OBJ_GET file_flags and *_GET_FD_BY_ID open_flags.
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4

# BPF_PROG_TEST_RUN flags.
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1

# src_reg of the first half of a BPF_LD_IMM64 instruction.
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6

# src_reg of a BPF_CALL instruction.
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2


# --- union bpf_attr ----------------------------------------------------------


class MapCreateAttr(ctypes.Structure):
    """BPF_MAP_CREATE (anonymous struct of ``union bpf_attr``)."""

    _fields_ = [
        ("map_type", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("inner_map_fd", c_uint32),
        ("numa_node", c_uint32),
        ("map_name", c_char * BPF_OBJ_NAME_LEN),
        ("map_ifindex", c_uint32),
        ("btf_fd", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("map_extra", c_uint64),
        ("value_type_btf_obj_fd", c_int32),
        ("map_token_fd", c_int32),
        ("excl_prog_hash", c_uint64),
        ("excl_prog_hash_size", c_uint32),
    ]


class _ElemValue(ctypes.Union):
    _fields_ = [
        ("value", c_uint64),
        ("next_key", c_uint64),
    ]


class MapElemAttr(ctypes.Structure):
    """BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE."""

    _anonymous_ = ("_u_value",)
    _fields_ = [
        ("map_fd", c_uint32),
        ("key", c_uint64),
        ("_u_value", _ElemValue),
        ("flags", c_uint64),
    ]


class MapBatchAttr(ctypes.Structure):
    """BPF_MAP_*_BATCH (``union bpf_attr.batch``)."""

    _fields_ = [
        ("in_batch", c_uint64),
        ("out_batch", c_uint64),
        ("keys", c_uint64),
        ("values", c_uint64),
        ("count", c_uint32),
        ("map_fd", c_uint32),
        ("elem_flags", c_uint64),
        ("flags", c_uint64),
    ]


class _AttachProg(ctypes.Union):
    _fields_ = [
        ("attach_prog_fd", c_uint32),
        ("attach_btf_obj_fd", c_uint32),
    ]


class ProgLoadAttr(ctypes.Structure):
    """BPF_PROG_LOAD (anonymous struct of ``union bpf_attr``)."""

    _anonymous_ = ("_u_attach",)
    _fields_ = [
        ("prog_type", c_uint32),
        ("insn_cnt", c_uint32),
        ("insns", c_uint64),
        ("license", c_uint64),
        ("log_level", c_uint32),
        ("log_size", c_uint32),
        ("log_buf", c_uint64),
        ("kern_version", c_uint32),
        ("prog_flags", c_uint32),
        ("prog_name", c_char * BPF_OBJ_NAME_LEN),
        ("prog_ifindex", c_uint32),
        ("expected_attach_type", c_uint32),
        ("prog_btf_fd", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("func_info_cnt", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("line_info", c_uint64),
        ("line_info_cnt", c_uint32),
        ("attach_btf_id", c_uint32),
        ("_u_attach", _AttachProg),
        ("core_relo_cnt", c_uint32),
        ("fd_array", c_uint64),
        ("core_relos", c_uint64),
        ("core_relo_rec_size", c_uint32),
        ("log_true_size", c_uint32),
        ("prog_token_fd", c_int32),
        ("fd_array_cnt", c_uint32),
        ("signature", c_uint64),
        ("signature_size", c_uint32),
        ("keyring_id", c_int32),
    ]


class ObjAttr(ctypes.Structure):
    """BPF_OBJ_PIN and BPF_OBJ_GET (anonymous struct of ``union bpf_attr``)."""

    _fields_ = [
        ("pathname", c_uint64),
        ("bpf_fd", c_uint32),
        ("file_flags", c_uint32),
        ("path_fd", c_int32),
    ]


class TestRunAttr(ctypes.Structure):
    """BPF_PROG_TEST_RUN (``union bpf_attr.test``)."""

    __test__ = False  # not a pytest test class, despite the name

    _fields_ = [
        ("prog_fd", c_uint32),
        ("retval", c_uint32),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("data_in", c_uint64),
        ("data_out", c_uint64),
        ("repeat", c_uint32),
        ("duration", c_uint32),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("ctx_in", c_uint64),
        ("ctx_out", c_uint64),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


class _StartId(ctypes.Union):
    _fields_ = [
        ("start_id", c_uint32),
        ("prog_id", c_uint32),
        ("map_id", c_uint32),
        ("btf_id", c_uint32),
        ("link_id", c_uint32),
    ]


class GetIdAttr(ctypes.Structure):
    """BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID (anonymous struct of ``union bpf_attr``)."""

    _anonymous_ = ("_u_id",)
    _fields_ = [
        ("_u_id", _StartId),
        ("next_id", c_uint32),
        ("open_flags", c_uint32),
        ("fd_by_id_token_fd", c_int32),
    ]


class InfoAttr(ctypes.Structure):
    """BPF_OBJ_GET_INFO_BY_FD (``union bpf_attr.info``)."""

    _fields_ = [
        ("bpf_fd", c_uint32),
        ("info_len", c_uint32),
        ("info", c_uint64),
    ]


class BtfLoadAttr(ctypes.Structure):
    """BPF_BTF_LOAD (anonymous struct of ``union bpf_attr``)."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_log_buf", c_uint64),
        ("btf_size", c_uint32),
        ("btf_log_size", c_uint32),
        ("btf_log_level", c_uint32),
        ("btf_log_true_size", c_uint32),
        ("btf_flags", c_uint32),
        ("btf_token_fd", c_int32),
    ]


# --- BPF_OBJ_GET_INFO_BY_FD results -----------------------------------------


class BpfMapInfo(ctypes.Structure):
    """``struct bpf_map_info``."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("btf_id", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_id", c_uint32),
        ("map_extra", c_uint64),
        ("hash", c_uint64),
        ("hash_size", c_uint32),
    ]


class BpfProgInfo(ctypes.Structure):
    """``struct bpf_prog_info``."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", c_uint8 * BPF_TAG_SIZE),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        # C: `__u32 gpl_compatible:1; __u32 :31;` - the pad is left to alignment.
        ("gpl_compatible", c_uint32, 1),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
        ("attach_btf_obj_id", c_uint32),
        ("attach_btf_id", c_uint32),
    ]


class BpfBtfInfo(ctypes.Structure):
    """``struct bpf_btf_info``."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_size", c_uint32),
        ("id", c_uint32),
        ("name", c_uint64),
        ("name_len", c_uint32),
        ("kernel_btf", c_uint32),
    ]


# --- links and attaching (BPF_LINK_*, BPF_PROG_ATTACH, BPF_RAW_TRACEPOINT_OPEN) --

# attach_flags of BPF_PROG_ATTACH (cgroups) and flags of BPF_LINK_UPDATE.
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2


class _TargetFd(ctypes.Union):
    _fields_ = [
        ("target_fd", c_uint32),
        ("target_ifindex", c_uint32),
    ]


class _Relative(ctypes.Union):
    _fields_ = [
        ("relative_fd", c_uint32),
        ("relative_id", c_uint32),
    ]


class ProgAttachAttr(ctypes.Structure):
    """BPF_PROG_ATTACH and BPF_PROG_DETACH (anonymous struct of ``union bpf_attr``)."""

    _anonymous_ = ("_u_target", "_u_relative")
    _fields_ = [
        ("_u_target", _TargetFd),
        ("attach_bpf_fd", c_uint32),
        ("attach_type", c_uint32),
        ("attach_flags", c_uint32),
        ("replace_bpf_fd", c_uint32),
        ("_u_relative", _Relative),
        ("expected_revision", c_uint64),
    ]


class RawTracepointAttr(ctypes.Structure):
    """BPF_RAW_TRACEPOINT_OPEN (``union bpf_attr.raw_tracepoint``)."""

    _fields_ = [
        ("name", c_uint64),
        ("prog_fd", c_uint32),
        ("cookie", c_uint64),
    ]


class LinkCreatePerfEvent(ctypes.Structure):
    """``link_create.perf_event``: BPF_PERF_EVENT links (5.15)."""

    _fields_ = [("bpf_cookie", c_uint64)]


class LinkCreateKprobeMulti(ctypes.Structure):
    """``link_create.kprobe_multi``."""

    _fields_ = [
        ("flags", c_uint32),
        ("cnt", c_uint32),
        ("syms", c_uint64),
        ("addrs", c_uint64),
        ("cookies", c_uint64),
    ]


class LinkCreateTracing(ctypes.Structure):
    """``link_create.tracing``: fentry/fexit/fmod_ret/lsm/tp_btf links."""

    _fields_ = [
        ("target_btf_id", c_uint32),
        ("cookie", c_uint64),
    ]


class LinkCreateNetfilter(ctypes.Structure):
    """``link_create.netfilter``."""

    _fields_ = [
        ("pf", c_uint32),
        ("hooknum", c_uint32),
        ("priority", c_int32),
        ("flags", c_uint32),
    ]


class LinkCreateTcx(ctypes.Structure):
    """``link_create.tcx``: BPF_TCX_INGRESS/EGRESS ordering (6.6)."""

    _anonymous_ = ("_u_relative",)
    _fields_ = [
        ("_u_relative", _Relative),
        ("expected_revision", c_uint64),
    ]


class LinkCreateUprobeMulti(ctypes.Structure):
    """``link_create.uprobe_multi``."""

    _fields_ = [
        ("path", c_uint64),
        ("offsets", c_uint64),
        ("ref_ctr_offsets", c_uint64),
        ("cookies", c_uint64),
        ("cnt", c_uint32),
        ("flags", c_uint32),
        ("pid", c_uint32),
    ]


class LinkCreateNetkit(ctypes.Structure):
    """``link_create.netkit``."""

    _anonymous_ = ("_u_relative",)
    _fields_ = [
        ("_u_relative", _Relative),
        ("expected_revision", c_uint64),
    ]


class LinkCreateCgroup(ctypes.Structure):
    """``link_create.cgroup``: ordering of cgroup links (6.12)."""

    _anonymous_ = ("_u_relative",)
    _fields_ = [
        ("_u_relative", _Relative),
        ("expected_revision", c_uint64),
    ]


class _ProgOrMap(ctypes.Union):
    _fields_ = [
        ("prog_fd", c_uint32),
        ("map_fd", c_uint32),
    ]


class _LinkIterInfo(ctypes.Structure):
    _fields_ = [
        ("iter_info", c_uint64),
        ("iter_info_len", c_uint32),
    ]


class _LinkCreateTarget(ctypes.Union):
    _anonymous_ = ("_s_iter",)
    _fields_ = [
        ("target_btf_id", c_uint32),
        ("_s_iter", _LinkIterInfo),
        ("perf_event", LinkCreatePerfEvent),
        ("kprobe_multi", LinkCreateKprobeMulti),
        ("tracing", LinkCreateTracing),
        ("netfilter", LinkCreateNetfilter),
        ("tcx", LinkCreateTcx),
        ("uprobe_multi", LinkCreateUprobeMulti),
        ("netkit", LinkCreateNetkit),
        ("cgroup", LinkCreateCgroup),
    ]


class LinkCreateAttr(ctypes.Structure):
    """BPF_LINK_CREATE (``union bpf_attr.link_create``)."""

    _anonymous_ = ("_u_prog", "_u_target", "_u_opts")
    _fields_ = [
        ("_u_prog", _ProgOrMap),
        ("_u_target", _TargetFd),
        ("attach_type", c_uint32),
        ("flags", c_uint32),
        ("_u_opts", _LinkCreateTarget),
    ]


class _NewProg(ctypes.Union):
    _fields_ = [
        ("new_prog_fd", c_uint32),
        ("new_map_fd", c_uint32),
    ]


class _OldProg(ctypes.Union):
    _fields_ = [
        ("old_prog_fd", c_uint32),
        ("old_map_fd", c_uint32),
    ]


class LinkUpdateAttr(ctypes.Structure):
    """BPF_LINK_UPDATE (``union bpf_attr.link_update``)."""

    _anonymous_ = ("_u_new", "_u_old")
    _fields_ = [
        ("link_fd", c_uint32),
        ("_u_new", _NewProg),
        ("flags", c_uint32),
        ("_u_old", _OldProg),
    ]


class LinkDetachAttr(ctypes.Structure):
    """BPF_LINK_DETACH (``union bpf_attr.link_detach``)."""

    _fields_ = [("link_fd", c_uint32)]


class IterCreateAttr(ctypes.Structure):
    """BPF_ITER_CREATE (``union bpf_attr.iter_create``)."""

    _fields_ = [("link_fd", c_uint32), ("flags", c_uint32)]


# --- struct bpf_link_info ------------------------------------------------------


class LinkInfoRawTracepoint(ctypes.Structure):
    """``bpf_link_info.raw_tracepoint``: ``tp_name`` is an in/out buffer."""

    _fields_ = [
        ("tp_name", c_uint64),
        ("tp_name_len", c_uint32),
        ("cookie", c_uint64),
    ]


class LinkInfoTracing(ctypes.Structure):
    """``bpf_link_info.tracing``."""

    _fields_ = [
        ("attach_type", c_uint32),
        ("target_obj_id", c_uint32),
        ("target_btf_id", c_uint32),
        ("cookie", c_uint64),
    ]


class LinkInfoCgroup(ctypes.Structure):
    """``bpf_link_info.cgroup``."""

    _fields_ = [
        ("cgroup_id", c_uint64),
        ("attach_type", c_uint32),
    ]


class LinkInfoIterMap(ctypes.Structure):
    """``bpf_link_info.iter.map``."""

    _fields_ = [("map_id", c_uint32)]


class LinkInfoIterCgroup(ctypes.Structure):
    """``bpf_link_info.iter.cgroup``."""

    _fields_ = [
        ("cgroup_id", c_uint64),
        ("order", c_uint32),
    ]


class LinkInfoIterTask(ctypes.Structure):
    """``bpf_link_info.iter.task``."""

    _fields_ = [
        ("tid", c_uint32),
        ("pid", c_uint32),
    ]


class _IterTarget1(ctypes.Union):
    _fields_ = [("map", LinkInfoIterMap)]


class _IterTarget2(ctypes.Union):
    _fields_ = [
        ("cgroup", LinkInfoIterCgroup),
        ("task", LinkInfoIterTask),
    ]


class LinkInfoIter(ctypes.Structure):
    """``bpf_link_info.iter``: ``target_name`` is an in/out buffer."""

    _anonymous_ = ("_u_1", "_u_2")
    _fields_ = [
        ("target_name", c_uint64),
        ("target_name_len", c_uint32),
        ("_u_1", _IterTarget1),
        ("_u_2", _IterTarget2),
    ]


class LinkInfoNetns(ctypes.Structure):
    """``bpf_link_info.netns``."""

    _fields_ = [
        ("netns_ino", c_uint32),
        ("attach_type", c_uint32),
    ]


class LinkInfoXdp(ctypes.Structure):
    """``bpf_link_info.xdp``."""

    _fields_ = [("ifindex", c_uint32)]


class LinkInfoStructOps(ctypes.Structure):
    """``bpf_link_info.struct_ops``."""

    _fields_ = [("map_id", c_uint32)]


class LinkInfoNetfilter(ctypes.Structure):
    """``bpf_link_info.netfilter``."""

    _fields_ = [
        ("pf", c_uint32),
        ("hooknum", c_uint32),
        ("priority", c_int32),
        ("flags", c_uint32),
    ]


class LinkInfoKprobeMulti(ctypes.Structure):
    """``bpf_link_info.kprobe_multi``."""

    _fields_ = [
        ("addrs", c_uint64),
        ("count", c_uint32),
        ("flags", c_uint32),
        ("missed", c_uint64),
        ("cookies", c_uint64),
    ]


class LinkInfoUprobeMulti(ctypes.Structure):
    """``bpf_link_info.uprobe_multi``."""

    _fields_ = [
        ("path", c_uint64),
        ("offsets", c_uint64),
        ("ref_ctr_offsets", c_uint64),
        ("cookies", c_uint64),
        ("path_size", c_uint32),
        ("count", c_uint32),
        ("flags", c_uint32),
        ("pid", c_uint32),
    ]


class LinkInfoPerfUprobe(ctypes.Structure):
    """``bpf_link_info.perf_event.uprobe``: ``file_name`` is an in/out buffer."""

    _fields_ = [
        ("file_name", c_uint64),
        ("name_len", c_uint32),
        ("offset", c_uint32),
        ("cookie", c_uint64),
        ("ref_ctr_offset", c_uint64),
    ]


class LinkInfoPerfKprobe(ctypes.Structure):
    """``bpf_link_info.perf_event.kprobe``: ``func_name`` is an in/out buffer."""

    _fields_ = [
        ("func_name", c_uint64),
        ("name_len", c_uint32),
        ("offset", c_uint32),
        ("addr", c_uint64),
        ("missed", c_uint64),
        ("cookie", c_uint64),
    ]


class LinkInfoPerfTracepoint(ctypes.Structure):
    """``bpf_link_info.perf_event.tracepoint``: ``tp_name`` is an in/out buffer."""

    # C: `__u32 name_len; __u32 :32;` - the pad is left to alignment.
    _fields_ = [
        ("tp_name", c_uint64),
        ("name_len", c_uint32),
        ("cookie", c_uint64),
    ]


class LinkInfoPerfEventEvent(ctypes.Structure):
    """``bpf_link_info.perf_event.event``."""

    _fields_ = [
        ("config", c_uint64),
        ("type", c_uint32),
        ("cookie", c_uint64),
    ]


class _PerfEventKind(ctypes.Union):
    _fields_ = [
        ("uprobe", LinkInfoPerfUprobe),
        ("kprobe", LinkInfoPerfKprobe),
        ("tracepoint", LinkInfoPerfTracepoint),
        ("event", LinkInfoPerfEventEvent),
    ]


class LinkInfoPerfEvent(ctypes.Structure):
    """``bpf_link_info.perf_event``: ``type`` is an ``enum bpf_perf_event_type``."""

    # C: `__u32 type; __u32 :32;` - the pad is left to alignment.
    _anonymous_ = ("_u_kind",)
    _fields_ = [
        ("type", c_uint32),
        ("_u_kind", _PerfEventKind),
    ]


class LinkInfoTcx(ctypes.Structure):
    """``bpf_link_info.tcx``."""

    _fields_ = [
        ("ifindex", c_uint32),
        ("attach_type", c_uint32),
    ]


class LinkInfoNetkit(ctypes.Structure):
    """``bpf_link_info.netkit``."""

    _fields_ = [
        ("ifindex", c_uint32),
        ("attach_type", c_uint32),
    ]


class LinkInfoSockmap(ctypes.Structure):
    """``bpf_link_info.sockmap``."""

    _fields_ = [
        ("map_id", c_uint32),
        ("attach_type", c_uint32),
    ]


class _LinkInfoKind(ctypes.Union):
    _fields_ = [
        ("raw_tracepoint", LinkInfoRawTracepoint),
        ("tracing", LinkInfoTracing),
        ("cgroup", LinkInfoCgroup),
        ("iter", LinkInfoIter),
        ("netns", LinkInfoNetns),
        ("xdp", LinkInfoXdp),
        ("struct_ops", LinkInfoStructOps),
        ("netfilter", LinkInfoNetfilter),
        ("kprobe_multi", LinkInfoKprobeMulti),
        ("uprobe_multi", LinkInfoUprobeMulti),
        ("perf_event", LinkInfoPerfEvent),
        ("tcx", LinkInfoTcx),
        ("netkit", LinkInfoNetkit),
        ("sockmap", LinkInfoSockmap),
    ]


class BpfLinkInfo(ctypes.Structure):
    """``struct bpf_link_info``: ``type`` is an ``enum bpf_link_type``; the union
    member that holds data is the one of that type."""

    _anonymous_ = ("_u_kind",)
    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("prog_id", c_uint32),
        ("_u_kind", _LinkInfoKind),
    ]


# --- struct perf_event_attr (include/uapi/linux/perf_event.h) ------------------


# Every Structure above -> (class, C path): "<C type>" or "<C type>.<member>".
# tests/test_uapi.py checks each one against clang and the kernel's BTF.
# "union bpf_attr" alone means an anonymous struct of the union, whose
# members are reached as members of the union itself.
ATTR_CLASSES: dict[str, tuple[type[ctypes.Structure], str]] = {
    "MapCreateAttr": (MapCreateAttr, "union bpf_attr"),
    "MapElemAttr": (MapElemAttr, "union bpf_attr"),
    "MapBatchAttr": (MapBatchAttr, "union bpf_attr.batch"),
    "ProgLoadAttr": (ProgLoadAttr, "union bpf_attr"),
    "ObjAttr": (ObjAttr, "union bpf_attr"),
    "TestRunAttr": (TestRunAttr, "union bpf_attr.test"),
    "GetIdAttr": (GetIdAttr, "union bpf_attr"),
    "InfoAttr": (InfoAttr, "union bpf_attr.info"),
    "BtfLoadAttr": (BtfLoadAttr, "union bpf_attr"),
    "BpfMapInfo": (BpfMapInfo, "struct bpf_map_info"),
    "BpfProgInfo": (BpfProgInfo, "struct bpf_prog_info"),
    "BpfBtfInfo": (BpfBtfInfo, "struct bpf_btf_info"),
    "ProgAttachAttr": (ProgAttachAttr, "union bpf_attr"),
    "RawTracepointAttr": (RawTracepointAttr, "union bpf_attr.raw_tracepoint"),
    "ProgQueryAttr": (ProgQueryAttr, "union bpf_attr.query"),
    "TaskFdQueryAttr": (TaskFdQueryAttr, "union bpf_attr.task_fd_query"),
    "EnableStatsAttr": (EnableStatsAttr, "union bpf_attr.enable_stats"),
    "LinkCreateAttr": (LinkCreateAttr, "union bpf_attr.link_create"),
    "LinkCreatePerfEvent": (LinkCreatePerfEvent, "union bpf_attr.link_create.perf_event"),
    "LinkCreateKprobeMulti": (LinkCreateKprobeMulti, "union bpf_attr.link_create.kprobe_multi"),
    "LinkCreateTracing": (LinkCreateTracing, "union bpf_attr.link_create.tracing"),
    "LinkCreateNetfilter": (LinkCreateNetfilter, "union bpf_attr.link_create.netfilter"),
    "LinkCreateTcx": (LinkCreateTcx, "union bpf_attr.link_create.tcx"),
    "LinkCreateUprobeMulti": (LinkCreateUprobeMulti, "union bpf_attr.link_create.uprobe_multi"),
    "LinkCreateNetkit": (LinkCreateNetkit, "union bpf_attr.link_create.netkit"),
    "LinkCreateCgroup": (LinkCreateCgroup, "union bpf_attr.link_create.cgroup"),
    "LinkUpdateAttr": (LinkUpdateAttr, "union bpf_attr.link_update"),
    "LinkDetachAttr": (LinkDetachAttr, "union bpf_attr.link_detach"),
    "IterCreateAttr": (IterCreateAttr, "union bpf_attr.iter_create"),
    "BpfLinkInfo": (BpfLinkInfo, "struct bpf_link_info"),
    "LinkInfoRawTracepoint": (LinkInfoRawTracepoint, "struct bpf_link_info.raw_tracepoint"),
    "LinkInfoTracing": (LinkInfoTracing, "struct bpf_link_info.tracing"),
    "LinkInfoCgroup": (LinkInfoCgroup, "struct bpf_link_info.cgroup"),
    "LinkInfoIter": (LinkInfoIter, "struct bpf_link_info.iter"),
    "LinkInfoIterMap": (LinkInfoIterMap, "struct bpf_link_info.iter.map"),
    "LinkInfoIterCgroup": (LinkInfoIterCgroup, "struct bpf_link_info.iter.cgroup"),
    "LinkInfoIterTask": (LinkInfoIterTask, "struct bpf_link_info.iter.task"),
    "LinkInfoNetns": (LinkInfoNetns, "struct bpf_link_info.netns"),
    "LinkInfoXdp": (LinkInfoXdp, "struct bpf_link_info.xdp"),
    "LinkInfoStructOps": (LinkInfoStructOps, "struct bpf_link_info.struct_ops"),
    "LinkInfoNetfilter": (LinkInfoNetfilter, "struct bpf_link_info.netfilter"),
    "LinkInfoKprobeMulti": (LinkInfoKprobeMulti, "struct bpf_link_info.kprobe_multi"),
    "LinkInfoUprobeMulti": (LinkInfoUprobeMulti, "struct bpf_link_info.uprobe_multi"),
    "LinkInfoPerfEvent": (LinkInfoPerfEvent, "struct bpf_link_info.perf_event"),
    "LinkInfoPerfUprobe": (LinkInfoPerfUprobe, "struct bpf_link_info.perf_event.uprobe"),
    "LinkInfoPerfKprobe": (LinkInfoPerfKprobe, "struct bpf_link_info.perf_event.kprobe"),
    "LinkInfoPerfTracepoint": (
        LinkInfoPerfTracepoint,
        "struct bpf_link_info.perf_event.tracepoint",
    ),
    "LinkInfoPerfEventEvent": (LinkInfoPerfEventEvent, "struct bpf_link_info.perf_event.event"),
    "LinkInfoTcx": (LinkInfoTcx, "struct bpf_link_info.tcx"),
    "LinkInfoNetkit": (LinkInfoNetkit, "struct bpf_link_info.netkit"),
    "LinkInfoSockmap": (LinkInfoSockmap, "struct bpf_link_info.sockmap"),
    "PerfEventAttr": (PerfEventAttr, "struct perf_event_attr"),
}
