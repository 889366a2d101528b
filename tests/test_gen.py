"""``bpfnest gen``: the generated module (golden text, mypy --strict on it and on
a user script, its classes are the codec's, the typed wrapper on the kernel),
names escaped, bad input."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import types
from typing import Any

import pytest

from bpfnest import CollectionSpec, MapType
from bpfnest.cli import main
from bpfnest.gen import generate, python_name

from support import skip_or_fail

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "gen_types.py"


def _generated(tmp_path: pathlib.Path, obj: str, name: str = "gen_types") -> pathlib.Path:
    """The object copied to tmp_path and its module generated next to it (the CLI)."""
    shutil.copy(obj, tmp_path / f"{name}.o")
    out = tmp_path / f"{name}.py"
    err = io.StringIO()
    assert main(["gen", str(tmp_path / f"{name}.o"), "-o", str(out)], err) == 0
    return out


def _import(path: pathlib.Path) -> types.ModuleType:
    name = f"_gen_{path.stem}_{id(path)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_golden(objs: Any, tmp_path: pathlib.Path) -> None:
    # The same object gives the same text; the committed module is that text.
    spec = CollectionSpec.from_file(objs("gen_types"))
    text = generate(spec, object_path="gen_types.o")
    assert text == generate(CollectionSpec.from_file(objs("gen_types")), object_path="gen_types.o")
    if os.environ.get("BPFNEST_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "regenerate with BPFNEST_UPDATE_GOLDEN=1 if intended"
    # -o records the object's path relative to the module; printing, its name.
    out = _generated(tmp_path, objs("gen_types"))
    assert out.read_text() == text
    printed = io.StringIO()
    assert main(["gen", str(tmp_path / "gen_types.o")], printed) == 0
    assert printed.getvalue() == text
    res = subprocess.run(
        [sys.executable, "-m", "bpfnest", "gen", str(tmp_path / "gen_types.o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0 and res.stdout == text, res.stderr


def test_names_escaped() -> None:
    assert [python_name(n) for n in (".bss", ".data.cfg", "lambda", "class", "2x", "a-b")] == [
        "bss",
        "data_cfg",
        "lambda_",
        "class_",
        "_2x",
        "a_b",
    ]
    text = GOLDEN.read_text()
    assert "self.lambda_: " in text and "self.bss: " in text and "class_: int" in text
    assert "addr: _T_addr" in text and "note: _builtins.bytes" in text
    compile(text, "gen_types.py", "exec")  # every name a valid identifier


USER = """
from gen_types import addr, counter_t, flow, load, proto

with load() as obj:
    key = addr(ip=1, port=2, proto=proto.PROTO_TCP)
    obj.maps.flows[key] = flow(src=key, label=b"hi", counts=[1, 2], class_=3)
    f = obj.maps.flows[key]
    n: int = f.src.port + f.counts[1] + f.class_
    label: bytes = f.label
    per: list[counter_t] = obj.maps.lambda_[0]
    note: bytes = per[0].note
    other: addr = f.addr
    obj.variables.hits = 5
    seen: addr = obj.variables.last_seen
    limit: int = obj.variables.limit
    inner = obj.maps.services.get_map(key)
    print(n, label, per, seen, limit, inner)
"""

# Mistakes mypy must find in a user script: the generated module is typed.
USER_BAD = """
from gen_types import addr, load

with load() as obj:
    obj.maps.flows[addr()].src.nope
    obj.variables.limit = 3
    s: str = obj.maps.backends[0].port
