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
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import traceback
import weakref

__all__ = ["FD", "dup_raw", "fd_kind", "finalized", "live", "set_tracing"]

_tracing = False
_lock = threading.Lock()
# id(FD) -> (raw fd, creation stack or "")
_live: dict[int, tuple[int, str]] = {}
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


def _safety_close(key: int, raw: int) -> None:
    with _lock:
        entry = _live.pop(key, (raw, ""))
    finalized.append(entry)
    with contextlib.suppress(OSError):
        os.close(raw)


class FD:
    """Owns one open file descriptor and closes it exactly once.

    Raises:
        ValueError: from ``raw`` once the descriptor is closed.
    """

    __slots__ = (
        "__weakref__",
        "_cond",
        "_deferred",
        "_finalizer",
        "_pending",
        "_raw",
        "_users",
    )

    def __init__(self, raw: int) -> None:
        if raw < 0:
            raise ValueError(f"invalid file descriptor {raw}")
        if raw == 0:
            # fd 0 means "none" in several bpf_attr fields; never hand it out.
            moved = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 1)
            os.close(raw)
            raw = moved
        self._raw = raw
        self._cond = threading.Condition(threading.Lock())
        self._users: dict[int, int] = {}  # thread id -> borrows in flight
        self._pending = False  # close() began: no new borrows
        self._deferred = False  # closed by its own borrower: the last borrow closes
        key = id(self)
        with _lock:
            _live[key] = (raw, "".join(traceback.format_stack()[:-1]) if _tracing else "")
        self._finalizer = weakref.finalize(self, _safety_close, key, raw)

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
        with self._cond:
            if self._raw < 0 or self._pending:
                return
            self._pending = True  # no new borrows from here on
            tid = threading.get_ident()
            while self._users and tid not in self._users:
                self._cond.wait()
            if self._users:
                self._deferred = True  # this thread is inside a borrow: _exit closes
                return
            self._really_close()

    def _really_close(self) -> None:
        # Called once, with _cond held; _raw < 0 from here on.
        raw = self._raw
        self._raw = -1
        self._finalizer.detach()
        with _lock:
            _live.pop(id(self), None)
        os.close(raw)

    def dup(self) -> FD:
        """Return a new ``FD`` owning a close-on-exec duplicate (>= 3)."""
        return FD(dup_raw(self.raw))

    def __repr__(self) -> str:
        return f"FD({self._raw})" if self._raw >= 0 else "FD(closed)"


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
    """Return a close-on-exec duplicate of ``raw`` numbered 3 or above."""
    return fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 3)
