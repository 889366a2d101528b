"""Optional programs (issue 19 item 2): SEC("?...") sets autoload False;
autoload, type and attach_type can be set before load; programs left out are
absent from Collection.programs, the maps they use are still created; a
section that names no type is an error naming it and the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bpfnest import CollectionSpec, ProgramSpec, ProgType
from bpfnest.programs import Program

Objs = Callable[..., str]
PACKET = bytes(64)
XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3


def test_question_mark_sections_are_parsed_as_optional(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("optional"))
    maybe, always, untyped = (spec.programs[n] for n in ("maybe", "always", "untyped"))
    assert (maybe.autoload, maybe.type, maybe.section) == (False, ProgType.XDP, "?xdp")
    assert (always.autoload, always.type) == (True, ProgType.XDP)
    assert (untyped.autoload, untyped.type) == (False, ProgType.UNSPEC)


@pytest.mark.usefixtures("kernel")
def test_optional_programs_are_left_out_and_their_maps_still_made(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("optional"))
    with spec.load() as coll:
        assert set(coll.programs) == {"always"}
        assert "only_maybe" in coll.maps
        assert coll.programs["always"].test_run(PACKET).retval == XDP_PASS


@pytest.mark.usefixtures("kernel")
def test_switched_on_before_load(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("optional"))
    spec.programs["maybe"].autoload = True
    spec.programs["always"].autoload = False
    with spec.load() as coll:
        assert set(coll.programs) == {"maybe"}
        assert coll.programs["maybe"].test_run(PACKET).retval == XDP_DROP
        assert int.from_bytes(coll.maps["only_maybe"].lookup(0), "little") == 1


@pytest.mark.usefixtures("kernel")
def test_a_section_of_no_type_loads_once_its_type_is_set(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("optional"))
    spec.programs["untyped"].autoload = True
    with pytest.raises(
        ValueError,
        match=r"program 'untyped': section '\?no_such_type' names no program type: set"
        r" spec.programs\['untyped'\].type \(and .attach_type\) before loading",
    ):
        spec.load()
    spec.programs["untyped"].type = ProgType.XDP
    with spec.load() as coll:
        assert coll.programs["untyped"].test_run(PACKET).retval == XDP_TX


@pytest.mark.usefixtures("kernel")
def test_program_load_of_an_unspec_type_says_what_to_set() -> None:
    exit_0 = bytes.fromhex("b700000000000000") + bytes.fromhex("9500000000000000")
    spec = ProgramSpec(name="raw", type=ProgType.UNSPEC, instructions=exit_0, license="GPL")
    with pytest.raises(ValueError, match=r"program 'raw': its spec names no program type"):
        Program.load(spec)


@pytest.mark.usefixtures("kernel")
def test_a_prog_array_slot_naming_a_program_left_out(objs: Objs) -> None:
    from bpfnest import MapSpec, MapType

    spec = CollectionSpec.from_file(objs("optional"))
    spec.maps["jumps"] = MapSpec(
        MapType.PROG_ARRAY, key_size=4, value_size=4, max_entries=2, name="jumps",
        contents={0: "maybe"},
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"names program 'maybe', which autoload leaves out"):
        spec.load()
    spec.programs["maybe"].autoload = True
    with spec.load() as coll:
        assert coll.maps["jumps"].lookup(0) is not None
