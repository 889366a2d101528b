"""Map-in-map from user space on the real kernel, for ARRAY_OF_MAPS and HASH_OF_MAPS.

The seed walk-through (create the outer map from a template, insert, look up
the id, open by id, read the inner entries, replace, delete), the template's
and inner maps' lifetimes, template checks, and every errno of the table in
KERNEL.md, through the library.
"""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Callable, Iterator

import pytest

from bpfnest import (
    ANY,
    ENOTSUPP,
    EXIST,
    F_INNER_MAP,
    F_NO_PREALLOC,
    F_RDONLY_PROG,
    NOEXIST,
    BPFError,
    KeyNotFoundError,
    Map,
    MapSpec,
    MapType,
    OuterMap,
)
from bpfnest.features import inner_max_entries_types

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

OUTER = [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]
AOM, HOM = MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS
INNER = MapSpec(MapType.HASH, 4, 4, 16, name="inner")

MakeOuter = Callable[..., OuterMap]


@pytest.fixture
def maps() -> Iterator[Callable[[MapSpec], Map]]:
    """Create maps that are closed at the end of the test."""
    made: list[Map] = []

    def make(spec: MapSpec) -> Map:
        m = Map.create(spec)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def make_outer(maps: Callable[[MapSpec], Map]) -> MakeOuter:
    def make(
        t: MapType, inner: MapSpec | Map = INNER, max_entries: int = 4, **kw: object
    ) -> OuterMap:
        m = maps(MapSpec(t, 4, 4, max_entries, name="outer", inner=inner, **kw))  # type: ignore[arg-type]
        assert isinstance(m, OuterMap)
        return m

    return make


def filled_inner(
    maps: Callable[[MapSpec], Map], values: dict[int, int], spec: MapSpec = INNER
) -> Map:
    m = maps(spec)
    for k, v in values.items():
        m[k] = v
    return m


@pytest.mark.parametrize("t", OUTER)
def test_walkthrough(t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    before = own_map_ids()
    outer = make_outer(t)
    # The template was closed before create returned: only the outer map is new.
    assert own_map_ids() - before == {outer.id}
    assert outer.inner == INNER
    assert outer.lookup(0) is None and 0 not in outer and outer.get_map(0) is None

    first = filled_inner(maps, {1: 10, 2: 20})
    outer[0] = first  # a Map
    assert outer.lookup(0) == first.id
    assert outer[0] == first.id
    with outer.get_map(0) as got:  # type: ignore[union-attr]
        assert got.id == first.id
        assert dict(got.items()) == {
            (1).to_bytes(4, "little"): (10).to_bytes(4, "little"),
            (2).to_bytes(4, "little"): (20).to_bytes(4, "little"),
        }

    second = filled_inner(maps, {1: 11})
    outer.update(0, second.fd)  # an int fd
    assert outer[0] == second.id
    assert list(outer.items()) == [((0).to_bytes(4, "little"), second.id)]
    assert list(outer.keys()) == [(0).to_bytes(4, "little")]
    assert list(outer.values()) == [second.id]

    del outer[0]
    assert outer.lookup(0) is None
    with pytest.raises(KeyError):
        outer[0]
    with pytest.raises(KeyError) as exc:
        outer.delete(0)
    assert exc.value.errno == errno.ENOENT


@pytest.mark.parametrize("t", OUTER)
def test_inner_lives_while_outer_holds_it(t: MapType, make_outer: MakeOuter) -> None:
    outer = make_outer(t)
    with Map.create(INNER) as inner:
        inner[7] = 70
        inner_id = inner.id
        outer[1] = inner
    # The user's fd is closed; the outer map's reference keeps the map alive.
    assert inner_id in own_map_ids()
    with outer.get_map(1) as again:  # type: ignore[union-attr]
        assert again[7] == (70).to_bytes(4, "little")
    del outer[1]
    assert not wait_maps_gone({inner_id})


@pytest.mark.parametrize("t", OUTER)
def test_closing_outer_releases_inners(t: MapType) -> None:
    with Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=INNER)) as outer:
        with Map.create(INNER) as inner:
            outer[2] = inner
            inner_id = inner.id
        outer_id = outer.id
    assert not wait_maps_gone({inner_id, outer_id})


