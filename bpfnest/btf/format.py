"""Values decoded through their BTF type, as JSON-able data (bpftool's ``formatted``).

One decoder: the value is decoded by :mod:`bpfnest.btf.values` (the codec
``Map.typed()`` uses), then shown as plain data: integers as ints (bools
``True``/``False``), enums as the name of their value (the number when it
has none), structs and unions as dicts of field -> value (bitfields, and the
fields of anonymous members, included), arrays as lists, ``char`` arrays as
strings up to the first NUL, pointers as ints, floats as floats, and
DATASECs (``.data``, ``.bss``) as dicts of variable -> value. Pure: no
kernel (``ctypes`` as a layout library, imported on first use).
"""

from __future__ import annotations

import enum
from typing import Any

from .parse import BTF
from .types import Datasec, Type, Var

__all__ = ["decode", "formatted"]

_MAX_DEPTH = 32
_BASE_BUDGET = 1024


def decode(btf: BTF, t: Type, raw: bytes, *, depth: int = 0) -> Any:
    """Decode ``raw`` (at least ``btf.sizeof(t)`` bytes) as a value of ``t``,
    as JSON-able data (see the module).

    The work is bounded by the size of ``raw``: at most ``8 * len(raw) +
    1024`` values (a bitfield can be one bit; zero-sized structs and arrays
    count too), so a type with a huge element count cannot make it loop.

    Raises:
        ValueError: ``raw`` is too short for the type; the type has no layout
            here (void, a function), is of the other byte order, nests too
            deeply or holds too many values for ``raw`` (a
            :class:`~bpfnest.errors.ParseError`, which is one, when the type
            itself is malformed).
    """
    budget = [8 * len(raw) + _BASE_BUDGET]
    return _decode(btf, t, raw, depth, budget)


def _decode(btf: BTF, t: Type, raw: bytes, depth: int, budget: list[int]) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError("type nests too deeply to decode")
    r = btf.resolve(t)
    if isinstance(r, Var):
        return _decode(btf, r.type, raw, depth + 1, budget)
    if isinstance(r, Datasec):
        return {
            v.type.name: _decode(btf, v.type, raw[v.offset : v.offset + v.size], depth + 1, budget)
            for v in r.vars
            if isinstance(v.type, Var)
        }
    from .values import codec

    try:
        c = codec(btf, t)
    except (OverflowError, MemoryError):  # ctypes: "array too large"
        raise ValueError("type holds too many values to decode") from None
    if len(raw) < c.size:
        raise ValueError(f"value too short: {len(raw)} bytes for {c.name} ({c.size} bytes)")
    return _shown(c.decode(raw), budget, depth)


def formatted(value: object) -> Any:
    """A value decoded by :mod:`bpfnest.btf.values` as JSON-able data: what
    :func:`decode` returns for its bytes.

    Raises:
        ValueError: it holds more than a million values.
    """
    return _shown(value, [1 << 20], 0)


def _shown(value: object, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("type holds too many values to decode")
    if depth > _MAX_DEPTH:
        raise ValueError("type nests too deeply to decode")
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):  # a float of an odd size: its bytes
        return value.hex()
    cls = type(value)
    fields = getattr(cls, "_bpf_fields_", None)
    if fields is not None:
        enums: dict[str, Any] = getattr(cls, "_bpf_enums_", {})
        out: dict[str, Any] = {}
        for name in fields:
            v = getattr(value, name)
            e = enums.get(name)
            if e is not None and isinstance(v, int):
                member = e._value2member_map_.get(v)
                out[name] = member.name if member is not None else v
            elif isinstance(v, bytes) and not isinstance(getattr(cls, name, None), property):
                out[name] = _text(v)  # a char array field (ctypes gives bytes up to the NUL)
            else:
                out[name] = _shown(v, budget, depth + 1)
        return out
    if getattr(cls, "_bpf_char_", False):
        return _text(value.value)  # type: ignore[attr-defined]
    length = getattr(cls, "_length_", None)
    if length is not None:
        if length > budget[0]:
            raise ValueError(f"type holds too many values to decode ({length} elements)")
        return [_shown(v, budget, depth + 1) for v in value]  # type: ignore[attr-defined]
    return value


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
