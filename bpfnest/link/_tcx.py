"""tc programs on an interface through a tcx link (``BPF_LINK_CREATE``, 6.6)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .._sys import link_ops
from ..constants import AttachType, ProgType
from ._link import Link, attach
from ._xdp import ifindex_of

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_tcx"]

_DIRECTIONS = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}


def attach_tcx(program: Program, iface: str | int, direction: str) -> Link:
    """Attach a tc ``program`` to ``iface``'s ``direction``; see ``Program.attach_tcx``."""
    attach_type = _DIRECTIONS.get(direction)
    if attach_type is None:
        raise ValueError(f"attach_tcx: direction must be 'ingress' or 'egress', got {direction!r}")
    ifindex = ifindex_of(iface, "attach_tcx")
    hints = {errno.EINVAL: "tcx needs Linux 6.6 and a SCHED_CLS program"}
    return attach(
        program,
        (ProgType.SCHED_CLS, ProgType.SCHED_ACT),
        f"tcx {direction} of interface '{iface}' (ifindex {ifindex})",
        lambda fd: (link_ops.link_create(fd, ifindex, attach_type), ()),
        hints,
    )
