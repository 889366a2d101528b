"""The ``*_BATCH`` operations of :class:`bpfnest.Map`, with per-element fallbacks.

Where the kernel has the command for the map type, one syscall moves many
elements; where it answers ENOTSUPP (or an old kernel EINVAL), the same
result is produced one element at a time. Reached through the ``Map``
methods of the same names.
"""

from __future__ import annotations

import errno
import itertools
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._sys import ops
from .constants import ANY, ENOTSUPP, MapType
from .errors import BPFError, KeyNotFoundError

if TYPE_CHECKING:
    from .maps import Map

__all__ = ["delete_batch", "lookup_and_delete_batch", "lookup_batch", "update_batch"]

V = TypeVar("V")

#: Elements per BPF_MAP_LOOKUP_BATCH of :meth:`Map.lookup_batch` (fewer for large values).
BATCH_CHUNK = 256
#: Bytes of keys and values one ``*_BATCH`` read moves at most (one element always goes).
CHUNK_BYTES = 4 << 20
# Errnos that mean "this map type has no such command".
_NO_BATCH = (ENOTSUPP, errno.EINVAL, errno.EOPNOTSUPP)


def _token_size(m: Map[V]) -> int:
    return max(m._key_size, 4)


def chunk_elements(m: Map[V], chunk: int) -> int:
    """How many elements one batch read asks for: ``chunk``, fewer when they
    would take more than :data:`CHUNK_BYTES` of keys and values, at least one."""
    return max(1, min(chunk, CHUNK_BYTES // max(1, m._key_size + m._buf_size)))


def _batch_iter(m: Map[V], *, delete: bool, chunk: int) -> Iterator[tuple[bytes, V]]:
    """Walk the map with LOOKUP[_AND_DELETE]_BATCH, :func:`chunk_elements` at a time.

    Each chunk is read in one syscall and then yielded as it was read.
    """
    op = "lookup_and_delete_batch" if delete else "lookup_batch"
    token: bytes | None = None
    ks, vs = m._key_size, m._buf_size
    chunk = chunk_elements(m, chunk)
    while True:
        try:
            with m._use() as fd:
                res = ops.map_lookup_batch(fd, token, _token_size(m), ks, vs, chunk, delete=delete)
        except ops.BatchError as err:
            if err.errno == errno.ENOSPC and err.count == 0:
                chunk *= 2  # one hash bucket holds more than `chunk` elements
                continue
            raise m._error(op, err) from None
        for i in range(res.n):
            yield (
                res.keys[i * ks : (i + 1) * ks],
                m._decode_value(res.values[i * vs : (i + 1) * vs]),
            )
        if res.done:
            return
        token = res.token


def _has_batch(m: Map[V], command: str) -> bool:
    """False when the kernel is known to lack this ``*_BATCH`` command for the type."""
    t = m._type
    return not isinstance(t, MapType) or command in t.batch_commands


def lookup_batch(m: Map[V], *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
    """:meth:`bpfnest.Map.lookup_batch`."""
    return _read_batch(m, "lookup", chunk, lambda: list(m._items_each()))


def lookup_and_delete_batch(m: Map[V], *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
    """:meth:`bpfnest.Map.lookup_and_delete_batch`."""
    return _read_batch(m, "lookup_and_delete", chunk, lambda: _lookup_and_delete_each(m))


def _read_batch(
    m: Map[V], command: str, chunk: int, fallback: Callable[[], list[tuple[bytes, V]]]
) -> list[tuple[bytes, V]]:
    _check_chunk(chunk)
    if not _has_batch(m, command):
        return fallback()
    it = _batch_iter(m, delete=command == "lookup_and_delete", chunk=chunk)
    out: list[tuple[bytes, V]] = []
    try:
        out.append(next(it))
    except StopIteration:
        return out
    except BPFError as err:
        if err.errno not in _NO_BATCH:
            raise
        return fallback()
    out.extend(it)
    return out


def _lookup_and_delete_each(m: Map[V]) -> list[tuple[bytes, V]]:
    out: list[tuple[bytes, V]] = []
    atomic = True
    for key in list(m._iter_keys()):
        if atomic:
            try:
                value = m.lookup_and_delete(key)
            except BPFError as err:
                if err.errno not in _NO_BATCH:
                    raise
                atomic = False
            else:
                if value is not None:
                    out.append((key, value))
                continue
        raw = m._lookup_raw(key)
        if raw is None:
            continue
        try:
            m.delete(key)
        except KeyNotFoundError:
            continue
        out.append((key, m._decode_value(raw)))
    return out


#: Pairs that update_batch encodes at a time (the whole batch is encoded before it is sent).
ENCODE_CHUNK = 1 << 16
# array typecodes for unsigned ints of 1, 2, 4 and 8 bytes on this machine.
_TYPECODES = {array(c).itemsize: c for c in "LQIHB"}
_SWAP = sys.byteorder != "little"
_INT = {int}


class _Encoded:
    """The keys and values of an update_batch, encoded end to end."""

    __slots__ = ("count", "int_keys", "keys", "values")

    def __init__(self) -> None:
        self.keys = bytearray()
        self.values = bytearray()
        self.count = 0
        self.int_keys = True  # every key was an int: name a failing one as an int

    def key(self, m: Map[V], index: int) -> object:
        """The key of element ``index`` as the caller gave it (an int, or its bytes)."""
        ks = m._key_size
        raw = bytes(self.keys[index * ks : (index + 1) * ks])
        return int.from_bytes(raw, "little") if self.int_keys else raw

    def value(self, m: Map[V], index: int) -> bytes:
        """The encoded value of element ``index``."""
        vs = m._buf_size
        return bytes(self.values[index * vs : (index + 1) * vs])


def _columns(
    items: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
) -> Iterator[tuple[Sequence[Any], Sequence[Any]] | list[Any]]:
    """``items`` in chunks of :data:`ENCODE_CHUNK`: (keys, values) columns, or a list of pairs.

    A mapping gives columns; an iterable gives its pairs as they are (not
    checked here), or columns when every one is a sized pair.
    """
    if isinstance(items, Mapping):
        keys, values = iter(items.keys()), iter(items.values())
        while ks := list(itertools.islice(keys, ENCODE_CHUNK)):
            yield ks, list(itertools.islice(values, len(ks)))
        return
    it = iter(items)
    while chunk := list(itertools.islice(it, ENCODE_CHUNK)):
        try:
            pairs = set(map(len, chunk)) == {2}
        except TypeError:  # something without a len: the general encoder names it
            pairs = False
        if pairs:
            kcol, vcol = zip(*chunk, strict=True)
            yield kcol, vcol
        else:
            yield chunk


def _fast(
    ks: Sequence[Any], vs: Sequence[Any], kcode: str, vcode: str, limit: int | None
) -> tuple[array[int], array[int]] | None:
    """Keys and values that are all plain ints in range, as arrays; None for anything else."""
    if not set(map(type, ks)) <= _INT or not set(map(type, vs)) <= _INT:
        return None
    try:
        karr, varr = array(kcode, ks), array(vcode, vs)
    except OverflowError:  # negative or too large: the general encoder names it
        return None
    if limit is not None and karr and max(karr) >= limit:
        return None
    if _SWAP:
        karr.byteswap()
        varr.byteswap()
    return karr, varr


def _encode_items(m: Map[V], items: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> _Encoded:
    """Encode and check every element, chunk by chunk, before anything is sent.

    Memory: the encoded keys and values, plus one chunk of the input. Plain
    int keys and values of 1, 2, 4 or 8 bytes go through :mod:`array` a chunk
    at a time; anything else (and any chunk where one element is not such an
    int) through the map's own encoders, which name the element at fault.
    """
    from .maps import Map  # (maps imports this module)

    t = m._type
    limit = m.max_entries if isinstance(t, MapType) and t.is_array and m._key_size == 4 else None
    kcode = _TYPECODES.get(m._key_size)
    plain = type(m)._encode_item is Map._encode_item and type(m)._encode_value is Map._encode_value
    vcode = _TYPECODES.get(m._value_size) if plain else None
    out = _Encoded()
    for chunk in _columns(items):
        fast = None
        if isinstance(chunk, tuple) and kcode and vcode:
            fast = _fast(chunk[0], chunk[1], kcode, vcode, limit)
        if fast is not None:
            out.keys += fast[0]
            out.values += fast[1]
            out.count += len(fast[0])
            continue
        pairs = zip(*chunk, strict=True) if isinstance(chunk, tuple) else chunk
        for pair in pairs:
            _encode_one(m, pair, out, limit)
    return out


def _encode_one(m: Map[V], pair: Any, out: _Encoded, limit: int | None) -> None:
    try:
        key, value = pair
    except (TypeError, ValueError):
        raise TypeError(
            f"update_batch item {out.count} must be a (key, value) pair, got {pair!r}"
        ) from None
    k = m._encode_key(key)
    if limit is not None and int.from_bytes(k, "little") >= limit:
        # Refused here rather than by the kernel half-way through the batch.
        raise m._error(
            "update_batch",
            OSError(errno.E2BIG, "Argument list too long"),
            key=key,
            hint=f"index must be below max_entries {limit}; nothing was applied",
        )
    v = m._encode_item(key, value)
    if not isinstance(key, int):  # (an IntEnum is named as its int)
        out.int_keys = False
    out.keys += k
    out.values += v
    out.count += 1


def update_batch(
    m: Map[V], items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
) -> int:
    """:meth:`bpfnest.Map.update_batch`."""
    m._check_flags(flags, "update_batch")
    enc = _encode_items(m, items)
    n = enc.count
    if not n:
        return 0
    try:
        if not _has_batch(m, "update"):
            raise ops.BatchError(ENOTSUPP, n)
        keys, values = bytes(enc.keys), bytes(enc.values)
        with m._use() as fd:
            return ops.map_update_batch(fd, keys, values, n, flags)
    except ops.BatchError as err:
        if _no_such_command(err, n):
            update = m._elem().update
            for i in range(n):
                update(enc.key(m, i), enc.value(m, i), flags)
            return n
        key = enc.key(m, err.count) if err.count < n else None
        raise m._error(
            "update_batch",
            err,
            key=key,
            hint=(m._hint("update", err.errno or 0, key) or "")
            + f"; {err.count} of {n} elements applied",
        ) from None


def delete_batch(m: Map[V], keys: Iterable[Any]) -> int:
    """:meth:`bpfnest.Map.delete_batch`."""
    pairs = [(key, m._encode_key(key)) for key in keys]
    if not pairs:
        return 0
    try:
        if not _has_batch(m, "delete"):
            raise ops.BatchError(ENOTSUPP, len(pairs))
        with m._use() as fd:
            return ops.map_delete_batch(fd, b"".join(k for _, k in pairs), len(pairs))
    except ops.BatchError as err:
        if _no_such_command(err, len(pairs)):
            delete = m._elem().delete
            for key, _ in pairs:
                delete(key)
            return len(pairs)
        key = pairs[err.count][0] if err.count < len(pairs) else None
        raise m._error(
            "delete",
            err,
            key=key,
            hint=f"no such key; {err.count} of {len(pairs)} keys deleted"
            if err.errno == errno.ENOENT
            else None,
        ) from None


def _no_such_command(err: ops.BatchError, count: int) -> bool:
    """True when a ``*_BATCH`` failure means the command is missing, not a bad element.

    ENOTSUPP is the kernel's answer for a map type without the command; an
    older kernel without the command at all answers EINVAL without touching
    ``count``. A failing element makes the kernel report how many went before.
    """
    if err.errno in (ENOTSUPP, errno.EOPNOTSUPP):
        return True
    return err.errno == errno.EINVAL and err.count == count


def _check_chunk(chunk: object) -> None:
    if not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= 1 << 20:
        raise ValueError(f"chunk must be an int in 1..{1 << 20}, got {chunk!r}")


ITEMS_CHUNK = 1024


def iter_items(m: Map[V], chunk: int = ITEMS_CHUNK) -> Iterator[tuple[bytes, V]]:
    """:meth:`bpfnest.Map.items`: LOOKUP_BATCH in chunks where the type has it."""
    if not _has_batch(m, "lookup"):
        yield from m._items_each()
        return
    it = _batch_iter(m, delete=False, chunk=chunk)
    try:
        first = next(it)
    except StopIteration:
        return
    except BPFError as err:
        if err.errno not in _NO_BATCH:
            raise
        yield from m._items_each()
        return
    yield first
    yield from it
