"""BTF and BTF.ext: parse the type information of BPF objects and kernels.

:meth:`BTF.parse` turns a ``.BTF`` section (or ``/sys/kernel/btf/vmlinux``)
into a graph of :mod:`bpfnest.btf.types` objects (:meth:`LazyBTF.parse`
indexes it and decodes types on demand: the kernel's BTF); :func:`parse_ext` reads the
``.BTF.ext`` section beside it. Pure: no kernel, no ctypes, only ``struct``.
Malformed input raises :class:`bpfnest.errors.ParseError`.
"""

from __future__ import annotations

from .ext import (
    BTFExt,
    CoreRelo,
    FuncInfo,
    LineInfo,
    encode_func_info,
    encode_line_info,
    parse_ext,
)
from .lazy import LazyBTF
from .parse import BTF
from .types import (
    VOID,
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Linkage,
    Member,
    Param,
    Pointer,
    Qualifier,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarSecinfo,
    Void,
    Volatile,
)

__all__ = [
    "BTF",
    "VOID",
    "Array",
    "BTFExt",
    "Composite",
    "Const",
    "CoreRelo",
    "Datasec",
    "DeclTag",
    "Enum",
    "EnumValue",
    "Float",
    "Func",
    "FuncInfo",
    "FuncProto",
    "Fwd",
    "Int",
    "LazyBTF",
    "LineInfo",
    "Linkage",
    "Member",
    "Param",
    "Pointer",
    "Qualifier",
    "Restrict",
    "Struct",
    "Type",
    "TypeTag",
    "Typedef",
    "Union",
    "Var",
    "VarSecinfo",
    "Void",
    "Volatile",
    "encode_func_info",
    "encode_line_info",
    "parse_ext",
]