"""


FILES = ("gen_types.py", "user.py", "user_bad.py")


def test_mypy_strict(objs: Any, tmp_path: pathlib.Path) -> None:
    try:
        import mypy  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"mypy not installed ({err}): pip install -e .[test]")
    _generated(tmp_path, objs("gen_types"))
    (tmp_path / "user.py").write_text(USER)
    (tmp_path / "user_bad.py").write_text(USER_BAD)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            *FILES,
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line.split(": error: ")[0] for line in res.stdout.splitlines() if ": error:" in line]
    assert errors == ["user_bad.py:5", "user_bad.py:6", "user_bad.py:7"], res.stdout + res.stderr


def test_classes_are_the_codecs(objs: Any, tmp_path: pathlib.Path) -> None:
    from bpfnest.btf.values import codec

    mod = _import(_generated(tmp_path, objs("gen_types")))
    btf = mod.TYPES.btf
    flows = mod.TYPES.spec.maps["flows"]
    assert codec(btf, btf.type_by_id(flows.btf_value_type_id)).cls is mod.flow
    assert mod.counter_t.__name__ == "counter_t"
    f = mod.flow(class_=3, label="x")
    assert (
        f.class_ == 3 == getattr(f, "class") and bytes(f)[20] == 3
    )  # after src, dst, tag (8 + 8 + 4)
    f.class_ = 4
    assert getattr(f, "class") == 4
    assert mod.proto.PROTO_UDP == 17
    with pytest.raises(ValueError, match="does not fit"):
        f.class_ = 256


def test_stale_module_refused(objs: Any, tmp_path: pathlib.Path) -> None:
    out = _generated(tmp_path, objs("gen_types"))
    # Another object under the module's object name: its types differ.
    shutil.copy(objs("btf_values"), tmp_path / "gen_types.o")
    with pytest.raises(ImportError, match="regenerate"):
        _import(out)
    os.unlink(tmp_path / "gen_types.o")
    with pytest.raises(ImportError, match="cannot be read"):
        _import(out)


def test_no_btf_refused(objs: Any, tmp_path: pathlib.Path) -> None:
    spec = CollectionSpec.from_file(objs("gen_types"))
    spec.btf = None
    with pytest.raises(ValueError, match="no BTF: build it with clang -g"):
        generate(spec, object_path="x.o")
    big = CollectionSpec.from_file(objs("gen_types", target="bpfeb"))
    with pytest.raises(ValueError, match="big-endian"):
        generate(big, object_path="x.o")
    err = io.StringIO()
    assert main(["gen", str(tmp_path / "missing.o")], err) == 1
    assert not (tmp_path / "missing.py").exists()


def test_load_typed(kernel: None, objs: Any, tmp_path: pathlib.Path) -> None:
    mod = _import(_generated(tmp_path, objs("gen_types")))
    spec = mod.open_spec()
    spec.variables["limit"].value = 1
    with mod.load(spec) as obj:
        key = mod.addr(ip=1, port=2, proto=mod.proto.PROTO_TCP)
        obj.maps.flows[key] = mod.flow(src=mod.addr(ip=9), kind=mod.proto.PROTO_UDP)
        obj.maps.lambda_[0] = mod.counter_t(packets=0)
        assert obj.programs.count.test_run(bytes(64)).retval == 2  # XDP_PASS
        assert obj.variables.hits == 1 and obj.variables.limit == 1
        seen = obj.variables.last_seen
        assert isinstance(seen, mod.addr) and seen.ip == 9
        got = obj.maps.flows[key]
        assert isinstance(got, mod.flow) and got.kind == mod.proto.PROTO_UDP
        assert sum(c.packets for c in obj.maps.lambda_[0]) == 1
        obj.variables.hits = 7
        assert obj.variables.hits == 7
        with pytest.raises(AttributeError):
            obj.variables.limit = 2
        # The outer map's inner maps, typed by the object's declaration.
        assert obj.maps.services.type == MapType.HASH_OF_MAPS
        inner = obj.maps.backends
        obj.maps.services[key] = inner.map
        with obj.maps.services.get_map(key) as m:
            typed = obj.maps.services_inner(m)
            typed[1] = mod.addr(port=80)
            assert inner[1].port == 80


def _bpftool_dump(map_id: int) -> Any:
    if shutil.which("bpftool") is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    res = subprocess.run(
        ["bpftool", "-j", "map", "dump", "id", str(map_id)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout)


def _unhex(v: object) -> object:
    """bpftool writes bitfields as "0x.." strings; we write ints."""
    if isinstance(v, dict):
        return {k: _unhex(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unhex(x) for x in v]
    if isinstance(v, str) and v.startswith("0x"):
        return int(v, 16)
    return v


FLOW = {
    "src": {"ip": 0xDEADBEEF, "port": 80},
    "tag": {"u": 0xFFFF0001},
    "class": 3,
    "low": 5,
    "high": 17,
    "label": "hello",
    "counts": [1, 2],
    "kind": 17,
}


def test_dump_formatted_is_the_codec_and_bpftool(kernel: None, objs: Any) -> None:
    """map dump --json "formatted" of nested structs, a union, arrays, bitfields,
    an enum and a per-CPU struct: what bpftool prints, and the codec's values."""
    from bpfnest.btf.format import formatted

    with CollectionSpec.from_file(objs("gen_types")).load() as c:
        flows = c.maps["flows"].typed()
        key = flows.key_class(ip=1, port=2, proto=6)
        flows[key] = FLOW
        c.maps["lambda"].typed()[1] = {"packets": 4, "bytes": 5}
        for name in ("flows", "lambda"):
            out = io.StringIO()
            assert main(["map", "dump", str(c.maps[name].id), "--json"], out) == 0
            ours = json.loads(out.getvalue())
            theirs = _bpftool_dump(c.maps[name].id)
            assert [_unhex(e["formatted"]) for e in theirs] == [e["formatted"] for e in ours]
            assert [{k: v for k, v in e.items() if k != "formatted"} for e in theirs] == [
                {k: v for k, v in e.items() if k != "formatted"} for e in ours
            ]
        out = io.StringIO()
        main(["map", "dump", str(c.maps["flows"].id), "--json"], out)
        value = json.loads(out.getvalue())[0]["formatted"]["value"]
        assert value == formatted(flows[key])
        assert value["kind"] == "PROTO_UDP" and value["tag"]["halves"] == [1, -1]


def test_events_type_is_the_codec(objs: Any) -> None:
    """map events --type decodes a record with the same codec."""
    from bpfnest.btf.format import formatted
    from bpfnest.btf.values import codec
    from bpfnest.cli._events import _event_decoder, _event_line

    decoder = _event_decoder("struct flow", objs("gen_types"))
    assert decoder is not None
    btf = CollectionSpec.from_file(objs("gen_types")).btf
    assert btf is not None
    c = codec(btf, next(t for t in btf.named("flow")))
    raw = c.encode(FLOW)
    line = json.loads(_event_line(raw, True, decoder))
    assert line["formatted"] == formatted(c.decode(raw))
    assert line["formatted"]["label"] == "hello" and line["formatted"]["class"] == 3
    short = json.loads(_event_line(raw[:10], True, decoder))
    assert "formatted" not in short and f"needs {c.size}" in short["error"]
