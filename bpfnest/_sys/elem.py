"""The element fast path: lookup, update and delete of one map, one ``bpf(2)`` call each.

:class:`ElemOps` keeps key and value buffers (per thread, and one shared pair
for lookups of int keys) and attrs already pointing at them, so a call only
packs the key (and value), makes the syscall and copies the value out.
:mod:`bpfnest._sys.ops` re-exports it.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import NR, get_errno, syscall_gil_held, syscall_released
from .fd import FD, reset_in_child
from .uapi import Cmd, MapElemAttr

__all__ = ["ElemOps"]

_ENOENT = 2
_EBADF = 9

_ELEM_SIZE = ctypes.sizeof(MapElemAttr)
# Little-endian unsigned ints by size (the byte order of keys and values given as ints).
_INT_TYPES: dict[int, Any] = {
    1: ctypes.c_uint8,
    2: ctypes.c_uint16.__ctype_le__,
    4: ctypes.c_uint32.__ctype_le__,
    8: ctypes.c_uint64.__ctype_le__,
}
_U64 = 1 << 64


def _gil() -> bool:
    """True where a GIL serialises Python threads (not a free-threaded build
    running without it): what the shared buffers of int lookups and updates
    rest on."""
    enabled: Callable[[], bool] = getattr(sys, "_is_gil_enabled", lambda: True)
    return enabled()


class _Slot:
    """One thread's attrs for one map; kept weakly so :meth:`ElemOps.invalidate` finds them."""

    __slots__ = ("__weakref__", "attrs")

    def __init__(self, attrs: tuple[MapElemAttr, ...]) -> None:
        self.attrs = attrs


