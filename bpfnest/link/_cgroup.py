"""Programs on a cgroup2 directory through a cgroup link (``BPF_LINK_CREATE``, 5.7)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._sys import link_ops
from ..constants import AttachType, ProgType
from ._link import Link, attach, check_type

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_cgroup"]

_TYPES = (
    ProgType.CGROUP_SKB,
    ProgType.CGROUP_SOCK,
    ProgType.CGROUP_DEVICE,
    ProgType.CGROUP_SOCK_ADDR,
    ProgType.CGROUP_SYSCTL,
    ProgType.CGROUP_SOCKOPT,
    ProgType.SOCK_OPS,
)


def _open_cgroup(cgroup: str | os.PathLike[str] | int) -> tuple[int, bool, str]:
    """(fd, opened here, name for messages) of a cgroup path or fd.

    Raises:
        TypeError: ``cgroup`` is neither a path nor an int.
        ValueError: the path is not an existing directory.
    """
    if isinstance(cgroup, int) and not isinstance(cgroup, bool):
        return cgroup, False, f"cgroup fd {cgroup}"
    if not isinstance(cgroup, (str, os.PathLike)):
        raise TypeError(
            f"attach_cgroup: cgroup must be a cgroup2 directory path or an open fd,"
            f" got {type(cgroup).__name__}"
        )
    path = os.fspath(cgroup)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise ValueError(
            f"attach_cgroup: cgroup '{path}': {err.strerror} (give a cgroup2 directory,"
            " e.g. under the cgroup2 mount in /proc/mounts)"
        ) from None
    return fd, True, f"cgroup '{path}'"


def attach_cgroup(
    program: Program,
    cgroup: str | os.PathLike[str] | int,
    attach_type: AttachType | None = None,
) -> Link:
    """Attach ``program`` to ``cgroup``; see ``Program.attach_cgroup``."""
    check_type(program, _TYPES, "a cgroup")  # before the cgroup is opened
    kind = attach_type if attach_type is not None else program._attach_type
    if kind is None:
        raise ValueError(
            f"attach_cgroup: {program._describe()} has no expected attach type:"
            " pass attach_type= (e.g. AttachType.CGROUP_INET_EGRESS)"
        )
    fd, opened, name = _open_cgroup(cgroup)
    try:
        return attach(
            program,
            _TYPES,
            f"{name} as {AttachType(kind).name}",
            lambda prog: (link_ops.link_create(prog, fd, kind), ()),
        )
    finally:
        if opened:
            os.close(fd)
