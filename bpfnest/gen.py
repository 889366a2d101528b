"""``bpfnest gen``: a typed Python module from a BPF object, as ``bpftool gen
skeleton`` and bpf2go make C and Go ones.

:func:`generate` reads an object's maps, programs and global variables and
its BTF, and writes the text of a module with

- one class per struct, union and enum that the maps and variables use
  (fields annotated for mypy), and
- a typed wrapper of the object: ``load()`` returns an object whose
  ``maps`` are the object's maps with typed keys and values
  (:class:`bpfnest.TypedMap` of the generated classes), whose ``programs``
  are its programs, and whose ``variables`` are its global variables as
  typed properties.

**Where the classes come from.** The module does not define its own
``ctypes`` layouts: under ``TYPE_CHECKING`` it declares the classes for
mypy, and at import it binds each name to the class that
:mod:`bpfnest.btf.values` generates from the object's own BTF
(:mod:`bpfnest.skeleton`). So a generated class *is* the codec's class:
what :meth:`bpfnest.TypedMap.lookup` returns is an instance of it
(``isinstance`` holds), with the codec's checks, ``repr`` and layout, and
there is one layout, never two that could drift apart. The price is that
the object must be next to the module at import (the path is recorded
relative to the module); import checks each class's size and fields against
the object and raises ``ImportError`` naming the type when the object
changed (regenerate the module).

Names Python cannot take are escaped: keywords get a trailing ``_``
(``class_``, ``lambda_``; the generated classes carry these aliases), data
maps lose their dots (``.bss`` is ``bss``, ``.data.cfg`` is ``data_cfg``),
and a name taken twice gets a trailing ``_``. The output depends only on the
object's names and types: the same object gives the same text.

Pure: reads an object, no kernel.
"""

from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .btf.types import Array, Composite, Enum, Float, Int, Pointer, Type, Typedef, Union

if TYPE_CHECKING:
    from .btf import BTF
    from .spec import CollectionSpec, MapSpec

__all__ = ["generate", "python_name"]

# Names the generated module defines or imports itself.
_RESERVED = frozenset(
    {"OBJECT", "TYPES", "load", "open_spec", "annotations", "TYPE_CHECKING", "Any", "Mapping"}
)


def python_name(name: str) -> str:
    """``name`` as a Python identifier: dots and other characters become ``_``
    (leading dots are dropped: ``.bss`` is ``bss``), keywords get a trailing
    ``_`` (``class_``), a leading digit a leading ``_``."""
    out = re.sub(r"\W", "_", name.lstrip(".")) or "_"
    if out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out):
        out += "_"
    return out


