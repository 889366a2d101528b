"""Iteration and the ``*_BATCH`` operations of every map: one engine, as methods.

:class:`_Batched` walks keys (BPF_MAP_GET_NEXT_KEY), reads elements in
chunks (BPF_MAP_LOOKUP[_AND_DELETE]_BATCH) and writes or deletes many at once
(BPF_MAP_UPDATE_BATCH, BPF_MAP_DELETE_BATCH). Where the kernel has no batch
command for the map type (ENOTSUPP, or an old kernel's EINVAL), the same result
is produced one element at a time.
"""

from __future__ import annotations

import errno
import itertools
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .. import features
from .._sys import ops
from ..constants import ANY, ENOTSUPP, MapType
from ..errors import BPFError, IterationAbortedError, KeyNotFoundError
from ._elements import V, _Elements, _type_name

__all__: list[str] = []

#: Elements per BPF_MAP_LOOKUP_BATCH of :meth:`Map.lookup_batch` (fewer for large values).
BATCH_CHUNK = 256
#: Elements per BPF_MAP_LOOKUP_BATCH of :meth:`Map.items` (fewer for large values).
ITEMS_CHUNK = 1024
#: Bytes of keys and values one ``*_BATCH`` read moves at most (one element always goes).
CHUNK_BYTES = 4 << 20
# Errnos that mean "this map type has no such command".
_NO_BATCH = (ENOTSUPP, errno.EINVAL, errno.EOPNOTSUPP)

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


