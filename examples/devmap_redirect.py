"""An ARRAY_OF_MAPS of DEVMAPs, as in the kernel's map_of_maps documentation.

The XDP program ``redirect_by_priority`` looks up a DEVMAP in ``outer_map``
(slot 0: high priority, slot 1: low priority) and calls
``bpf_redirect_map(devmap, 0, XDP_PASS)``. This script loads it, puts the
loopback device (ifindex 1) into the devmaps from Python, swaps in a DEVMAP
made in Python, and runs the program with BPF_PROG_TEST_RUN to show its
verdict: XDP_PASS (2) while the devmap has no device at key 0, XDP_REDIRECT
(4) once it has one. No network device is created or changed.

Run it as root from the repository root: ``python examples/devmap_redirect.py``
"""

from __future__ import annotations

import socket

from buildobj import build

from bpfnest import CollectionSpec, Map, MapType

XDP_PASS, XDP_REDIRECT = 2, 4
VERDICT = {XDP_PASS: "XDP_PASS", XDP_REDIRECT: "XDP_REDIRECT"}
# An Ethernet frame (broadcast, IPv4 ethertype) padded to 64 bytes: test_run
# needs at least an Ethernet header; the program never reads it.
PACKET = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(50)


def main() -> None:
    lo = socket.if_nametoindex("lo")  # 1 on Linux
    spec = CollectionSpec.from_file(build("devmap_redirect"))
    print(f"declared slots of outer_map: {dict(spec.maps['outer_map'].contents or {})}")

    with spec.load() as coll:
        outer = coll.maps["outer_map"]
        high, low = coll.maps["inner_map1"], coll.maps["inner_map2"]
        prog = coll.programs["redirect_by_priority"]

        def verdict(priority: int, what: str) -> int:
            coll.set_global("priority", priority)
            res = prog.test_run(PACKET).retval
            print(f"  priority {priority}, {what:<28} -> {VERDICT[res]} ({res})")
            return res

        assert outer[0] == high.id and outer[1] == low.id  # filled at load, ids come back
        print(f"outer_map: slot 0 -> DEVMAP id {outer[0]}, slot 1 -> DEVMAP id {outer[1]}")

        # bpf_redirect_map's fallback: no device at key 0 of the devmap.
        assert verdict(0, "inner_map1 empty") == XDP_PASS

        high[0] = lo  # key 0 of the high-priority devmap: the loopback device
        print(f"inner_map1[0] = {int.from_bytes(high[0], 'little')} (lo)")
        assert verdict(0, "lo in inner_map1") == XDP_REDIRECT

        assert verdict(1, "inner_map2 empty") == XDP_PASS

        # A devmap made in Python, shaped like the template, replaces slot 1.
        # Note the flags: the kernel adds BPF_F_RDONLY_PROG (0x80) to every DEVMAP.
        with Map.create(spec.maps["inner_map2"]) as fresh:
            assert fresh.type == MapType.DEVMAP
            fresh[0] = lo
            outer[1] = fresh  # fd in ...
            assert outer[1] == fresh.id  # ... id out
            print(f"slot 1 <- new DEVMAP id {fresh.id} (flags {fresh.flags:#x}) holding lo")
        # Our fd is closed; the outer map keeps the devmap alive.
        assert verdict(1, "new devmap in slot 1") == XDP_REDIRECT

        del high[0]  # take the device out of the high-priority devmap again
        assert verdict(0, "lo removed") == XDP_PASS


if __name__ == "__main__":
    main()
