"""Per-tenant XDP policy tables in a HASH_OF_MAPS, replaced under live traffic.

Two network namespaces made here and removed at the end (see netlab.py): the
tenants' side, where ``s0`` holds the tenants' addresses, and the edge,
where ``tenant_policy`` (in ``tenants_live.bpf.c``) runs as XDP on ``in0``::

    tenants: s0 (10.200.2.10 acme, 10.200.2.20 globex) ---- in0 (10.200.2.1) :edge

``tenants`` maps a tenant's source address to its policy table (UDP port ->
XDP verdict). A sender thread sends numbered UDP datagrams from both tenants
to the edge's port 9999 without pause; meanwhile the script replaces acme's
table twice: no rules (drop all), then 9999 allowed, then only port 53.
Each replacement is one update of the outer map. The datagrams the edge's
socket receives, and the program's per-tenant counters, show that every
datagram followed the table in place when it arrived: acme's received
datagrams are one unbroken run, and globex, whose table never changes,
loses none.

Run it as root from the repository root: ``python examples/tenants_live.py``
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import struct
import threading
import time
from collections.abc import Callable

from buildobj import build
from netlab import Lab

from bpfnest import CollectionSpec, Map, MapSpec

XDP_DROP, XDP_PASS = 1, 2
EDGE, PORT = "10.200.2.1", 9999
TENANTS = {"acme": "10.200.2.10", "globex": "10.200.2.20"}
MOST = 5000  # datagrams per tenant at the most: bounded traffic
STEP = 30  # datagrams a policy must have handled before the next change
WINDOW = 64  # datagrams the sender may be ahead of the edge's reading
TALLY = struct.Struct("<QQ")  # struct tally: passed, dropped


def key(addr: str) -> bytes:
    """A tenant's key: its IPv4 address in network order, as the program reads it."""
    return socket.inet_aton(addr)


class Sender(threading.Thread):
    """Sends datagram 0, 1, 2, ... from every tenant to EDGE:PORT until stopped.

    It stays at most WINDOW datagrams ahead of ``received()`` (what the edge
    has read of a tenant whose datagrams all pass), so that the edge's socket
    buffer never overflows, even while the main thread waits in an update.
    """

    def __init__(self, sockets: list[socket.socket], received: Callable[[], int]) -> None:
        super().__init__(name="sender")
        self.sockets, self.received = sockets, received
        self.sent, self.stop = 0, threading.Event()

    def run(self) -> None:
        while self.sent < MOST and not self.stop.is_set():
            if self.sent - self.received() < WINDOW:
                for sock in self.sockets:
                    sock.sendto(self.sent.to_bytes(4, "big") * 8, (EDGE, PORT))
                self.sent += 1
            time.sleep(0.0005)


def main() -> None:
    spec = CollectionSpec.from_file(build("tenants_live"))
    template = spec.maps["tenants"].inner  # struct policy: HASH, u16 port -> u32 verdict
    assert isinstance(template, MapSpec)

    with Lab() as lab, spec.load() as coll, contextlib.ExitStack() as stack:
        side, edge = lab.netns("tenants"), lab.netns("edge")
        lab.veth(side, "s0", edge, "in0")
        edge.address("in0", f"{EDGE}/24")
        for addr in TENANTS.values():
            side.address("s0", f"{addr}/24")
            edge.neighbour("in0", addr, side.mac("s0"))
        side.neighbour("s0", EDGE, edge.mac("in0"))  # no ARP: every datagram is a frame

        tenants, stats = coll.maps["tenants"], coll.maps["stats"]

        def policy(name: str, rules: dict[int, int]) -> Map[bytes]:
            """A tenant's table made from the template: {port: verdict}."""
            table: Map[bytes] = Map.create(dataclasses.replace(template, name=name))
            for port, verdict in rules.items():
                table[port] = verdict
            return table

        def install(addr: str, name: str, rules: dict[int, int]) -> None:
            with policy(name, rules) as table:  # ours closes; the outer map keeps it
                tenants[key(addr)] = table  # one update: the old table or the new

        for addr in TENANTS.values():
            stats[key(addr)] = TALLY.pack(0, 0)  # the program counts only known tenants
        install(TENANTS["acme"], "acme_v1", {})  # no rules: everything dropped
        install(TENANTS["globex"], "globex_v1", {PORT: XDP_PASS})

        with edge.entered():
            link = stack.enter_context(coll.programs["tenant_policy"].attach_xdp("in0"))
        print(f"tenant_policy on edge/in0: link id {link.id}")

        rx = edge.udp_socket(bind=(EDGE, PORT))
        got: dict[str, list[int]] = {name: [] for name in TENANTS}
        by_addr = {addr: name for name, addr in TENANTS.items()}

        def tally(name: str) -> tuple[int, int]:
            passed, dropped = TALLY.unpack(stats[key(TENANTS[name])])
            return passed, dropped

        def receive_until(done: Callable[[], bool], what: str) -> None:
            """Read the edge's socket until ``done()`` (at most 10 s)."""
            deadline = time.monotonic() + 10
            while not done():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                try:
                    data, (addr, _) = rx.recvfrom(64)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                got[by_addr[addr]].append(int.from_bytes(data[:4], "big"))

        senders = [side.udp_socket(bind=(addr, 0)) for addr in TENANTS.values()]
        sender = Sender(senders, lambda: len(got["globex"]))
        sender.start()
        try:
            receive_until(lambda: tally("acme")[1] >= STEP, "acme's drops under v1")
            install(TENANTS["acme"], "acme_v2", {PORT: XDP_PASS})
            receive_until(lambda: tally("acme")[0] >= STEP, "acme's passes under v2")
            dropped_before = tally("acme")[1]
            install(TENANTS["acme"], "acme_v3", {53: XDP_PASS})  # by port: 9999 no more
            receive_until(lambda: tally("acme")[1] >= dropped_before + STEP, "drops under v3")
        finally:
            sender.stop.set()
            sender.join()
        sent = sender.sent
        # Every datagram sent has been judged, and every one passed has been read.
        receive_until(lambda: sum(tally("acme")) == sum(tally("globex")) == sent, "the tail")
        receive_until(lambda: len(got["acme"]) == tally("acme")[0], "acme's datagrams")
        receive_until(lambda: len(got["globex"]) == sent, "globex's datagrams")

        acme = got["acme"]
        first, last = acme[0], acme[-1]
        print(f"sent {sent} datagrams from each tenant while acme's table was replaced twice")
        print(f"  acme    #0..#{first - 1}: dropped (acme_v1: no rules)")
        print(f"  acme    #{first}..#{last}: received (acme_v2: {PORT} passes)")
        print(f"  acme    #{last + 1}..#{sent - 1}: dropped (acme_v3: only port 53)")
        print(f"  globex  #0..#{sent - 1}: received (globex_v1, never replaced)")
        passed, dropped = tally("acme")
        print(f"  counters: acme passed {passed} dropped {dropped}, globex {tally('globex')}")
        # One unbroken run: no datagram of acme's followed an old table after
        # a newer one was in place, and none was lost or reordered.
        assert acme == list(range(first, last + 1)), "acme's received datagrams have a gap"
        assert dropped == first + (sent - 1 - last) and passed == len(acme)
        assert first >= STEP and sent - 1 - last >= STEP
        assert got["globex"] == list(range(sent)) and tally("globex") == (sent, 0)
    print("link closed, namespaces and their devices removed")


if __name__ == "__main__":
    main()
