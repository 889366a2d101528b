"""Hints for the errors of creating and opening maps: the likely cause, from
the errno and the spec (as cilium's ``handleMapCreateError`` does). Pure."""

from __future__ import annotations

import errno

from .constants import ENOTSUPP, MapType
from .spec import MapSpec

__all__ = ["create_hint", "open_hint"]


def open_hint(err: int, how: str) -> str | None:
    if err == errno.EPERM:
        if how == "id":
            return "opening a map by id needs CAP_SYS_ADMIN (CAP_BPF is not enough)"
        return "needs root or CAP_BPF"
    if err == errno.ENOENT:
        return {"id": "no map has this id", "pin": "nothing is pinned at this path"}.get(how)
    if err == errno.EBADF:
        return "not an open file descriptor"
    return None


def create_hint(code: int, spec: MapSpec) -> str | None:
    t = spec.type
    if code == errno.EPERM:
        return "needs root or CAP_BPF; on kernels before 5.11 also a higher RLIMIT_MEMLOCK"
    if code == ENOTSUPP or code == errno.EOPNOTSUPP:
        if t.is_outer and isinstance(spec.inner, MapSpec) and not spec.inner.type.can_be_inner:
            return f"{spec.inner.type.name} cannot be an inner map"
        return f"the kernel cannot create {t.name} with these parameters"
    if code == errno.EINVAL:
        if t.is_outer:
            if spec.value_size != 4:
                return f"an outer map's value_size must be 4, not {spec.value_size}"
            if t == MapType.ARRAY_OF_MAPS and spec.key_size != 4:
                return f"ARRAY_OF_MAPS key_size must be 4, not {spec.key_size}"
            inner = spec.inner
            if (
                not isinstance(inner, MapSpec)
                and inner is not None
                and isinstance(inner.type, MapType)
                and inner.type.is_outer
            ):
                return f"the template is {inner.type.name}: only one level of nesting"
            return (
                "the inner template is refused: an outer map (only one level of nesting) or invalid"
            )
        if spec.max_entries == 0:
            return "max_entries must be > 0"
        if t.is_storage:
            return f"{t.name} needs BTF for key and value"
        return "a size or flag is not valid for this map type"
    if code == errno.E2BIG:
        return "key, value or max_entries too large for this map type"
    if code == errno.EBADF:
        return "the inner template fd is not open"
    if code == errno.ENOMEM:
        return "not enough memory (or memlock rlimit) for max_entries"
    return None
