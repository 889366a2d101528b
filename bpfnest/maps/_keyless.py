"""QUEUE, STACK and BLOOM_FILTER: maps without keys, reached by push, pop and peek."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._sys import ops
from ..constants import ANY, MapType
from ._elements import _NotThisMapError, _type_name
from ._map import Map

__all__ = ["KeylessMap"]

# Map's methods that need keys: a KeylessMap does not show them.
_KEYED = (
    "lookup",
    "get",
    "update",
    "delete",
    "lookup_and_delete",
    "items",
    "keys",
    "values",
    "columns",
    "update_columns",
    "delete_columns",
    "lookup_batch",
    "update_batch",
    "delete_batch",
    "lookup_and_delete_batch",
    "__getitem__",
    "__setitem__",
    "__delitem__",
    "__contains__",
    "__iter__",
)


class _NoKeys:
    """A method of :class:`Map` that needs keys, on a map without any: absent
    from the instances (``hasattr`` is False); using it raises a ``TypeError``
    (also an ``AttributeError``) that names what the map has instead."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: KeylessMap | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        raise _no_keys(obj, self.name)


def _no_keys(m: KeylessMap, name: str) -> _NotThisMapError:
    instead = (
        "push() and contains_value()"
        if m._type == MapType.BLOOM_FILTER
        else "push(), pop() and peek()"
    )
    return _NotThisMapError(f"{name} needs keys and {m._describe()} has no keys: use {instead}")


class KeylessMap(Map[bytes], types=frozenset(t for t in MapType if t.is_keyless)):
    """A QUEUE, STACK or BLOOM_FILTER map: values without keys.

    :meth:`push` adds a value; :meth:`pop` and :meth:`peek` take the next one
    out of a QUEUE (first in, first out) or STACK (last in, first out);
    :meth:`contains_value` asks a BLOOM_FILTER. The methods of :class:`Map`
    that need keys (``lookup``, ``update``, ``items``, ``m[key]``, the batch
    and column ones, ...) are not there: ``hasattr`` is False, and using one
    raises a ``TypeError`` that names these instead. Minimum kernel: 4.20
    (BLOOM_FILTER 5.16).
    """

    if not TYPE_CHECKING:  # (to type checkers, Map's methods stay: they refuse at run time)

        def __getattr__(self, name: str) -> Any:
            # Reached when a _NoKeys refused an attribute access (m.lookup).
            if name in _KEYED:
                raise _no_keys(self, name)
            return super().__getattr__(name)

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


for _name in _KEYED:  # (set after the class: Map's __init_subclass__ checks its methods)
    setattr(KeylessMap, _name, _NoKeys(_name))
del _name
