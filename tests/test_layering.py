"""STYLE.md's layering: who may import whom, and the public names."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import bpfnest

ROOT = pathlib.Path(bpfnest.__file__).parent


PURE = ("spec", "codec", "constants", "errors", "sections", "btf", "elf", "btf.format")


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports the real package."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=str(ROOT.parent),
    )


def test_pure_modules_never_load_the_kernel_boundary() -> None:
    # Real imports, through the real bpfnest/__init__.
    code = "\n".join(
        [
            "import importlib, sys",
            f"for n in {PURE!r}:",
            "    importlib.import_module('bpfnest.' + n)",
            "import bpfnest",
            "bpfnest.MapSpec, bpfnest.CollectionSpec, bpfnest.BPFError",
            "bad = [m for m in sys.modules if m.startswith('bpfnest._sys') or m == 'ctypes']",
            "print(bad)",
            "raise SystemExit(1 if bad else 0)",
        ]
    )
    res = _fresh(code)
    assert res.returncode == 0, res.stdout + res.stderr


def test_pure_modules_import_where_bpf_is_unknown() -> None:
    # platform.machine() names an architecture without a bpf(2) number: the
    # pure core still imports and parses; only the kernel layer refuses.
    code = "\n".join(
        [
            "import importlib, platform",
            "platform.machine = lambda: 'vax'",
            f"for n in {PURE!r}:",
            "    importlib.import_module('bpfnest.' + n)",
            "import bpfnest",
            "try:",
            "    bpfnest.Map",
            "except OSError as err:",
            "    print('refused', err.errno)",
        ]
    )
    res = _fresh(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "refused 38"


def test_lazy_names_resolve() -> None:
    from bpfnest.maps import Map

    assert bpfnest.Map is Map
    assert "Map" in dir(bpfnest)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bpfnest.nope  # noqa: B018


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_ctypes_only_in_sys() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "_sys" not in p.parts and "ctypes" in _imports(p)
    ]
    assert offenders == []


def test_bpf_called_only_from_sys() -> None:
    """Only bpfnest/_sys calls bpf(); other modules go through _sys.ops."""
    offenders = []
    for p in ROOT.rglob("*.py"):
        if "_sys" in p.parts:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").endswith("_sys")
                and any(a.name == "bpf" for a in node.names)
            ):
                offenders.append(str(p.relative_to(ROOT)))
    assert offenders == []


CONTRACT_NAMES = {
    "MapType",
    "ProgType",
    "ANY",
    "NOEXIST",
    "EXIST",
    "F_NO_PREALLOC",
    "F_RDONLY_PROG",
    "F_INNER_MAP",
    "MapSpec",
    "Map",
    "BPFError",
    "VerifierError",
    "CollectionSpec",
    "Collection",
    "Program",
}


def test_all_covers_contract() -> None:
    assert set(bpfnest.__all__) >= CONTRACT_NAMES
    for name in bpfnest.__all__:
        assert hasattr(bpfnest, name), name


def test_flag_values() -> None:
    assert (bpfnest.ANY, bpfnest.NOEXIST, bpfnest.EXIST) == (0, 1, 2)
    assert bpfnest.F_NO_PREALLOC == 1 and bpfnest.F_INNER_MAP == 0x1000
