"""BTF-defined maps: a struct of the ``.maps`` section -> :class:`MapSpec` (pure).

The fields libbpf reads (``__uint``, ``__type``, ``__array(values, ...)``)
and the rules it applies to them, for :mod:`bpfnest.elf`.
"""

from __future__ import annotations

from collections.abc import Callable

from .btf import BTF, Array, FuncProto, Fwd, Pointer, Struct
from .constants import MapType
from .errors import ParseError
from .spec import PIN_BY_NAME, MapSpec

__all__ = ["UINT_FIELDS", "map_def", "map_type"]

#: ``err(message, section, offset)``: the reader's ParseError for a place in the object.
Err = Callable[[str, str, int], ParseError]
U32_MAX = 0xFFFF_FFFF
#: The ``__uint()`` fields of a map definition.
UINT_FIELDS = (
    "type",
    "max_entries",
    "map_flags",
    "numa_node",
    "pinning",
    "map_extra",
    "key_size",
    "value_size",
)


#: Event maps whose key and value the kernel fixes: the size it takes for both.
_KEYLESS_EVENTS = {MapType.RINGBUF: 0, MapType.USER_RINGBUF: 0, MapType.PERF_EVENT_ARRAY: 4}


def map_type(value: int, name: str, section: str, offset: int, *, err: Err) -> MapType:
    """``value`` as a :class:`MapType`; a ``ParseError`` naming the map for an unknown one."""
    try:
        return MapType(value)
    except ValueError:
        raise err(f"map '{name}': unknown map type {value}", section, offset) from None


def map_def(
    btf: BTF,
    name: str,
    st: Struct,
    offset: int,
    *,
    err: Err,
    kernel_name: Callable[[str], str],
    outer: str = "",
) -> tuple[MapSpec, int | None]:
    """The MapSpec of a ``.maps`` struct at ``offset``, and the offset of its
    ``values`` member (None without one); ``outer`` names the outer map when
    ``st`` is its inner map's definition.

    Raises:
        ParseError: (from ``err``) a definition libbpf would refuse, naming the map.
    """
    inner = bool(outer)
    where = ".maps"
    fields: dict[str, int] = {}
    types: dict[str, int] = {}
    inner_spec: MapSpec | None = None
    values_off: int | None = None
    values_kind = ""
    for i, m in enumerate(st.members):
        t = btf.resolve(m.type)
        if m.name in UINT_FIELDS:
            if not isinstance(t, Pointer) or not isinstance(arr := btf.resolve(t.target), Array):
                raise err(f"map '{name}': field '{m.name}' is not __uint()", where, offset)
            fields[m.name] = arr.nelems
        elif m.name in ("key", "value"):
            if not isinstance(t, Pointer):
                raise err(f"map '{name}': field '{m.name}' is not __type()", where, offset)
            target_t = btf.resolve(t.target)
            if isinstance(target_t, Fwd):
                what = f"map '{outer}' inner" if outer else f"map '{name}'"
                raise err(
                    f"{what} {m.name} type '{target_t.kind} {target_t.name}' is only declared,"
                    " not defined: use the struct in a global or a map value so clang emits it",
                    where,
                    offset,
                )
            size = btf.sizeof(t.target)
            if size > U32_MAX:
                raise err(
                    f"map '{name}': {m.name} type is {size} bytes, more than a u32 size",
                    where,
                    offset,
                )
            other = fields.get(f"{m.name}_size")
            if other is not None and other != size:
                raise err(
                    f"map '{name}': {m.name}_size {other} != size of {m.name} type {size}",
                    where,
                    offset,
                )
            fields[f"{m.name}_size"] = size
            types[m.name] = t.target.id
        elif m.name == "values":
            if i != len(st.members) - 1:
                raise err(f"map '{name}': 'values' must be the last field", where, offset)
            if not isinstance(t, Array) or not isinstance(ptr := btf.resolve(t.type), Pointer):
                raise err(f"map '{name}': 'values' is not __array()", where, offset)
            target = btf.resolve(ptr.target)
            values_off = m.bit_offset // 8
            if isinstance(target, Struct):
                if inner:
                    raise err(f"map '{name}': nested map-in-map", where, offset)
                inner_spec, _ = map_def(
                    btf,
                    kernel_name(f"{name}.inner"),
                    target,
                    offset,
                    err=err,
                    kernel_name=kernel_name,
                    outer=name,
                )
                values_kind = "maps"
            elif isinstance(target, FuncProto):
                values_kind = "programs"
            else:
                raise err(
                    f"map '{name}': __array(values, ...) must hold a map struct or a"
                    " function prototype",
                    where,
                    offset,
                )
        else:
            raise err(f"map '{name}': unknown field '{m.name}'", where, offset)
    if "type" not in fields:
        raise err(f"map '{name}': no type", where, offset)
    mtype = map_type(fields["type"], name, where, offset, err=err)
    if values_kind == "maps" and not mtype.is_outer:
        raise err(
            f"map '{name}': values of maps on {mtype.name}, which is not an outer map",
            where,
            offset,
        )
    if values_kind == "programs" and mtype != MapType.PROG_ARRAY:
        raise err(
            f"map '{name}': values of programs on {mtype.name}, which is not PROG_ARRAY",
            where,
            offset,
        )
    if inner and fields.get("pinning"):
        raise err(f"map '{name}': an inner map definition cannot be pinned", where, offset)
    if fields.get("pinning", 0) not in (0, PIN_BY_NAME):
        raise err(
            f"map '{name}': pinning {fields['pinning']} is neither LIBBPF_PIN_NONE (0) nor"
            " LIBBPF_PIN_BY_NAME (1)",
            where,
            offset,
        )
    if inner and mtype.is_outer:
        raise err(f"map '{name}': nested map-in-map", where, offset)
    if mtype.is_outer or mtype == MapType.PROG_ARRAY:
        vsize = fields.setdefault("value_size", 4)
        if vsize != 4:
            raise err(
                f"map '{name}': {mtype.name} value_size must be 4, not {vsize}", where, offset
            )
        fields.setdefault("key_size", 4)
    if types and mtype in _KEYLESS_EVENTS:
        # cilium/ebpf accepts __type(key/value) on event maps (documenting the
        # record); the kernel takes neither sizes nor BTF types for a ring
        # buffer, and 4-byte keys and values (CPU index -> perf event fd) for
        # a perf event array. As cilium/ebpf: the types are dropped.
        size = _KEYLESS_EVENTS[mtype]
        fields["key_size"] = fields["value_size"] = size
        types = {}
    spec = MapSpec(
        type=mtype,
        key_size=fields.get("key_size", 0),
        value_size=fields.get("value_size", 0),
        max_entries=fields.get("max_entries", 0),
        flags=fields.get("map_flags", 0),
        name=kernel_name(name),
        inner=inner_spec,
        pinning=fields.get("pinning") or None,
        numa_node=fields.get("numa_node"),
        map_extra=fields.get("map_extra", 0),
        btf_key_type_id=types.get("key", 0),
        btf_value_type_id=types.get("value", 0),
    )
    return spec, values_off
