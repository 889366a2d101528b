"""PerfBuffer: read what programs send with bpf_perf_event_output() into a
BPF_MAP_TYPE_PERF_EVENT_ARRAY.

One software event (``PERF_COUNT_SW_BPF_OUTPUT``, ``PERF_SAMPLE_RAW``) per
online CPU, its fd stored in the array at the CPU's index, and its ring mapped
(one metadata page, then 2^n data pages). The metadata page's ``data_head``
(written by the kernel) and ``data_tail`` (written here) delimit the records;
a record is ``struct perf_event_header {u32 type; u16 misc; u16 size}`` then,
for ``PERF_RECORD_SAMPLE``, a u32 size and the raw bytes, and for
``PERF_RECORD_LOST`` a u64 id and the u64 count of records dropped. The data
pages are mapped once, so a record that wraps is copied from its two parts.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from .._sys import ops, perf
from .._sys.fd import FD
from .._sys.uapi import PerfEventAttr
from ..constants import MapType
from ..errors import BPFError, strerror
from ._base import PAGE, _Reader, close_mmap, deadline, mmap_or_explain, own_map_fd

__all__ = ["PerfBuffer", "PerfRecord"]

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
# u64 indexes of data_head, data_tail in struct perf_event_mmap_page
_HEAD, _TAIL = 1024 // 8, 1032 // 8
_HEADER = struct.Struct("<IHH")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class PerfRecord(NamedTuple):
    """One sample from a perf buffer: the ``cpu`` it was written on, its
    ``data`` (the program's bytes followed by the kernel's padding: the raw
    size is rounded so that 4 + size is a multiple of 8, so up to 7 zero
    bytes may follow), and ``lost``: how many records the kernel dropped on
    that CPU (its ring was full) since the previous record."""

    cpu: int
    data: bytes
    lost: int


def online_cpus() -> list[int]:
    """The ids of the online CPUs (``/sys/devices/system/cpu/online``)."""
    with open("/sys/devices/system/cpu/online", encoding="ascii") as f:
        text = f.read().strip()
    ids: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        ids.extend(range(int(first), int(last or first) + 1))
    return ids


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wakeup_options(
    wakeup_events: int | None, watermark: int | None, pages: int
) -> tuple[int, int]:
    """Check PerfBuffer's wake-up options; return (wakeup_events, watermark)
    as perf_event_attr takes them (watermark 0: count records).

    Raises:
        ValueError: a value out of range, or both given.
    """
    if wakeup_events is not None and watermark is not None:
        raise ValueError(
            "give wakeup_events or watermark, not both (the kernel wakes the reader by"
            " record count or by bytes)"
        )
    if watermark is not None:
        size = pages * PAGE
        if not _is_int(watermark) or not 0 < watermark < size:
            raise ValueError(
                f"watermark must be a number of bytes in 1..{size - 1} (less than the"
                f" ring: {pages} pages), got {watermark!r}"
            )
        return 0, watermark
    if wakeup_events is None:
        return 1, 0
    if not _is_int(wakeup_events) or not 1 <= wakeup_events < 1 << 32:
        raise ValueError(f"wakeup_events must be an int >= 1, got {wakeup_events!r}")
    return wakeup_events, 0


class _CpuRing:
    """One CPU's event: its fd, its mapping and the views over it."""

    __slots__ = ("cpu", "data_size", "fd", "lost", "meta", "mm", "pending", "view", "words")

    def __init__(self, cpu: int, pages: int, wakeup_events: int = 1, watermark: int = 0) -> None:
        attr = PerfEventAttr()
        attr.type = PERF_TYPE_SOFTWARE
        attr.config = PERF_COUNT_SW_BPF_OUTPUT
        attr.sample_type = PERF_SAMPLE_RAW
        attr.sample_period = 1
        if watermark:
            attr.watermark = 1
            attr.wakeup_watermark = watermark
        else:
            attr.wakeup_events = wakeup_events
        self.cpu = cpu
        self.pending = 0  # lost records to report with the next sample
        self.lost = 0  # all the lost records its notices reported
        try:
            self.fd: FD = perf.perf_event_open(attr, -1, cpu)
        except OSError as err:
            code = err.errno or 0
            raise OSError(
                code, f"perf_event_open BPF_OUTPUT on CPU {cpu}: {strerror(code)}"
            ) from None
        try:
            size = PAGE * (1 + pages)
            prot = mmap.PROT_READ | mmap.PROT_WRITE
            self.mm = mmap_or_explain(self.fd.raw, size, prot, 0, f"perf buffer of CPU {cpu}")
            self.data_size = PAGE * pages
            self.view = memoryview(self.mm)
            self.meta = self.view.cast("Q")
            self.words = self.view.cast("I")  # record headers, read as u32s
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        names = ("meta", "words", "view")
        views = [v for v in (getattr(self, n, None) for n in names) if v is not None]
        mm = getattr(self, "mm", None)
        if mm is not None:
            close_mmap(mm, views)
        self.fd.close()

    def _record(self, off: int) -> tuple[int, int, bytes]:
        """(type, size, payload after the 8-byte header) of the record at ``off``."""
        mm, size = self.mm, self.data_size
        kind, _, length = _HEADER.unpack_from(mm, PAGE + off)
        end = off + length
        if end <= size:
            return kind, length, mm[PAGE + off + 8 : PAGE + end]
        # Wrapped: its two parts (the header, 8 bytes at an 8-byte offset, never wraps).
        return kind, length, mm[PAGE + off + 8 : PAGE + size] + mm[PAGE : PAGE + end - size]

    def _sample(self, body: bytes) -> PerfRecord:
        (raw_size,) = _U32.unpack_from(body, 0)
        lost, self.pending = self.pending, 0
        return PerfRecord(self.cpu, body[4 : 4 + raw_size], lost)

    def _lost_notice(self, body: bytes) -> None:
        (count,) = _U64.unpack_from(body, 8)  # after the u64 id
        self.pending += count
        self.lost += count

    def next(self) -> PerfRecord | None:
        """The next sample (counting the LOST notices before it), or None."""
        meta, mask = self.meta, self.data_size - 1
        tail = meta[_TAIL]
        head = meta[_HEAD]
        while tail != head:
            kind, length, body = self._record(tail & mask)
            tail += length
            meta[_TAIL] = tail
            if kind == PERF_RECORD_SAMPLE:
                return self._sample(body)
            if kind == PERF_RECORD_LOST:
                self._lost_notice(body)
        return None

    def drain(self, callback: Callable[[PerfRecord], object]) -> int:
        """Hand the ready samples to ``callback``; return how many. At most one
        ring's worth a call; data_tail stored once per batch (and past a
        sample whose callback raised), then data_head read again."""
        meta, mm, size, words = self.meta, self.mm, self.data_size, self.words
        mask = size - 1
        cpu, make, sample = self.cpu, tuple.__new__, PERF_RECORD_SAMPLE
        base = PAGE // 4  # the first data word
        tail = meta[_TAIL]
        stop = tail + size
        n = 0
        try:
            while tail < stop:
                head = meta[_HEAD]
                if tail == head:
                    break
                pending = self.pending
                while tail != head:
                    off = tail & mask
                    # The header: u32 type, u16 misc, u16 size (8-byte aligned, never wrapped).
                    w = base + (off >> 2)
                    length = words[w + 1] >> 16
                    if words[w] == sample and not pending and off + length <= size:
                        # The common case, inlined: a whole sample, no loss to report.
                        raw = words[w + 2]
                        if raw > length - 12:
                            raw = length - 12
                        start = PAGE + off + 12
                        tail += length
                        n += 1
                        callback(make(PerfRecord, (cpu, mm[start : start + raw], 0)))
                        continue
                    kind, length, body = self._record(off)
                    tail += length
                    if kind == sample:
                        n += 1
                        callback(self._sample(body))
                    elif kind == PERF_RECORD_LOST:
                        self._lost_notice(body)
                    pending = self.pending
                meta[_TAIL] = tail
        finally:
            if meta[_TAIL] != tail:
                meta[_TAIL] = tail  # a callback raised: that sample counts as read
        return n