class ElemOps:
    """Lookup, update and delete on one map: one ``bpf(2)`` call each, nothing built per call.

    Each thread gets its own key and value buffers and one attr per command
    already pointing at them (built on its first call); a call packs the key
    (and value) into the buffers, makes the syscall and copies the value out.
    Ints of 1, 2, 4 and 8 bytes are stored through a little-endian ctypes int
    over the buffer, after a range check. Lookups of int keys use one pair of
    buffers for the map instead, shared by all threads (no per-thread fetch):
    the GIL is held from the key's write through the syscall, and a read-back
    of the key after the value was copied out sends a lookup another thread
    (or a signal handler) interleaved with, or an int out of range, through
    the thread's own buffers again. Updates of an int key to an int value
    without flags (maps whose syscalls keep the GIL) likewise use a pair of
    the map's own, checked before they are written. Without a GIL (a
    free-threaded build) every call uses the thread's own buffers.

    ``lookup``, ``update`` and ``delete`` are plain closures (stored as
    attributes, so a caller may bind them once): ``lookup(key)`` returns the
    value's bytes or None for a missing key; ``update(key, value, flags=0)``;
    ``delete(key)``. ``lookup_as(key_cls, decode)`` makes a lookup for typed
    views: a key of ``key_cls`` (exactly ``key_size`` bytes) is copied in as
    it is and ``decode(value_buffer)`` is returned (the buffer is reused by
    the next call: ``decode`` copies). Keys are ints, bytes of ``key_size`` or whatever
    ``key_encode`` accepts; values likewise with ``value_encode`` (None:
    values must already be bytes of ``value_size``). Errors come from
    ``on_error(op, errno, key)``; an int flag outside u64 is a ``ValueError``
    and ``check_flags(flags, key)`` vets non-zero flags before the syscall.

    Safety against fd reuse: ``fd`` (an :class:`FD`) is referenced for as
    long as any closure lives, and :meth:`invalidate` (called before the fd
    is closed) turns every attr's map fd into -1, so a call after close gets
    ``EBADF`` and raises ``ValueError`` (``describe`` is closed) instead of
    reaching whatever object reuses the number. With ``release_gil`` false the
    syscall runs with the GIL held (``syscall_gil_held``): no Python thread
    can close the fd while the kernel reads the attr. With ``release_gil``
    (commands that sleep, like updates of outer maps that wait for RCU) each
    call holds a lock that :meth:`invalidate` also takes, so a close waits
    for the call in flight. In a forked child that lock starts free again
    (another thread may have held it at the fork).
    """

    __slots__ = (
        "__weakref__",
        "_keep",
        "_reset",
        "delete",
        "invalidate",
        "lookup",
        "lookup_as",
        "update",
    )

    def __init__(
        self,
        fd: FD,
        key_size: int,
        value_size: int,
        *,
        describe: str,
        key_encode: Callable[[object], bytes],
        value_encode: Callable[[object], bytes] | None,
        on_error: Callable[[str, int, object], BaseException],
        check_flags: Callable[[int, object], None] | None = None,
        release_gil: bool = False,
    ) -> None:
        tls = threading.local()
        lock = threading.Lock()
        registry: weakref.WeakSet[_Slot] = weakref.WeakSet()
        dead = [False]
        nr, size, get_errno_ = NR, _ELEM_SIZE, get_errno
        lookup_cmd, update_cmd, delete_cmd = (
            int(Cmd.MAP_LOOKUP_ELEM),
            int(Cmd.MAP_UPDATE_ELEM),
            int(Cmd.MAP_DELETE_ELEM),
        )
        # Ints of 1, 2, 4 and 8 bytes are stored through a little-endian ctypes
        # int over the buffer (``.value = key``: cheaper than struct's
        # pack_into) after a range check; a limit of 0 sends every int to the
        # general path (other sizes; values a codec must encode).
        kint, vint = _INT_TYPES.get(key_size), _INT_TYPES.get(value_size)
        klimit = 1 << (8 * key_size) if kint else 0
        vlimit = 1 << (8 * value_size) if vint and value_encode is not None else 0
        sizeof_key = key_size

        def closed() -> ValueError:
            return ValueError(f"{describe} is closed")

        def fail(op: str, err: int, key: object) -> BaseException:
            if err == _EBADF and (dead[0] or fd.closed):
                return closed()
            return on_error(op, err, key)

        def new_slot() -> None:
            # ctypes arrays: ``.raw`` reads and writes them as bytes in one
            # C call (3x cheaper than bytes(bytearray) or a slice assignment).
            kb = (ctypes.c_char * max(key_size, 1))()
            vb = (ctypes.c_char * max(value_size, 1))()
            ki = kint.from_buffer(kb) if kint else kb
            vi = vint.from_buffer(vb) if vint else vb
            ka = ctypes.addressof(kb) if key_size else 0
            va = ctypes.addressof(vb)
            with lock:
                if dead[0] or fd.closed:
                    raise closed()
                raw = fd.raw
                lk = MapElemAttr(map_fd=raw, key=ka, value=va)
                up = MapElemAttr(map_fd=raw, key=ka, value=va)
                upf = MapElemAttr(map_fd=raw, key=ka, value=va)
                de = MapElemAttr(map_fd=raw, key=ka)
                slot = _Slot((lk, up, upf, de))
                registry.add(slot)
            byref = ctypes.byref
            # The slot keeps the attrs registered for as long as this thread uses them.
            tls.keep = (kb, vb, slot)
            tls.l = (kb, ki, vb, byref(lk))
            tls.u = (kb, ki, vb, vi, byref(up), upf, byref(upf))
            tls.d = (kb, ki, byref(de))

        def put_key(kb: Any, key: object) -> None:
            # Everything but the fast int path: validate and copy.
            raw = key if type(key) is bytes and len(key) == sizeof_key else key_encode(key)
            if sizeof_key:
                kb.raw = raw

        def put_value(vb: Any, value: object) -> None:
            if value_encode is not None:
                vb.raw = value_encode(value)
            elif type(value) is bytes and len(value) == value_size:
                vb.raw = value
            else:
                raise TypeError(f"value must be {value_size} bytes here, got {value!r:.40}")

        def flags_ref(upf: MapElemAttr, upfref: Any, flags: object, key: object) -> Any:
            # Any int (an IntEnum member too), but not a bool.
            if not isinstance(flags, int) or isinstance(flags, bool) or not 0 <= flags < _U64:
                raise ValueError(
                    f"flags must be a u64 int (ANY, NOEXIST, EXIST, F_LOCK), got {flags!r}"
                )
            if check_flags is not None:
                check_flags(flags, key)
            upf.flags = int(flags)
            return upfref

        if release_gil:

            def call(nr: int, cmd: int, ref: Any, size: int) -> int:
                with lock:  # invalidate() waits for this
                    ret: int = syscall_released(nr, cmd, ref, size)
                    return ret

        else:
            call = syscall_gil_held
        zero = 0  # `flags is zero`: the common ANY without a type check (CPython caches 0)

        # The slot fetch and the key packing are written out in lookup, update
        # and delete on purpose: a shared helper costs a Python call (~60 ns
        # here, 5% of an operation).

        def lookup_each(key: object) -> bytes | None:
            # The thread's own buffers: keys of any kind (and lookup_shared's retries).
            try:
                kb, ki, vb, ref = tls.l
            except AttributeError:
                new_slot()
                kb, ki, vb, ref = tls.l
            if type(key) is int and 0 <= key < klimit:
                ki.value = key
            else:
                put_key(kb, key)
            if syscall_gil_held(nr, lookup_cmd, ref, size) < 0:
                err = get_errno_()
                if err == _ENOENT:
                    return None
                raise fail("lookup", err, key)
            return vb.raw  # type: ignore[no-any-return]

        lookup = lookup_each
        # The shared buffers' slots, kept here: the registry holds them weakly.
        self._keep: list[_Slot] = []
        shared_ok = _gil()

        def shared_ref(kbuf: Any, vbuf: Any) -> Any:
            # An attr over buffers of the map's own (not a thread's), registered
            # so that invalidate() finds it; a byref to it.
            with lock:
                attr = MapElemAttr(
                    map_fd=-1 if dead[0] or fd.closed else fd.raw,
                    key=ctypes.addressof(kbuf),
                    value=ctypes.addressof(vbuf),
                )
                self._keep.append(_Slot((attr,)))
                registry.add(self._keep[-1])
            return ctypes.byref(attr)

        if kint is not None and shared_ok:
            # Int keys: one pair of buffers for the map, shared by every thread,
            # and a check after the call instead of a per-thread fetch (~70 ns
            # of a ~1.7 us lookup here). The write of the key and the syscall
            # (the GIL held) run with no point between them where Python could
            # switch threads; another thread (or a signal handler) can only run
            # after the call returns, and it writes its own key first. So when
            # the key buffer still holds this key after the value was copied
            # out, the value is this key's. The same read-back catches an int
            # out of range (ctypes masks it): such a key, or a buffer another
            # thread wrote, goes again through lookup_each, which checks it.
            skb = (ctypes.c_char * key_size)()
            ski = kint.from_buffer(skb)
            svb = (ctypes.c_char * max(value_size, 1))()
            sref = shared_ref(skb, svb)

            def lookup_shared(key: object) -> bytes | None:
                if type(key) is int:
                    ski.value = key
                    if syscall_gil_held(nr, lookup_cmd, sref, size) < 0:
                        if ski.value != key:  # out of range, or another thread's key
                            return lookup_each(key)
                        err = get_errno_()
                        if err == _ENOENT:
                            return None
                        raise fail("lookup", err, key)
                    raw: bytes = svb.raw
                    if ski.value == key:
                        return raw
                return lookup_each(key)

            lookup = lookup_shared

        def lookup_as(key_cls: type, decode: Callable[[Any], Any]) -> Callable[[object], Any]:
            # A lookup for typed views: a key of ``key_cls`` (a ctypes class of
            # exactly key_size bytes) is copied in as it is, and the value's
            # bytes go to ``decode`` (None: no key).
            def lookup_typed(key: object) -> Any:
                try:
                    kb, ki, vb, ref = tls.l
                except AttributeError:
                    new_slot()
                    kb, ki, vb, ref = tls.l
                if type(key) is key_cls:
                    kb.raw = bytes(key)  # type: ignore[call-overload]
                elif type(key) is int and 0 <= key < klimit:
                    ki.value = key
                else:
                    put_key(kb, key)
                if syscall_gil_held(nr, lookup_cmd, ref, size) < 0:
                    err = get_errno_()
                    if err == _ENOENT:
                        return None
                    raise fail("lookup", err, key)
                return decode(vb.raw)  # bytes, in one C call: what decoders take

            return lookup_typed

        def update_each(key: object, value: object, flags: int = 0) -> None:
            # The thread's own buffers: keys and values of any kind, any flags.
            try:
                kb, ki, vb, vi, ref, upf, upfref = tls.u
            except AttributeError:
                new_slot()
                kb, ki, vb, vi, ref, upf, upfref = tls.u
            if type(key) is int and 0 <= key < klimit:
                ki.value = key
            else:
                put_key(kb, key)
            if type(value) is int and 0 <= value < vlimit:
                vi.value = value
            elif type(value) is bytes and len(value) == value_size:
                vb.raw = value
            else:
                put_value(vb, value)
            if flags is not zero:
                ref = flags_ref(upf, upfref, flags, key)
            if call(nr, update_cmd, ref, size) < 0:
                raise fail("update", get_errno_(), key)

        update = update_each
        if kint is not None and vint is not None and vlimit and not release_gil and shared_ok:
            # Int keys and values in range, no flags: buffers of the map's own
            # again, checked before they are written (not the lookups': a lookup
            # switched out after its syscall must not take the value of an
            # update the kernel refused). Writing them and the syscall run
            # without a point where Python could switch threads, and nothing is
            # read back after the call.
            ukb = (ctypes.c_char * key_size)()
            uki = kint.from_buffer(ukb)
            uvb = (ctypes.c_char * value_size)()
            uvi = vint.from_buffer(uvb)
            suref = shared_ref(ukb, uvb)

            def update_shared(key: object, value: object, flags: int = 0) -> None:
                if (
                    type(key) is int
                    and type(value) is int
                    and flags is zero
                    and 0 <= key < klimit
                    and 0 <= value < vlimit
                ):
                    uki.value = key
                    uvi.value = value
                    if syscall_gil_held(nr, update_cmd, suref, size) < 0:
                        raise fail("update", get_errno_(), key)
                    return
                update_each(key, value, flags)

            update = update_shared

        def delete(key: object) -> None:
            try:
                kb, ki, ref = tls.d
            except AttributeError:
                new_slot()
                kb, ki, ref = tls.d
            if type(key) is int and 0 <= key < klimit:
                ki.value = key
            else:
                put_key(kb, key)
            if call(nr, delete_cmd, ref, size) < 0:
                raise fail("delete", get_errno_(), key)

        def invalidate() -> None:
            """Point every attr at fd -1; call before closing the fd (waits for calls in flight)."""
            with lock:
                dead[0] = True
                for slot in list(registry):
                    for attr in slot.attrs:
                        attr.map_fd = -1

        def reset() -> None:
            nonlocal lock
            lock = threading.Lock()

        self.lookup = lookup
        self.lookup_as = lookup_as
        self.update = update
        self.delete = delete
        self.invalidate = invalidate
        self._reset = reset
        reset_in_child(self)

    def _after_fork_in_child(self) -> None:
        """In a forked child: the lock of calls in flight in other threads is free again."""
        self._reset()
