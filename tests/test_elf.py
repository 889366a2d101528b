"""Reading clang objects into CollectionSpecs: no kernel, both byte orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bpfnest import (
    F_NO_PREALLOC,
    F_RDONLY_PROG,
    PIN_BY_NAME,
    AttachType,
    CollectionSpec,
    MapSpec,
    MapType,
    ParseError,
    ProgType,
)
from bpfnest.spec import MapRef, VariableSpec

Objs = Callable[..., str]
TARGETS = ["bpfel", "bpfeb"]
ARRAY_1 = dict(type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1)


def plain(maps: dict[str, MapSpec]) -> dict[str, MapSpec]:
    """The maps without their BTF type ids (checked on their own below)."""
    out = {}
    for name, m in maps.items():
        inner = m.inner
        if isinstance(inner, MapSpec):
            inner = dataclasses.replace(inner, btf_key_type_id=0, btf_value_type_id=0)
        out[name] = dataclasses.replace(m, btf_key_type_id=0, btf_value_type_id=0, inner=inner)
    return out


def test_btf_type_ids_of_maps(objs: Objs) -> None:
    from bpfnest.btf import Datasec

    spec = load(objs, "outer_init")
    assert spec.btf is not None
    m = spec.maps["inner_map1"]
    assert spec.btf.type_by_id(m.btf_key_type_id).name == "int"
    assert spec.btf.type_by_id(m.btf_value_type_id).name == "int"
    bss = spec.btf.type_by_id(spec.maps[".bss"].btf_value_type_id)
    assert isinstance(bss, Datasec) and bss.name == ".bss"


def load(objs: Objs, name: str, target: str = "bpfel") -> CollectionSpec:
    return CollectionSpec.from_file(objs(name, target))


@pytest.mark.parametrize("target", TARGETS)
def test_declared_map_in_map(objs: Objs, target: str) -> None:
    spec = load(objs, "outer_init", target)
    assert spec.byteorder == ("little" if target == "bpfel" else "big")
    assert plain(spec.maps) == {
        "inner_map1": MapSpec(**ARRAY_1, name="inner_map1"),
        "inner_map2": MapSpec(**ARRAY_1, name="inner_map2"),
        "outer_arr": MapSpec(
            MapType.ARRAY_OF_MAPS,
            4,
            4,
            3,
            name="outer_arr",
            inner=MapSpec(**ARRAY_1, name="outer_arr.inner"),
            contents={0: "inner_map2", 2: "inner_map1"},
        ),
        "outer_hash": MapSpec(
            MapType.HASH_OF_MAPS,
            4,
            4,
            5,
            name="outer_hash",
            inner=MapSpec(**ARRAY_1, name="outer_hash.inner"),
            contents={0: "inner_map2", 4: "inner_map1"},
        ),
        ".bss": MapSpec(**{**ARRAY_1, "name": ".bss", "contents": {0: bytes(4)}}),
    }
    prog = spec.programs["write_through"]
    assert (prog.type, prog.attach_type, prog.section, prog.license) == (
        ProgType.XDP,
        AttachType.XDP,
        "xdp",
        "GPL",
    )
    assert [r.map for r in prog.map_refs] == ["outer_arr", ".bss", "outer_hash"]
    assert prog.map_refs[1] == MapRef(prog.map_refs[1].insn, ".bss", 0)
    assert spec.variables == {"input": VariableSpec("input", ".bss", 0, 4)}
    assert [f.insn for f in prog.func_info] == [0]
    assert prog.line_info and prog.line_info[0].insn == 0


@pytest.mark.parametrize("target", TARGETS)
def test_legacy_maps(objs: Objs, target: str) -> None:
    spec = load(objs, "legacy_maps", target)
    assert plain(spec.maps) == {
        "outer_hash": MapSpec(MapType.HASH_OF_MAPS, 4, 4, 8, name="outer_hash"),
        "counters": MapSpec(MapType.ARRAY, 4, 8, 4, name="counters"),
    }
    long = load(objs, "legacy_long", target)
    assert plain(long.maps) == {
        "long_hash": MapSpec(MapType.HASH, 8, 16, 32, flags=F_NO_PREALLOC, name="long_hash"),
        "long_array": MapSpec(MapType.ARRAY, 4, 4, 2, name="long_array"),
    }
    assert long.programs["touch"].type == ProgType.SOCKET_FILTER


@pytest.mark.parametrize("target", TARGETS)
def test_globals_and_subprograms(objs: Objs, target: str) -> None:
    spec = load(objs, "globals", target)
    order = "little" if target == "bpfel" else "big"
    assert plain(spec.maps)[".data"] == MapSpec(
        **{**ARRAY_1, "name": ".data", "contents": {0: (7).to_bytes(4, order)}}
    )
    assert plain(spec.maps)[".rodata"] == MapSpec(
        **{
            **ARRAY_1,
            "name": ".rodata",
            "flags": F_RDONLY_PROG,
            "contents": {0: (3).to_bytes(4, order)},
        }
    )
    assert spec.maps[".data.extra"].contents == {0: (40).to_bytes(4, order)}
    assert spec.get_global("factor") == (3).to_bytes(4, order)
    prog = spec.programs["use_globals"]
    # use_globals, then bump and scale appended: each function has its func_info.
    assert len(prog.func_info) == 3
    assert len(spec.programs["use_scale"].func_info) == 2
    assert {r.map for r in prog.map_refs} == {".data", ".rodata", ".bss", ".data.extra"}


def test_wide_hash_keys_and_prog_array(objs: Objs) -> None:
    spec = load(objs, "hom_key8")
    assert spec.maps["wide_keys"].key_size == 8
    assert spec.maps["wide_keys"].contents == {1: "a", 3: "b"}
    tail = load(objs, "tail_calls")
    assert plain(tail.maps)["jump_table"] == MapSpec(
        MapType.PROG_ARRAY, 4, 4, 2, name="jump_table", contents={1: "tail_target"}
    )


def test_pinning_read(objs: Objs) -> None:
    spec = load(objs, "pinned")
    assert spec.maps["pinned_stats"].pinning == 1
    assert spec.maps["pinned_outer"].pinning == 1
    assert spec.maps["pinned_inner"].pinning is None


def test_kconfig_and_core(objs: Objs) -> None:
    spec = load(objs, "kconfig")
    kver, syscall = spec.variables["LINUX_KERNEL_VERSION"], spec.variables["CONFIG_BPF_SYSCALL"]
    assert (kver.map, kver.size, kver.offset % 4) == (".kconfig", 4, 0)
    assert (syscall.map, syscall.size) == (".kconfig", 1)
    assert not (kver.offset <= syscall.offset < kver.offset + 4)  # no overlap
    # libbpf's layout (cmp_externs: alignment descending): the u32 first, then the bool
    assert (kver.offset, syscall.offset, spec.maps[".kconfig"].value_size) == (0, 4, 5)
    assert load(objs, "core").programs["uses_core"].core_relos >= 1


def test_byte_orders_agree(objs: Objs) -> None:
    for name in ("outer_init", "globals", "tail_calls", "devmap_redirect", "legacy_maps"):
        el, eb = load(objs, name, "bpfel"), load(objs, name, "bpfeb")
        assert {k: _norm(v) for k, v in el.maps.items()} == {
            k: _norm(v) for k, v in eb.maps.items()
        }
        assert el.programs.keys() == eb.programs.keys()
        for p in el.programs:
            a, b = el.programs[p], eb.programs[p]
            assert (a.map_refs, a.type, len(a.instructions)) == (
                b.map_refs,
                b.type,
                len(b.instructions),
            )


def _norm(m: MapSpec) -> MapSpec:
    m = plain({"m": m})["m"]
    contents = m.contents
    if contents and isinstance(contents.get(0), bytes):
        contents = {0: b"<data>"}
    return dataclasses.replace(m, contents=contents)


# ------------------------------------------------------------------ bad input


def test_not_an_elf() -> None:
    with pytest.raises(ParseError, match=r"x\.o: malformed ELF"):
        CollectionSpec.from_bytes(b"\x7fELF" + bytes(10), file="x.o")
    with pytest.raises(ParseError):
        CollectionSpec.from_bytes(b"", file="x.o")


def test_not_bpf() -> None:
    import sys

    with open(sys.executable, "rb") as f:
        data = f.read(1 << 20)
    with pytest.raises(ParseError) as exc:
        CollectionSpec.from_bytes(data, file="python")
    assert "python" in str(exc.value)


@pytest.mark.parametrize("cut", [64, 200, 1000, 3000])
def test_truncated(objs: Objs, cut: int) -> None:
    with open(objs("outer_init"), "rb") as f:
        data = f.read()
    with pytest.raises(ParseError) as exc:
        CollectionSpec.from_bytes(data[:cut], file="cut.o")
    assert exc.value.file == "cut.o"


def _section_offset(data: bytes, name: str) -> tuple[int, int]:
    import io

    from elftools.elf.elffile import ELFFile

    sec = ELFFile(io.BytesIO(data)).get_section_by_name(name)
    assert sec is not None
    return sec["sh_offset"], sec["sh_size"]


def test_corrupt_btf_names_section(objs: Objs) -> None:
    with open(objs("outer_init"), "rb") as f:
        data = bytearray(f.read())
    off, _ = _section_offset(bytes(data), ".BTF")
    data[off + 24 : off + 28] = (0xFFFFFF).to_bytes(4, "little")  # huge type_len
    with pytest.raises(ParseError) as exc:
        CollectionSpec.from_bytes(bytes(data), file="bad.o")
    assert exc.value.section == ".BTF" and exc.value.file == "bad.o"


def test_relocation_outside_section(objs: Objs) -> None:
    with open(objs("outer_init"), "rb") as f:
        data = bytearray(f.read())
    off, _ = _section_offset(bytes(data), ".relxdp")
    data[off : off + 8] = (0x100000).to_bytes(8, "little")  # r_offset far past the code
    with pytest.raises(ParseError, match="outside section xdp") as exc:
        CollectionSpec.from_bytes(bytes(data), file="rel.o")
    assert exc.value.section == ".relxdp"


def test_missing_license(objs: Objs) -> None:
    with open(objs("xdp_pass"), "rb") as f:
        data = bytearray(f.read())
    # Rename the section "license" to "licensf" in the section name table.
    data = bytearray(bytes(data).replace(b"license\0", b"licensf\0"))
    with pytest.raises(ParseError, match="no license section"):
        CollectionSpec.from_bytes(bytes(data), file="nolicense.o")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad_values_not_last", "map 'bad': 'values' must be the last field"),
        ("bad_values_on_hash", "map 'bad': values of maps on HASH, which is not an outer map"),
        ("bad_pinned_inner", "an inner map definition cannot be pinned"),
        ("bad_nested_outer", "nested map-in-map"),
        ("bad_outer_value8", "map 'bad': HASH_OF_MAPS value_size must be 4, not 8"),
        (
            "bad_inner_fwd",  # clang 14: the inner value struct is only a BTF FWD
            "map 'vips' inner value type 'struct backend' is only declared, not defined:"
            " use the struct in a global or a map value so clang emits it",
        ),
    ],
)
def test_rejected_map_definitions(objs: Objs, name: str, text: str) -> None:
    with pytest.raises(ParseError) as exc:
        load(objs, name)
    assert text in str(exc.value)
    assert exc.value.section == ".maps" and exc.value.file.endswith(".o")


def test_every_uint_field(objs: Objs) -> None:
    spec = load(objs, "map_fields")
    assert plain(spec.maps) == {
        "bloom": MapSpec(MapType.BLOOM_FILTER, 0, 4, 64, name="bloom", map_extra=5),
        "sized": MapSpec(MapType.HASH, 8, 8, 8, flags=F_NO_PREALLOC, name="sized", numa_node=0),
    }


@pytest.mark.parametrize(
    ("section", "expect"),
    [
        ("xdp", (ProgType.XDP, AttachType.XDP, "")),
        ("socket", (ProgType.SOCKET_FILTER, None, "")),
        ("tc", (ProgType.SCHED_CLS, None, "")),
        ("classifier", (ProgType.SCHED_CLS, None, "")),
        ("kprobe/do_unlinkat", (ProgType.KPROBE, None, "do_unlinkat")),
        ("kretprobe/do_unlinkat", (ProgType.KPROBE, None, "do_unlinkat")),
        ("ksyscall/getpgid", (ProgType.KPROBE, None, "getpgid")),
        ("kretsyscall/getpgid", (ProgType.KPROBE, None, "getpgid")),
        (
            "tracepoint/syscalls/sys_enter_openat",
            (ProgType.TRACEPOINT, None, "syscalls/sys_enter_openat"),
        ),
        ("raw_tp/sys_enter", (ProgType.RAW_TRACEPOINT, None, "sys_enter")),
        ("cgroup_skb/ingress", (ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, "")),
        ("cgroup_skb/egress", (ProgType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS, "")),
        ("sk_skb", (ProgType.SK_SKB, None, "")),
        ("sk_msg", (ProgType.SK_MSG, AttachType.SK_MSG_VERDICT, "")),
        ("lsm/file_open", (ProgType.LSM, AttachType.LSM_MAC, "file_open")),
        ("fentry/do_unlinkat", (ProgType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat")),
        ("fexit/do_unlinkat", (ProgType.TRACING, AttachType.TRACE_FEXIT, "do_unlinkat")),
    ],
)
def test_section_names(section: str, expect: tuple[object, ...]) -> None:
    from bpfnest.sections import program_type

    d = program_type(section)
    assert d is not None and (d.type, d.attach_type, d.attach_to) == expect
    assert program_type("not_a_section") is None


@pytest.mark.parametrize(
    ("obj", "old", "new", "section", "text"),
    [
        (
            "name_clash",
            b"dupb",
            b"dupa",
            ".maps",
            "two maps named 'dupa': in .maps at 0x0 and at 0x20",
        ),
        (
            "name_clash",
            b"xrodata",
            b".rodata",
            "maps",
            "two maps named '.rodata': data section .rodata (#",
        ),
        (
            "name_clash",
            b"progb",
            b"proga",
            "socket",
            "two programs named 'proga': in socket at 0x0 and in",
        ),
        (
            "globals",
            b"zeroed",
            b"factor",
            ".bss",
            "two variables named 'factor': in .rodata at 0x0 and in .bss at 0x0",
        ),
    ],
)
def test_two_symbols_of_one_name(
    objs: Objs, obj: str, old: bytes, new: bytes, section: str, text: str
) -> None:
    """clang refuses two symbols of one name, a crafted object has them: neither
    is dropped in silence (a legacy map '.rodata' replaced the real constants)."""
    with open(objs(obj), "rb") as f:
        data = f.read()
    CollectionSpec.from_bytes(data)  # well-formed before the renaming
    with pytest.raises(ParseError) as exc:
        CollectionSpec.from_bytes(data.replace(old + b"\0", new + b"\0"), file="clash.o")
    assert text in str(exc.value) and "(rename one)" in str(exc.value)
    assert exc.value.section == section and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("name", "section", "text"),
    [
        (
            "bad_slot_key",
            ".rel.maps",
            "map 'bad': slot 300 does not fit its 1-byte key (at most 255)",
        ),
        ("bad_prog_slot", ".rel.maps", "map 'bad': slot 2 >= max_entries 2"),
        ("bad_hom_slots", ".maps", "map 'bad': 2 declared slots, more than its max_entries 1"),
    ],
)
def test_declared_slots_the_map_cannot_hold(objs: Objs, name: str, section: str, text: str) -> None:
    with pytest.raises(ParseError) as exc:
        load(objs, name)
    assert text in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.section == section


def _bench_run() -> Any:
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "run.py")
    mod_spec = importlib.util.spec_from_file_location("bench_run", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def test_ten_thousand_maps(tmp_path: Path) -> None:
    """10,000 maps and 10,000 declared slots parse (in n log n: the timing is
    benchmarks/run.py's parse_maps, never asserted here)."""
    run = _bench_run()
    n = 10_000
    spec = CollectionSpec.from_file(run.compile_c(run.many_maps_c(n), str(tmp_path)))
    assert len(spec.maps) == n + 1
    assert plain({"m": spec.maps["m9999"]})["m"] == MapSpec(**ARRAY_1, name="m9999")
    assert spec.maps["outer"].contents == {i: f"m{i}" for i in range(n)}


# ------------------------------------------------------------------ legacy layouts


def test_samples_bpf_inner_map_idx(objs: Objs) -> None:
    """struct bpf_map_def's inner_map_idx: the definition at that index is the template."""
    spec = load(objs, "legacy_inner_idx")
    assert plain(spec.maps)["outer"] == MapSpec(
        MapType.HASH_OF_MAPS,
        4,
        4,
        8,
        name="outer",
        inner=MapSpec(MapType.ARRAY, 4, 4, 1, name="outer.inner"),
    )


def test_iproute2_bpf_elf_map(objs: Objs) -> None:
    """iproute2's id/inner_id/inner_idx/pinning, read by name from BTF or, without
    BTF, by the definition's size (36 bytes): the same specs either way."""
    import hashlib

    with open(objs("iproute2_maps"), "rb") as f:
        data = f.read()
    obj_ns = f"tc/{hashlib.sha1(data).hexdigest()}"
    glob = dict(pinning=PIN_BY_NAME, pin_dir="tc/globals")
    expected = {
        "map_inner": MapSpec(MapType.ARRAY, 4, 4, 1, name="map_inner", **glob),
        "map_outer": MapSpec(
            MapType.ARRAY_OF_MAPS,
            4,
            4,
            2,
            name="map_outer",
            inner=MapSpec(MapType.ARRAY, 4, 4, 1, name="map_outer.inner"),
            contents={0: "map_inner"},
            **glob,
        ),
        "obj_counter": MapSpec(
            MapType.ARRAY, 4, 8, 1, name="obj_counter", pinning=PIN_BY_NAME, pin_dir=obj_ns
        ),
    }
    assert CollectionSpec.from_bytes(data).maps == expected
    no_btf = data.replace(b".BTF\0", b".BTX\0")  # also .BTF.ext: the reader sees no BTF
    assert CollectionSpec.from_bytes(no_btf).btf is None
    nb = CollectionSpec.from_bytes(no_btf).maps
    assert {n: dataclasses.replace(m, pin_dir="") for n, m in nb.items()} == {
        n: dataclasses.replace(m, pin_dir="") for n, m in expected.items()
    }
    assert nb["obj_counter"].pin_dir != obj_ns  # the object's bytes changed, and its SHA-1


LEGACY_PRELUDE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct bpf_map_def {
    __u32 type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
};
struct bpf_elf_map {
    __u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx;
};
#define DEF(t, ...) { .type = t, .key_size = 4, .value_size = 4, .max_entries = 1, __VA_ARGS__ }
#define ELF(t, ...) { .type = t, .size_key = 4, .size_value = 4, .max_elem = 2, __VA_ARGS__ }
#define HOM BPF_MAP_TYPE_HASH_OF_MAPS
#define AOM BPF_MAP_TYPE_ARRAY_OF_MAPS
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize(
    ("defs", "text"),
    [
        (
            'struct bpf_elf_map SEC("maps") m = ELF(BPF_MAP_TYPE_ARRAY, .pinning = 3);',
            "legacy map 'm': pinning 3 is an iproute2 custom namespace"
            " (/etc/iproute2/bpf_pinning), which bpfnest cannot honour",
        ),
        (
            'struct bpf_elf_map SEC("maps") m = ELF(AOM, .inner_id = 9);',
            "legacy map 'm': inner_id 9 is the id of no other map",
        ),
        (
            'struct bpf_elf_map SEC("maps") m = ELF(BPF_MAP_TYPE_ARRAY, .id = 3, .inner_idx = 1);',
            "legacy map 'm': inner_idx 1 but no outer map has inner_id 3",
        ),
        (
            'struct bpf_elf_map SEC("maps") in = ELF(BPF_MAP_TYPE_ARRAY, .id = 3, .inner_idx = 5);'
            'struct bpf_elf_map SEC("maps") out = ELF(AOM, .inner_id = 3);',
            "legacy map 'out': slot 5 >= max_entries 2 (inner_idx of 'in')",
        ),
        (
            'struct bpf_elf_map SEC("maps") a = ELF(BPF_MAP_TYPE_ARRAY, .id = 3, .inner_idx = 1);'
            'struct bpf_elf_map SEC("maps") b = ELF(BPF_MAP_TYPE_ARRAY, .id = 3, .inner_idx = 1);'
            'struct bpf_elf_map SEC("maps") out = ELF(AOM, .inner_id = 3);',
            "legacy map 'out': slot 1 declared twice, by 'a' and 'b' (inner_idx)",
        ),
        (
            'struct bpf_map_def SEC("maps") m = DEF(BPF_MAP_TYPE_ARRAY, .inner_map_idx = 1);',
            "legacy map 'm': inner_map_idx 1 on ARRAY, which is not an outer map",
        ),
        (
            'struct bpf_map_def SEC("maps") m = DEF(HOM);',
            "legacy map 'm': inner_map_idx 0 is the map itself",
        ),
        (
            'struct bpf_map_def SEC("maps") m = DEF(HOM, .inner_map_idx = 4);',
            "legacy map 'm': inner_map_idx 4 is past the last (0)",
        ),
        (
            'struct bpf_map_def SEC("maps") o = DEF(AOM, .inner_map_idx = 1);'
            'struct bpf_map_def SEC("maps") m = DEF(HOM, .inner_map_idx = 0);',
            "legacy map 'o': inner_map_idx names 'm', an outer map (nested map-in-map)",
        ),
        (
            "struct odd { __u32 type, key_size, value_size, max_entries, foo; };"
            'struct odd SEC("maps") m = { .type = 2, .key_size = 4, .value_size = 4,'
            " .max_entries = 1, .foo = 3 };",
            "legacy map 'm': field 'foo' is 3, which bpfnest cannot honour",
        ),
        (
            "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);"
            ' __type(key, __u32); __type(value, __u32); __uint(pinning, 2); } m SEC(".maps");',
            "map 'm': pinning 2 is neither LIBBPF_PIN_NONE (0) nor LIBBPF_PIN_BY_NAME (1)",
        ),
    ],
)
def test_legacy_fields_that_cannot_be_honoured(tmp_path: Path, defs: str, text: str) -> None:
    """Nothing is dropped in silence: each such field is a ParseError naming it."""
    obj = _bench_run().compile_c(LEGACY_PRELUDE + defs + "\n", str(tmp_path))
    with pytest.raises(ParseError) as exc:
        CollectionSpec.from_file(obj)
    assert text in str(exc.value) and "\n" not in str(exc.value)


def test_legacy_fields_without_btf_must_be_zero(objs: Objs) -> None:
    """Without BTF a 28-byte definition could be either layout: only zeros are read."""
    with open(objs("legacy_inner_idx"), "rb") as f:
        data = f.read().replace(b".BTF\0", b".BTX\0")
    with pytest.raises(ParseError, match=r"'outer': field 'u32 #5 \(compile with -g to name it\)'"):
        CollectionSpec.from_bytes(data)
    with open(objs("legacy_long"), "rb") as f:  # its extra fields are 0: read as before
        data = f.read().replace(b".BTF\0", b".BTX\0")
    assert CollectionSpec.from_bytes(data).maps["long_hash"].key_size == 8


def test_a_thousand_subprograms(tmp_path: Path) -> None:
    """func_info/line_info of each subprogram found by bisection (a scan per
    function was quadratic: 2,000 subprograms took seconds)."""
    n = 1000
    source = "\n".join(
        [
            "#include <linux/bpf.h>",
            "#include <bpf/bpf_helpers.h>",
            *(
                f"__attribute__((noinline)) int f{i}(int x) {{ return x * {i + 3}; }}"
                for i in range(n)
            ),
            'SEC("socket") int prog(void *ctx) { int s = 0;',
            *(f"  s += f{i}(s);" for i in range(n)),
            "  return s; }",
            'char LICENSE[] SEC("license") = "GPL";',
        ]
    )
    prog = CollectionSpec.from_file(_bench_run().compile_c(source, str(tmp_path))).programs["prog"]
    assert len(prog.func_info) == n + 1
    insns = [fi.insn for fi in prog.func_info]
    assert insns == sorted(insns) and insns[0] == 0 and len(set(insns)) == n + 1
    lines = [li.insn for li in prog.line_info]
    assert lines == sorted(lines) and lines[-1] < prog.insn_count and len(lines) > 2 * n
