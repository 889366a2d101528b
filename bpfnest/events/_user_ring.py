"""UserRingBuffer: write samples into a BPF_MAP_TYPE_USER_RINGBUF that
programs drain with bpf_user_ringbuf_drain().

The roles of RINGBUF swapped: the kernel consumes (its position on the first
page, mapped read-only here), user space produces (the producer page and the
data, mapped read-write, the data twice in a row). A sample is reserved by
writing its header (length | BUSY, then 4 zero bytes) and advancing the
producer position past header + data rounded up to 8; it is committed by
clearing BUSY in the header once the data is written (libbpf's
``user_ring_buffer__reserve``/``__submit``).
"""

from __future__ import annotations

import mmap
import select
import time
from typing import Any

from ..constants import MapType
from ._base import PAGE, _Events, close_mmap, deadline, mmap_or_explain, own_map_fd

__all__ = ["UserRingBuffer"]

BUSY = 1 << 31
_HDR = 8


class UserRingBuffer(_Events):
    """Feed a ``USER_RINGBUF`` map that a program drains with
    ``bpf_user_ringbuf_drain()``.

    ``UserRingBuffer(map)`` maps the ring; :meth:`submit` reserves room,
    copies a sample in and commits it with the kernel's header protocol. One
    producer at a time: calls from several threads are serialized (the kernel
    allows one user-space producer per ring).

    The caller closes it (:meth:`close` or ``with``): that unmaps the ring
    and closes the reader's duplicate of the map's fd (the ``Map`` may be
    closed independently); a thread blocked in :meth:`submit` wakes up and
    gets ``TimeoutError``; later calls raise ``ValueError``.

    Minimum kernel: 6.1.

    Raises:
        TypeError: a map that is not a ``USER_RINGBUF`` (the message names the
            reader that fits it).
        ValueError: a closed map.
        OSError: mmap or epoll failed; nothing stays mapped or open.
    """

    def __init__(self, bpf_map: Any) -> None:
        super().__init__()
        self._maps: list[mmap.mmap] = []
        self._views: list[memoryview] = []
        try:
            self._fd, what = own_map_fd(bpf_map, MapType.USER_RINGBUF, "UserRingBuffer")
            self._what = f"UserRingBuffer of {what}"
            size: int = bpf_map.max_entries
            self._size = size
            raw = self._fd.raw
            cons_mm = mmap_or_explain(raw, PAGE, mmap.PROT_READ, 0, what)
            self._maps.append(cons_mm)
            prot = mmap.PROT_READ | mmap.PROT_WRITE
            data_mm = mmap_or_explain(raw, PAGE + 2 * size, prot, PAGE, what)
            self._maps.append(data_mm)
            self._mm = data_mm
            self._data = memoryview(data_mm)
            self._views.append(self._data)
            self._cons = memoryview(cons_mm).cast("Q")
            self._views.append(self._cons)
            self._prod = self._data.cast("Q")
            self._hdr = self._data.cast("I")
            self._views[:0] = [self._prod, self._hdr]
            self._watch(raw, select.EPOLLOUT)  # writable: the kernel consumed something
        except BaseException:
            self._closing = True
            self._release()
            raise

    def _release_own(self) -> None:
        for mm in self._maps:
            close_mmap(mm, self._views)
        self._maps.clear()
        fd = getattr(self, "_fd", None)
        if fd is not None:
            fd.close()

    @property
    def max_sample(self) -> int:
        """The largest sample this ring takes (its size minus the 8-byte header)."""
        return self._size - _HDR

    def _reserve(self, total: int) -> int | None:
        """Reserve ``total`` bytes: the offset of the header, or None when full."""
        cons: int = self._cons[0]
        prod: int = self._prod[0]
        if self._size - (prod - cons) < total:
            return None
        return prod

    def submit(self, data: bytes | bytearray | memoryview, *, timeout: float | None = 0.0) -> None:
        """Copy ``data`` into the ring as one sample and commit it.

        When the ring has no room, wait up to ``timeout`` seconds for the
        program to drain it (0, the default: do not wait; ``None``: as long as
        it takes).

        Raises:
            TypeError: ``data`` is not bytes-like.
            ValueError: an empty sample, or one larger than :attr:`max_sample`
                (it can never fit); closed; a negative timeout.
            TimeoutError: still no room after ``timeout`` seconds (or the
                object was closed while waiting); nothing was written.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        length = len(data) if not isinstance(data, memoryview) else data.nbytes
        if length == 0:
            raise ValueError(f"{self._what}: cannot submit an empty sample")
        if length > self._size - _HDR:
            raise ValueError(
                f"{self._what}: a {length}-byte sample cannot fit a {self._size}-byte ring"
                f" (at most {self._size - _HDR} bytes; make max_entries larger)"
            )
        total = (length + _HDR + 7) & ~7
        until = deadline(timeout)
        sample = data if isinstance(data, bytes) else bytes(data)
        with self._call():
            while not self._put(sample, total):
                if timeout == 0 or not self._wait(until):
                    raise TimeoutError(
                        f"{self._what}: no room for a {length}-byte sample"
                        f" (the ring is full: the program has not drained it)"
                    )
                if self._reserve(total) is None:
                    time.sleep(0.0005)  # writable means "not full", not "room for this"

    def _put(self, sample: bytes, total: int) -> bool:
        """Reserve, copy and commit ``sample`` (``total`` bytes with its header
        and padding); False when there is no room."""
        with self._turn:
            prod = self._reserve(total)
            if prod is None:
                return False
            length = len(sample)
            at = PAGE + (prod & (self._size - 1))
            word = at >> 2
            self._hdr[word] = length | BUSY
            self._hdr[word + 1] = 0
            self._prod[0] = prod + total  # reserved
            start = at + _HDR
            self._mm[start : start + length] = sample
            self._hdr[word] = length  # committed: BUSY cleared in one store
            return True