class PerfBuffer(_Reader[PerfRecord]):
    """Read a ``PERF_EVENT_ARRAY`` that programs write with
    ``bpf_perf_event_output()``.

    ``PerfBuffer(map, pages=8)`` opens one ``PERF_COUNT_SW_BPF_OUTPUT`` event
    per online CPU, maps its ring (one page plus ``pages`` data pages, a power
    of two) and stores its fd in ``map`` at the CPU's index, which the program
    writes to with ``BPF_F_CURRENT_CPU``.

    A reader blocked in :meth:`read`, :meth:`poll` or on :meth:`fileno` is
    woken by every record (``wakeup_events=1``, the default), by every
    ``wakeup_events``-th record of a CPU, or, with ``watermark`` (bytes, less
    than the ring's ``pages`` pages), once more than that many bytes wait in
    a CPU's ring: fewer wake-ups for a reader that can wait. The two are
    exclusive. Records below the threshold are read all the same by the next
    call, and by a call whose ``timeout`` ends. :meth:`pause` empties the
    map's slots (programs' ``bpf_perf_event_output()`` then fail with
    ``ENOENT``), :meth:`resume` stores the events back. :meth:`read` returns one
    :class:`PerfRecord`, :meth:`poll` hands each ready record to a callback,
    ``async for record in buf`` yields them. Records of one CPU come in order;
    records the kernel dropped because a CPU's ring was full are counted in
    the next record's ``lost`` and in :attr:`lost`.

    The caller closes it (:meth:`close` or ``with``): that deletes the
    entries it stored in ``map``, unmaps the rings and closes the events; a
    thread blocked in :meth:`read` or :meth:`poll` wakes up (they return
    ``None``/0); later calls raise ``ValueError``. The reader keeps its own
    duplicate of the map's fd; the ``Map`` may be closed independently.

    Minimum kernel: 4.4.

    Raises:
        TypeError: a map that is not a ``PERF_EVENT_ARRAY`` (the message
            names the reader that fits it).
        ValueError: a closed map; ``pages`` not a power of two;
            ``wakeup_events`` < 1; ``watermark`` < 0 or not less than the
            ring (``pages`` pages); both ``wakeup_events`` and ``watermark``
            given; a map with fewer entries than the highest online CPU id + 1.
        OSError: perf_event_open, mmap or the map update failed; nothing
            stays mapped, open or stored in the map.
    """

    def __init__(
        self,
        bpf_map: Any,
        *,
        pages: int = 8,
        wakeup_events: int | None = None,
        watermark: int | None = None,
    ) -> None:
        if not _is_int(pages) or pages < 1 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two (1, 2, 4, ...), got {pages!r}")
        wakeup, mark = _wakeup_options(wakeup_events, watermark, pages)
        cpus = online_cpus()
        super().__init__()
        self._rings: dict[int, _CpuRing] = {}  # by fd number
        self._stored: list[int] = []  # the CPU indexes written into the map
        self._order: list[_CpuRing] = []
        self._next = 0
        self._map_fd: FD | None = None
        self._map_what = ""
        self._paused = False
        try:
            self._map_fd, what = own_map_fd(bpf_map, MapType.PERF_EVENT_ARRAY, "PerfBuffer")
            self._what = f"PerfBuffer of {what}"
            if bpf_map.max_entries <= cpus[-1]:
                raise ValueError(
                    f"{what} has {bpf_map.max_entries} entries but CPU {cpus[-1]} is online"
                    f" (give it max_entries >= {cpus[-1] + 1}, or leave max_entries out)"
                )
            self._map_what = what
            for cpu in cpus:
                ring = _CpuRing(cpu, pages, wakeup, mark)
                self._rings[ring.fd.raw] = ring
                self._order.append(ring)
                self._watch(ring.fd.raw)
                self._store(ring)
        except BaseException:
            self._closing = True
            self._release()
            raise

    def _store(self, ring: _CpuRing) -> None:
        """Store ``ring``'s event in the map at its CPU's index."""
        assert self._map_fd is not None
        cpu = ring.cpu
        try:
            ops.map_update_elem(
                self._map_fd.raw, cpu.to_bytes(4, "little"), ring.fd.raw.to_bytes(4, "little")
            )
        except OSError as err:
            code = err.errno or 0
            raise BPFError(
                code,
                f"update {self._map_what} slot {cpu}: {strerror(code)} (storing CPU {cpu}'s event)",
            ) from None
        self._stored.append(cpu)

    def _unstore(self) -> None:
        """Delete the slots this reader stored (best effort: the map may have
        been changed by someone else)."""
        assert self._map_fd is not None
        for cpu in self._stored:
            try:  # noqa: SIM105
                ops.map_delete_elem(self._map_fd.raw, cpu.to_bytes(4, "little"))
            except OSError:
                pass
        self._stored.clear()

    def pause(self) -> None:
        """Stop taking records: empty the map's slots this reader filled, so
        that programs' ``bpf_perf_event_output()`` fail with ``ENOENT``
        (nothing is counted as lost). Records already in the rings stay
        readable. Idempotent; :meth:`resume` undoes it.

        Raises:
            ValueError: closed.
        """
        with self._call(), self._turn:
            self._unstore()
            self._paused = True

    def resume(self) -> None:
        """Take records again after :meth:`pause`: store each CPU's event back
        in the map (replacing whatever another reader stored there meanwhile).
        Idempotent.

        Raises:
            ValueError: closed.
            BPFError: the map update failed (the slots stored so far stay).
        """
        with self._call(), self._turn:
            if self._paused:
                for ring in self._order:
                    self._store(ring)
                self._paused = False

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    def _release_own(self) -> None:
        if self._map_fd is not None:
            self._unstore()
            self._map_fd.close()
        for ring in self._order:
            ring.close()
        self._rings.clear()

    @property
    def lost(self) -> int:
        """Records the kernel dropped so far (all CPUs), counted as the reader
        reaches the kernel's notices (the kernel writes a notice once the
        CPU's ring has room again, before that CPU's next record)."""
        return sum(ring.lost for ring in self._order)

    def _take(self) -> PerfRecord | None:
        with self._turn:
            if self._in_callback:
                self._check_not_nested()
            return self._take_next()

    def _take_next(self) -> PerfRecord | None:
        rings = self._order
        count = len(rings)
        for i in range(count):
            ring = rings[(self._next + i) % count]
            record = ring.next()
            if record is not None:
                self._next = (self._next + i + 1) % count
                return record
        return None

    def read(self, timeout: float | None = None) -> PerfRecord | None:
        """Return the next record; ``None`` when ``timeout`` seconds pass with
        none ready (``None``: wait as long as it takes; 0: do not wait) or
        when :meth:`close` is called meanwhile.

        Raises:
            ValueError: closed, or a negative timeout.
            RuntimeError: called from inside this reader's own poll callback.
        """
        until = deadline(timeout)
        with self._call():
            while True:
                record = self._take()
                if record is not None or timeout == 0:
                    return record
                if not self._wait(until):  # time is up (or closed): a last look
                    return None if self._closing else self._take()

    def poll(self, callback: Callable[[PerfRecord], object], timeout: float | None = None) -> int:
        """Call ``callback(record)`` for each record ready (waiting up to
        ``timeout`` seconds for the first one; ``None``: as long as it takes,
        0: not at all); return how many. An exception from ``callback``
        propagates; that record counts as read.

        Raises:
            ValueError: closed, or a negative timeout.
            RuntimeError: called from inside this reader's own poll callback.
            Exception: whatever ``callback`` raises.
        """
        return self._drain(self._order, callback, timeout)
