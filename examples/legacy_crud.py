"""Create, read, update and delete inner maps, with a legacy SEC("maps") outer map.

``legacy_crud.bpf.c`` declares ``outer``, a HASH_OF_MAPS, as a legacy
``struct bpf_map_def``: that form cannot say what the inner maps look like,
so loading it as is fails with a ValueError naming the map. The script gives
the inner map first (``spec.maps["outer"].inner = MapSpec(...)``; a ``Map``
works too), loads, and then walks through the CRUD of inner maps from
Python. After each step the XDP program, which reads the key from the
packet's first 4 bytes, shows what it sees through ``outer``.

Run it as root from the repository root: ``python examples/legacy_crud.py``
"""

from __future__ import annotations

import errno

from buildobj import build

from bpfnest import EXIST, NOEXIST, BPFError, CollectionSpec, Map, MapSpec, MapType, OuterMap

NOT_FOUND = 0xFFFF
# The inner maps: 4-entry arrays of u32 (the program reads index 0).
INNER = MapSpec(MapType.ARRAY, key_size=4, value_size=4, max_entries=4, name="inner")


def u32(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def main() -> None:
    spec = CollectionSpec.from_file(build("legacy_crud"))
    outer_spec = spec.maps["outer"]
    print(f"spec outer: {outer_spec.type.name}, inner {outer_spec.inner}")
    assert outer_spec.inner is None  # the legacy form has no inner map definition

    try:
        spec.load()
    except ValueError as err:
        print(f"load without an inner map: ValueError: {err}")
        assert "'outer'" in str(err)
    else:
        raise AssertionError("a legacy outer map without an inner map loaded")

    outer_spec.inner = INNER  # or an existing Map of the right shape
    with spec.load() as coll:
        outer = coll.maps["outer"]
        assert isinstance(outer, OuterMap)  # an ARRAY_OF_MAPS: get_map, inner_lookup, ...
        prog = coll.programs["read_outer"]

        def program_sees(key: int) -> int:
            """What the program returns for a packet whose first 4 bytes are ``key``."""
            return prog.test_run(key.to_bytes(4, "little") + bytes(60)).retval

        def show(step: str) -> None:
            seen = {k: program_sees(k) for k in (1, 2, 3)}
            print(f"{step:<44} program sees {seen}")

        show("loaded, outer empty:")
        assert program_sees(1) == NOT_FOUND

        # Create: inner maps go in by fd. NOEXIST: only if the key is new.
        with Map.create(INNER) as a, Map.create(INNER) as b:
            a[0], b[0] = 100, 200
            outer.update(1, a, NOEXIST)
            outer[2] = b  # flags ANY
            ids = {1: a.id, 2: b.id}
        # Our fds are closed; the outer map holds the inner maps.
        show("create: outer[1] = a (100), outer[2] = b:")
        assert (program_sees(1), program_sees(2), program_sees(3)) == (100, 200, NOT_FOUND)

        # Read: a lookup gives the inner map's id, never an fd.
        listing = {u32(k): inner_id for k, inner_id in outer.items()}
        print(f"read: outer.items() -> key: inner id {dict(sorted(listing.items()))}")
        assert listing == ids and outer[1] == ids[1] and 3 not in outer
        with outer.open_inner(2) as m:  # opened by id: ours to close
            print(f"read: open_inner(2) -> id {m.id}, {MapType(m.type).name}, [0] = {u32(m[0])}")
            assert m.id == ids[2] and u32(m[0]) == 200
        assert u32(outer.inner_lookup(1, 0)) == 100  # slot, then element, in one call

        # Update (1): change an inner map's contents in place, through the outer map.
        with outer.open_inner(1) as m:
            m[0] = 111
        show("update in place: outer[1][0] = 111:")
        assert program_sees(1) == 111

        # Update (2): replace the inner map at key 2. EXIST: only if the key is there.
        with Map.create(INNER) as c:
            c[0] = 222
            outer.update(2, c, EXIST)
            assert outer[2] == c.id != ids[2]
        show("update by replacing: outer[2] = c (222):")
        assert program_sees(2) == 222

        # The flags are the kernel's HASH semantics.
        with Map.create(INNER) as d:
            for key, flag, name in ((1, NOEXIST, "NOEXIST"), (3, EXIST, "EXIST")):
                try:
                    outer.update(key, d, flag)
                except BPFError as err:
                    print(f"update key {key} with {name}: {errno.errorcode[err.errno]}: {err}")
                    assert err.errno in (errno.EEXIST, errno.ENOENT)
                else:
                    raise AssertionError(f"{name} on key {key} succeeded")

        # Delete: the outer map drops its reference; a freed inner map's id is gone.
        del outer[1]
        show("delete: del outer[1]:")
        assert program_sees(1) == NOT_FOUND and 1 not in outer
        # inner_lookup() above keeps the inner maps it opened in a cache, so map
        # `a` still has an fd: release it, and with its last reference gone the
        # id disappears at once (the memory follows after an RCU grace period).
        outer.clear_cache()
        try:
            Map.from_id(ids[1]).close()
        except BPFError as err:
            assert err.errno == errno.ENOENT
            print(f"inner map id {ids[1]} is gone: {err}")
        else:
            raise AssertionError("the deleted inner map still exists")
        try:
            del outer[1]
        except KeyError as err:
            print(f"delete again: KeyError: {err}")
        else:
            raise AssertionError("deleting a missing key succeeded")
        assert [u32(k) for k in outer] == [2]


if __name__ == "__main__":
    main()
