"""Values decoded through their BTF type, as JSON-able data (bpftool's ``formatted``).

Integers become ints (bools ``True``/``False``), enums the name of their
value, structs and unions dicts of member -> value (bitfields included),
arrays lists, ``char`` arrays strings up to the first NUL, pointers ints,
DATASECs dicts of variable -> value. Pure: no kernel.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from .parse import BTF
from .types import Array, Composite, Datasec, Enum, Float, Int, Pointer, Type, Var

__all__ = ["decode"]

_MAX_DEPTH = 32


def decode(btf: BTF, t: Type, raw: bytes, *, depth: int = 0) -> Any:
    """Decode ``raw`` (at least ``btf.sizeof(t)`` bytes) as a value of ``t``.

    The work is bounded by the size of ``raw``: at most ``8 * len(raw) +
    1024`` values (a bitfield can be one bit; zero-sized structs and arrays
    count too), so a type with a huge element count cannot make it loop.

    Raises:
        ValueError: ``raw`` is too short for the type, or the type nests too
            deeply or holds too many values for ``raw`` (a
            :class:`~bpfnest.errors.ParseError`, which is one, when the type
            itself is malformed).
    """
    return _Decoder(btf, 8 * len(raw) + _BASE_BUDGET).decode(t, raw, depth)


_BASE_BUDGET = 1024


class _Decoder:
    def __init__(self, btf: BTF, budget: int) -> None:
        self.btf = btf
        self.budget = budget
        self.order: Literal["little", "big"] = "little" if btf.byteorder == "little" else "big"

    def decode(self, t: Type, raw: bytes, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("type nests too deeply to decode")
        self.budget -= 1
        if self.budget < 0:
            raise ValueError("type holds too many values to decode")
        btf, order = self.btf, self.order
        t = btf.resolve(t)
        if isinstance(t, Int):
            value = _int(raw, 0, t.size, t.signed, order)
            if t.bits and t.bits < 8 * t.size:
                value = _bits(value, t.bit_offset, t.bits, t.signed)
            return bool(value) if t.bool else value
        if isinstance(t, Enum):
            value = _int(raw, 0, t.size, t.signed, order)
            return next((v.name for v in t.values if v.value == value), value)
        if isinstance(t, Pointer):
            return _int(raw, 0, 8, False, order)
        if isinstance(t, Float):
            fmt = {4: "f", 8: "d"}.get(t.size)
            if fmt is None or len(raw) < t.size:
                return raw[: t.size].hex()
            return struct.unpack(("<" if order == "little" else ">") + fmt, raw[: t.size])[0]
        if isinstance(t, Array):
            elem = btf.resolve(t.type)
            size = btf.sizeof(elem) if t.nelems else 0
            if isinstance(elem, Int) and elem.size == 1 and (elem.char or elem.name == "char"):
                return raw[: t.nelems].split(b"\0", 1)[0].decode("utf-8", "replace")
            if t.nelems * size > len(raw):
                raise ValueError(
                    f"value too short: {len(raw)} bytes for {t.nelems} elements of {size}"
                )
            if t.nelems > self.budget:
                raise ValueError(f"type holds too many values to decode ({t.nelems} elements)")
            return [
                self.decode(elem, raw[i * size : (i + 1) * size], depth + 1)
                for i in range(t.nelems)
            ]
        if isinstance(t, Composite):
            out: dict[str, Any] = {}
            whole: int | None = None
            for i, m in enumerate(t.members):
                name = m.name or f"<anon {i}>"
                if m.bitfield_size:
                    mt = btf.resolve(m.type)
                    if whole is None:
                        whole = _int(raw, 0, t.size, False, order)
                    signed = isinstance(mt, Int) and mt.signed
                    out[name] = _bits(whole, m.bit_offset, m.bitfield_size, signed, order, t.size)
                else:
                    off = m.bit_offset // 8
                    value = self.decode(m.type, raw[off:], depth + 1)
                    if not m.name and isinstance(value, dict):
                        out.update(value)
                    else:
                        out[name] = value
            return out
        if isinstance(t, Datasec):
            return {
                v.type.name: self.decode(v.type, raw[v.offset : v.offset + v.size], depth + 1)
                for v in t.vars
                if isinstance(v.type, Var)
            }
        if isinstance(t, Var):
            return self.decode(t.type, raw, depth + 1)
        return raw.hex()


def _int(raw: bytes, off: int, size: int, signed: bool, order: Literal["little", "big"]) -> int:
    chunk = raw[off : off + size]
    if len(chunk) < size:
        raise ValueError(f"value too short: {len(chunk)} bytes for a {size}-byte integer")
    return int.from_bytes(chunk, order, signed=signed)


def _bits(
    value: int,
    bit_offset: int,
    nbits: int,
    signed: bool,
    order: Literal["little", "big"] = "little",
    total: int = 0,
) -> int:
    shift = 8 * total - bit_offset - nbits if order == "big" and total else bit_offset
    field = (value >> shift) & ((1 << nbits) - 1)
    if signed and field >> (nbits - 1):
        field -= 1 << nbits
    return field
