"""Live kernel maps: :class:`Map` owns one map file descriptor.

A ``Map`` is opened by :meth:`Map.create`, :meth:`Map.from_id`,
:meth:`Map.from_pinned` or :meth:`Map.from_fd` and closed by :meth:`Map.close`
(or a ``with`` block). Keys and values are ``bytes`` of the map's sizes or
``int`` (unsigned little-endian). Per-CPU maps read and write one value per
possible CPU (:class:`PerCPUMap`); outer maps take inner maps and give back
their ids (:class:`bpfnest.outer.OuterMap`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from . import _batch, codec
from ._hints import create_hint as _create_hint
from ._object import KernelObject, fd_kind_of, iter_ids, open_by_id, pinned_hint
from ._sys import ops
from ._sys.fd import FD, at_fork_child, dup_owned
from ._sys.uapi import Cmd
from .btf import BTF
from .constants import ANY, ENOTSUPP, MapType
from .errors import BPFError, IterationAbortedError, KeyNotFoundError, strerror
from .spec import PIN_BY_NAME, MapInfo, MapSpec

__all__ = ["Map", "PerCPUMap", "map_ids", "possible_cpus"]

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

    The kernel says what the fd is (BPF_OBJ_GET_INFO_BY_FD and a map-only
    command); /proc is not needed.

    Raises:
        TypeError: ``fd`` is not an int.
        BPFError: ``EBADF`` for a negative or closed fd, ``EINVAL`` for an fd
            that is not a BPF map (the errnos the kernel would give).
    """
    if not isinstance(fd, int) or isinstance(fd, bool):
        raise TypeError(f"{what} must be a Map or an int file descriptor, got {type(fd).__name__}")
    try:
        kind, desc = fd_kind_of(fd) if fd >= 0 else ("", "")
    except OSError:
        kind, desc = "", ""
    if not desc:
        raise BPFError(
            errno.EBADF, f"{what}: fd {fd}: {strerror(errno.EBADF)} (not an open file descriptor)"
        )
    if kind != "map":
        raise BPFError(errno.EINVAL, f"{what}: fd {fd} is not a BPF map (it is {desc})")
    return fd


