"""The generated ``ctypes`` classes of :mod:`bpfnest.btf.values`: their behaviour
(checked setters, ``repr``, equality) and their layout from BTF (explicit
padding, ``_pack_ = 1``, bitfields as properties over the bytes they share).

Pure: ``ctypes`` as a layout library only.
"""

from __future__ import annotations

import ctypes
import enum
import keyword
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .parse import BTF, describe
from .types import Composite, Enum, Int, Member, Type, Union

if TYPE_CHECKING:
    from .values import Codec

__all__: list[str] = []


class Maker(Protocol):
    """What builds codecs (``values._Classes``): the BTF, and a codec per type."""

    btf: BTF

    def codec(self, t: Type) -> Codec: ...


MAX_DEPTH = 32
NATIVE = sys.byteorder

# ctypes integer types by (size, signed).
INTS: dict[tuple[int, bool], type[Any]] = {
    (1, False): ctypes.c_uint8,
    (1, True): ctypes.c_int8,
    (2, False): ctypes.c_uint16,
    (2, True): ctypes.c_int16,
    (4, False): ctypes.c_uint32,
    (4, True): ctypes.c_int32,
    (8, False): ctypes.c_uint64,
    (8, True): ctypes.c_int64,
}
FLOATS: dict[int, type[Any]] = {4: ctypes.c_float, 8: ctypes.c_double}


def is_char(t: Type) -> bool:
    """``char`` (clang marks it signed, not CHAR), or an INT with the CHAR encoding."""
    return isinstance(t, Int) and t.size == 1 and (t.char or t.name == "char")


def identifier(name: str) -> str:
    """``name`` as a Python class name (C names mostly are already)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "anon"
    if out[0].isdigit() or keyword.iskeyword(out):
        out = "_" + out
    return out


# ----------------------------------------------------------------- checks


def int_checker(
    size: int, signed: bool, what: str, *, either: bool = False
) -> Callable[[object, str], int]:
    """Check an int for ``size`` bytes: signed or unsigned, or ``either`` (enums,
    whose BTF from clang before 15 does not say), converted to the storage's sign."""
    bits = 8 * size
    lo = -(1 << (bits - 1)) if signed or either else 0
    hi = (1 << (bits - 1)) - 1 if signed and not either else (1 << bits) - 1
    kind = f"{'s' if signed else 'u'}{bits}"
    wrap = 1 << bits

    def check(value: object, field: str) -> int:
        if not isinstance(value, int):
            raise TypeError(f"{field} must be an int ({what}), got {type(value).__name__}")
        if not lo <= value <= hi:
            raise ValueError(f"{field} = {value} does not fit in {kind} ({what}: {lo}..{hi})")
        v = int(value)
        if either:
            if signed and v >= wrap >> 1:
                v -= wrap
            elif not signed and v < 0:
                v += wrap
        return v

    return check


def _bits_checker(nbits: int, signed: bool) -> Callable[[object, str], int]:
    lo, hi = (-(1 << (nbits - 1)), (1 << (nbits - 1)) - 1) if signed else (0, (1 << nbits) - 1)

    def check(value: object, field: str) -> int:
        if not isinstance(value, int):
            raise TypeError(
                f"{field} must be an int (a {nbits}-bit field), got {type(value).__name__}"
            )
        if not lo <= value <= hi:
            raise ValueError(f"{field} = {value} does not fit in {nbits} bits ({lo}..{hi})")
        return int(value)

    return check


# ------------------------------------------------------------ generated classes


