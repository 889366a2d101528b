"""Live kernel maps: :class:`Map` owns one map file descriptor.

A ``Map`` is opened by :meth:`Map.create`, :meth:`Map.from_id`,
:meth:`Map.from_pinned` or :meth:`Map.from_fd` and closed by :meth:`Map.close`
(or a ``with`` block). Keys and values are ``bytes`` of the map's sizes or
``int`` (unsigned little-endian). The class of a map follows its type
(:meth:`Map._class_for`): per-CPU maps read and write one value per possible
CPU (:class:`PerCPUMap`), QUEUE/STACK/BLOOM_FILTER push and pop
(:class:`bpfnest.maps.KeylessMap`), outer maps take inner maps and give back
their ids (:class:`bpfnest.maps.OuterMap`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _pins, codec
from .._hints import create_hint as _create_hint
from .._object import KernelObject, iter_ids
from .._sys import ops
from .._sys.fd import FD
from .._sys.uapi import BPF_F_RDONLY, BPF_F_WRONLY, Cmd
from ..constants import MapType
from ..errors import BPFError, error
from ..spec import PIN_BY_NAME, MapInfo, MapSpec, check_pin_dir
from ._batch import split_percpu
from ._elements import V, _info_from_kernel, _type_name, possible_cpus
from ._typed import _TypedData

__all__ = ["Map", "PerCPUMap", "map_ids"]

if TYPE_CHECKING:
    from ..btf import BTF
    from ..link import Link

_M = TypeVar("_M", bound="Map[Any]")

# Map type -> the class its maps get (filled by the subclasses' ``types=``).
_CLASSES: dict[MapType, type[Map[Any]]] = {}


class Map(_TypedData[V]):
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

    def __init_subclass__(cls, *, types: frozenset[MapType] = frozenset(), **kw: Any) -> None:
        """``class PerCPUMap(Map[...], types=...)``: maps of these types get this class."""
        super().__init_subclass__(**kw)
        for t in types:
            _CLASSES[t] = cls

    # ----------------------------------------------------------- construction

    @staticmethod
    def _class_for(map_type: MapType | int) -> type[Map[Any]]:
        """The class of a map of ``map_type``: the one factory every opening goes through."""
        return _CLASSES.get(map_type, Map) if isinstance(map_type, MapType) else Map

    _kind = "map"
    _get_fd_by_id = Cmd.MAP_GET_FD_BY_ID

    @classmethod
    def _from_owned(cls: type[_M], fd: FD) -> _M:
        """Wrap ``fd`` in the class its type has (:meth:`_class_for`), which must be ``cls``
        or a subclass (``OuterMap.from_id`` of a HASH is refused)."""
        info = _info_from_kernel(ops.map_info(fd.raw))
        kind = Map._class_for(info.type)
        if not issubclass(kind, cls):
            raise TypeError(
                f"map '{info.name}' is a {_type_name(info.type)} map: a {kind.__name__},"
                f" not a {cls.__name__} (open it with Map or {kind.__name__})"
            )
        made: _M = kind(fd, info)
        return made

    @classmethod
    def create(
        cls: type[_M],
        spec: MapSpec,
        *,
        btf_fd: int = 0,
        pin_root: str | os.PathLike[str] | None = None,
    ) -> _M:
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
        ``pin_root/<name>`` (``pin_root/<pin_dir>/<name>`` when the spec has a
        ``pin_dir``, as iproute2's objects do; dots become ``_``, as libbpf
        does; missing directories are made 0700 and no symlink is followed
        anywhere in the path); when a map is
        pinned there already it is opened instead, checked against ``spec``,
        and its entries are left as they are. All or nothing: a failure while
        filling or pinning closes the new map. Minimum kernel: 3.19
        (ARRAY_OF_MAPS/HASH_OF_MAPS 4.12, BTF 4.18, pinning 4.4).

        Raises:
            TypeError, ValueError: a malformed spec, a spec of another class
                (``OuterMap.create`` of a HASH spec), contents naming a map or
                program (or a keyless map with contents), ``PIN_BY_NAME``
                without ``pin_root``, another ``pinning``; nothing was created.
            BPFError: the kernel refused; the message names map and cause
                (also a pinned map that does not match ``spec``).
        """
        if not isinstance(spec, MapSpec):
            raise TypeError(f"spec must be a MapSpec, got {type(spec).__name__}")
        kind = Map._class_for(spec.type)
        if not issubclass(kind, cls):
            raise TypeError(
                f"map '{spec.name}': {cls.__name__}.create cannot make a {spec.type.name} map"
                f" (it is a {kind.__name__}: use Map.create or {kind.__name__}.create)"
            )
        spec.validate()
        place = _pin_place(spec, pin_root)
        _check_contents(spec)
        if place is None:
            return _filled(kind._new(spec, btf_fd=btf_fd), spec)
        # Pinned by name: the directory is walked without following a symlink
        # (made 0700 where missing), and the pin is looked up and made
        # relative to it, as a collection does.
        directory, fname = place
        created: list[str] = []
        dir_fd = _pins.open_dir(directory, create=True, created=created)
        assert dir_fd is not None
        try:
            where = os.path.join(directory, fname)
            reused = _pins.reuse_pinned(dir_fd, fname, where)
            if reused is not None:
                return _checked(cls, reused, spec, where)
            m: _M = _filled(kind._new(spec, btf_fd=btf_fd), spec)
            try:
                m.pin(fname, dir_fd=dir_fd)
            except BaseException:
                m.close()
                raise
            return m
        except BaseException:
            _pins.remove_dirs(created)
            raise
        finally:
            os.close(dir_fd)

    @classmethod
    def _new(cls: type[_M], spec: MapSpec, *, btf_fd: int) -> _M:
        """A new map of ``spec`` (validated), not filled or pinned; owned by the caller."""
        fd, info = _create_fd(spec, inner_fd=0, btf_fd=btf_fd)
        return cls(fd, info)

    @classmethod
    def from_pinned(
        cls: type[_M], path: _pins.PathArg, *, readonly: bool = False, dir_fd: int | None = None
    ) -> _M:
        """Open the map pinned at ``path`` on a bpffs; the caller owns (and closes) it.

        ``path`` is a ``str``, ``bytes`` or ``os.PathLike``; with ``dir_fd``
        (an open directory) a relative ``path`` is taken from there, as
        ``os.open`` does (``BPF_F_PATH_FD`` on Linux 6.5, ``/proc`` before).
        ``readonly`` opens it with ``BPF_F_RDONLY`` (updates then fail with
        EPERM). Minimum kernel: 4.4.

        Raises:
            TypeError: ``path`` is not a path (e.g. None); the map is not of
                this class (``OuterMap.from_pinned`` of a HASH).
            ValueError: ``path`` is empty or holds a NUL byte.
            BPFError: ``ENOENT`` when nothing is pinned there, ``EINVAL`` when
                the pinned object is not a map, ``EPERM`` without privileges.
        """
        return cls._open_pinned(path, dir_fd, BPF_F_RDONLY if readonly else 0)

    def _check_against(self, spec: MapSpec, what: str) -> None:
        """Raise unless this map is what ``spec`` describes (a pin reused, a
        collection's map replaced): type, key and value size, max_entries and
        flags, as libbpf's ``map_is_reuse_compat``. ``what`` starts the message.

        Raises:
            BPFError: ``EINVAL`` naming the first field that differs.
        """
        for field, theirs, mine in (
            ("type", self.type, spec.type),
            ("key_size", self.key_size, spec.key_size),
            ("value_size", self.value_size, spec.value_size),
            ("max_entries", self.max_entries, spec.max_entries),
            ("flags", self.flags, spec.flags),
        ):
            if theirs != mine:  # refused here: no strerror
                why = f"{field} {_shown(theirs)} != spec {_shown(mine)}"
                raise BPFError(errno.EINVAL, f"{what}: {why}", reason=why)

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
        from ..btf import BTF  # here: opening and listing maps need no BTF code

        return BTF.parse(raw, file=f"BTF id {btf_id}")

    def attach_struct_ops(self) -> Link:
        """Register this STRUCT_OPS map (a ``SEC(".struct_ops")`` or
        ``SEC(".struct_ops.link")`` variable of a loaded object: a TCP
        congestion control, ...) with the kernel; the caller owns the result.

        The map's value is written with its programs' fds. A
        ``.struct_ops.link`` map (``BPF_F_LINK``) is then registered by a BPF
        link (``BPF_LINK_CREATE``, 6.4): a :class:`~bpfnest.Link` of type
        ``STRUCT_OPS`` whose :meth:`~bpfnest.Link.update` swaps in another
        such map. A ``.struct_ops`` map is registered by the write itself
        (5.6): the result is a :class:`~bpfnest.link.StructOpsRegistration`
        (id 0, type ``UNSPEC``). Closing either unregisters. Needs CAP_BPF
        and CAP_SYS_ADMIN (or root); registering a TCP congestion control
        makes it available to every socket of the host.

        Raises:
            TypeError: not a STRUCT_OPS map (before any syscall).
            ValueError: the map, or one of its programs, is closed; a map not
                loaded from its object (it knows no programs).
            BPFError: the kernel refused: ``EEXIST`` when a struct_ops of that
                name is registered already, ``EBUSY`` for a ``.struct_ops``
                map registered before, ``EINVAL`` for a value it refuses.
        """
        from ..link._struct_ops import attach_struct_ops

        return attach_struct_ops(self)

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


