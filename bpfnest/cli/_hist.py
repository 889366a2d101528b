"""``bpfnest map hist``: a map that holds a histogram, printed as bcc prints it.

Two layouts are understood:

* an ``ARRAY`` or ``PERCPU_ARRAY`` of integer slots (1, 2, 4 or 8 bytes;
  per-CPU values summed): one histogram, slot ``i`` at key ``i``;
* any map whose value (found through the map's BTF) is a struct with an
  integer array member, ``struct hist { __u32 slots[N]; }`` as in
  libbpf-tools' runqlat: one histogram per key, the key printed above it
  (``slots`` is taken when there are several arrays, else the first).

With ``--interval S`` each print shows one period: the first what the map
holds at the first read, each later one the difference from the previous
read. The map is never cleared (bcc's tools call ``clear()`` each period):
``map hist`` only looks, so other readers of the map and counts a program
adds between a read and a clear are not lost; a slot that went down means
someone else cleared the map, and that period shows the counts as read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from .. import hist, view
from ..constants import MapType
from ._common import Usage, selector

if TYPE_CHECKING:
    from ..btf import BTF, Type
    from ..maps import Map

__all__ = ["map_hist"]

_LAYOUTS = (
    "map hist reads an ARRAY or PERCPU_ARRAY of integer slots, or a map whose value is"
    " a struct with an integer array member (struct hist { __u32 slots[N]; }, per key)"
)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where the slots are in a value: ``count`` integers of ``width`` bytes
    from ``offset`` (per key), or one slot per key when ``per_key`` is False."""

    per_key: bool
    offset: int
    width: int
    count: int
    signed: bool
    key: Callable[[bytes], Any]


def _int_type(btf: BTF, t: Type) -> tuple[int, bool] | None:
    """(size, signed) of an integer type (enums too), else None."""
    from ..btf import Enum, Int

    t = btf.resolve(t)
    if isinstance(t, Int) and t.size in (1, 2, 4, 8) and not t.bool:
        return t.size, t.signed
    if isinstance(t, Enum) and t.size in (1, 2, 4, 8):
        return t.size, False
    return None


