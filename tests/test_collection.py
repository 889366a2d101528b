"""Loading clang objects on the real kernel: map-in-map, legacy maps, globals, programs."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

import pytest

from bpfnest import (
    BPFError,
    CollectionSpec,
    Map,
    MapSpec,
    MapType,
    NotSupportedError,
    OuterMap,
    VerifierError,
)

from support import own_map_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

Objs = Callable[..., str]
PACKET = bytes(64)
XDP_PASS, XDP_REDIRECT = 2, 4


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def test_declared_slots_and_program(objs: Objs, caplog: pytest.LogCaptureFixture) -> None:
    spec = CollectionSpec.from_file(objs("outer_init"))
    with caplog.at_level(logging.DEBUG, logger="bpfnest"), spec.load() as coll:
        arr, hsh = coll.maps["outer_arr"], coll.maps["outer_hash"]
        m1, m2 = coll.maps["inner_map1"], coll.maps["inner_map2"]
        assert isinstance(arr, OuterMap) and isinstance(hsh, OuterMap)
        assert dict(arr.items()) == {u32(0): m2.id, u32(2): m1.id}  # slot 1 stays a hole
        assert dict(hsh.items()) == {u32(0): m2.id, u32(4): m1.id}
        coll.set_global("input", 10)
        prog = coll.programs["write_through"]
        assert prog.test_run(PACKET).retval == XDP_PASS
        assert m2[0] == u32(11)  # both slot 0 are inner_map2: input, then input + 1
        arr[0] = m1  # swap: the program now writes through inner_map1
        assert prog.test_run(PACKET).retval == XDP_PASS
        assert (m1[0], m2[0]) == (u32(10), u32(11))
    text = caplog.text
    assert "map 'outer_arr': slot [0] set to map 'inner_map2' fd=" in text
    assert "map 'outer_hash': slot [4] set to map 'inner_map1' fd=" in text


def test_array_of_devmaps_redirect(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("devmap_redirect")).load() as coll:
        prog = coll.programs["redirect_by_priority"]
        assert prog.test_run(PACKET).retval == XDP_PASS  # no device at key 0
        coll.maps["inner_map1"][0] = 1  # ifindex of lo
        assert prog.test_run(PACKET).retval == XDP_REDIRECT


def test_legacy_outer_needs_an_inner_map(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("legacy_maps"))
    assert spec.maps["outer_hash"].inner is None
    before = own_map_ids()
    with pytest.raises(ValueError, match="map 'outer_hash': HASH_OF_MAPS has no inner map"):
        spec.load()
    assert own_map_ids() == before
    spec.maps["outer_hash"].inner = MapSpec(MapType.ARRAY, 4, 4, 1)
    with spec.load() as coll, Map.create(MapSpec(MapType.ARRAY, 4, 4, 1)) as inner:
        inner[0] = 77
        prog = coll.programs["read_legacy"]
        assert prog.test_run(PACKET).retval == 0
        coll.maps["outer_hash"][1] = inner
        assert prog.test_run(PACKET).retval == 77
        assert coll.maps["counters"][0] == (2).to_bytes(8, "little")


def test_legacy_inner_given_as_map(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("legacy_maps"))
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="tmpl")) as tmpl:
        spec.maps["outer_hash"].inner = tmpl
        with spec.load() as coll:
            coll.maps["outer_hash"][1] = tmpl
            tmpl[0] = 5
            assert coll.programs["read_legacy"].test_run(PACKET).retval == 5


def test_config_swap(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("config_swap")).load() as coll:
        prog, configs = coll.programs["read_config"], coll.maps["configs"]
        assert prog.test_run(PACKET).retval == 1000  # no config yet
        spec = MapSpec(MapType.ARRAY, 4, 4, 4, name="config")
        for value in (1, 2, 3):
            with Map.create(spec) as cfg:
                cfg[0] = value
                configs[0] = cfg
            assert prog.test_run(PACKET).retval == value


@pytest.mark.parametrize(
    ("program", "helper"),
    [("update_outer", "bpf_map_update_elem"), ("delete_outer", "bpf_map_delete_elem")],
)
def test_program_may_only_look_up_in_outer_maps(objs: Objs, program: str, helper: str) -> None:
    spec = CollectionSpec.from_file(objs("rejected"))
    spec.programs = {program: spec.programs[program]}
    before = own_map_ids()
    with pytest.raises(VerifierError) as exc:
        spec.load()
    assert exc.value.errno == errno.EINVAL
    assert helper in exc.value.log
    assert "map_type 13" in exc.value.log
    # BTF line_info went with the program: the log quotes the C source.
    assert f"; {helper}(&outer, &key" in exc.value.log and "@ rejected.c:" in exc.value.log
    assert "\n" not in str(exc.value) and program in str(exc.value)
    assert not wait_maps_gone(own_map_ids() - before)


def test_mismatched_declared_slot(objs: Objs) -> None:
    before = own_map_ids()
    with pytest.raises(BPFError) as exc:
        CollectionSpec.from_file(objs("values_mismatch")).load()
    assert exc.value.errno == errno.EINVAL
    assert "map 'outer': slot [1] cannot be set to map 'wide'" in str(exc.value)
    assert "value_size 8 != template 4" in str(exc.value)
    assert not wait_maps_gone(own_map_ids() - before)


def test_globals_and_subprograms(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("globals"))
    assert spec.get_global("counter") == u32(7)
    spec.set_global("factor", 5)
    with spec.load() as coll:
        use_globals, use_scale = coll.programs["use_globals"], coll.programs["use_scale"]
        assert use_scale.test_run(PACKET).retval == 10
        assert use_globals.test_run(PACKET).retval == (7 + 1) * 5 + 40
        assert coll.get_global("counter") == u32(8)
        assert coll.get_global("zeroed") == u32(1)
        coll.set_global("counter", 100)
        coll.set_global("extra", 0)
        assert use_globals.test_run(PACKET).retval == 101 * 5
        with pytest.raises(BPFError) as exc:
            coll.set_global("factor", 1)
        assert exc.value.errno == errno.EPERM


def test_hash_of_maps_with_wide_keys(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("hom_key8"))
    assert spec.maps["wide_keys"].key_size == 8
    with spec.load() as coll:
        outer = coll.maps["wide_keys"]
        assert dict(outer.items()) == {
            (1).to_bytes(8, "little"): coll.maps["a"].id,
            (3).to_bytes(8, "little"): coll.maps["b"].id,
        }
        assert coll.programs["probe"].test_run(PACKET).retval == XDP_PASS


def test_prog_array_slots(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("tail_calls")).load() as coll:
        assert coll.programs["entry"].test_run(PACKET).retval == 42
        del coll.maps["jump_table"][1]
        assert coll.programs["entry"].test_run(PACKET).retval == 7


def test_pinning_by_name(objs: Objs, bpffs: str) -> None:
    spec = CollectionSpec.from_file(objs("pinned"))
    with spec.load(pin_root=bpffs) as first:
        ids = {n: first.maps[n].id for n in ("pinned_stats", "pinned_outer")}
        assert sorted(os.listdir(bpffs)) == ["pinned_outer", "pinned_stats"]
        first.maps["pinned_outer"].delete(2)  # a reused outer map keeps its slots as they are
    with CollectionSpec.from_file(objs("pinned")).load(pin_root=bpffs) as second:
        assert {n: second.maps[n].id for n in ids} == ids
        assert list(second.maps["pinned_outer"].items()) == []
    bad = CollectionSpec.from_file(objs("pinned"))
    bad.maps["pinned_stats"].max_entries = 99
    with pytest.raises(BPFError, match="max_entries 16 != spec 99"):
        bad.load(pin_root=bpffs)


def test_kconfig(objs: Objs) -> None:
    import platform

    with CollectionSpec.from_file(objs("kconfig")).load() as coll:
        major = int(platform.release().split(".")[0])
        assert coll.programs["kver"].test_run(bytes(16)).retval == major


def test_core_relocation_of_a_type_the_kernel_lacks(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("core"))
    with pytest.raises(VerifierError) as exc:
        spec.load()
    assert str(exc.value).startswith("load program 'uses_core' (SOCKET_FILTER): instruction ")
    assert "struct task_like.tgid" in str(exc.value)


def test_xdp_pass_echoes(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("xdp_pass")).load() as coll:
        res = coll.programs["pass"].test_run(b"\x01" * 32, repeat=3)
        assert res.retval == XDP_PASS and res.data == b"\x01" * 32


def test_foreign_byte_order_refused_before_anything(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("outer_init", "bpfeb"))
    before = own_map_ids()
    with pytest.raises(NotSupportedError, match="big-endian"):
        spec.load()
    assert own_map_ids() == before


def test_pinned_outer_reuse_checks_the_inner_template(objs: Objs, bpffs: str) -> None:
    CollectionSpec.from_file(objs("pinned")).load(pin_root=bpffs).close()
    pins = sorted(os.listdir(bpffs))
    before = own_map_ids()
    bad = CollectionSpec.from_file(objs("pinned"))
    inner = bad.maps["pinned_outer"].inner
    assert isinstance(inner, MapSpec)
    inner.value_size = 8
    with pytest.raises(BPFError, match=r"pinned_outer.*spec inner value_size 8 != template 4"):
        bad.load(pin_root=bpffs)
    assert sorted(os.listdir(bpffs)) == pins
    assert not wait_maps_gone(own_map_ids() - before)


def test_failed_load_removes_new_pins(objs: Objs, bpffs: str) -> None:
    spec = CollectionSpec.from_file(objs("pinned"))
    spec.programs["count"].instructions = spec.programs["count"].instructions[:-8]  # no exit
    with pytest.raises(VerifierError):
        spec.load(pin_root=bpffs)
    assert os.listdir(bpffs) == []


def test_kconfig_value_the_kernel_lacks(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("kconfig"))
    spec.variables["CONFIG_BPFNEST_NOT_A_THING"] = spec.variables.pop("CONFIG_BPF_SYSCALL")
    before = own_map_ids()
    with pytest.raises(ValueError, match=r"CONFIG_BPFNEST_NOT_A_THING.*not set"):
        spec.load()
    assert not wait_maps_gone(own_map_ids() - before)


def test_program_type_is_settable(objs: Objs) -> None:
    from bpfnest import ProgType

    spec = CollectionSpec.from_file(objs("xdp_pass"))
    spec.programs["pass"].type = ProgType.SCHED_CLS
    spec.programs["pass"].attach_type = None
    with spec.load() as coll:
        assert coll.programs["pass"].type == ProgType.SCHED_CLS


def test_btf_the_kernel_refuses_reports_its_log(objs: Objs) -> None:
    from bpfnest.btf import BTF, Func

    spec = CollectionSpec.from_file(objs("xdp_pass"))
    assert spec.btf is not None
    func = spec.btf.find("pass", Func)
    rec = spec.btf.record_offset(func)
    assert rec is not None
    raw = bytearray(spec.btf.raw)
    raw[rec + 4] = 2  # FUNC linkage "extern": the kernel refuses it in a program's BTF
    spec.btf = BTF.parse(bytes(raw))
    before = own_map_ids()
    with pytest.raises(BPFError) as exc:
        spec.load()
    assert exc.value.errno == errno.EINVAL
    assert "load BTF of" in str(exc.value) and "linkage" in str(exc.value).lower()
    assert own_map_ids() == before


def test_replace_uses_the_callers_maps(objs: Objs) -> None:
    """load(replace=...) uses a map made in Python: the program writes through our outer map."""
    inner = MapSpec(MapType.ARRAY, 4, 4, 1, name="ours_in")
    spec = CollectionSpec.from_file(objs("outer_init"))
    spec.set_global("input", 77)
    outer_spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 3, name="ours", inner=inner)
    with Map.create(outer_spec) as ours, Map.create(inner) as target:
        ours[0] = target
        with spec.load(replace={"outer_arr": ours}) as coll:
            assert coll.maps["outer_arr"].id == ours.id
            assert coll.programs["write_through"].test_run(PACKET).retval == XDP_PASS
            assert target[0] == u32(77)  # written through our outer map's slot 0
        # The declared slot [2] was not written into our map; it is still ours.
        assert dict(ours.items()) == {u32(0): target.id}
        ours[1] = target


def test_replace_refuses_what_does_not_fit(objs: Objs) -> None:
    inner = MapSpec(MapType.ARRAY, 4, 4, 1, name="ours_in")
    spec = CollectionSpec.from_file(objs("outer_init"))
    before = own_map_ids()
    with Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 5, name="wide", inner=inner)) as wide:
        with pytest.raises(BPFError, match="replace map 'outer_arr' with 'wide': max_entries 5"):
            spec.load(replace={"outer_arr": wide})
        with pytest.raises(ValueError, match="no map 'nope'"):
            spec.load(replace={"nope": wide})
        with pytest.raises(TypeError, match="must be a Map, got int"):
            spec.load(replace={"outer_arr": wide.fd})  # type: ignore[dict-item]
    bad_inner = MapSpec(MapType.ARRAY, 4, 8, 1, name="bad_in")
    bad_spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 3, name="o", inner=bad_inner)
    with (
        Map.create(bad_spec) as o,
        pytest.raises(BPFError, match="spec inner value_size 4 != template 8"),
    ):
        spec.load(replace={"outer_arr": o})
    # The whole kernel rule, max_entries of an ARRAY inner map included: inner
    # maps of the spec (1 entry) could never go into this map (template: 2).
    two = MapSpec(MapType.ARRAY, 4, 4, 2, name="two")
    with (
        Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 3, name="o", inner=two)) as o,
        pytest.raises(
            BPFError,
            match="replace map 'outer_arr' with 'o': spec inner max_entries 1 != template 2;"
            " both need F_INNER_MAP to differ",
        ),
    ):
        spec.load(replace={"outer_arr": o})
    assert not wait_maps_gone(own_map_ids() - before)


def test_constants_next_to_a_legacy_map(objs: Objs) -> None:
    """name_clash.o unrenamed: .rodata holds the constant (renamed, the parser refuses it)."""
    with CollectionSpec.from_file(objs("name_clash")).load() as coll:
        assert coll.programs["progb"].test_run(bytes(16)).retval == 42
        assert coll.programs["proga"].test_run(bytes(16)).retval == 0


def test_perf_event_array_without_max_entries(objs: Objs, caplog: pytest.LogCaptureFixture) -> None:
    """As libbpf: one slot per possible CPU; the spec itself stays as read."""
    from bpfnest import possible_cpus

    spec = CollectionSpec.from_file(objs("perf_array"))
    assert spec.maps["events"].max_entries == 0
    with caplog.at_level(logging.DEBUG, logger="bpfnest"), spec.load() as coll:
        assert coll.maps["events"].max_entries == possible_cpus()
        # The current CPU's slot exists and is empty: ENOENT, not E2BIG.
        assert coll.programs["emit"].test_run(PACKET).retval == errno.ENOENT
    assert spec.maps["events"].max_entries == 0
    assert f"map 'events': max_entries 0 set to {possible_cpus()} possible CPUs" in caplog.text


def test_samples_bpf_inner_map_idx(objs: Objs) -> None:
    """The outer map's template is the definition its inner_map_idx names; before,
    the field was dropped and loading asked for an inner map."""
    spec = CollectionSpec.from_file(objs("legacy_inner_idx"))
    with spec.load() as coll, Map.create(MapSpec(MapType.ARRAY, 4, 4, 1)) as inner:
        outer = coll.maps["outer"]
        assert isinstance(outer, OuterMap) and outer.inner == MapSpec(
            MapType.ARRAY, 4, 4, 1, name="outer.inner"
        )
        inner[0] = 31
        outer[1] = inner
        assert coll.programs["read_outer"].test_run(PACKET).retval == 31


def test_iproute2_pinning_and_inner_id(objs: Objs, bpffs: str) -> None:
    """PIN_GLOBAL_NS under <pin root>/tc/globals, PIN_OBJECT_NS under <pin root>/tc/<SHA-1>,
    inner_id's template and inner_idx's declared slot, as iproute2 loads them."""
    import hashlib

    path = objs("iproute2_maps")
    with open(path, "rb") as f:
        sha1 = hashlib.sha1(f.read()).hexdigest()
    with CollectionSpec.from_file(path).load(pin_root=bpffs) as coll:
        inner, outer = coll.maps["map_inner"], coll.maps["map_outer"]
        assert dict(outer.items()) == {u32(0): inner.id}  # slot inner_idx 0
        inner[0] = 9
        assert coll.programs["read_inner"].test_run(PACKET).retval == 9
        ids = {name: m.id for name, m in coll.maps.items()}
    assert sorted(os.listdir(bpffs)) == ["tc"]
    assert sorted(os.listdir(os.path.join(bpffs, "tc"))) == sorted(["globals", sha1])
    assert sorted(os.listdir(os.path.join(bpffs, "tc", "globals"))) == ["map_inner", "map_outer"]
    assert os.listdir(os.path.join(bpffs, "tc", sha1)) == ["obj_counter"]
    assert os.stat(os.path.join(bpffs, "tc", "globals")).st_mode & 0o777 == 0o700
    with CollectionSpec.from_file(path).load(pin_root=bpffs) as again:  # reused, as iproute2
        assert {name: m.id for name, m in again.maps.items()} == ids
        assert again.programs["read_inner"].test_run(PACKET).retval == 9
        assert again.maps["obj_counter"][0] == (2).to_bytes(8, "little")


def test_iproute2_failed_load_removes_the_directories_it_made(objs: Objs, bpffs: str) -> None:
    spec = CollectionSpec.from_file(objs("iproute2_maps"))
    spec.programs["read_inner"].instructions = spec.programs["read_inner"].instructions[:-8]
    before = own_map_ids()
    with pytest.raises(VerifierError):
        spec.load(pin_root=bpffs)
    assert os.listdir(bpffs) == []
    assert not wait_maps_gone(own_map_ids() - before)


def test_error_template_and_reason() -> None:
    """One template, "<op> <object>: <strerror>[ (<hint>)]"; ``reason`` is what follows
    the object, whole even when the hint holds ": " (a collection wraps it in its own
    words, naming the slot it was filling), and survives pickling."""
    import pickle

    from bpfnest import KeyNotFoundError
    from bpfnest.errors import error

    err = error(
        "update", "ARRAY_OF_MAPS 'o' slot 3", errno.EINVAL, "inner map is X: only one level"
    )
    assert type(err) is BPFError and err.errno == errno.EINVAL
    assert (
        str(err)
        == "update ARRAY_OF_MAPS 'o' slot 3: Invalid argument (inner map is X: only one level)"
    )
    assert err.reason == "Invalid argument (inner map is X: only one level)"
    missing = error("lookup", "HASH 'h' key 1", errno.ENOENT, "no such key")
    assert isinstance(missing, KeyNotFoundError) and isinstance(missing, KeyError)
    for e in (err, missing):
        again = pickle.loads(pickle.dumps(e))
        assert (type(again), str(again), again.errno, again.reason) == (
            type(e),
            str(e),
            e.errno,
            e.reason,
        )
