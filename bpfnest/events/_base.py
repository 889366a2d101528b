"""What the three event objects share: the map checks, one epoll set with an
eventfd that :meth:`_Events.close` writes to wake a thread blocked in it, and
the close protocol (resources released once, after the calls in flight end).

mmap is done with Python's :mod:`mmap` module on the map's (or perf event's)
fd; epoll with :mod:`select`; the eventfd with :func:`os.eventfd`.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import select
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from .._sys.fd import FD, dup_owned, reset_in_child
from ..constants import MapType

PAGE = mmap.PAGESIZE
T = TypeVar("T")

# Which reader fits which map type (for the TypeError).
_READER_FOR = {
    MapType.RINGBUF: "RingBuffer",
    MapType.PERF_EVENT_ARRAY: "PerfBuffer",
    MapType.USER_RINGBUF: "UserRingBuffer",
}


def own_map_fd(bpf_map: Any, want: MapType, reader: str) -> tuple[FD, str]:
    """Check ``bpf_map`` is an open map of type ``want``; return a duplicate of
    its fd (owned by the caller) and how messages name it (``RINGBUF 'events'``).

    Raises:
        TypeError: not a ``Map``, or a map of another type (naming the reader
            that fits).
        ValueError: the map is closed.
    """
    from ..maps import Map

    if not isinstance(bpf_map, Map):
        raise TypeError(f"{reader} needs a bpfnest.Map, got {type(bpf_map).__name__}")
    what = bpf_map._describe()
    if bpf_map.type != want:
        fits = _READER_FOR.get(bpf_map.type)  # type: ignore[call-overload]
        hint = f" (read it with bpfnest.{fits})" if fits else ""
        raise TypeError(f"{reader} needs a {want.name} map, got {what}{hint}")
    with bpf_map._use() as raw:  # ValueError "<what> is closed"
        return dup_owned(raw), what


def mmap_or_explain(raw: int, length: int, prot: int, offset: int, what: str) -> mmap.mmap:
    """``mmap(raw, length, MAP_SHARED, prot, offset)``.

    Raises:
        OSError: with the errno and a message naming ``what``.
    """
    try:
        return mmap.mmap(raw, length, mmap.MAP_SHARED, prot, offset=offset)
    except OSError as err:
        code = err.errno or 0
        raise OSError(code, f"mmap {what}: {os.strerror(code)}") from None


def deadline(timeout: float | None) -> float | None:
    """The monotonic time at which ``timeout`` seconds from now end (None: never).

    Raises:
        ValueError: a negative timeout.
    """
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    return time.monotonic() + timeout


def remaining(until: float | None) -> float:
    """Seconds left until ``until`` for epoll (-1: no limit; 0 once passed)."""
    if until is None:
        return -1
    return max(0.0, until - time.monotonic())


def close_mmap(mm: mmap.mmap, views: list[memoryview]) -> None:
    """Release ``views`` and unmap ``mm``. When a view derived from one of ours
    still holds the mapping (a caller kept a slice of a callback's view), the
    mapping goes when that view is released; the close succeeds all the same."""
    for view in views:
        with contextlib.suppress(BufferError):
            view.release()
    views.clear()
    with contextlib.suppress(BufferError):
        mm.close()


class _Events:
    """Base of the readers: an epoll set, a wake-up eventfd, the close protocol.

    Subclasses register their fds with :meth:`_watch`, run each public call
    inside ``with self._call():`` and free what they own in
    :meth:`_release_own` (called exactly once).
    """

    _what = "events"

    def __init__(self) -> None:
        self._lock = threading.Lock()  # (used directly where it is hot)
        self._cond = threading.Condition(self._lock)
        self._busy: dict[int, int] = {}  # thread id -> calls in flight
        self._closing = False
        self._released = False
        self._waiters: set[asyncio.Future[None]] = set()
        reset_in_child(self)  # another thread may hold the locks at a fork
        # Held while positions move: one consumer (or producer) at a time.
        self._turn = threading.RLock()
        # True while poll() runs callbacks (with _turn held: only the thread
        # running them can see it True, from inside one of them).
        self._in_callback = False
        self._ep = select.epoll()
        try:
            self._wake = FD(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK))
        except BaseException:
            self._ep.close()
            raise
        self._ep.register(self._wake.raw, select.EPOLLIN)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._turn = threading.RLock()
        self._in_callback = False
        self._busy = {}
        self._waiters = set()

    def _watch(self, raw: int, events: int = select.EPOLLIN) -> None:
        self._ep.register(raw, events)

    # ------------------------------------------------------------ close protocol

    def _enter(self) -> None:
        """A public call begins (``ValueError`` once closed); pair with :meth:`_exit`."""
        tid = threading.get_ident()
        with self._lock:
            if self._closing:
                raise ValueError(f"{self._what} is closed")
            busy = self._busy
            busy[tid] = busy.get(tid, 0) + 1

    def _exit(self) -> None:
        tid = threading.get_ident()
        with self._lock:
            left = self._busy[tid] - 1
            if left:
                self._busy[tid] = left
                return
            del self._busy[tid]
            if self._closing and not self._busy:  # (only close() waits on _cond)
                self._cond.notify_all()
                if not self._released:
                    self._release()  # close() was called inside this call

    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        self._enter()
        try:
            yield
        finally:
            self._exit()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closing

    def close(self) -> None:
        """Release the mappings and file descriptors; idempotent.

        A thread blocked in a call of this object wakes up (its call returns
        as when the timeout passes) and the release happens when it returns;
        called from inside a callback, the release happens as that call ends.
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            os.eventfd_write(self._wake.raw, 1)
            for fut in self._waiters:
                fut.get_loop().call_soon_threadsafe(_done, fut)
            tid = threading.get_ident()
            while self._busy and tid not in self._busy:
                self._cond.wait()
            if not self._busy and not self._released:
                self._release()  # (else the last call in flight did)

    def _release(self) -> None:
        # With _cond held, once. The subclass's resources first (they are
        # registered in the epoll set), then the epoll set and the eventfd.
        self._released = True
        try:
            self._release_own()
        finally:
            self._ep.close()
            self._wake.close()

    def _release_own(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{self._what}{' (closed)' if self._closing else ''}>"

    def __del__(self) -> None:  # a reader dropped without close(): free it
        with contextlib.suppress(Exception):
            if not getattr(self, "_released", True):
                self.close()

    # ------------------------------------------------------------------ waiting

    def fileno(self) -> int:
        """The epoll fd: readable when a record may be ready (or once closed),
        for ``select``/``selectors``/``asyncio`` readers. Owned by this object.

        Raises:
            ValueError: closed.
        """
        if self._closing:
            raise ValueError(f"{self._what} is closed")
        return self._ep.fileno()

    def _wait(self, until: float | None) -> list[int]:
        """Wait for a watched fd until ``until``; return the ready ones ([] on
        timeout or when closed)."""
        if until is not None and time.monotonic() >= until:
            return []  # (a ready fd with nothing to take must not loop past it)
        ready = self._ep.poll(remaining(until))
        if self._closing:
            return []
        return [fd for fd, _ in ready]

    async def _readable(self) -> None:
        """Wait, in the running event loop, until :meth:`fileno` is readable or
        this object is closed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closing:
                return
            raw = self._ep.fileno()
            self._waiters.add(fut)
        loop.add_reader(raw, _done, fut)
        try:
            await fut
        finally:
            loop.remove_reader(raw)
            with self._cond:
                self._waiters.discard(fut)


class _Reader(_Events, Generic[T]):
    """A reader: :meth:`read` one record, or iterate with ``async for``."""

    def read(self, timeout: float | None = None) -> T | None:
        raise NotImplementedError

    def _drain(self, rings: Iterable[Any], callback: Any, timeout: float | None) -> int:
        """``ring.drain(callback)`` over ``rings`` until one gives records, or
        ``timeout`` passes; how many records all gave (the loop of ``poll``).
        When the time is up the rings are looked at once more: records that
        woke no one (written without a wake-up, or below a perf buffer's
        threshold) are taken then."""
        until = deadline(timeout)
        with self._call():
            while True:
                n = self._drain_once(rings, callback)
                if n or timeout == 0:
                    return n
                if not self._wait(until):
                    return 0 if self._closing else self._drain_once(rings, callback)

    def _drain_once(self, rings: Iterable[Any], callback: Any) -> int:
        with self._turn:
            self._check_not_nested()
            self._in_callback = True
            try:
                return sum([ring.drain(callback) for ring in rings])
            finally:
                self._in_callback = False

    def _check_not_nested(self) -> None:
        """Raise when called (with ``_turn`` held) from inside this reader's own
        ``poll()`` callback: that poll keeps its place in the ring until it
        returns, so records read here would come to it a second time."""
        if self._in_callback:
            raise RuntimeError(
                f"{self._what}: read() or poll() from inside this reader's own poll()"
                " callback would give records twice; keep what the callback needs and"
                " read after poll() returns"
            )

    def __aiter__(self) -> _Reader[T]:
        return self

    async def __anext__(self) -> T:
        """The next record; the iteration ends when the reader is closed."""
        while True:
            try:
                record = self.read(0)
            except ValueError:  # closed
                raise StopAsyncIteration from None
            if record is not None:
                return record
            await self._readable()


def _done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
