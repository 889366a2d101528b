"""Typed wrappers of the bpf(2) commands that attach programs.

``BPF_LINK_CREATE``, ``BPF_LINK_UPDATE``, ``BPF_LINK_DETACH``,
``BPF_LINK_GET_FD_BY_ID`` / ``GET_NEXT_ID``, ``BPF_RAW_TRACEPOINT_OPEN``,
``BPF_PROG_ATTACH`` / ``DETACH`` / ``QUERY``, ``BPF_TASK_FD_QUERY`` and
``BPF_OBJ_GET_INFO_BY_FD`` on a link.
As in :mod:`bpfnest._sys.ops`: plain ints in, owned
:class:`~bpfnest._sys.fd.FD` out for every command that creates a descriptor
(the caller closes it), plain :class:`OSError` with the kernel's errno on
failure. What a hook means (which attach type, which target) is the link
layer's business; this module only fills the attrs.
"""

from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

from . import bpf, bpf_fd
from .fd import FD
from .ops import get_fd_by_id, get_next_id
from .uapi import (
    BPF_F_REPLACE,
    BpfLinkInfo,
    Cmd,
    InfoAttr,
    IterCreateAttr,
    LinkCreateAttr,
    LinkDetachAttr,
    LinkUpdateAttr,
    ProgAttachAttr,
    RawTracepointAttr,
)
from .uapi_query import ProgQueryAttr, TaskFdQueryAttr

__all__ = [
    "LinkInfo",
    "TaskFd",
    "iter_create",
    "iter_read",
    "link_create",
    "link_detach",
    "link_get_fd_by_id",
    "link_get_next_id",
    "link_info",
    "link_update",
    "prog_attach",
    "prog_detach",
    "prog_query",
    "raw_tracepoint_open",
    "task_fd_query",
]

# enum bpf_link_type and enum bpf_perf_event_type values whose info carries a
# string through a user buffer (the two-call protocol of link_info).
_RAW_TRACEPOINT = 1
_ITER = 4
_PERF_EVENT = 7
_UPROBE_MULTI = 12
_ENOSPC = 28
_PERF_UPROBE, _PERF_URETPROBE, _PERF_KPROBE, _PERF_KRETPROBE, _PERF_TRACEPOINT = 1, 2, 3, 4, 5


def link_create(
    prog_fd: int,
    target: int,
    attach_type: int,
    *,
    flags: int = 0,
    target_btf_id: int = 0,
    bpf_cookie: int = 0,
    relative_fd: int = 0,
    relative_id: int = 0,
    expected_revision: int = 0,
    iter_info: bytes = b"",
) -> FD:
    """BPF_LINK_CREATE (5.7): attach ``prog_fd`` to ``target`` (an ifindex for
    XDP/tcx, a cgroup fd, a perf event fd, 0 for tracing) as ``attach_type``;
    return the link's fd (the caller closes it; closing the last fd of an
    unpinned link detaches it).

    ``bpf_cookie`` is ``perf_event.bpf_cookie`` (perf-event links, 5.15);
    ``target_btf_id`` the tracing target; ``relative_fd``/``relative_id`` and
    ``expected_revision`` the ordering options of tcx, netkit and cgroup links
    (6.6; the three share one layout in ``union bpf_attr``); ``iter_info``
    the bytes of ``union bpf_iter_link_info`` for an iterator link (5.9:
    ``map.map_fd``; 6.1: ``task``; 6.1: ``cgroup``).

    Raises:
        OSError: with the kernel's errno (``EEXIST``/``EBUSY`` when the hook is
            taken, ``EINVAL`` for a program of the wrong type).
    """
    attr = LinkCreateAttr(prog_fd=prog_fd, target_fd=target, attach_type=attach_type, flags=flags)
    if target_btf_id:
        attr.target_btf_id = target_btf_id
    if bpf_cookie:
        attr.perf_event.bpf_cookie = bpf_cookie
    if relative_fd or relative_id or expected_revision:
        attr.tcx.relative_fd = relative_fd or relative_id
        attr.tcx.expected_revision = expected_revision
    info = ctypes.create_string_buffer(iter_info, len(iter_info)) if iter_info else None
    if info is not None:  # kept alive by ``info`` until the call returns
        attr.iter_info = ctypes.addressof(info)
        attr.iter_info_len = len(iter_info)
    return bpf_fd(Cmd.LINK_CREATE, attr)


def iter_create(link_fd: int) -> FD:
    """BPF_ITER_CREATE (5.8): a new iterator of an iterator link; reading the
    returned fd runs the program over the objects, from the start (the caller
    closes it).

    Raises:
        OSError: with the kernel's errno (``EINVAL`` when ``link_fd`` is not
            an iterator link).
    """
    return bpf_fd(Cmd.ITER_CREATE, IterCreateAttr(link_fd=link_fd))


_EAGAIN = 11
_READ_CHUNK = 64 * 1024


