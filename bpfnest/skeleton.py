"""What a module made by ``bpfnest gen`` uses at run time (see :mod:`bpfnest.gen`).

:class:`Types` reads the object's BTF once, at the generated module's
import, and gives each generated class name the class that
:mod:`bpfnest.btf.values` makes from that BTF, after checking that its size
and fields are those the module was generated for. :func:`typed` and
:func:`typed_inner` wrap maps in a :class:`bpfnest.TypedMap` made from the
same BTF, so what a lookup returns is an instance of the generated class.
:class:`Skeleton` is the base of the generated object wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from types import TracebackType

    from .btf import BTF, Type
    from .collection import Collection
    from .maps import Map, OuterMap, TypedMap
    from .spec import CollectionSpec, MapSpec

__all__ = ["CArray", "CStruct", "Skeleton", "Types", "load", "outer", "typed", "typed_inner"]

T = TypeVar("T")


class CArray(Protocol[T]):
    """What mypy knows of a generated array (a ``ctypes`` array): indexable,
    settable item by item, sized, iterable. A field of this type also takes a
    list or tuple of the right length."""

    def __getitem__(self, index: int, /) -> T: ...
    def __setitem__(self, index: int, value: T, /) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[T]: ...


_C = TypeVar("_C", bound="CStruct")


class CStruct:
    """What mypy knows of every generated struct and union class (the base of
    the declarations a generated module makes for mypy; at run time the
    classes are those of :mod:`bpfnest.btf.values`, ``ctypes`` classes).

    ``bytes(obj)`` is the C layout; ``cls.from_buffer_copy(raw)`` makes one
    from bytes. Unlike ``ctypes.Structure``'s stubs, an unknown attribute is
    a mypy error.
    """

    def __buffer__(self, flags: int, /) -> memoryview:
        """The C layout (``bytes(obj)``, ``memoryview(obj)``)."""
        raise NotImplementedError  # declared for mypy; the real classes are ctypes'

    @classmethod
    def from_buffer_copy(
        cls: type[_C], source: bytes | bytearray | memoryview, offset: int = 0, /
    ) -> _C:
        """A new instance holding a copy of ``source``'s bytes.

        Raises:
            ValueError: ``source`` is too short.
        """
        raise NotImplementedError  # declared for mypy; the real classes are ctypes'


class Types:
    """The BTF of a generated module's object, read once at import.

    Raises (from the constructor):
        ImportError: the object cannot be read or has no BTF; the message
            names the file and says to regenerate or rebuild.
    """

    def __init__(self, path: str) -> None:
        """Read the object at ``path`` (a ``CollectionSpec``, kept as :attr:`spec`)."""
        from .spec import CollectionSpec

        try:
            self.spec = CollectionSpec.from_file(path)
        except (OSError, ValueError) as err:
            raise ImportError(
                f"the generated module's object {path} cannot be read ({err}):"
                " put it there, or regenerate the module with bpfnest gen"
            ) from err
        if self.spec.btf is None:
            raise ImportError(f"{path} has no BTF: rebuild it with clang -g, then bpfnest gen")
        self.path = path
        self.btf: BTF = self.spec.btf

    def find(self, where: str) -> Type:
        """The BTF type a generated class names: ``struct NAME``, ``union NAME``,
        ``enum NAME``, ``typedef NAME``, ``map NAME key|value``, ``map NAME
        inner key|value``, ``var NAME``, each optionally followed by
        ``/FIELD`` steps (an anonymous struct inside a member).

        Raises:
            ImportError: no such type in the object (it changed: regenerate).
        """
        from .btf.types import Array, Composite, Datasec, Enum, Member, Struct, Typedef, Union, Var

        head, *steps = where.split("/")
        kind, _, rest = head.partition(" ")
        btf = self.btf
        t: Type | None = None
        kinds: dict[str, type[Type]] = {
            "struct": Struct,
            "union": Union,
            "enum": Enum,
            "typedef": Typedef,
        }
        if kind in kinds:
            t = next((x for x in btf.named(rest) if isinstance(x, kinds[kind])), None)
        elif kind == "map":
            name, *which = rest.split(" ")
            ms: MapSpec | None = self.spec.maps.get(name)
            if ms is not None and which[:1] == ["inner"]:
                inner = ms.inner
                ms = inner if inner is not None and hasattr(inner, "btf_key_type_id") else None  # type: ignore[assignment]
                which = which[1:]
            if ms is not None and which in (["key"], ["value"]):
                tid = ms.btf_key_type_id if which == ["key"] else ms.btf_value_type_id
                t = btf.type_by_id(tid) if tid else None
        elif kind == "var":
            for ds in btf.types:
                if isinstance(ds, Datasec):
                    for vsi in ds.vars:
                        if isinstance(vsi.type, Var) and vsi.type.name == rest:
                            t = vsi.type.type
        for step in steps:
            if t is None:
                break
            r = btf.resolve(t)
            while isinstance(r, Array):
                r = btf.resolve(r.type)
            members: Sequence[Member] = r.members if isinstance(r, Composite) else ()
            t = _member(btf, members, step)
        if t is None:
            raise ImportError(
                f"{self.path} has no {where}: the object changed since the module was"
                " generated; regenerate it with bpfnest gen"
            )
        r = btf.resolve(t)
        while isinstance(r, Array):  # an array's element (a typedef kept: the
            t = r.type  # codec names the class after it)
            r = btf.resolve(t)
        return t

    def composite(self, where: str, size: int, fields: tuple[str, ...]) -> Any:
        """The class the codec generates for the struct or union ``where``,
        checked: ``size`` bytes with these fields, in this order.

        Raises:
            ImportError: the object's type differs (regenerate the module).
        """
        from .btf.values import codec

        c = codec(self.btf, self.find(where))
        found = tuple(getattr(c.cls, "_bpf_fields_", ()))
        if c.size != size or found != fields:
            raise ImportError(
                f"{where} in {self.path} is {c.size} bytes with fields {found}; the module"
                f" was generated for {size} bytes with {fields}: regenerate it with bpfnest gen"
            )
        return c.cls

    def enum(self, where: str, names: tuple[str, ...]) -> Any:
        """The ``IntEnum`` the codec generates for enum ``where``, checked to have
        the members ``names``.

        Raises:
            ImportError: the object's enum differs (regenerate the module).
        """
        from .btf.values import codec

        cls: Any = codec(self.btf, self.find(where)).cls
        missing = [n for n in names if n not in cls.__members__]
        if missing:
            raise ImportError(
                f"{where} in {self.path} has no member {', '.join(missing)}:"
                " regenerate the module with bpfnest gen"
            )
        return cls


def _member(btf: BTF, members: Sequence[Any], name: str) -> Type | None:
    from .btf.types import Composite

    for m in members:
        if m.name == name:
            return m.type  # type: ignore[no-any-return]
        if not m.name:
            r = btf.resolve(m.type)
            if isinstance(r, Composite):
                found = _member(btf, r.members, name)
                if found is not None:
                    return found
    return None


def load(types: Types, spec: CollectionSpec | None = None) -> Collection:
    """Load ``spec`` (default: the object ``types`` read): the caller closes
    the collection. See :meth:`bpfnest.CollectionSpec.load`.

    Raises:
        ValueError: ``spec`` has BTF other than the module's object (another object).
        BPFError, VerifierError: as :meth:`bpfnest.CollectionSpec.load`.
    """
    from .spec import CollectionSpec

    if spec is None:
        spec = CollectionSpec.from_file(types.path)
    elif spec.btf is None or spec.btf.raw != types.btf.raw:
        raise ValueError(
            f"the spec is not of {types.path} (its BTF differs): use this module's open_spec()"
        )
    return spec.load()


def _typed(types: Types, m: Map[Any], ms: MapSpec, what: str) -> TypedMap[Any, Any]:
    from .btf.values import codec
    from .constants import MapType
    from .maps import TypedMap
    from .maps._elements import possible_cpus

    kc = codec(types.btf, types.btf.type_by_id(ms.btf_key_type_id))
    vc = codec(types.btf, types.btf.type_by_id(ms.btf_value_type_id))
    if (kc.size, vc.size) != (m.key_size, m.value_size):
        raise ValueError(
            f"{what}: map '{m.name}' has key/value sizes {m.key_size}/{m.value_size},"
            f" the object's types {kc.size}/{vc.size}"
        )
    t = m.type
    ncpus = possible_cpus() if isinstance(t, MapType) and t.is_per_cpu else 0
    return TypedMap(m, kc, vc, ncpus)


def typed(types: Types, c: Collection, name: str) -> TypedMap[Any, Any]:
    """Map ``name`` of ``c`` as a :class:`bpfnest.TypedMap` of the classes of
    ``types`` (the object's BTF: no kernel BTF needed). The map stays the
    collection's.

    Raises:
        KeyError: no such map.
        ValueError: its sizes differ from the object's types.
    """
    return _typed(types, c.maps[name], types.spec.maps[name], f"typed {name}")


def outer(c: Collection, name: str) -> OuterMap:
    """Outer map ``name`` of ``c`` (an ``ARRAY_OF_MAPS``/``HASH_OF_MAPS``); it
    stays the collection's.

    Raises:
        KeyError: no such map.
        TypeError: it is not an outer map (the object changed: regenerate).
    """
    from .maps import OuterMap

    m = c.maps[name]
    if not isinstance(m, OuterMap):
        raise TypeError(f"map '{name}' is not an outer map: regenerate the module")
    return m


def typed_inner(types: Types, outer: str, m: Map[Any]) -> TypedMap[Any, Any]:
    """``m``, an inner map of outer map ``outer``, typed by the inner map's
    declaration in the object; ``m`` stays the caller's.

    Raises:
        ValueError: ``outer`` has no inner map declaration with BTF, or ``m``'s
            sizes differ from it.
    """
    inner = types.spec.maps[outer].inner
    if inner is None or not hasattr(inner, "btf_key_type_id") or not inner.btf_key_type_id:
        raise ValueError(f"map '{outer}' declares no inner map with BTF types")
    return _typed(types, m, inner, f"inner map of {outer}")  # type: ignore[arg-type]


class Skeleton:
    """Base of the object wrapper of a generated module: it owns the loaded
    :class:`bpfnest.Collection` (:attr:`collection`) and closes it."""

    def __init__(self, c: Collection) -> None:
        """Own ``c``: :meth:`close` closes it."""
        self.collection = c

    def close(self) -> None:
        """Close every map and program of the object; idempotent."""
        self.collection.close()

    def __enter__(self: _S) -> _S:
        """Use as a context manager: closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close (see :meth:`close`)."""
        self.close()


_S = TypeVar("_S", bound=Skeleton)
