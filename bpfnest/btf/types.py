"""The BTF type graph: one class per kind, references as objects.

:meth:`bpfnest.btf.BTF.parse` creates these in two passes (create, then link),
so ``struct.members[0].type`` is a :class:`Type`, never an id. Graphs can be
cyclic (a struct holding a pointer to itself), so the classes compare by
identity (``eq=False``) and their ``repr`` names referenced types by id only.

Treat instances as read-only: the parser fills them in, nothing else should.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
from typing import Literal

__all__ = [
    "VOID",
    "Array",
    "Composite",
    "Const",
    "Datasec",
    "DeclTag",
    "Enum",
    "EnumValue",
    "Float",
    "Func",
    "FuncProto",
    "Fwd",
    "Int",
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
]


class Linkage(enum.IntEnum):
    """Linkage of a FUNC (``btf_func_linkage``) or a VAR (``BTF_VAR_*``).

    The numbers are shared: VAR's ``GLOBAL_ALLOCATED`` is ``GLOBAL`` here and
    ``GLOBAL_EXTERN`` is ``EXTERN``.
    """

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


def _ref(t: Type) -> str:
    """``#id`` (plus the name when there is one) of a referenced type."""
    return f"#{t.id} {t.name!r}" if t.name else f"#{t.id}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Type:
    """A BTF type: ``id`` is its type id, ``name`` is ``""`` when anonymous."""

    id: int
    name: str

    def __repr__(self) -> str:
        detail = self._detail()
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__} #{self.id}{name}{', ' + detail if detail else ''}>"

    def _detail(self) -> str:
        return ""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Void(Type):
    """Type id 0: ``void``. :data:`VOID` is its only instance."""