@pytest.mark.parametrize("t", OUTER)
def test_template_map_stays_callers(t: MapType, maps: Callable[[MapSpec], Map]) -> None:
    template = maps(INNER)
    outer = maps(MapSpec(t, 4, 4, 4, name="outer", inner=template))
    assert isinstance(outer, OuterMap)
    assert not template.closed
    assert outer.inner == MapSpec(MapType.HASH, 4, 4, 16, name="inner")
    outer[0] = template
    assert outer[0] == template.id


@pytest.mark.parametrize("t", OUTER)
def test_inner_spec_is_a_copy_taken_at_create(t: MapType, maps: Callable[[MapSpec], Map]) -> None:
    """Changing the caller's inner MapSpec (or the one ``inner`` returns) afterwards
    does not change the template the outer map reports (issue 12 item 19)."""
    mine = MapSpec(MapType.HASH, 4, 4, 16, name="inner", contents={1: 2})
    outer = maps(MapSpec(t, 4, 4, 4, name="outer", inner=mine))
    assert isinstance(outer, OuterMap)
    expected = MapSpec(MapType.HASH, 4, 4, 16, name="inner", contents={1: 2})
    mine.max_entries, mine.value_size, mine.name = 99, 8, "changed"
    assert mine.contents is not None
    mine.contents[3] = 4  # type: ignore[index]
    assert outer.inner == expected
    got = outer.inner
    assert got is not None
    got.key_size = 8
    assert outer.inner == expected
    # The kernel agrees: an inner map like the original spec fits, one like the changed does not.
    outer[0] = maps(MapSpec(MapType.HASH, 4, 4, 16, name="fits"))
    with pytest.raises(BPFError) as exc:
        outer[1] = maps(MapSpec(MapType.HASH, 4, 8, 99, name="changed"))
    assert exc.value.errno == errno.EINVAL


