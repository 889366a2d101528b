"""The ``*_BATCH`` commands with caller-owned buffers: one engine for every bulk read and write.

:class:`BatchBuffers` holds the key, value and token buffers of one walk of a
map, allocated once and reused for every step, with the attrs already
pointing at them: a step is one ``bpf(2)`` call and no Python object per
element. :func:`lookup_into` fills them with BPF_MAP_LOOKUP[_AND_DELETE]_BATCH;
:func:`walk_into` fills them with GET_NEXT_KEY + LOOKUP_ELEM for map types
(or kernels) without the batch command. :func:`update_at` and
:func:`delete_at` send keys and values from memory that :func:`address_of`
found in any object with the buffer protocol (no copy for ``bytes`` and
writable buffers). :mod:`bpfnest._sys.ops` re-exports
these and keeps its older ``map_*_batch`` wrappers on top of them.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from . import NR, get_errno, syscall_released
from .uapi import Cmd, MapBatchAttr, MapElemAttr

__all__ = [
    "BatchBuffers",
    "BatchError",
    "address_of",
    "bytes_at",
    "delete_at",
    "lookup_into",
    "update_at",
    "walk_into",
]

_ENOENT = 2
_ELOOP = 40
_BATCH_SIZE = ctypes.sizeof(MapBatchAttr)
_ELEM_SIZE = ctypes.sizeof(MapElemAttr)
_byref = ctypes.byref


class BatchError(OSError):
    """A ``*_BATCH`` command failed after applying ``count`` elements."""

    def __init__(self, code: int, count: int) -> None:
        super().__init__(code, os.strerror(code))
        self.count = count


def _call(cmd: int, attr: ctypes.Structure, size: int) -> int:
    """bpf(cmd, &attr): 0, or the errno (the GIL is released: batches take long)."""
    if syscall_released(NR, int(cmd), _byref(attr), size) < 0:
        return get_errno() or 5  # EIO when the kernel left no errno
    return 0


def address_of(data: Any, keep: list[Any]) -> int:
    """The address of the bytes of ``data``, any C-contiguous buffer (0 when empty).

    A writable buffer (``bytearray``, ``array.array``, numpy arrays) and
    ``bytes`` are used in place; another read-only buffer is copied once.
    ``keep`` gets what must stay alive (and pinned) while the address is used.

    Raises:
        TypeError: ``data`` has no buffer protocol.
        ValueError: the buffer is not C-contiguous.
    """
    view = data if isinstance(data, memoryview) else memoryview(data)
    if not view.c_contiguous:
        raise ValueError("the buffer is not C-contiguous")
    if not view.nbytes:
        return 0
    if type(data) is bytes:
        ptr = ctypes.c_char_p(data)  # points at the bytes object's own buffer
        keep.append(ptr)
        addr: int | None = ctypes.cast(ptr, ctypes.c_void_p).value
        assert addr is not None
        return addr
    if view.readonly:
        view = memoryview(bytearray(view))
    arr = (ctypes.c_char * view.nbytes).from_buffer(view)
    keep.append(arr)
    return ctypes.addressof(arr)


def bytes_at(address: int, size: int) -> bytes:
    """A copy of the ``size`` bytes at ``address`` (one found by :func:`address_of`)."""
    return ctypes.string_at(address, size)


class BatchBuffers:
    """Key, value and token buffers for ``count`` elements, reused by every step.

    ``keys`` (``count * key_size`` bytes) and ``values`` (``count *
    value_size``; per-CPU maps pass the whole per-CPU size) are bytearrays
    pinned in place (they cannot be resized while this object lives):
    memoryviews of them stay valid, and show what the last step wrote.
    :meth:`restart` starts the next step from the first element again.
    """

    __slots__ = (
        "_batch",
        "_kaddr",
        "_keep",
        "_lookup",
        "_next",
        "_tok_in",
        "_tok_out",
        "_vaddr",
        "count",
        "key_size",
        "keys",
        "seen",
        "started",
        "steps",
        "value_size",
        "values",
    )

    def __init__(self, key_size: int, value_size: int, count: int, token_size: int) -> None:
        self.key_size, self.value_size, self.count = key_size, value_size, count
        self.keys = bytearray(max(1, count * key_size))
        self.values = bytearray(max(1, count * value_size))
        self._tok_in = bytearray(max(token_size, key_size, 1))
        self._tok_out = bytearray(max(token_size, key_size, 1))
        views = [
            (ctypes.c_char * len(b)).from_buffer(b)
            for b in (self.keys, self.values, self._tok_in, self._tok_out)
        ]
        self._keep = views  # the pins: no resize can move the buffers
        self._kaddr, self._vaddr = ctypes.addressof(views[0]), ctypes.addressof(views[1])
        self._batch = MapBatchAttr(
            keys=self._kaddr, values=self._vaddr, out_batch=ctypes.addressof(views[3])
        )
        self._next = MapElemAttr()  # GET_NEXT_KEY of the fallback walk
        self._lookup = MapElemAttr()  # LOOKUP_ELEM of the fallback walk
        self.started = False  # a step was made: the next continues after it
        self.seen: set[bytes] = set()  # keys the fallback walk gave (it may restart)
        self.steps = 0  # GET_NEXT_KEY calls of the fallback walk

    def resized(self, count: int) -> BatchBuffers:
        """New buffers for ``count`` elements that continue where these stopped."""
        new = BatchBuffers(self.key_size, self.value_size, count, len(self._tok_in))
        new._tok_in[:] = self._tok_in
        new.started, new.seen, new.steps = self.started, self.seen, self.steps
        return new

    def restart(self) -> None:
        """Make the next step start from the first element of the map."""
        self.started = False
        self.seen.clear()
        self.steps = 0


def lookup_into(
    fd: int, bufs: BatchBuffers, count: int, *, delete: bool = False, elem_flags: int = 0
) -> tuple[int, bool]:
    """One BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH) of up to ``count``
    (≤ ``bufs.count``) elements into ``bufs``, continuing where the last step ended.

    Returns (elements written, the map's end was reached). ENOENT is the
    normal end of the map and comes back as ``done``.

    Raises:
        BatchError: the kernel's errno, with the count it reported.
    """
    attr = bufs._batch
    attr.in_batch = ctypes.addressof(bufs._keep[2]) if bufs.started else 0
    attr.count = count
    attr.map_fd = fd
    attr.elem_flags = elem_flags
    cmd = Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH
    err = _call(cmd, attr, _BATCH_SIZE)
    n = int(attr.count)
    if err and err != _ENOENT:
        raise BatchError(err, n)
    bufs._tok_in[:] = bufs._tok_out
    bufs.started = True
    return n, err == _ENOENT


def walk_into(fd: int, bufs: BatchBuffers, count: int, max_steps: int) -> tuple[int, bool]:
    """Fill ``bufs`` with up to ``count`` elements by GET_NEXT_KEY + LOOKUP_ELEM,
    continuing after the last key of the previous step: what :func:`lookup_into`
    gives, for map types or kernels without the batch command.

    A key deleted between the two calls is skipped. When the kernel restarts
    from the first key (the key walked from was deleted), keys given already
    (``bufs.seen``) are skipped. Returns (elements written, end reached).

    Raises:
        OSError: the kernel's errno; ``ELOOP`` after ``max_steps`` GET_NEXT_KEY
            calls in all (the map keeps changing faster than it can be walked).
    """
    ks, vs = bufs.key_size, bufs.value_size
    nxt, look = bufs._next, bufs._lookup
    nxt.map_fd = look.map_fd = fd
    prev = ctypes.addressof(bufs._keep[2])
    keys, seen = bufs.keys, bufs.seen
    n = 0
    while n < count:
        slot = n * ks
        nxt.key = prev if bufs.started else 0
        nxt.next_key = bufs._kaddr + slot
        err = _call(Cmd.MAP_GET_NEXT_KEY, nxt, _ELEM_SIZE)
        if err == _ENOENT:
            return n, True
        if err:
            raise OSError(err, os.strerror(err))
        bufs.steps += 1
        if bufs.steps > max_steps:
            raise OSError(_ELOOP, "the map keeps changing under the walk")
        key = bytes(keys[slot : slot + ks])
        bufs._tok_in[:ks] = key
        bufs.started = True
        if key in seen:
            continue
        seen.add(key)
        look.key = bufs._kaddr + slot
        look.value = bufs._vaddr + n * vs
        err = _call(Cmd.MAP_LOOKUP_ELEM, look, _ELEM_SIZE)
        if err == _ENOENT:
            continue  # deleted since its key was read
        if err:
            raise OSError(err, os.strerror(err))
        n += 1
    return n, False


def update_at(fd: int, keys: int, values: int, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH of ``count`` elements whose keys and values are at
    the addresses ``keys`` and ``values`` (see :func:`address_of`); returns how many.

    Raises:
        BatchError: with ``count`` = elements applied before the failure.
    """
    attr = MapBatchAttr(keys=keys, values=values, count=count, map_fd=fd, elem_flags=elem_flags)
    err = _call(Cmd.MAP_UPDATE_BATCH, attr, _BATCH_SIZE)
    if err:
        raise BatchError(err, int(attr.count))
    return int(attr.count)


def delete_at(fd: int, keys: int, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH of ``count`` keys at the address ``keys``; returns how many.

    Raises:
        BatchError: with ``count`` = elements deleted before the failure.
    """
    attr = MapBatchAttr(keys=keys, count=count, map_fd=fd, elem_flags=elem_flags)
    err = _call(Cmd.MAP_DELETE_BATCH, attr, _BATCH_SIZE)
    if err:
        raise BatchError(err, int(attr.count))
    return int(attr.count)