#: The one :class:`Void`; every reference to type id 0 is this object.
VOID = Void(0, "")


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Int(Type):
    """``BTF_KIND_INT``: ``size`` bytes, of which ``bits`` starting at bit ``bit_offset``."""

    size: int
    encoding: int
    bits: int
    bit_offset: int

    @property
    def signed(self) -> builtins.bool:
        return bool(self.encoding & 1)

    @property
    def char(self) -> builtins.bool:
        return bool(self.encoding & 2)

    @property
    def bool(self) -> builtins.bool:
        return builtins.bool(self.encoding & 4)

    def _detail(self) -> str:
        return f"size={self.size}, bits={self.bits}, encoding={self.encoding}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Pointer(Type):
    """``BTF_KIND_PTR`` to ``target``."""

    target: Type

    def _detail(self) -> str:
        return f"-> {_ref(self.target)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Array(Type):
    """``BTF_KIND_ARRAY``: ``nelems`` elements of ``type``, indexed by ``index_type``."""

    type: Type
    index_type: Type
    nelems: int

    def _detail(self) -> str:
        return f"{_ref(self.type)}[{self.nelems}]"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Member:
    """A struct/union member. ``bit_offset`` is in bits from the start of the
    struct; ``bitfield_size`` is 0 unless the member is a bitfield."""

    name: str
    type: Type
    bit_offset: int
    bitfield_size: int = 0

    def __repr__(self) -> str:
        bf = f":{self.bitfield_size}" if self.bitfield_size else ""
        return f"<Member {self.name!r}{bf} @{self.bit_offset} {_ref(self.type)}>"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Composite(Type):
    """Common base of :class:`Struct` and :class:`Union`."""

    size: int
    members: list[Member]

    def _detail(self) -> str:
        return f"size={self.size}, members={len(self.members)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Struct(Composite):
    """``BTF_KIND_STRUCT``."""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Union(Composite):
    """``BTF_KIND_UNION``."""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class EnumValue:
    """One enumerator."""

    name: str
    value: int

    def __repr__(self) -> str:
        return f"<EnumValue {self.name}={self.value}>"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Enum(Type):
    """``BTF_KIND_ENUM`` (``kind64`` false) or ``BTF_KIND_ENUM64`` (true).

    ``signed`` is the kind_flag: values are read as signed when it is set and
    as unsigned otherwise. Producers older than the flag (clang < 15) never
    set it, so a ``-1`` there reads as ``0xffffffff``.
    """

    size: int
    signed: bool
    values: list[EnumValue]
    kind64: bool = False

    def _detail(self) -> str:
        return f"size={self.size}, values={len(self.values)}{', 64' if self.kind64 else ''}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Fwd(Type):
    """``BTF_KIND_FWD``: a declared but not defined struct or union."""

    kind: Literal["struct", "union"]

    def _detail(self) -> str:
        return self.kind


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Typedef(Type):
    """``BTF_KIND_TYPEDEF``: ``name`` stands for ``type``."""

    type: Type

    def _detail(self) -> str:
        return f"= {_ref(self.type)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Qualifier(Type):
    """Common base of :class:`Volatile`, :class:`Const`, :class:`Restrict` and
    :class:`TypeTag`: a modifier of ``type`` that does not change its layout."""

    type: Type

    def _detail(self) -> str:
        return f"{_ref(self.type)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Volatile(Qualifier):
    """``BTF_KIND_VOLATILE``."""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Const(Qualifier):
    """``BTF_KIND_CONST``."""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Restrict(Qualifier):
    """``BTF_KIND_RESTRICT``."""


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class TypeTag(Qualifier):
    """``BTF_KIND_TYPE_TAG``: ``name`` is the tag (``btf_type_tag("user")`` ->
    ``"user"``). ``attribute`` is the kind_flag (Linux 6.14+: the tag is a
    compiler ``__attribute__`` rather than a plain tag)."""

    attribute: bool = False


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Param:
    """A FUNC_PROTO parameter; ``name`` is ``""`` when unnamed."""

    name: str
    type: Type

    def __repr__(self) -> str:
        return f"<Param {self.name!r} {_ref(self.type)}>"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class FuncProto(Type):
    """``BTF_KIND_FUNC_PROTO``: a function signature (always anonymous).

    A variadic function's last parameter has type :data:`VOID` and no name.
    """

    return_type: Type
    params: list[Param]

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1].type is VOID and not self.params[-1].name

    def _detail(self) -> str:
        return f"{len(self.params)} params -> {_ref(self.return_type)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Func(Type):
    """``BTF_KIND_FUNC``: the function ``name`` with signature ``type``."""

    type: FuncProto
    linkage: Linkage

    def _detail(self) -> str:
        return f"{self.linkage.name.lower()}, {_ref(self.type)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Var(Type):
    """``BTF_KIND_VAR``: the variable ``name`` of ``type``."""

    type: Type
    linkage: Linkage

    def _detail(self) -> str:
        return f"{self.linkage.name.lower()}, {_ref(self.type)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class VarSecinfo:
    """One variable (or extern function) of a DATASEC, at ``offset`` bytes."""

    type: Type
    offset: int
    size: int

    def __repr__(self) -> str:
        return f"<VarSecinfo {_ref(self.type)} @{self.offset} size={self.size}>"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Datasec(Type):
    """``BTF_KIND_DATASEC``: the ELF section ``name`` and the variables in it.

    Objects straight from clang usually have ``size`` 0 and every offset 0; see
    :meth:`bpfnest.btf.BTF.with_datasec_fixups`.
    """

    size: int
    vars: list[VarSecinfo]

    def _detail(self) -> str:
        return f"size={self.size}, vars={len(self.vars)}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class Float(Type):
    """``BTF_KIND_FLOAT`` of ``size`` bytes."""

    size: int

    def _detail(self) -> str:
        return f"size={self.size}"


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class DeclTag(Type):
    """``BTF_KIND_DECL_TAG``: ``name`` is the tag, put on ``type`` (a struct,
    union, variable, function or typedef) when ``component_idx`` is -1, else on
    its member or parameter number ``component_idx``. ``attribute`` is the
    kind_flag (Linux 6.14+)."""

    type: Type
    component_idx: int
    attribute: bool = False

    def _detail(self) -> str:
        return f"on {_ref(self.type)}, component {self.component_idx}"
