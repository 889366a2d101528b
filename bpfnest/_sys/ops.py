"""Typed wrappers of the bpf(2) commands the library uses.

Each function fills one attr structure, calls :func:`bpfnest._sys.bpf` and
returns plain Python values (ints, bytes); the callers never touch ctypes.
Failures raise :class:`OSError` with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

from . import bpf
from .uapi import (
    BpfMapInfo,
    Cmd,
    GetIdAttr,
    InfoAttr,
    MapBatchAttr,
    MapCreateAttr,
    MapElemAttr,
    ObjAttr,
)

__all__ = [
    "BatchError",
    "LookupBatch",
    "get_fd_by_id",
    "get_next_id",
    "map_create",
    "map_delete_batch",
    "map_delete_elem",
    "map_freeze",
    "map_get_next_key",
    "map_info",
    "map_lookup_and_delete_elem",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "obj_get",
    "obj_pin",
]

_ENOENT = 2


class BatchError(OSError):
    """A ``*_BATCH`` command failed after applying ``count`` elements."""

    def __init__(self, code: int, count: int) -> None:
        super().__init__(code, os.strerror(code))
        self.count = count


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _in(data: bytes) -> ctypes.Array[ctypes.c_char] | None:
    """A C copy of ``data`` for the kernel to read (None for empty data)."""
    return ctypes.create_string_buffer(data, len(data)) if data else None


def map_create(
    *,
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    map_flags: int = 0,
    inner_map_fd: int = 0,
    numa_node: int = 0,
    map_name: bytes = b"",
    map_ifindex: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    map_extra: int = 0,
) -> int:
    """BPF_MAP_CREATE; returns the new map's fd (the caller owns it)."""
    attr = MapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=map_flags,
        inner_map_fd=inner_map_fd,
        numa_node=numa_node,
        map_name=map_name,
        map_ifindex=map_ifindex,
        btf_fd=btf_fd,
        btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
        btf_vmlinux_value_type_id=btf_vmlinux_value_type_id,
        map_extra=map_extra,
    )
    return bpf(Cmd.MAP_CREATE, attr)


