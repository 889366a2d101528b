"""Key and value codecs: pure functions, no kernel.

Keys and values are ``bytes`` of the exact size, or ``int`` written unsigned
little-endian in that size. Per-CPU values are one slot per possible CPU, each
slot the value size rounded up to 8 bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = [
    "decode_percpu",
    "encode",
    "encode_percpu",
    "lpm_key",
    "parse_cpu_list",
    "percpu_stride",
]


def encode(value: object, size: int, what: str) -> bytes:
    """Return ``value`` as exactly ``size`` bytes.

    ``value`` is ``bytes``, an ``int`` (unsigned little-endian), or any object
    with the buffer protocol (``bytearray``, ``memoryview``, ``array.array``,
    a ``ctypes`` structure or array, ...) of exactly ``size`` bytes, copied.
    ``what`` names the thing for messages ("key", "value", ...).

    Raises:
        ValueError: bytes of another size, or an int that does not fit.
        TypeError: neither bytes-like nor int.
    """
    if isinstance(value, bytes):
        if len(value) != size:
            raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
        return value
    if isinstance(value, (bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) != size:
            raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
        return raw
    if isinstance(value, int) and not isinstance(value, bool):
        if size == 0:
            raise ValueError(f"{what} must be empty (size 0), got int {value}")
        if value < 0 or value >= 1 << (8 * size):
            raise ValueError(
                f"{what} {value} out of range for {size} bytes (0..{(1 << (8 * size)) - 1})"
            )
        return value.to_bytes(size, "little")
    return _from_buffer(value, size, what)


def _from_buffer(value: object, size: int, what: str) -> bytes:
    """The bytes of an object with the buffer protocol (a ctypes object, an array, ...)."""
    try:
        if isinstance(value, (str, bool)):
            raise TypeError
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{what} must be bytes or int, got {type(value).__name__}"
            f" (or a buffer of {size} bytes: bytearray, memoryview, ctypes)"
        ) from None
    with view:
        if view.nbytes != size:
            raise ValueError(
                f"{what} must be {size} bytes, got {view.nbytes} ({type(value).__name__})"
            )
        return view.tobytes()


def percpu_stride(value_size: int) -> int:
    """Return the size of one CPU's slot: ``value_size`` rounded up to 8."""
    return (value_size + 7) & ~7


def encode_percpu(value: object, value_size: int, ncpus: int, what: str = "value") -> bytes:
    """Return a per-CPU value buffer of ``ncpus`` slots.

    ``value`` is a sequence of ``ncpus`` values (bytes or int, one per possible
    CPU) or a single bytes/int written to every CPU.

    Raises:
        ValueError: a sequence of the wrong length or an element of the wrong size.
        TypeError: elements that are neither bytes nor int.
    """
    stride = percpu_stride(value_size)
    pad = bytes(stride - value_size)
    if isinstance(value, (bytes, bytearray, memoryview, int)) and not isinstance(value, bool):
        one = encode(value, value_size, what) + pad
        return one * ncpus
    if not isinstance(value, (Sequence, str, bool)) and _has_buffer(value):
        return (_from_buffer(value, value_size, what) + pad) * ncpus  # one ctypes value, ...
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(
            f"{what} must be bytes, int, or a sequence of {ncpus} of them (one per possible CPU),"
            f" got {type(value).__name__}"
        )
    if len(value) != ncpus:
        raise ValueError(
            f"{what} must have {ncpus} entries (one per possible CPU), got {len(value)}"
        )
    return b"".join(encode(v, value_size, f"{what}[cpu {i}]") + pad for i, v in enumerate(value))


def _has_buffer(value: object) -> bool:
    try:
        memoryview(value).release()  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def decode_percpu(raw: bytes, value_size: int, ncpus: int) -> list[bytes]:
    """Split a per-CPU buffer into ``ncpus`` values of ``value_size`` bytes."""
    stride = percpu_stride(value_size)
    return [raw[i * stride : i * stride + value_size] for i in range(ncpus)]


def parse_cpu_list(text: str) -> int:
    """Return how many CPUs a list such as ``"0-3,5"`` names (the highest + 1).

    The kernel sizes per-CPU values by possible CPU ids, so a hole still counts.

    Raises:
        ValueError: text that is not a CPU list.
    """
    highest = -1
    for part in text.strip().split(","):
        if not part:
            raise ValueError(f"malformed CPU list {text!r}")
        lo, _, hi = part.partition("-")
        try:
            last = int(hi) if hi else int(lo)
            int(lo)
        except ValueError:
            raise ValueError(f"malformed CPU list {text!r}") from None
        highest = max(highest, last)
    return highest + 1


def lpm_key(prefixlen: int, data: bytes) -> bytes:
    """Return an LPM_TRIE key: ``u32 prefixlen`` (host order) followed by ``data``.

    Raises:
        ValueError: a prefix longer than ``data`` holds.
    """
    if not 0 <= prefixlen <= 8 * len(data):
        raise ValueError(f"prefixlen {prefixlen} out of range 0..{8 * len(data)}")
    return prefixlen.to_bytes(4, sys.byteorder) + bytes(data)
