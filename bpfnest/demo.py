"""The end-to-end map-in-map example of the README, on the real kernel.

Creates an ARRAY_OF_MAPS from a template, loads a small XDP program (built
here, instruction by instruction: no compiler needed) that reads
``outer[0]`` -> ``inner[0]``, puts an inner map in by fd, reads its id back,
runs the program with ``test_run``, swaps the inner map and shows that the
program sees the new one, deletes a slot, prints the tree, and closes
everything it made, checking that no map it created is left in the system.
"""

from __future__ import annotations

import struct
import time
from typing import TextIO

from .constants import MapType, ProgType
from .maps import Map, OuterMap, map_ids
from .programs import Program
from .spec import MapRef, MapSpec, ProgramSpec

__all__ = ["program_spec", "run"]

_CONFIG = MapSpec(MapType.ARRAY, key_size=4, value_size=4, max_entries=4, name="config")
NOT_FOUND = 1000  # what the program returns when slot 0 is empty


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def program_spec() -> ProgramSpec:
    """An XDP program returning ``inner[0]`` of the map in slot 0 of ``outer``
    (``NOT_FOUND`` when the slot is empty). Little-endian instructions."""
    lookup = 1  # bpf_map_lookup_elem
    code = b"".join(
        [
            _insn(0x18, dst=1),  # r1 = &outer (ld_imm64, fd filled in at load)
            _insn(0),
            _insn(0x62, dst=10, off=-4, imm=0),  # *(u32 *)(r10 - 4) = 0
            _insn(0xBF, dst=2, src=10),  # r2 = r10
            _insn(0x07, dst=2, imm=-4),  # r2 += -4
            _insn(0x85, imm=lookup),  # r0 = lookup(outer, &key)
            _insn(0x15, dst=0, off=7),  # if r0 == 0 goto miss
            _insn(0xBF, dst=1, src=0),  # r1 = r0 (the inner map)
            _insn(0xBF, dst=2, src=10),  # r2 = r10
            _insn(0x07, dst=2, imm=-4),  # r2 += -4
            _insn(0x85, imm=lookup),  # r0 = lookup(inner, &key)
            _insn(0x15, dst=0, off=2),  # if r0 == 0 goto miss
            _insn(0x61, dst=0, src=0),  # r0 = *(u32 *)r0
            _insn(0x95),  # exit
            _insn(0xB7, dst=0, imm=NOT_FOUND),  # miss: r0 = NOT_FOUND
            _insn(0x95),  # exit
        ]
    )
    return ProgramSpec(
        name="demo_read",
        type=ProgType.XDP,
        instructions=code,
        license="GPL",
        map_refs=[MapRef(0, "outer")],
    )


def _config(value: int, name: str) -> Map[bytes]:
    m: Map[bytes] = Map.create(MapSpec(**{**_CONFIG.__dict__, "name": name}))
    try:
        m[0] = value
    except BaseException:
        m.close()
        raise
    return m


def run(out: TextIO) -> None:
    """Run the demo, writing what happens to ``out``.

    Raises:
        BPFError: the kernel refused a step (e.g. no privileges).
        RuntimeError: a map the demo made is still in the system at the end.
    """
    start = time.monotonic()
    before = set(map_ids())
    made: set[int] = set()
    packet = bytes(64)
    spec = MapSpec(
        MapType.ARRAY_OF_MAPS,
        key_size=4,
        value_size=4,
        max_entries=4,
        name="demo_outer",
        inner=_CONFIG,
    )
    with Map.create(spec) as outer:
        assert isinstance(outer, OuterMap)
        made.add(outer.id)
        out.write(f"created ARRAY_OF_MAPS 'demo_outer' id {outer.id}; its template is closed\n")
        with Program.load(program_spec(), {"outer": outer}) as prog:
            out.write(
                f"loaded XDP program '{prog.name}' id {prog.id}: returns outer[0] -> inner[0]\n"
            )
            out.write(f"  test_run with slot 0 empty: {prog.test_run(packet).retval}\n")
            with _config(100, "config_v1") as v1:
                made.add(v1.id)
                outer[0] = v1  # the kernel takes the inner map's fd ...
                out.write(f"slot 0 <- fd {v1.fd} (config_v1, config[0] = 100)\n")
            out.write("closed our fd of config_v1: the outer map keeps it alive\n")
            out.write(f"lookup slot 0 -> inner map id {outer[0]}  (... and gives back its id)\n")
            opened = outer.get_map(0)
            assert opened is not None
            with opened as got:
                out.write(
                    f"opened id {got.id} by id: '{got.name}' config[0] = "
                    f"{int.from_bytes(got[0], 'little')}\n"
                )
            out.write(f"  test_run: {prog.test_run(packet).retval}\n")
            with _config(200, "config_v2") as v2, _config(300, "spare") as spare:
                made |= {v2.id, spare.id}
                outer[0] = v2
                outer[1] = spare
                out.write(
                    f"swapped slot 0 to config_v2 (id {v2.id}) in one update;"
                    f" put 'spare' in slot 1\n"
                )
            out.write(f"  test_run: {prog.test_run(packet).retval}  (old or new, never half)\n")
            del outer[1]
            out.write("deleted slot 1\n")
            for key, inner_id in outer.items():
                slot = int.from_bytes(key, "little")
                inner = outer.get_map(key)
                if inner is None:
                    continue
                with inner:
                    values = [int.from_bytes(v, "little") for v in inner.values()]
                    out.write(
                        f"tree: demo_outer [{slot}] -> id {inner_id} '{inner.name}' {values}\n"
                    )
    deadline = time.monotonic() + 5
    while (left := (set(map_ids()) - before) & made) and time.monotonic() < deadline:
        time.sleep(0.01)
    if left:
        raise RuntimeError(f"demo left maps behind: ids {sorted(left)}")
    out.write(
        f"closed everything: all {len(made)} maps the demo made are gone"
        f" ({time.monotonic() - start:.2f} s)\n"
    )
