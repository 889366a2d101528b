"""An asyncio service that reads events from a ring buffer while it updates maps.

``guard`` (in ``async_guard.bpf.c``), an XDP program, counts each IPv4
source's packets and writes an alert into the ring buffer ``alerts`` when a
source reaches the threshold in ``config``. The service here is three
coroutines on one event loop: ``watch`` reads the alerts with ``async for``
and blocks each source it is told about (an update of ``blocked``),
``traffic`` sends rounds of packets through the program (in a worker thread,
as traffic arriving outside the event loop) and reports the verdicts and
the alerts of each round, and an operator step in between lowers the
threshold and forgives a source (map updates while the watcher keeps reading).

Run it as root from the repository root: ``python examples/async_guard.py``
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct

from buildobj import build

from bpfnest import Collection, CollectionSpec, Map, RingBuffer

ALERT = struct.Struct("<4sI")  # struct alert: saddr (network order), packets
VERDICT = {1: "DROP", 2: "PASS"}
# Each round: source -> packets sent (10.0.0.2 first, then 10.0.0.1).
ROUND = {"10.0.0.2": 1, "10.0.0.1": 4}


def packet(source: str) -> bytes:
    """An Ethernet + IPv4 (UDP) frame from ``source`` to 10.0.0.100."""
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0,
        socket.inet_aton(source), socket.inet_aton("10.0.0.100"),
    )  # fmt: skip
    return (eth + ip).ljust(64, b"\0")


def send_round(coll: Collection) -> dict[str, list[str]]:
    """Send one round of packets; return each source's verdicts (in a thread)."""
    guard = coll.programs["guard"]
    return {
        source: [VERDICT[guard.test_run(packet(source)).retval] for _ in range(count)]
        for source, count in ROUND.items()
    }


async def watch(ring: RingBuffer, blocked: Map, told: asyncio.Queue[str]) -> None:
    """Block every source an alert names; tell ``traffic`` about it."""
    async for record in ring:  # ends when the ring is closed
        saddr, packets = ALERT.unpack(record)
        blocked[saddr] = 1
        await told.put(f"{socket.inet_ntoa(saddr)} reached {packets} packets -> blocked")


async def traffic(coll: Collection, told: asyncio.Queue[str], alerts: int) -> list[str]:
    """Send a round, print its verdicts and the ``alerts`` it is expected to
    raise (waiting for the watcher to act on them)."""
    verdicts = await asyncio.to_thread(send_round, coll)
    lines = [
        ", ".join(
            f"{source} {' '.join(f'{v} x{n}' for v, n in collections.Counter(got).items())}"
            for source, got in sorted(verdicts.items())
        )
    ]
    for _ in range(alerts):
        lines.append("  alert: " + await asyncio.wait_for(told.get(), timeout=5))
    return lines


async def service(coll: Collection) -> list[str]:
    config, counts, blocked = (coll.maps[n] for n in ("config", "counts", "blocked"))
    config[0] = 8
    out = ["threshold: 8 packets a source"]
    told: asyncio.Queue[str] = asyncio.Queue()
    with RingBuffer(coll.maps["alerts"]) as ring:
        watcher = asyncio.create_task(watch(ring, blocked, told))
        # 10.0.0.1 sends 4 packets a round: it reaches 8 at the end of round 2.
        for number, alerts in enumerate([0, 1, 0], start=1):
            lines = await traffic(coll, told, alerts)
            out.append(f"round {number}: {lines[0]}")
            out += lines[1:]
        # The operator: a lower threshold, and 10.0.0.1 forgiven.
        config[0] = 4
        forgiven = socket.inet_aton("10.0.0.1")
        del blocked[forgiven]
        del counts[forgiven]
        out.append("operator: threshold 4, 10.0.0.1 unblocked and its count reset")
        for number, alerts in enumerate([2, 0], start=4):
            lines = await traffic(coll, told, alerts)
            out.append(f"round {number}: {lines[0]}")
            out += lines[1:]
        ring.close()  # ends the watcher's async for
        await watcher
    assert told.empty()
    return out


def main() -> None:
    with CollectionSpec.from_file(build("async_guard")).load() as coll:
        out = asyncio.run(service(coll))
        print("\n".join(out))
        blocked = sorted(socket.inet_ntoa(k) for k in coll.maps["blocked"])
        print(f"blocked: {blocked}")
    assert out[2:4] == [
        "round 2: 10.0.0.1 PASS x4, 10.0.0.2 PASS x1",
        "  alert: 10.0.0.1 reached 8 packets -> blocked",
    ]
    assert out[4] == "round 3: 10.0.0.1 DROP x4, 10.0.0.2 PASS x1"
    assert out[-1] == "round 5: 10.0.0.1 DROP x4, 10.0.0.2 DROP x1"
    assert blocked == ["10.0.0.1", "10.0.0.2"]


if __name__ == "__main__":
    main()
