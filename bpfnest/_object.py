"""What every kernel object shares: one owned FD, its lifetime, pinning, and opening.

:class:`KernelObject` is the base of :class:`bpfnest.Map` and
:class:`bpfnest.Program` (and of links and event readers next). It owns one
:class:`FD`; ``close()``, ``with``, ``pin()``, and the openers
``from_id``/``from_pinned``/``from_fd`` live here once. A subclass says what it
is (``_kind``, as the kernel names the fd: "map", "program"), which command
opens it by id (``_get_fd_by_id``), and how to wrap a new fd
(``_from_owned``: read the kernel's info, build the object).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import ClassVar, TypeVar

from . import _pins
from ._hints import BY_ID
from ._sys import ops
from ._sys.fd import FD, _Borrow, dup_owned, fd_kind
from ._sys.uapi import Cmd
from .errors import BPFError, error

__all__ = [
    "KernelObject",
    "check_kind",
    "fd_kind_of",
    "iter_ids",
    "on_bpffs",
    "open_by_id",
    "pinned_hint",
]

_T = TypeVar("_T", bound="KernelObject")

_PIN_HINTS = {
    errno.EEXIST: "the path exists already",
    errno.ENOENT: "the directory does not exist",
    errno.EPERM: "the path must be on a bpffs (mount -t bpf bpf /sys/fs/bpf)"
    " and this needs root or CAP_BPF",
}


class KernelObject:
    """A BPF object in the kernel reached through one file descriptor it owns.

    Subclasses set ``_fd``, say how to name themselves in errors
    (``_describe``, ``_error``), what they are (``_kind``,
    ``_get_fd_by_id``) and how to wrap a new fd (``_from_owned``).
    """

    _fd: FD
    #: What the kernel calls such an fd (:func:`fd_kind_of`): "map", "program", ...
    _kind: ClassVar[str] = ""
    #: The ``*_GET_FD_BY_ID`` command that opens one by id.
    _get_fd_by_id: ClassVar[Cmd]

    @classmethod
    def _from_owned(cls: type[_T], fd: FD) -> _T:
        """Wrap ``fd`` (just opened, of this kind): read what the kernel says, build the object.

        Raises ``OSError`` when the kernel's info cannot be read.
        """
        raise NotImplementedError

    @classmethod
    def _adopt(cls: type[_T], fd: FD, what: str, make: Callable[[FD], _T] | None = None) -> _T:
        """Wrap ``fd`` (owned from here) with ``make`` (default :meth:`_from_owned`);
        closes it on failure. ``what`` names it in errors (``map id 5``, ``pinned 'p'``)."""
        try:
            try:
                return (make or cls._from_owned)(fd)
            except OSError as err:
                code = err.errno or 0
                raise error("open", what, code) from None
        except BaseException:
            fd.close()
            raise

    @classmethod
    def from_id(cls: type[_T], obj_id: int) -> _T:
        """Open the object with id ``obj_id``; the caller owns (and closes) it.

        Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

        Raises:
            TypeError, ValueError: ``obj_id`` is not an int, or not a u32.
            BPFError: ``ENOENT`` when nothing of this kind has this id,
                ``EPERM`` without CAP_SYS_ADMIN.
        """
        fd = open_by_id(cls._get_fd_by_id, obj_id, cls._kind)
        return cls._adopt(fd, f"{cls._kind} id {obj_id}")

    @classmethod
    def from_pinned(cls: type[_T], path: _pins.PathArg, *, dir_fd: int | None = None) -> _T:
        """Open the object pinned at ``path`` on a bpffs; the caller owns (and closes) it.

        ``path`` is a ``str``, ``bytes`` or ``os.PathLike``; with ``dir_fd``
        (an open directory) a relative ``path`` is taken from there, as
        ``os.open`` does (``BPF_F_PATH_FD`` on Linux 6.5, ``/proc`` before).
        Minimum kernel: 4.4.

        Raises:
            TypeError: ``path`` is not a path (e.g. None).
            ValueError: ``path`` is empty or holds a NUL byte.
            BPFError: ``ENOENT`` when nothing is pinned there, ``EINVAL`` when
                the pinned object is of another kind, ``EPERM`` without
                privileges.
        """
        return cls._open_pinned(path, dir_fd, 0)

    @classmethod
    def _open_pinned(cls: type[_T], path: _pins.PathArg, dir_fd: int | None, flags: int) -> _T:
        """BPF_OBJ_GET of ``path`` with ``flags`` (``BPF_F_RDONLY``), checked to be of this kind."""
        name = _pins.check_path(path, "from_pinned")
        shown = _pins.shown(name, dir_fd)
        try:
            fd = _pins.at(name, dir_fd, lambda p, f: ops.obj_get(p, flags, f))
        except OSError as err:
            code = err.errno or 0
            hint = pinned_hint(code, shown)
            raise error("open", f"pinned '{shown}'", code, hint) from None
        try:
            kind, desc = fd_kind_of(fd.raw)
            if kind != cls._kind:
                why = f"not a {cls._kind} (it is {desc})"  # refused here: no strerror
                raise BPFError(errno.EINVAL, f"open pinned '{shown}': {why}", reason=why)
        except BaseException:
            fd.close()
            raise
        return cls._adopt(fd, f"pinned '{shown}'")

    @classmethod
    def from_fd(cls: type[_T], fd: int) -> _T:
        """Return an object owning a duplicate of ``fd``; the caller keeps ``fd``.

        The object is the caller's to close (closing it leaves ``fd`` open).
        Minimum kernel: 4.13 (``BPF_OBJ_GET_INFO_BY_FD``).

        Raises:
            TypeError: ``fd`` is not an int.
            BPFError: ``EBADF`` for a closed fd, ``EINVAL`` for an fd of
                another kind.
        """
        check_kind(fd, "from_fd", cls._kind, takes="an int")
        try:
            dup = dup_owned(fd)
        except OSError as err:
            code = err.errno or 0
            raise _fd_error("from_fd", fd, code) from None
        return cls._adopt(dup, f"fd {fd}")

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

    def pin(self, path: _pins.PathArg, *, dir_fd: int | None = None) -> None:
        """Pin the object at ``path`` on a bpffs; unlinking it is the caller's business.

        ``path`` is a ``str``, ``bytes`` or ``os.PathLike``; with ``dir_fd``
        (an open directory) a relative ``path`` is taken from that directory,
        as ``os.open`` does (Linux 6.5's ``BPF_F_PATH_FD``, or ``/proc`` on
        older kernels). A symlink at ``path`` is never followed: the pin
        fails with ``EEXIST``. The pin is mode 0600 (less the umask).
        Minimum kernel: 4.4.

        Raises:
            TypeError: ``path`` is not a path (e.g. None).
            ValueError: ``path`` is empty or holds a NUL byte; the object is closed.
            BPFError: ``EEXIST`` when the path exists, ``ENOENT`` when its
                directory does not, ``EPERM`` when it is not on a bpffs.
        """
        path = _pins.check_path(path, "pin")
        try:
            with self._use() as fd:
                _pins.at(path, dir_fd, lambda p, f: ops.obj_pin(fd, p, f))
        except OSError as err:
            hint = _PIN_HINTS.get(err.errno or 0)
            where = _pins.shown(path, dir_fd)
            raise self._error(f"pin at '{where}'", err, hint=hint) from None


_WORDS = {
    "map": "a BPF map",
    "program": "a BPF program",
    "link": "a BPF link",
    "bpf": "another BPF object",
    "": "not a BPF object",
}
_INODES = {
    "anon_inode:bpf-map": "map",
    "anon_inode:bpf-prog": "program",
    "anon_inode:bpf-link": "link",  # bpf_link_new_fd() (a link opened by id or pin)
    "anon_inode:bpf_link": "link",  # bpf_link_prime() (a link just created)
}


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


def check_kind(fd: object, what: str, kind: str, *, takes: str) -> int:
    """Return ``fd`` as an int after checking it is an open BPF ``kind`` descriptor.

    The kernel says what the fd is (BPF_OBJ_GET_INFO_BY_FD and a command of
    that kind only); /proc is not needed. ``takes`` says what ``what``
    accepts, for the ``TypeError`` (e.g. "a Map or an int file descriptor").

    Raises:
        TypeError: ``fd`` is not an int.
        BPFError: ``EBADF`` for a negative or closed fd, ``EINVAL`` for an fd
            of another kind (the errnos the kernel would give).
    """
    if not isinstance(fd, int) or isinstance(fd, bool):
        raise TypeError(f"{what} must be {takes}, got {type(fd).__name__}")
    try:
        found, desc = fd_kind_of(fd) if fd >= 0 else ("", "")
    except OSError:
        found, desc = "", ""
    if not desc:
        raise _fd_error(what, fd, errno.EBADF, "not an open file descriptor")
    if found != kind:
        why = f"fd {fd} is not a BPF {kind} (it is {desc})"  # refused here: no strerror
        raise BPFError(errno.EINVAL, f"{what}: {why}", reason=why)
    return fd


def _fd_error(what: str, fd: int, code: int, hint: str | None = None) -> BPFError:
    """``<what>: fd <n>: <strerror>[ (<hint>)]``: the template, for an fd argument."""
    return error(f"{what}: fd", str(fd), code, hint)


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
        raise error("open", f"{what} id {obj_id}", code, why) from None


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
            hint = f"listing by id {BY_ID}" if code == errno.EPERM else None
            raise error("list", what, code, hint) from None
        if nxt is None:
            return
        yield nxt
        cur = nxt
