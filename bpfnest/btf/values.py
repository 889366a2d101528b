"""BTF <-> Python values that round-trip: ``ctypes`` classes generated from BTF.

:func:`codec` gives the :class:`Codec` of a BTF type: its Python class
(:attr:`Codec.cls`), and :meth:`Codec.decode` / :meth:`Codec.encode` between
the kernel's bytes and Python values:

- integers of every size and signedness are ``int`` (``__int128`` too),
  ``bool`` is ``bool``, an enum is its :class:`enum.IntEnum` member (a plain
  ``int`` for a value without a name), a pointer is an ``int`` (the address);
- a struct or union is an instance of a ``ctypes`` class generated from the
  BTF: fields by their C names, explicit padding, so ``bytes(obj)`` is the C
  layout byte for byte (packed or not: offsets come from BTF, never from
  ctypes' alignment rules); bitfields are properties;
- an array is an instance of a generated ``ctypes`` array class (indexable,
  iterable, ``bytes()`` of it the C layout); a ``char`` array field reads as
  ``bytes`` up to the first NUL (``ctypes``' ``c_char`` arrays).

Generated classes are cached per BTF type (two parses of the same BTF bytes
share them), named after the C type, and have a ``__repr__`` that shows the
fields. Setting a field checks it: an int that does not fit, an unknown field
name or a value of the wrong kind is a ``ValueError``/``TypeError`` naming
the field, and nothing is written. :func:`asdict` turns an instance into
plain Python data. Instances compare and hash by their bytes (so they can be
dict keys, as :meth:`bpfnest.TypedMap.items` gives them): do not change one
while it is a key of a dict.

Pure: no kernel, no libc; ``ctypes`` is used as a layout library only
(``Structure``, ``Union``, arrays), so importing :mod:`bpfnest.btf` does not
import this module or ``ctypes``. Only BTF of this machine's byte order has
classes (``ctypes`` lays out native values).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ._classes import (
    FLOATS,
    INTS,
    MAX_DEPTH,
    NATIVE,
    ArrayRepr,
    Struct,
    array_filler,
    build_composite,
    c_name,
    enum_class,
    field_checker,
    identifier,
    int_checker,
    is_char,
    raw,
    same_class,
    set_fields,
)
from .parse import BTF, describe
from .types import Array, Composite, Datasec, Enum, Float, Int, Pointer, Type, Typedef, Var

__all__ = ["Codec", "asdict", "codec", "variable_codec"]

# ------------------------------------------------------------- the codecs


class Codec:
    """The Python view of one BTF type: its class, and bytes <-> values.

    Get one with :func:`codec`; it is cached per BTF type. :attr:`cls` is
    what :meth:`decode` returns and what builds new values: a generated
    ``ctypes`` class for structs, unions and arrays, ``int``, ``bool``,
    ``float``, or the :class:`enum.IntEnum` of an enum. :attr:`size` is the
    type's size in bytes (``btf.sizeof``); :attr:`type` the BTF type.
    """

    __slots__ = ("cls", "ctype", "decode", "encode", "name", "size", "type")

    def __init__(
        self,
        t: Type,
        size: int,
        cls: type[Any],
        ctype: type[Any],
        name: str,
        decode: Callable[[bytes], Any],
        encode: Callable[..., bytes],
    ) -> None:
        self.type = t
        self.size = size
        #: What values of this type are in Python.
        self.cls = cls
        #: The ctypes type of a field or element of this type.
        self.ctype = ctype
        #: The C type as written (``struct vip``, ``__u32``, ``char[16]``).
        self.name = name
        #: ``decode(raw) -> value``: ``raw`` is at least :attr:`size` bytes.
        self.decode = decode
        #: ``encode(value, what="value") -> bytes`` of exactly :attr:`size`.
        self.encode = encode

    def __repr__(self) -> str:
        return f"<Codec {self.name} size={self.size} -> {self.cls.__name__}>"


def codec(btf: BTF, t: Type) -> Codec:
    """The :class:`Codec` of ``t`` (a type of ``btf``); cached per type.

    Typedefs, qualifiers and variables are followed. Encoding accepts an
    instance of :attr:`Codec.cls`, a ``dict`` of field values for a struct
    or union (nested dicts for nested structs, sequences for arrays), an
    ``int`` for integers, enums and pointers, and any object with the buffer
    protocol of exactly the type's size (``bytes``, ``bytearray``,
    ``memoryview``, a ``ctypes`` object) as the raw C layout.

    Raises:
        ValueError: ``t`` has no layout here (void, a function, a forward
            declaration), the BTF is not of this machine's byte order, or the
            type nests too deeply.
        ParseError: ``t`` is malformed (a ``ValueError`` too).
    """
    if not btf._ours(t):
        raise ValueError(f"{describe(t)} is not a type of {btf!r}")
    classes = _classes_of(btf)
    return classes.codec(classes.btf.types[t.id])


def asdict(obj: object) -> Any:
    """Plain Python data of a decoded value: a struct or union as a ``dict`` of
    field -> value (nested), an array as a ``list``, a ``char`` array as
    ``bytes``; anything else as it is.

    The result is accepted back by :meth:`Codec.encode` and the setters of
    the generated classes.
    """
    fields = getattr(type(obj), "_bpf_fields_", None)
    if fields is not None:
        enums: dict[str, Any] = getattr(type(obj), "_bpf_enums_", {})
        out = {}
        for name in fields:
            value = asdict(getattr(obj, name))
            e = enums.get(name)
            out[name] = e._value2member_map_.get(value, value) if e is not None else value
        return out
    if isinstance(obj, ctypes.Array):
        if getattr(type(obj), "_bpf_char_", False):
            return obj.value
        return [asdict(v) for v in obj]
    return obj


def variable_codec(btf: BTF | None, section: str, name: str, size: int) -> Codec | None:
    """The :class:`Codec` of global variable ``name`` of data section
    ``section`` (its VAR in the DATASEC), or None when ``btf`` has none of
    ``size`` bytes for it (no BTF, or an object built without ``-g``).

    Raises:
        ValueError: the variable's type has no layout here (see :func:`codec`).
    """
    if btf is None:
        return None
    for ds in btf.named(section):
        if not isinstance(ds, Datasec):
            continue
        for vsi in ds.vars:
            if isinstance(vsi.type, Var) and vsi.type.name == name:
                c = codec(btf, vsi.type)
                return c if c.size == size else None
    return None


# -------------------------------------------------------------- the builder


class _Classes:
    """Every codec made from one BTF's bytes, by type id."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self.codecs: dict[int, Codec] = {}
        self.lock = threading.RLock()
        self.depth = 0

    def codec(self, t: Type) -> Codec:
        btf = self.btf
        if btf.byteorder != NATIVE:
            raise ValueError(
                f"BTF {btf.file or ''!s} is {btf.byteorder}-endian and this machine is"
                f" {NATIVE}-endian: no Python classes for it"
            )
        with self.lock:
            found = self.codecs.get(t.id) if btf._ours(t) else None
            if found is not None:
                return found
            if self.depth > MAX_DEPTH:
                raise ValueError(f"{describe(t)} nests too deeply (more than {MAX_DEPTH} levels)")
            self.depth += 1
            try:
                made = self._make(t)
            finally:
                self.depth -= 1
            if btf._ours(t):
                self.codecs[t.id] = made
            return made

    def _make(self, t: Type) -> Codec:
        btf = self.btf
        r = btf.resolve(t)
        if isinstance(r, Var):
            return self.codec(r.type)
        if r is not t:
            if isinstance(t, Typedef) and isinstance(r, Composite) and not r.name:
                # typedef struct { ... } flow_t: the class is called flow_t
                with self.lock:
                    if r.id not in self.codecs and btf._ours(r):
                        self.codecs[r.id] = self._composite(r, label=t.name)
            return self.codec(r)
        if isinstance(r, Int):
            return self._int(r)
        if isinstance(r, Enum):
            return self._enum(r)
        if isinstance(r, Pointer):
            return self._scalar_int(r, 8, False, f"{c_name(r.target)} *", int)
        if isinstance(r, Float):
            return self._float(r)
        if isinstance(r, Array):
            return self._array(r)
        if isinstance(r, Composite):
            return self._composite(r)
        raise ValueError(f"{describe(r)} has no value layout (it is not data)")

    # ---------------------------------------------------------- scalars

    def _int(self, t: Int) -> Codec:
        if t.bits != 8 * t.size or t.bit_offset:
            raise ValueError(f"{describe(t)}: a {t.bits}-bit INT outside a struct has no layout")
        if t.bool and t.size == 1:
            return _bool_codec(t)
        return self._scalar_int(t, t.size, t.signed, t.name or f"int{8 * t.size}", int)

    def _scalar_int(
        self, t: Type, size: int, signed: bool, name: str, cls: type[Any], *, either: bool = False
    ) -> Codec:
        check = int_checker(size, signed, name, either=either)
        ctype = INTS.get((size, signed)) or (ctypes.c_ubyte * size)

        def decode(raw: bytes) -> Any:
            return int.from_bytes(raw[:size], NATIVE, signed=signed)

        def encode(value: object, what: str = "value") -> bytes:
            if isinstance(value, int):
                return check(value, what).to_bytes(size, NATIVE, signed=signed)
            return raw(value, size, what, name)

        return Codec(t, size, cls, ctype, name, decode, encode)

    def _enum(self, t: Enum) -> Codec:
        name = f"enum {t.name or 'anon'}"
        base = self._scalar_int(t, t.size, t.signed, name, int, either=True)
        cls = enum_class(t)
        plain = base.decode
        members = cls._value2member_map_

        def decode(raw: bytes) -> Any:
            value = plain(raw)
            return members.get(value, value)

        return Codec(t, t.size, cls, base.ctype, base.name, decode, base.encode)

    def _float(self, t: Float) -> Codec:
        ctype = FLOATS.get(t.size)
        if ctype is None:
            return Codec(
                t,
                t.size,
                bytes,
                ctypes.c_ubyte * t.size,
                t.name,
                _bytes_of(t.size),
                _raw_encoder(t.size, t.name),
            )
        fmt_type = ctype

        def decode(raw: bytes) -> Any:
            return fmt_type.from_buffer_copy(raw[: t.size]).value

        def encode(value: object, what: str = "value") -> bytes:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return bytes(fmt_type(value))
            return raw(value, t.size, what, t.name)

        return Codec(t, t.size, float, ctype, t.name, decode, encode)

    # ---------------------------------------------------------- arrays

    def _array(self, t: Array) -> Codec:
        elem = self.codec(t.type)
        n = t.nelems
        size = elem.size * n
        char = is_char(self.btf.resolve(t.type))
        name = _array_name(self.btf, t, elem.name)
        item = ctypes.c_char if char else elem.ctype
        check: Callable[[object, str], object]
        if char:

            def check(value: object, what: str) -> object:
                if isinstance(value, int) and 0 <= value < 256:
                    return bytes([value])
                if isinstance(value, bytes) and len(value) == 1:
                    return value
                raise TypeError(f"{what} must be one byte (bytes of length 1), got {value!r:.40}")

        else:
            check = field_checker(elem)
        cls: type[Any] = type(
            identifier(f"{elem.name}_{n}" if not char else f"char_{n}"),
            (ArrayRepr, ctypes.Array),
            {
                "_type_": item,
                "_length_": n,
                "_bpf_check_": staticmethod(check),
                "_bpf_char_": char,
                "__module__": __name__,
                "__qualname__": name,
            },
        )
        cls.__name__ = name
        if ctypes.sizeof(cls) != size:
            raise ValueError(f"{describe(t)}: ctypes size {ctypes.sizeof(cls)} != BTF size {size}")
        fill = array_filler(cls, elem, char, n, name)

        def decode(raw: bytes) -> Any:
            return cls.from_buffer_copy(raw[:size]) if size else cls()

        def encode(value: object, what: str = "value") -> bytes:
            if isinstance(value, cls):
                return bytes(memoryview(value))
            if isinstance(value, (list, tuple)) or (
                char and isinstance(value, (str, bytes, bytearray))
            ):
                return bytes(memoryview(fill(value, what)))
            return raw(value, size, what, name)

        return Codec(t, size, cls, cls, name, decode, encode)

    # ---------------------------------------------------------- structs

    def _composite(self, t: Composite, label: str = "") -> Codec:
        cls = build_composite(self, t, label)
        size, cname = t.size, label or c_name(t)

        def decode(raw: bytes) -> Any:
            return cls.from_buffer_copy(raw[:size]) if size else cls()

        def encode(value: object, what: str = "value") -> bytes:
            if type(value) is cls:
                return bytes(memoryview(value))  # type: ignore[arg-type]
            if isinstance(value, Struct):
                if same_class(type(value), cls):
                    return bytes(memoryview(value))  # type: ignore[arg-type]
                raise TypeError(f"{what} must be a {cname}, got a {type(value).__name__}")
            if isinstance(value, Mapping):
                obj = cls()
                set_fields(obj, _str_keys(value, cls))
                return bytes(memoryview(obj))
            return raw(value, size, what, cname)

        return Codec(t, size, cls, cls, cname, decode, encode)


