"""Iteration and the ``*_BATCH`` operations of every map: one engine, as methods.

:class:`_Batched` walks keys (BPF_MAP_GET_NEXT_KEY) and reads and writes
elements in bulk. Every bulk read (``columns``, ``items``, ``values``,
``lookup_batch``, ``lookup_and_delete_batch``) is :meth:`_Batched._steps`:
BPF_MAP_LOOKUP[_AND_DELETE]_BATCH into buffers allocated once per walk
(:class:`bpfnest._sys.ops.BatchBuffers`), or, where the kernel has no batch
command for the map type (ENOTSUPP, or an old kernel's EINVAL), GET_NEXT_KEY +
LOOKUP_ELEM into the same buffers. ``items()`` decodes each step in bulk
(``struct`` unpacks a block of keys and of values in one call each, ``zip``
pairs them), so no Python frame runs per element. Every bulk write
(``update_columns``, ``delete_columns``, ``update_batch``, ``delete_batch``) is
:meth:`_Batched._send`: BPF_MAP_UPDATE_BATCH / DELETE_BATCH straight from the
caller's buffers, :data:`CHUNK_BYTES` at a time, one element at a time where
the command is missing.
"""

from __future__ import annotations

import errno
import functools
import itertools
import operator
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import features
from .._sys import ops
from ..constants import ANY, ENOTSUPP, MapType
from ..errors import BPFError, IterationAbortedError, KeyNotFoundError
from ._elements import V, _Elements, _type_name
from ._encode import encode_items

__all__: list[str] = []

#: Elements per BPF_MAP_LOOKUP_BATCH of :meth:`Map.lookup_batch` (fewer for large values).
BATCH_CHUNK = 256
#: Elements per BPF_MAP_LOOKUP_BATCH of :meth:`Map.items` (fewer for large values).
ITEMS_CHUNK = 65536
#: Bytes of keys and values one ``*_BATCH`` call moves at most (one element always goes):
#: the default step of :meth:`Map.columns`, and of every bulk write.
CHUNK_BYTES = 4 << 20
#: Largest ``size`` of :meth:`Map.columns` (elements a step).
MAX_COLUMN_SIZE = 1 << 24
# Bytes of keys and values items() decodes with one struct call each.
_BLOCK_BYTES = 16 << 10
# Errnos that mean "this map type has no such command".
_NO_BATCH = (ENOTSUPP, errno.EINVAL, errno.EOPNOTSUPP)


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


@functools.lru_cache(maxsize=64)
def _splitter(size: int, count: int, pad: int = 0) -> Callable[[Any, int], tuple[Any, ...]]:
    """``unpack_from(buffer, offset)`` of ``count`` fields of ``size`` bytes (each
    followed by ``pad`` bytes): a tuple of ``bytes``, made in one C call."""
    field = f"{size}s{pad}x" if pad else f"{size}s"
    return struct.Struct("<" + field * count).unpack_from


def split(buffer: Any, offset: int, size: int, count: int) -> tuple[bytes, ...]:
    """``count`` values of ``size`` bytes from ``buffer`` at ``offset``, as bytes."""
    return _splitter(size, count)(buffer, offset)


def split_percpu(
    buffer: Any, offset: int, count: int, value_size: int, ncpus: int
) -> Iterator[list[bytes]]:
    """``count`` per-CPU values (``ncpus`` slots of ``value_size`` rounded up to 8)
    from ``buffer`` at ``offset``: a list of ``ncpus`` bytes each."""
    pad = -value_size % 8
    flat = iter(_splitter(value_size, count * ncpus, pad)(buffer, offset))
    return map(list, zip(*[flat] * ncpus, strict=True))


_second = operator.itemgetter(1)


class _NoBatch(Exception):
    """The kernel has no such batch command for the map type (lookup_and_delete)."""