class Struct:
    """Behaviour every generated struct/union class has (mixed into its ctypes base)."""

    _bpf_fields_: dict[str, Callable[[Any, object], None]]  # field -> checked setter
    _bpf_type_: Type
    _bpf_enums_: dict[str, type[enum.IntEnum]]
    #: ``class_`` -> ``class``: a field named by a Python keyword, by its escaped name.
    _bpf_alias_: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: object, **fields: object) -> None:
        super().__init__()
        names = list(type(self)._bpf_fields_)
        if len(args) > len(names):
            raise TypeError(
                f"{type(self).__name__}() takes at most {len(names)} positional fields"
                f" ({', '.join(names)}), got {len(args)}"
            )
        if not args and not fields:
            return
        given = dict(zip(names, args, strict=False))
        for name, value in fields.items():
            if name in given:
                raise TypeError(f"{type(self).__name__}() got field {name!r} twice")
            given[name] = value
        set_fields(self, given)

    def __setattr__(self, name: str, value: object) -> None:
        setter = type(self)._bpf_fields_.get(name)
        if setter is None:
            setter = type(self)._bpf_fields_.get(type(self)._bpf_alias_.get(name, ""))
        if setter is None:
            raise AttributeError(_unknown(type(self), [name]))
        setter(self, value)

    def __repr__(self) -> str:
        enums = type(self)._bpf_enums_
        parts = []
        for name in type(self)._bpf_fields_:
            value = getattr(self, name)
            e = enums.get(name)
            if e is not None and value in e._value2member_map_:
                parts.append(f"{name}={e(value).name}")
            else:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Struct) or not same_class(type(self), type(other)):
            return NotImplemented
        return bytes(memoryview(self)) == bytes(memoryview(other))  # type: ignore[arg-type]

    def __hash__(self) -> int:
        return hash(bytes(memoryview(self)))  # type: ignore[arg-type]


def same_class(a: type, b: type) -> bool:
    """Two generated classes of the same C type (from two parses of one BTF, say)."""
    if a is b:
        return True
    return getattr(a, "_bpf_sig_", None) is not None and getattr(a, "_bpf_sig_", None) == getattr(
        b, "_bpf_sig_", None
    )


def _unknown(cls: type, names: Sequence[str]) -> str:
    fields = ", ".join(getattr(cls, "_bpf_fields_", {})) or "none"
    which = ", ".join(repr(n) for n in names)
    return f"{cls.__name__} has no field {which} (fields: {fields})"


def set_fields(obj: Any, values: Mapping[str, object]) -> None:
    """Set every field of ``values`` on ``obj``, checking all before writing any."""
    setters = type(obj)._bpf_fields_
    alias = type(obj)._bpf_alias_
    values = {alias.get(n, n) if n not in setters else n: v for n, v in values.items()}
    unknown = [n for n in values if n not in setters]
    if unknown:
        raise ValueError(_unknown(type(obj), unknown))
    scratch = type(obj).from_buffer_copy(memoryview(obj))  # nothing changes on failure
    for name, value in values.items():
        setters[name](scratch, value)
    memoryview(obj).cast("B")[:] = memoryview(scratch).cast("B")


class ArrayRepr:
    """Behaviour of generated array classes: a readable repr, equality, checked items."""

    _bpf_check_: Callable[[object, str], object]
    _bpf_char_: bool = False
    _length_: int

    def __repr__(self) -> str:
        return f"{type(self).__name__}({[*self]!r})"  # type: ignore[misc]

    def __setitem__(self, index: Any, value: object) -> None:
        if isinstance(index, slice):
            items = list(value)  # type: ignore[call-overload]
            checked = [self._bpf_check_(v, f"{type(self).__name__}[{index}]") for v in items]
            super().__setitem__(index, checked)  # type: ignore[misc]
            return
        value = self._bpf_check_(value, f"{type(self).__name__}[{index}]")
        super().__setitem__(index, value)  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        mine: list[Any] = [*self]  # type: ignore[misc]
        if isinstance(other, ctypes.Array):
            return len(other) == len(mine) and [*other] == mine
        if isinstance(other, (list, tuple)):
            return list(other) == mine
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def c_name(t: Type) -> str:
    if isinstance(t, Composite):
        kind = "union" if isinstance(t, Union) else "struct"
        return f"{kind} {t.name}" if t.name else f"{kind} (anon #{t.id})"
    return t.name or f"#{t.id}"


def raw(value: object, size: int, what: str, name: str) -> bytes:
    """``value`` as the raw layout: any buffer of exactly ``size`` bytes."""
    if isinstance(value, (str, int, float, Mapping, list, tuple)):
        raise TypeError(f"{what} must be a {name}, got {type(value).__name__} {value!r:.40}")
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{what} must be a {name} or a buffer of {size} bytes, got {type(value).__name__}"
        ) from None
    with view:
        if view.nbytes != size:
            raise ValueError(f"{what} must be {size} bytes (a {name}), got {view.nbytes}")
        return view.tobytes()