class _Batched(_Elements[V]):
    """Iteration and batches of a map (see :class:`Map`)."""

    # ------------------------------------------------------------ iteration

    def keys(self) -> Iterator[bytes]:
        """Yield every key once, as bytes (BPF_MAP_GET_NEXT_KEY).

        Survives concurrent deletion: when the kernel restarts from the first
        key (the current one was deleted), keys already given are skipped.
        A map that changes faster than it can be walked stops the iteration
        with :class:`IterationAbortedError` instead of looping forever.
        """
        return self._iter_keys()

    def _iter_keys(self) -> Iterator[bytes]:
        if isinstance(self._type, MapType) and self._type.is_keyless:
            raise TypeError(f"{self._type.name} has no keys: use pop() or peek()")
        return self._gen_keys()

    def _gen_keys(self) -> Iterator[bytes]:
        if isinstance(self._type, MapType) and self._type.is_array:
            for i in range(self.max_entries):
                self._raw()
                yield i.to_bytes(4, "little")
            return
        yield from self._walk_keys()

    def _walk_keys(self) -> Iterator[bytes]:
        seen: set[bytes] = set()
        limit = 4 * self.max_entries + 64
        steps = 0
        key: bytes | None = None
        while True:
            try:
                with self._use() as fd:
                    nxt = ops.map_get_next_key(fd, key, self._key_size)
            except OSError as err:
                raise self._error("get_next_key", err, key=key) from None
            if nxt is None:
                return
            steps += 1
            if steps > limit:
                raise IterationAbortedError(
                    f"iterate {_type_name(self._type)} '{self.name}': aborted after {steps} steps"
                    " (the map keeps changing under the iteration)"
                )
            key = nxt
            if nxt in seen:
                continue
            seen.add(nxt)
            yield nxt

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the keys, as :meth:`keys`."""
        return self.keys()

    def items(self) -> Iterator[tuple[bytes, V]]:
        """Yield ``(key, value)`` for every element, each once.

        Where the map type has BPF_MAP_LOOKUP_BATCH (hash and array maps, 5.6+)
        elements are read in chunks: up to 1024 a syscall, fewer when their
        keys and values would take more than 4 MiB (at least one), so memory
        stays flat however large the map or its values. Each chunk is a
        snapshot: its elements are yielded as they were when the chunk was
        read, so an element deleted or updated in the loop after its chunk
        was read still comes, with the value it had; one deleted before its
        chunk is read does not come. (A hash map is read bucket by bucket: a
        chunk may hold fewer elements.) Outer maps read each slot again
        before yielding it (:meth:`OuterMap.items`). To see every change made
        during the loop, walk :meth:`keys` and :meth:`lookup` each key (one
        syscall each). Map types without the batch command are read one
        get_next_key and one lookup per element, so an element deleted before
        it is reached is skipped.
        Minimum kernel: 3.19 (5.6 for the batch reads).

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused the reads.
        """
        return self._iter_items(ITEMS_CHUNK)

    def _items_each(self) -> Iterator[tuple[bytes, V]]:
        """:meth:`items` one element at a time (get_next_key + lookup)."""
        for key in self._iter_keys():
            raw = self._lookup_raw(key)
            if raw is not None:
                yield key, self._decode_value(raw)

    def values(self) -> Iterator[V]:
        """Yield every value, read as :meth:`items` reads them (chunks, snapshots).

        Raises:
            ValueError: the map is closed.
            BPFError: the kernel refused the reads.
        """
        for _, value in self.items():
            yield value

    # ---------------------------------------------------------------- batch

    def lookup_batch(self, *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Return every ``(key, value)`` read with BPF_MAP_LOOKUP_BATCH.

        ``chunk`` elements per syscall, fewer when their keys and values would
        take more than 4 MiB (at least one). Falls back to one element at a
        time where the kernel has no batch command for the map type.
        Minimum kernel: 5.6.

        Raises:
            ValueError: ``chunk`` is not an int in 1..2**20, or the map is closed.
            BPFError: the kernel refused the reads.
        """
        return self._read_batch("lookup", chunk, lambda: list(self._items_each()))

    def lookup_and_delete_batch(self, *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Remove every element and return them, with BPF_MAP_LOOKUP_AND_DELETE_BATCH.

        ``chunk`` elements per syscall, fewer when they would take more than
        4 MiB. Falls back per element (lookup_and_delete, or lookup then
        delete where that is refused too: not atomic) where the kernel has no
        batch command for the map type. Minimum kernel: 5.6.
        """
        return self._read_batch("lookup_and_delete", chunk, self._lookup_and_delete_each)

    def update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        """Set many elements with one BPF_MAP_UPDATE_BATCH; returns how many.

        ``items`` is a mapping or any iterable of ``(key, value)`` pairs (a
        generator too). Every key and value is encoded and checked before
        anything is sent, a chunk of 65536 pairs at a time: memory is the
        encoded keys and values (12 bytes an element for u32 -> u64, plus one
        copy for the kernel) and one chunk of the input, not an object per
        element. Plain ints of 1, 2, 4 or 8 bytes are packed with
        :mod:`array`. The kernel applies elements in order and stops at the
        first failure (not atomic); the error says how many were applied and
        names the key. Falls back per element where the map type has no
        batch command. Minimum kernel: 5.6.

        Raises:
            ValueError, TypeError: a bad key or value; nothing was sent.
            BPFError: the kernel refused an element (message names it).
        """
        return self._update_batch(items, flags)

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys with one BPF_MAP_DELETE_BATCH; returns how many.

        Stops at the first missing key (``KeyError``; the keys before it are
        deleted). Falls back per element where the map type has no batch
        command. Minimum kernel: 5.6.
        """
        return self._delete_batch(keys)

    # ------------------------------------------------------- the batch engine

    def _chunk_elements(self, chunk: int) -> int:
        """How many elements one batch read asks for: ``chunk``, fewer when they
        would take more than :data:`CHUNK_BYTES` of keys and values, at least one."""
        return max(1, min(chunk, CHUNK_BYTES // max(1, self._key_size + self._buf_size)))

    def _has_batch(self, command: str) -> bool:
        """False once the kernel refused this ``*_BATCH`` command for the type."""
        return not features.batch_refused(self._type, command)

    def _no_batch(self, command: str, err: OSError) -> None:
        """Note a refusal that says the command is missing (ENOTSUPP), for the process."""
        if err.errno in (ENOTSUPP, errno.EOPNOTSUPP):
            features.refuse_batch(self._type, command)

    def _batch_iter(self, *, delete: bool, chunk: int) -> Iterator[tuple[bytes, V]]:
        """Walk the map with LOOKUP[_AND_DELETE]_BATCH, :meth:`_chunk_elements` at a time.

        Each chunk is read in one syscall and then yielded as it was read.
        """
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        token: bytes | None = None
        ks, vs = self._key_size, self._buf_size
        token_size = max(ks, 4)
        chunk = self._chunk_elements(chunk)
        while True:
            try:
                with self._use() as fd:
                    res = ops.map_lookup_batch(fd, token, token_size, ks, vs, chunk, delete=delete)
            except ops.BatchError as err:
                if err.errno == errno.ENOSPC and err.count == 0:
                    chunk *= 2  # one hash bucket holds more than `chunk` elements
                    continue
                raise self._error(op, err) from None
            for i in range(res.n):
                yield (
                    res.keys[i * ks : (i + 1) * ks],
                    self._decode_value(res.values[i * vs : (i + 1) * vs]),
                )
            if res.done:
                return
            token = res.token

    def _iter_items(self, chunk: int) -> Iterator[tuple[bytes, V]]:
        """:meth:`items`: LOOKUP_BATCH in chunks where the type has it."""
        if not self._has_batch("lookup"):
            yield from self._items_each()
            return
        it = self._batch_iter(delete=False, chunk=chunk)
        try:
            first = next(it)
        except StopIteration:
            return
        except BPFError as err:
            if err.errno not in _NO_BATCH:
                raise
            self._no_batch("lookup", err)
            yield from self._items_each()
            return
        yield first
        yield from it

    def _read_batch(
        self, command: str, chunk: int, fallback: Callable[[], list[tuple[bytes, V]]]
    ) -> list[tuple[bytes, V]]:
        _check_chunk(chunk)
        if not self._has_batch(command):
            return fallback()
        it = self._batch_iter(delete=command == "lookup_and_delete", chunk=chunk)
        out: list[tuple[bytes, V]] = []
        try:
            out.append(next(it))
        except StopIteration:
            return out
        except BPFError as err:
            if err.errno not in _NO_BATCH:
                raise
            self._no_batch(command, err)
            return fallback()
        out.extend(it)
        return out

    def _lookup_and_delete_each(self) -> list[tuple[bytes, V]]:
        out: list[tuple[bytes, V]] = []
        atomic = True
        for key in list(self._iter_keys()):
            if atomic:
                try:
                    value = self.lookup_and_delete(key)
                except BPFError as err:
                    if err.errno not in _NO_BATCH:
                        raise
                    atomic = False
                else:
                    if value is not None:
                        out.append((key, value))
                    continue
            raw = self._lookup_raw(key)
            if raw is None:
                continue
            try:
                self._elem().delete(key)
            except KeyNotFoundError:
                continue
            out.append((key, self._decode_value(raw)))
        return out

    def _encode_items(self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> _Encoded:
        """Encode and check every element, chunk by chunk, before anything is sent.

        Memory: the encoded keys and values, plus one chunk of the input. Plain
        int keys and values of 1, 2, 4 or 8 bytes go through :mod:`array` a chunk
        at a time; anything else (and any chunk where one element is not such an
        int) through the map's own encoders, which name the element at fault.
        """
        t = self._type
        ks = self._key_size
        limit = self.max_entries if isinstance(t, MapType) and t.is_array and ks == 4 else None
        kcode = _TYPECODES.get(ks)
        cls = type(self)
        plain = (
            cls._encode_item is _Elements._encode_item
            and cls._encode_value is _Elements._encode_value
        )
        vcode = _TYPECODES.get(self._value_size) if plain else None
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
                self._encode_one(pair, out, limit)
        return out

    def _encode_one(self, pair: Any, out: _Encoded, limit: int | None) -> None:
        try:
            key, value = pair
        except (TypeError, ValueError):
            raise TypeError(
                f"update_batch item {out.count} must be a (key, value) pair, got {pair!r}"
            ) from None
        k = self._encode_key(key)
        if limit is not None and int.from_bytes(k, "little") >= limit:
            # Refused here rather than by the kernel half-way through the batch.
            raise self._error(
                "update_batch",
                OSError(errno.E2BIG, "Argument list too long"),
                key=key,
                hint=f"index must be below max_entries {limit}; nothing was applied",
            )
        v = self._encode_item(key, value)
        if not isinstance(key, int):  # (an IntEnum is named as its int)
            out.int_keys = False
        out.keys += k
        out.values += v
        out.count += 1

    def _update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        self._check_flags(flags, "update_batch")
        enc = self._encode_items(items)
        n = enc.count
        if not n:
            return 0
        ks, vs = self._key_size, self._buf_size
        try:
            if not self._has_batch("update"):
                raise ops.BatchError(ENOTSUPP, n)
            keys, values = bytes(enc.keys), bytes(enc.values)
            with self._use() as fd:
                return ops.map_update_batch(fd, keys, values, n, flags)
        except ops.BatchError as err:
            if _no_such_command(err, n):
                self._no_batch("update", err)
                update = self._elem().update
                for i in range(n):
                    update(enc.key(ks, i), enc.value(vs, i), flags)
                return n
            key = enc.key(ks, err.count) if err.count < n else None
            raise self._error(
                "update_batch",
                err,
                key=key,
                hint=(self._hint("update", err.errno or 0, key) or "")
                + f"; {err.count} of {n} elements applied",
            ) from None

    def _delete_batch(self, keys: Iterable[Any]) -> int:
        pairs = [(key, self._encode_key(key)) for key in keys]
        if not pairs:
            return 0
        try:
            if not self._has_batch("delete"):
                raise ops.BatchError(ENOTSUPP, len(pairs))
            with self._use() as fd:
                return ops.map_delete_batch(fd, b"".join(k for _, k in pairs), len(pairs))
        except ops.BatchError as err:
            if _no_such_command(err, len(pairs)):
                self._no_batch("delete", err)
                delete = self._elem().delete
                for key, _ in pairs:
                    delete(key)
                return len(pairs)
            key = pairs[err.count][0] if err.count < len(pairs) else None
            raise self._error(
                "delete",
                err,
                key=key,
                hint=f"no such key; {err.count} of {len(pairs)} keys deleted"
                if err.errno == errno.ENOENT
                else None,
            ) from None
