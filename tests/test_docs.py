"""The docs cannot rot: they build, their code runs, and the API is all documented.

- ``mkdocs build --strict`` (mkdocstrings renders the docstrings): a warning fails.
- Every ```python block of every page in docs/ runs on the real kernel, the
  blocks of one page in order in one namespace, from the repo root. Blocks
  that only include a file (``--8<-- "examples/x.py"``) are the scripts of
  examples/, which run on their own below. (README.md's blocks run in
  tests/test_readme.py.)
- Every ```c block that is not an include compiles with clang for BPF.
- Every script in examples/ runs and exits 0, and has a cookbook page.
- Every name in ``bpfnest.__all__`` is in docs/api.md.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

import bpfnest

from support import _clang_flags, skip_or_fail

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
HELPERS = ("buildobj.py", "netlab.py")  # imported by the examples, not run on their own
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if p.name not in HELPERS)
BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(page: pathlib.Path, lang: str) -> list[str]:
    """The ``lang`` blocks of ``page`` that are code, not a file include."""
    found = [body for kind, body in BLOCK.findall(page.read_text()) if kind == lang]
    return [b for b in found if not b.strip().startswith("--8<--")]


def rel(p: pathlib.Path) -> str:
    return str(p.relative_to(ROOT))


def test_docs_build_strict(tmp_path: pathlib.Path) -> None:
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"mkdocs/mkdocstrings not installed ({err}): pip install -e .[test]")
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()


def test_every_public_name_is_in_the_api_reference() -> None:
    api = (DOCS / "api.md").read_text()
    missing = [
        name
        for name in bpfnest.__all__
        if f"::: bpfnest.{name}\n" not in api and f"| `{name}` |" not in api
    ]
    assert missing == []


@pytest.mark.usefixtures("kernel")
def python_sources() -> dict[str, str]:
    """File name -> code, as the blocks run: each README.md block on its own, and
    the blocks of a docs/ page in order, in one namespace."""
    readme = (ROOT / "README.md").read_text()
    out = {
        f"readme_block_{i}.py": code
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", readme, re.S))
    }
    for page in PAGES:
        if found := blocks(page, "python"):
            name = re.sub(r"\W", "_", rel(page)[: -len(".md")])
            out[f"{name}.py"] = "\n".join(found)
    return out


def test_python_blocks_type_check(tmp_path: pathlib.Path) -> None:
    """Users' code as the README and the docs show it passes ``mypy --strict``."""
    try:
        import mypy  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"mypy not installed ({err}): pip install -e .[test]")
    sources = python_sources()
    assert len(sources) >= 2
    # The check can fail: a plain Map has no get_map, and no attribute is Any.
    sources["zz_must_fail.py"] = (
        "from bpfnest import Map, MapSpec, MapType\n"
        "m = Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 1))\n"
        "m.get_map(0)\n"
        "m.lookpu(0)\n"
    )
    for name, code in sources.items():
        (tmp_path / name).write_text(code)
    files = sorted(str(tmp_path / name) for name in sources)
    cache = str(tmp_path / ".mypy_cache")
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, *files],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},  # this tree's bpfnest, not an installed one
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    assert [e.split(tmp_path.name + "/", 1)[-1] for e in errors] == [
        'zz_must_fail.py:3: error: "Map[Any]" has no attribute "get_map"  [attr-defined]',
        'zz_must_fail.py:4: error: "Map[Any]" has no attribute "lookpu"  [attr-defined]',
    ], res.stdout + res.stderr


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=rel)
def test_page_python_blocks_run(
    page: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(page, "python")):
        exec(compile(code, f"{rel(page)} python block {i}", "exec"), namespace)
    capsys.readouterr()


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "c")], ids=rel)
def test_page_c_blocks_compile(page: pathlib.Path, tmp_path: pathlib.Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        skip_or_fail("clang is not installed (apt-get install clang)")
    for i, code in enumerate(blocks(page, "c")):
        src = tmp_path / f"block{i}.c"
        src.write_text(code)
        res = subprocess.run(
            [clang, *_clang_flags("bpfel"), "-c", str(src), "-o", str(tmp_path / f"b{i}.o")],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, f"{rel(page)} c block {i}:\n{res.stderr}"


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_example_runs(script: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, rel(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip(), "the example printed nothing"


@pytest.mark.parametrize("script", SCRIPTS, ids=rel)
def test_example_has_a_cookbook_page(script: pathlib.Path) -> None:
    include = f'--8<-- "{rel(script)}"'
    pages = [p for p in (DOCS / "cookbook").glob("*.md") if include in p.read_text()]
    assert pages, f"no docs/cookbook page includes {rel(script)}"
    source = script.with_name(script.stem + ".bpf.c")
    if source.exists():
        assert any(f'--8<-- "{rel(source)}"' in p.read_text() for p in pages)


# ------------------------------------------------------------------ docstrings

OWNERS = ("Map", "OuterMap", "PerCPUMap", "KeylessMap", "Program", "Collection")
TOUCHES_KERNEL = re.compile(
    r"\bops\.|_elem\(\)|_use\(\)|Map\.create|Program\.load|Collection\(|_adopt|iter_ids"
)
DUNDERS = ("__getitem__", "__setitem__", "__delitem__", "__contains__", "__iter__")


def public_items() -> list[tuple[str, Any, Any]]:
    """(qualified name, function or class, owning class) of every public item."""
    import inspect

    out: list[tuple[str, Any, Any]] = []
    for name in bpfnest.__all__:
        obj = getattr(bpfnest, name)
        if inspect.isfunction(obj):
            out.append((name, obj, None))
        if not inspect.isclass(obj):
            continue
        out.append((name, obj, None))
        # Its own and inherited members from bpfnest's base classes (Map's layers).
        members: dict[str, Any] = {}
        for klass in reversed(obj.__mro__):
            if klass.__module__.startswith("bpfnest"):
                members.update(vars(klass))
        for attr, v in members.items():
            if attr.startswith("_") and attr not in DUNDERS:
                continue
            v = getattr(v, "__wrapped__", v)  # Map's element fast-path methods
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            if isinstance(v, property):
                v = v.fget
            if inspect.isfunction(v):
                out.append((f"{name}.{attr}", v, obj))
    return out


def test_every_public_item_says_what_it_does_raises_needs_and_who_closes() -> None:
    """Each public item has a docstring; one that reaches the kernel names what it
    raises and the minimum kernel (its own, or its class's); one that returns an
    object owning an fd says who closes it."""
    import inspect

    problems = []
    for qual, obj, cls in public_items():
        doc = inspect.getdoc(obj) or ""
        if not doc.strip():
            problems.append(f"{qual}: no docstring")
            continue
        if not inspect.isfunction(obj):
            continue
        src = inspect.getsource(obj)
        returns = str(obj.__annotations__.get("return", ""))
        if any(re.search(rf"\b{o}\b", returns) for o in OWNERS) and not re.search(
            r"close|owns", doc
        ):
            problems.append(f"{qual}: returns an object owning an fd; who closes it?")
        if TOUCHES_KERNEL.search(src):
            # m[k] = v, del m[k] and iter(m) say which method they are.
            delegates = qual.endswith(("__setitem__", "__delitem__", "__iter__"))
            if "Raises" not in doc and not delegates:
                problems.append(f"{qual}: reaches the kernel; no Raises section")
            class_doc = (inspect.getdoc(cls) or "") if cls is not None else ""
            if "Minimum kernel" not in doc + class_doc:
                problems.append(f"{qual}: reaches the kernel; no minimum kernel")
    assert problems == []