@pytest.mark.parametrize("t", OUTER)
def test_inner_map_with_own_max_entries(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    arr = MapSpec(MapType.ARRAY, 4, 4, 4, flags=F_INNER_MAP, name="arr")
    outer = make_outer(t, inner=arr)
    big = maps(MapSpec(MapType.ARRAY, 4, 4, 64, flags=F_INNER_MAP, name="big"))
    big[63] = 5
    outer[0] = big
    with outer.get_map(0) as got:  # type: ignore[union-attr]
        assert got.max_entries == 64 and got[63] == (5).to_bytes(4, "little")
    # HASH inner maps may differ in max_entries without any flag.
    houter = make_outer(t, inner=INNER)
    houter[0] = maps(MapSpec(MapType.HASH, 4, 4, 1000, name="bighash"))
    # PERCPU_ARRAY: as this kernel build does (probed); the pre-check agrees.
    pouter = make_outer(t, inner=MapSpec(MapType.PERCPU_ARRAY, 4, 4, 4))
    pbig = maps(MapSpec(MapType.PERCPU_ARRAY, 4, 4, 100))
    if MapType.PERCPU_ARRAY in inner_max_entries_types():
        with pytest.raises(BPFError, match="inner max_entries 100 != template 4"):
            pouter[0] = pbig
        assert pouter.lookup(0) is None
    else:
        pouter[0] = pbig
        assert pouter.lookup(0) == pbig.id


@pytest.mark.parametrize("t", OUTER)
@pytest.mark.parametrize(
    ("template", "inner", "why"),
    [
        (INNER, MapSpec(MapType.HASH, 8, 4, 16), "inner key_size 8 != template 4"),
        (INNER, MapSpec(MapType.HASH, 4, 8, 16), "inner value_size 8 != template 4"),
        (INNER, MapSpec(MapType.ARRAY, 4, 4, 16), "inner type ARRAY != template HASH"),
        (
            INNER,
            MapSpec(MapType.HASH, 4, 4, 16, flags=F_NO_PREALLOC),
            "inner flags 0x1 != template 0x0",
        ),
        (
            MapSpec(MapType.ARRAY, 4, 4, 4),
            MapSpec(MapType.ARRAY, 4, 4, 8),
            "inner max_entries 8 != template 4",
        ),
        (
            MapSpec(MapType.ARRAY, 4, 4, 4, flags=F_INNER_MAP),
            MapSpec(MapType.ARRAY, 4, 4, 4),
            "inner flags 0x0 != template 0x1000",
        ),
    ],
)
def test_mismatched_inner_is_refused_before_the_kernel(
    t: MapType,
    template: MapSpec,
    inner: MapSpec,
    why: str,
    make_outer: MakeOuter,
    maps: Callable[[MapSpec], Map],
) -> None:
    outer = make_outer(t, inner=template)
    good = maps(template)
    outer[1] = good
    bad = maps(inner)
    for value in (bad, bad.fd):
        with pytest.raises(BPFError) as exc:
            outer.update(1, value)
        assert exc.value.errno == errno.EINVAL
        assert why in str(exc.value), str(exc.value)
        assert str(exc.value).startswith(f"update {t.name} 'outer'")
        assert outer[1] == good.id  # nothing changed


@pytest.mark.parametrize("t", OUTER)
def test_kernel_agrees_with_the_template_check(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    """With the template unknown (opened by id, empty), the kernel refuses the same inner maps."""
    outer = make_outer(t)
    with Map.from_id(outer.id) as opened:
        assert isinstance(opened, OuterMap)
        assert opened.inner is None  # empty: the template is unknown
        for bad in (MapSpec(MapType.HASH, 8, 4, 16), MapSpec(MapType.ARRAY, 4, 4, 16)):
            with pytest.raises(BPFError) as exc:
                opened[0] = maps(bad)
            assert exc.value.errno == errno.EINVAL
            assert "does not match the template" in str(exc.value)
        opened[0] = maps(INNER)
        # Learned from the element the kernel accepted.
        assert opened.inner == MapSpec(MapType.HASH, 4, 4, 16, name="inner")


@pytest.mark.parametrize("t", OUTER)
def test_template_learned_from_element(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map], bpffs: str
) -> None:
    outer = make_outer(t)
    outer[3] = maps(INNER)
    path = os.path.join(bpffs, "outer")
    outer.pin(path)
    for opener in (
        lambda: Map.from_id(outer.id),
        lambda: Map.from_pinned(path),
        lambda: Map.from_fd(outer.fd),
    ):
        with opener() as m:
            assert isinstance(m, OuterMap)
            assert m.inner == MapSpec(MapType.HASH, 4, 4, 16, name="inner")
            with pytest.raises(BPFError, match="inner value_size 8 != template 4"):
                m[0] = maps(MapSpec(MapType.HASH, 4, 8, 16))


@pytest.mark.parametrize("t", OUTER)
def test_pinned_outer_keeps_slots(t: MapType, bpffs: str) -> None:
    path = os.path.join(bpffs, "keep")
    with Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=INNER)) as outer:
        with Map.create(INNER) as inner:
            inner[1] = 1
            outer[2] = inner
            inner_id = inner.id
        outer.pin(path)
    assert inner_id in own_map_ids()
    with Map.from_pinned(path) as outer, outer.get_map(2) as inner:  # type: ignore[union-attr]
        assert inner.id == inner_id and inner[1] == (1).to_bytes(4, "little")
    os.unlink(path)
    assert not wait_maps_gone({inner_id})


# ------------------------------------------------------- errno table (6.18)


