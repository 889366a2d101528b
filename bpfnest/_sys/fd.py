"""File descriptor ownership: one :class:`FD` owns one descriptor.

``FD.close()`` is idempotent. A ``weakref.finalize`` closes a descriptor whose
owner was dropped without ``close()``; that is a safety net, not a way of
working, so it is recorded in :data:`finalized` and the test suite counts it as
a leak. With :func:`set_tracing` on, every live ``FD`` remembers the stack
that created it, so a leak report says where the descriptor came from.
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

    __slots__ = ("__weakref__", "_finalizer", "_raw")

    def __init__(self, raw: int) -> None:
        if raw < 0:
            raise ValueError(f"invalid file descriptor {raw}")
        if raw == 0:
            # fd 0 means "none" in several bpf_attr fields; never hand it out.
            moved = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 1)
            os.close(raw)
            raw = moved
        self._raw = raw
        key = id(self)
        with _lock:
            _live[key] = (raw, "".join(traceback.format_stack()[:-1]) if _tracing else "")
        self._finalizer = weakref.finalize(self, _safety_close, key, raw)

    @property
    def raw(self) -> int:
        """The descriptor number. Raises ``ValueError`` when closed."""
        if self._raw < 0:
            raise ValueError("file descriptor is closed")
        return self._raw

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._raw < 0

    def close(self) -> None:
        """Close the descriptor; later calls do nothing."""
        raw = self._raw
        if raw < 0:
            return
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
