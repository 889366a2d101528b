"""Inner array maps of different sizes in one outer map, with ``F_INNER_MAP``.

An ARRAY inner map must have the template's ``max_entries`` unless the
template and the inner map both carry ``F_INNER_MAP`` (``BPF_F_INNER_MAP``,
kernel 5.10+). ``inner_sizes.bpf.c`` declares ``by_size`` with such a
template and two inner arrays of 4 and 16 entries in its slots; this script
loads it, adds a 1024-entry array made in Python, and reads through each
slot with BPF_PROG_TEST_RUN (an entry beyond an inner map's own size is not
found). Then it shows the refusals: an array of another size under a
template without the flag (bpfnest's error names ``max_entries``), an array
without the flag under a template with it (the error names ``flags``), and
the kernel's own bare EINVAL when bpfnest cannot know the template.

Run it as root from the repository root: ``python examples/inner_sizes.py``
"""

from __future__ import annotations

import dataclasses
import errno

from buildobj import build

from bpfnest import F_INNER_MAP, BPFError, CollectionSpec, Map, MapSpec, MapType, OuterMap

NO_SLOT, OUT_OF_RANGE = 0xFFFF, 0xFFFE
NAMES = {NO_SLOT: "NO_SLOT", OUT_OF_RANGE: "OUT_OF_RANGE"}


def fill(m: Map) -> None:
    """Entry i of an n-entry map holds n * 1000 + i: the value says where it came from."""
    m.update_batch({i: m.max_entries * 1000 + i for i in range(m.max_entries)})


def refused(outer: Map, slot: int, inner: Map | int) -> BPFError:
    """Try ``outer[slot] = inner``; return the error (the update must fail)."""
    try:
        outer[slot] = inner
    except BPFError as err:
        return err
    raise AssertionError(f"outer[{slot}] = {inner!r} was accepted")


def main() -> None:
    spec = CollectionSpec.from_file(build("inner_sizes"))
    template = spec.maps["by_size"].inner
    assert isinstance(template, MapSpec) and template.flags & F_INNER_MAP
    print(
        f"by_size template: {template.type.name} x{template.max_entries},"
        f" flags {template.flags:#x} (F_INNER_MAP); declared slots"
        f" {dict(spec.maps['by_size'].contents or {})}"
    )

    # 1. With the flag: three sizes in one outer map.
    with spec.load() as coll:
        by_size = coll.maps["by_size"]
        assert isinstance(by_size, OuterMap)
        prog = coll.programs["read_sized"]
        large_spec = dataclasses.replace(template, name="large", max_entries=1024)
        with Map.create(large_spec) as large:  # F_INNER_MAP too: copied from the template
            fill(large)
            by_size[2] = large
        fill(coll.maps["small"])
        fill(coll.maps["medium"])
        sizes = {}
        for slot in range(3):
            with by_size.open_inner(slot) as m:  # opened by id: ours to close
                sizes[slot] = m.max_entries
        print(f"slot -> inner max_entries: {sizes}")
        assert sizes == {0: 4, 1: 16, 2: 1024}

        def read(slot: int, entry: int) -> int:
            coll.set_global("slot", slot)
            coll.set_global("entry", entry)
            return prog.test_run(bytes(64)).retval

        reads = {(s, e): read(s, e) for s, e in ((0, 3), (0, 4), (1, 15), (2, 1000), (3, 0))}
        print(
            "program reads by_size[slot][entry]: "
            + ", ".join(f"[{s}][{e}] = {NAMES.get(v, v)}" for (s, e), v in reads.items())
        )
        assert reads == {
            (0, 3): 4003,
            (0, 4): OUT_OF_RANGE,  # small has 4 entries: checked against its own size
            (1, 15): 16015,
            (2, 1000): 1025000,
            (3, 0): NO_SLOT,
        }

        # The flag must be on both sides: an array without it is refused here.
        plain = MapSpec(MapType.ARRAY, 4, 4, 1, name="plain")
        with Map.create(plain) as p:
            err = refused(by_size, 3, p)
        print(f"no F_INNER_MAP on the inner map: {err}")
        assert err.errno == errno.EINVAL and "flags 0x0 != template 0x1000" in str(err)

    # 2. Without the flag: another max_entries is refused, and the error says why.
    four = MapSpec(MapType.ARRAY, 4, 4, 4, name="four")
    eight = dataclasses.replace(four, name="eight", max_entries=8)
    fixed = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="fixed", inner=four)
    with Map.create(fixed) as outer, Map.create(four) as a, Map.create(eight) as b:
        outer[0] = a  # the template's size: fine
        err = refused(outer, 1, b)
        print(f"no F_INNER_MAP, 8 entries under a 4-entry template: {err}")
        assert err.errno == errno.EINVAL and "max_entries 8 != template 4" in str(err)
        assert 1 not in outer  # nothing changed

        # bpfnest checks before the syscall. Opened by id, an empty outer map's
        # template is unknown to it (the kernel does not report it): then the
        # kernel alone refuses, with a bare EINVAL.
        with OuterMap.create(fixed) as empty, OuterMap.from_id(empty.id) as opened:
            assert opened.inner is None
            err = refused(opened, 0, b.fd)
        print(f"the kernel alone: {err}")
        assert err.errno == errno.EINVAL


if __name__ == "__main__":
    main()
