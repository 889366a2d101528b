"""RingBuffer: read BPF_MAP_TYPE_RINGBUF maps through their mmap.

The kernel's layout (kernel/bpf/ringbuf.c): the consumer position on the
first page (mapped read-write), the producer position on the second, then the
data pages, mapped twice in a row so that a record that wraps is contiguous
(mapped read-only). Each record starts with an 8-byte header: a 32-bit
length whose bit 31 is BUSY (reserved, not committed yet) and bit 30 DISCARD,
then 4 bytes the reader ignores; the next record starts at the length plus
the header rounded up to 8.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from typing import Any

from ..constants import MapType
from ._base import PAGE, _Reader, close_mmap, deadline, mmap_or_explain, own_map_fd

__all__ = ["RingBuffer"]

BUSY = 1 << 31
DISCARD = 1 << 30
_LEN = DISCARD - 1
_HDR = 8


class _Ring:
    """One mapped ring: its fd (a duplicate, owned), the two mappings and the
    views over them."""

    __slots__ = (
        "cons", "data", "fd", "hdr", "maps", "mask", "mm", "prod", "raw", "views", "what",
    )  # fmt: skip

    def __init__(self, bpf_map: Any) -> None:
        self.fd, self.what = own_map_fd(bpf_map, MapType.RINGBUF, "RingBuffer")
        self.maps: list[mmap.mmap] = []
        self.views: list[memoryview] = []
        try:
            size = bpf_map.max_entries
            self.mask = size - 1
            raw = self.fd.raw
            self.raw = raw
            rw = mmap.PROT_READ | mmap.PROT_WRITE
            cons_mm = mmap_or_explain(raw, PAGE, rw, 0, self.what)
            self.maps.append(cons_mm)
            data_mm = mmap_or_explain(raw, PAGE + 2 * size, mmap.PROT_READ, PAGE, self.what)
            self.maps.append(data_mm)
            self.mm = data_mm
            # Positions: single aligned 8-byte loads and stores.
            self.cons = self._view(cons_mm).cast("Q")
            whole = self._view(data_mm)
            self.prod = whole.cast("Q")  # [0]: the producer position
            self.hdr = whole.cast("I")  # [(PAGE + off) >> 2]: a record's length word
            self.data = whole  # bytes views handed to callbacks are slices of it
        except BaseException:
            self.close()
            raise

    def _view(self, mm: mmap.mmap) -> memoryview:
        view = memoryview(mm)
        self.views.append(view)
        return view

    def close(self) -> None:
        casts = [getattr(self, n, None) for n in ("cons", "prod", "hdr")]
        self.views[:0] = [v for v in casts if v is not None]
        for mm in self.maps:
            close_mmap(mm, self.views)
        self.maps.clear()
        self.fd.close()

    def take(self) -> bytes | None:
        """The next record as bytes (skipping discarded ones), or None when
        none is ready (or the next is still BUSY)."""
        cons_view, hdr, mask = self.cons, self.hdr, self.mask
        cons = first = cons_view[0]
        prod = self.prod[0]
        record = None
        while cons != prod:
            at = PAGE + (cons & mask)
            word = hdr[at >> 2]
            if word & BUSY:
                break
            length = word & _LEN
            cons += (length + _HDR + 7) & ~7
            if not word & DISCARD:
                at += _HDR
                record = self.mm[at : at + length]
                break
        if cons != first:
            cons_view[0] = cons
        return record

    def drain(self, callback: Callable[[memoryview], object]) -> int:
        """Hand the ready records to ``callback`` (a view, released after it
        returns); return how many. Stops at a record still BUSY, and after
        one ring's worth of bytes (under a producer that never pauses a poll
        still returns). The consumer position is stored once per batch (and
        when a callback raises, past that record), then the producer position
        is read again, so a record reserved while the batch ran (without a
        wake-up, since the consumer was behind) is not left waiting."""
        cons_view, prod_view, hdr, mask, data = self.cons, self.prod, self.hdr, self.mask, self.data
        n = 0
        cons = cons_view[0]
        stop = cons + mask + 1  # at most one ring's worth per call: a poll returns
        try:
            while cons < stop:
                prod = prod_view[0]
                start = cons
                while cons != prod:
                    at = PAGE + (cons & mask)
                    word = hdr[at >> 2]
                    if word & BUSY:
                        break  # committed later: stop here until the next wake-up
                    length = word & _LEN
                    cons += (length + _HDR + 7) & ~7
                    if word & DISCARD:
                        continue
                    n += 1
                    at += _HDR
                    view = data[at : at + length]
                    try:
                        callback(view)
                    finally:
                        try:  # noqa: SIM105 - contextlib.suppress costs a call a record
                            view.release()
                        except BufferError:  # the callback exported it: theirs now
                            pass
                if cons == start:
                    break  # nothing new, or BUSY at the first record
                cons_view[0] = cons  # once per batch; then re-check the producer
        finally:
            if cons_view[0] != cons:
                cons_view[0] = cons  # a callback raised: that record counts as read
        return n


class RingBuffer(_Reader[bytes]):
    """Read the records BPF programs write into one or several ``RINGBUF`` maps.

    ``RingBuffer(map, *more_maps)`` maps each ring (the consumer page
    read-write, the producer page and the data read-only, the data twice so a
    wrapping record is contiguous) and watches them all in one epoll set (as
    libbpf's ``ring_buffer__add``). A ring buffer inside an outer map is read
    by opening it (``outer.get_map(key)``) and passing that ``Map``; the
    reader keeps its own duplicate of each map's fd, so the ``Map`` objects
    may be closed independently.

    Records come in the order the programs reserved them within one ring;
    discarded records are skipped. :meth:`read` returns one record as
    ``bytes``; :meth:`poll` hands each ready record to a callback as a
    ``memoryview`` into the mapping that is valid only during the callback
    (it is released after, so it never keeps the mapping alive; a slice or
    cast made from it inside the callback does, until it is released, and
    :meth:`close` succeeds all the same, leaving the mapping to go with that
    view). ``async for record in ring`` yields ``bytes``.

    The caller closes it (:meth:`close` or ``with``): that unmaps the rings
    and closes the reader's fds, and wakes a thread blocked in :meth:`read`
    or :meth:`poll` (which then return ``None``/0); later calls raise
    ``ValueError``. One thread consumes at a time (calls from several threads
    are serialized). Positions are read and written as single 8-byte
    accesses; ordering relies on the CPU's (x86 total store order; on weaker
    memory models there is no barrier a Python program can issue).

    Minimum kernel: 5.8.

    Raises:
        TypeError: a map that is not a ``RINGBUF`` (the message names the
            reader that fits it).
        ValueError: a closed map.
        OSError: mmap or epoll failed; nothing stays mapped or open.
    """

    def __init__(self, bpf_map: Any, *more_maps: Any) -> None:
        super().__init__()
        self._rings: list[_Ring] = []
        self._next = 0
        try:
            for m in (bpf_map, *more_maps):
                ring = _Ring(m)
                self._rings.append(ring)
                self._watch(ring.raw)
            self._what = "RingBuffer of " + ", ".join(r.what for r in self._rings)
        except BaseException:
            self._closing = True
            self._release()
            raise

    def _release_own(self) -> None:
        for ring in self._rings:
            ring.close()
        self._rings.clear()

    def _take(self) -> bytes | None:
        if self._in_callback:  # (_turn held)
            self._check_not_nested()
        rings = self._rings
        count = len(rings)
        for i in range(count):
            at = (self._next + i) % count
            record = rings[at].take()
            if record is not None:
                self._next = (at + 1) % count  # round robin between rings
                return record
        return None

    def read(self, timeout: float | None = None) -> bytes | None:
        """Return the next record as ``bytes``; ``None`` when ``timeout``
        seconds pass with none ready (``None``: wait as long as it takes;
        0: do not wait) or when :meth:`close` is called meanwhile.

        Raises:
            ValueError: closed, or a negative timeout.
            RuntimeError: called from inside this reader's own poll callback.
        """
        until = deadline(timeout)
        self._enter()  # (not a with block: read() is a hot path)
        try:
            while True:
                with self._turn:
                    record = self._take()
                if record is not None or timeout == 0:
                    return record
                if not self._wait(until):  # time is up (or closed): a last look
                    if self._closing:
                        return None
                    with self._turn:
                        return self._take()
        finally:
            self._exit()

    def poll(self, callback: Callable[[memoryview], object], timeout: float | None = None) -> int:
        """Call ``callback(view)`` for each record ready (at most one ring's
        size of records per ring, so that a poll returns under a producer that
        never pauses; the rest stay for the next call), waiting up to
        ``timeout`` seconds for the first one; ``None``: as long as it takes,
        0: not at all); return how many. ``view`` is valid only during the
        call (see the class). An exception from ``callback`` propagates; the
        record it was given counts as read and the ones after it stay for the
        next call.

        Raises:
            ValueError: closed, or a negative timeout.
            RuntimeError: called from inside this reader's own poll callback.
            Exception: whatever ``callback`` raises.
        """
        return self._drain(self._rings, callback, timeout)