def enum_class(t: Enum) -> type[enum.IntEnum]:
    """An IntEnum of ``t``'s values (names enum can take; others are left out).

    An unsigned enum's values are taken in its size, as the field holds them:
    clang before 15 writes ``-1`` of a 1-byte enum as ``0xffffffff``, which
    the field reads as ``0xff``.
    """
    seen: set[str] = set()
    members = []
    mask = (1 << (8 * t.size)) - 1
    for v in t.values:
        if not v.name or v.name in seen or (v.name.startswith("_") and v.name.endswith("_")):
            continue
        seen.add(v.name)
        members.append((v.name, v.value if t.signed else v.value & mask))
    name = identifier(t.name or f"enum_{t.id}")
    factory: Any = enum.IntEnum  # the functional API: mypy cannot follow it
    try:
        made: type[enum.IntEnum] = factory(name, members, module=__name__)
    except (ValueError, TypeError):
        made = factory(name, [], module=__name__)
    return made


def field_checker(c: Codec) -> Callable[[object, str], object]:
    """What a field or element of ``c``'s type accepts, checked, as ctypes stores it."""
    cls: Any = c.cls
    if cls is bool:

        def check_bool(value: object, what: str) -> object:
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                return bool(value)
            raise ValueError(f"{what} must be a bool (True/False, 0/1), got {value!r:.40}")

        return check_bool
    if c.ctype in INTS.values():
        is_enum = isinstance(cls, type) and issubclass(cls, enum.IntEnum)
        return int_checker(c.size, c.ctype(-1).value < 0, c.name, either=is_enum)
    if cls is float:

        def check_float(value: object, what: str) -> object:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            raise TypeError(f"{what} must be a float, got {type(value).__name__}")

        return check_float
    if issubclass(cls, Struct):

        def check_struct(value: object, what: str) -> object:
            if type(value) is cls:
                return value
            return cls.from_buffer_copy(c.encode(value, what))

        return check_struct
    if issubclass(cls, ctypes.Array):
        char = getattr(cls, "_bpf_char_", False)
        fill = array_filler(cls, c, char, cls._length_, c.name)
        texts = (list, tuple, str, bytes, bytearray) if char else (list, tuple)

        def check_array(value: object, what: str) -> object:
            if type(value) is cls:
                return bytes(value) if char else value  # type: ignore[call-overload]
            if isinstance(value, texts):
                made = fill(value, what)
                return bytes(made) if char else made  # a char field takes bytes
            return cls.from_buffer_copy(raw(value, c.size, what, c.name))

        return check_array

    def check_raw(value: object, what: str) -> object:  # bytes-valued (odd floats, int128)
        return c.encode(value, what)

    return check_raw


def array_filler(
    cls: type[Any], elem: Codec | Any, char: bool, n: int, name: str
) -> Callable[[object, str], Any]:
    """Build an instance of the array class ``cls`` from a list/tuple (or str for char)."""

    def fill(value: object, what: str) -> Any:
        if char:
            if isinstance(value, str):
                value = value.encode()
            if isinstance(value, (bytes, bytearray)):
                if len(value) > n:
                    raise ValueError(f"{what} holds at most {n} bytes ({name}), got {len(value)}")
                return cls.from_buffer_copy(bytes(value).ljust(n, b"\0"))
        items = list(value)  # type: ignore[call-overload]
        if len(items) != n:
            raise ValueError(f"{what} must have {n} elements ({name}), got {len(items)}")
        arr = cls()
        arr[:] = items  # checked element by element (ArrayRepr.__setitem__)
        return arr

    return fill


class _Item:
    """One run of bytes of a struct: a member, or bitfields sharing bytes."""

    __slots__ = ("codec", "end", "members", "start")

    def __init__(self, start: int, end: int, members: list[Member], c: Codec | None) -> None:
        self.start, self.end, self.members, self.codec = start, end, members, c


def _items(classes: Maker, t: Composite) -> list[_Item]:
    """The members of ``t`` as byte runs, in offset order; bitfields that share a
    byte are one run."""
    items: list[_Item] = []
    for m in t.members:
        if m.bitfield_size:
            start, end = m.bit_offset // 8, (m.bit_offset + m.bitfield_size + 7) // 8
            items.append(_Item(start, end, [m], None))
            continue
        if m.bit_offset % 8:
            raise ValueError(f"{describe(t)}: member {m.name!r} is not byte-aligned")
        c = classes.codec(m.type)
        start = m.bit_offset // 8
        items.append(_Item(start, start + c.size, [m], c))
    if isinstance(t, Union):
        return items
    items.sort(key=lambda i: i.start)
    merged: list[_Item] = []
    for item in items:
        last = merged[-1] if merged else None
        if last is not None and item.codec is None and last.codec is None and item.start < last.end:
            last.end = max(last.end, item.end)
            last.members.append(item.members[0])
        else:
            merged.append(item)
    return merged


