"""The element layer of every map: attributes, codecs, errors, lookup/update/delete.

:class:`_Elements` owns the map's fd (through :class:`KernelObject`) and its
element fast path (:class:`bpfnest._sys.ops.ElemOps`, built on first use).
:class:`bpfnest.maps.Map` adds iteration and batches (``_batch.py``) and
construction (``_map.py``) on top; subclasses change the value codec
(per-CPU, outer maps) or the operations (keyless maps).
"""

from __future__ import annotations

import errno
import functools
import threading
import weakref
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import codec
from .._object import KernelObject, check_kind
from .._sys import ops
from .._sys.fd import FD, at_fork_child
from ..constants import ANY, ENOTSUPP, MapType
from ..errors import BPFError, KeyNotFoundError, error, strerror
from ..spec import MapInfo

__all__ = ["check_fd", "possible_cpus"]

if TYPE_CHECKING:  # a map of unknown values is a Map[Any] (PEP 696 default), for users' mypy
    from typing_extensions import TypeVar as _TypeVarDefault

    V = _TypeVarDefault("V", default=Any)
else:
    V = TypeVar("V")

_ELEM_LOCK = threading.Lock()


def _reset_elem_lock() -> None:
    global _ELEM_LOCK
    _ELEM_LOCK = threading.Lock()


at_fork_child(_reset_elem_lock)  # another thread may have held it at a fork
_DEV_MAPS = frozenset({MapType.DEVMAP, MapType.DEVMAP_HASH})
_FD_MAPS = frozenset({MapType.PROG_ARRAY, MapType.SOCKMAP, MapType.SOCKHASH, MapType.XSKMAP})


@functools.cache
def possible_cpus() -> int:
    """Return the number of possible CPUs: the length of a per-CPU value.

    Read once from ``/sys/devices/system/cpu/possible``.
    """
    with open("/sys/devices/system/cpu/possible", encoding="ascii") as f:
        return codec.parse_cpu_list(f.read())


def _info_from_kernel(raw: Any) -> MapInfo:
    try:
        map_type: MapType | int = MapType(raw.type)
    except ValueError:
        map_type = int(raw.type)
    return MapInfo(
        type=map_type,
        id=int(raw.id),
        key_size=int(raw.key_size),
        value_size=int(raw.value_size),
        max_entries=int(raw.max_entries),
        flags=int(raw.map_flags),
        name=bytes(raw.name).split(b"\0", 1)[0].decode("utf-8", "replace"),
        ifindex=int(raw.ifindex),
        map_extra=int(raw.map_extra),
        btf_id=int(raw.btf_id),
        btf_key_type_id=int(raw.btf_key_type_id),
        btf_value_type_id=int(raw.btf_value_type_id),
        btf_vmlinux_value_type_id=int(raw.btf_vmlinux_value_type_id),
    )


def _type_name(t: MapType | int) -> str:
    return t.name if isinstance(t, MapType) else f"type {t}"


def check_fd(fd: object, what: str) -> int:
    """Return ``fd`` as an int after checking it is an open BPF map descriptor.

    Raises:
        TypeError: ``fd`` is not an int.
        BPFError: ``EBADF`` for a negative or closed fd, ``EINVAL`` for an fd
            that is not a BPF map (the errnos the kernel would give).
    """
    return check_kind(fd, what, "map", takes="a Map or an int file descriptor")


class _NotThisMapError(AttributeError, TypeError):
    """A method of another family of maps (``push`` on a HASH): an ``AttributeError``
    (``hasattr`` is False), and a ``TypeError`` as these calls raised before."""


# Methods only some map classes have, and who has them.
_ELSEWHERE = {
    "push": "QUEUE, STACK and BLOOM_FILTER maps (KeylessMap)",
    "pop": "QUEUE and STACK maps (KeylessMap)",
    "peek": "QUEUE and STACK maps (KeylessMap)",
    "contains_value": "BLOOM_FILTER maps (KeylessMap)",
    "get_map": "ARRAY_OF_MAPS and HASH_OF_MAPS (OuterMap)",
    "open_inner": "ARRAY_OF_MAPS and HASH_OF_MAPS (OuterMap)",
    "inner_lookup": "ARRAY_OF_MAPS and HASH_OF_MAPS (OuterMap)",
}


