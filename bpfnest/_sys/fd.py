"""File descriptor ownership: one :class:`FD` owns one descriptor.

``FD.close()`` is idempotent. A ``weakref.finalize`` closes a descriptor whose
owner was dropped without ``close()``; that is a safety net, not a way of
working, so it is recorded in :data:`finalized` and the test suite counts it as
a leak. With :func:`set_tracing` on, every live ``FD`` remembers the stack
that created it, so a leak report says where the descriptor came from.

Threads: an operation that passes the number to the kernel holds a *borrow*
(``with fd.borrow("HASH 'x'") as raw: ...``). ``close()`` makes new borrows
fail with ``ValueError`` and waits for the borrows in flight, so the number
is never closed (and reused by another object) while a syscall is about to
use it. A thread that closes an fd it is itself borrowing does not wait: the
close happens when its last borrow ends.

Signals: a descriptor the kernel hands back is never held by a bare int that
an exception could drop. :func:`new_fd` makes the C call with a ``restype``
that puts the number into a list before any Python code runs (a signal
handler, such as the one raising ``KeyboardInterrupt``, runs only between
bytecodes), the ``FD`` takes it from that list in statements that call
nothing, and any exception before that closes it. Once an ``FD`` owns the
number, dropping the ``FD`` closes it (the safety net, which closes before it
does any bookkeeping; a second signal inside Python's own finalizer call can
still defeat it). ``close()`` closes the number first too, and a ``close()``
that an exception cut short is finished by the next one.

Fork: a child process has only the thread that forked. Locks and borrows
that other threads held at the fork are released in the child
(``os.register_at_fork``), so the child can use and close every object; a
close that another thread had begun is completed in the child.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

__all__ = [
    "FD",
    "at_fork_child",
    "reset_in_child",
    "dup_owned",
    "dup_raw",
    "fd_kind",
    "finalized",
    "live",
    "new_fd",
    "set_tracing",
]

_tracing = False
_lock = threading.Lock()
# id(FD) -> (raw fd, creation stack or ""), for every FD that owns a descriptor
_live: dict[int, tuple[int, str]] = {}
# id(FD) -> the FD, weakly: what the fork handler resets
_owners: dict[int, weakref.ref[FD]] = {}
_libc = ctypes.CDLL(None, use_errno=True)
_addresses: dict[str, int] = {}  # libc function name -> its address


def _function(name: str) -> Any:
    """A new foreign function object for libc's ``name`` (its restype is its own)."""
    addr = _addresses.get(name)
    if addr is None:
        addr = _addresses[name] = ctypes.cast(_libc[name], ctypes.c_void_p).value or 0
    return _libc._FuncPtr(addr)  # from the address: no symbol lookup per call


#: (raw fd, creation stack) of every descriptor closed by the safety net.
finalized: list[tuple[int, str]] = []


def set_tracing(on: bool) -> None:
    """Record the creation stack of each new ``FD`` (costly; for tests)."""
    global _tracing
    _tracing = on


def live() -> list[tuple[int, str]]:
    """Return ``(raw fd, creation stack)`` for every open ``FD``."""
    with _lock:
        return list(_live.values())


def _safety_close(key: int, cell: list[int]) -> None:
    raw = cell[0]
    if raw >= 0:  # (negative: never owned one, or closed already)
        # Closed before anything that could let a signal handler run.
        cell[0] = -1
        try:  # noqa: SIM105 - contextlib.suppress() is a call: a signal handler could run first
            os.close(raw)
        except OSError:
            pass
    with _lock:
        entry = _live.pop(key, None)
        _owners.pop(key, None)
    if raw >= 0:
        finalized.append(entry or (raw, ""))