def map_lookup_elem(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_ELEM; ``key`` empty for keyless maps (peek)."""
    kbuf = _in(key)
    vbuf = ctypes.create_string_buffer(value_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=ctypes.addressof(vbuf), flags=flags)
    bpf(Cmd.MAP_LOOKUP_ELEM, attr)
    return vbuf.raw


def map_lookup_in(fd: int, value: bytes) -> None:
    """BPF_MAP_LOOKUP_ELEM with no key and ``value`` as input (BLOOM_FILTER)."""
    vbuf = _in(value)
    bpf(Cmd.MAP_LOOKUP_ELEM, MapElemAttr(map_fd=fd, key=0, value=_addr(vbuf), flags=0))


def map_update_elem(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    """BPF_MAP_UPDATE_ELEM; ``key`` empty for keyless maps (push)."""
    kbuf = _in(key)
    vbuf = _in(value)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=_addr(vbuf), flags=flags)
    bpf(Cmd.MAP_UPDATE_ELEM, attr)


def map_delete_elem(fd: int, key: bytes) -> None:
    """BPF_MAP_DELETE_ELEM."""
    kbuf = _in(key)
    bpf(Cmd.MAP_DELETE_ELEM, MapElemAttr(map_fd=fd, key=_addr(kbuf)))


def map_lookup_and_delete_elem(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM; ``key`` empty for keyless maps (pop)."""
    kbuf = _in(key)
    vbuf = ctypes.create_string_buffer(value_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=ctypes.addressof(vbuf), flags=flags)
    bpf(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, attr)
    return vbuf.raw


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first for None); None at the end."""
    kbuf = _in(key) if key is not None else None
    nbuf = ctypes.create_string_buffer(key_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), next_key=ctypes.addressof(nbuf))
    try:
        bpf(Cmd.MAP_GET_NEXT_KEY, attr)
    except OSError as err:
        if err.errno == _ENOENT:
            return None
        raise
    return nbuf.raw


def map_freeze(fd: int) -> None:
    """BPF_MAP_FREEZE."""
    bpf(Cmd.MAP_FREEZE, MapElemAttr(map_fd=fd))


class LookupBatch(NamedTuple):
    """One answer of BPF_MAP_LOOKUP[_AND_DELETE]_BATCH."""

    keys: bytes  # count * key_size
    values: bytes  # count * value_size (per-CPU: the whole per-CPU buffer each)
    n: int
    token: bytes  # out_batch, to pass as in_batch next time
    done: bool  # the kernel reported the end of the map (ENOENT)


def map_lookup_batch(
    fd: int,
    token: bytes | None,
    token_size: int,
    key_size: int,
    value_size: int,
    count: int,
    *,
    delete: bool = False,
    elem_flags: int = 0,
) -> LookupBatch:
    """BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH) of up to ``count`` elements.

    ``token`` is None to start from the beginning. ENOENT with elements is the
    normal end of the map and is returned as ``done``; other errors raise
    :class:`BatchError` with the count the kernel reported.
    """
    inbuf = _in(token) if token is not None else None
    outbuf = ctypes.create_string_buffer(token_size)
    kbuf = ctypes.create_string_buffer(max(1, count * key_size))
    vbuf = ctypes.create_string_buffer(max(1, count * value_size))
    attr = MapBatchAttr(
        in_batch=_addr(inbuf),
        out_batch=ctypes.addressof(outbuf),
        keys=ctypes.addressof(kbuf),
        values=ctypes.addressof(vbuf),
        count=count,
        map_fd=fd,
        elem_flags=elem_flags,
    )
    done = False
    try:
        bpf(Cmd.MAP_LOOKUP_AND_DELETE_BATCH if delete else Cmd.MAP_LOOKUP_BATCH, attr)
    except OSError as err:
        if err.errno != _ENOENT:
            raise BatchError(err.errno or 0, int(attr.count)) from None
        done = True
    n = int(attr.count)
    return LookupBatch(kbuf.raw[: n * key_size], vbuf.raw[: n * value_size], n, outbuf.raw, done)


def map_update_batch(fd: int, keys: bytes, values: bytes, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH of ``count`` elements; returns how many were applied.

    Raises:
        BatchError: with ``count`` = elements applied before the failure.
    """
    kbuf = _in(keys)
    vbuf = _in(values)
    attr = MapBatchAttr(
        keys=_addr(kbuf), values=_addr(vbuf), count=count, map_fd=fd, elem_flags=elem_flags
    )
    try:
        bpf(Cmd.MAP_UPDATE_BATCH, attr)
    except OSError as err:
        raise BatchError(err.errno or 0, int(attr.count)) from None
    return int(attr.count)


def map_delete_batch(fd: int, keys: bytes, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH of ``count`` keys; returns how many were deleted.

    Raises:
        BatchError: with ``count`` = elements deleted before the failure.
    """
    kbuf = _in(keys)
    attr = MapBatchAttr(keys=_addr(kbuf), count=count, map_fd=fd, elem_flags=elem_flags)
    try:
        bpf(Cmd.MAP_DELETE_BATCH, attr)
    except OSError as err:
        raise BatchError(err.errno or 0, int(attr.count)) from None
    return int(attr.count)


def obj_pin(fd: int, path: str) -> None:
    """BPF_OBJ_PIN ``fd`` at ``path`` on a bpffs."""
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    bpf(Cmd.OBJ_PIN, ObjAttr(pathname=ctypes.addressof(pbuf), bpf_fd=fd))


def obj_get(path: str, file_flags: int = 0) -> int:
    """BPF_OBJ_GET: open the object pinned at ``path``; returns a new fd."""
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    return bpf(Cmd.OBJ_GET, ObjAttr(pathname=ctypes.addressof(pbuf), file_flags=file_flags))


def get_next_id(cmd: Cmd, start_id: int) -> int | None:
    """*_GET_NEXT_ID: the next id after ``start_id``, or None when there is none."""
    attr = GetIdAttr(start_id=start_id)
    try:
        bpf(cmd, attr)
    except OSError as err:
        if err.errno == _ENOENT:
            return None
        raise
    return int(attr.next_id)


def get_fd_by_id(cmd: Cmd, obj_id: int, open_flags: int = 0) -> int:
    """*_GET_FD_BY_ID: open the object with ``obj_id``; returns a new fd."""
    return bpf(cmd, GetIdAttr(start_id=obj_id, open_flags=open_flags))


def map_info(fd: int) -> BpfMapInfo:
    """BPF_OBJ_GET_INFO_BY_FD for a map fd."""
    info = BpfMapInfo()
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info
