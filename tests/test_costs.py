"""What objects cost (issue 13 item 6): no syscall a spec already answers."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest

from bpfnest import Map, MapSpec, MapType
from bpfnest._sys import ops
from bpfnest.constants import F_MMAPABLE, F_NO_PREALLOC, F_NUMA_NODE, F_RDONLY_PROG

pytestmark = pytest.mark.usefixtures("kernel")

U32_U64 = {"key_size": 4, "value_size": 8}

# Specs whose kernel description is what they say: created without an info syscall.
SPECS = [
    MapSpec(MapType.ARRAY, max_entries=4, name="c_array", **U32_U64),
    MapSpec(MapType.ARRAY, max_entries=4, name="c_mmap", flags=F_MMAPABLE, **U32_U64),
    MapSpec(MapType.HASH, max_entries=4, name="c_hash", flags=F_NO_PREALLOC, **U32_U64),
    MapSpec(MapType.PERCPU_HASH, max_entries=4, name="c_percpu", **U32_U64),
    MapSpec(MapType.LRU_HASH, max_entries=4, name="c_lru", **U32_U64),
    MapSpec(MapType.ARRAY, max_entries=4, name="c_rdonly_prog", flags=F_RDONLY_PROG, **U32_U64),
    MapSpec(MapType.QUEUE, 0, 8, 4, name="c_queue"),
    MapSpec(MapType.RINGBUF, 0, 0, 4096, name="c_ring"),
    MapSpec(MapType.BLOOM_FILTER, 0, 8, 16, name="c_bloom", map_extra=3),
    MapSpec(MapType.ARRAY, max_entries=4, name="a_name_too_long_x", **U32_U64),
    MapSpec(MapType.ARRAY, max_entries=4, **U32_U64),
]


@pytest.fixture
def info_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts bpfnest's own ``ops.map_info`` calls (the real call still runs;
    the leak guard's calls in conftest are not counted)."""
    calls: list[int] = []
    real = ops.map_info

    def counted(fd: int) -> Any:
        if sys._getframe(1).f_globals["__name__"].startswith("bpfnest."):
            calls.append(fd)
        return real(fd)

    monkeypatch.setattr(ops, "map_info", counted)
    return calls


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name or s.type.name)
def test_create_reads_no_info_and_the_id_on_first_use(spec: MapSpec, info_calls: list[int]) -> None:
    with Map.create(spec) as m:
        assert info_calls == []  # no BPF_OBJ_GET_INFO_BY_FD after BPF_MAP_CREATE
        assert (m.name, m.max_entries, m.flags) == (spec.name[:15], spec.max_entries, spec.flags)
        assert info_calls == []
        kernel = m.info()
        assert m.id == kernel.id > 0
        assert m._info == kernel  # what the spec said is what the kernel reports


def test_create_with_numa_node_says_the_flag() -> None:
    spec = MapSpec(MapType.ARRAY, max_entries=4, name="c_numa", numa_node=0, **U32_U64)
    with Map.create(spec) as m:
        assert m.flags == F_NUMA_NODE and m._info == m.info()


def test_fd_only_flags_are_read_back(info_calls: list[int]) -> None:
    """BPF_F_RDONLY/WRONLY belong to the fd: the kernel's flags are read at create."""
    from bpfnest._sys.uapi import BPF_F_RDONLY

    spec = MapSpec(MapType.ARRAY, max_entries=4, name="c_rdonly", flags=BPF_F_RDONLY, **U32_U64)
    with Map.create(spec) as m:
        assert len(info_calls) == 1 and m.flags == m.info().flags


def test_id_of_a_map_closed_before_its_id_was_read() -> None:
    m = Map.create(SPECS[0])
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.id  # noqa: B018
    assert "closed" in repr(m)


def test_id_read_once_stays(info_calls: list[int]) -> None:
    m = Map.create(dataclasses.replace(SPECS[0]))
    with m:
        first = m.id
        assert len(info_calls) == 1
        assert m.id == first and len(info_calls) == 1
    assert m.id == first  # known before the close: still known after


def test_map_list_is_map_show_of_each_map(bpffs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`map list`'s light path gives what map_show gives; it builds a Map only for outer maps."""
    from bpfnest import OuterMap, view

    inner = MapSpec(MapType.HASH, max_entries=4, name="c_inner", **U32_U64)
    with (
        Map.create(SPECS[0]) as plain,
        Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="c_outer", inner=inner)) as outer,
        Map.create(inner) as filler,
    ):
        assert isinstance(outer, OuterMap)
        outer[1] = filler
        plain.pin(f"{bpffs}/p")
        mine = {plain.id, outer.id, filler.id}
        pins = view.find_pins()
        opened: list[int] = []
        real = Map.from_id.__func__  # type: ignore[attr-defined]

        def counted(cls: type[Map[Any]], map_id: int) -> Map[Any]:
            opened.append(map_id)
            return real(cls, map_id)  # type: ignore[no-any-return]

        monkeypatch.setattr(Map, "from_id", classmethod(counted))
        rows = [r for r in view.map_list(pins) if r["id"] in mine]
        assert [i for i in opened if i in mine] == [outer.id]
        monkeypatch.undo()
        assert rows == [view.map_show(m, pins) for m in (plain, outer, filler)]
        assert rows[0]["pinned"] == [f"{bpffs}/p"] and rows[1]["filled_slots"] == 1


@pytest.mark.parametrize("name", ["btf_values", "globals", "outer_init"])
def test_collection_load_reads_no_map_info(objs: Any, name: str, info_calls: list[int]) -> None:
    """Maps made with the object's BTF learn their id (and BTF id) on first use, exactly."""
    from bpfnest import CollectionSpec

    with CollectionSpec.from_file(objs(name)).load() as coll:
        if not any(m.type.is_outer for m in coll.maps.values()):  # templates and slots read ids
            assert info_calls == []
        for m in coll.maps.values():
            assert m._info == m.info(), m.name


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_elf64_tables_decode_as_pyelftools_does(objs: Any, target: str) -> None:
    """Symbols and relocations of ELF64 are read with ``struct``: the same as pyelftools."""
    from bpfnest._elffile import SHT_REL, SHT_RELA, SHT_SYMTAB, ElfFile, Symbol, cstring

    path = objs("all_steps", target)
    with open(path, "rb") as f:
        elf = ElfFile(f.read(), path)
    symtab = next(h for h in elf.headers if h.type == SHT_SYMTAB)
    strings = elf.data_of(elf.headers[symtab.link])
    assert elf.symbols == [
        Symbol(
            cstring(strings, r["st_name"]) or "",
            r["st_value"],
            r["st_size"],
            r["st_shndx"],
            r["st_info"]["type"],
            r["st_info"]["bind"],
        )
        for _, r in elf.table(symtab, elf.structs.Elf_Sym, "symbol")
    ]
    assert any(s.type == "STT_FUNC" and s.bind == "STB_GLOBAL" for s in elf.symbols)
    assert any(s.shndx == "SHN_UNDEF" for s in elf.symbols)
    rels = [h for h in elf.headers if h.type in (SHT_REL, SHT_RELA)]
    assert rels
    for h in rels:
        layout = elf.structs.Elf_Rela if h.type == SHT_RELA else elf.structs.Elf_Rel
        assert list(elf.relocation_table(h)) == [
            (at, r["r_offset"], r["r_info_sym"]) for at, r in elf.table(h, layout, "relocation")
        ]
