"""The raw layouts of ``.BTF`` and ``.BTF.ext``: header and record formats.

Mirrors ``include/uapi/linux/btf.h`` and the ``btf_ext_header`` of libbpf
(``tools/lib/bpf/libbpf_internal.h``). Every layout is a
:class:`struct.Struct` compiled once per byte order; :data:`WIRE` maps
``"little"``/``"big"`` to them. Nothing here interprets values.
"""

from __future__ import annotations

import enum
import struct
from typing import Final, Literal

__all__ = [
    "BTF_MAGIC",
    "BTF_VERSION",
    "Kind",
    "WIRE",
    "Wire",
]

ByteOrder = Literal["little", "big"]

BTF_MAGIC: Final = 0xEB9F
BTF_VERSION: Final = 1

#: ``btf_header`` up to and including ``str_len``.
HEADER_SIZE: Final = 24
#: ``btf_ext_header`` up to ``line_info_len`` (the oldest layout libbpf accepts).
EXT_HEADER_MIN: Final = 24
#: ``btf_ext_header`` including ``core_relo_off``/``core_relo_len``.
EXT_HEADER_CORE: Final = 32

#: ``struct btf_type``: name_off, info, size/type.
TYPE_SIZE: Final = 12

# Bits of btf_type.info (btf.h: BTF_INFO_KIND/VLEN/KFLAG).
INFO_VLEN_MASK: Final = 0xFFFF
INFO_KIND_SHIFT: Final = 24
INFO_KIND_MASK: Final = 0x1F
INFO_KFLAG_SHIFT: Final = 31
#: Bits of ``info`` that btf.h marks unused (16-23 and 29-30); the kernel refuses them.
INFO_UNUSED_MASK: Final = 0x60FF0000

# Bits of the u32 following a BTF_KIND_INT.
INT_ENCODING_SHIFT: Final = 24
INT_ENCODING_MASK: Final = 0x0F
INT_OFFSET_SHIFT: Final = 16
INT_OFFSET_MASK: Final = 0xFF
INT_BITS_MASK: Final = 0xFF
INT_SIGNED: Final = 1 << 0
INT_CHAR: Final = 1 << 1
INT_BOOL: Final = 1 << 2

# btf_member.offset with kind_flag set: bitfield size in the top byte.
MEMBER_BITFIELD_SHIFT: Final = 24
MEMBER_OFFSET_MASK: Final = 0xFFFFFF

# bpf_line_info.line_col
LINE_SHIFT: Final = 10
COL_MASK: Final = 0x3FF


class Kind(enum.IntEnum):
    """``BTF_KIND_*``. Linux 6.18 still ends at ``ENUM64`` (its own vmlinux BTF
    says ``NR_BTF_KINDS = 20``)."""

    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


#: Bytes after ``struct btf_type`` per kind: (fixed, per vlen item).
EXTRA_SIZE: Final[dict[int, tuple[int, int]]] = {
    Kind.INT: (4, 0),
    Kind.PTR: (0, 0),
    Kind.ARRAY: (12, 0),
    Kind.STRUCT: (0, 12),
    Kind.UNION: (0, 12),
    Kind.ENUM: (0, 8),
    Kind.FWD: (0, 0),
    Kind.TYPEDEF: (0, 0),
    Kind.VOLATILE: (0, 0),
    Kind.CONST: (0, 0),
    Kind.RESTRICT: (0, 0),
    Kind.FUNC: (0, 0),
    Kind.FUNC_PROTO: (0, 8),
    Kind.VAR: (4, 0),
    Kind.DATASEC: (0, 12),
    Kind.FLOAT: (0, 0),
    Kind.DECL_TAG: (4, 0),
    Kind.TYPE_TAG: (0, 0),
    Kind.ENUM64: (0, 12),
}


class Wire:
    """Every BTF/BTF.ext layout in one byte order."""

    def __init__(self, byteorder: ByteOrder) -> None:
        p = "<" if byteorder == "little" else ">"
        self.byteorder: ByteOrder = byteorder
        #: magic, version, flags, hdr_len
        self.prefix = struct.Struct(p + "HBBI")
        #: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
        self.header = struct.Struct(p + "HBBIIIII")
        #: name_off, info, size_or_type
        self.type = struct.Struct(p + "III")
        self.u32 = struct.Struct(p + "I")
        self.s32 = struct.Struct(p + "i")
        #: btf_array: type, index_type, nelems
        self.array = struct.Struct(p + "III")
        #: btf_member: name_off, type, offset
        self.member = struct.Struct(p + "III")
        #: btf_enum: name_off, val (u32; sign comes from kind_flag)
        self.enum = struct.Struct(p + "II")
        #: btf_enum64: name_off, val_lo32, val_hi32
        self.enum64 = struct.Struct(p + "III")
        #: btf_param: name_off, type
        self.param = struct.Struct(p + "II")
        #: btf_var_secinfo: type, offset, size
        self.var_secinfo = struct.Struct(p + "III")
        #: btf_ext_header: magic, version, flags, hdr_len,
        #: func_info_off, func_info_len, line_info_off, line_info_len
        self.ext_header = struct.Struct(p + "HBBIIIII")
        #: core_relo_off, core_relo_len (when hdr_len >= 32)
        self.ext_core = struct.Struct(p + "II")
        #: btf_ext_info_sec: sec_name_off, num_info
        self.ext_info_sec = struct.Struct(p + "II")
        #: bpf_func_info: insn_off, type_id
        self.func_info = struct.Struct(p + "II")
        #: bpf_line_info: insn_off, file_name_off, line_off, line_col
        self.line_info = struct.Struct(p + "IIII")
        #: bpf_core_relo: insn_off, type_id, access_str_off, kind
        self.core_relo = struct.Struct(p + "IIII")


WIRE: Final[dict[str, Wire]] = {"little": Wire("little"), "big": Wire("big")}
