"""What Map and Program share: one owned FD, its lifetime, and pinning."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from types import TracebackType
from typing import TypeVar

from ._hints import BY_ID
from ._sys import ops
from ._sys.fd import FD, _Borrow, fd_kind
from ._sys.uapi import Cmd
from .errors import BPFError, strerror

__all__ = ["KernelObject", "fd_kind_of", "iter_ids", "on_bpffs", "open_by_id", "pinned_hint"]

_T = TypeVar("_T", bound="KernelObject")

_PIN_HINTS = {
    errno.EEXIST: "the path exists already",
    errno.ENOENT: "the directory does not exist",
    errno.EPERM: "the path must be on a bpffs (mount -t bpf bpf /sys/fs/bpf)"
    " and this needs root or CAP_BPF",
}


class KernelObject:
    """A BPF object in the kernel reached through one file descriptor it owns.

    Subclasses set ``_fd`` and say how to name themselves in errors.
    """

    _fd: FD

    def _describe(self) -> str:
        """How messages name this object, e.g. ``HASH 'counts'``."""
        raise NotImplementedError

    def _error(self, op: str, err: OSError, *, hint: str | None = None) -> BPFError:
        raise NotImplementedError

    def _raw(self) -> int:
        """The fd number, unguarded. Raises ``ValueError`` once closed.

        For a syscall use :meth:`_use`: another thread's ``close()`` could
        let the number be reused between reading it and the syscall.
        """
        if self._fd.closed:
            raise ValueError(f"{self._describe()} is closed")
        return self._fd.raw

    def _use(self) -> _Borrow:
        """``with self._use() as fd``: the fd number, kept open until the block ends.

        Raises ``ValueError`` once closed.
        """
        return self._fd.borrow(self._describe())

    @property
    def fd(self) -> int:
        """The file descriptor (owned by this object: do not close it)."""
        return self._raw()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd.closed

    def close(self) -> None:
        """Close the file descriptor; idempotent."""
        self._fd.close()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def pin(self, path: str) -> None:
        """Pin the object at ``path`` on a bpffs; unlinking it is the caller's business.

        Raises:
            BPFError: ``EEXIST`` when the path exists, ``ENOENT`` when its
                directory does not, ``EPERM`` when it is not on a bpffs.
        """
        path = str(path)
        try:
            with self._use() as fd:
                ops.obj_pin(fd, path)
        except OSError as err:
            hint = _PIN_HINTS.get(err.errno or 0)
            raise self._error(f"pin at '{path}'", err, hint=hint) from None


_WORDS = {
    "map": "a BPF map",
    "program": "a BPF program",
    "bpf": "another BPF object",
    "": "not a BPF object",
}
_INODES = {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "program"}


def fd_kind_of(fd: int) -> tuple[str, str]:
    """Return ``(kind, description)`` of the open fd ``fd``: kind as
    :func:`bpfnest._sys.ops.obj_kind` says (from the kernel), and what to call
    it in a message (its /proc/self/fd link when /proc is there, e.g. ``/dev/null``).

    /proc is only a hint: it settles what the kernel cannot tell (an ARENA
    map, a kernel without the probes) and names a foreign fd.

    Raises:
        OSError: ``EBADF`` when ``fd`` is not open.
    """
    kind = ops.obj_kind(fd)
    try:
        link = fd_kind(fd)
    except OSError:
        link = ""  # no /proc here (a minimal container): the kernel's answer stands
    if kind == "bpf" and link in _INODES:
        kind = _INODES[link]
    return kind, link or _WORDS[kind]


def open_by_id(cmd: Cmd, obj_id: object, what: str) -> FD:
    """``*_GET_FD_BY_ID`` of ``obj_id`` (``what`` is "map" or "program"); the caller closes the fd.

    Raises:
        TypeError, ValueError: ``obj_id`` is not an int, or not a u32.
        BPFError: ``ENOENT`` when nothing has this id, ``EPERM`` without privileges.
    """
    if not isinstance(obj_id, int) or isinstance(obj_id, bool):
        raise TypeError(f"{what} id must be an int, got {type(obj_id).__name__}")
    if not 0 <= obj_id < 1 << 32:
        raise ValueError(f"{what} id must be in 0..{(1 << 32) - 1}, got {obj_id}")
    try:
        return ops.get_fd_by_id(cmd, obj_id)
    except OSError as err:
        code = err.errno or 0
        why = {
            errno.EPERM: f"opening a {what} by id {BY_ID}",
            errno.ENOENT: f"no {what} has this id",
        }.get(code)
        raise BPFError(
            code, f"open {what} id {obj_id}: {strerror(code)}" + (f" ({why})" if why else "")
        ) from None


def on_bpffs(path: str) -> bool | None:
    """True when ``path`` (or the directory it would be in) is on a bpffs;
    None when /proc/self/mountinfo cannot be read."""
    where = os.path.realpath(path)
    if not os.path.exists(where):
        where = os.path.dirname(where)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    best, fstype = "", ""
    for fields in mounts:
        try:
            point = fields[4].encode().decode("unicode_escape")  # \040 for spaces
            kind = fields[fields.index("-") + 1]
        except (IndexError, ValueError):
            continue
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, kind
    return fstype == "bpf"


def pinned_hint(code: int, path: str) -> str | None:
    """The hint for a failed BPF_OBJ_GET of ``path``."""
    if code in (errno.EACCES, errno.EPERM, errno.EINVAL, errno.ENOENT):
        off = "not on a bpffs: pins live on one (mount -t bpf bpf /sys/fs/bpf)"
        bpffs = on_bpffs(path) is not False
        if os.path.isdir(path):
            return f"'{path}' is a directory, not a pin" + ("" if bpffs else f", and {off}")
        if code == errno.ENOENT and not os.path.lexists(path):
            hint = f"nothing is pinned at this path: '{os.path.abspath(path)}' does not exist"
            return hint + ("" if bpffs else f"; it is {off}")
        if not bpffs:
            return f"'{path}' is {off}"
    if code == errno.EPERM:
        return "needs root or CAP_BPF"
    if code == errno.EACCES:
        return (
            "the pin's file permissions refuse this user: open it as its owner or root, or chmod it"
        )
    if code == errno.ENOENT:
        return "nothing is pinned at this path"
    return None


def iter_ids(cmd: Cmd, what: str) -> Iterator[int]:
    """Yield every id that ``cmd`` (a ``*_GET_NEXT_ID``) walks, in increasing order.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN (CAP_BPF is not enough).
    """
    cur = 0
    while True:
        try:
            nxt = ops.get_next_id(cmd, cur)
        except OSError as err:
            code = err.errno or 0
            hint = f" (listing by id {BY_ID})" if code == errno.EPERM else ""
            raise BPFError(code, f"list {what}: {strerror(code)}{hint}") from None
        if nxt is None:
            return
        yield nxt
        cur = nxt