def _pin_place(spec: MapSpec, pin_root: object) -> tuple[str, str] | None:
    """Where :meth:`Map.create` pins ``spec``: (directory, file name), or None
    when it is not pinned; ``ValueError`` when it cannot be."""
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
    _pins.check_name(spec.name, "map")
    check_pin_dir(spec.pin_dir, what)
    root = _pins.check_path(os.fspath(pin_root), "pin_root")
    return os.path.join(root, spec.pin_dir) if spec.pin_dir else root, _pins.pin_name(spec.name)


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


def _filled(m: _M, spec: MapSpec) -> _M:
    """``m`` with ``spec.contents`` put in; closed when that fails."""
    if spec.contents:
        try:
            _fill(m, spec.contents)
        except BaseException:
            m.close()
            raise
    return m


def _checked(cls: type[_M], m: Map[Any], spec: MapSpec, where: str) -> _M:
    """The pinned map ``m`` that :meth:`Map.create` reuses, checked against
    ``spec`` (and of class ``cls``); closed when it does not fit."""
    try:
        if not isinstance(m, cls):
            raise TypeError(
                f"reuse pinned map '{spec.name}' at {where}: it is a {type(m).__name__},"
                f" not a {cls.__name__}"
            )
        m._check_against(spec, f"reuse pinned map '{spec.name}' at {where}")
    except BaseException:
        m.close()
        raise
    return m