class _ClassBuilder:
    """The namespace of one generated struct/union class, filled member by member."""

    def __init__(self, t: Composite, label: str = "") -> None:
        self.t = t
        self.fields: list[tuple[str, type[Any]]] = []
        self.anonymous: list[str] = []
        self.setters: dict[str, Callable[[Any, object], None]] = {}
        self.enums: dict[str, type[enum.IntEnum]] = {}
        self.props: dict[str, property] = {}
        self.used = {m.name for m in t.members if m.name}
        self.count = 0
        kind = "union" if isinstance(t, Union) else "struct"
        self.label = label or t.name or f"anon_{kind}_{t.id}"

    def private(self, prefix: str) -> str:
        while True:
            name = f"_{prefix}{self.count}"
            self.count += 1
            if name not in self.used:
                self.used.add(name)
                return name

    def pad(self, size: int) -> None:
        if size > 0:
            self.fields.append((self.private("pad"), ctypes.c_ubyte * size))

    def member(self, m: Member, c: Codec) -> None:
        if not m.name:
            if issubclass(c.cls, Struct):  # an anonymous struct/union: its fields are ours
                name = self.private("anon")
                self.fields.append((name, c.ctype))
                self.anonymous.append(name)
                real = {f[0] for f in getattr(c.cls, "_fields_", ())}
                for sub in c.cls._bpf_fields_:
                    self.setters[sub] = _via(name, sub)
                    if sub not in real:
                        # ctypes promotes only the member's own fields: a bitfield,
                        # or a field of an anonymous member inside it, is forwarded
                        self.props[sub] = _forward(name, sub)
                self.enums.update(c.cls._bpf_enums_)
            else:
                self.pad(c.size)  # an unnamed non-struct member holds nothing to name
            return
        if _needs_property(c):
            storage = self.private("raw")
            self.fields.append((storage, ctypes.c_ubyte * c.size))
            self.props[m.name] = _raw_property(storage, c)
            self.setters[m.name] = _property_setter(m.name)
            return
        self.fields.append((m.name, c.ctype))
        self.setters[m.name] = _checked_setter(m.name, field_checker(c), self.label)
        if isinstance(c.cls, type) and issubclass(c.cls, enum.IntEnum):
            self.enums[m.name] = c.cls

    def bits(self, btf: BTF, item: _Item) -> None:
        storage = self.private("bits")
        nbytes = item.end - item.start
        self.fields.append((storage, ctypes.c_ubyte * nbytes))
        for m in item.members:
            if not m.name:
                continue
            r = btf.resolve(m.type)
            signed = isinstance(r, (Int, Enum)) and r.signed
            shift = m.bit_offset - 8 * item.start
            if NATIVE == "big":
                shift = 8 * nbytes - shift - m.bitfield_size
            as_bool = isinstance(r, Int) and r.bool
            self.props[m.name] = _bits_property(
                f"{self.label}.{m.name}", storage, nbytes, shift, m.bitfield_size, signed, as_bool
            )
            self.setters[m.name] = _property_setter(m.name)
            if isinstance(r, Enum):
                self.enums[m.name] = enum_class(r)


