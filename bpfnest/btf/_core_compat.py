"""CO-RE: names and type compatibility, as libbpf's ``relo_core.c`` (pure; see :mod:`.core`)."""

from __future__ import annotations

from typing import Final

from .parse import BTF
from .types import (
    Array,
    Composite,
    Enum,
    Float,
    FuncProto,
    Fwd,
    Int,
    Pointer,
    Struct,
    Type,
    Union,
    Void,
)

__all__ = [
    "MAX_DEPTH",
    "compat_kind",
    "essential_name",
    "fields_compat",
    "types_compat",
    "types_match",
]

#: How deep type compatibility checks recurse.
MAX_DEPTH: Final = 32


def essential_name(name: str) -> str:
    """``name`` without its ``___flavor`` suffix (libbpf's ``bpf_core_essential_name_len``):
    ``"task_struct___v1"`` -> ``"task_struct"``."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return name[: i + 1]
    return name


def compat_kind(a: Type, b: Type) -> bool:
    """libbpf's ``btf_kind_core_compat``: the same kind, or two enums (32/64-bit)."""
    if isinstance(a, Enum) and isinstance(b, Enum):
        return True
    if isinstance(a, Fwd) and isinstance(b, Fwd):
        return True
    return type(a) is type(b)


def names_agree(a: str, b: str) -> bool:
    ea, eb = essential_name(a), essential_name(b)
    return not ea or not eb or ea == eb


def fields_compat(lb: BTF, lt: Type, tb: BTF, tt: Type) -> bool:
    for _ in range(MAX_DEPTH):
        lt, tt = lb.resolve(lt), tb.resolve(tt)
        if isinstance(lt, Composite) and isinstance(tt, Composite):
            return True
        if not compat_kind(lt, tt):
            return False
        if isinstance(lt, (Pointer, Float)):
            return True
        if isinstance(lt, (Fwd, Enum)):
            return names_agree(lt.name, tt.name)
        if isinstance(lt, Int):
            assert isinstance(tt, Int)
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if isinstance(lt, Array):
            assert isinstance(tt, Array)
            lt, tt = lt.type, tt.type
            continue
        return False
    return False


def types_compat(lb: BTF, lt: Type, tb: BTF, tt: Type, depth: int = MAX_DEPTH) -> bool:
    while depth > 0:
        depth -= 1
        lt, tt = lb.resolve(lt), tb.resolve(tt)
        if not compat_kind(lt, tt):
            return False
        if isinstance(lt, (Void, Composite, Enum, Fwd, Float)):
            return True
        if isinstance(lt, Int):
            assert isinstance(tt, Int)
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if isinstance(lt, Pointer):
            assert isinstance(tt, Pointer)
            lt, tt = lt.target, tt.target
        elif isinstance(lt, Array):
            assert isinstance(tt, Array)
            lt, tt = lt.type, tt.type
        elif isinstance(lt, FuncProto):
            assert isinstance(tt, FuncProto)
            if len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_compat(lb, lp.type, tb, tp.type, depth):
                    return False
            lt, tt = lt.return_type, tt.return_type
        else:
            return False
    return False


def types_match(
    lb: BTF, lt: Type, tb: BTF, tt: Type, behind_ptr: bool = False, depth: int = MAX_DEPTH
) -> bool:
    """libbpf's ``bpf_coretypes_match``: layouts that agree member by member."""
    while depth > 0:
        depth -= 1
        lt, tt = lb.resolve(lt), tb.resolve(tt)
        if lt.name and essential_name(lt.name) != essential_name(tt.name):
            return False
        if isinstance(lt, Void):
            return isinstance(tt, Void)
        if isinstance(lt, Fwd):
            if isinstance(tt, Fwd):
                return lt.kind == tt.kind
            return behind_ptr and isinstance(tt, Struct if lt.kind == "struct" else Union)
        if isinstance(lt, Enum):
            if not isinstance(tt, Enum) or lt.size != tt.size:
                return False
            names = {essential_name(v.name) for v in tt.values}
            return all(essential_name(v.name) in names for v in lt.values)
        if isinstance(lt, Composite):
            if behind_ptr:
                if type(lt) is type(tt):
                    return True
                return isinstance(tt, Fwd) and (tt.kind == "union") == isinstance(lt, Union)
            if type(lt) is not type(tt):
                return False
            assert isinstance(tt, Composite)
            if len(lt.members) > len(tt.members):
                return False
            by_name = {m.name: m for m in tt.members}
            for m in lt.members:
                other = by_name.get(m.name)
                if other is None or not types_match(lb, m.type, tb, other.type, False, depth):
                    return False
            return True
        if isinstance(lt, Int):
            return isinstance(tt, Int) and lt.size == tt.size and lt.signed == tt.signed
        if isinstance(lt, Pointer):
            if not isinstance(tt, Pointer):
                return False
            behind_ptr = True
            lt, tt = lt.target, tt.target
        elif isinstance(lt, Array):
            if not isinstance(tt, Array) or lt.nelems != tt.nelems:
                return False
            lt, tt = lt.type, tt.type
        elif isinstance(lt, FuncProto):
            if not isinstance(tt, FuncProto) or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_match(lb, lp.type, tb, tp.type, behind_ptr, depth):
                    return False
            lt, tt = lt.return_type, tt.return_type
        else:
            return False
    return False
