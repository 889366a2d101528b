"""Raw map fds kept open by one owner, read through one preallocated attr.

The inner-map cache of :meth:`bpfnest.OuterMap.inner_lookup` keeps the inner
maps it opened by id as plain fd numbers (a full ``Map`` costs ~30 µs to build
and close; a miss must cost about what C's open + lookup + close costs). The
cache owns those numbers: :func:`close_raw` closes them, and
:func:`safety_close` is its safety net (recorded in
:data:`bpfnest._sys.fd.finalized`, as for :class:`~bpfnest._sys.fd.FD`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections.abc import Callable, Iterable, MutableMapping

from . import NR, _strerror, get_errno, syscall_gil_held
from .fd import finalized
from .uapi import Cmd, MapElemAttr

__all__ = ["FDLookup", "close_raw", "safety_close"]

_ENOENT = 2
_INT_FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


class FDLookup:
    """BPF_MAP_LOOKUP_ELEM in any map of one layout, the raw fd given per call.

    ``lookup(fd, key)`` returns the value's bytes (``value_size`` of them:
    the whole per-CPU buffer for per-CPU maps) or None for a missing key, and
    raises ``OSError`` for any other failure. Keys are ints (packed with
    :mod:`struct` for 1, 2, 4 and 8 bytes), bytes of ``key_size``, or whatever
    ``key_encode`` accepts (its errors come out as they are, before any
    syscall).

    One key buffer, one value buffer and one attr serve every call, and the
    syscall keeps the GIL. So the caller must serialise the calls (hold one
    lock around each) and close none of its fds while a call runs, and every
    fd must be a map whose values are at most ``value_size`` bytes: the
    kernel writes a whole value into the buffer.
    """

    __slots__ = ("_keep", "lookup")

    def __init__(
        self, key_size: int, value_size: int, key_encode: Callable[[object], bytes]
    ) -> None:
        kb, vb = bytearray(max(key_size, 1)), bytearray(max(value_size, 1))
        kview, vview = ctypes.c_char.from_buffer(kb), ctypes.c_char.from_buffer(vb)
        attr = MapElemAttr(
            map_fd=-1,
            key=ctypes.addressof(kview) if key_size else 0,
            value=ctypes.addressof(vview),
        )
        # The views pin the bytearrays: no resize can move them under the attr.
        self._keep = (kview, vview, attr)
        ref, size, nr, cmd = ctypes.byref(attr), ctypes.sizeof(attr), NR, int(Cmd.MAP_LOOKUP_ELEM)
        fmt = _INT_FORMATS.get(key_size)
        pack = struct.Struct(fmt).pack_into if fmt else None
        struct_error = struct.error

        def put_key(key: object) -> None:
            raw = key if type(key) is bytes and len(key) == key_size else key_encode(key)
            if key_size:
                kb[:] = raw

        def lookup(fd: int, key: object) -> bytes | None:
            if type(key) is int and pack is not None:
                try:
                    pack(kb, 0, key)
                except struct_error:
                    put_key(key)  # out of range: key_encode says so
            else:
                put_key(key)
            attr.map_fd = fd
            if syscall_gil_held(nr, cmd, ref, size) < 0:
                err = get_errno()
                if err == _ENOENT:
                    return None
                raise OSError(err, _strerror(err))
            return bytes(vb)

        self.lookup = lookup


def close_raw(fds: Iterable[int]) -> None:
    """Close raw fds that the caller owns (errors ignored: each is closed once)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def safety_close(owned: MutableMapping[int, int]) -> None:
    """Close every fd left in ``owned`` (values) by an owner dropped without closing them.

    Each one is recorded in :data:`bpfnest._sys.fd.finalized`: the test suite
    counts it as a leak, as for an ``FD`` closed by its safety net.
    """
    fds = list(owned.values())
    owned.clear()
    finalized.extend((fd, "raw inner map fd of an OuterMap's inner_lookup cache") for fd in fds)
    close_raw(fds)