def build_composite(classes: Maker, t: Composite, label: str = "") -> type[Any]:
    """The ctypes class of a struct or union: explicit padding, ``_pack_ = 1``;
    named ``label`` (an anonymous struct's typedef) or after the C type."""
    b = _ClassBuilder(t, label)
    is_union = isinstance(t, Union)
    pos = 0
    for item in _items(classes, t):
        if is_union:
            if item.start:
                raise ValueError(f"{describe(t)}: a union member at byte {item.start}")
        elif item.start < pos:
            raise ValueError(
                f"{describe(t)}: member {item.members[0].name!r} at byte {item.start}"
                f" overlaps the one before (ends at {pos})"
            )
        else:
            b.pad(item.start - pos)
        if item.codec is None:
            b.bits(classes.btf, item)
        else:
            b.member(item.members[0], item.codec)
        if not is_union:
            pos = item.end
    if is_union:
        b.fields.append((b.private("size"), ctypes.c_ubyte * t.size))
    elif pos > t.size:
        raise ValueError(f"{describe(t)}: members end at byte {pos}, past its size {t.size}")
    else:
        b.pad(t.size - pos)
    base = ctypes.Union if is_union else ctypes.Structure
    name = identifier(b.label)
    ns: dict[str, Any] = {
        "__slots__": (),
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{c_name(t)} ({t.size} bytes), generated from BTF.",
        "_pack_": 1,
        "_anonymous_": b.anonymous,
        "_fields_": b.fields,
        "_bpf_fields_": b.setters,
        "_bpf_type_": t,
        "_bpf_enums_": b.enums,
        "_bpf_sig_": _signature(t, b.fields),
        "_bpf_alias_": _aliases(b.setters),
        **b.props,
    }
    for alias, real in ns["_bpf_alias_"].items():
        ns[alias] = _forward_attr(real)
    cls: type[Any] = type(name, (Struct, base), ns)
    if ctypes.sizeof(cls) != t.size:
        raise ValueError(f"{describe(t)}: ctypes size {ctypes.sizeof(cls)} != BTF size {t.size}")
    return cls


def _signature(t: Composite, fields: list[tuple[str, type[Any]]]) -> tuple[object, ...]:
    return (
        type(t).__name__,
        t.name,
        t.size,
        tuple((m.name, m.bit_offset, m.bitfield_size) for m in t.members),
        tuple((n, ctypes.sizeof(f)) for n, f in fields),
    )


def _aliases(fields: Mapping[str, object]) -> dict[str, str]:
    """``class_`` for a field ``class``: Python keywords get a trailing ``_``
    (PEP 8), unless a field of that name exists."""
    return {f"{n}_": n for n in fields if keyword.iskeyword(n) and f"{n}_" not in fields}


def _forward_attr(real: str) -> property:
    def get(self: Any) -> Any:
        return getattr(self, real)

    return property(get)


def _needs_property(c: Codec) -> bool:
    """A member ctypes cannot show as its Python value (int128, odd floats)."""
    return c.cls in (int, float, bytes) and c.ctype not in _SCALARS


def _via(anon: str, sub: str) -> Callable[[Any, object], None]:
    def set_sub(obj: Any, value: object) -> None:
        setattr(getattr(obj, anon), sub, value)

    return set_sub


def _forward(anon: str, sub: str) -> property:
    def get(self: Any) -> Any:
        return getattr(getattr(self, anon), sub)

    def put(self: Any, value: object) -> None:
        setattr(getattr(self, anon), sub, value)

    return property(get, put)


def _checked_setter(
    name: str, check: Callable[[object, str], object], label: str
) -> Callable[[Any, object], None]:
    what = f"{label}.{name}"
    store = object.__setattr__

    def set_field(obj: Any, value: object) -> None:
        store(obj, name, check(value, what))

    return set_field


def _property_setter(name: str) -> Callable[[Any, object], None]:
    store = object.__setattr__

    def set_prop(obj: Any, value: object) -> None:
        store(obj, name, value)

    return set_prop


def _raw_property(storage: str, c: Codec) -> property:
    def get(self: Any) -> Any:
        return c.decode(bytes(getattr(self, storage)))

    def put(self: Any, value: object) -> None:
        raw = c.encode(value, f"{type(self).__name__}.{storage}")
        getattr(self, storage)[:] = raw

    return property(get, put)


def _bits_property(
    what: str, storage: str, nbytes: int, shift: int, nbits: int, signed: bool, as_bool: bool
) -> property:
    mask = (1 << nbits) - 1
    check = _bits_checker(nbits, signed)

    def get(self: Any) -> Any:
        whole = int.from_bytes(bytes(getattr(self, storage)), NATIVE)
        v = (whole >> shift) & mask
        if signed and v >> (nbits - 1):
            v -= 1 << nbits
        return bool(v) if as_bool else v

    def put(self: Any, value: object) -> None:
        v = check(value, what) & mask
        arr = getattr(self, storage)
        whole = int.from_bytes(bytes(arr), NATIVE)
        whole = (whole & ~(mask << shift)) | (v << shift)
        arr[:] = whole.to_bytes(nbytes, NATIVE)

    return property(get, put)


_SCALARS = frozenset([*INTS.values(), *FLOATS.values(), ctypes.c_bool])
