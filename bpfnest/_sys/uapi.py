"""ctypes mirror of ``union bpf_attr`` and the info structs of the Linux 6.18 uapi.

Hand-written until ``tools/gen_uapi.py`` exists, so treat it as if it were
generated: one :class:`ctypes.Structure` per command family of
``union bpf_attr``, plus ``struct bpf_map_info``, ``struct bpf_prog_info`` and
``struct bpf_btf_info``, with the field names of ``include/uapi/linux/bpf.h``.
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

__all__ = [
    "ATTR_CLASSES",
    "BPF_F_RDONLY",
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
    "BpfMapInfo",
    "BpfProgInfo",
    "BtfLoadAttr",
    "Cmd",
    "GetIdAttr",
    "InfoAttr",
    "MapBatchAttr",
    "MapCreateAttr",
    "MapElemAttr",
    "ObjAttr",
    "ProgLoadAttr",
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
}
