"""Declared slots of ``.maps`` (``.values = {[i] = &m}``) -> ``MapSpec.contents``.

No kernel here. The relocations of ``.maps`` say which map or program goes
in which slot; each relocation's map is found by bisection over the maps
sorted by offset, so n maps and slots read in O(n log n). A slot the map
cannot hold is a :class:`ParseError` naming the map and the slot.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence

from ._elffile import Symbol
from .constants import MapType
from .errors import ParseError
from .spec import MapSpec

__all__ = ["Layout", "read_declared_slots", "slot_problem"]

#: (offset, size, name, offset of ``values`` in the definition or None) per map
Layout = list[tuple[int, int, str, int | None]]
Err = Callable[[str, str, int], ParseError]  # (message, section, offset) -> error


def slot_problem(spec: MapSpec, slot: int) -> str | None:
    """Why ``slot`` cannot be a key of the map ``spec`` describes (None: it can)."""
    if spec.type != MapType.HASH_OF_MAPS and slot >= spec.max_entries:
        return f"slot {slot} >= max_entries {spec.max_entries}"
    if slot >> (8 * spec.key_size):
        top = (1 << 8 * spec.key_size) - 1
        return f"slot {slot} does not fit its {spec.key_size}-byte key (at most {top})"
    return None


def read_declared_slots(
    layout: Layout,
    relocations: Sequence[tuple[int, Symbol]],
    maps: dict[str, MapSpec],
    target: Callable[[MapSpec, Symbol], str | None],
    err: Err,
) -> None:
    """Set ``contents`` of each map of ``layout`` that declares slots.

    ``target(spec, sym)`` is the name of the map (outer maps) or program
    (PROG_ARRAY) that ``sym`` defines, or None when it defines none.

    Raises:
        ParseError: a relocation outside the maps' values, a slot the map
            cannot hold, or a target that is not a map or program.
    """
    layout = sorted(layout, key=lambda entry: entry[0])
    for (o1, s1, n1, _), (o2, _, n2, _) in itertools.pairwise(layout):
        if o1 + s1 > o2:
            raise err(f"maps '{n1}' and '{n2}' overlap", ".maps", o2)
    starts = [o for o, _, _, _ in layout]
    slots: dict[str, dict[object, object]] = {}
    for roff, sym in relocations:
        i = bisect.bisect_right(starts, roff) - 1
        if i < 0 or roff >= starts[i] + layout[i][1]:
            raise err(f"relocation at {roff:#x} is outside every map", ".rel.maps", roff)
        start, _, name, values_off = layout[i]
        spec = maps[name]
        if values_off is None or roff < start + values_off:
            raise err(
                f"map '{name}': relocation at {roff:#x} outside its values", ".rel.maps", roff
            )
        slot, rem = divmod(roff - start - values_off, 8)
        if rem:
            raise err(f"map '{name}': misaligned slot relocation", ".rel.maps", roff)
        problem = slot_problem(spec, slot)
        if problem:
            raise err(f"map '{name}': {problem}", ".rel.maps", roff)
        found = target(spec, sym)
        if found is None:
            what = "a map in .maps" if spec.type.is_outer else "a program"
            raise err(
                f"map '{name}': slot {slot} refers to '{sym.name}', not {what}", ".rel.maps", roff
            )
        slots.setdefault(name, dict(spec.contents or {}))[slot] = found
    for start, _, name, _ in layout:
        contents = slots.get(name)
        if contents is None:
            continue
        if len(contents) > maps[name].max_entries:
            raise err(
                f"map '{name}': {len(contents)} declared slots, more than its max_entries"
                f" {maps[name].max_entries}",
                ".maps",
                start,
            )
        maps[name].contents = contents