class FD:
    """Owns one open file descriptor and closes it exactly once.

    Raises:
        ValueError: from ``raw`` once the descriptor is closed.
    """

    __slots__ = (
        "__weakref__",
        "_cell",
        "_cond",
        "_deferred",
        "_finalizer",
        "_pending",
        "_raw",
        "_users",
    )

    def __init__(self, raw: int, *, _claim: list[int] | None = None) -> None:
        """Own ``raw``. With ``_claim`` (see :func:`new_fd`), ``raw`` is taken out of
        that list (set to -1 there) in the same step as this object takes it."""
        if raw < 0:
            raise ValueError(f"invalid file descriptor {raw}")
        if raw == 0 and _claim is None:
            # fd 0 means "none" in several bpf_attr fields; never hand it out.
            moved = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 1)
            os.close(raw)
            raw = moved
        self._raw = -1  # owns nothing until the last lines
        self._cond = threading.Condition(threading.Lock())
        self._users: dict[int, int] = {}  # thread id -> borrows in flight
        self._pending = False  # close() began: no new borrows
        self._deferred = False  # closed by its own borrower: the last borrow closes
        key = id(self)
        stack = "".join(traceback.format_stack()[:-1]) if _tracing else ""
        cell = [-1]  # what the safety net closes
        self._cell = cell
        self._finalizer = weakref.finalize(self, _safety_close, key, cell)
        me = weakref.ref(self)
        at = _claim.index(raw) if _claim is not None else 0
        # Ownership passes here: these statements call nothing, so no signal
        # handler runs between them (see the module docstring).
        cell[0] = raw
        self._raw = raw
        _live[key] = (raw, stack)
        _owners[key] = me
        if _claim is not None:
            _claim[at] = -1

    @property
    def raw(self) -> int:
        """The descriptor number. Raises ``ValueError`` when closed (or closing)."""
        if self._raw < 0 or self._pending:
            raise ValueError("file descriptor is closed")
        return self._raw

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._raw < 0 or self._pending

    def borrow(self, what: str = "file descriptor") -> _Borrow:
        """A context manager giving the number; :meth:`close` waits for it to end.

        Raises:
            ValueError: ``"<what> is closed"`` when the fd is closed (or closing).
        """
        return _Borrow(self, what)

    def _enter(self, what: str) -> int:
        if self._raw < 0:  # closed: its lock is never needed again
            raise ValueError(f"{what} is closed")
        with self._cond:
            if self._raw < 0 or self._pending:
                raise ValueError(f"{what} is closed")
            tid = threading.get_ident()
            self._users[tid] = self._users.get(tid, 0) + 1
            return self._raw

    def _exit(self) -> None:
        with self._cond:
            tid = threading.get_ident()
            left = self._users[tid] - 1
            if left:
                self._users[tid] = left
            else:
                del self._users[tid]
            if self._users:
                return
            self._cond.notify_all()  # a close() in another thread may be waiting
            if not self._deferred:
                return
            self._deferred = False
            self._really_close()

    def close(self) -> None:
        """Close the descriptor; later calls do nothing.

        Waits for borrows in flight in other threads; when this thread holds
        a borrow itself, the close happens as that borrow ends.
        """
        if self._raw < 0:
            return
        with self._cond:
            if self._raw < 0 or (self._pending and (self._users or self._deferred)):
                return  # closed, or closing in another thread or at the end of a borrow
            # (_pending with neither: a close() that an exception cut short; finish it.)
            self._pending = True  # no new borrows from here on
            tid = threading.get_ident()
            while self._users and tid not in self._users:
                self._cond.wait()
                if self._raw < 0:
                    return  # another close() got in first
            if self._users:
                self._deferred = True  # this thread is inside a borrow: _exit closes
                return
            self._really_close()

    def _really_close(self) -> None:
        # Called with _cond held (or in a forked child); _raw < 0 after it. The
        # number is closed first and right after the safety net lets go of it,
        # so an exception (a signal) anywhere here neither leaks it nor closes
        # it twice; the bookkeeping happens in any case.
        raw = self._raw
        self._cell[0] = -1  # the safety net has nothing to close from here
        try:
            os.close(raw)
        finally:
            self._finalizer.detach()
            with _lock:
                _live.pop(id(self), None)
                _owners.pop(id(self), None)
            # Last: the lock-free "closed" checks see it only once really closed.
            self._raw = -1

    def dup(self) -> FD:
        """Return a new ``FD`` owning a close-on-exec duplicate (>= 3).

        Raises:
            ValueError: this one is closed.
            OSError: from fcntl(2).
        """
        with self.borrow() as raw:
            return dup_owned(raw)

    def __enter__(self) -> FD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FD({self._raw})" if self._raw >= 0 else "FD(closed)"

    def _after_fork_in_child(self, me: int) -> None:
        """In a forked child: drop the borrows and lock of threads that are gone."""
        users = {me: self._users[me]} if me in self._users else {}
        self._users = users
        self._cond = threading.Condition(threading.Lock())
        if self._pending and not users and self._raw >= 0:
            # Another thread was closing it (waiting for borrows, or closing
            # from inside its own): finish that close here.
            self._deferred = False
            self._really_close()


