"""Events between programs and user space: :class:`RingBuffer` (RINGBUF, 5.8),
:class:`PerfBuffer` (PERF_EVENT_ARRAY, 4.4) and :class:`UserRingBuffer`
(USER_RINGBUF, 6.1), read and written through mmap, waited on with epoll."""

from __future__ import annotations

from ._perf import PerfBuffer, PerfRecord
from ._ring import RingBuffer
from ._user_ring import UserRingBuffer

__all__ = ["PerfBuffer", "PerfRecord", "RingBuffer", "UserRingBuffer"]
