"""Legacy map definitions in ``SEC("maps")`` -> MapSpecs. No kernel here.

Two layouts share the section and their first five u32 fields (type, key
size, value size, max entries, flags):

- samples/bpf's (and libbpf 0.x's) ``struct bpf_map_def``, then
  ``inner_map_idx`` and ``numa_node``. ``inner_map_idx`` of an outer map is
  the index, in offset order, of the definition in this section that is its
  inner map's template (as samples/bpf's ``bpf_load.c`` reads it, so 0 is
  the first map; an outer map cannot be its own template).
- iproute2's ``struct bpf_elf_map`` (``include/bpf_elf.h``), then ``id``,
  ``pinning``, ``inner_id`` and ``inner_idx``. An outer map's ``inner_id``
  names the map whose ``id`` is its template (the first with that id); a
  map with an ``id``, no ``inner_id`` and an ``inner_idx`` other than
  ``NO_PREPOPULATE`` (-1) is declared at slot ``inner_idx`` of every outer
  map whose ``inner_id`` is its ``id``, as iproute2 fills them. ``pinning``
  ``PIN_GLOBAL_NS`` (2) pins at ``<pin root>/tc/globals/NAME`` and
  ``PIN_OBJECT_NS`` (1) at ``<pin root>/tc/<SHA-1 of the object>/NAME``:
  iproute2's paths when the pin root is the default /sys/fs/bpf
  (``MapSpec.pin_dir``).

Fields are told apart by their names in the object's BTF (``clang -g``).
Without BTF the size decides: 36 bytes is ``bpf_elf_map``; up to 20 bytes
the common fields; in between, or longer, the fields past the common ones
must be 0, since they could be either layout's. A field that cannot be
honoured is a :class:`ParseError` naming it (an unknown non-zero field,
iproute2's custom pinning namespaces, an index or id that names no map):
nothing is dropped in silence.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Literal

from ._elffile import Symbol
from ._values import slot_problem
from .btf import BTF, Datasec, Int, Struct, Var
from .constants import MapType
from .errors import ParseError
from .spec import PIN_BY_NAME, MapSpec

__all__ = ["read_legacy_maps"]

#: Member names of both layouts -> the field they are.
_ALIASES = {
    "type": "type",
    "key_size": "key_size",
    "size_key": "key_size",
    "value_size": "value_size",
    "size_value": "value_size",
    "max_entries": "max_entries",
    "max_elem": "max_entries",
    "map_flags": "map_flags",
    "flags": "map_flags",
    "inner_map_idx": "inner_map_idx",
    "numa_node": "numa_node",
    "id": "id",
    "pinning": "pinning",
    "inner_id": "inner_id",
    "inner_idx": "inner_idx",
}
_COMMON = ("type", "key_size", "value_size", "max_entries", "map_flags")
_ELF_MAP = (*_COMMON, "id", "pinning", "inner_id", "inner_idx")  # iproute2, 36 bytes
PIN_OBJECT_NS, PIN_GLOBAL_NS = 1, 2
NO_PREPOPULATE = 0xFFFF_FFFF

Err = Callable[[str, int], ParseError]  # (message, offset in "maps") -> error


@dataclasses.dataclass
class _Def:
    name: str
    offset: int
    fields: dict[str, int]  # the known fields the definition has
    spec: MapSpec


def read_legacy_maps(
    data: bytes,
    syms: Sequence[Symbol],
    *,
    byteorder: Literal["little", "big"],
    btf: BTF | None,
    obj: bytes,
    err: Err,
    kernel_name: Callable[[str], str],
) -> list[tuple[str, int, MapSpec]]:
    """``(name, offset, spec)`` of each definition of section ``maps``.

    ``syms`` are the section's symbols sorted by offset; ``obj`` the whole
    object (its SHA-1 names iproute2's object namespace).

    Raises:
        ParseError: a definition that does not fit, or a field that cannot
            be honoured (named).
    """
    defs: list[_Def] = []
    structs = _btf_structs(btf)
    for i, sym in enumerate(syms):
        off = sym.value
        size = sym.size or ((syms[i + 1].value if i + 1 < len(syms) else len(data)) - off)
        if size < 16 or off + size > len(data):
            raise err(
                f"legacy map '{sym.name}': definition of {size} bytes does not fit"
                " (struct bpf_map_def needs at least 16)",
                off,
            )
        raw = data[off : off + size]
        fields: dict[str, int] = {}
        for field, at, width in _layout(size, structs.get(sym.name), btf):
            chunk = raw[at : at + width]
            if field in _KNOWN:
                fields[field] = int.from_bytes(chunk, byteorder)
            elif any(chunk):
                value = int.from_bytes(chunk, byteorder) if width <= 8 else "not 0"
                raise err(
                    f"legacy map '{sym.name}': field '{field}' is {value}, which bpfnest cannot"
                    " honour (it reads struct bpf_map_def and iproute2's struct bpf_elf_map)",
                    off + at,
                )
        for field in _COMMON[:4]:
            if field not in fields:
                raise err(f"legacy map '{sym.name}': no field '{field}'", off)
        spec = _spec(sym.name, fields, off, obj, err, kernel_name)
        defs.append(_Def(sym.name, off, fields, spec))
    _link_inner_maps(defs, err, kernel_name)
    return [(d.name, d.offset, d.spec) for d in defs]


_KNOWN = frozenset(_ALIASES.values())


def _layout(size: int, st: Struct | None, btf: BTF | None) -> list[tuple[str, int, int]]:
    """``(field, byte offset, width)`` of each field; names not in _ALIASES kept as is."""
    if st is not None and btf is not None:
        out = []
        for m in st.members:
            at, t = m.bit_offset // 8, btf.resolve(m.type)
            if isinstance(t, Int) and t.size == 4 and not (m.bit_offset % 32 or m.bitfield_size):
                out.append((_ALIASES.get(m.name, m.name), at, 4))
            else:  # read only to see that it is 0
                width = min(btf.sizeof(m.type), max(0, size - at))
                out.append((f"{m.name} (not a u32)", at, width))
        return out
    if size == 4 * len(_ELF_MAP):
        names: Sequence[str] = _ELF_MAP
    elif size <= 4 * len(_COMMON):
        names = _COMMON
    else:  # struct bpf_map_def's inner_map_idx or bpf_elf_map's id? only 0 is both
        names = (*_COMMON, *(f"u32 #{k} (compile with -g to name it)" for k in range(5, 9)))
    out = [(n, 4 * k, 4) for k, n in enumerate(names) if 4 * k + 4 <= size]
    tail = len(out) * 4
    if tail < size:
        out.append((f"bytes {tail}..{size - 1} (compile with -g to name them)", tail, size - tail))
    return out


def _btf_structs(btf: BTF | None) -> dict[str, Struct]:
    """The struct of each variable of DATASEC ``maps`` in BTF, by name."""
    if btf is None:
        return {}
    try:
        ds = btf.find("maps", Datasec)
    except KeyError:
        return {}
    out: dict[str, Struct] = {}
    for vsi in ds.vars:
        if isinstance(vsi.type, Var):
            st = btf.resolve(vsi.type.type)
            if isinstance(st, Struct):
                out.setdefault(vsi.type.name, st)
    return out


def _spec(
    name: str,
    fields: dict[str, int],
    off: int,
    obj: bytes,
    err: Err,
    kernel_name: Callable[[str], str],
) -> MapSpec:
    try:
        mtype = MapType(fields["type"])
    except ValueError:
        raise err(f"map '{name}': unknown map type {fields['type']}", off) from None
    pinning, pin_dir = None, ""
    pin = fields.get("pinning", 0)
    if pin == PIN_GLOBAL_NS:
        pinning, pin_dir = PIN_BY_NAME, "tc/globals"
    elif pin == PIN_OBJECT_NS:
        pinning, pin_dir = PIN_BY_NAME, f"tc/{hashlib.sha1(obj).hexdigest()}"
    elif pin:
        raise err(
            f"legacy map '{name}': pinning {pin} is an iproute2 custom namespace"
            " (/etc/iproute2/bpf_pinning), which bpfnest cannot honour: use PIN_GLOBAL_NS (2)"
            " or PIN_OBJECT_NS (1), or pin the map yourself",
            off,
        )
    return MapSpec(
        type=mtype,
        key_size=fields["key_size"],
        value_size=fields["value_size"],
        max_entries=fields["max_entries"],
        flags=fields.get("map_flags", 0),
        name=kernel_name(name),
        numa_node=fields.get("numa_node") or None,
        pinning=pinning,
        pin_dir=pin_dir,
    )


def _link_inner_maps(defs: list[_Def], err: Err, kernel_name: Callable[[str], str]) -> None:
    """Templates from ``inner_map_idx`` / ``inner_id``; slots from ``inner_idx``."""
    by_id: dict[int, list[_Def]] = {}
    outers_of: dict[int, list[_Def]] = {}  # inner_id -> the outer maps that name it
    for d in defs:
        if d.fields.get("id"):
            by_id.setdefault(d.fields["id"], []).append(d)
        if d.spec.type.is_outer and d.fields.get("inner_id"):
            outers_of.setdefault(d.fields["inner_id"], []).append(d)
    for d in defs:
        idx, inner_id = d.fields.get("inner_map_idx"), d.fields.get("inner_id", 0)
        if not d.spec.type.is_outer:
            for field, value in (("inner_map_idx", idx or 0), ("inner_id", inner_id)):
                if value:
                    raise err(
                        f"legacy map '{d.name}': {field} {value} on {d.spec.type.name},"
                        " which is not an outer map",
                        d.offset,
                    )
        elif idx is not None:
            if idx >= len(defs) or defs[idx] is d:
                what = "the map itself" if idx < len(defs) else f"past the last ({len(defs) - 1})"
                raise err(
                    f"legacy map '{d.name}': inner_map_idx {idx} is {what}; it must be the"
                    " index of the inner map's definition in section maps",
                    d.offset,
                )
            d.spec.inner = _template(d, defs[idx], "inner_map_idx", err, kernel_name)
        elif inner_id:
            template = next((t for t in by_id.get(inner_id, []) if t is not d), None)
            if template is None:
                raise err(
                    f"legacy map '{d.name}': inner_id {inner_id} is the id of no other map",
                    d.offset,
                )
            d.spec.inner = _template(d, template, "inner_id", err, kernel_name)
    slots: dict[str, dict[object, object]] = {}
    for d in defs:  # iproute2: a map with an id goes into each outer map of that inner_id
        map_id, inner_idx = d.fields.get("id", 0), d.fields.get("inner_idx", NO_PREPOPULATE)
        if inner_idx == NO_PREPOPULATE or d.fields.get("inner_id"):
            continue
        outers = outers_of.get(map_id, []) if map_id else []
        if not outers and inner_idx:
            raise err(
                f"legacy map '{d.name}': inner_idx {inner_idx} but no outer map has"
                f" inner_id {map_id or '(it has no id)'}",
                d.offset,
            )
        for o in outers:
            _declare_slot(o, slots.setdefault(o.name, {}), inner_idx, d, err)
    for d in defs:
        if d.name in slots:
            d.spec.contents = slots[d.name]


def _template(
    outer: _Def, inner: _Def, field: str, err: Err, kernel_name: Callable[[str], str]
) -> MapSpec:
    if inner.spec.type.is_outer:
        raise err(
            f"legacy map '{outer.name}': {field} names '{inner.name}', an outer map"
            " (nested map-in-map)",
            outer.offset,
        )
    return dataclasses.replace(
        inner.spec, name=kernel_name(f"{outer.name}.inner"), pinning=None, pin_dir=""
    )


def _declare_slot(
    outer: _Def, contents: dict[object, object], slot: int, inner: _Def, err: Err
) -> None:
    spec = outer.spec
    if slot in contents:
        raise err(
            f"legacy map '{outer.name}': slot {slot} declared twice, by '{contents[slot]}'"
            f" and '{inner.name}' (inner_idx)",
            inner.offset,
        )
    problem = slot_problem(spec, slot)
    if problem is None and len(contents) >= spec.max_entries:
        problem = f"slot {slot} is one more than max_entries {spec.max_entries}"
    if problem:
        raise err(
            f"legacy map '{outer.name}': {problem} (inner_idx of '{inner.name}')", inner.offset
        )
    contents[slot] = inner.name
