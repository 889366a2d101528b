"""Per-tenant firewall tables in a HASH_OF_MAPS keyed by tenant id.

``tenants`` (declared in ``tenants.bpf.c``) maps a tenant id to that
tenant's own HASH table of rules (UDP port -> XDP verdict). The XDP program
``tenant_firewall`` takes the tenant id from the packet's VLAN tag, looks up
the tenant's table and returns the rule's verdict (drop when the tenant or
the rule is missing).

The script adds three tenants (one batch: one RCU wait), lists them with
``items()``, ``open_inner()`` and ``inner_lookup()``, updates one tenant's table
in place and replaces another's atomically, removes a tenant, and checks
each step with BPF_PROG_TEST_RUN on hand-made VLAN/IPv4/UDP packets.

Run it as root from the repository root: ``python examples/tenants.py``
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct

from buildobj import build

from bpfnest import CollectionSpec, Map, MapSpec, OuterMap

XDP_DROP, XDP_PASS = 1, 2
VERDICT = {XDP_DROP: "DROP", XDP_PASS: "PASS"}
NAMES = {10: "acme", 20: "globex", 30: "initech"}


def packet(tenant: int, port: int) -> bytes:
    """An Ethernet frame tagged with VLAN ``tenant``, carrying IPv4/UDP to ``port``."""
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"  # dst, src MAC
    vlan = struct.pack("!HHH", 0x8100, tenant & 0x0FFF, 0x0800)  # TPID, TCI, IPv4
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    )
    udp = struct.pack("!HHHH", 40000, port, 8, 0)
    return (eth + vlan + ip + udp).ljust(64, b"\0")


def rules_of(table: Map) -> dict[int, str]:
    """A tenant's table as {port: verdict name}."""
    return dict(
        sorted(
            (int.from_bytes(k, "little"), VERDICT[int.from_bytes(v, "little")])
            for k, v in table.items()
        )
    )


def main() -> None:
    spec = CollectionSpec.from_file(build("tenants"))
    rules = spec.maps["tenants"].inner  # `struct rules`: HASH, u16 port -> u32 verdict
    assert isinstance(rules, MapSpec)

    with spec.load() as coll:
        tenants = coll.maps["tenants"]
        assert isinstance(tenants, OuterMap)
        prog = coll.programs["tenant_firewall"]

        def verdict(tenant: int, port: int) -> str:
            return VERDICT[prog.test_run(packet(tenant, port)).retval]

        def listing(title: str) -> None:
            print(title)
            # items() yields (key bytes, inner map id): the kernel gives ids, not fds.
            ids = {int.from_bytes(key, "little"): inner_id for key, inner_id in tenants.items()}
            for tenant, inner_id in sorted(ids.items()):
                with tenants.open_inner(tenant) as table:  # opened by id: ours to close
                    print(
                        f"  tenant {tenant} ({NAMES[tenant]}): table id {inner_id},"
                        f" max_entries {table.max_entries}, rules {rules_of(table)}"
                    )

        # Add: each tenant gets its own table; initech needs a bigger one (a
        # HASH inner map may have its own max_entries). One batch, one RCU wait.
        with contextlib.ExitStack() as stack:
            tables = {}
            for tenant, size, allowed in (
                (10, 64, (80, 443)),
                (20, 64, (22,)),
                (30, 4096, (53, 123)),
            ):
                spec_t = dataclasses.replace(rules, name=f"rules_{tenant}", max_entries=size)
                table = stack.enter_context(Map.create(spec_t))
                for port in allowed:
                    table[port] = XDP_PASS
                tables[tenant] = table
            tenants.update_batch(tables)  # fds in
        # Our fds are closed: the outer map holds the tables now.
        listing("added 3 tenants:")
        assert len(list(tenants)) == 3

        checks = {(10, 80): "PASS", (10, 22): "DROP", (20, 22): "PASS", (30, 53): "PASS"}
        checks[40, 80] = "DROP"  # tenant 40 has no table
        seen = {tp: verdict(*tp) for tp in checks}
        print("program: " + ", ".join(f"{t}:{p} {v}" for (t, p), v in seen.items()))
        assert seen == checks

        # Read one rule without opening anything yourself: slot, then element.
        raw = tenants.inner_lookup(10, 443)
        print(f"inner_lookup(10, 443) -> {VERDICT[int.from_bytes(raw, 'little')]}")
        assert raw == XDP_PASS.to_bytes(4, "little")
        assert tenants.inner_lookup(10, 22) is None and tenants.inner_lookup(40, 80) is None

        # Update in place: one more rule in globex's live table.
        with tenants.open_inner(20) as table:
            table[80] = XDP_PASS
        assert verdict(20, 80) == "PASS"

        # Update by replacement: acme's new rule set goes in whole, in one update.
        old_id = tenants[10]
        with Map.create(dataclasses.replace(rules, name="rules_10")) as table:
            table[8443] = XDP_PASS  # 80 and 443 are gone, 8443 is new
            tenants[10] = table
            assert tenants[10] == table.id != old_id
        listing("updated globex in place (+80), replaced acme's table:")
        seen = {tp: verdict(*tp) for tp in ((10, 80), (10, 8443), (20, 80))}
        print("program: " + ", ".join(f"{t}:{p} {v}" for (t, p), v in seen.items()))
        assert seen == {(10, 80): "DROP", (10, 8443): "PASS", (20, 80): "PASS"}

        # Remove: globex's table is dropped with its key; its traffic is dropped.
        del tenants[20]
        listing("removed tenant 20:")
        print(f"program: 20:22 {verdict(20, 22)}")
        assert 20 not in tenants and verdict(20, 22) == "DROP"
        assert sorted(int.from_bytes(k, "little") for k in tenants) == [10, 30]


if __name__ == "__main__":
    main()
