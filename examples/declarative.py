"""Declarative map-in-map: slots declared in BPF C, filled at load time.

``declarative.bpf.c`` declares ``outer_arr`` (ARRAY_OF_MAPS) and
``outer_hash`` (HASH_OF_MAPS) with ``__array(values, struct inner_map)`` and
``.values = { [0] = &inner_map1, ... }``, as libbpf's selftests do. This
script shows the slots as the parser reads them (``MapSpec.contents``), loads
the object (inner maps first, then each outer map from a template closed at
once, then the slots, logged at DEBUG on the ``"bpfnest"`` logger), shows the
slots filled with the inner maps' ids, and runs the two programs with
BPF_PROG_TEST_RUN to read through each slot. Finally it fills the hole
(slot 1) from Python.

Run it as root from the repository root: ``python examples/declarative.py``
"""

from __future__ import annotations

import logging

from buildobj import build

from bpfnest import CollectionSpec, MapSpec, OuterMap

NO_SLOT = 255
PACKET = bytes(64)


class LoaderLog(logging.Handler):
    """Collects the loader's steps (logger "bpfnest", not the syscall trace "bpfnest.sys")."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "bpfnest":
            self.lines.append(record.getMessage())


def main() -> None:
    spec = CollectionSpec.from_file(build("declarative"))
    for name in ("outer_arr", "outer_hash"):
        ms = spec.maps[name]
        inner = ms.inner  # the template, from __array(values, struct inner_map)
        assert isinstance(inner, MapSpec) and ms.type.is_outer
        print(
            f"spec {name}: {ms.type.name}, inner {inner.type.name} x{inner.max_entries},"
            f" declared slots {dict(ms.contents or {})}"
        )
    assert dict(spec.maps["outer_arr"].contents or {}) == {0: "inner_map1", 2: "inner_map2"}
    assert dict(spec.maps["outer_hash"].contents or {}) == {0: "inner_map2", 4: "inner_map1"}

    logger = logging.getLogger("bpfnest")
    handler, old_level = LoaderLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        coll = spec.load()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    with coll:
        arr, hsh = coll.maps["outer_arr"], coll.maps["outer_hash"]
        assert isinstance(arr, OuterMap) and isinstance(hsh, OuterMap)
        m1, m2 = coll.maps["inner_map1"], coll.maps["inner_map2"]
        print("loader log:")
        for line in handler.lines:
            print(f"  {line}")
        print(f"inner_map1 id {m1.id}, inner_map2 id {m2.id}")
        # items() gives (key bytes, inner map id): an fd went in, an id comes out.
        slots = {int.from_bytes(k, "little"): i for k, i in arr.items()}
        keys = dict(sorted((int.from_bytes(k, "little"), i) for k, i in hsh.items()))
        print(f"outer_arr slots:  {slots}")
        print(f"outer_hash keys:  {keys}")
        assert slots == {0: m1.id, 2: m2.id}  # slot 1 is a hole
        assert keys == {0: m2.id, 4: m1.id}

        m1[0], m2[0] = 10, 20  # something to read through the slots

        def run(prog: str, key: int) -> int:
            coll.set_global("key", key)
            return coll.programs[prog].test_run(PACKET).retval

        arr_reads = {k: run("read_arr", k) for k in range(3)}
        hash_reads = {k: run("read_hash", k) for k in range(5)}
        print(f"read_arr  key -> inner[0]: {arr_reads}   ({NO_SLOT} = no inner map)")
        print(f"read_hash key -> inner[0]: {hash_reads}")
        assert arr_reads == {0: 10, 1: NO_SLOT, 2: 20}
        assert hash_reads == {0: 20, 1: NO_SLOT, 2: NO_SLOT, 3: NO_SLOT, 4: 10}

        # The hole can be filled at any time: the loader's maps are ordinary maps.
        arr[1] = m2
        assert run("read_arr", 1) == 20
        with arr.open_inner(1) as same:  # opened by id: ours to close
            print(
                f"outer_arr[1] <- inner_map2; open_inner(1) opens id {same.id}, [0] = {same[0]!r}"
            )
            assert same.id == m2.id


if __name__ == "__main__":
    main()
