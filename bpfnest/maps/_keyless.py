"""QUEUE, STACK and BLOOM_FILTER: maps without keys, reached by push, pop and peek."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from .._sys import ops
from ..constants import ANY, MapType
from ._elements import _type_name
from ._map import Map

__all__ = ["KeylessMap"]


class KeylessMap(Map[bytes], types=frozenset(t for t in MapType if t.is_keyless)):
    """A QUEUE, STACK or BLOOM_FILTER map: values without keys.

    :meth:`push` adds a value; :meth:`pop` and :meth:`peek` take the next one
    out of a QUEUE (first in, first out) or STACK (last in, first out);
    :meth:`contains_value` asks a BLOOM_FILTER. Minimum kernel: 4.20
    (BLOOM_FILTER 5.16).
    """

    def push(self, value: Any, flags: int = ANY) -> None:
        """Push ``value`` (QUEUE/STACK) or add it (BLOOM_FILTER).

        With ``flags=EXIST`` a full QUEUE/STACK drops its oldest element.
        Minimum kernel: 4.20 (BLOOM_FILTER 5.16).

        Raises:
            BPFError: ``E2BIG`` when full.
        """
        v = self._encode_value(value)
        self._check_flags(flags, "push")
        try:
            with self._use() as fd:
                ops.map_update_elem(fd, b"", v, flags)
        except OSError as err:
            raise self._error("push", err) from None

    def pop(self) -> bytes | None:
        """Remove and return the next value of a QUEUE/STACK; None when empty.

        Minimum kernel: 4.20.

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused.
        """
        return self._next("pop", ops.map_lookup_and_delete_elem)

    def peek(self) -> bytes | None:
        """Return the next value of a QUEUE/STACK without removing it; None when empty.

        Minimum kernel: 4.20.

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused.
        """
        return self._next("peek", ops.map_lookup_elem)

    def _next(self, op: str, read: Callable[[int, bytes, int], bytes]) -> bytes | None:
        """The next value as ``read`` (a lookup, or a lookup and delete) gives it."""
        try:
            with self._use() as fd:
                raw = read(fd, b"", self._buf_size)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise self._error(op, err) from None
        return self._decode_value(raw)

    def contains_value(self, value: Any) -> bool:
        """BLOOM_FILTER: True when ``value`` may be in the set (false positives happen).

        Minimum kernel: 5.16.

        Raises:
            TypeError: the map is not a BLOOM_FILTER, or a bad value type.
            ValueError: a value of the wrong size, or the map is closed.
            BPFError: the kernel refused.
        """
        if self._type != MapType.BLOOM_FILTER:
            raise TypeError(f"contains_value is for BLOOM_FILTER, not {_type_name(self._type)}")
        v = self._encode_value(value)
        try:
            with self._use() as fd:
                ops.map_lookup_in(fd, v)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return False
            raise self._error("lookup", err) from None
        return True