def _camel(stem: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", stem) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Object"
    return "_" + name if name[0].isdigit() else name


@dataclass
class _Class:
    """One generated class: its Python name, where the BTF type is found at
    import (``struct addr``, ``typedef counter_t``, ``map flows value``...)."""

    name: str
    where: str
    t: Type
    kind: str  # "struct", "union", "enum"
    fields: list[tuple[str, str]] = field(default_factory=list)  # (python name, annotation)
    members: list[tuple[str, int]] = field(default_factory=list)  # enum (name, value)


class _Module:
    """The state of one generation: the classes made so far, the names taken."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self.classes: list[_Class] = []
        self.by_id: dict[int, _Class] = {}
        self.taken: set[str] = set(_RESERVED)

    def unique(self, name: str) -> str:
        name = python_name(name)
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    # ------------------------------------------------------------ types

    def annotation(self, t: Type, where: str, *, value: bool) -> str:
        """The annotation of a value of ``t``: at the top (``value``: a map's
        key or value, a variable) or as a struct field."""
        btf = self.btf
        label = ""
        while True:
            r = btf.resolve(t)
            if isinstance(t, Typedef) and not label:
                label = t.name
            if r is t or not isinstance(r, Typedef):
                t = r
                break
            t = r
        if isinstance(t, Int):
            if t.bool and t.size == 1:
                return "bool"
            return "int"
        if isinstance(t, Enum):
            self.enum(t, where)
            return "int"
        if isinstance(t, Pointer):
            return "int"
        if isinstance(t, Float):
            return "float" if t.size in (4, 8) else "bytes"
        if isinstance(t, Array):
            elem = btf.resolve(t.type)
            if isinstance(elem, Int) and elem.size == 1 and (elem.char or elem.name == "char"):
                return "_skeleton.CArray[bytes]" if value else "bytes"
            inner = self.annotation(t.type, where, value=False)
            return f"_skeleton.CArray[{inner}]"
        if isinstance(t, Composite):
            return self.composite(t, where, label).name
        return "_typing.Any"

    def where_of(self, t: Composite, label: str, where: str) -> str:
        if t.name:
            return f"{'union' if isinstance(t, Union) else 'struct'} {t.name}"
        return f"typedef {label}" if label else where

    def composite(self, t: Composite, where: str, label: str = "") -> _Class:
        found = self.by_id.get(t.id)
        if found is not None:
            return found
        kind = "union" if isinstance(t, Union) else "struct"
        loc = self.where_of(t, label, where)
        base = t.name or label or where.replace(" ", "_")
        c = _Class(self.unique(base), loc, t, kind)
        self.by_id[t.id] = c
        for name, mt, bits in _fields(self.btf, t):
            where_m = f"{loc}/{name}"
            if bits:
                r = self.btf.resolve(mt)
                if isinstance(r, Enum):
                    self.enum(r, where_m)
                ann = "bool" if isinstance(r, Int) and r.bool else "int"
            else:
                ann = self.annotation(mt, where_m, value=False)
            c.fields.append((name, ann))
        self.classes.append(c)  # after its members' classes: defined in order
        return c

    def enum(self, t: Enum, where: str) -> _Class:
        found = self.by_id.get(t.id)
        if found is not None:
            return found
        loc = f"enum {t.name}" if t.name else where
        c = _Class(self.unique(t.name or where.replace(" ", "_")), loc, t, "enum")
        mask = (1 << (8 * t.size)) - 1
        seen: set[str] = set()
        for v in t.values:
            # the members the codec's IntEnum has (bpfnest.btf._classes.enum_class)
            if not v.name or v.name in seen or (v.name.startswith("_") and v.name.endswith("_")):
                continue
            seen.add(v.name)
            if v.name.isidentifier() and not keyword.iskeyword(v.name):
                c.members.append((v.name, v.value if t.signed else v.value & mask))
        self.by_id[t.id] = c
        self.classes.append(c)
        return c


def _fields(btf: BTF, t: Composite) -> list[tuple[str, Type, int]]:
    """(name, type, bitfield size) of every field a generated class shows, in the
    codec's order (by offset; an anonymous struct's or union's fields promoted)."""
    out: list[tuple[int, str, Type, int]] = []
    for m in t.members:
        r = btf.resolve(m.type)
        if not m.name:
            if isinstance(r, Composite) and not m.bitfield_size:
                out.extend((m.bit_offset // 8, n, ft, b) for n, ft, b in _fields(btf, r))
            continue
        out.append((m.bit_offset // 8, m.name, m.type, m.bitfield_size))
    if not isinstance(t, Union):
        out.sort(key=lambda x: x[0])
    return [(n, ft, b) for _, n, ft, b in out]


# ------------------------------------------------------------------ the text


@dataclass
class _MapEntry:
    attr: str
    name: str
    annotation: str
    init: str
    inner: tuple[str, str] | None = None  # (key annotation, value annotation) of an outer map


def _map_entry(mod: _Module, spec: CollectionSpec, name: str, ms: MapSpec, attr: str) -> _MapEntry:
    from .constants import MapType

    t = MapType(ms.type) if ms.type in MapType._value2member_map_ else None
    btf = mod.btf
    if t is not None and t.is_outer:
        inner = ms.inner
        pair = None
        from .spec import MapSpec

        if (
            isinstance(inner, MapSpec)
            and inner.btf_key_type_id
            and inner.btf_value_type_id
            and ms.btf_key_type_id
        ):
            ik = mod.annotation(
                btf.type_by_id(inner.btf_key_type_id), f"map {name} inner key", value=True
            )
            iv = mod.annotation(
                btf.type_by_id(inner.btf_value_type_id), f"map {name} inner value", value=True
            )
            if inner.type in (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH):
                iv = f"list[{iv}]"
            mod.annotation(btf.type_by_id(ms.btf_key_type_id), f"map {name} key", value=True)
            pair = (ik, iv)
        return _MapEntry(attr, name, "_bpfnest.OuterMap", f"_skeleton.outer(c, {name!r})", pair)
    datasec = name.startswith(".")
    if (
        t is None
        or t.is_keyless
        or datasec
        or not ms.btf_key_type_id
        or not ms.btf_value_type_id
        or ms.struct_ops is not None
    ):
        return _MapEntry(attr, name, "_bpfnest.Map[_typing.Any]", f"c.maps[{name!r}]")
    try:
        k = mod.annotation(btf.type_by_id(ms.btf_key_type_id), f"map {name} key", value=True)
        v = mod.annotation(btf.type_by_id(ms.btf_value_type_id), f"map {name} value", value=True)
    except ValueError:
        return _MapEntry(attr, name, "_bpfnest.Map[_typing.Any]", f"c.maps[{name!r}]")
    if t.is_per_cpu:
        v = f"list[{v}]"
    return _MapEntry(
        attr, name, f"_bpfnest.TypedMap[{k}, {v}]", f"_skeleton.typed(TYPES, c, {name!r})"
    )


def generate(spec: CollectionSpec, *, object_path: str, module_dir: str | None = None) -> str:
    """The text of the typed module of ``spec`` (read from ``object_path``).

    The module finds the object at import by the path recorded in it:
    ``object_path`` relative to ``module_dir`` (the directory the module is
    written to) when that is given, else the object's file name next to
    the module. Deterministic: the text depends only on the object's names
    and types and on those two arguments.

    Raises:
        ValueError: the object has no BTF (build it with ``clang -g``), or its
            BTF is of the other byte order than this machine's.
    """
    import sys

    btf = spec.btf
    where = object_path
    if btf is None:
        raise ValueError(
            f"{where} has no BTF: build it with clang -g (gen takes the types from BTF)"
        )
    if btf.byteorder != sys.byteorder:
        raise ValueError(
            f"{where} is {btf.byteorder}-endian, this machine is {sys.byteorder}-endian:"
            " generate the module from an object built for this machine"
        )
    mod = _Module(btf)
    stem = os.path.basename(object_path).split(".", 1)[0] or "object"
    wrapper = mod.unique(_camel(stem))
    names = {k: mod.unique(wrapper + k) for k in ("Maps", "Programs", "Variables")}
    maps = [
        _map_entry(mod, spec, name, ms, python_name(name)) for name, ms in sorted(spec.maps.items())
    ]
    _dedupe(maps)
    variables: list[tuple[str, str, str, bool]] = []  # attr, name, annotation, readonly
    from .btf.types import Datasec, Var

    for name, vs in sorted(spec.variables.items()):
        ann = "bytes"
        for ds in btf.named(vs.map):
            if not isinstance(ds, Datasec):
                continue
            for vsi in ds.vars:
                if isinstance(vsi.type, Var) and vsi.type.name == name and vsi.size == vs.size:
                    ann = mod.annotation(vsi.type.type, f"var {name}", value=True)
        readonly = vs.map.startswith(".rodata") or vs.map == ".kconfig"
        variables.append((python_name(name), name, ann, readonly))
    programs = [(python_name(n), n, ps.autoload) for n, ps in sorted(spec.programs.items())]
    if module_dir is not None:
        rel = os.path.relpath(os.path.abspath(object_path), os.path.abspath(module_dir))
    else:
        rel = os.path.basename(object_path)
    return _render(mod, stem, rel, wrapper, names, maps, programs, variables)


def _dedupe(maps: list[_MapEntry]) -> None:
    seen: set[str] = set()
    for m in maps:
        while m.attr in seen:
            m.attr += "_"
        seen.add(m.attr)


def _render(
    mod: _Module,
    stem: str,
    rel: str,
    wrapper: str,
    names: dict[str, str],
    maps: list[_MapEntry],
    programs: list[tuple[str, str, bool]],
    variables: list[tuple[str, str, str, bool]],
) -> str:
    w: list[str] = []
    add = w.append
    base = os.path.basename(rel)
    add(f'"""Typed access to {base}: generated by ``bpfnest gen``. DO NOT EDIT.')
    add("")
    add(f"``load()`` loads {base} and returns a :class:`{wrapper}`: its maps with")
    add("typed keys and values, its programs, its global variables. The classes are")
    add("those bpfnest generates from the object's BTF, bound at import (the object")
    add("must be where ``OBJECT`` says); regenerate this module when the object's")
    add("types change (import raises ImportError naming the type that changed).")
    add('"""')
    add("")
    add("from __future__ import annotations")
    add("")
    add("import builtins as _builtins")
    add("import enum as _enum")
    add("import os as _os")
    add("import typing as _typing")
    add("")
    add("import bpfnest as _bpfnest")
    add("from bpfnest import skeleton as _skeleton")
    add("")
    parts = ", ".join(repr(p) for p in rel.split(os.sep))
    add(f"OBJECT = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), {parts})")
    add('"""The object this module was generated from."""')
    add("")
    add("TYPES = _skeleton.Types(OBJECT)")
    add('"""The object\'s BTF, the source of the classes below."""')
    add("")
    add("if _typing.TYPE_CHECKING:")
    if not mod.classes:
        add("    pass")
    aliases: set[str] = set()
    for c in mod.classes:
        add("")
        add(_stub(c, aliases))
    if aliases:
        add("")
    for a in sorted(aliases):
        add(f"    _T_{a} = {a}")
    add("else:")
    if not mod.classes:
        add("    pass")
    for c in mod.classes:
        add(_binding(c))
    add("")
    add("")
    _render_maps(add, names["Maps"], maps, wrapper)
    _render_programs(add, names["Programs"], programs, wrapper)
    _render_variables(add, names["Variables"], variables, wrapper)
    _render_wrapper(add, wrapper, names, stem)
    return "\n".join(w) + "\n"


def _stub(c: _Class, aliases: set[str]) -> str:
    lines: list[str] = []
    add = lines.append
    if c.kind == "enum":
        add(f"    class {c.name}(_enum.IntEnum):")
        add(f'        """{c.where}."""')
        add("")
        for name, value in c.members:
            add(f"        {name} = {value}")
        return "\n".join(lines)
    size = c.t.size if isinstance(c.t, Composite) else 0
    add(f"    class {c.name}(_skeleton.CStruct):")
    add(f'        """{c.where} ({size} bytes, a ctypes {c.kind} at run time)."""')
    add("")
    taken = {python_name(n) for n, _ in c.fields}
    params = []
    for name, ann in c.fields:
        ann = _qualified(ann, taken, aliases)
        add(f"        {python_name(name)}: {ann}")
        params.append(f"{python_name(name)}: {ann} = ...")
    if c.fields:
        add("")
    line = f"        def __init__(self{''.join(', ' + p for p in params)}) -> None: ..."
    if len(line) <= 99:
        add(line)
    else:
        add("        def __init__(")
        add("            self,")
        for p in params:
            add(f"            {p},")
        add("        ) -> None: ...")
    return "\n".join(lines)


_BUILTINS = frozenset({"int", "bool", "bytes", "float", "list"})


def _qualified(ann: str, fields: set[str], aliases: set[str]) -> str:
    """A class named like a field of the class it is used in: through ``globals``
    of the module (``_typing`` cannot see it in the class's scope)."""
    for word in sorted(set(re.findall(r"(?<![.\w])[A-Za-z_]\w*", ann))):
        if word not in fields:
            continue
        if word in _BUILTINS:
            ann = re.sub(rf"(?<![.\w]){word}\b", f"_builtins.{word}", ann)
        else:
            ann = re.sub(rf"(?<![.\w]){word}\b", f"_T_{word}", ann)
            aliases.add(word)
    return ann


def _binding(c: _Class) -> str:
    if c.kind == "enum":
        names = tuple(n for n, _ in c.members)
        return f"    {c.name} = TYPES.enum({c.where!r}, {names!r})"
    size = c.t.size if isinstance(c.t, Composite) else 0
    fields = tuple(n for n, _ in c.fields)
    return f"    {c.name} = TYPES.composite({c.where!r}, {size}, {fields!r})"


def _render_maps(add: Any, cls: str, maps: list[_MapEntry], wrapper: str) -> None:
    add(f"class {cls}:")
    add(f'    """The maps of a loaded :class:`{wrapper}`, by name (typed where their BTF says)."""')
    add("")
    add("    def __init__(self, c: _bpfnest.Collection) -> None:")
    add('        """Use ``load()``; the maps are the collection\'s (it closes them)."""')
    for m in maps:
        add(f"        self.{m.attr}: {m.annotation} = {m.init}")
    if not maps:
        add("        del c")
    for m in maps:
        if m.inner is None:
            continue
        k, v = m.inner
        add("")
        ret = f"_bpfnest.TypedMap[{k}, {v}]"
        add(f"    def {m.attr}_inner(self, m: _bpfnest.Map[_typing.Any]) -> {ret}:")
        add(f'        """An inner map of ``{m.name}`` (from ``get_map``, or made by')
        add(f"        ``Map.create(open_spec().maps[{m.name!r}].inner)``), typed; the caller")
        add('        still owns and closes ``m``."""')
        add(f"        return _skeleton.typed_inner(TYPES, {m.name!r}, m)")
    add("")
    add("")


def _render_programs(
    add: Any, cls: str, programs: list[tuple[str, str, bool]], wrapper: str
) -> None:
    add(f"class {cls}:")
    add(f'    """The programs of a loaded :class:`{wrapper}`, by name."""')
    add("")
    add("    def __init__(self, c: _bpfnest.Collection) -> None:")
    add('        """Use ``load()``; the programs are the collection\'s (it closes them)."""')
    for attr, name, autoload in programs:
        if autoload:
            add(f"        self.{attr}: _bpfnest.Program = c.programs[{name!r}]")
        else:
            add(f"        self.{attr}: _bpfnest.Program | None = c.programs.get({name!r})")
    if not programs:
        add("        del c")
    add("")
    add("")


def _render_variables(
    add: Any, cls: str, variables: list[tuple[str, str, str, bool]], wrapper: str
) -> None:
    add(f"class {cls}:")
    add(f'    """The global variables of a loaded :class:`{wrapper}` (``.rodata`` read-only)."""')
    add("")
    add("    def __init__(self, c: _bpfnest.Collection) -> None:")
    add('        """Use ``load()``."""')
    add("        self._v = c.variables")
    for attr, name, ann, readonly in variables:
        add("")
        add("    @property")
        add(f"    def {attr}(self) -> {ann}:")
        add(f'        """``{name}``: its value now."""')
        add(f"        return _typing.cast({ann!r}, self._v[{name!r}].value)")
        if not readonly:
            add("")
            add(f"    @{attr}.setter")
            add(f"    def {attr}(self, value: {ann}) -> None:")
            add(f"        self._v[{name!r}].value = value")
    add("")
    add("")


def _render_wrapper(add: Any, wrapper: str, names: dict[str, str], stem: str) -> None:
    add(f"class {wrapper}(_skeleton.Skeleton):")
    add(f'    """{stem} loaded: ``maps``, ``programs``, ``variables``; close it (or use')
    add('    ``with``) to close every map and program."""')
    add("")
    add("    def __init__(self, c: _bpfnest.Collection) -> None:")
    add('        """Use ``load()``."""')
    add("        super().__init__(c)")
    add(f"        self.maps = {names['Maps']}(c)")
    add(f"        self.programs = {names['Programs']}(c)")
    add(f"        self.variables = {names['Variables']}(c)")
    add("")
    add("")
    add("def open_spec() -> _bpfnest.CollectionSpec:")
    add('    """The object\'s spec, to change before ``load(spec)`` (``.rodata`` values, say)."""')
    add("    return _bpfnest.CollectionSpec.from_file(OBJECT)")
    add("")
    add("")
    add(f"def load(spec: _bpfnest.CollectionSpec | None = None) -> {wrapper}:")
    add('    """Load the object (or ``spec``, from ``open_spec()``): the caller closes the')
    add(f'    returned :class:`{wrapper}`."""')
    add(f"    return {wrapper}(_skeleton.load(TYPES, spec))")
