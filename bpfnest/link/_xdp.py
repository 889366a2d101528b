"""XDP on an interface through a BPF link (``BPF_LINK_CREATE``, 5.9)."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from .._sys import link_ops, netlink
from ..constants import AttachType, LinkType, ProgType
from ._link import Link, attach, link_ids

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


def _attached_already(ifindex: int, iface: str | int) -> str:
    """Say which program holds XDP on ``ifindex`` and how to replace it (asked on EBUSY)."""
    for lid in _safe_link_ids():
        try:
            with Link.from_id(lid) as other:
                info = other.info()
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to open
        if info.type == LinkType.XDP and info.ifindex == ifindex:
            return (
                f"program {info.program_id} is attached there by link {lid}: update() that"
                f" link (Link.from_id({lid})), or close it and unpin it"
            )
    try:
        held = netlink.xdp_query(ifindex).prog_id
    except OSError:
        held = 0
    who = f"program {held}" if held else "an XDP program"
    return (
        f"{who} is attached there by netlink: remove it with"
        f" `ip link set dev {iface} xdp off`, then attach again"
    )


def _safe_link_ids() -> list[int]:
    try:
        return list(link_ids())
    except OSError:  # not allowed to list: the hint stays general
        return []


def attach_xdp(program: Program, iface: str | int, *, mode: str | None = None) -> Link:
    """Attach an XDP ``program`` to ``iface`` with a BPF link; see ``Program.attach_xdp``."""
    if mode is not None and mode not in _MODES:
        raise ValueError(
            f"attach_xdp: mode must be one of {', '.join(map(repr, _MODES))} or None, got {mode!r}"
        )
    ifindex = ifindex_of(iface, "attach_xdp")
    flags = _MODES[mode] if mode else 0

    def hints(code: int) -> str | None:
        if code in (errno.EBUSY, errno.EEXIST):
            return _attached_already(ifindex, iface)
        if code in (errno.EOPNOTSUPP, errno.EINVAL) and mode in ("native", "offload"):
            return f"the driver of '{iface}' has no {mode} XDP: try mode='generic'"
        return None

    return attach(
        program,
        (ProgType.XDP,),
        f"XDP of interface '{iface}' (ifindex {ifindex})",
        lambda fd: (link_ops.link_create(fd, ifindex, AttachType.XDP, flags=flags), ()),
        hints,
    )
