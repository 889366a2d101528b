"""Specs: descriptions of kernel objects, as plain data. No kernel here.

A :class:`MapSpec` says what map to create; :class:`MapInfo` is what the
kernel says about a map that exists. Both are dataclasses that never call
bpf(2), so they can be built, compared and printed on any machine.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

from .constants import F_INNER_MAP, MapType

if TYPE_CHECKING:
    from .maps import Map

__all__ = ["PIN_BY_NAME", "MapInfo", "MapSpec"]

#: ``pinning`` value meaning "pin under the collection's pin directory by name"
#: (libbpf's ``LIBBPF_PIN_BY_NAME``).
PIN_BY_NAME = 1

_NAME_RE = re.compile(r"[A-Za-z0-9_.]*")
_U32 = (1 << 32) - 1


def check_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a valid kernel object name.

    The kernel takes at most 15 characters of ``[A-Za-z0-9_.]``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be str, got {type(name).__name__}")
    if len(name) > 15 or not _NAME_RE.fullmatch(name):
        raise ValueError(f"map name {name!r} is not valid: at most 15 characters of [A-Za-z0-9_.]")


@dataclasses.dataclass
class MapSpec:
    """What map to create; no kernel object.

    For ``ARRAY_OF_MAPS`` and ``HASH_OF_MAPS``, ``inner`` is the inner map's
    ``MapSpec`` (the template the outer map is created from) or an existing
    ``Map`` used as template. ``contents`` holds initial entries; for an outer
    map inside a collection: key -> the name of another map, or a ``Map``.
    """

    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    name: str = ""
    inner: Union[MapSpec, Map[Any], None] = None  # noqa: UP007 - Map is a forward reference
    contents: Mapping[object, object] | None = None
    pinning: int | None = None
    numa_node: int | None = None
    map_extra: int = 0
    ifindex: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.type, int) and not isinstance(self.type, MapType):
            try:
                self.type = MapType(self.type)
            except ValueError:
                raise ValueError(f"unknown map type {self.type}") from None

    def validate(self) -> None:
        """Check the fields that can be checked without the kernel.

        Raises:
            TypeError: a field of the wrong type.
            ValueError: a field out of range, an invalid name, an ``inner`` on
                a map that is not an outer map, or an outer map without one.
        """
        what = f"map '{self.name}'" if self.name else "map"
        if not isinstance(self.type, MapType):
            raise TypeError(f"{what}: type must be a MapType, got {type(self.type).__name__}")
        for field in ("key_size", "value_size", "max_entries", "flags", "ifindex"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{what}: {field} must be int, got {type(value).__name__}")
            if not 0 <= value <= _U32:
                raise ValueError(f"{what}: {field} {value} out of range 0..{_U32}")
        if not isinstance(self.map_extra, int) or not 0 <= self.map_extra < 1 << 64:
            raise ValueError(f"{what}: map_extra {self.map_extra!r} is not a u64")
        if self.numa_node is not None and not (
            isinstance(self.numa_node, int) and 0 <= self.numa_node <= _U32
        ):
            raise ValueError(f"{what}: numa_node {self.numa_node!r} is not a u32")
        check_name(self.name)
        if self.type.is_outer:
            if self.inner is None:
                raise ValueError(
                    f"{what}: {self.type.name} needs an inner map template:"
                    " set inner to a MapSpec or a Map"
                )
            if isinstance(self.inner, MapSpec):
                if self.inner.type.is_outer:
                    raise ValueError(
                        f"{what}: the inner map cannot be {self.inner.type.name}:"
                        " the kernel allows one level of nesting"
                    )
                self.inner.validate()
        elif self.inner is not None:
            raise ValueError(
                f"{what}: inner is only for ARRAY_OF_MAPS and HASH_OF_MAPS, not {self.type.name}"
            )


@dataclasses.dataclass(frozen=True)
class MapInfo:
    """What the kernel reports about a map (``struct bpf_map_info``)."""

    type: MapType | int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str
    ifindex: int = 0
    map_extra: int = 0
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0

    def to_spec(self) -> MapSpec:
        """Return a ``MapSpec`` that would create a map like this one (no inner)."""
        return MapSpec(
            type=MapType(self.type),
            key_size=self.key_size,
            value_size=self.value_size,
            max_entries=self.max_entries,
            flags=self.flags,
            name=self.name,
            map_extra=self.map_extra,
            ifindex=self.ifindex,
        )

    def template_mismatch(self, inner: MapInfo) -> str | None:
        """Say how ``inner`` fails to match this template, or None when it fits.

        The kernel's rule (``bpf_map_meta_equal``): same type, key size, value
        size and flags; for ARRAY (not PERCPU_ARRAY) also the same max_entries
        unless both carry ``F_INNER_MAP``.
        """
        for field in ("type", "key_size", "value_size", "flags"):
            mine, theirs = getattr(self, field), getattr(inner, field)
            if mine != theirs:
                if field == "type":
                    return f"inner type {_type_name(theirs)} != template {_type_name(mine)}"
                if field == "flags":
                    return f"inner flags {theirs:#x} != template {mine:#x}"
                return f"inner {field} {theirs} != template {mine}"
        if (
            self.type == MapType.ARRAY
            and not self.flags & F_INNER_MAP
            and self.max_entries != inner.max_entries
        ):
            return (
                f"inner max_entries {inner.max_entries} != template {self.max_entries}"
                " (both need F_INNER_MAP to differ)"
            )
        return None


def _type_name(value: int) -> str:
    try:
        return MapType(value).name
    except ValueError:
        return str(value)
