"""The end-to-end map-in-map example of the README, on the real kernel.

Creates an ARRAY_OF_MAPS from a template, loads a small XDP program (built
here, instruction by instruction: no compiler needed) that reads
``outer[0]`` -> ``inner[0]``, puts an inner map in by fd, reads its id back,
runs the program with ``test_run``, swaps the inner map and shows that the
program sees the new one, deletes a slot, prints the tree, and closes
everything it made, checking that no map it created is left in the system.

Then, where it can (root, iproute2's ``ip``, network namespaces), it attaches
a second program (:func:`xdp_count_spec`) as XDP to a veth pair in a network
namespace of its own: frames sent into the pair are counted in the inner map
found through an outer map, and swapping the inner map under traffic moves
the count to the new map. The namespace, and the veth pair with it, is gone
when the demo ends, in any way. Where it cannot, it says why in one line.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from typing import TextIO

from ._sys import netns
from ._sys.fd import FD
from .constants import MapType, ProgType
from .link import link_ids
from .maps import Map, OuterMap, map_ids
from .programs import Program
from .spec import MapRef, MapSpec, ProgramSpec

__all__ = ["program_spec", "run", "xdp_count_spec", "xdp_on_veth"]

_CONFIG = MapSpec(MapType.ARRAY, key_size=4, value_size=4, max_entries=4, name="config")
NOT_FOUND = 1000  # what the program returns when slot 0 is empty


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _through_outer(start: int, miss: int) -> list[bytes]:
    """12 instructions from index ``start``: ``r0 = &inner[0]`` of the map in
    slot 0 of ``outer`` (the ld_imm64 at ``start``), or a jump to instruction
    ``miss`` when the slot or the element is empty."""
    lookup = 1  # bpf_map_lookup_elem
    return [
        _insn(0x18, dst=1),  # r1 = &outer (ld_imm64, fd filled in at load)
        _insn(0),
        _insn(0x62, dst=10, off=-4, imm=0),  # *(u32 *)(r10 - 4) = 0
        _insn(0xBF, dst=2, src=10),  # r2 = r10
        _insn(0x07, dst=2, imm=-4),  # r2 += -4
        _insn(0x85, imm=lookup),  # r0 = lookup(outer, &key)
        _insn(0x15, dst=0, off=miss - (start + 7)),  # if r0 == 0 goto miss
        _insn(0xBF, dst=1, src=0),  # r1 = r0 (the inner map)
        _insn(0xBF, dst=2, src=10),  # r2 = r10
        _insn(0x07, dst=2, imm=-4),  # r2 += -4
        _insn(0x85, imm=lookup),  # r0 = lookup(inner, &key)
        _insn(0x15, dst=0, off=miss - (start + 12)),  # if r0 == 0 goto miss
    ]


def program_spec() -> ProgramSpec:
    """An XDP program returning ``inner[0]`` of the map in slot 0 of ``outer``
    (``NOT_FOUND`` when the slot is empty). Little-endian instructions."""
    code = b"".join(
        [
            *_through_outer(start=0, miss=14),  # r0 = &inner[0], or goto miss
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


ETHERTYPE = 0x88B5  # IEEE "local experimental": frames only the demo sends
_LOADED_ETHERTYPE = int.from_bytes(ETHERTYPE.to_bytes(2, "big"), "little")
XDP_DROP, XDP_PASS = 1, 2


def xdp_count_spec() -> ProgramSpec:
    """An XDP program counting frames of ethertype ``ETHERTYPE`` in ``inner[0]``
    (a u32, atomic add) of the map in slot 0 of ``outer``, and dropping them;
    every other frame passes. Little-endian instructions."""
    passed = 24  # the index of `pass:`
    code = b"".join(
        [
            _insn(0xBF, dst=6, src=1),  # r6 = ctx
            _insn(0x61, dst=2, src=6, off=4),  # r2 = ctx->data_end
            _insn(0x61, dst=1, src=6, off=0),  # r1 = ctx->data
            _insn(0xBF, dst=3, src=1),  # r3 = r1
            _insn(0x07, dst=3, imm=14),  # r3 += 14 (an Ethernet header)
            _insn(0x2D, dst=3, src=2, off=passed - 6),  # if r3 > r2 goto pass
            _insn(0x69, dst=4, src=1, off=12),  # r4 = *(u16 *)(r1 + 12): ethertype
            # if r4 != ETHERTYPE goto pass (the wire's big-endian bytes, loaded little-endian)
            _insn(0x55, dst=4, off=passed - 8, imm=_LOADED_ETHERTYPE),
            *_through_outer(start=8, miss=passed),  # r0 = &inner[0], or goto pass
            _insn(0xB7, dst=1, imm=1),  # r1 = 1
            _insn(0xC3, dst=0, src=1),  # lock *(u32 *)r0 += r1
            _insn(0xB7, dst=0, imm=XDP_DROP),  # r0 = XDP_DROP
            _insn(0x95),  # exit
            _insn(0xB7, dst=0, imm=XDP_PASS),  # pass: r0 = XDP_PASS
            _insn(0x95),  # exit
        ]
    )
    return ProgramSpec(
        name="demo_count",
        type=ProgType.XDP,
        instructions=code,
        license="GPL",
        map_refs=[MapRef(8, "outer")],
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
    xdp_on_veth(out)


def _ip_command() -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=search)


def _ip(command: str, *args: str) -> None:
    proc = subprocess.run([command, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _namespace() -> FD | str:
    """A new network namespace for the veth pair, or why there cannot be one."""
    if os.geteuid() != 0:
        return "needs root"
    if _ip_command() is None:
        return "iproute2's ip is not installed"
    try:
        return netns.new_netns()
    except OSError as err:
        return f"cannot make a network namespace: {err.strerror}"


def _frames(count: int, ifname: str) -> None:
    """Send ``count`` frames of ETHERTYPE out of ``ifname`` (a packet socket)."""
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + ETHERTYPE.to_bytes(2, "big")
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        for _ in range(count):
            sock.send(frame + bytes(50))


def _counted(inner: Map[bytes], want: int) -> int:
    """``inner[0]`` once it reaches ``want`` (or after 3 s, whatever it is)."""
    deadline = time.monotonic() + 3
    while (n := int.from_bytes(inner[0], "little")) < want and time.monotonic() < deadline:
        time.sleep(0.005)
    return n


def xdp_on_veth(out: TextIO) -> bool:
    """Attach :func:`xdp_count_spec` to a veth pair in a network namespace made
    here, send frames, swap the inner map under traffic, and show the counts;
    everything is removed at the end. Where this cannot run (not root, no
    ``ip``, no network namespaces) write one line saying why and return False.

    Minimum kernel: 5.9 (XDP links).

    Raises:
        BPFError: the kernel refused a step.
        RuntimeError: an ``ip`` command failed, a count is not what was sent,
            or a map or link the demo made is still in the system at the end.
    """
    ns = _namespace()
    if isinstance(ns, str):
        out.write(f"XDP on a veth pair: skipped ({ns})\n")
        return False
    command = _ip_command() or "ip"
    start = time.monotonic()
    made: set[int] = set()
    with ns, netns.entered(ns):  # the namespace goes with the fd: veths too
        _ip(command, "link", "add", "demo0", "type", "veth", "peer", "name", "demo1")
        for dev in ("demo0", "demo1"):
            _ip(command, "link", "set", "dev", dev, "up")
        spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 1, name="demo_counts", inner=_CONFIG)
        with Map.create(spec) as outer, _config(0, "frames_a") as a, _config(0, "frames_b") as b:
            made |= {outer.id, a.id, b.id}
            outer[0] = a
            prog = Program.load(xdp_count_spec(), {"outer": outer})
            with prog, prog.attach_xdp("demo0") as link:
                lid = link.id
                out.write(
                    f"attached XDP program '{prog.name}' to demo0 (a veth pair in a network"
                    f" namespace of its own): link id {lid}\n"
                )
                _frames(3, "demo1")
                got_a = _counted(a, 3)
                out.write(f"  sent 3 frames: outer[0] -> frames_a counts {got_a}\n")
                outer[0] = b  # under traffic: the next frames count in frames_b
                _frames(5, "demo1")
                got_b = _counted(b, 5)
                now_a = int.from_bytes(a[0], "little")
                out.write(
                    f"  swapped outer[0] to frames_b, sent 5: frames_b counts {got_b},"
                    f" frames_a stays {now_a}\n"
                )
                if (got_a, got_b, now_a) != (3, 5, 3):
                    raise RuntimeError(f"XDP counts {got_a}, {got_b}, {now_a}; sent 3 and 5")
    deadline = time.monotonic() + 5
    while (left := (made & set(map_ids())) | ({lid} & set(link_ids()))) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.01)
    if left:
        raise RuntimeError(f"demo left maps or links behind: ids {sorted(left)}")
    out.write(
        f"closed the link, the {len(made)} maps and the namespace with its veth pair"
        f" ({time.monotonic() - start:.2f} s)\n"
    )
    return True