class _Borrow:
    """``with fd.borrow(what) as raw``: see :meth:`FD.borrow`."""

    __slots__ = ("_fd", "_what")

    def __init__(self, fd: FD, what: str) -> None:
        self._fd, self._what = fd, what

    def __enter__(self) -> int:
        return self._fd._enter(self._what)

    def __exit__(self, *exc: object) -> None:
        self._fd._exit()


def fd_kind(raw: int) -> str:
    """Return what ``raw`` refers to, e.g. ``"anon_inode:bpf-map"``.

    Raises:
        OSError: ``EBADF`` when ``raw`` is not an open descriptor.
    """
    if raw < 0:
        raise OSError(9, os.strerror(9))
    try:
        return os.readlink(f"/proc/self/fd/{raw}")
    except FileNotFoundError:
        raise OSError(9, os.strerror(9)) from None


def dup_raw(raw: int) -> int:
    """Return a close-on-exec duplicate of ``raw`` numbered 3 or above (the caller
    owns the number; :func:`dup_owned` is the signal-safe form)."""
    return fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 3)


def dup_owned(raw: int) -> FD:
    """Return an ``FD`` owning a close-on-exec duplicate of ``raw`` (>= 3).

    Raises:
        OSError: ``EBADF`` when ``raw`` is not open (or another fcntl(2) error).
    """
    return new_fd("fcntl", raw, fcntl.F_DUPFD_CLOEXEC, 3)


def new_fd(func: str, *args: Any) -> FD:
    """Call the libc function ``func(*args)``, which returns a new descriptor or -1
    with ``errno``, and return an ``FD`` owning the descriptor.

    Signal-safe: the number goes from the C call into a list without running
    Python code, and any exception (``KeyboardInterrupt`` too) before the
    ``FD`` owns it closes it. The arguments must be ints or ctypes objects.

    Raises:
        OSError: with the errno of the call.
    """
    box: list[int] = []
    try:
        call = _function(func)  # a new function object: its restype is this call's alone
        call.restype = box.append  # called with the C int result, before Python runs again
        call(*args)
        raw = box[0]
        if raw < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        if raw != 0:
            return FD(raw, _claim=box)
        # fd 0 means "none" in several bpf_attr fields; never hand it out.
        moved = new_fd("fcntl", 0, fcntl.F_DUPFD_CLOEXEC, 1)
        box[0] = -1
        os.close(0)
        return moved
    except BaseException:
        for left in box:
            if left >= 0:
                try:  # noqa: SIM105 - no call (a signal handler could run) before the close
                    os.close(left)
                except OSError:
                    pass
        raise


#: What else a forked child must reset, called after the FDs: see :func:`at_fork_child`.
_fork_hooks: list[Callable[[], None]] = []
# Objects with an ``_after_fork_in_child()`` method: see :func:`reset_in_child`.
_resettable: weakref.WeakSet[Any] = weakref.WeakSet()


def at_fork_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in a forked child, after the ``FD`` borrows are reset (in order of
    registration): for locks that another thread may have held at the fork."""
    _fork_hooks.append(hook)


def reset_in_child(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in a forked child, after the ``FD`` borrows
    are reset, for as long as ``obj`` lives (it is held weakly): for the locks it owns."""
    _resettable.add(obj)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    me = threading.get_ident()
    for ref in list(_owners.values()):
        fd = ref()
        if fd is not None:
            fd._after_fork_in_child(me)
    for obj in list(_resettable):
        obj._after_fork_in_child()
    for hook in _fork_hooks:
        hook()


os.register_at_fork(after_in_child=_after_fork_in_child)
