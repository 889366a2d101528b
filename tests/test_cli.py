"""The command line, called through main() and as a process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

import bpfnest
from bpfnest import Map, MapSpec, MapType
from bpfnest.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.usefixtures("kernel")
def test_map_list_json_and_table() -> None:
    with Map.create(MapSpec(MapType.LRU_HASH, 4, 16, 32, name="cli_list")) as m:
        out = io.StringIO()
        assert main(["map", "list", "--json"], out) == 0
        rows = {r["id"]: r for r in json.loads(out.getvalue())}
        row = rows[m.id]
        assert {k: v for k, v in row.items() if k != "bytes_memlock"} == {
            "id": m.id,
            "type": "lru_hash",
            "name": "cli_list",
            "flags": 0,
            "bytes_key": 4,
            "bytes_value": 16,
            "max_entries": 32,
            "frozen": 0,
        }
        assert row["bytes_memlock"] > 0
        out = io.StringIO()
        assert main(["map", "list"], out) == 0
        lines = out.getvalue().splitlines()
        assert lines[0].split() == [
            "ID",
            "TYPE",
            "NAME",
            "FLAGS",
            "KEY",
            "VALUE",
            "MAX_ENTRIES",
            "MEMLOCK",
            "SLOTS",
            "PINNED",
        ]
        line = next(x for x in lines if x.split()[0] == str(m.id))
        assert line.split()[1:7] == ["lru_hash", "cli_list", "0x0", "4", "16", "32"]
        # The table lines up: every row puts TYPE at the same column.
        col = lines[0].index("TYPE")
        assert all(x[col - 1] == " " and x[col] != " " for x in lines[1:])


@pytest.mark.usefixtures("kernel")
def test_demo_runs_and_leaves_no_maps() -> None:
    out = io.StringIO()
    assert main(["demo"], out) == 0
    text = out.getvalue()
    assert "lookup slot 0 -> inner map id" in text
    assert "test_run with slot 0 empty: 1000" in text
    assert "  test_run: 100\n" in text and "  test_run: 200  (old or new" in text
    assert "all 4 maps the demo made are gone" in text


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map", "frobnicate"], io.StringIO()) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_m_bpfnest() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "bpfnest", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert res.returncode == 0 and res.stdout.startswith("bpfnest ")


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out), out.getvalue()


def bpftool(*args: str) -> object:
    import shutil

    from support import skip_or_fail

    if shutil.which("bpftool") is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    res = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


@pytest.fixture
def nested() -> Iterator[tuple[Map, Map, Map]]:
    inner_spec = MapSpec(MapType.HASH, 4, 8, 16, name="cli_inner")
    with (
        Map.create(
            MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 4, name="cli_outer", inner=inner_spec)
        ) as outer,
        Map.create(inner_spec) as a,
        Map.create(MapSpec(MapType.PERCPU_ARRAY, 4, 4, 2, name="cli_pcpu")) as pc,
    ):
        a[1] = 5
        a[2] = 6
        outer[0] = a
        outer[3] = a
        yield outer, a, pc


@pytest.mark.usefixtures("kernel")
def test_show_matches_bpftool(nested: tuple[Map, Map, Map], objs: Callable[..., str]) -> None:
    """Every key bpftool -j shows, btf_id included, with the same value and in
    the same order; ours (filled_slots, pinned) come after."""
    from bpfnest import CollectionSpec

    with CollectionSpec.from_file(objs("btf_values")).load() as coll:
        with_btf = [coll.maps["stats"], coll.maps[".rodata"]]
        listed = {r["id"]: r for r in json.loads(run(["map", "list", "--json"])[1])}
        for m in [*nested, *with_btf]:
            code, text = run(["map", "show", str(m.id), "--json"])
            assert code == 0
            ours = json.loads(text)
            theirs = bpftool("map", "show", "id", str(m.id))
            assert isinstance(theirs, dict)
            keys = [k for k in theirs if k not in ("pids", "pinned")]
            assert list(ours)[: len(keys)] == keys
            for key in keys:
                assert ours[key] == theirs[key], key
            assert listed[m.id] == ours
            assert ("btf_id" in ours) == (m in with_btf)
        assert with_btf[-1].info().btf_id == json.loads(text)["btf_id"] > 0
    assert json.loads(run(["map", "show", "name", "cli_outer", "--json"])[1])["filled_slots"] == 2


@pytest.mark.usefixtures("kernel")
def test_dump_matches_bpftool_and_nests(nested: tuple[Map, Map, Map]) -> None:
    outer, a, pc = nested
    for m in (a, outer):
        ours = json.loads(run(["map", "dump", str(m.id), "--json"])[1])
        theirs = bpftool("map", "dump", "id", str(m.id))
        assert isinstance(theirs, list)
        assert [(e["key"], e["value"]) for e in ours] == [(e["key"], e["value"]) for e in theirs]
    ours = json.loads(run(["map", "dump", str(outer.id), "--json"])[1])
    assert [e["inner_map_id"] for e in ours] == [a.id, a.id]
    assert ours[0]["inner"]["id"] == a.id and len(ours[0]["inner"]["entries"]) == 2
    shallow = json.loads(run(["map", "dump", str(outer.id), "--json", "--depth", "0"])[1])
    assert "inner" not in shallow[0]
    limited = json.loads(run(["map", "dump", str(outer.id), "--json", "--limit", "1"])[1])
    assert len(limited) == 1 and len(limited[0]["inner"]["entries"]) == 1
    _, text = run(["map", "dump", str(outer.id)])
    assert f"key: 00 00 00 00  inner_map_id: {a.id}" in text
    assert "    key: 01 00 00 00  value: 05 00 00 00 00 00 00 00" in text
    assert text.rstrip().endswith("Found 2 elements")
    percpu = json.loads(run(["map", "dump", str(pc.id), "--json"])[1])
    assert [v["cpu"] for v in percpu[0]["values"]] == list(range(bpfnest.possible_cpus()))


@pytest.mark.usefixtures("kernel")
def test_tree(nested: tuple[Map, Map, Map]) -> None:
    outer, a, _ = nested
    trees = json.loads(run(["map", "tree", "--json"])[1])
    mine = next(t for t in trees if t["id"] == outer.id)
    assert mine["template"] == {
        "type": "hash",
        "bytes_key": 4,
        "bytes_value": 8,
        "max_entries": 16,
        "flags": 0,
    }
    assert [
        (s["slot"], s["inner"]["id"], s["inner"]["entries"], s["inner"]["shared"])
        for s in mine["slots"]
    ] == [(0, a.id, 2, True), (3, a.id, 2, True)]
    code, text = run(["map", "tree", str(outer.id)])
    assert code == 0 and f"[3] -> {a.id}: hash 'cli_inner'" in text and "(shared)" in text


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize(
    ("argv", "status", "text"),
    [
        (["map", "show", "4000000000"], 1, "no map has this id"),
        (["map", "dump", "pinned", "/sys/fs/bpf/does/not/exist"], 1, "nothing is pinned"),
        (["map", "show", "name", "no_such_map_x"], 1, "no map has this name"),
        (["map", "show", "frob", "1"], 2, "name a map as ID"),
        (["load", "/nonexistent.o"], 1, "No such file"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], status: int, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, io.StringIO()) == status
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.usefixtures("kernel")
def test_tree_of_a_plain_map_is_an_error(
    nested: tuple[Map, Map, Map], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["map", "tree", str(nested[1].id)], io.StringIO()) == 1
    assert "not an outer map" in capsys.readouterr().err


@pytest.mark.usefixtures("kernel")
def test_load_and_pin(objs: Callable[..., str], bpffs: str) -> None:
    code, text = run(["load", objs("outer_init"), "--pin", bpffs])
    assert code == 0, text
    assert (
        f"pinned {bpffs}/maps/outer_arr" in text and f"pinned {bpffs}/progs/write_through" in text
    )
    with (
        Map.from_pinned(f"{bpffs}/maps/outer_arr") as arr,
        Map.from_pinned(f"{bpffs}/maps/inner_map2") as m2,
    ):
        assert arr[0] == m2.id
    from bpfnest import Program

    with Program.from_pinned(f"{bpffs}/progs/write_through") as prog:
        shown = json.loads(run(["prog", "show", str(prog.id), "--json"])[1])
        assert shown["name"] == "write_through" and shown["type"] == "xdp"
        assert len(shown["map_ids"]) == 3
        listed = json.loads(run(["prog", "list", "--json"])[1])
        assert prog.id in [p["id"] for p in listed]


@pytest.mark.usefixtures("kernel")
def test_load_legacy_with_inner(objs: Callable[..., str], bpffs: str) -> None:
    code, _ = run(["load", objs("legacy_maps")])
    assert code == 1
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="tmpl")) as tmpl:
        code, text = run(["load", objs("legacy_maps"), "--inner", f"outer_hash={tmpl.id}"])
    assert code == 0, text
    assert "map outer_hash: hash_of_maps" in text and "not pinned" in text


def _unhex(v: object) -> object:
    """bpftool writes bitfields as "0x.." strings; we write ints."""
    if isinstance(v, dict):
        return {k: _unhex(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unhex(x) for x in v]
    if isinstance(v, str) and v.startswith("0x"):
        return int(v, 16)
    return v


@pytest.mark.usefixtures("kernel")
def test_dump_decodes_btf_like_bpftool(objs: Callable[..., str]) -> None:
    from bpfnest import CollectionSpec

    with CollectionSpec.from_file(objs("btf_values")).load() as coll:
        assert coll.programs["fill"].test_run(bytes(64)).retval == 2
        m = coll.maps["stats"]
        ours = json.loads(run(["map", "dump", str(m.id), "--json"])[1])
        assert ours[0]["formatted"] == {
            "key": 7,
            "value": {
                "count": 3,
                "low": 5,
                "high": 1000,
                "label": "hi",
                "color": "GREEN",
                "delta": -2,
            },
        }
        theirs = bpftool("map", "dump", "id", str(m.id))
        assert isinstance(theirs, list)
        assert [_unhex(e["formatted"]) for e in theirs] == [e["formatted"] for e in ours]
        _, text = run(["map", "dump", str(m.id)])
        assert '  = {"key": 7, "value": {"count": 3' in text


@pytest.mark.usefixtures("kernel")
def test_dump_decodes_global_data(objs: Callable[..., str]) -> None:
    from bpfnest import CollectionSpec

    with CollectionSpec.from_file(objs("globals")).load() as coll:
        entries = json.loads(run(["map", "dump", str(coll.maps[".data"].id), "--json"])[1])
        assert entries[0]["formatted"]["value"] == {"counter": 7}


@pytest.mark.usefixtures("kernel")
def test_tree_of_an_empty_outer_map() -> None:
    spec = MapSpec(
        MapType.HASH_OF_MAPS, 8, 4, 4, name="cli_empty", inner=MapSpec(MapType.ARRAY, 4, 4, 1)
    )
    with Map.create(spec) as outer:
        tree = json.loads(run(["map", "tree", "name", "cli_empty", "--json"])[1])
        assert tree == [{**tree[0], "id": outer.id, "template": "unknown", "slots": []}]
        _, text = run(["map", "tree", str(outer.id)])
        assert text.startswith(f"{outer.id}: hash_of_maps 'cli_empty'")
        assert "template unknown (empty)" in text