class PerCPUMap(Map[list[bytes]], types=frozenset(t for t in MapType if t.is_per_cpu)):
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

    def _decode_block(self, buffer: Any, offset: int, count: int) -> Iterable[list[bytes]]:
        return split_percpu(buffer, offset, count, self._value_size, self._ncpus)

    lookup = Map._decoding_lookup
    update = Map._encoding_update


def map_ids() -> Iterator[int]:
    """Yield the id of every map in the system, in increasing order.

    Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    return iter_ids(Cmd.MAP_GET_NEXT_ID, "maps")


def _create_fd(spec: MapSpec, *, inner_fd: int, btf_fd: int = 0) -> tuple[FD, MapInfo]:
    """BPF_MAP_CREATE of ``spec`` (validated); the caller owns the fd. The info is
    what the spec says with id 0 (``_Elements._info`` reads the kernel's on first
    use), or the kernel's where the kernel changes what was asked.

    Raises:
        BPFError: the kernel refused; the message names the map and the likely cause.
    """
    flags = spec.flags
    numa = 0
    if spec.numa_node is not None:
        from ..constants import F_NUMA_NODE

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
        raise error("create", f"{spec.type.name} '{spec.name}'", code, hint) from None
    if not spec.ifindex and not flags & _FD_ONLY_FLAGS:
        # The kernel keeps what was asked: only the id (and with btf_fd the BTF's
        # id) are unknown; the whole info is read when the id is first needed.
        return fd, MapInfo(
            type=spec.type,
            id=0,
            key_size=spec.key_size,
            value_size=spec.value_size,
            max_entries=spec.max_entries,
            flags=flags,
            name=spec.name[:15],
            map_extra=spec.map_extra,
            btf_key_type_id=spec.btf_key_type_id if btf_fd else 0,
            btf_value_type_id=spec.btf_value_type_id if btf_fd else 0,
        )
    try:
        return fd, _info_from_kernel(ops.map_info(fd.raw))
    except BaseException:
        fd.close()
        raise


#: Creation flags the kernel keeps on the fd, not the map (``bpf_map_flags_retain_permanent``).
_FD_ONLY_FLAGS = BPF_F_RDONLY | BPF_F_WRONLY


def _shown(value: object) -> str:
    """A field's value in a message: a map type by its name."""
    return value.name if isinstance(value, MapType) else str(value)
