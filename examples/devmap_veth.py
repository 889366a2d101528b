"""An array of devmaps redirecting real packets between veth pairs.

Four network namespaces made here and removed at the end (see netlab.py):
a sender ``src``, a router ``fwd`` and two receivers ``a`` and ``b``,
joined by veth pairs::

    src: s0 ---- in0 :fwd: outa ---- a0 :a
                       fwd: outb ---- b0 :b

``forward`` (in ``devmap_veth.bpf.c``) runs as XDP on ``in0`` and redirects
every frame through the DEVMAP in slot ``priority`` of ``outer_map`` (an
ARRAY_OF_MAPS). ``arrive_a`` on ``a0`` and ``arrive_b`` on ``b0`` count the
datagrams that reach them. The script sends bounded bursts of UDP from
``src`` and, between bursts, changes where they go: it swaps the devmap in
slot 0, switches ``priority`` to slot 1, and empties the slot. The counters
show that each burst came out of the device the outer map chose.

Run it as root from the repository root: ``python examples/devmap_veth.py``
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

from buildobj import build
from netlab import Lab, Netns

from bpfnest import Collection, CollectionSpec, Map, MapSpec

BURST = 20  # datagrams per burst: bounded traffic
ROUTER, SENDER = "10.200.1.2", "10.200.1.1"


def count(coll: Collection) -> dict[str, int]:
    """The receivers' counters and the frames the router kept."""
    arrivals = coll.maps["arrivals"]
    return {
        "a": int.from_bytes(arrivals[0], "little"),
        "b": int.from_bytes(arrivals[1], "little"),
        "passed": int.from_bytes(coll.get_global("passed"), "little"),
    }


def burst(coll: Collection, send: Callable[[], None], expect: dict[str, int]) -> dict[str, int]:
    """Send a burst; wait (up to 5 s) until the counters reach ``expect``."""
    send()
    deadline = time.monotonic() + 5
    while (seen := count(coll)) != expect and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


def devmap(template: MapSpec, router: Netns, name: str, ifname: str) -> Map[bytes]:
    """A DEVMAP shaped like the template with ``ifname`` (of the router) at key 0."""
    ports: Map[bytes] = Map.create(dataclasses.replace(template, name=name))
    # A devmap stores an ifindex and the kernel resolves it in the network
    # namespace of the writer: write from inside the router's namespace.
    with router.entered():
        ports[0] = router.ifindex(ifname)
    return ports


def main() -> None:
    spec = CollectionSpec.from_file(build("devmap_veth"))
    template = spec.maps["outer_map"].inner  # struct ports: DEVMAP, u32 -> ifindex
    assert isinstance(template, MapSpec)

    with Lab() as lab, spec.load() as coll, contextlib.ExitStack() as links:
        src, fwd, a, b = (lab.netns(name) for name in ("src", "fwd", "a", "b"))
        lab.veth(src, "s0", fwd, "in0")
        lab.veth(fwd, "outa", a, "a0")
        lab.veth(fwd, "outb", b, "b0")
        src.address("s0", f"{SENDER}/30")
        src.neighbour("s0", ROUTER, fwd.mac("in0"))  # no ARP: every datagram is a frame

        # Attach by name inside each namespace. The receivers' programs also
        # matter for delivery: a veth hands redirected (native XDP) frames to
        # its peer only when the peer has an XDP program.
        for ns, prog, ifname in (
            (fwd, "forward", "in0"),
            (a, "arrive_a", "a0"),
            (b, "arrive_b", "b0"),
        ):
            with ns.entered():
                link = links.enter_context(coll.programs[prog].attach_xdp(ifname))
            info = link.info()  # the kernel's view: XDP link, ifindex in that namespace
            print(f"{prog} on {ns.name}/{ifname}: link id {link.id}, ifindex {info.ifindex}")

        tx = src.udp_socket()

        def send() -> None:
            for i in range(BURST):
                tx.sendto(i.to_bytes(4, "little") * 8, (ROUTER, 9999))

        outer = coll.maps["outer_map"]
        expect = {"a": 0, "b": 0, "passed": 0}

        def step(what: str, **more: int) -> None:
            for key, n in more.items():
                expect[key] += n
            seen = burst(coll, send, expect)
            print(f"  {what:<42} a={seen['a']:<3} b={seen['b']:<3} passed={seen['passed']}")
            assert seen == expect, f"{what}: expected {expect}, saw {seen}"

        print(f"bursts of {BURST} UDP datagrams from src to {ROUTER}:9999; counters after each:")
        with (
            devmap(template, fwd, "to_a", "outa") as to_a,
            devmap(template, fwd, "to_b", "outb") as to_b,
        ):
            outer[0] = to_a  # fd in ...
            assert outer[0] == to_a.id  # ... id out
            step("slot 0 -> devmap to_a (outa)", a=BURST)

            outer[0] = to_b  # one update swaps the whole set of devices
            step("slot 0 swapped to devmap to_b (outb)", b=BURST)

            outer[1] = to_a
            coll.set_global("priority", 1)  # the program reads slot 1 now
            step("priority 1, slot 1 -> to_a", a=BURST)
        # Our devmap fds are closed; the outer map keeps both devmaps alive.
        step("devmaps closed in Python, still used", a=BURST)

        del outer[1]  # the program finds no devmap: XDP_PASS, the router keeps them
        step("slot 1 emptied", passed=BURST)
    print("links closed, namespaces and their devices removed")


if __name__ == "__main__":
    main()
