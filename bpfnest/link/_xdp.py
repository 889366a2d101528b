"""XDP on an interface: through a BPF link (``BPF_LINK_CREATE``, 5.9), or over
netlink (``IFLA_XDP``, 4.8) where the kernel has no XDP links or the caller
asks, as a :class:`~bpfnest.link._legacy.LegacyLink` holding an :class:`XdpHook`."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import features
from .._sys import link_ops, netlink
from ..constants import AttachType, LinkType, ProgType
from ._legacy import Hook, LegacyLinkInfo, attach_legacy
from ._link import Link, attach, link_ids

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["XdpHook", "attach_xdp", "ifindex_of"]

# XDP_FLAGS_* of <linux/if_link.h>
_MODES = {"generic": 1 << 1, "native": 1 << 2, "offload": 1 << 3}
# XDP_ATTACHED_* of <linux/if_link.h>: what IFLA_XDP_ATTACHED says for one mode.
_ATTACHED = {"native": 1, "generic": 2, "offload": 3}


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
    held = _held_by_link(ifindex)
    if held is not None:
        lid, prog_id = held
        return (
            f"program {prog_id} is attached there by link {lid}: update() that"
            f" link (Link.from_id({lid})), or close it and unpin it"
        )
    return (
        f"{_netlink_holder(ifindex)} is attached there by netlink: remove it with"
        f" `ip link set dev {iface} xdp off`, then attach again"
    )


def _held_by_link(ifindex: int) -> tuple[int, int] | None:
    """(link id, program id) of the XDP link on ``ifindex``, if one is visible.

    Links of every network namespace are listed, and an ifindex is only unique
    within one: the link must also run the program netlink reports here.
    """
    try:
        here = netlink.xdp_query(ifindex)
    except OSError:
        return None
    running = {here.prog_id, here.drv_prog_id, here.skb_prog_id, here.hw_prog_id} - {0}
    for lid in _safe_link_ids():
        try:
            with Link.from_id(lid) as other:
                info = other.info()
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to open
        if info.type == LinkType.XDP and info.ifindex == ifindex and info.program_id in running:
            return lid, info.program_id
    return None


def _netlink_holder(ifindex: int) -> str:
    try:
        held = netlink.xdp_query(ifindex).prog_id
    except OSError:
        held = 0
    return f"program {held}" if held else "an XDP program"


def _safe_link_ids() -> list[int]:
    try:
        return list(link_ids())
    except OSError:  # not allowed to list: the hint stays general
        return []


def attach_xdp(
    program: Program, iface: str | int, *, mode: str | None = None, netlink: bool = False
) -> Link:
    """Attach an XDP ``program`` to ``iface`` with a BPF link, or over netlink
    (``netlink=True``, or a kernel without XDP links); see ``Program.attach_xdp``."""
    if mode is not None and mode not in _MODES:
        raise ValueError(
            f"attach_xdp: mode must be one of {', '.join(map(repr, _MODES))} or None, got {mode!r}"
        )
    if not isinstance(netlink, bool):
        raise TypeError(f"attach_xdp: netlink must be a bool, got {type(netlink).__name__}")
    ifindex = ifindex_of(iface, "attach_xdp")
    flags = _MODES[mode] if mode else 0

    def hints(code: int) -> str | None:
        if code in (errno.EBUSY, errno.EEXIST):
            return _attached_already(ifindex, iface)
        if code in (errno.EOPNOTSUPP, errno.EINVAL) and mode in ("native", "offload"):
            return f"the driver of '{iface}' has no {mode} XDP: try mode='generic'"
        return None

    if netlink or not features.has_links("xdp"):
        return _attach_netlink(program, iface, ifindex, mode, hints)
    return attach(
        program,
        (ProgType.XDP,),
        f"XDP of interface '{iface}' (ifindex {ifindex})",
        lambda fd: (link_ops.link_create(fd, ifindex, AttachType.XDP, flags=flags), ()),
        hints,
    )


def _attach_netlink(
    program: Program,
    iface: str | int,
    ifindex: int,
    mode: str | None,
    link_hints: Callable[[int], str | None],
) -> Link:
    def hints(code: int) -> str | None:
        if code in (errno.EBUSY, errno.EEXIST):
            held = _held_by_link(ifindex)
            if held is None:
                return (
                    f"{_netlink_holder(ifindex)} is attached there by netlink: replace it"
                    " with update() on the Link that attached it, or remove it"
                    f" (`ip link set dev {iface} xdp off`) and attach again"
                )
        return link_hints(code)

    def make(prog_fd: int) -> XdpHook:
        sock = netlink.Rtnetlink()  # of this namespace: the hook keeps it
        try:
            noexist = netlink.XDP_FLAGS_UPDATE_IF_NOEXIST
            netlink.xdp_set(ifindex, prog_fd, noexist | (_MODES[mode] if mode else 0), sock=sock)
            try:
                found = mode or _mode_of(ifindex, program.id, sock)  # None: the kernel picked
            except BaseException:
                with contextlib.suppress(OSError):
                    netlink.xdp_set(ifindex, -1, expected_fd=prog_fd, sock=sock)
                raise
        except BaseException:
            sock.close()
            raise
        return XdpHook(ifindex, iface, found, sock)

    where = f"XDP of interface '{iface}' (ifindex {ifindex}) by netlink"
    return attach_legacy(program, (ProgType.XDP,), where, make, hints)


def _mode_of(ifindex: int, prog_id: int, sock: netlink.Rtnetlink) -> str:
    state = netlink.xdp_query(ifindex, sock=sock)
    ids = {"native": state.drv_prog_id, "generic": state.skb_prog_id, "offload": state.hw_prog_id}
    for mode, held in ids.items():
        if held == prog_id:
            return mode
    for mode, code in _ATTACHED.items():  # kernels before 4.19 report one id only
        if state.attached == code:
            return mode
    return "native"


class XdpHook(Hook):
    """An XDP program attached over netlink (``IFLA_XDP``) to one interface in one mode.

    Minimum kernel: 4.8 (replace with an expected program and remove-if-ours:
    5.7, ``XDP_FLAGS_REPLACE``; before it, removal checks the id first).
    """

    kind = "xdp"
    types = (ProgType.XDP,)
    no_pin = (
        "the kernel makes no BPF link for XDP attached by netlink, so there is nothing to"
        " pin; the program stays attached until close() or detach(); for an attachment"
        " that outlives this process attach with a BPF link (attach_xdp() without"
        " netlink=True, Linux 5.9) and pin that"
    )
    link_feature = ("XDP BPF links", "5.9")

    def __init__(self, ifindex: int, iface: str | int, mode: str, sock: netlink.Rtnetlink) -> None:
        """The place: ``ifindex`` (named ``iface``), ``mode`` native/generic/offload,
        and ``sock`` (owned from here), a netlink socket of the interface's namespace."""
        self.ifindex = ifindex
        self.iface = iface
        self.mode = mode
        self.sock = sock

    def describe(self) -> str:
        """E.g. ``netlink XDP (generic) of interface 'eth0' (ifindex 2)``."""
        return f"netlink XDP ({self.mode}) of interface '{self.iface}' (ifindex {self.ifindex})"

    def current(self, ours: int) -> int:
        """The program attached in this mode now (0 when none, or the interface is gone)."""
        try:
            state = netlink.xdp_query(self.ifindex, sock=self.sock)
        except OSError as err:
            if err.errno == errno.ENODEV:
                return 0
            raise
        held = {
            "native": state.drv_prog_id,
            "generic": state.skb_prog_id,
            "offload": state.hw_prog_id,
        }[self.mode]
        if not held and state.attached == _ATTACHED[self.mode]:
            held = state.prog_id  # kernels before 4.19 report one id only
        return held

    def info(self, program_id: int) -> LegacyLinkInfo:
        """Interface and mode, with ``program_id``."""
        return LegacyLinkInfo(
            0, LinkType.UNSPEC, program_id, ifindex=self.ifindex, hook=self.kind, mode=self.mode
        )

    def replace(self, new_fd: int, old_fd: int, name: str) -> None:
        """Attach ``new_fd`` in place of ``old_fd`` (``XDP_FLAGS_REPLACE``, 5.7)."""
        netlink.xdp_set(self.ifindex, new_fd, _MODES[self.mode], expected_fd=old_fd, sock=self.sock)

    def remove(self, ours_fd: int) -> None:
        """Detach ``ours_fd`` only if it is still the one attached (5.7; before, as checked)."""
        flag = _MODES[self.mode]
        try:
            netlink.xdp_set(self.ifindex, -1, flag, expected_fd=ours_fd, sock=self.sock)
        except OSError as err:
            if err.errno != errno.EINVAL:  # before 5.7: no XDP_FLAGS_REPLACE
                raise
            netlink.xdp_set(self.ifindex, -1, flag, sock=self.sock)

    def close(self) -> None:
        """Close the netlink socket; idempotent."""
        self.sock.close()