def test_aom_slot_out_of_range(make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    outer = make_outer(AOM)
    inner = maps(INNER)
    with pytest.raises(BPFError) as exc:
        outer[4] = inner
    assert exc.value.errno == errno.E2BIG
    assert str(exc.value) == (
        "update ARRAY_OF_MAPS 'outer' slot 4: Argument list too long"
        " (slot must be below max_entries 4)"
    )
    with pytest.raises(BPFError) as exc:
        del outer[4]
    assert exc.value.errno == errno.E2BIG
    assert outer.lookup(4) is None  # the kernel answers ENOENT for lookups


def test_aom_empty_slot(make_outer: MakeOuter) -> None:
    outer = make_outer(AOM)
    assert outer.lookup(1) is None
    with pytest.raises(KeyError) as exc:
        del outer[1]
    assert exc.value.errno == errno.ENOENT
    assert "slot is empty" in str(exc.value)


@pytest.mark.parametrize("flags", [NOEXIST, EXIST])
def test_aom_takes_only_any(
    flags: int, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    outer = make_outer(AOM)
    inner = maps(INNER)
    with pytest.raises(BPFError) as exc:
        outer.update(0, inner, flags)
    assert exc.value.errno == errno.EINVAL
    assert "ARRAY_OF_MAPS takes only ANY" in str(exc.value)
    assert outer.lookup(0) is None
    outer.update(0, inner, ANY)


def test_hom_noexist_and_exist(make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    outer = make_outer(HOM)
    a, b = maps(INNER), maps(INNER)
    with pytest.raises(BPFError) as exc:
        outer.update(5, a, EXIST)
    assert exc.value.errno == errno.ENOENT
    outer.update(5, a, NOEXIST)
    with pytest.raises(BPFError) as exc:
        outer.update(5, b, NOEXIST)
    assert exc.value.errno == errno.EEXIST
    assert outer[5] == a.id
    outer.update(5, b, EXIST)
    assert outer[5] == b.id


class Flag(enum.IntEnum):
    """Update flags as an application's own IntEnum (issue 12 item 20)."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2


@pytest.mark.parametrize("batch", [False, True], ids=["update", "update_batch"])
@pytest.mark.parametrize("t", OUTER)
def test_outer_flags_may_be_an_int_enum(
    t: MapType, batch: bool, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    outer = make_outer(t)
    a, b = maps(INNER), maps(INNER)

    def put(inner: Map, flags: int) -> None:
        if batch:
            outer.update_batch({1: inner}, flags)
        else:
            outer.update(1, inner, flags)

    put(a, Flag.ANY)
    assert outer[1] == a.id
    if t == HOM:
        with pytest.raises(BPFError) as exc:
            put(b, Flag.NOEXIST)
        assert exc.value.errno == errno.EEXIST
        put(b, Flag.EXIST)
        assert outer[1] == b.id
    else:
        with pytest.raises(BPFError, match="ARRAY_OF_MAPS takes only ANY, not flags 2"):
            put(b, Flag.EXIST)
        assert outer[1] == a.id


def test_hom_full(make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    outer = make_outer(HOM, max_entries=1)
    outer[1] = maps(INNER)
    with pytest.raises(BPFError) as exc:
        outer[2] = maps(INNER)
    assert exc.value.errno == errno.E2BIG


@pytest.mark.parametrize("t", OUTER)
def test_bad_inner_values(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    outer = make_outer(t)
    with open("/dev/null") as f, pytest.raises(BPFError) as exc:
        outer[0] = f.fileno()
    assert exc.value.errno == errno.EINVAL and "is not a BPF map" in str(exc.value)
    for fd in (9999, -1):
        with pytest.raises(BPFError) as exc:
            outer[0] = fd
        assert exc.value.errno == errno.EBADF
    with pytest.raises(TypeError, match="must be a Map or an int"):
        outer[0] = "3"
    closed = Map.create(INNER)
    closed.close()
    with pytest.raises(ValueError, match="inner map 'inner' is closed"):
        outer[0] = closed
    with pytest.raises(BPFError) as exc:
        outer[0] = outer
    assert exc.value.errno == errno.EINVAL and "only one level of nesting" in str(exc.value)
    assert outer.lookup(0) is None


@pytest.mark.parametrize("t", OUTER)
@pytest.mark.parametrize(
    ("template", "code", "text"),
    [
        (MapSpec(MapType.PROG_ARRAY, 4, 4, 4), ENOTSUPP, "PROG_ARRAY cannot be an inner map"),
        (
            MapSpec(MapType.CGROUP_STORAGE, 8, 8, 0),
            ENOTSUPP,
            "CGROUP_STORAGE cannot be an inner map",
        ),
        (MapSpec(MapType.PERCPU_CGROUP_STORAGE, 8, 8, 0), ENOTSUPP, "cannot be an inner map"),
    ],
)
def test_forbidden_template_types(t: MapType, template: MapSpec, code: int, text: str) -> None:
    before = own_map_ids()
    with pytest.raises(BPFError) as exc:
        Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=template))
    assert exc.value.errno == code
    assert text in str(exc.value)
    assert "ENOTSUPP" in str(exc.value)
    assert not wait_maps_gone(own_map_ids() - before)


@pytest.mark.parametrize("t", OUTER)
def test_outer_map_as_template(t: MapType, make_outer: MakeOuter) -> None:
    nested = make_outer(t)
    with pytest.raises(BPFError) as exc:
        Map.create(MapSpec(t, 4, 4, 4, name="outer2", inner=nested))
    assert exc.value.errno == errno.EINVAL
    assert "only one level of nesting" in str(exc.value)
    with pytest.raises(ValueError, match="one level of nesting"):
        Map.create(MapSpec(t, 4, 4, 4, inner=MapSpec(AOM, 4, 4, 1, inner=INNER)))


@pytest.mark.parametrize("t", OUTER)
def test_outer_value_size_must_be_4(t: MapType) -> None:
    with pytest.raises(BPFError) as exc:
        Map.create(MapSpec(t, 4, 8, 4, name="outer", inner=INNER))
    assert exc.value.errno == errno.EINVAL
    assert "value_size must be 4, not 8" in str(exc.value)


def test_devmap_inner_flags_normalised(
    make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    """The kernel adds F_RDONLY_PROG to DEVMAPs; the template check must not trip on it."""
    devmap = MapSpec(MapType.DEVMAP, 4, 4, 4, name="dev")
    outer = make_outer(AOM, inner=devmap)
    assert outer.template is not None and outer.template.flags & F_RDONLY_PROG
    outer[0] = maps(devmap)


# ------------------------------------------------------------------ batch


def test_hom_batch(make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    outer = make_outer(HOM, max_entries=64)
    inners = [maps(INNER) for _ in range(10)]
    assert outer.update_batch({i: m for i, m in enumerate(inners)}) == 10
    assert dict(outer.lookup_batch()) == {
        i.to_bytes(4, "little"): m.id for i, m in enumerate(inners)
    }
    assert outer.delete_batch(range(5)) == 5
    assert sorted(outer.values()) == sorted(m.id for m in inners[5:])
    drained = outer.lookup_and_delete_batch()
    assert sorted(v for _, v in drained) == sorted(m.id for m in inners[5:])
    assert list(outer.items()) == []


def test_aom_batch_and_fallbacks(make_outer: MakeOuter, maps: Callable[[MapSpec], Map]) -> None:
    outer = make_outer(AOM, max_entries=8)
    inners = [maps(INNER) for _ in range(4)]
    assert outer.update_batch([(i * 2, m.fd) for i, m in enumerate(inners)]) == 4
    assert dict(outer.lookup_batch()) == {
        (i * 2).to_bytes(4, "little"): m.id for i, m in enumerate(inners)
    }
    # AOM has no DELETE_BATCH / LOOKUP_AND_DELETE_BATCH (524): per-slot fallback.
    assert outer.delete_batch([0, 2]) == 2
    assert sorted(v for _, v in outer.lookup_and_delete_batch()) == sorted(m.id for m in inners[2:])
    assert list(outer.items()) == []


@pytest.mark.parametrize("t", OUTER)
def test_update_batch_checks_every_inner_first(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    outer = make_outer(t)
    good, bad = maps(INNER), maps(MapSpec(MapType.HASH, 4, 8, 16))
    with pytest.raises(BPFError, match="inner value_size 8 != template 4"):
        outer.update_batch({0: good, 1: bad})
    assert list(outer.items()) == []


# ------------------------------------------------------------------ churn


@pytest.mark.parametrize("t", OUTER)
def test_churn_leaves_nothing(t: MapType) -> None:
    """5000 inner maps created, inserted, closed and dropped: no fd or map is left.

    Each successful outer update or delete waits for an RCU grace period
    (~8-15 ms here), so 4900 cycles go through batches of 50 slots (one wait
    per batch; on ARRAY_OF_MAPS each batch replaces the previous one, which
    drops it, on HASH_OF_MAPS each batch is deleted again) and 100 cycles go
    one by one (insert, close, delete).
    """
    fds_before = len(os.listdir("/proc/self/fd"))
    maps_before = own_map_ids()
    spec = MapSpec(MapType.ARRAY, 4, 4, 8, name="churn")
    slots = 50
    with Map.create(MapSpec(t, 4, 4, slots, name="outer", inner=spec)) as outer:
        for _ in range(98):
            batch = [Map.create(spec) for _ in range(slots)]
            try:
                assert outer.update_batch({i: m for i, m in enumerate(batch)}) == slots
            finally:
                for m in batch:
                    m.close()
            if t == HOM:
                assert len(outer.lookup_and_delete_batch()) == slots
        if t == AOM:
            assert outer.delete_batch(range(slots)) == slots
        for i in range(100):
            with Map.create(spec) as m:
                m[1] = i
                outer[i % slots] = m
            del outer[i % slots]
        assert list(outer.items()) == []
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert not wait_maps_gone(own_map_ids() - maps_before)


@pytest.mark.parametrize("t", OUTER)
def test_items_fast_path_on_outer_maps(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    outer = make_outer(t, max_entries=8)
    inners = {slot: maps(INNER) for slot in (1, 4, 6)}
    outer.update_batch(inners)
    assert (
        dict(outer.items())
        == dict(outer._items_each())
        == {slot.to_bytes(4, "little"): m.id for slot, m in inners.items()}
    )


@pytest.mark.parametrize("t", OUTER)
def test_inner_lookup_cache_never_returns_a_map_that_left(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    import bpfnest.maps._outer as outer_mod

    outer = make_outer(t)
    assert outer.inner_lookup(0, 1) is None  # empty slot
    first, second = maps(INNER), maps(INNER)
    first[1], second[1] = 10, 20
    outer[0] = first
    assert outer.inner_lookup(0, 1) == u32(10)
    assert outer.inner_lookup(0, 2) is None  # missing inner key
    outer[0] = second  # replaced between two lookups through the cache
    assert outer.inner_lookup(0, 1) == u32(20)
    first[1] = 11  # the old map, still open in the cache, is not read any more
    assert outer.inner_lookup(0, 1) == u32(20)
    # Bounded: many replacements keep at most INNER_CACHE inner maps open.
    old = outer_mod.INNER_CACHE
    outer_mod.INNER_CACHE = 3
    try:
        for value in range(6):
            with Map.create(INNER) as m:
                m[1] = value
                outer[0] = m
            assert outer.inner_lookup(0, 1) == u32(value)
        assert len(outer._cache) == 3
    finally:
        outer_mod.INNER_CACHE = old


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


@pytest.mark.parametrize("t", OUTER)
def test_inner_lookup_cache_closed_with_the_outer_map(t: MapType) -> None:
    before = own_map_ids()
    with Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=INNER)) as outer:
        assert isinstance(outer, OuterMap)
        with Map.create(INNER) as inner:
            inner[1] = 5
            outer[1] = inner
        assert outer.inner_lookup(1, 1) == u32(5)
        assert len(outer._cache) == 1
    assert outer._cache == {}
    assert not wait_maps_gone(own_map_ids() - before)


@pytest.mark.parametrize("t", OUTER)
def test_create_fills_slots_from_contents(t: MapType, maps: Callable[[MapSpec], Map]) -> None:
    a, b = maps(INNER), maps(INNER)
    outer = maps(MapSpec(t, 4, 4, 4, name="outer", inner=INNER, contents={0: a, 3: b.fd}))
    assert isinstance(outer, OuterMap)
    assert dict(outer.items()) == {(0).to_bytes(4, "little"): a.id, (3).to_bytes(4, "little"): b.id}


@pytest.mark.parametrize("t", OUTER)
def test_create_refuses_contents_it_cannot_fill_and_leaves_nothing(
    t: MapType, maps: Callable[[MapSpec], Map]
) -> None:
    wrong = maps(MapSpec(MapType.HASH, 4, 8, 16, name="wrong"))
    before = own_map_ids()
    with pytest.raises(ValueError) as exc:
        Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=INNER, contents={2: "inner"}))
    assert str(exc.value) == (
        "map 'outer' slot [2]: contents names map 'inner': a name resolves only in a collection"
        " (CollectionSpec.load); give the Map or its fd"
    )
    with pytest.raises(BPFError) as err:  # the outer map was made, then closed
        Map.create(MapSpec(t, 4, 4, 4, name="outer", inner=INNER, contents={1: wrong}))
    assert err.value.errno == errno.EINVAL and "value_size" in str(err.value)
    assert wait_maps_gone(own_map_ids() - before) == set()


@pytest.mark.parametrize("t", OUTER)
def test_open_inner_gives_a_map_or_key_not_found(
    t: MapType, make_outer: MakeOuter, maps: Callable[[MapSpec], Map]
) -> None:
    """open_inner is get_map for a slot that must be filled: a Map (the caller's to
    close), or KeyNotFoundError (a KeyError) naming the map and the slot."""
    outer = make_outer(t)
    inner = filled_inner(maps, {1: 7})
    outer[2] = inner
    with outer.open_inner(2) as got:
        assert type(got) is Map and got.id == inner.id and got[1] == u32(7)
    with pytest.raises(KeyError) as exc:
        outer.open_inner(3)
    assert isinstance(exc.value, KeyNotFoundError) and exc.value.errno == errno.ENOENT
    label = "slot 3" if t == MapType.ARRAY_OF_MAPS else "key 3"
    assert str(exc.value) == f"open_inner {t.name} 'outer' {label}: no such key (the slot is empty)"
