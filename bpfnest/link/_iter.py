"""BPF iterators: ``iter/*`` programs as links (``BPF_LINK_CREATE`` with
``BPF_TRACE_ITER``, 5.8), read with ``BPF_ITER_CREATE``.

An iterator link runs nothing by itself: each :func:`read_iter` makes a new
iterator fd, reads it to the end (the program runs once per object: task,
map, map element, ...) and closes it.
"""

from __future__ import annotations

import contextlib
import errno
import struct
from typing import TYPE_CHECKING

from .._object import KernelObject
from .._sys import link_ops
from .._sys.fd import FD
from ..constants import AttachType, LinkType, ProgType
from ._link import Link, attach, check_type

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_iter", "read_iter"]

_HOOK = "an iterator"
# union bpf_iter_link_info: map.map_fd (5.9); task.tid, task.pid (6.1).
_MAP_INFO = struct.Struct("=I")
_TASK_INFO = struct.Struct("=III")


def _check_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"attach_iter: {what} must be an int, got {type(value).__name__}")
    if not 0 < value < 1 << 31:
        raise ValueError(f"attach_iter: {what} must be in 1..{(1 << 31) - 1}, got {value}")
    return value


def attach_iter(
    program: Program, *, map: KernelObject | int | None = None, pid: int | None = None
) -> Link:
    """Make an iterator link of an ``iter/*`` ``program``; see ``Program.attach_iter``."""
    check_type(program, (ProgType.TRACING,), _HOOK)
    attach_type = program._attach_type
    if attach_type is not None and attach_type != AttachType.TRACE_ITER:
        raise TypeError(
            f"attach_iter: {program._describe()} has attach type {attach_type.name},"
            " not TRACE_ITER (an iter/* section); use attach_tracing() for"
            " fentry/fexit/fmod_ret/tp_btf programs"
        )
    if map is not None and pid is not None:
        raise ValueError(
            "attach_iter: give map= (map iterators) or pid= (task iterators), not both"
        )
    if map is not None and not isinstance(map, KernelObject):
        _check_int(map, "map (a Map or an fd)")
    if pid is not None:
        _check_int(pid, "pid")

    def make(prog_fd: int) -> tuple[FD, tuple[()]]:
        with contextlib.ExitStack() as held:  # a Map stays open until the link holds it
            if pid is not None:
                info = _TASK_INFO.pack(0, pid, 0)
            elif isinstance(map, KernelObject):
                info = _MAP_INFO.pack(held.enter_context(map._use()))
            else:
                info = _MAP_INFO.pack(map) if map is not None else b""
            return link_ops.link_create(prog_fd, 0, AttachType.TRACE_ITER, iter_info=info), ()

    hints = {
        errno.EBADF: "a map iterator (iter/bpf_map_elem, iter/sockmap, ...) needs map= a map"
        if map is None
        else "map= is not an open map fd",
        errno.EINVAL: "the kernel refused this iterator and its options (a map of a type the"
        " iterator cannot walk, pid= on a kernel before 6.1, or a non-iter program)",
        errno.ESRCH: f"no process {pid}",
    }
    return attach(program, (ProgType.TRACING,), _HOOK, make, hints)


def read_iter(link: Link) -> bytes:
    """Run the iterator of ``link`` once over its objects; see :meth:`Link.read`."""
    if link.type != LinkType.ITER:
        raise TypeError(
            f"read {link._describe()}: only ITER links can be read (make one with"
            " Program.attach_iter() on an iter/* program)"
        )
    hints = {
        errno.E2BIG: "one object's output was larger than the kernel's buffer (8 pages)",
    }
    try:
        with link._use() as fd:
            return link_ops.iter_read(fd)
    except OSError as err:
        raise link._error("read", err, hint=hints.get(err.errno or 0)) from None
