"""``bpfnest gen``: the generated module (golden text, mypy --strict on it and on
a user script, its classes are the codec's, the typed wrapper on the kernel),
names escaped, bad input."""

from __future__ import annotations

import importlib.util
import io
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


def test_mypy_strict(objs: Any, tmp_path: pathlib.Path) -> None:
    try:
        import mypy  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"mypy not installed ({err}): pip install -e .[test]")
    _generated(tmp_path, objs("gen_types"))
    (tmp_path / "user.py").write_text(USER)
    (tmp_path / "user_bad.py").write_text(USER_BAD)
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".mypy_cache")]
        + ["gen_types.py", "user.py", "user_bad.py"],
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
