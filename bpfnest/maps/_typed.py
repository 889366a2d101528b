"""Typed data of every map: BTF key and value types, :class:`TypedMap`, ``mmap()``.

:class:`_TypedData` is the part of :class:`bpfnest.maps.Map` that knows the
map's BTF (read back from the kernel once, cached) and what follows from it:
``key_type``/``value_type`` and :meth:`~_TypedData.typed`, which wraps the
map in a :class:`TypedMap` whose keys and values are Python values made by
:mod:`bpfnest.btf.values`. ``mmap()`` maps the values of an ``F_MMAPABLE``
ARRAY into this process.
"""

from __future__ import annotations

import contextlib
import mmap as _mmap
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import codec as _codec
from ..constants import ANY, F_MMAPABLE, MapType
from ..errors import KeyNotFoundError
from ._batch import _Batched
from ._elements import V, _type_name, possible_cpus

if TYPE_CHECKING:
    from ..btf import BTF, Type
    from ..btf.values import Codec

__all__ = ["TypedMap"]

K = TypeVar("K")
T = TypeVar("T")

_LOCK = threading.Lock()  # builds a map's BTF cache and mmap once


class _TypedData(_Batched[V]):
    """BTF types, :meth:`typed` and :meth:`mmap` of a map (see :class:`Map`)."""

    if TYPE_CHECKING:

        def btf(self) -> BTF | None: ...

    # ------------------------------------------------------------- BTF types

    def _btf_types(self) -> tuple[BTF | None, Type | None, Type | None]:
        """(BTF, key type, value type), read from the kernel on first use and kept."""
        found = self.__dict__.get("_btf_types_cache")
        if found is not None:
            return found  # type: ignore[no-any-return]
        known = self._known
        kid, vid = known.btf_key_type_id, known.btf_value_type_id
        result: tuple[BTF | None, Type | None, Type | None] = (None, None, None)
        if kid or vid:
            btf = self.btf()
            if btf is not None:
                result = (
                    btf,
                    btf.type_by_id(kid) if kid else None,
                    btf.type_by_id(vid) if vid else None,
                )
        with _LOCK:
            self.__dict__.setdefault("_btf_types_cache", result)
        return result

    @property
    def key_type(self) -> Type | None:
        """The BTF type of the keys (a :mod:`bpfnest.btf` type), or None when the
        map has no BTF for them (created without ``-g``, or by hand without
        ``btf_fd``). Read from the kernel on first use (the map's BTF, by its
        id), then kept. Minimum kernel: 4.18.

        Raises:
            ValueError: the map is closed and its BTF was never read.
            BPFError: the BTF cannot be opened (``EPERM`` without CAP_SYS_ADMIN).
        """
        return self._btf_types()[1]

    @property
    def value_type(self) -> Type | None:
        """The BTF type of the values, or None; see :attr:`key_type`."""
        return self._btf_types()[2]

    def typed(self) -> TypedMap[Any, Any]:
        """This map with keys and values as Python values decoded from its BTF.

        Integers are ``int`` (bools ``bool``, enums their ``IntEnum`` member),
        structs and unions instances of ``ctypes`` classes generated from the
        BTF (:mod:`bpfnest.btf.values`), arrays ``ctypes`` arrays; a per-CPU
        map's values are a list with one such value per possible CPU. The
        :class:`TypedMap` uses this map (and its fd): close the map, not it.
        Minimum kernel: 4.18 (map BTF).

        Raises:
            ValueError: the map has no BTF for its key or value (build the
                object with ``clang -g``, or create the map with ``btf_fd``);
                the map is closed; its type has no typed view (outer maps,
                whose values are maps; QUEUE/STACK/BLOOM_FILTER).
            BPFError: its BTF cannot be read from the kernel.
        """
        t = self._type
        if isinstance(t, MapType) and (t.is_outer or t.is_keyless):
            raise ValueError(
                f"{self._describe()}: typed() is for maps of keys and values;"
                f" {t.name} maps have no typed view"
            )
        btf, kt, vt = self._btf_types()
        if btf is None or kt is None or vt is None:
            missing = " and ".join(w for w, x in (("key", kt), ("value", vt)) if x is None)
            raise ValueError(
                f"{self._describe()} has no BTF for its {missing}: build the object with"
                " clang -g (and declare the map with __type(key, ...)/__type(value, ...)),"
                " or create it with MapSpec btf_key_type_id/btf_value_type_id and btf_fd"
            )
        from ..btf.values import codec

        kc, vc = codec(btf, kt), codec(btf, vt)
        for what, c, size in (("key", kc, self._key_size), ("value", vc, self._value_size)):
            if c.size != size:
                raise ValueError(
                    f"{self._describe()}: BTF {what} type {c.name} is {c.size} bytes,"
                    f" the map's {what}_size is {size}"
                )
        ncpus = possible_cpus() if isinstance(t, MapType) and t.is_per_cpu else 0
        return TypedMap(self, kc, vc, ncpus)

    # ------------------------------------------------------------------ mmap

    def mmap(self) -> memoryview:
        """The values of this ARRAY map, mapped into this process: a writable
        ``memoryview`` (read-only for a frozen map or a read-only fd) of
        ``max_entries`` values, each ``value_size`` rounded up to 8 bytes.

        Reads and writes go straight to the map's memory, with no syscall
        (``view.cast("Q")[i]`` reads a u64 value ``i``); programs see them at
        once. Each call returns a new view of one mapping, made on the first
        call. ``close()`` of the map always succeeds: it unmaps unless a
        view is still held, in which case the mapping (and so the kernel map)
        stays until the last view is released (``view.release()``, or
        garbage); do not use a view after its map is closed. The map must
        have been created with ``F_MMAPABLE`` (as ``.data``/``.bss`` of
        objects can be). Minimum kernel: 5.5.

        Raises:
            ValueError: not an ARRAY map created with ``F_MMAPABLE``, or the
                map is closed.
            OSError: the kernel refused the mapping.
        """
        if self._type != MapType.ARRAY or not self.flags & F_MMAPABLE:
            why = (
                "it was created without F_MMAPABLE (MapSpec(..., flags=F_MMAPABLE))"
                if self._type == MapType.ARRAY
                else f"it is a {_type_name(self._type)} map"
            )
            raise ValueError(
                f"mmap() needs an ARRAY map created with F_MMAPABLE: {self._describe()}: {why}"
            )
        with _LOCK:
            mm = self.__dict__.get("_mm")
            if mm is None:
                mm = self.__dict__["_mm"] = self._map_values()
        return memoryview(mm)

    def _map_values(self) -> _mmap.mmap:
        length = _codec.percpu_stride(self._value_size) * self._known.max_entries
        with self._use() as fd:
            try:
                return _mmap.mmap(fd, length, _mmap.MAP_SHARED, _mmap.PROT_READ | _mmap.PROT_WRITE)
            except PermissionError:  # frozen, or a read-only fd: read-only then
                pass
            except OSError as err:
                raise self._error("mmap", err) from None
            try:
                return _mmap.mmap(fd, length, _mmap.MAP_SHARED, _mmap.PROT_READ)
            except OSError as err:
                raise self._error("mmap", err) from None

    def close(self) -> None:
        """Close the file descriptor (and unmap :meth:`mmap`'s mapping); idempotent.

        Never raises: a view of :meth:`mmap` still held keeps its mapping
        (and the kernel map) until it is released. Element operations in
        flight finish first; later ones raise ``ValueError``.
        """
        mm = self.__dict__.pop("_mm", None)
        if mm is not None:
            with contextlib.suppress(BufferError):  # a view is held: it keeps the mapping
                mm.close()
        super().close()