class _BuiltOnFirstUse:
    """``map._fast``: the map's :class:`ElemOps`, built on the first access and then
    kept in the instance (this non-data descriptor is not consulted again)."""

    def __get__(self, obj: _Elements[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        with _ELEM_LOCK:
            fast = obj.__dict__.get("_fast")
            if fast is None:
                fast = obj.__dict__["_fast"] = obj._make_elem()
            return fast


class _FastMethod:
    """An element method of a map without a value codec: on the map, the map's
    ElemOps closure itself (one syscall, no Python frame in between); on the
    class, the general method it equals (``Map.lookup(m, key)`` works, and
    the documentation is that method's)."""

    def __init__(self, general: Any) -> None:
        self.general = general
        self.name = general.__name__.rsplit("_", 1)[-1]  # _decoding_lookup -> lookup
        self.__doc__ = general.__doc__
        self.__wrapped__ = general

    def __get__(self, obj: _Elements[Any] | None, owner: type) -> Any:
        if obj is None:
            return self.general
        return getattr(obj._fast, self.name)


def _find(cls: type, name: str) -> Any:
    """``name`` as the class defines it (not as ``getattr`` gives it: no descriptors run)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


class _Elements(KernelObject, Generic[V]):
    """A map's fd, attributes, codecs and element operations (see :class:`Map`)."""

    def __init__(self, fd: FD, info: MapInfo) -> None:
        """Wrap ``fd`` (now owned by this object). Use the class methods instead."""
        self._fd = fd
        self._known = info  # id 0: made from its spec, the id is read on first use
        self._type: MapType | int = info.type
        self._key_size = info.key_size
        self._value_size = info.value_size
        self._key_limit = 1 << (8 * info.key_size)

    # ------------------------------------------------------------- attributes

    @property
    def _info(self) -> MapInfo:
        """The kernel's description of the map as it was made (the id read on first use).

        Raises ``ValueError`` for a map closed before anything needed its id.
        """
        info = self._known
        if not info.id:  # created here from a spec that said everything else
            try:
                with self._use() as fd:
                    info = _info_from_kernel(ops.map_info(fd))
            except OSError as err:
                raise self._error("info", err) from None
            self._known = info
        return info

    @property
    def id(self) -> int:
        """The kernel's id of this map.

        Raises:
            ValueError: the map was closed before its id was first read
                (a map created here learns its id on first use).
        """
        return self._info.id

    @property
    def type(self) -> MapType | int:
        """The map type (a plain int for a type newer than this library)."""
        return self._type

    @property
    def key_size(self) -> int:
        """Key size in bytes."""
        return self._key_size

    @property
    def value_size(self) -> int:
        """Value size in bytes (of one CPU's value for per-CPU maps)."""
        return self._value_size

    @property
    def max_entries(self) -> int:
        """The kernel's max_entries."""
        return self._known.max_entries

    @property
    def flags(self) -> int:
        """Map flags as the kernel reports them."""
        return self._known.flags

    @property
    def name(self) -> str:
        """The map's name (at most 15 characters)."""
        return self._known.name

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"id={self.id}"
        return f"<{type(self).__name__} {_type_name(self._type)} '{self.name}' {state}>"

    # ----------------------------------------------------------------- codecs

    def _describe(self) -> str:
        return f"{_type_name(self._type)} '{self.name}'"

    def _encode_key(self, key: object) -> bytes:
        if type(key) is int and 0 <= key < self._key_limit:  # the common case, fast
            return key.to_bytes(self._key_size, "little")
        return codec.encode(key, self._key_size, "key")

    _fast = _BuiltOnFirstUse()

    def _elem(self) -> ops.ElemOps:
        """The element fast path (built on first use): one syscall per lookup/update/delete.

        Its errors are this map's: ``BPFError`` from :meth:`_error`, and
        ``ValueError`` once the map is closed. It holds the ``FD`` and only a
        weak reference to the map, so dropping the map still frees it.
        """
        fast: ops.ElemOps = self._fast
        return fast

    def _make_elem(self) -> ops.ElemOps:
        ref = weakref.ref(self)
        describe = self._describe()

        def on_error(op: str, code: int, key: object) -> BaseException:
            m = ref()
            if m is None:
                return error(op, describe, code)
            return m._error(op, OSError(code, strerror(code)), key=key)

        def check_flags(flags: int, key: object) -> None:
            m = ref()
            if m is not None:
                m._check_flags(flags, "update", key)

        t = self._type
        plain = type(self)._encode_value is _Elements._encode_value
        return ops.ElemOps(
            self._fd,
            self._key_size,
            self._buf_size,
            describe=describe,
            key_encode=functools.partial(codec.encode, size=self._key_size, what="key"),
            value_encode=(
                functools.partial(codec.encode, size=self._value_size, what="value")
                if plain
                else None
            ),
            on_error=on_error,
            check_flags=check_flags,
            # Updates of outer maps wait for RCU (~8 ms): let other threads run.
            release_gil=not isinstance(t, MapType) or t.is_outer or t == MapType.STRUCT_OPS,
        )

    def close(self) -> None:
        """Close the file descriptor; idempotent.

        Element operations in flight finish first; later ones (also through
        a bound ``m.lookup`` kept elsewhere) raise ``ValueError``.
        """
        fast = self.__dict__.get("_fast")
        if fast is not None:
            fast.invalidate()
        super().close()

    def _encode_value(self, value: object) -> bytes:
        return codec.encode(value, self._value_size, "value")

    def _encode_item(self, key: object, value: object) -> bytes:
        """The value to store at ``key`` (``key`` only names it in errors)."""
        return self._encode_value(value)

    def _decode_value(self, raw: bytes) -> V:
        return raw  # type: ignore[return-value]

    @property
    def _buf_size(self) -> int:
        """Bytes the kernel writes for one value."""
        return self._value_size

    def _key_label(self, key: object) -> str:
        if isinstance(key, int) and not isinstance(key, bool):
            return f"key {key}"
        if isinstance(key, (bytes, bytearray, memoryview)):
            return f"key 0x{bytes(key).hex()}" if len(bytes(key)) else ""
        return ""

    def _error(
        self, op: str, err: OSError, *, key: object = None, hint: str | None = None
    ) -> BPFError:
        code = err.errno or 0
        if hint is None:
            hint = self._hint(op, code, key)
        return error(op, self._target(key), code, hint)

    def _target(self, key: object = None) -> str:
        """This map in a message, and where in it: ``HASH 'counts' key 3``."""
        label = self._key_label(key) if key is not None else ""
        return f"{self._describe()} {label}" if label else self._describe()

    def _hint(self, op: str, code: int, key: object) -> str | None:
        t = self._type
        if code == errno.EPERM and op in (
            "update",
            "delete",
            "push",
            "pop",
            "update_batch",
            "delete_batch",
        ):
            return "the map is frozen or was opened read-only"
        if code == errno.EPERM:
            return "needs root or CAP_BPF"
        if code == errno.E2BIG:
            if isinstance(t, MapType) and t.is_array:
                return f"index must be below max_entries {self.max_entries}"
            return f"the map is full (max_entries {self.max_entries})"
        if code == ENOTSUPP or code == errno.EOPNOTSUPP:
            return f"{_type_name(t)} does not support {op}"
        if code == errno.EEXIST and op == "update":
            return "the key exists and NOEXIST was given"
        if code == errno.ENOENT and op == "update":
            return "the key does not exist and EXIST was given"
        if code == errno.EINVAL and op == "delete" and isinstance(t, MapType) and t.is_array:
            return f"elements of {t.name} cannot be deleted"
        if code == errno.EINVAL and op in ("update", "update_batch") and t in _DEV_MAPS:
            return "the value must be the ifindex of an existing network device"
        if code == errno.EINVAL and op in ("update", "update_batch") and t in _FD_MAPS:
            return f"the value must be an open fd of what {_type_name(t)} holds"
        if code == errno.ENOENT and op in ("lookup", "delete", "lookup_and_delete"):
            return "no such key"
        return None

    # ------------------------------------------------------------ elements

    def _lookup_raw(self, key: object) -> bytes | None:
        return self._elem().lookup(key)

    def _decoding_lookup(self, key: object) -> V | None:
        """Return the value at ``key``, or None when there is none.

        Raises:
            ValueError, TypeError: a key of the wrong size or type.
            BPFError: the kernel refused for another reason.
        """
        raw = self._lookup_raw(key)
        return None if raw is None else self._decode_value(raw)

    def get(self, key: object, default: Any = None) -> Any:
        """Return the value at ``key``, or ``default`` when there is none."""
        raw = self._lookup_raw(key)
        return default if raw is None else self._decode_value(raw)

    def __getitem__(self, key: object) -> V:
        """``m[key]``: the value at ``key``.

        Raises:
            KeyNotFoundError: (a ``KeyError``) when there is none.
            ValueError, TypeError: a key of the wrong size or type.
        """
        raw = self._lookup_raw(key)
        if raw is None:
            raise KeyNotFoundError(f"lookup {self._target(key)}: no such key")
        return self._decode_value(raw)

    def __contains__(self, key: object) -> bool:
        """``key in m``: True when the map has a value at ``key``.

        Raises:
            ValueError, TypeError: a key of the wrong size or type.
        """
        return self._lookup_raw(key) is not None

    def _encoding_update(self, key: object, value: Any, flags: int = ANY) -> None:
        """Set ``key`` to ``value``. ``flags``: ANY, NOEXIST or EXIST (or F_LOCK).

        One ``bpf(2)`` call with preallocated buffers. Minimum kernel: 3.19
        (``F_LOCK``: 5.1).

        Raises:
            ValueError, TypeError: a key/value of the wrong size or type;
                nothing is sent to the kernel.
            BPFError: ``EEXIST`` (NOEXIST on an existing key), ``ENOENT``
                (EXIST on a missing key), ``E2BIG`` (full, or index out of
                range), ``EPERM`` (frozen or read-only), ...
        """
        self._check_flags(flags, "update", key)
        self._elem().update(key, self._encode_item(key, value), flags)

    def __setitem__(self, key: object, value: Any) -> None:
        """``m[key] = value``: :meth:`update` with ``ANY``."""
        self.update(key, value)

    def _check_flags(self, flags: object, op: str = "update", key: object = None) -> None:
        """Raise before the syscall for flags this map cannot take."""
        if not isinstance(flags, int) or isinstance(flags, bool) or not 0 <= flags < 1 << 64:
            raise ValueError(
                f"flags must be a u64 int (ANY, NOEXIST, EXIST, F_LOCK), got {flags!r}"
            )

    def _delete(self, key: object) -> None:
        """Delete ``key``. Minimum kernel: 3.19.

        Raises:
            KeyError: (a :class:`KeyNotFoundError`) when the key is absent.
            BPFError: ``EINVAL`` on array maps, whose elements cannot be deleted.
        """
        self._elem().delete(key)

    # lookup, update and delete of a map whose values need no codec are its
    # ElemOps closures (one syscall, no Python frame in between); a subclass
    # with its own value codec uses the general methods above instead
    # (checked by __init_subclass__).
    if TYPE_CHECKING:
        lookup = _decoding_lookup
        update = _encoding_update
        delete = _delete
    else:
        lookup = _FastMethod(_decoding_lookup)
        update = _FastMethod(_encoding_update)
        delete = _FastMethod(_delete)

    if not TYPE_CHECKING:  # a __getattr__ would make every attribute Any to type checkers

        def __getattr__(self, name: str) -> Any:
            """Only for names the class lacks: say which maps have ``push``, ``get_map``, ..."""
            where = _ELSEWHERE.get(name)
            if where is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            raise _NotThisMapError(f"{name} is for {where}, not {self._describe()}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        codecs = ("_encode_value", "_encode_item", "_decode_value")
        if any(getattr(cls, c) is not getattr(_Elements, c) for c in codecs):
            for name, general in (("lookup", "_decoding_lookup"), ("update", "_encoding_update")):
                if isinstance(_find(cls, name), _FastMethod):
                    raise TypeError(
                        f"{cls.__name__} has its own value codec:"
                        f" set {name} = Map.{general} in its class body"
                    )

    def __delitem__(self, key: object) -> None:
        """``del m[key]``: :meth:`delete`."""
        self.delete(key)

    def lookup_and_delete(self, key: object) -> V | None:
        """Remove ``key`` and return its value, or None when absent.

        Minimum kernel: 5.14 for hash maps.

        Raises:
            BPFError: ``ENOTSUPP`` for map types without the command.
        """
        k = self._encode_key(key)
        try:
            with self._use() as fd:
                raw = ops.map_lookup_and_delete_elem(fd, k, self._buf_size)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise self._error("lookup_and_delete", err, key=key) from None
        return self._decode_value(raw)
