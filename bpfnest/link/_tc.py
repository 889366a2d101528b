"""tc programs the way before tcx (6.6): a ``cls_bpf`` filter in direct-action
mode on the ``clsact`` qdisc (4.5), over rtnetlink, as a
:class:`~bpfnest.link._legacy.LegacyLink` holding a :class:`TcHook`.

The qdisc is made when absent and the hook remembers it; closing removes the
filter, and the qdisc only when it was made here and no filter (of any
classifier, on either direction) is left on it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .._sys import netlink
from ..constants import LinkType, ProgType
from ._legacy import Hook, LegacyLink, LegacyLinkInfo, attach_legacy
from ._xdp import ifindex_of

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["TcHook", "attach_tc"]

_PARENTS = {"ingress": netlink.TC_INGRESS, "egress": netlink.TC_EGRESS}
_HANDLE = 1
_TYPES = (ProgType.SCHED_CLS,)


def attach_tc(
    program: Program, iface: str | int, direction: str, *, priority: int = 1
) -> LegacyLink:
    """Attach a SCHED_CLS ``program`` as a cls_bpf filter; see ``Program.attach_tc``."""
    parent = _PARENTS.get(direction) if isinstance(direction, str) else None
    if parent is None:
        raise ValueError(f"attach_tc: direction must be 'ingress' or 'egress', got {direction!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"attach_tc: priority must be an int, got {type(priority).__name__}")
    if not 1 <= priority <= 0xFFFF:
        raise ValueError(f"attach_tc: priority must be 1..65535, got {priority}")
    ifindex = ifindex_of(iface, "attach_tc")
    where = f"tc {direction} of interface '{iface}' (ifindex {ifindex})"

    def taken(code: int) -> str | None:
        if code == errno.EEXIST:
            return _taken_hint(ifindex, iface, direction, parent, priority)
        if code == errno.EINVAL:
            return "cls_bpf refused the program (tc needs a SCHED_CLS program)"
        return None

    def make(prog_fd: int) -> TcHook:
        sock = netlink.Rtnetlink()  # of this namespace: the hook keeps it
        try:
            created = _ensure_clsact(ifindex, iface, sock)
            hook = TcHook(ifindex, iface, direction, priority, created, sock)
            try:
                held = netlink.filter_kinds(ifindex, parent, sock=sock)
                if any(prio == priority for _, prio, _ in held):
                    hint = _taken_hint(ifindex, iface, direction, parent, priority)
                    raise OSError(errno.EEXIST, hint)
                netlink.filter_add(
                    ifindex, parent, prog_fd, program.name, priority=priority, handle=_HANDLE,
                    sock=sock,
                )  # fmt: skip
            except BaseException:
                hook.tidy()  # the qdisc, when made here and empty
                raise
        except BaseException:
            sock.close()
            raise
        return hook

    return attach_legacy(program, _TYPES, where, make, taken)


def _ensure_clsact(ifindex: int, iface: str | int, sock: netlink.Rtnetlink) -> bool:
    """Add the clsact qdisc unless it is there; True when it was made here."""
    try:
        netlink.clsact_add(ifindex, sock=sock)
    except OSError as err:
        if err.errno != errno.EEXIST:
            raise
        if "clsact" not in netlink.qdisc_kinds(ifindex, sock=sock):
            raise OSError(
                errno.EEXIST,
                f"another qdisc holds the place clsact needs (an 'ingress' qdisc?):"
                f" remove it (`tc qdisc del dev {iface} ingress`) or use it with tc(8)",
            ) from None
        return False
    return True


def _taken_hint(ifindex: int, iface: str | int, direction: str, parent: int, priority: int) -> str:
    held = ""
    try:
        for kind, prio, _ in netlink.filter_kinds(ifindex, parent):
            if prio == priority:
                held = f"a {kind} filter"
                break
        for each in netlink.filter_list(ifindex, parent):
            if each.priority == priority:
                held = f"a bpf filter running program {each.prog_id}"
                break
    except OSError:
        pass
    return (
        f"{held or 'a filter'} is at priority {priority} of {direction} already: pass another"
        f" priority=, or remove it (`tc filter del dev {iface} {direction} pref {priority}`)"
    )


class TcHook(Hook):
    """One cls_bpf filter (direct action, handle 1) at one priority of a clsact hook.

    Minimum kernel: 4.5 (clsact, direct action).
    """

    kind = "tc"
    types = _TYPES
    no_pin = (
        "a tc filter is no BPF link, so there is nothing to pin; the filter stays until"
        " close() or detach(); for an attachment that can be pinned use a tcx link"
        " (attach_tcx(), Linux 6.6)"
    )
    link_feature = ("tcx links", "6.6")

    def __init__(
        self,
        ifindex: int,
        iface: str | int,
        direction: str,
        priority: int,
        created: bool,
        sock: netlink.Rtnetlink,
    ) -> None:
        """The place; ``created``: the clsact qdisc was made for it; ``sock`` (owned
        from here): a netlink socket of the interface's namespace."""
        self.sock = sock
        self.ifindex = ifindex
        self.iface = iface
        self.direction = direction
        self.parent = _PARENTS[direction]
        self.priority = priority
        self.created = created

    def describe(self) -> str:
        """E.g. ``tc ingress of interface 'eth0' (ifindex 2) priority 1``."""
        return (
            f"tc {self.direction} of interface '{self.iface}' (ifindex {self.ifindex})"
            f" priority {self.priority}"
        )

    def current(self, ours: int) -> int:
        """The program of the filter at this priority and handle (0: none, or no qdisc)."""
        try:
            filters = netlink.filter_list(self.ifindex, self.parent, sock=self.sock)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENODEV, errno.ENOENT):
                return 0  # the qdisc or the interface is gone
            raise
        for each in filters:
            if (each.priority, each.handle) == (self.priority, _HANDLE):
                return each.prog_id
        return 0

    def info(self, program_id: int) -> LegacyLinkInfo:
        """Interface, direction, priority and handle, with ``program_id``."""
        return LegacyLinkInfo(
            0,
            LinkType.UNSPEC,
            program_id,
            ifindex=self.ifindex,
            hook=self.kind,
            direction=self.direction,
            priority=self.priority,
            handle=_HANDLE,
        )

    def replace(self, new_fd: int, old_fd: int, name: str) -> None:
        """Replace the filter's program (same priority and handle)."""
        netlink.filter_add(
            self.ifindex,
            self.parent,
            new_fd,
            name,
            priority=self.priority,
            handle=_HANDLE,
            replace=True,
            sock=self.sock,
        )

    def remove(self, ours_fd: int) -> None:
        """Delete the filter."""
        netlink.filter_del(
            self.ifindex, self.parent, priority=self.priority, handle=_HANDLE, sock=self.sock
        )

    def tidy(self) -> None:
        """Delete the clsact qdisc if it was made here and no filter is left on it."""
        if not self.created:
            return
        try:
            for parent in _PARENTS.values():
                if netlink.filter_kinds(self.ifindex, parent, sock=self.sock):
                    return  # someone's filter: the qdisc stays (and is theirs now)
            netlink.clsact_del(self.ifindex, sock=self.sock)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENODEV, errno.ENOENT):
                raise
        self.created = False

    def close(self) -> None:
        """Close the netlink socket; idempotent."""
        self.sock.close()