class Map(KernelObject, Generic[V]):
    """A BPF map in the kernel; owns one file descriptor.

    Open one with :meth:`create`, :meth:`from_id`, :meth:`from_pinned` or
    :meth:`from_fd`; close it with :meth:`close` or a ``with`` block. Closing
    the last fd (and pin) of a map frees it; an outer map holding it keeps it.

    Keys and values are ``bytes`` of exactly ``key_size``/``value_size`` or
    ``int`` (unsigned little-endian); lookups return ``bytes``. Operations on a
    closed map raise ``ValueError``. A ``Map`` may be shared between threads:
    a ``close()`` waits for the operations in flight and later ones fail.

    Minimum kernel: 3.19 for hash and array maps and their element
    operations; each map type has its own (e.g. 4.12 for outer maps, 4.20
    for QUEUE/STACK, 5.16 for BLOOM_FILTER), and methods that need more say so.
    """

    def __init__(self, fd: FD, info: MapInfo) -> None:
        """Wrap ``fd`` (now owned by this object). Use the class methods instead."""
        self._fd = fd
        self._info = info
        self._type: MapType | int = info.type
        self._key_size = info.key_size
        self._value_size = info.value_size
        self._key_limit = 1 << (8 * info.key_size)
        self._fast: ops.ElemOps | None = None
        if type(self) is Map:
            # The element fast path: lookup/update/delete of a plain map are
            # the ElemOps closures themselves (no method frame in between).
            fast = self._elem()
            self.__dict__.update(lookup=fast.lookup, update=fast.update, delete=fast.delete)

    # ----------------------------------------------------------- construction

    @staticmethod
    def _wrap(
        fd: FD, info: MapInfo, *, inner: MapSpec | None = None, template: MapInfo | None = None
    ) -> Map[Any]:
        """Return the right class of ``Map`` for ``info``'s type; owns ``fd``."""
        if isinstance(info.type, MapType) and info.type.is_outer:
            from .outer import OuterMap

            return OuterMap(fd, info, inner=inner, template=template)
        if isinstance(info.type, MapType) and info.type.is_per_cpu:
            return PerCPUMap(fd, info)
        return Map(fd, info)

    @staticmethod
    def _adopt(fd: FD, op: str, what: str) -> Map[Any]:
        """Wrap ``fd`` (owned from here) after reading its info; closes it on failure."""
        try:
            try:
                info = _info_from_kernel(ops.map_info(fd.raw))
            except OSError as err:
                raise BPFError(err.errno or 0, f"{op} {what}: {err.strerror}") from None
            return Map._wrap(fd, info)
        except BaseException:
            fd.close()
            raise

    @classmethod
    def create(
        cls, spec: MapSpec, *, btf_fd: int = 0, pin_root: str | os.PathLike[str] | None = None
    ) -> Map[Any]:
        """Create a map from ``spec``; the caller owns (and closes) the result.

        For ``ARRAY_OF_MAPS``/``HASH_OF_MAPS`` the inner template is created
        from ``spec.inner`` (or the given ``Map`` is used) and closed before
        this returns. With ``btf_fd`` (a loaded BTF, e.g. a collection's),
        ``spec.btf_key_type_id``/``btf_value_type_id`` name the key and value
        types there, so that tools can print entries decoded.

        ``spec.contents`` fills the new map (one ``update_batch``): values of
        an outer map are ``Map`` objects or int fds, of a ``PROG_ARRAY``
        ``Program`` objects or int fds; a *name* of another map or program
        resolves only in a collection (``CollectionSpec.load``). With
        ``spec.pinning == PIN_BY_NAME`` the map is pinned at
        ``pin_root/<name>`` (dots become ``_``, as libbpf does); when a map is
        pinned there already it is opened instead, checked against ``spec``,
        and its entries are left as they are. All or nothing: a failure while
        filling or pinning closes the new map. Minimum kernel: 3.19
        (ARRAY_OF_MAPS/HASH_OF_MAPS 4.12, BTF 4.18, pinning 4.4).

        Raises:
            TypeError, ValueError: a malformed spec, contents naming a map or
                program (or a keyless map with contents), ``PIN_BY_NAME``
                without ``pin_root``, another ``pinning``; nothing was created.
            BPFError: the kernel refused; the message names map and cause
                (also a pinned map that does not match ``spec``).
        """
        if not isinstance(spec, MapSpec):
            raise TypeError(f"spec must be a MapSpec, got {type(spec).__name__}")
        spec.validate()
        path = _pin_path(spec, pin_root)
        _check_contents(spec)
        if path is not None and os.path.lexists(path):
            return _reuse_pinned(spec, path)
        if spec.type.is_outer:
            from .outer import create_outer

            m: Map[Any] = create_outer(spec)
        else:
            m = Map._create(spec, inner_fd=0, btf_fd=btf_fd)
        try:
            if spec.contents:
                _fill(m, spec.contents)
            if path is not None:
                m.pin(path)
        except BaseException:
            m.close()
            raise
        return m

    @staticmethod
    def _create(
        spec: MapSpec,
        *,
        inner_fd: int,
        inner: MapSpec | None = None,
        template: MapInfo | None = None,
        btf_fd: int = 0,
    ) -> Map[Any]:
        flags = spec.flags
        numa = 0
        if spec.numa_node is not None:
            from .constants import F_NUMA_NODE

            flags |= F_NUMA_NODE
            numa = spec.numa_node
        try:
            fd = ops.map_create(
                map_type=spec.type,
                key_size=spec.key_size,
                value_size=spec.value_size,
                max_entries=spec.max_entries,
                map_flags=flags,
                inner_map_fd=inner_fd,
                numa_node=numa,
                map_name=spec.name[:15].encode(),
                map_ifindex=spec.ifindex,
                map_extra=spec.map_extra,
                btf_fd=btf_fd,
                btf_key_type_id=spec.btf_key_type_id if btf_fd else 0,
                btf_value_type_id=spec.btf_value_type_id if btf_fd else 0,
            )
        except OSError as err:
            code = err.errno or 0
            hint = _create_hint(code, spec)
            raise BPFError(
                code,
                f"create {spec.type.name} '{spec.name}': {strerror(code)}"
                + (f" ({hint})" if hint else ""),
            ) from None
        try:
            info = _info_from_kernel(ops.map_info(fd.raw))
            return Map._wrap(fd, info, inner=inner, template=template)
        except BaseException:
            fd.close()
            raise

    @classmethod
    def from_id(cls, map_id: int) -> Map[Any]:
        """Open the map with id ``map_id``; the caller owns (and closes) it.

        Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

        Raises:
            BPFError: ``ENOENT`` when no map has this id, ``EPERM`` without
                CAP_SYS_ADMIN.
        """
        fd = open_by_id(Cmd.MAP_GET_FD_BY_ID, map_id, "map")
        return Map._adopt(fd, "open", f"map id {map_id}")

    @classmethod
    def from_pinned(cls, path: str, *, readonly: bool = False) -> Map[Any]:
        """Open the map pinned at ``path`` on a bpffs; the caller owns it.

        ``readonly`` opens it with ``BPF_F_RDONLY`` (updates then fail with
        EPERM). Minimum kernel: 4.4.

        Raises:
            BPFError: ``ENOENT`` when nothing is pinned there, ``EINVAL`` when
                the pinned object is not a map, ``EPERM`` without privileges.
        """
        from ._sys.uapi import BPF_F_RDONLY

        path = str(path)
        try:
            fd = ops.obj_get(path, BPF_F_RDONLY if readonly else 0)
        except OSError as err:
            code = err.errno or 0
            hint = pinned_hint(code, path)
            raise BPFError(
                code, f"open pinned '{path}': {err.strerror}" + (f" ({hint})" if hint else "")
            ) from None
        try:
            kind, desc = fd_kind_of(fd.raw)
            if kind != "map":
                raise BPFError(errno.EINVAL, f"open pinned '{path}': not a map (it is {desc})")
        except BaseException:
            fd.close()
            raise
        return Map._adopt(fd, "open pinned", f"'{path}'")

    @classmethod
    def from_fd(cls, fd: int) -> Map[Any]:
        """Return a ``Map`` owning a duplicate of ``fd``; the caller keeps ``fd``.

        The ``Map`` is the caller's to close (closing it leaves ``fd`` open).
        Minimum kernel: 4.13 (``BPF_OBJ_GET_INFO_BY_FD``).

        Raises:
            TypeError: ``fd`` is not an int.
            BPFError: ``EBADF`` for a closed fd, ``EINVAL`` for a non-map fd.
        """
        check_fd(fd, "from_fd")
        try:
            dup = dup_owned(fd)
        except OSError as err:
            code = err.errno or 0
            raise BPFError(code, f"from_fd: fd {fd}: {strerror(code)}") from None
        return Map._adopt(dup, "open", f"fd {fd}")

    # ------------------------------------------------------------- attributes

    @property
    def id(self) -> int:
        """The kernel's id of this map."""
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
        return self._info.max_entries

    @property
    def flags(self) -> int:
        """Map flags as the kernel reports them."""
        return self._info.flags

    @property
    def name(self) -> str:
        """The map's name (at most 15 characters)."""
        return self._info.name

    def info(self) -> MapInfo:
        """Return what the kernel reports about this map now.

        Minimum kernel: 4.13.

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused (never for an open map fd).
        """
        try:
            with self._use() as fd:
                return _info_from_kernel(ops.map_info(fd))
        except OSError as err:
            raise self._error("info", err) from None

    def btf(self) -> BTF | None:
        """The BTF the map was created with (its key and value types), read back
        from the kernel; None for a map without BTF. Minimum kernel: 4.18.

        Raises:
            BPFError: the BTF cannot be opened (``EPERM`` without CAP_SYS_ADMIN).
            ParseError: the kernel's BTF does not parse.
        """
        if self.closed:
            raise ValueError(f"{self._describe()} is closed")
        btf_id = self._info.btf_id
        if not btf_id:
            return None
        try:
            fd = ops.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, btf_id)
        except OSError as err:
            raise self._error(f"open BTF id {btf_id} of", err) from None
        try:
            raw = ops.btf_data(fd.raw)
        except OSError as err:
            raise self._error(f"read BTF id {btf_id} of", err) from None
        finally:
            fd.close()
        return BTF.parse(raw, file=f"BTF id {btf_id}")

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"id={self.id}"
        return f"<{type(self).__name__} {_type_name(self._type)} '{self.name}' {state}>"

    # -------------------------------------------------------------- lifetime

    def freeze(self) -> None:
        """Make the map read-only for user space (programs may still write).

        Minimum kernel: 5.2.

        Raises:
            BPFError: ``EBUSY`` when it is frozen already or has a writable mmap.
        """
        try:
            with self._use() as fd:
                ops.map_freeze(fd)
        except OSError as err:
            hint = None
            if err.errno == errno.EBUSY:
                hint = "already frozen, or mapped writable"
            elif err.errno == errno.EPERM and self.frozen:
                hint = "already frozen: a frozen map is read-only to user space"
            raise self._error("freeze", err, hint=hint) from None

    @property
    def frozen(self) -> bool:
        """True when the map was frozen (:meth:`freeze`); read from the fd's fdinfo.

        Minimum kernel: 5.2 (older ones report False).

        Raises:
            ValueError: the map is closed.
        """
        with self._use() as fd:
            try:
                with open(f"/proc/self/fdinfo/{fd}", encoding="ascii", errors="replace") as f:
                    for line in f:
                        if line.startswith("frozen:"):
                            return line.split(":", 1)[1].strip() == "1"
            except OSError:
                pass
        return False

    # ----------------------------------------------------------------- codecs

    def _describe(self) -> str:
        return f"{_type_name(self._type)} '{self.name}'"

    def _encode_key(self, key: object) -> bytes:
        if type(key) is int and 0 <= key < self._key_limit:  # the common case, fast
            return key.to_bytes(self._key_size, "little")
        return codec.encode(key, self._key_size, "key")

    def _elem(self) -> ops.ElemOps:
        """The element fast path (built once): one syscall per lookup/update/delete.

        Its errors are this map's: ``BPFError`` from :meth:`_error`, and
        ``ValueError`` once the map is closed. It holds the ``FD`` and only a
        weak reference to the map, so dropping the map still frees it.
        """
        fast = self._fast
        if fast is not None:
            return fast
        with _ELEM_LOCK:
            if self._fast is None:
                self._fast = self._make_elem()
            return self._fast

    def _make_elem(self) -> ops.ElemOps:
        ref = weakref.ref(self)
        describe = self._describe()

        def on_error(op: str, code: int, key: object) -> BaseException:
            m = ref()
            if m is None:
                return BPFError(code, f"{op} {describe}: {strerror(code)}")
            return m._error(op, OSError(code, strerror(code)), key=key)

        def check_flags(flags: int, key: object) -> None:
            m = ref()
            if m is not None:
                m._check_flags(flags, "update", key)

        t = self._type
        plain = type(self)._encode_value is Map._encode_value
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
        fast = self._fast
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
        label = self._key_label(key) if key is not None else ""
        where = f" {label}" if label else ""
        message = f"{op} {_type_name(self._type)} '{self.name}'{where}: {strerror(code)}"
        if hint:
            message += f" ({hint})"
        if code == errno.ENOENT and op in ("lookup", "delete", "lookup_and_delete"):
            return KeyNotFoundError(message)
        return BPFError(code, message)

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

    def lookup(self, key: object) -> V | None:
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
            raise KeyNotFoundError(
                f"lookup {_type_name(self._type)} '{self.name}' {self._key_label(key)}: no such key"
            )
        return self._decode_value(raw)

    def __contains__(self, key: object) -> bool:
        """``key in m``: True when the map has a value at ``key``.

        Raises:
            ValueError, TypeError: a key of the wrong size or type.
        """
        return self._lookup_raw(key) is not None

    def update(self, key: object, value: Any, flags: int = ANY) -> None:
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

    def delete(self, key: object) -> None:
        """Delete ``key``. Minimum kernel: 3.19.

        Raises:
            KeyError: (a :class:`KeyNotFoundError`) when the key is absent.
            BPFError: ``EINVAL`` on array maps, whose elements cannot be deleted.
        """
        self._elem().delete(key)

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

    # ------------------------------------------- QUEUE, STACK, BLOOM_FILTER

    def _check_keyless(self, op: str) -> None:
        if not (isinstance(self._type, MapType) and self._type.is_keyless):
            raise TypeError(
                f"{op} is for QUEUE, STACK and BLOOM_FILTER maps, not {_type_name(self._type)}"
            )

    def push(self, value: Any, flags: int = ANY) -> None:
        """Push ``value`` (QUEUE/STACK) or add it (BLOOM_FILTER).

        With ``flags=EXIST`` a full QUEUE/STACK drops its oldest element.
        Minimum kernel: 4.20 (BLOOM_FILTER 5.16).

        Raises:
            TypeError: the map is not a QUEUE, STACK or BLOOM_FILTER.
            BPFError: ``E2BIG`` when full.
        """
        self._check_keyless("push")
        v = self._encode_value(value)
        self._check_flags(flags, "push")
        try:
            with self._use() as fd:
                ops.map_update_elem(fd, b"", v, flags)
        except OSError as err:
            raise self._error("push", err) from None

    def pop(self) -> V | None:
        """Remove and return the next value of a QUEUE/STACK; None when empty.

        Minimum kernel: 4.20.

        Raises:
            TypeError: the map is not a QUEUE or STACK.
            ValueError: the map is closed.
            BPFError: the kernel refused.
        """
        self._check_keyless("pop")
        try:
            with self._use() as fd:
                raw = ops.map_lookup_and_delete_elem(fd, b"", self._buf_size)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise self._error("pop", err) from None
        return self._decode_value(raw)

    def peek(self) -> V | None:
        """Return the next value of a QUEUE/STACK without removing it; None when empty.

        Minimum kernel: 4.20.

        Raises:
            TypeError: the map is not a QUEUE or STACK.
            ValueError: the map is closed.
            BPFError: the kernel refused.
        """
        self._check_keyless("peek")
        try:
            with self._use() as fd:
                raw = ops.map_lookup_elem(fd, b"", self._buf_size)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise self._error("peek", err) from None
        return self._decode_value(raw)

    def contains_value(self, value: Any) -> bool:
        """BLOOM_FILTER: True when ``value`` may be in the set (false positives happen).

        Minimum kernel: 5.16.

        Raises:
            TypeError: the map is not a BLOOM_FILTER, or a bad value type.
            ValueError: a value of the wrong size, or the map is closed.
            BPFError: the kernel refused.
        """
        if self._type != MapType.BLOOM_FILTER:
            raise TypeError(f"contains_value is for BLOOM_FILTER, not {_type_name(self._type)}")
        v = self._encode_value(value)
        try:
            with self._use() as fd:
                ops.map_lookup_in(fd, v)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return False
            raise self._error("lookup", err) from None
        return True

    # ------------------------------------------------------------ iteration

    def keys(self) -> Iterator[bytes]:
        """Yield every key once, as bytes (BPF_MAP_GET_NEXT_KEY).

        Survives concurrent deletion: when the kernel restarts from the first
        key (the current one was deleted), keys already given are skipped.
        A map that changes faster than it can be walked stops the iteration
        with :class:`IterationAbortedError` instead of looping forever.
        """
        return self._iter_keys()

    def _iter_keys(self) -> Iterator[bytes]:
        if isinstance(self._type, MapType) and self._type.is_keyless:
            raise TypeError(f"{self._type.name} has no keys: use pop() or peek()")
        return self._gen_keys()

    def _gen_keys(self) -> Iterator[bytes]:
        if isinstance(self._type, MapType) and self._type.is_array:
            for i in range(self.max_entries):
                self._raw()
                yield i.to_bytes(4, "little")
            return
        yield from self._walk_keys()

    def _walk_keys(self) -> Iterator[bytes]:
        seen: set[bytes] = set()
        limit = 4 * self.max_entries + 64
        steps = 0
        key: bytes | None = None
        while True:
            try:
                with self._use() as fd:
                    nxt = ops.map_get_next_key(fd, key, self._key_size)
            except OSError as err:
                raise self._error("get_next_key", err, key=key) from None
            if nxt is None:
                return
            steps += 1
            if steps > limit:
                raise IterationAbortedError(
                    f"iterate {_type_name(self._type)} '{self.name}': aborted after {steps} steps"
                    " (the map keeps changing under the iteration)"
                )
            key = nxt
            if nxt in seen:
                continue
            seen.add(nxt)
            yield nxt

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the keys, as :meth:`keys`."""
        return self.keys()

    def items(self) -> Iterator[tuple[bytes, V]]:
        """Yield ``(key, value)`` for every element; elements deleted meanwhile are skipped.

        Where the map type has BPF_MAP_LOOKUP_BATCH (hash and array maps, 5.6+)
        elements come in chunks of 1024 per syscall, so memory stays flat
        however large the map; otherwise one get_next_key and one lookup per
        element. Either way each element is given once.
        """
        return _batch.iter_items(self)

    def _items_each(self) -> Iterator[tuple[bytes, V]]:
        """:meth:`items` one element at a time (get_next_key + lookup)."""
        for key in self._iter_keys():
            raw = self._lookup_raw(key)
            if raw is not None:
                yield key, self._decode_value(raw)

    def values(self) -> Iterator[V]:
        """Yield every value; see :meth:`items`."""
        for _, value in self.items():
            yield value

    # ---------------------------------------------------------------- batch

    def lookup_batch(self, *, chunk: int = _batch.BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Return every ``(key, value)`` read with BPF_MAP_LOOKUP_BATCH.

        ``chunk`` elements per syscall. Falls back to :meth:`items` where the
        kernel has no batch command for the map type. Minimum kernel: 5.6.
        """
        return _batch.lookup_batch(self, chunk=chunk)

    def lookup_and_delete_batch(self, *, chunk: int = _batch.BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Remove every element and return them, with BPF_MAP_LOOKUP_AND_DELETE_BATCH.

        Falls back per element (lookup_and_delete, or lookup then delete where
        that is refused too: not atomic) where the kernel has no batch command
        for the map type. Minimum kernel: 5.6.
        """
        return _batch.lookup_and_delete_batch(self, chunk=chunk)

    def update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        """Set many elements with one BPF_MAP_UPDATE_BATCH; returns how many.

        Every key and value is checked before anything is sent. The kernel
        applies elements in order and stops at the first failure (not
        atomic); the error says how many were applied. Falls back per element
        where the map type has no batch command. Minimum kernel: 5.6.

        Raises:
            ValueError, TypeError: a bad key or value; nothing was sent.
            BPFError: the kernel refused an element (message names it).
        """
        return _batch.update_batch(self, items, flags)

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys with one BPF_MAP_DELETE_BATCH; returns how many.

        Stops at the first missing key (``KeyError``; the keys before it are
        deleted). Falls back per element where the map type has no batch
        command. Minimum kernel: 5.6.
        """
        return _batch.delete_batch(self, keys)


def _pin_path(spec: MapSpec, pin_root: object) -> str | None:
    """Where :meth:`Map.create` pins ``spec`` (None: not pinned); ``ValueError`` when it cannot."""
    if not spec.pinning:
        return None
    what = f"map '{spec.name}'"
    if spec.pinning != PIN_BY_NAME:
        raise ValueError(
            f"{what}: pinning {spec.pinning} is not supported by Map.create"
            f" (only PIN_BY_NAME, {PIN_BY_NAME}; or None)"
        )
    if pin_root is None:
        raise ValueError(
            f"{what}: pinning is PIN_BY_NAME but no pin_root was given:"
            f" Map.create(spec, pin_root=DIR) pins it at DIR/{spec.name or 'NAME'}"
            " (or set spec.pinning = None)"
        )
    if not isinstance(pin_root, (str, os.PathLike)):
        raise TypeError(f"pin_root must be a str or os.PathLike, got {type(pin_root).__name__}")
    if not spec.name:
        raise ValueError("map '': PIN_BY_NAME needs a name (it is the pin's file name)")
    from .collection import pin_name  # one rule for pin file names, with Collection's

    return os.path.join(os.fspath(pin_root), pin_name(spec.name))


def _check_contents(spec: MapSpec) -> None:
    """Refuse, before anything is created, contents :meth:`Map.create` cannot put in."""
    if not spec.contents:
        return
    t = spec.type
    if t.is_keyless:
        raise ValueError(
            f"map '{spec.name}': contents cannot initialise a {t.name} map (it has no keys):"
            " push() the values after create"
        )
    holds = "map" if t.is_outer else "program" if t == MapType.PROG_ARRAY else None
    if holds is None:
        return
    for key, value in spec.contents.items():
        if isinstance(value, str):
            raise ValueError(
                f"map '{spec.name}' slot [{key}]: contents names {holds} '{value}':"
                f" a name resolves only in a collection (CollectionSpec.load);"
                f" give the {'Map' if holds == 'map' else 'Program'} or its fd"
            )


def _fill(m: Map[Any], contents: Mapping[object, object]) -> None:
    """Put ``contents`` into the new map ``m`` with one ``update_batch``."""
    with contextlib.ExitStack() as held:
        items = [
            # A Program (PROG_ARRAY): its fd, held open until the update is done.
            (
                key,
                held.enter_context(v._use())
                if isinstance(v, KernelObject) and not isinstance(v, Map)
                else v,
            )
            for key, v in contents.items()
        ]
        m.update_batch(items)


def _reuse_pinned(spec: MapSpec, path: str) -> Map[Any]:
    """Open the map pinned at ``path`` for :meth:`Map.create`, checked against ``spec``."""
    from .collection import _check_compatible  # the rule Collection applies to reused pins

    m = Map.from_pinned(path)
    try:
        _check_compatible(m, spec, f"reuse pinned map '{spec.name}' at {path}")
    except BaseException:
        m.close()
        raise
    return m


class PerCPUMap(Map[list[bytes]]):
    """A per-CPU map: every value is one entry per possible CPU.

    Lookups return a list of ``bytes``, one per possible CPU. Updates take
    such a list (bytes or int each) or one bytes/int written to every CPU.
    """

    def __init__(self, fd: FD, info: MapInfo) -> None:
        super().__init__(fd, info)
        self._ncpus = possible_cpus()

    @property
    def _buf_size(self) -> int:
        return codec.percpu_stride(self._value_size) * self._ncpus

    def _encode_value(self, value: object) -> bytes:
        return codec.encode_percpu(value, self._value_size, self._ncpus)

    def _decode_value(self, raw: bytes) -> list[bytes]:
        return codec.decode_percpu(raw, self._value_size, self._ncpus)


def map_ids() -> Iterator[int]:
    """Yield the id of every map in the system, in increasing order.

    Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    return iter_ids(Cmd.MAP_GET_NEXT_ID, "maps")
