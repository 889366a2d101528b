"""Outer maps (ARRAY_OF_MAPS, HASH_OF_MAPS): you write an fd, you read an id.

The kernel's asymmetry, stated once: an update takes the inner map's **file
descriptor** (:meth:`OuterMap._encode_inner`), a lookup returns the inner
map's **id** (:meth:`OuterMap._decode_inner`). To work with the inner map,
open it by id with :meth:`OuterMap.get_map`; the ``Map`` it returns is the
caller's to close.

Every inner map must match the outer map's template: type, key size, value
size, flags, and for arrays max_entries unless both carry ``F_INNER_MAP``.
This module checks that before the syscall and names the field that differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import resource
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import codec, features
from .._object import open_by_id
from .._sys import ops
from .._sys.fd import FD, reset_in_child
from .._sys.inner import FDLookup, close_raw, safety_close
from .._sys.uapi import Cmd
from ..constants import ANY, MapType
from ..errors import BPFError, KeyNotFoundError, error
from ..spec import MapInfo, MapSpec
from ._elements import _info_from_kernel, check_fd, possible_cpus
from ._map import Map, _create_fd

__all__ = ["OuterMap"]

_GET_MAP_TRIES = 8
#: How many inner maps :meth:`OuterMap.inner_lookup` keeps open at most; also
#: at most the outer map's max_entries and a quarter of the soft
#: RLIMIT_NOFILE (but 64 whatever the limit).
INNER_CACHE = 4096
_INNER_CACHE_MIN = 64


class _InnerCache(OrderedDict[int, int]):
    """Inner map id -> raw fd opened by id, least recently used first.

    Owned by one :class:`OuterMap` and used under its ``_cache_lock``: the
    fds are closed on eviction, :meth:`OuterMap.clear_cache` and
    :meth:`OuterMap.close` (``guard`` is the safety net). ``reader`` and
    ``decode`` read an element of any inner map; ``fd_share`` bounds the
    size. All set by :meth:`OuterMap._prepare_cache` on the first miss.
    """

    reader: FDLookup | None = None
    decode: Callable[[bytes], Any] | None = None
    fd_share: int = _INNER_CACHE_MIN
    guard: Any = None


class OuterMap(Map[int], types=frozenset(t for t in MapType if t.is_outer)):
    """An ARRAY_OF_MAPS or HASH_OF_MAPS.

    ``update(key, inner)`` takes a ``Map`` or an int fd; ``lookup(key)``,
    ``m[key]``, ``values()`` and ``items()`` give inner map **ids**;
    :meth:`get_map` opens the inner map (the caller closes it).
    """

    def __init__(
        self,
        fd: FD,
        info: MapInfo,
        *,
        inner: MapSpec | None = None,
        template: MapInfo | None = None,
    ) -> None:
        super().__init__(fd, info)
        self._inner_spec = inner
        self._template = template
        self._cache = _InnerCache()
        self._cache_lock = threading.Lock()
        self._closing = False
        reset_in_child(self)

    @classmethod
    def _new(cls, spec: MapSpec, *, btf_fd: int) -> OuterMap:
        """The outer map of ``spec`` (validated), with its template; see :meth:`Map.create`.

        A template made from ``spec.inner`` (a ``MapSpec``) is closed before this
        returns; a ``Map`` given as ``spec.inner`` stays the caller's. Made
        without BTF (``btf_fd`` is not used): the value is an inner map, not a type.
        """
        inner = spec.inner
        if isinstance(inner, Map):
            template = inner._info
            with inner._use() as inner_fd:  # no other thread closes it meanwhile
                fd, info = _create_fd(spec, inner_fd=inner_fd)
            return cls(fd, info, inner=template.to_spec(), template=template)
        if isinstance(inner, MapSpec):
            inner = _copy_spec(inner)  # the caller may change theirs; the kernel keeps this one
            # The template only gives the kernel a layout: not filled, not pinned.
            with Map.create(dataclasses.replace(inner, contents=None, pinning=None)) as tmpl:
                fd, info = _create_fd(spec, inner_fd=tmpl.fd)
                template = tmpl._info
            return cls(fd, info, inner=inner, template=template)
        raise TypeError(
            f"map '{spec.name}': inner must be a MapSpec or a Map, got {type(inner).__name__}"
        )

    def _check_against(self, spec: MapSpec, what: str) -> None:
        """As :meth:`Map._check_against`, and the inner maps ``spec.inner`` makes must
        fit this map's template: the kernel's rule, as :meth:`update` applies it.

        Raises:
            BPFError: ``EINVAL`` naming the field that differs.
        """
        super()._check_against(spec, what)
        template = self.template
        if isinstance(spec.inner, MapSpec) and template is not None:
            unfit = template.template_mismatch(
                spec.inner, max_entries_types=features.inner_max_entries_types(), label="spec inner"
            )
            if unfit is not None:
                raise BPFError(errno.EINVAL, f"{what}: {unfit}", reason=unfit)

    def _after_fork_in_child(self) -> None:
        """In a forked child: the cache lock is free again (another thread may have held it)."""
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------ template

    @property
    def inner(self) -> MapSpec | None:
        """The inner map's spec (the template), or None when it is unknown.

        For a map created here, a copy of the ``MapSpec`` it was created from
        (taken at creation: changing the caller's spec, or the one returned
        here, does not change what this reports). For a map
        opened by id, pin or fd, the kernel does not report the template: it
        is learned from an element (opened by id, which needs CAP_SYS_ADMIN),
        and is None while the map is empty.
        """
        if self._inner_spec is None:
            template = self.template
            if template is not None:
                self._inner_spec = template.to_spec()
        return None if self._inner_spec is None else _copy_spec(self._inner_spec)

    @property
    def template(self) -> MapInfo | None:
        """The template as the kernel normalised it, or None when unknown (see :attr:`inner`)."""
        if self._template is None:
            self._template = self._learn_template()
        return self._template

    def _learn_template(self) -> MapInfo | None:
        for _, inner_id in self.items():
            try:
                with Map.from_id(inner_id) as m:
                    return m._info
            except BPFError as err:
                if err.errno == errno.ENOENT:
                    continue  # replaced meanwhile
                raise
        return None

    # ---------------------------------------------------------- fd in, id out

    def _encode_inner(self, inner: object, key: object = None) -> bytes:
        """Return the value the kernel takes for ``inner``: its fd as a u32.

        Checks first that ``inner`` is an open map matching the template.

        Raises:
            TypeError: not a ``Map`` or an int.
            ValueError: a closed ``Map``.
            BPFError: ``EBADF`` (not an open fd), ``EINVAL`` (not a map, or
                not matching the template: the message names the field).
        """
        target = self._target(key)
        if isinstance(inner, Map):
            if inner.closed:
                raise ValueError(f"update {target}: the inner map '{inner.name}' is closed")
            fd, info = inner.fd, inner._info
        else:
            fd = check_fd(inner, f"update {target}: inner")
            try:
                info = _info_from_kernel(ops.map_info(fd))
            except OSError as err:
                raise error("update", f"{target}: inner fd {fd}", err.errno or 0) from None
        if isinstance(info.type, MapType) and info.type.is_outer:
            raise error(
                "update",
                target,
                errno.EINVAL,
                f"inner map is {info.type.name}: only one level of nesting",
            )
        template = self._template
        if template is not None:
            why = template.template_mismatch(
                info, max_entries_types=features.inner_max_entries_types()
            )
            if why is not None:
                raise error("update", target, errno.EINVAL, why)
        return fd.to_bytes(4, sys.byteorder)

    @staticmethod
    def _decode_inner(raw: bytes) -> int:
        """Return the inner map id the kernel wrote (a u32)."""
        return int.from_bytes(raw[:4], sys.byteorder)

    def _encode_value(self, value: object) -> bytes:
        return self._encode_inner(value)

    def _encode_item(self, key: object, value: object) -> bytes:
        return self._encode_inner(value, key)

    def _decode_value(self, raw: bytes) -> int:
        return self._decode_inner(raw)

    lookup = Map._decoding_lookup

    def _key_label(self, key: object) -> str:
        if self._type == MapType.ARRAY_OF_MAPS:
            if isinstance(key, (bytes, bytearray, memoryview)) and len(bytes(key)) == 4:
                return f"slot {int.from_bytes(bytes(key), 'little')}"
            if isinstance(key, int) and not isinstance(key, bool):
                return f"slot {key}"
        return super()._key_label(key)

    def _hint(self, op: str, code: int, key: object) -> str | None:
        if code == errno.EINVAL and op in ("update", "update_batch"):
            return "the inner map does not match the template, or the value is not a map"
        if code == errno.EBADF and op in ("update", "update_batch"):
            return "the inner map fd is not open"
        if code == errno.E2BIG and self._type == MapType.ARRAY_OF_MAPS:
            return f"slot must be below max_entries {self.max_entries}"
        if code == errno.ENOENT and op == "delete" and self._type == MapType.ARRAY_OF_MAPS:
            return "the slot is empty"
        return super()._hint(op, code, key)

    # ------------------------------------------------------------ operations

    def update(self, key: object, value: Any, flags: int = ANY) -> None:
        """Put the inner map ``value`` (a ``Map`` or an int fd) at ``key``.

        The kernel takes its own reference: the caller may close ``value``
        afterwards. Each successful update waits for an RCU grace period
        (about 8 ms). ARRAY_OF_MAPS takes only ``ANY``. A ``Map`` value is
        held open until the syscall returns, so another thread closing it
        cannot let a reused fd number into the slot. Minimum kernel: 4.12.

        Raises:
            BPFError: ``EINVAL`` for an inner map that does not match the
                template (checked before the syscall; the message names the
                field and both values) or a flag ARRAY_OF_MAPS refuses,
                ``E2BIG`` for a slot beyond max_entries, ``EEXIST``/``ENOENT``
                for NOEXIST/EXIST on HASH_OF_MAPS.
        """
        if not isinstance(value, Map) or value.closed:
            # an int fd, or an error naming the closed map
            self._encoding_update(key, value, flags)
            return
        # Borrowed: a close in another thread waits, so the fd number the
        # kernel reads is still this map's and not a reused one.
        with value._use():
            self._encoding_update(key, value, flags)
        if self._template is None:
            self._template = value._info

    def update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        """Put many inner maps in with one BPF_MAP_UPDATE_BATCH: one RCU wait for all.

        ``items`` maps keys to inner maps (``Map`` or int fd). Every inner map
        is checked against the template before the syscall, and the ``Map``
        values are held open until it returns. Minimum kernel: 5.6 (older
        ones, and types without the command, are updated slot by slot).

        Raises:
            BPFError: as :meth:`update`; a failure part-way says how many
                slots were set.
        """
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        with contextlib.ExitStack() as held:
            for pair in pairs:
                try:
                    _, value = pair
                except (TypeError, ValueError):
                    continue  # not a pair: update_batch says so
                if isinstance(value, Map) and not value.closed:
                    held.enter_context(value._use())
            return super().update_batch(pairs, flags)

    def _check_flags(self, flags: object, op: str = "update", key: object = None) -> None:
        super()._check_flags(flags, op, key)
        if self._type == MapType.ARRAY_OF_MAPS and flags != ANY:
            hint = f"ARRAY_OF_MAPS takes only ANY, not flags {flags}"
            raise error(op, self._target(key), errno.EINVAL, hint)

    def inner_lookup(self, key: object, inner_key: object) -> Any:
        """Look up ``inner_key`` in the inner map at ``key``; None when either is missing.

        Costs two lookups: the slot's id, then the element, in an inner map
        opened by id once and kept open in a cache (least recently used first
        out) that holds up to every slot of the outer map: at most its
        max_entries, ``INNER_CACHE`` (4096) and a quarter of the soft
        RLIMIT_NOFILE (64 at least). A miss costs an open by id, and the close
        of the map it evicts. The cache is safe: an open fd keeps its map's id
        from being reused, and the slot is read on every call, so a map that
        left the slot is never used again (it stays open in the cache until
        evicted, :meth:`clear_cache` or :meth:`close`). Values are what
        :meth:`Map.lookup` of the inner map gives (bytes; a list of bytes for
        per-CPU inner maps). Needs CAP_SYS_ADMIN. Minimum kernel: 4.13
        (opening by id).

        Raises:
            ValueError, TypeError: a bad ``key`` or ``inner_key``; the map is closed.
            BPFError: ``EPERM`` without CAP_SYS_ADMIN; errors of the lookups;
                ``EAGAIN`` when the slot was replaced 8 times during the call.
        """
        slot_lookup = self._elem().lookup
        cache, lock = self._cache, self._cache_lock
        for _ in range(_GET_MAP_TRIES):
            raw = slot_lookup(key)
            if raw is None:
                return None
            inner_id = int.from_bytes(raw, sys.byteorder)
            with lock:
                fd = cache.get(inner_id)
                if fd is not None:  # the hot path, written out: no method call
                    cache.move_to_end(inner_id)
                    try:
                        value = cache.reader.lookup(fd, inner_key)  # type: ignore[union-attr]
                    except OSError as err:
                        raise self._inner_error(err, inner_id, key, inner_key) from None
                    decode = cache.decode
                    return value if decode is None or value is None else decode(value)
            try:
                opened = open_by_id(Cmd.MAP_GET_FD_BY_ID, inner_id, "map")
            except BPFError as err:
                if err.errno == errno.ENOENT:
                    continue  # replaced and freed meanwhile: read the slot again
                raise
            return self._cache_and_read(opened.detach(), inner_id, key, inner_key)  # owns it
        raise error("inner_lookup", self._target(key), errno.EAGAIN, "the slot kept changing")

    def _read_inner(self, fd: int, inner_id: int, key: object, inner_key: object) -> Any:
        """The element at ``inner_key`` of the cached inner map ``fd``; hold the cache lock."""
        cache = self._cache
        assert cache.reader is not None
        try:
            raw = cache.reader.lookup(fd, inner_key)
        except OSError as err:
            raise self._inner_error(err, inner_id, key, inner_key) from None
        if raw is None or cache.decode is None:
            return raw
        return cache.decode(raw)

    def _inner_error(self, err: OSError, inner_id: int, key: object, inner_key: object) -> BPFError:
        where = f"{self._target(key)}: inner map id {inner_id} {self._key_label(inner_key)}"
        return error("inner_lookup", where, err.errno or 0)

    def _cache_and_read(self, fd: int, inner_id: int, key: object, inner_key: object) -> Any:
        """Put ``fd`` (just opened by id; owned here) in the cache and read through it."""
        cache = self._cache
        settled = False  # fd is in the cache, or closed
        try:
            with self._cache_lock:
                if self._closing:
                    raise ValueError(f"{self._describe()} is closed")
                known = cache.get(inner_id)
                if known is not None:  # another thread opened it meanwhile
                    close_raw([fd])
                    settled, fd = True, known
                    cache.move_to_end(inner_id)
                else:
                    if cache.reader is None:
                        self._prepare_cache(fd)
                    cache[inner_id] = fd
                    settled = True
                    evicted = []
                    while len(cache) > min(INNER_CACHE, cache.fd_share):
                        evicted.append(cache.popitem(last=False)[1])
                    close_raw(evicted)  # nobody reads them: the lock is held
                return self._read_inner(fd, inner_id, key, inner_key)
        finally:
            if not settled:
                close_raw([fd])

    def _prepare_cache(self, fd: int) -> None:
        """Size the cache and build its reader for the inner maps' layout (once)."""
        cache = self._cache
        layout = self._template
        if layout is None:  # every inner map has the template's type and sizes
            layout = _info_from_kernel(ops.map_info(fd))
        key_size, value_size, t = layout.key_size, layout.value_size, layout.type
        if isinstance(t, MapType) and t.is_per_cpu:
            ncpus = possible_cpus()
            buf_size = codec.percpu_stride(value_size) * ncpus
            cache.decode = functools.partial(
                codec.decode_percpu, value_size=value_size, ncpus=ncpus
            )
        else:
            buf_size = value_size
        cache.reader = FDLookup(
            key_size, buf_size, functools.partial(codec.encode, size=key_size, what="key")
        )
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        share = soft // 4 if soft != resource.RLIM_INFINITY else INNER_CACHE
        cache.fd_share = min(self.max_entries, max(_INNER_CACHE_MIN, share))
        cache.guard = weakref.finalize(self, safety_close, cache)

    def clear_cache(self) -> None:
        """Close the inner maps that :meth:`inner_lookup` keeps open (they reopen on demand)."""
        with self._cache_lock:
            fds = list(self._cache.values())
            self._cache.clear()
            close_raw(fds)

    def close(self) -> None:
        """Close the outer map's fd and the inner maps cached by :meth:`inner_lookup`."""
        with self._cache_lock:
            self._closing = True
        self.clear_cache()
        super().close()

    def get_map(self, key: object) -> Map[Any] | None:
        """Open the inner map at ``key``; None when the slot is empty.

        The returned ``Map`` is the caller's: close it (``with`` block).
        Opening by id needs CAP_SYS_ADMIN. If the slot is replaced while this
        runs, the map returned is one that was in the slot during the call.

        Raises:
            BPFError: ``EPERM`` without CAP_SYS_ADMIN.
        """
        for _ in range(_GET_MAP_TRIES):
            inner_id = self.lookup(key)
            if inner_id is None:
                return None
            try:
                return Map.from_id(inner_id)
            except BPFError as err:
                if err.errno != errno.ENOENT:
                    raise
        raise error("get_map", self._target(key), errno.EAGAIN, "the slot kept changing")

    def open_inner(self, key: object) -> Map[Any]:
        """Open the inner map at ``key``: :meth:`get_map` for a slot that must be filled.

        The returned ``Map`` is the caller's: close it (``with`` block).
        Opening by id needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

        Raises:
            KeyNotFoundError: (a ``KeyError``) the slot is empty.
            ValueError, TypeError: a bad ``key``; the map is closed.
            BPFError: ``EPERM`` without CAP_SYS_ADMIN.
        """
        m = self.get_map(key)
        if m is None:
            raise KeyNotFoundError(
                f"open_inner {self._target(key)}: no such key (the slot is empty)",
                reason="no such key (the slot is empty)",
            )
        return m

    def items(self) -> Iterator[tuple[bytes, int]]:
        """Yield ``(key, inner map id)`` for every filled slot, each once.

        Slots are found in chunks (BPF_MAP_LOOKUP_BATCH, see
        :meth:`Map.items`), and each slot is read again just before it is
        yielded: a slot deleted before that is skipped, and a slot replaced
        meanwhile gives the id that is in it now. (One lookup per slot, which
        does not wait; updates and deletes of outer maps wait ~8 ms each.)
        Minimum kernel: 4.12 (5.6 for the batch reads).

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused the reads.
        """
        lookup = self._elem().lookup
        for key, _ in super().items():
            raw = lookup(key)
            if raw is not None:
                yield key, self._decode_inner(raw)

    def keys(self) -> Iterator[bytes]:
        """Yield the key of each filled slot (``items()`` gives the inner ids too)."""
        if self._type == MapType.ARRAY_OF_MAPS:
            return (k for k, _ in self.items())
        return super().keys()


def _copy_spec(spec: MapSpec) -> MapSpec:
    """A copy of ``spec`` that shares nothing mutable with it (``contents`` copied too)."""
    contents = dict(spec.contents) if spec.contents is not None else None
    return dataclasses.replace(spec, contents=contents)