def iter_read(link_fd: int) -> bytes:
    """Create an iterator of the link (:func:`iter_create`), read it to the end
    and close it; return everything the program wrote.

    A read that ends with ``EAGAIN`` (the kernel stops after a million objects
    without output, to yield the CPU) is repeated: the iterator goes on where
    it was.

    Raises:
        OSError: with the kernel's errno (from BPF_ITER_CREATE, or from a read:
            ``E2BIG`` when one object's output is larger than the kernel's
            buffer of 8 pages).
    """
    with iter_create(link_fd) as it, it.borrow("iterator") as raw:
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(raw, _READ_CHUNK)
            except OSError as err:
                if err.errno == _EAGAIN:
                    continue
                raise
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def link_update(link_fd: int, new_prog_fd: int, *, old_prog_fd: int | None = None) -> None:
    """BPF_LINK_UPDATE (5.7): make the link run ``new_prog_fd`` from now on.

    With ``old_prog_fd``, the kernel swaps only if that program is the one
    attached (``BPF_F_REPLACE``), else ``EPERM``.

    Raises:
        OSError: with the kernel's errno (``EINVAL`` for a program of another
            type or attach type; ``ENOLINK`` once the link is detached).
    """
    attr = LinkUpdateAttr(link_fd=link_fd, new_prog_fd=new_prog_fd)
    if old_prog_fd is not None:
        attr.flags = BPF_F_REPLACE
        attr.old_prog_fd = old_prog_fd
    bpf(Cmd.LINK_UPDATE, attr)


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH (5.9): the program stops running; the link (and its fd)
    stays, with no program attached.

    Raises:
        OSError: with the kernel's errno (``EOPNOTSUPP`` for link types that
            cannot detach, ``ENOLINK`` once detached).
    """
    bpf(Cmd.LINK_DETACH, LinkDetachAttr(link_fd=link_fd))


def link_get_fd_by_id(link_id: int) -> FD:
    """BPF_LINK_GET_FD_BY_ID (5.8): open the link ``link_id`` (the caller closes it).

    Raises:
        OSError: ``ENOENT`` when no such link exists, ``EPERM`` without CAP_SYS_ADMIN.
    """
    return get_fd_by_id(Cmd.LINK_GET_FD_BY_ID, link_id)


def link_get_next_id(start_id: int) -> int | None:
    """BPF_LINK_GET_NEXT_ID (5.8): the next link id after ``start_id``, None at the end.

    Raises:
        OSError: with the kernel's errno (``EPERM`` without CAP_SYS_ADMIN).
    """
    return get_next_id(Cmd.LINK_GET_NEXT_ID, start_id)


class LinkInfo(NamedTuple):
    """What BPF_OBJ_GET_INFO_BY_FD says of a link."""

    #: The kernel's struct; the union member of ``info.type`` holds the data.
    info: BpfLinkInfo
    #: The string of the link, fetched by a second call: the raw tracepoint's
    #: name, the iterator's target, a perf event's tracepoint, function or
    #: file name, an uprobe_multi path; "" for other types.
    name: str


def _get_info(fd: int, info: BpfLinkInfo) -> None:
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)


def _name_field(info: BpfLinkInfo) -> tuple[ctypes.Structure, str, str] | None:
    """(struct, pointer field, length field) of the string of this link type."""
    kind = int(info.type)
    if kind == _RAW_TRACEPOINT:
        return info.raw_tracepoint, "tp_name", "tp_name_len"
    if kind == _ITER:
        return info.iter, "target_name", "target_name_len"
    if kind == _UPROBE_MULTI:
        return info.uprobe_multi, "path", "path_size"
    if kind == _PERF_EVENT:
        sub = int(info.perf_event.type)
        if sub in (_PERF_UPROBE, _PERF_URETPROBE):
            return info.perf_event.uprobe, "file_name", "name_len"
        if sub in (_PERF_KPROBE, _PERF_KRETPROBE):
            return info.perf_event.kprobe, "func_name", "name_len"
        if sub == _PERF_TRACEPOINT:
            return info.perf_event.tracepoint, "tp_name", "name_len"
    return None


def link_info(fd: int) -> LinkInfo:
    """BPF_OBJ_GET_INFO_BY_FD on a link fd (5.8), with its string field.

    Two calls when the link type has a string: the first learns its type and
    length (buffer pointer and length both 0), the second passes a buffer of
    that size.

    Raises:
        OSError: with the kernel's errno (``EINVAL`` when ``fd`` is not a BPF
            object, ``EBADF`` when it is not open).
    """
    info = BpfLinkInfo()
    _get_info(fd, info)
    where = _name_field(info)
    size = int(getattr(where[0], where[2])) if where is not None else 0
    for _ in range(4):  # the string does not change; a retry is only for safety
        if size == 0:
            return LinkInfo(info, "")
        buf = ctypes.create_string_buffer(size)
        # A fresh struct: only the type (for _name_field), the buffer and its size.
        again = BpfLinkInfo(type=info.type)
        if int(info.type) == _PERF_EVENT:
            again.perf_event.type = info.perf_event.type
        field = _name_field(again)
        if field is None:  # not reached: the same type as ``info``
            return LinkInfo(info, "")
        struct, ptr_field, len_field = field
        setattr(struct, ptr_field, ctypes.addressof(buf))
        setattr(struct, len_field, size)
        try:
            _get_info(fd, again)
        except OSError as err:
            if err.errno != _ENOSPC:
                raise
            size *= 2
            continue
        # bpf_link_info.perf_event.type and the fields beside it are filled again.
        return LinkInfo(again, buf.value.decode(errors="replace"))
    raise OSError(_ENOSPC, os.strerror(_ENOSPC))


def raw_tracepoint_open(name: str, prog_fd: int, *, cookie: int = 0) -> FD:
    """BPF_RAW_TRACEPOINT_OPEN (4.17): attach a raw_tp program to tracepoint
    ``name`` (e.g. ``"sys_enter"``; "" for tp_btf/fentry programs whose target
    was fixed at load); return the link fd (the caller closes it; closing
    detaches unless pinned). ``cookie`` needs 6.10.

    Raises:
        OSError: ``ENOENT`` for an unknown tracepoint; the kernel's errno otherwise.
    """
    encoded = os.fsencode(name)
    buf = ctypes.create_string_buffer(encoded) if encoded else None
    attr = RawTracepointAttr(
        name=ctypes.addressof(buf) if buf is not None else 0, prog_fd=prog_fd, cookie=cookie
    )
    return bpf_fd(Cmd.RAW_TRACEPOINT_OPEN, attr)


def prog_attach(
    prog_fd: int,
    target_fd: int,
    attach_type: int,
    *,
    flags: int = 0,
    replace_fd: int | None = None,
) -> None:
    """BPF_PROG_ATTACH: attach without a link (cgroups 4.10, sockmap, flow
    dissector, lirc; tcx 6.6). The attachment outlives every fd; only
    :func:`prog_detach` (or the target's end) removes it. ``flags``:
    ``BPF_F_ALLOW_MULTI`` / ``BPF_F_ALLOW_OVERRIDE``; ``replace_fd`` adds
    ``BPF_F_REPLACE`` (5.6) to swap that program in place.

    Raises:
        OSError: with the kernel's errno (``EEXIST`` when already attached
            without ALLOW_MULTI; ``EINVAL`` for a wrong type).
    """
    attr = ProgAttachAttr(
        target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type, attach_flags=flags
    )
    if replace_fd is not None:
        attr.attach_flags |= BPF_F_REPLACE
        attr.replace_bpf_fd = replace_fd
    bpf(Cmd.PROG_ATTACH, attr)


def prog_detach(target_fd: int, attach_type: int, prog_fd: int = 0) -> None:
    """BPF_PROG_DETACH: remove ``prog_fd`` (or, with 0, the only program) of
    ``attach_type`` from ``target_fd``.

    Raises:
        OSError: ``ENOENT`` when that program is not attached there; the kernel's
            errno otherwise.
    """
    attr = ProgAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    bpf(Cmd.PROG_DETACH, attr)


def prog_query(target_fd: int, attach_type: int) -> list[int]:
    """BPF_PROG_QUERY (4.15): the ids of the programs attached to ``target_fd``
    (a cgroup fd) as ``attach_type``, in the order they run (links included).

    Raises:
        OSError: with the kernel's errno (``EINVAL`` for an attach type that
            cannot be queried, ``EBADF`` for a closed fd).
    """
    size = 8
    while True:
        ids = (ctypes.c_uint32 * size)()
        attr = ProgQueryAttr(target_fd=target_fd, attach_type=attach_type, prog_cnt=size)
        attr.prog_ids = ctypes.addressof(ids)
        try:
            bpf(Cmd.PROG_QUERY, attr)
        except OSError as err:
            if err.errno == _ENOSPC and size < 1 << 16:  # more attached than room
                size = max(size * 2, int(attr.prog_cnt))
                continue
            raise
        return list(ids[: int(attr.prog_cnt)])


class TaskFd(NamedTuple):
    """What BPF_TASK_FD_QUERY says of one fd of a task."""

    prog_id: int
    #: ``enum bpf_task_fd_type``: 0 raw tracepoint, 1 tracepoint, 2 kprobe,
    #: 3 kretprobe, 4 uprobe, 5 uretprobe.
    fd_type: int
    #: The tracepoint's name, the function or the file.
    name: str


def task_fd_query(pid: int, fd: int) -> TaskFd:
    """BPF_TASK_FD_QUERY (4.18): which program the perf event (or raw
    tracepoint) ``fd`` of process ``pid`` runs, and where.

    Raises:
        OSError: ``ENOENT`` when the fd has no program, ``ENOTSUPP`` (524)
            when it is not such an fd; the kernel's errno otherwise.
    """
    buf = ctypes.create_string_buffer(256)
    attr = TaskFdQueryAttr(pid=pid, fd=fd, buf_len=len(buf), buf=ctypes.addressof(buf))
    bpf(Cmd.TASK_FD_QUERY, attr)
    return TaskFd(int(attr.prog_id), int(attr.fd_type), buf.value.decode(errors="replace"))
