"""XDP on an interface through a BPF link (``BPF_LINK_CREATE``, 5.9)."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from .._sys import link_ops
from ..constants import AttachType, ProgType
from ._link import Link, attach

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_xdp", "ifindex_of"]

# XDP_FLAGS_* of <linux/if_link.h>
_MODES = {"generic": 1 << 1, "native": 1 << 2, "offload": 1 << 3}


def ifindex_of(iface: str | int, what: str) -> int:
    """The ifindex of ``iface`` (a name, or an ifindex returned as is).

    Raises:
        TypeError: ``iface`` is neither a str nor an int.
        ValueError: no interface has this name (in this network namespace).
    """
    if isinstance(iface, bool) or not isinstance(iface, (str, int)):
        raise TypeError(f"{what}: iface must be a name or an ifindex, got {type(iface).__name__}")
    if isinstance(iface, int):
        if iface <= 0:
            raise ValueError(f"{what}: ifindex must be positive, got {iface}")
        return iface
    try:
        return socket.if_nametoindex(iface)
    except OSError:
        raise ValueError(
            f"{what}: no interface '{iface}' in this network namespace (see `ip link`)"
        ) from None


def attach_xdp(program: Program, iface: str | int, *, mode: str | None = None) -> Link:
    """Attach an XDP ``program`` to ``iface`` with a BPF link; see ``Program.attach_xdp``."""
    if mode is not None and mode not in _MODES:
        raise ValueError(
            f"attach_xdp: mode must be one of {', '.join(map(repr, _MODES))} or None, got {mode!r}"
        )
    ifindex = ifindex_of(iface, "attach_xdp")
    flags = _MODES[mode] if mode else 0
    hints = {
        errno.EBUSY: "an XDP program is attached to this interface already: update() or"
        " close its link, or `ip link set dev IFACE xdp off` for one attached by netlink",
        errno.EEXIST: "an XDP program is attached to this interface already: update() or"
        " close its link",
        errno.EOPNOTSUPP: f"the driver has no {mode or 'native'} XDP: try mode='generic'",
    }
    return attach(
        program,
        (ProgType.XDP,),
        f"XDP of interface '{iface}' (ifindex {ifindex})",
        lambda fd: (link_ops.link_create(fd, ifindex, AttachType.XDP, flags=flags), ()),
        hints,
    )
