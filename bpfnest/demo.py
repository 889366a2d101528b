"""The end-to-end map-in-map example of the README, on the real kernel.

Creates an ARRAY_OF_MAPS from a template, puts two per-tenant inner maps in
it by fd, reads their ids back, opens one by id and reads its entries, swaps a
slot atomically, deletes a slot, prints the tree, and closes everything it
made, checking that no map it created is left in the system.
"""

from __future__ import annotations

import time
from typing import TextIO

from .constants import MapType
from .maps import Map, map_ids
from .outer import OuterMap
from .spec import MapSpec

__all__ = ["run"]

_INNER = MapSpec(MapType.HASH, key_size=4, value_size=8, max_entries=64, name="tenant")


def _fill(values: dict[int, int], name: str) -> Map[bytes]:
    m: Map[bytes] = Map.create(MapSpec(**{**_INNER.__dict__, "name": name}))
    try:
        m.update_batch(values)
    except BaseException:
        m.close()
        raise
    return m


def _tree(outer: OuterMap, out: TextIO) -> None:
    out.write(
        f"{outer.type.name if isinstance(outer.type, MapType) else outer.type}"
        f" '{outer.name}' id {outer.id}\n"
    )
    for key, inner_id in outer.items():
        slot = int.from_bytes(key, "little")
        opened = outer.get_map(key)
        if opened is None:
            continue
        with opened as inner:
            entries = {
                int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in inner.items()
            }
            out.write(f"  slot {slot} -> id {inner_id} '{inner.name}' {entries}\n")


def run(out: TextIO) -> None:
    """Run the demo, writing what happens to ``out``.

    Raises:
        BPFError: the kernel refused a step (e.g. no privileges).
        RuntimeError: a map the demo made is still in the system at the end.
    """
    start = time.monotonic()
    before = set(map_ids())
    made: set[int] = set()
    spec = MapSpec(
        MapType.ARRAY_OF_MAPS,
        key_size=4,
        value_size=4,
        max_entries=4,
        name="demo_outer",
        inner=_INNER,
    )
    with Map.create(spec) as outer:
        assert isinstance(outer, OuterMap)
        made.add(outer.id)
        out.write(
            f"created ARRAY_OF_MAPS 'demo_outer' id {outer.id}; its template is already closed\n"
        )
        with _fill({1: 100, 2: 200}, "tenant_a") as a, _fill({1: 111}, "tenant_b") as b:
            made |= {a.id, b.id}
            outer[0] = a  # the kernel takes the inner map's fd ...
            outer[1] = b
            out.write(f"slot 0 <- fd {a.fd} ('tenant_a'), slot 1 <- fd {b.fd} ('tenant_b')\n")
        out.write("closed our fds of the inner maps: the outer map keeps them alive\n")
        out.write(f"lookup slot 0 -> inner map id {outer[0]}  (... and gives back its id)\n")
        opened = outer.get_map(0)
        assert opened is not None
        with opened as got:
            entries = {
                int.from_bytes(k, "little"): int.from_bytes(v, "little") for k, v in got.items()
            }
            out.write(f"opened id {got.id} by id: '{got.name}' holds {entries}\n")
        with _fill({1: 999, 2: 222}, "tenant_a2") as new:
            made.add(new.id)
            outer[0] = new
            out.write(
                f"swapped slot 0 to id {new.id} in one update: readers see old or new, never half\n"
            )
        del outer[1]
        out.write("deleted slot 1\n")
        _tree(outer, out)
    deadline = time.monotonic() + 5
    while (left := (set(map_ids()) - before) & made) and time.monotonic() < deadline:
        time.sleep(0.01)
    if left:
        raise RuntimeError(f"demo left maps behind: ids {sorted(left)}")
    out.write(
        f"closed the outer map: all {len(made)} maps the demo made are gone"
        f" ({time.monotonic() - start:.2f} s)\n"
    )
