"""An atomic configuration swap through an ARRAY_OF_MAPS.

The configuration (the weights of 8 load-balancer backends) lives in an
inner ARRAY map; ``active``, an ARRAY_OF_MAPS with one slot, holds the
current one. To push a new configuration, build a new inner map, fill it
completely, and replace the slot with one update: the XDP program
``read_config`` looks the slot up once per run, so it sees the old
configuration or the new one, never a half-filled one.

The script shows it with BPF_PROG_TEST_RUN: the version the program sees
while the next configuration is being filled (still the old one), right
after the swap (the new one), what editing the live map in place looks like
instead (a mix of two versions), and a reader thread running the program
non-stop while 20 configurations are swapped in (never a mix).

Run it as root from the repository root: ``python examples/config_swap.py``
"""

from __future__ import annotations

import dataclasses
import errno
import threading

from buildobj import build

from bpfnest import BPFError, CollectionSpec, Map, MapSpec, OuterMap, Program

NO_CONFIG, TORN = 1000, 1001
BACKENDS = 8
PACKET = bytes(64)


def value(version: int, weight: int) -> int:
    """One backend's entry: the configuration's version in the top 16 bits."""
    return version << 16 | weight


def weights_for(version: int) -> list[int]:
    return [(version * 7 + i * 3) % 50 + 1 for i in range(BACKENDS)]


def build_config(template: MapSpec, version: int) -> Map:
    """A new inner map, filled completely; the caller puts it in and closes it."""
    config = Map.create(template)
    try:
        for i, w in enumerate(weights_for(version)):
            config[i] = value(version, w)
    except BaseException:
        config.close()
        raise
    return config


def push(active: OuterMap, template: MapSpec, version: int) -> int:
    """Swap configuration ``version`` into slot 0; return the new inner map's id.

    Our fd is closed on return: the outer map then holds the only reference.
    """
    with build_config(template, version) as config:
        active[0] = config  # one update: the swap (waits for an RCU grace period)
        return config.id


def main() -> None:
    spec = CollectionSpec.from_file(build("config_swap"))
    # Every configuration is a map like the template, `struct config` of the C
    # source (from __array(values, ...)): an ARRAY of 8 u32.
    template = spec.maps["active"].inner
    assert isinstance(template, MapSpec)
    template = dataclasses.replace(template, name="config")

    with spec.load() as coll:
        active = coll.maps["active"]
        assert isinstance(active, OuterMap)
        prog: Program = coll.programs["read_config"]

        def version_seen() -> int:
            return prog.test_run(PACKET).retval

        print(f"no configuration yet:        program sees {version_seen()} (NO_CONFIG)")
        assert version_seen() == NO_CONFIG

        first_id = push(active, template, 1)
        print(f"pushed version 1 (map id {first_id}): program sees {version_seen()}")
        assert version_seen() == 1

        # Build version 2 entry by entry: until the swap, the program sees version 1.
        with Map.create(template) as nxt:
            seen_while_filling = []
            for i, w in enumerate(weights_for(2)):
                nxt[i] = value(2, w)
                seen_while_filling.append(version_seen())
            print(f"while filling version 2:     program sees {seen_while_filling}")
            assert seen_while_filling == [1] * BACKENDS
            active[0] = nxt  # the swap
            print(f"after the swap:              program sees {version_seen()}")
            assert version_seen() == 2
            second_id = nxt.id
        # The old configuration had its last reference in the slot: it is freed.
        try:
            Map.from_id(first_id).close()
        except BPFError as err:
            assert err.errno == errno.ENOENT
            print(f"version 1's map id {first_id} is gone: the swap dropped the last reference")
        else:
            raise AssertionError("the old configuration is still there")

        # What not to do: edit the live configuration in place, entry by entry.
        with active.open_inner(0) as live:  # opened by id: ours to close
            assert live.id == second_id
            seen_in_place = []
            for i, w in enumerate(weights_for(3)):
                live[i] = value(3, w)
                seen_in_place.append(version_seen())
        print(f"editing in place instead:    program sees {seen_in_place} ({TORN} = TORN)")
        assert TORN in seen_in_place and seen_in_place[-1] == 3

        # A reader running non-stop while 20 configurations are swapped in.
        seen: dict[int, int] = {}
        errors: list[BaseException] = []
        stop = threading.Event()

        def reader() -> None:
            try:
                while not stop.is_set():
                    v = version_seen()
                    seen[v] = seen.get(v, 0) + 1
            except BaseException as err:  # reported by the main thread
                errors.append(err)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for version in range(4, 24):
                push(active, template, version)
        finally:
            stop.set()
            thread.join()
        if errors:
            raise errors[0]
        runs = sum(seen.values())
        assert runs > 0
        print(f"reader during 20 swaps:      {runs} runs, versions seen {sorted(seen)}")
        assert TORN not in seen and NO_CONFIG not in seen
        assert set(seen) <= set(range(3, 24)) and version_seen() == 23


if __name__ == "__main__":
    main()