def _slots_member(btf: BTF, t: Type) -> tuple[int, int, int, bool] | None:
    """(offset, width, count, signed) of the integer array member of struct
    ``t`` (``slots`` first, else the first one), else None."""
    from ..btf import Array, Struct

    t = btf.resolve(t)
    if not isinstance(t, Struct):
        return None
    found = []
    for m in t.members:
        a = btf.resolve(m.type)
        if isinstance(a, Array) and not m.bitfield_size and m.bit_offset % 8 == 0:
            elem = _int_type(btf, a.type)
            if elem is not None and a.nelems > 0:
                found.append((m.name, (m.bit_offset // 8, elem[0], a.nelems, elem[1])))
    for name, where in found:
        if name == "slots":
            return where
    return found[0][1] if found else None


def _layout(m: Map[Any]) -> _Layout:
    """How ``m`` holds its histogram(s); ValueError naming the layouts understood."""
    info = m.info()
    what = f"map {m.id} '{m.name}' is {view.type_name(m.type)}"
    btf = m.btf() if (info.btf_key_type_id or info.btf_value_type_id) else None
    vtype = btf.type_by_id(info.btf_value_type_id) if btf and info.btf_value_type_id else None
    ktype = btf.type_by_id(info.btf_key_type_id) if btf and info.btf_key_type_id else None
    if m.type in (MapType.ARRAY, MapType.PERCPU_ARRAY) and m.value_size in (1, 2, 4, 8):
        elem = _int_type(btf, vtype) if btf and vtype is not None else (m.value_size, False)
        if elem is not None:
            return _Layout(False, 0, elem[0], m.max_entries, elem[1], _plain_key)
    if btf is None or vtype is None:
        raise ValueError(
            f"{what} with {m.value_size}-byte values and no BTF: {_LAYOUTS}; a struct"
            " layout is found through the map's BTF (compile the program with clang -g)"
        )
    where = _slots_member(btf, vtype)
    if where is None:
        from ..btf.parse import describe

        raise ValueError(f"{what} with values of {describe(btf.resolve(vtype))}: {_LAYOUTS}")
    offset, width, count, signed = where
    return _Layout(True, offset, width, count, signed, _key_decoder(btf, ktype))


def _plain_key(raw: bytes) -> Any:
    return raw.hex(" ")


def _key_decoder(btf: BTF, ktype: Type | None) -> Callable[[bytes], Any]:
    if ktype is None:
        return _plain_key
    from ..btf.format import decode

    def key(raw: bytes) -> Any:
        try:
            return decode(btf, ktype, raw)
        except ValueError:
            return raw.hex(" ")

    return key


def _slots(layout: _Layout, value: bytes | list[bytes], count: int) -> list[int]:
    """The first ``count`` slot counts of one value (a per-CPU value summed)."""
    parts = value if isinstance(value, list) else [value]
    w, off = layout.width, layout.offset
    total = [0] * count
    for raw in parts:
        for i in range(count):
            total[i] += int.from_bytes(
                raw[off + i * w : off + (i + 1) * w], sys.byteorder, signed=layout.signed
            )
    return total


def _read(m: Map[Any], layout: _Layout) -> dict[bytes, list[int]]:
    """The map's histograms now: raw key -> slot counts (one entry, key
    ``b""``, for an array of slots)."""
    if not layout.per_key:
        counts = [0] * layout.count
        for key, value in m.items():
            index = int.from_bytes(key, sys.byteorder)
            if index < layout.count:
                counts[index] = _slots(layout, value, 1)[0]
        return {b"": counts}
    return {key: _slots(layout, value, layout.count) for key, value in m.items()}


def _sort_key(item: tuple[Any, list[int]]) -> tuple[int, Any]:
    key = item[0]
    return (0, key) if isinstance(key, int) and not isinstance(key, bool) else (1, str(key))


def _period(
    m: Map[Any], layout: _Layout, before: dict[bytes, list[int]] | None
) -> tuple[dict[bytes, list[int]], list[tuple[Any, list[int]]]]:
    now = _read(m, layout)
    shown = [
        (layout.key(k) if layout.per_key else None, hist.hist_delta(v, (before or {}).get(k)))
        for k, v in now.items()
    ]
    shown.sort(key=_sort_key)
    return now, shown


def _text(shown: list[tuple[Any, list[int]]], args: argparse.Namespace, per_key: bool) -> str:
    parts = []
    for key, counts in shown:
        if args.linear is not None:
            body = hist.format_linear_hist(counts, step=args.linear, unit=args.unit)
        else:
            body = hist.format_log2_hist(counts, unit=args.unit)
        if per_key and not body:
            continue  # no counts (in this period): bcc's tools, clearing the map, show nothing
        if per_key:  # bcc: print("\n%s = %r" % (section_header, bucket)) before each
            label = key if isinstance(key, (int, str)) else json.dumps(key)
            parts.append(f"\nkey = {label}\n{body}")
        else:
            parts.append(body)
    return "".join(parts)


def _json(m: Map[Any], shown: list[tuple[Any, list[int]]], args: argparse.Namespace) -> str:
    hists = []
    for key, counts in shown:
        if args.linear is not None:
            buckets = hist.linear_buckets(counts, step=args.linear)
        else:
            buckets = hist.log2_buckets(counts)
        entry: dict[str, Any] = {"key": key} if key is not None else {}
        entry["buckets"] = buckets
        hists.append(entry)
    data = {
        "id": m.id,
        "name": m.name,
        "kind": "linear" if args.linear is not None else "log2",
        "unit": args.unit,
        "histograms": hists,
    }
    return json.dumps(data)


def _periods(args: argparse.Namespace) -> Iterator[int]:
    """0, 1, ... one per print; sleeps ``--interval`` between them."""
    if args.interval is None:
        yield 0
        return
    n = 0
    while args.count is None or n < args.count:
        if n:
            time.sleep(args.interval)
        yield n
        n += 1


def map_hist(args: argparse.Namespace, out: TextIO) -> None:
    """``bpfnest map hist``: print the map's histogram(s), once or each interval."""
    how_what = selector(args.map)
    if args.interval is None and args.count is not None:
        raise Usage("--count N counts the prints of --interval S: add --interval")
    if args.linear is not None and args.linear < 1:
        raise Usage(f"--linear STEP must be 1 or more, not {args.linear}")
    with view.open_map(*how_what) as m:
        layout = _layout(m)
        before: dict[bytes, list[int]] | None = None
        for _ in _periods(args):
            before, shown = _period(m, layout, before)
            if args.json:
                out.write(_json(m, shown, args) + "\n")
            else:
                text = _text(shown, args, layout.per_key)
                # bcc's tools start each interval's print with an empty line
                out.write(("\n" if args.interval is not None else "") + text)
            out.flush()
