"""STYLE.md's layering: who may import whom, and the public names."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import bpfnest

ROOT = pathlib.Path(bpfnest.__file__).parent


PURE = (
    "spec",
    "codec",
    "constants",
    "errors",
    "sections",
    "btf",
    "elf",
    "btf.format",
    "_struct_ops_elf",
    "hist",
)


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


# Modules outside _sys that use ctypes as a layout library only (STYLE.md,
# "Codecs"): classes generated from BTF; never a library call or an address.
CTYPES_LAYOUT_ONLY = {"btf/values.py", "btf/_classes.py"}
_CTYPES_CALLS = ("CDLL", "cdll", "pythonapi", "CFUNCTYPE", "PyDLL", "addressof", "memmove")


def test_ctypes_only_in_sys() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if "_sys" not in p.parts
        and "ctypes" in _imports(p)
        and str(p.relative_to(ROOT)) not in CTYPES_LAYOUT_ONLY
    ]
    assert offenders == []
    for name in CTYPES_LAYOUT_ONLY:
        text = (ROOT / name).read_text()
        assert not [c for c in _CTYPES_CALLS if c in text], name


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


# Modules allowed over the limit, each with why; a listed module may not grow.
OVERSIZE = {
    "_sys/uapi.py": (990, "one ctypes Structure per bpf(2) command: a table, to be generated"),
}
MAX_LINES = 800
MAX_PUBLIC_METHODS = 30
# Classes allowed over the limit, each with why; a listed class may not grow.
OVERSIZE_CLASSES = {
    "bpfnest.maps._outer.OuterMap": (
        31,
        "Map's 27 (CONTRACT names: typed, mmap, columns, attach_struct_ops) and 4 of its own",
    ),
}


def test_no_module_over_800_lines() -> None:
    over = {}
    for p in ROOT.rglob("*.py"):
        name = str(p.relative_to(ROOT))
        lines = len(p.read_text().splitlines())
        limit = OVERSIZE.get(name, (MAX_LINES, ""))[0]
        if lines > limit:
            over[name] = lines
    assert over == {}, f"split these modules (at most {MAX_LINES} lines): {over}"


def _public_methods(cls: type) -> set[str]:
    """Public callables a user sees on ``cls`` (inherited ones too; no properties)."""
    import inspect

    names = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        if isinstance(static, property):
            continue
        if callable(getattr(cls, name)):
            names.add(name)
    return names


def test_no_class_with_more_than_30_public_methods() -> None:
    import importlib
    import inspect

    big = {}
    for p in ROOT.rglob("*.py"):
        rel = p.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] == "__main__":
            continue
        module = importlib.import_module(".".join(parts))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or issubclass(cls, BaseException):
                continue
            if issubclass(cls, int):  # IntEnum/IntFlag: members, not methods
                continue
            n = len(_public_methods(cls))
            name = f"{module.__name__}.{cls.__name__}"
            if n > OVERSIZE_CLASSES.get(name, (MAX_PUBLIC_METHODS, ""))[0]:
                big[name] = n
    assert big == {}, f"classes with more than {MAX_PUBLIC_METHODS} public methods: {big}"


def test_maps_is_a_package_of_small_modules() -> None:
    """Map's element operations, batch engine, keyless and outer maps live apart, and
    no map class reaches back down into a subclass module to create a map."""
    import bpfnest.maps as maps
    from bpfnest.maps import KeylessMap, Map, OuterMap, PerCPUMap, StructOpsMap

    assert {p.name for p in pathlib.Path(maps.__file__).parent.glob("_*.py")} >= {
        "_elements.py",
        "_batch.py",
        "_map.py",
        "_keyless.py",
        "_outer.py",
    }
    assert not (ROOT / "outer.py").exists() and not (ROOT / "_batch.py").exists()
    for t in bpfnest.MapType:
        want = (
            OuterMap
            if t.is_outer
            else PerCPUMap
            if t.is_per_cpu
            else KeylessMap
            if t.is_keyless
            else StructOpsMap
            if t == bpfnest.MapType.STRUCT_OPS
            else Map
        )
        assert Map._class_for(t) is want, t
    # _map.py (Map itself) never imports its subclasses' modules.
    assert not {"_outer", "_keyless"} & {
        m.rsplit(".", 1)[-1] for m in _imports(ROOT / "maps/_map.py")
    }


def test_openers_live_once_on_kernel_object() -> None:
    """from_id/from_fd/_adopt are KernelObject's alone; a subclass says its kind, its
    by-id command and how to wrap an fd (Map's from_pinned only adds ``readonly``)."""
    import inspect

    from bpfnest._object import KernelObject

    owners: dict[str, list[str]] = {}
    for p in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name in (
                        "from_id",
                        "from_fd",
                        "from_pinned",
                        "_adopt",
                        "_open_pinned",
                    ):
                        owners.setdefault(item.name, []).append(node.name)
    assert owners == {
        "from_id": ["KernelObject"],
        "from_fd": ["KernelObject"],
        "from_pinned": ["KernelObject", "Map"],
        "_adopt": ["KernelObject"],
        "_open_pinned": ["KernelObject"],
    }
    from bpfnest import Map, Program
    from bpfnest._sys.uapi import Cmd

    assert "ops." not in inspect.getsource(vars(Map)["from_pinned"].__func__)
    for cls, kind, cmd in (
        (Map, "map", Cmd.MAP_GET_FD_BY_ID),
        (Program, "program", Cmd.PROG_GET_FD_BY_ID),
    ):
        assert issubclass(cls, KernelObject)
        assert (cls._kind, cls._get_fd_by_id) == (kind, cmd)


def _runtime_imports(path: pathlib.Path) -> set[str]:
    """The bpfnest modules ``path`` imports at run time (not under ``if TYPE_CHECKING``),
    function-level imports included, as absolute names."""
    rel = path.relative_to(ROOT.parent).with_suffix("").parts
    package = rel[:-1]
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bpfnest"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if not module.startswith("bpfnest"):
                continue
            found.add(module)
            if not node.module:  # from .. import _pins: a module by name
                found.update(f"{module}.{a.name}" for a in node.names)
    return found


# docs/architecture.md's layers, lowest first; a module belongs to the layer of
# its first name below bpfnest. A module imports its own layer or one below.
LAYERS: list[frozenset[str]] = [
    frozenset(  # the pure core
        {
            "constants",
            "errors",
            "codec",
            "spec",
            "sections",
            "btf",
            "elf",
            "_elffile",
            "_externs",
            "_btf_maps",
            "_btf_fixup",
            "_legacy_maps",
            "_values",
            "_uprobe",
            "_usdt",
            "hist",
            "_struct_ops_elf",
            "gen",
        }
    ),
    frozenset({"_sys"}),  # the kernel boundary
    frozenset(  # objects that own kernel resources
        {"_object", "_pins", "features", "_hints", "_attach", "maps", "programs", "events", "link"}
        | {"_kernel_btf", "_kconfig"}
        | {"_core_load"}
        | {"_variables"}
        | {"_kernel_btf", "_struct_ops"}
    ),
    frozenset({"collection", "skeleton"}),
    frozenset({"cli", "view", "demo", "__main__", "__init__"}),  # the command line
]
# Within a layer: (module, what it may not import).
FORBIDDEN = [
    ("bpfnest._object", ("bpfnest.maps", "bpfnest.programs", "bpfnest.events")),
    ("bpfnest.maps._map", ("bpfnest.maps._outer", "bpfnest.maps._keyless")),
    ("bpfnest.maps._elements", ("bpfnest.maps._map", "bpfnest.maps._outer")),
]
# Known crossings, each with why.
ALLOWED = {
    ("bpfnest.spec", "bpfnest.collection"): "CONTRACT's spec.load(): imported when called",
}


def _is_module(name: str) -> bool:
    """True for a module of bpfnest (not the package itself, not a name in it)."""
    path = ROOT.parent.joinpath(*name.split("."))
    return name != "bpfnest" and (path.with_suffix(".py").exists() or path.is_dir())


def _layer(module: str) -> int:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def test_imports_follow_the_layers() -> None:
    broken = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        imports = {i for i in _runtime_imports(p) if _is_module(i)}
        rules = [bad for mod, bad in FORBIDDEN if name == mod or name.startswith(mod + ".")]
        for imported in imports:
            if (name, imported) in ALLOWED:
                continue
            if _layer(imported) > _layer(name):
                broken.append(f"{name} imports {imported} (a layer above)")
            if any(imported == b or imported.startswith(b + ".") for bad in rules for b in bad):
                broken.append(f"{name} imports {imported}")
    assert broken == []


def test_the_architecture_doc_names_every_layer_member() -> None:
    doc = (ROOT.parent / "docs" / "architecture.md").read_text()
    missing = [
        name
        for names in LAYERS
        for name in sorted(names - {"__main__", "__init__", "link"})
        if f"`{name}" not in doc
    ]
    assert missing == []
