"""The types :class:`bpfnest.btf.LazyBTF` decodes: subclasses of the
:mod:`bpfnest.btf.types` classes whose references are type ids, decoded
(once, by the BTF) when the attribute is read. Private to ``lazy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, TypeVar, overload

from . import _wire as w
from .types import (
    Array,
    Const,
    DeclTag,
    Func,
    FuncProto,
    Linkage,
    Member,
    Param,
    Pointer,
    Restrict,
    Type,
    Typedef,
    TypeTag,
    Var,
    VarSecinfo,
    Volatile,
)

if TYPE_CHECKING:
    from .lazy import LazyBTF

T = TypeVar("T", bound=Type)
_K = w.Kind


class _Ref(Generic[T]):
    """A reference attribute (``Pointer.target``, ``Member.type``, ...) of a
    lazily decoded type: the slot ``_<name>`` holds the id, reading the
    attribute decodes (once) and returns the type. Read-only."""

    def __init__(self, want: type[T]) -> None:
        self.want = want
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, obj: None, owner: Any) -> _Ref[T]: ...

    @overload
    def __get__(self, obj: object, owner: Any) -> T: ...

    def __get__(self, obj: object | None, owner: Any) -> T | _Ref[T]:
        if obj is None:
            return self
        btf: LazyBTF = obj._btf  # type: ignore[attr-defined]
        t = btf.type_by_id(getattr(obj, self.slot))
        assert isinstance(t, self.want)  # checked when the record was decoded
        return t

    def __set__(self, obj: object, value: T) -> NoReturn:
        raise AttributeError(f"{type(obj).__name__}.{self.slot[1:]} is read-only")


class _LazyPointer(Pointer):
    __slots__ = ("_btf", "_target")
    target = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, ref: int) -> None:
        self.id, self.name, self._btf, self._target = tid, "", btf, ref


class _LazyArray(Array):
    __slots__ = ("_btf", "_index_type", "_type")
    type = _Ref(Type)
    index_type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, elem: int, index: int, nelems: int) -> None:
        self.id, self.name, self._btf = tid, "", btf
        self._type, self._index_type, self.nelems = elem, index, nelems


class _LazyTypedef(Typedef):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref


class _LazyVolatile(Volatile):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref


class _LazyConst(Const):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref


class _LazyRestrict(Restrict):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref


class _LazyTypeTag(TypeTag):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int, attribute: bool) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref
        self.attribute = attribute


class _LazyMember(Member):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, name: str, ref: int, bit_offset: int, bits: int) -> None:
        self.name, self._btf, self._type = name, btf, ref
        self.bit_offset, self.bitfield_size = bit_offset, bits


class _LazyParam(Param):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, name: str, ref: int) -> None:
        self.name, self._btf, self._type = name, btf, ref


class _LazyFuncProto(FuncProto):
    __slots__ = ("_btf", "_return_type")
    return_type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, ref: int, params: list[Param]) -> None:
        self.id, self.name, self._btf, self._return_type = tid, "", btf, ref
        self.params = params


class _LazyFunc(Func):
    __slots__ = ("_btf", "_type")
    type = _Ref(FuncProto)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int, linkage: Linkage) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref
        self.linkage = linkage


class _LazyVar(Var):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, tid: int, name: str, ref: int, linkage: Linkage) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref
        self.linkage = linkage


class _LazyVarSecinfo(VarSecinfo):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(self, btf: LazyBTF, ref: int, offset: int, size: int) -> None:
        self._btf, self._type, self.offset, self.size = btf, ref, offset, size


class _LazyDeclTag(DeclTag):
    __slots__ = ("_btf", "_type")
    type = _Ref(Type)

    def __init__(
        self, btf: LazyBTF, tid: int, name: str, ref: int, component: int, attribute: bool
    ) -> None:
        self.id, self.name, self._btf, self._type = tid, name, btf, ref
        self.component_idx, self.attribute = component, attribute


# Named as the classes they stand for: repr() and error messages read
# "<Pointer #5 ...>", "STRUCT 's' (#3)", as the full parser's do.
for _cls in (
    _LazyPointer,
    _LazyArray,
    _LazyTypedef,
    _LazyVolatile,
    _LazyConst,
    _LazyRestrict,
    _LazyTypeTag,
    _LazyMember,
    _LazyParam,
    _LazyFuncProto,
    _LazyFunc,
    _LazyVar,
    _LazyVarSecinfo,
    _LazyDeclTag,
):
    _cls.__name__ = _cls.__qualname__ = _cls.__mro__[1].__name__


QUALIFIERS: Final[Mapping[int, Any]] = {
    _K.TYPEDEF: _LazyTypedef,
    _K.VOLATILE: _LazyVolatile,
    _K.CONST: _LazyConst,
    _K.RESTRICT: _LazyRestrict,
}
