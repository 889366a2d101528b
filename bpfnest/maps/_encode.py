"""update_batch's encoder: ``(key, value)`` pairs to two byte buffers, checked
before anything is sent (the batch engine in ``_batch.py`` then sends them).

Plain ints of 1, 2, 4 and 8 bytes go through :mod:`array` a chunk at a time;
anything else through the map's own encoders, which name the element at fault.
"""

from __future__ import annotations

import errno
import itertools
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..constants import MapType
from ._elements import _Elements

__all__ = ["ENCODE_CHUNK", "encode_items"]

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

    def key(self, ks: int, index: int) -> object:
        """The key of element ``index`` (keys of ``ks`` bytes) as the caller gave it
        (an int, or its bytes)."""
        raw = bytes(self.keys[index * ks : (index + 1) * ks])
        return int.from_bytes(raw, "little") if self.int_keys else raw

    def value(self, vs: int, index: int) -> bytes:
        """The encoded value of element ``index`` (values of ``vs`` bytes)."""
        return bytes(self.values[index * vs : (index + 1) * vs])


def _pair_chunks(
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


def encode_items(
    m: _Elements[Any], items: Mapping[Any, Any] | Iterable[tuple[Any, Any]]
) -> _Encoded:
    """Encode and check every element, chunk by chunk, before anything is sent.

    Memory: the encoded keys and values, plus one chunk of the input. Plain
    int keys and values of 1, 2, 4 or 8 bytes go through :mod:`array` a chunk
    at a time; anything else (and any chunk where one element is not such an
    int) through the map's own encoders, which name the element at fault.
    """
    t = m._type
    ks = m._key_size
    limit = m.max_entries if isinstance(t, MapType) and t.is_array and ks == 4 else None
    kcode = _TYPECODES.get(ks)
    cls = type(m)
    plain = (
        cls._encode_item is _Elements._encode_item and cls._encode_value is _Elements._encode_value
    )
    vcode = _TYPECODES.get(m._value_size) if plain else None
    out = _Encoded()
    for chunk in _pair_chunks(items):
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


def _encode_one(m: _Elements[Any], pair: Any, out: _Encoded, limit: int | None) -> None:
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