def _key_encoder(c: Codec, size: int) -> Callable[[object], object]:
    """What the element fast path gets for a typed key: an unsigned int in range as
    it is (packed there), anything else as its bytes."""
    cls, encode = c.cls, c.encode
    if cls is int and c.decode(b"\xff" * size) > 0:  # unsigned: ints go straight through
        limit = 1 << (8 * size)

        def unsigned(key: object) -> object:
            if type(key) is int and 0 <= key < limit:
                return key
            return encode(key, "key")

        return unsigned

    if cls is not c.ctype:  # bool, an IntEnum, a signed int: the codec encodes it

        def scalar(key: object) -> object:
            return encode(key, "key")

        return scalar

    def other(key: object) -> object:
        if type(key) is cls:  # a generated class: already the C layout
            return bytes(key)  # type: ignore[call-overload]
        return encode(key, "key")

    return other


class _NoShortcut:
    """Never a key's class: int keys take the general path."""


class TypedMap(Generic[K, T]):
    """A map whose keys and values are Python values from its BTF (:meth:`Map.typed`).

    It has the element API of :class:`Map` (``lookup``, ``get``, ``update``,
    ``delete``, ``m[k]``, ``m[k] = v``, ``del m[k]``, ``k in m``, ``keys``,
    ``values``, ``items``, ``update_batch``, ...). Keys and values may be
    given as instances of :attr:`key_class`/:attr:`value_class`, as ``int``
    for integer types, as a ``dict`` of field values for structs (nested
    dicts and lists for nested structs and arrays), or as raw bytes of the
    exact size (any buffer); they are checked before any syscall (an
    unknown field, an int that does not fit, a value of another struct type
    raise ``ValueError``/``TypeError`` naming it). Lookups return
    instances: changing one changes nothing in the map until it is written
    back. Per-CPU maps take and give a list with one value per possible CPU
    (or take one value for every CPU).

    The map stays the owner of its fd: a ``TypedMap`` has no ``close``; it
    works as long as its map is open (``ValueError`` after).
    """

    def __init__(self, m: _TypedData[Any], key: Codec, value: Codec, ncpus: int) -> None:
        """Wrap ``m`` (use :meth:`Map.typed` instead)."""
        self._map = m
        self._key = key
        self._value = value
        self._ncpus = ncpus
        self._ek = _key_encoder(key, m.key_size)
        self._kdec = key.decode
        # __getitem__'s shortcut: a key of the generated class is its bytes.
        self._kcls = key.cls if key.cls is key.ctype else _NoShortcut
        vdec = value.decode
        decode: Callable[[Any], Any]
        if ncpus:
            vsize = value.size
            self._vdec: Callable[[Any], Any] = lambda raws: [vdec(r) for r in raws]

            def decode(buf: Any) -> Any:
                return [vdec(r) for r in _codec.decode_percpu(bytes(buf), vsize, ncpus)]

        else:
            self._vdec = vdec
            # a generated class copies straight from the value buffer
            decode = value.cls.from_buffer_copy if value.cls is value.ctype else vdec
        # The map's element fast path, bound once (ValueError once the map is closed):
        # lookups decode from the kernel's buffer; a key of key_class goes in as it is.
        self._fetch: Callable[[object], Any] = m._elem().lookup_as(self._kcls, decode)
        self._put = m.update

    # -------------------------------------------------------------- classes

    @property
    def map(self) -> Any:
        """The :class:`Map` this wraps (its owner closes it)."""
        return self._map

    @property
    def key_class(self) -> type[K]:
        """The class of keys: a generated ``ctypes`` class, ``int``, ``bool`` or an ``IntEnum``."""
        cls: type[K] = self._key.cls
        return cls

    @property
    def value_class(self) -> type[T]:
        """The class of values (of one CPU's value for per-CPU maps); see :attr:`key_class`."""
        cls: type[T] = self._value.cls
        return cls

    @property
    def key_codec(self) -> Codec:
        """The :class:`bpfnest.btf.values.Codec` of the keys (size, C name, encode/decode)."""
        return self._key

    @property
    def value_codec(self) -> Codec:
        """The :class:`bpfnest.btf.values.Codec` of the values."""
        return self._value

    def __repr__(self) -> str:
        return (
            f"<TypedMap {self._map._describe()} {self._key.name} -> {self._value.name}"
            f"{' per CPU' if self._ncpus else ''}>"
        )

    # -------------------------------------------------------------- encode

    def _encode_value(self, value: object) -> object:
        enc = self._value.encode
        if not self._ncpus:
            return enc(value, "value")
        if isinstance(value, (list, tuple)):
            if len(value) != self._ncpus:
                n = self._ncpus
                raise ValueError(
                    f"value must have {n} entries (one per possible CPU), got {len(value)}"
                )
            return [enc(v, f"value[cpu {i}]") for i, v in enumerate(value)]
        return enc(value, "value")  # one value for every CPU

    def _missing(self, key: object) -> KeyNotFoundError:
        return KeyNotFoundError(f"lookup {self._map._describe()} key {key!r}: no such key")

    # ------------------------------------------------------------ elements

    def lookup(self, key: object) -> T | None:
        """The value at ``key``, or None when there is none (one syscall).

        Raises:
            ValueError, TypeError: a key that does not fit the key type.
            BPFError: the kernel refused.
        """
        fetch = self._fetch
        return fetch(key) if type(key) is self._kcls else fetch(self._ek(key))  # type: ignore[no-any-return]

    def get(self, key: object, default: Any = None) -> Any:
        """The value at ``key``, or ``default`` when there is none."""
        value = self.lookup(key)
        return default if value is None else value

    def __getitem__(self, key: object) -> T:
        """``tm[key]``: the value at ``key``.

        Raises:
            KeyNotFoundError: (a ``KeyError``) when there is none.
            ValueError, TypeError: a key that does not fit the key type.
        """
        fetch = self._fetch
        value = fetch(key) if type(key) is self._kcls else fetch(self._ek(key))
        if value is None:
            raise self._missing(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        """``key in tm``: True when the map has a value at ``key``."""
        return self.lookup(key) is not None

    def update(self, key: object, value: object, flags: int = ANY) -> None:
        """Set ``key`` to ``value``; ``flags`` as :meth:`Map.update`. Both are
        checked and encoded before the syscall; nothing changes on an error.

        Raises:
            ValueError, TypeError: a key or value that does not fit its type.
            BPFError: as :meth:`Map.update`.
        """
        k = self._ek(key)
        self._put(k, self._encode_value(value), flags)

    def __setitem__(self, key: object, value: object) -> None:
        """``tm[key] = value``: :meth:`update` with ``ANY``."""
        self._put(self._ek(key), self._encode_value(value))

    def delete(self, key: object) -> None:
        """Delete ``key``.

        Raises:
            KeyNotFoundError: (a ``KeyError``) when it is absent.
            BPFError: ``EINVAL`` on array maps.
        """
        self._map.delete(self._ek(key))

    def __delitem__(self, key: object) -> None:
        """``del tm[key]``: :meth:`delete`."""
        self.delete(key)

    def lookup_and_delete(self, key: object) -> T | None:
        """Remove ``key`` and return its value, or None; see :meth:`Map.lookup_and_delete`."""
        raw = self._map.lookup_and_delete(self._ek(key))
        return None if raw is None else self._vdec(raw)

    # ------------------------------------------------------------ iteration

    def keys(self) -> Iterator[K]:
        """Yield every key, decoded; see :meth:`Map.keys`."""
        kdec = self._kdec
        for raw in self._map.keys():  # noqa: SIM118 (a Map, not a dict)
            yield kdec(raw)

    def __iter__(self) -> Iterator[K]:
        """Iterate over the keys, as :meth:`keys`."""
        return self.keys()

    def items(self) -> Iterator[tuple[K, T]]:
        """Yield ``(key, value)`` for every element, decoded; see :meth:`Map.items`."""
        kdec, vdec = self._kdec, self._vdec
        for raw_key, raw_value in self._map.items():
            yield kdec(raw_key), vdec(raw_value)

    def values(self) -> Iterator[T]:
        """Yield every value, decoded; see :meth:`Map.values`."""
        for _, value in self.items():
            yield value

    def update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], *, flags: int = ANY
    ) -> int:
        """Write many elements with BPF_MAP_UPDATE_BATCH; see :meth:`Map.update_batch`.

        Every key and value is checked and encoded before anything is sent.

        Raises:
            ValueError, TypeError: a key or value that does not fit its type.
            BPFError: as :meth:`Map.update_batch`.
        """
        pairs = items.items() if isinstance(items, Mapping) else items
        encoded = [(self._ek(k), self._encode_value(v)) for k, v in pairs]
        n: int = self._map.update_batch(encoded, flags=flags)
        return n

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys with BPF_MAP_DELETE_BATCH; see :meth:`Map.delete_batch`."""
        n: int = self._map.delete_batch([self._ek(k) for k in keys])
        return n

    def mmap(self) -> Any:
        """The values of this ``F_MMAPABLE`` ARRAY as one ``ctypes`` array of
        :attr:`value_class` (``max_entries`` of them) over the map's memory:
        ``arr[i].field`` reads and ``arr[i].field = x`` writes element ``i``
        with no syscall, seen by programs at once. Only for value classes of
        generated ``ctypes`` types whose size is a multiple of 8 (the kernel's
        stride). The array holds the mapping as a :meth:`Map.mmap` view does:
        drop it before closing the map, or the mapping stays until it is
        garbage. Minimum kernel: 5.5.

        Raises:
            ValueError: not an ``F_MMAPABLE`` ARRAY; values that are not a
                generated class or not a multiple of 8 bytes; a read-only
                (frozen) map; the map is closed.
        """
        cls = self._value.cls
        if cls is not self._value.ctype or self._value.size % 8:
            raise ValueError(
                f"{self._map._describe()}: mmap() of typed values needs a struct, union or"
                f" array value of a multiple of 8 bytes (got {self._value.name},"
                f" {self._value.size} bytes): use Map.mmap() for the bytes"
            )
        view = self._map.mmap()
        if view.readonly:
            view.release()
            raise ValueError(
                f"{self._map._describe()} is mapped read-only (frozen): use Map.mmap()"
            )
        try:
            return (cls * self._map.max_entries).from_buffer(view)
        finally:
            view.release()  # the ctypes array holds its own export of the mapping