def _view(data: object, what: str) -> memoryview:
    """``data`` as a memoryview (anything with the buffer protocol), checked contiguous."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{what} must support the buffer protocol (bytes, bytearray, array.array,"
            f" a numpy array), got {type(data).__name__}"
        ) from None
    if not view.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous (a strided view is not)")
    return view


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

    def _check_keyed(self) -> None:
        if isinstance(self._type, MapType) and self._type.is_keyless:
            raise TypeError(f"{self._type.name} has no keys: use pop() or peek()")

    def _iter_keys(self) -> Iterator[bytes]:
        self._check_keyed()
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
        limit = self._max_steps()
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
                raise self._aborted(steps)
            key = nxt
            if nxt in seen:
                continue
            seen.add(nxt)
            yield nxt

    def _max_steps(self) -> int:
        return 4 * self.max_entries + 64

    def _aborted(self, steps: int) -> IterationAbortedError:
        return IterationAbortedError(
            f"iterate {_type_name(self._type)} '{self.name}': aborted after {steps} steps"
            " (the map keeps changing under the iteration)"
        )

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the keys, as :meth:`keys`."""
        return self.keys()

    def items(self) -> Iterator[tuple[bytes, V]]:
        """Yield ``(key, value)`` for every element, each once.

        Where the map type has BPF_MAP_LOOKUP_BATCH (hash and array maps, 5.6+)
        elements are read in chunks: up to 65536 a syscall, fewer when their
        keys and values would take more than 4 MiB (at least one), into
        buffers allocated once for the loop, so memory stays flat however
        large the map or its values. Each chunk is a
        snapshot: its elements are yielded as they were when the chunk was
        read, so an element deleted or updated in the loop after its chunk
        was read still comes, with the value it had; one deleted before its
        chunk is read does not come. (A hash map is read bucket by bucket: a
        chunk may hold fewer elements.) Each chunk is decoded in bulk (see
        :meth:`columns` for no Python object per element at all). Outer maps
        read each slot again before yielding it (:meth:`OuterMap.items`). To
        see every change made during the loop, walk :meth:`keys` and
        :meth:`lookup` each key (one syscall each). Map types without the
        batch command are read one get_next_key and one lookup per element,
        so an element deleted before it is reached is skipped.
        Minimum kernel: 3.19 (5.6 for the batch reads).

        Raises:
            TypeError: a map without keys (QUEUE, STACK, BLOOM_FILTER).
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
        return map(_second, self.items())  # no Python frame per element

    # -------------------------------------------------------------- columns

    def columns(self, size: int | None = None) -> Iterator[tuple[memoryview, memoryview]]:
        """Yield every element as two contiguous buffers a step: ``(keys, values)``.

        Each step reads up to ``size`` elements (default: as many as fit in
        about 4 MiB of keys and values, at least one) with one
        BPF_MAP_LOOKUP_BATCH into buffers allocated once for the whole walk:
        no Python object per element. ``keys`` holds ``n * key_size`` bytes,
        ``values`` ``n * value_size``; a per-CPU map's values are laid out
        ``[n][possible_cpus][round_up(value_size, 8)]``, an outer map's are
        the inner maps' ids (u32). Both are read-only memoryviews of the
        reused buffers, **valid until the next step**: copy what you keep
        (``bytes(keys)``, ``numpy.frombuffer(values, "<u8").copy()``). No
        step is empty; ``n`` varies (a hash map is read bucket by bucket,
        and the kernel never splits a bucket: when one holds more than
        ``size`` elements, the buffers grow to take it).

        What a walk guarantees: every element present for the whole walk
        comes exactly once; each step is a snapshot of its elements when it
        was read, so one deleted (or changed) after its step was read comes
        (with the value it had), one deleted before its step is read does
        not, and one added during the walk may or may not come. Outer maps
        too: a slot emptied after its step was read still gives its old id
        (:meth:`OuterMap.items` reads each slot again). Map types (or
        kernels, before 5.6) without the batch command give the same result
        from GET_NEXT_KEY + LOOKUP_ELEM into the same buffers (an element
        deleted between the two is skipped; the keys given are remembered so
        that a walk the kernel restarts gives none twice).

        Memory: ``size * (key_size + value size)`` bytes for the walk, plus,
        without the batch command, the set of keys given. Minimum kernel:
        5.6 (3.19 without the batch command).

        Raises:
            ValueError: ``size`` is not None or an int in 1..2**24; the map
                is closed.
            TypeError: a map without keys (QUEUE, STACK, BLOOM_FILTER).
            BPFError: the kernel refused a read.
        """
        self._check_keyed()
        if size is None:
            count = self._chunk_elements(MAX_COLUMN_SIZE)
        else:
            if not isinstance(size, int) or isinstance(size, bool):
                raise ValueError(
                    f"size must be None or an int in 1..{MAX_COLUMN_SIZE}, got {size!r}"
                )
            if not 1 <= size <= MAX_COLUMN_SIZE:
                raise ValueError(f"size must be None or an int in 1..{MAX_COLUMN_SIZE}, got {size}")
            count = size
        return self._column_views(count)

    def _column_views(self, count: int) -> Iterator[tuple[memoryview, memoryview]]:
        ks, vs = self._key_size, self._buf_size
        for bufs, n in self._steps(count):
            yield (
                memoryview(bufs.keys)[: n * ks].toreadonly(),
                memoryview(bufs.values)[: n * vs].toreadonly(),
            )

    def update_columns(self, keys: Any, values: Any, *, flags: int = ANY) -> int:
        """Set ``n`` elements from two buffers of ``n`` keys and ``n`` values; returns ``n``.

        ``keys`` and ``values`` are anything with the buffer protocol
        (``bytes``, ``bytearray``, ``array.array``, numpy arrays, memoryviews),
        C-contiguous, holding keys of ``key_size`` bytes and values as the
        kernel takes them (per-CPU maps: ``possible_cpus`` slots of
        ``value_size`` rounded up to 8 each; outer maps: inner map **fds**,
        u32). Nothing is encoded per element: the bytes go to
        BPF_MAP_UPDATE_BATCH as they are (no copy for ``bytes`` and writable
        buffers; another read-only buffer is copied once), in chunks of
        about 4 MiB. The kernel applies elements in order and stops at the
        first failure (not atomic): the error names the key, its index and
        how many elements went in. One element at a time where the map type
        has no batch command. ``flags``: ANY, NOEXIST, EXIST (or F_LOCK).
        Minimum kernel: 5.6 (3.19 without the batch command).

        Raises:
            TypeError: a buffer without the buffer protocol; a map without
                keys (QUEUE, STACK, BLOOM_FILTER).
            ValueError: a length that is not a whole number of keys/values,
                ``n`` keys but another number of values, a strided buffer,
                bad flags; all before any syscall.
            BPFError: the kernel refused an element (index and count named).
        """
        self._check_keyed()
        kv, vv = _view(keys, "keys"), _view(values, "values")
        ks, vs = self._key_size, self._buf_size
        n = self._whole(kv, ks, "keys", "key")
        m = self._whole(vv, vs, "values", "value")
        if n != m:
            raise ValueError(
                f"update_columns {self._describe()}: {n} keys but {m} values (they must pair up)"
            )
        self._check_flags(flags, "update_columns")
        return self._send("update_columns", kv, vv, n, flags, None)

    def delete_columns(self, keys: Any) -> int:
        """Delete ``n`` keys given as one buffer of ``n * key_size`` bytes; returns ``n``.

        ``keys`` is anything with the buffer protocol, as for
        :meth:`update_columns`, sent to BPF_MAP_DELETE_BATCH in chunks of
        about 4 MiB without per-element encoding. Stops at the first missing
        key: ``KeyError`` naming it, its index and how many were deleted
        before it. One key at a time where the map type has no batch command
        (arrays cannot delete: ``EINVAL``). Minimum kernel: 5.6 (3.19 without
        the batch command).

        Raises:
            TypeError: a buffer without the buffer protocol; a map without keys.
            ValueError: a length that is not a whole number of keys, a strided
                buffer; before any syscall.
            KeyNotFoundError: a key is not in the map (a ``KeyError``).
            BPFError: the kernel refused (index and count named).
        """
        self._check_keyed()
        kv = _view(keys, "keys")
        n = self._whole(kv, self._key_size, "keys", "key")
        return self._send("delete_columns", kv, None, n, 0, None)

    def _whole(self, view: memoryview, size: int, what: str, one: str) -> int:
        if size == 0 or view.nbytes % size:
            raise ValueError(
                f"{what} of {self._describe()}: {view.nbytes} bytes is not a whole number"
                f" of {size}-byte {one}s"
            )
        return view.nbytes // size

    # ---------------------------------------------------------------- batch

    def lookup_batch(self, *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Return every ``(key, value)`` read with BPF_MAP_LOOKUP_BATCH.

        ``chunk`` elements per syscall, fewer when their keys and values would
        take more than 4 MiB (at least one), decoded as :meth:`items` does.
        Falls back to one element at a time where the kernel has no batch
        command for the map type. Minimum kernel: 5.6.

        Raises:
            ValueError: ``chunk`` is not an int in 1..2**20, or the map is closed.
            BPFError: the kernel refused the reads.
        """
        _check_chunk(chunk)
        return list(self._iter_items(chunk))

    def lookup_and_delete_batch(self, *, chunk: int = BATCH_CHUNK) -> list[tuple[bytes, V]]:
        """Remove every element and return them, with BPF_MAP_LOOKUP_AND_DELETE_BATCH.

        ``chunk`` elements per syscall, fewer when they would take more than
        4 MiB. Falls back per element (lookup_and_delete, or lookup then
        delete where that is refused too: not atomic) where the kernel has no
        batch command for the map type. Minimum kernel: 5.6.
        """
        _check_chunk(chunk)
        self._check_keyed()
        if not self._has_batch("lookup_and_delete"):
            return self._lookup_and_delete_each()
        out: list[tuple[bytes, V]] = []
        try:
            out.extend(self._pairs(self._steps(self._chunk_elements(chunk), delete=True)))
        except _NoBatch:
            return self._lookup_and_delete_each()
        return out

    def update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        """Set many elements with BPF_MAP_UPDATE_BATCH; returns how many.

        ``items`` is a mapping or any iterable of ``(key, value)`` pairs (a
        generator too). Every key and value is encoded and checked before
        anything is sent, a chunk of 65536 pairs at a time: memory is the
        encoded keys and values (12 bytes an element for u32 -> u64) and one
        chunk of the input, not an object per element. Plain ints of 1, 2, 4
        or 8 bytes are packed with :mod:`array`. The encoded buffers are then
        sent as :meth:`update_columns` sends them (about 4 MiB a syscall).
        The kernel applies elements in order and stops at the first failure
        (not atomic); the error says how many were applied and names the
        key. Falls back per element where the map type has no batch command.
        Minimum kernel: 5.6.

        Raises:
            ValueError, TypeError: a bad key or value; nothing was sent.
            BPFError: the kernel refused an element (message names it).
        """
        return self._update_batch(items, flags)

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys with BPF_MAP_DELETE_BATCH; returns how many.

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

    def _steps(self, count: int, *, delete: bool = False) -> Iterator[tuple[ops.BatchBuffers, int]]:
        """Walk the map ``count`` elements a step into buffers made once: yield
        ``(buffers, n)`` for each step that read ``n`` > 0 elements.

        LOOKUP[_AND_DELETE]_BATCH where the type has it; for lookups without
        it, GET_NEXT_KEY + LOOKUP_ELEM into the same buffers (for deletes,
        :class:`_NoBatch` is raised before anything was read).
        """
        command = "lookup_and_delete" if delete else "lookup"
        op = command + "_batch"
        ks, vs = self._key_size, self._buf_size
        bufs = ops.BatchBuffers(ks, vs, count, max(ks, 4))
        batch = self._has_batch(command)
        if not batch and delete:
            raise _NoBatch
        limit = self._max_steps()
        while True:
            if not batch:
                self._check_keyed()
            try:
                with self._use() as fd:
                    if batch:
                        n, done = ops.lookup_into(fd, bufs, count, delete=delete)
                    else:
                        n, done = ops.walk_into(fd, bufs, count, limit)
            except ops.BatchError as err:
                if err.errno == errno.ENOSPC and err.count == 0:
                    count *= 2  # one hash bucket holds more than `count` elements
                    bufs = bufs.resized(count)
                    continue
                if not bufs.started and err.errno in _NO_BATCH:
                    self._no_batch(command, err)
                    if delete:
                        raise _NoBatch from None
                    batch = False
                    continue
                raise self._error(op, err) from None
            except OSError as err:  # the walk without the batch command
                if err.errno == errno.ELOOP:
                    raise self._aborted(bufs.steps) from None
                raise self._error("lookup", err) from None
            if n:
                yield bufs, n
            if done:
                return

    def _iter_items(self, chunk: int) -> Iterator[tuple[bytes, V]]:
        """:meth:`items` with ``chunk`` elements a step (fewer for large values)."""
        return self._pairs(self._steps(self._chunk_elements(chunk)))

    def _pairs(self, steps: Iterator[tuple[ops.BatchBuffers, int]]) -> Iterator[tuple[bytes, V]]:
        """The ``(key, value)`` pairs of ``steps``, decoded a block at a time in
        C (``struct``, ``zip``, ``itertools.chain``): no Python frame per element."""
        return itertools.chain.from_iterable(self._blocks(steps))

    def _blocks(
        self, steps: Iterator[tuple[ops.BatchBuffers, int]]
    ) -> Iterator[Iterator[tuple[bytes, V]]]:
        ks, vs = self._key_size, self._buf_size
        block = max(1, min(1024, _BLOCK_BYTES // max(1, ks + vs)))
        decode = self._decode_block
        for bufs, n in steps:
            keys, values = bufs.keys, bufs.values
            for start in range(0, n, block):
                with self._use():  # closed meanwhile (another thread): ValueError,
                    pass  # once that close is done (the borrow waits for its lock)
                m = min(block, n - start)
                yield zip(
                    split(keys, start * ks, ks, m), decode(values, start * vs, m), strict=True
                )

    def _decode_block(self, buffer: Any, offset: int, count: int) -> Iterable[V]:
        """``count`` values from ``buffer`` at ``offset``, decoded as lookups decode
        them (a subclass with its own layout decodes a block at once)."""
        raw = split(buffer, offset, self._buf_size, count)
        if type(self)._decode_value is _Elements._decode_value:
            return raw  # type: ignore[return-value]
        return map(self._decode_value, raw)

    def _send(
        self,
        op: str,
        keys: Any,
        values: Any,
        n: int,
        flags: int,
        key_of: Callable[[int], object] | None,
    ) -> int:
        """Update (``values`` given) or delete ``n`` elements from byte buffers with
        UPDATE_BATCH / DELETE_BATCH, :data:`CHUNK_BYTES` a syscall; returns ``n``.

        ``key_of(i)`` names element ``i`` in an error (default: its bytes).
        Where the map type has no batch command, the rest goes one element at
        a time. A failure names the key, its index and how many went in.
        """
        if not n:
            return 0
        update = values is not None
        command = "update" if update else "delete"
        ks, vs = self._key_size, self._buf_size if update else 0
        keep: list[Any] = []
        try:
            kaddr = ops.address_of(keys, keep)
            vaddr = ops.address_of(values, keep) if update else 0
        except (TypeError, ValueError) as err:
            raise ValueError(f"{op} {self._describe()}: {err}") from None
        step = max(1, CHUNK_BYTES // max(1, ks + vs))
        if not self._has_batch(command):
            self._send_each(op, kaddr, vaddr if update else None, 0, n, flags, key_of)
            return n
        done = 0
        while done < n:
            m = min(step, n - done)
            try:
                with self._use() as fd:
                    if update:
                        ops.update_at(fd, kaddr + done * ks, vaddr + done * vs, m, flags)
                    else:
                        ops.delete_at(fd, kaddr + done * ks, m, flags)
            except ops.BatchError as err:
                if _no_such_command(err, m):
                    self._no_batch(command, err)
                    self._send_each(op, kaddr, vaddr if update else None, done, n, flags, key_of)
                    return n
                raise self._send_error(
                    op, err.errno or 0, done + err.count, n, kaddr, key_of
                ) from None
            done += m
        return n

    def _send_each(
        self,
        op: str,
        kaddr: int,
        vaddr: int | None,
        start: int,
        n: int,
        flags: int,
        key_of: Callable[[int], object] | None,
    ) -> None:
        """Elements ``start..n`` one syscall each (no batch command for the type)."""
        ks, vs = self._key_size, self._buf_size
        elem = self._elem()
        for i in range(start, n):
            key = ops.bytes_at(kaddr + i * ks, ks)
            try:
                if vaddr is None:
                    elem.delete(key)
                else:
                    elem.update(key, ops.bytes_at(vaddr + i * vs, vs), flags)
            except BPFError as err:
                raise self._send_error(op, err.errno or 0, i, n, kaddr, key_of) from None

    def _send_error(
        self,
        op: str,
        code: int,
        index: int,
        n: int,
        kaddr: int,
        key_of: Callable[[int], object] | None,
    ) -> BPFError:
        """The error of a bulk write that stopped at element ``index`` of ``n``."""
        ks = self._key_size
        key: object = None
        if index < n:
            key = key_of(index) if key_of else ops.bytes_at(kaddr + index * ks, ks)
        what = "elements applied" if op.startswith("update") else "keys deleted"
        base = self._hint("update" if op.startswith("update") else "delete", code, key)
        where = f"index {index}: " if index < n else ""
        hint = (f"{base}; " if base else "") + f"{where}{index} of {n} {what}"
        err = self._error(op, OSError(code, ""), key=key, hint=hint)
        if code == errno.ENOENT and not op.startswith("update"):
            return KeyNotFoundError(err.message, reason=err.reason)  # a KeyError
        return err

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

    def _update_batch(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = ANY
    ) -> int:
        self._check_flags(flags, "update_batch")
        enc = encode_items(self, items)
        ks = self._key_size
        return self._send(
            "update_batch", enc.keys, enc.values, enc.count, flags, lambda i: enc.key(ks, i)
        )

    def _delete_batch(self, keys: Iterable[Any]) -> int:
        pairs = [(key, self._encode_key(key)) for key in keys]
        joined = b"".join(k for _, k in pairs)
        return self._send("delete", joined, None, len(pairs), 0, lambda i: pairs[i][0])