def _array_name(btf: BTF, t: Array, elem: str) -> str:
    """``unsigned int[2][3]``: the element type's name, then each dimension, outer first."""
    dims = []
    cur: Type = t
    while isinstance(cur, Array):
        dims.append(cur.nelems)
        cur = btf.resolve(cur.type)
    base = elem.split("[", 1)[0]
    return base + "".join(f"[{d}]" for d in dims)


def _str_keys(value: Mapping[Any, object], cls: type) -> dict[str, object]:
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{cls.__name__}: field names must be str, got {bad[0]!r}")
    return dict(value)


def _bool_codec(t: Int) -> Codec:
    def decode(raw: bytes) -> Any:
        return raw[0] != 0

    def encode(value: object, what: str = "value") -> bytes:
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bytes([int(value)])
        if isinstance(value, int):
            raise ValueError(f"{what} = {value} is not a bool (True/False, 0/1)")
        return raw(value, 1, what, t.name)

    return Codec(t, 1, bool, ctypes.c_bool, t.name or "bool", decode, encode)


def _bytes_of(size: int) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        return bytes(raw[:size])

    return decode


def _raw_encoder(size: int, name: str) -> Callable[[object, str], bytes]:
    def encode(value: object, what: str = "value") -> bytes:
        return raw(value, size, what, name)

    return encode


# One _Classes per BTF bytes: two parses of the same BTF share their classes.
# Each BTF keeps its _Classes in an attribute (a cycle the GC frees with it).
_BY_RAW: weakref.WeakValueDictionary[bytes, _Classes] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()
_ATTR = "_python_classes"


def _classes_of(btf: BTF) -> _Classes:
    with _REGISTRY_LOCK:
        found: _Classes | None = vars(btf).get(_ATTR)
        if found is None:
            # Split BTF (a module's) depends on its base: shared only without one.
            found = _BY_RAW.get(btf.raw) if btf.base is None else None
            if found is None:
                found = _Classes(btf)
                if btf.base is None:
                    _BY_RAW[btf.raw] = found
            vars(btf)[_ATTR] = found
        return found
