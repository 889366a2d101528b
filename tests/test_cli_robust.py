"""The command line under pressure: large dumps (streamed, bounded memory), a
reader that goes away, odd pin trees, BTF the decoder refuses, ambiguous names
and the exact error texts. Processes run ``python -m bpfnest`` for real where
the item is about the process (memory, pipes, stdout encoding)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import pytest

from bpfnest import CollectionSpec, Map, MapSpec, MapType, Program, ProgramSpec, ProgType, view
from bpfnest.cli import main

pytestmark = pytest.mark.usefixtures("kernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"}
MiB = 1 << 20


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out), out.getvalue()


def cli(*argv: str | bytes, **kw: Any) -> subprocess.Popen[bytes]:
    """``python -m bpfnest ARGV`` as a process (bytes arguments pass paths as they are)."""
    return subprocess.Popen([sys.executable, "-m", "bpfnest", *argv], cwd=ROOT, env=ENV, **kw)


# ------------------------------------------------------------ 7: streamed dumps


def _peak_rss(*argv: str, out: IO[bytes] | None = None) -> int:
    """Run the CLI with stdout to ``out`` (/dev/null by default); its peak RSS in bytes."""
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err:
        p = cli(*argv, stdout=out or null, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        message = err.read().decode(errors="replace")
    assert p.returncode == 0 and not message, message
    return usage.ru_maxrss * 1024


BIG = MapSpec(MapType.ARRAY, 4, 1024, 10 * 1024, name="cli_big")  # 10 MiB of values


@pytest.fixture
def big(bpffs: str) -> Iterator[tuple[str, str]]:
    """A 10 MiB ARRAY pinned, and an outer map pinned whose slot 0 holds it."""
    with (
        Map.create(BIG) as m,
        Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 1, name="cli_big_out", inner=BIG)) as o,
    ):
        n = BIG.max_entries
        m.update_batch((i, bytes([i % 251]) * 1024) for i in range(n))
        o[0] = m
        paths = os.path.join(bpffs, "big"), os.path.join(bpffs, "big_outer")
        m.pin(paths[0])
        o.pin(paths[1])
        yield paths
        for p in paths:
            os.unlink(p)


def test_dump_of_10_mib_streams_in_bounded_memory(big: tuple[str, str]) -> None:
    """A dump's peak RSS stays within 64 MiB of ``map show``'s for a 10 MiB map
    (holding the dump as hex strings took ~800 MiB), in text, JSON and nested."""
    plain, outer = big
    base = _peak_rss("map", "show", "pinned", plain)
    with tempfile.TemporaryFile() as f:
        rss = _peak_rss("map", "dump", "pinned", plain, "--json", out=f)
        # Complete and well formed: each entry has the same length in JSON.
        one = json.dumps({"key": view.hex_bytes(bytes(4)), "value": view.hex_bytes(bytes(1024))})
        n = BIG.max_entries
        assert f.seek(0, os.SEEK_END) == n * len(one) + 2 * (n - 1) + 2 + 1
        f.seek(-200, os.SEEK_END)
        last = f'"0x{(n - 1) % 251:02x}", "0x{(n - 1) % 251:02x}"]}}]\n'
        assert f.read().decode().endswith(last)
    assert rss - base < 64 * MiB, f"peak RSS {rss / MiB:.0f} MiB, `map show` {base / MiB:.0f} MiB"
    for argv in (
        ("map", "dump", "pinned", plain),
        ("map", "dump", "pinned", outer, "--json"),
        ("map", "dump", "pinned", outer),
    ):
        rss = _peak_rss(*argv)
        assert rss - base < 64 * MiB, f"{argv}: peak RSS {rss / MiB:.0f} MiB"


@pytest.fixture
def small(objs: Callable[..., str]) -> Iterator[dict[str, Map]]:
    """Small maps of every dump shape: plain, per-CPU, outer with nested
    inner maps (one of them shared), BTF-formatted values."""
    inner_spec = MapSpec(MapType.ARRAY, 4, 8, 2, name="cli_s_inner")
    with (
        Map.create(
            MapSpec(MapType.HASH_OF_MAPS, 4, 4, 8, name="cli_s_outer", inner=inner_spec)
        ) as outer,
        Map.create(inner_spec) as a,
        Map.create(inner_spec) as b,
        Map.create(MapSpec(MapType.PERCPU_HASH, 4, 4, 4, name="cli_s_pcpu")) as pc,
        CollectionSpec.from_file(objs("btf_values")).load() as coll,
    ):
        a[0] = 5
        a[1] = 6
        outer[7] = a
        outer[9] = b
        outer[3] = a
        pc[1] = 3
        assert coll.programs["fill"].test_run(bytes(64)).retval == 2
        yield {"outer": outer, "a": a, "b": b, "pcpu": pc, "btf": coll.maps["stats"]}


def test_streamed_dump_is_the_whole_dump(small: dict[str, Map]) -> None:
    """The streamed JSON is byte for byte ``json.dumps`` of the whole dump."""
    for name, m in small.items():
        for extra, depth, limit in (
            ([], 1, None),
            (["--depth", "0"], 0, None),
            (["--limit", "1"], 1, 1),
        ):
            code, text = run(["map", "dump", str(m.id), "--json", *extra])
            assert code == 0, text
            with Map.from_id(m.id) as again:
                whole = view.map_dump(again, depth=depth, limit=limit)
            assert text == json.dumps(whole) + "\n", (name, extra)
            assert json.loads(text) == whole


def test_streamed_text_dump_of_nested_maps(small: dict[str, Map]) -> None:
    outer, a, b = small["outer"], small["a"], small["b"]
    code, text = run(["map", "dump", str(outer.id)])
    assert code == 0, text
    show = {}
    for m in (a, b):
        with Map.from_id(m.id) as again:
            s = view.map_show(again)
        show[m.id] = (
            f"    {s['id']}: array  name cli_s_inner  flags 0x0\n"
            f"    key 4B  value 8B  max_entries 2  memlock {s['bytes_memlock']}B\n"
        )
    slots = {
        key: f"key: {key:02x} 00 00 00  inner_map_id: {m.id}\n"
        + show[m.id]
        + (
            f"    key: 00 00 00 00  value: {'05' if m is a else '00'} 00 00 00 00 00 00 00\n"
            f"    key: 01 00 00 00  value: {'06' if m is a else '00'} 00 00 00 00 00 00 00\n"
            "    Found 2 elements\n"
        )
        for key, m in ((7, a), (9, b), (3, a))
    }
    # A hash map's order is the kernel's: take it from the dump itself.
    dumped = json.loads(run(["map", "dump", str(outer.id), "--json"])[1])
    order = [int(e["key"][0], 16) for e in dumped]
    assert sorted(order) == [3, 7, 9]
    assert text == "".join(slots[k] for k in order) + "Found 3 elements\n"
    code, text = run(["map", "dump", str(small["btf"].id)])
    assert text.splitlines()[-2].startswith('  = {"key": 7, "value": {"count": 3')


# ------------------------------------------------------------ 24: BTF the decoder refuses


def test_dump_falls_back_to_hex_when_btf_cannot_be_decoded(objs: Callable[..., str]) -> None:
    """``struct many`` holds 100000 empty structs in 4 bytes: too many values
    to decode, so the entries come in hex only, as without BTF."""
    with CollectionSpec.from_file(objs("btf_too_many")).load() as coll:
        m = coll.maps["many"]
        assert coll.programs["bump"].test_run(bytes(64)).retval == 2
        code, text = run(["map", "dump", str(m.id), "--json"])
        assert code == 0, text
        assert json.loads(text) == [
            {"key": view.hex_bytes(bytes(4)), "value": view.hex_bytes(bytes(4))},
            {"key": view.hex_bytes(b"\1\0\0\0"), "value": view.hex_bytes(b"\1\0\0\0")},
        ]
        code, text = run(["map", "dump", str(m.id)])
        assert code == 0 and text == (
            "key: 00 00 00 00  value: 00 00 00 00\n"
            "key: 01 00 00 00  value: 01 00 00 00\n"
            "Found 2 elements\n"
        )


# ------------------------------------------------------------ 25: | head -1


@pytest.mark.parametrize(
    ("extra", "reader"),
    [([], ["head", "-1"]), (["--json"], ["head", "-c", "100"])],  # JSON is one line
)
def test_a_reader_that_goes_away_ends_the_dump_quietly(extra: list[str], reader: list[str]) -> None:
    """``bpfnest map dump ID | head -1``: no "Broken pipe" line, no traceback,
    status 141 (128 + SIGPIPE) as a shell shows for coreutils."""
    with Map.create(MapSpec(MapType.HASH, 4, 64, 4096, name="cli_pipe")) as m:
        m.update_batch((i, bytes(64)) for i in range(4096))  # ~1 MiB of text, > a pipe's 64 KiB
        dump = cli("map", "dump", str(m.id), *extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        head = subprocess.Popen(reader, stdin=dump.stdout, stdout=subprocess.PIPE)
        assert dump.stdout is not None and dump.stderr is not None
        dump.stdout.close()  # only head reads it now
        first, _ = head.communicate(timeout=60)
        err = dump.stderr.read()
        dump.stderr.close()
        assert dump.wait(timeout=60) == 141, err
    assert err == b""
    assert first.startswith(b'[{"key": ' if extra else b"key: ")


# ------------------------------------------------------------ 11: the pin search


def _make_deep(top: str, levels: int) -> str:
    path = top
    for _ in range(levels):
        path = os.path.join(path, "d")
        os.mkdir(path)
    return path


def _remove_deep(top: str) -> None:
    """Remove the tree under ``top`` without recursion (shutil.rmtree recurses)."""
    todo = [top]
    dirs = []
    while todo:
        d = todo.pop()
        dirs.append(d)
        for e in os.scandir(d):
            if e.is_dir(follow_symlinks=False):
                todo.append(e.path)
            else:
                os.unlink(e.path)
    for d in reversed(dirs):
        os.rmdir(d)


def test_pin_search_survives_a_deep_tree_and_escapes_odd_names(bpffs: str) -> None:
    """A 1,100-level tree, a pin named with a byte that is not UTF-8, one with a
    newline (that would forge a line) and one with a backslash: ``map show``
    and ``map list`` work under a strict UTF-8 stdout and print every pin on
    one line, escaped; JSON stays valid."""
    top = os.path.join(bpffs, "deep")
    os.mkdir(top)
    try:
        deepest = _make_deep(top, 1100)
        with Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="cli_odd_pins")) as m:
            names = {
                os.fsdecode(b"odd\xffname"): "odd\\xffname",
                "two\nlines 1: hash  name forged": "two\\nlines 1: hash  name forged",
                "back\\slash": "back\\\\slash",
                "caf\u00e9": "caf\u00e9",
            }
            for name in names:
                m.pin(os.path.join(bpffs, name))
            m.pin(os.path.join(deepest, "pin"))
            want = sorted(
                [os.path.join(bpffs, shown) for shown in names.values()]
                + [os.path.join(deepest, "pin")]
            )
            show = cli("map", "show", str(m.id), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = show.communicate(timeout=120)
            assert show.returncode == 0, err
            lines = out.decode().splitlines()
            assert lines[0].startswith(f"{m.id}: hash  name cli_odd_pins")
            assert lines[2:] == [f"\tpinned {p}" for p in want]

            listing = cli("map", "list", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = listing.communicate(timeout=120)
            assert listing.returncode == 0, err
            row = next(r for r in json.loads(out) if r["id"] == m.id)
            assert row["pinned"] == want

            table = cli("map", "list", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = table.communicate(timeout=120)
            assert table.returncode == 0, err
            mine = [x for x in out.decode().splitlines() if "cli_odd_pins" in x or "forged" in x]
            assert len(mine) == 1 and mine[0].endswith(",".join(want))
            # The same from a raw odd name on the command line.
            odd = os.path.join(bpffs, next(iter(names)))
            code = cli("map", "show", "pinned", os.fsencode(odd), stdout=subprocess.PIPE)
            out, _ = code.communicate(timeout=120)
            assert (
                code.returncode == 0 and b"\tpinned " + bpffs.encode() + b"/odd\\xffname\n" in out
            )
            for name in names:
                os.unlink(os.path.join(bpffs, name))
    finally:
        _remove_deep(top)


def test_printable() -> None:
    assert view.printable("/sys/fs/bpf/plain_name.1") == "/sys/fs/bpf/plain_name.1"
    assert view.printable("a\tb\rc\x1bd\x7f\u2028") == "a\\tb\\rc\\x1bd\\x7f\\u2028"
    assert view.printable(os.fsdecode(b"\xc3(\xff")) == "\\xc3(\\xff"
    assert view.printable("\u00e9\u4e2d") == "\u00e9\u4e2d"


# ------------------------------------------------------------ 26, 27, 31: error texts


@pytest.fixture
def prog_pin(bpffs: str) -> Iterator[str]:
    spec = ProgramSpec(
        name="cli_prog",
        type=ProgType.SOCKET_FILTER,
        instructions=bytes.fromhex("b700000000000000 9500000000000000"),
        license="GPL",
    )
    path = os.path.join(bpffs, "prog")
    with Program.load(spec) as p:
        p.pin(path)
    yield path
    os.unlink(path)


@pytest.mark.parametrize(
    ("argv", "status", "words"),
    [
        # 26: a directory, and a path that does not exist (relative too).
        (["map", "show", "pinned", "{bpffs}"], 1, ["'{bpffs}' is a directory, not a pin"]),
        (["map", "dump", "pinned", "{bpffs}"], 1, ["is a directory"]),
        (
            ["map", "show", "pinned", "no_such_pin_here"],
            1,
            ["'{cwd}/no_such_pin_here' does not exist"],
        ),
        (["map", "show", "pinned", "{bpffs}/gone"], 1, ["'{bpffs}/gone' does not exist"]),
        (["prog", "show", "pinned", "{bpffs}"], 1, ["is a directory"]),
        # 27: ids that are not numbers, negative counts: usage errors.
        (["prog", "show", "abc"], 2, ["name a program as ID, id ID or pinned PATH, not 'abc'"]),
        (["prog", "show", "id", "abc"], 2, ["name a program as ID"]),
        (["prog", "show", "name", "x"], 2, ["name a program as ID"]),
        (["map", "show", "abc"], 2, ["name a map as ID, id ID, pinned PATH or name NAME"]),
        (["map", "show", "id", "abc"], 2, ["not 'id abc'"]),
        (["map", "show", "id", "-1"], 2, ["not 'id -1'"]),
        (["map", "dump", "1", "--limit", "-1"], 2, ["--limit: must be 0 or more, not -1"]),
        (["map", "dump", "1", "--depth", "-2"], 2, ["--depth: must be 0 or more, not -2"]),
        (["map", "dump", "1", "--depth", "x"], 2, ["--depth: not a number: 'x'"]),
        (["prog", "show", "4000000000"], 1, ["no program has this id"]),
    ],
)
def test_error_texts(
    argv: list[str], status: int, words: list[str], bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = {"bpffs": bpffs, "cwd": os.getcwd()}
    assert main([a.format(**fill) for a in argv], io.StringIO()) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if status == 1:
        assert err.count("\n") == 1 and err.startswith("bpfnest: "), err
    for w in words:
        assert w.format(**fill) in err, err
    assert "Permission denied (the pin's file permissions" not in err


def test_prog_show_pinned(prog_pin: str) -> None:
    code, text = run(["prog", "show", "pinned", prog_pin, "--json"])
    assert code == 0 and json.loads(text)["name"] == "cli_prog"
    with Program.from_pinned(prog_pin) as p:
        for argv in (["id", str(p.id)], ["id", hex(p.id)], [f"00{p.id}"]):
            code, text = run(["prog", "show", *argv])
            assert code == 0 and text.startswith(f"{p.id}: socket_filter"), argv


def test_load_legacy_outer_names_the_option(
    objs: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", objs("legacy_maps")], io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "map 'outer_hash': HASH_OF_MAPS has no inner map definition" in err
    assert "--inner outer_hash=ID|PATH" in err and "spec.maps" not in err


# ------------------------------------------------------------ 28: one name, several maps


@pytest.mark.parametrize("command", ["show", "dump", "tree"])
def test_a_name_several_maps_have_is_refused(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        Map.create(MapSpec(MapType.HASH, 4, 4, 4, name="cli_twin")) as a,
        Map.create(MapSpec(MapType.ARRAY, 4, 4, 4, name="cli_twin")) as b,
    ):
        assert main(["map", command, "name", "cli_twin"], io.StringIO()) == 1
        err = capsys.readouterr().err
        assert err == (
            f"bpfnest: open map name 'cli_twin': 2 maps have this name,"
            f" ids {a.id} (hash), {b.id} (array): name one by id\n"
        )
        assert run(["map", "show", "id", str(b.id)])[0] == 0
