"""The few rtnetlink messages that XDP (without links) and legacy tc need.

* XDP over ``IFLA_XDP`` (``RTM_SETLINK``): attach, replace (``IFLA_XDP_EXPECTED_FD``
  with ``XDP_FLAGS_REPLACE``), detach (fd -1); and what is attached
  (``RTM_GETLINK``: mode and program ids).
* tc: the ``clsact`` qdisc (add, delete, list) and ``cls_bpf`` filters in
  direct-action mode on its ingress or egress hook (add with ``TCA_BPF_FD``,
  ``TCA_BPF_NAME``, ``TCA_BPF_FLAGS``, priority and handle; replace; delete;
  list with the program id of each), and the kind, priority and handle of
  every filter of any classifier (to know whether a hook is empty).

Why a private module and not a library (pyroute2): this is about 300 lines
covering five message types, written from ``include/uapi/linux/rtnetlink.h``
with libbpf's ``src/netlink.c`` and aya's ``sys/netlink.rs`` as anchors;
pyroute2 would be a large run-time dependency (and one of the most-imported
modules in the process) for that, and its errors would need translating
anyway. As every ``_sys`` module: plain values in, plain :class:`OSError`
with the kernel's errno out, now with the kernel's extended ack message
(``NLMSGERR_ATTR_MSG``) in the text when it sends one.

Each call opens one ``AF_NETLINK`` socket, owned by a :class:`Rtnetlink`
(closed on every path), numbers its requests, and reads replies until the
kernel's ack (or ``NLMSG_DONE`` for a dump), checking sequence and port.
A socket talks to the network namespace of the thread that made it: each
call takes ``sock=``, an open :class:`Rtnetlink` of the caller's, so that an
attachment made in one namespace is read and removed there later, whatever
namespace the thread is in by then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "TC_EGRESS",
    "TC_INGRESS",
    "XDP_FLAGS_DRV_MODE",
    "XDP_FLAGS_HW_MODE",
    "XDP_FLAGS_REPLACE",
    "XDP_FLAGS_SKB_MODE",
    "XDP_FLAGS_UPDATE_IF_NOEXIST",
    "Rtnetlink",
    "TcFilter",
    "XdpState",
    "clsact_add",
    "clsact_del",
    "filter_add",
    "filter_del",
    "filter_kinds",
    "filter_list",
    "qdisc_kinds",
    "xdp_query",
    "xdp_set",
]

# <linux/netlink.h>
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # in an NLMSG_ERROR
NLA_F_NESTED = 1 << 15
NLA_TYPE_MASK = ~((1 << 15) | (1 << 14)) & 0xFFFF
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
# <linux/rtnetlink.h>
RTM_NEWLINK, RTM_GETLINK, RTM_SETLINK = 16, 18, 19
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
TCA_KIND, TCA_OPTIONS = 1, 2
# <linux/if_link.h>
IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_ATTACHED, IFLA_XDP_FLAGS, IFLA_XDP_PROG_ID = 1, 2, 3, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 5, 6, 7
IFLA_XDP_EXPECTED_FD = 8
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
# <linux/pkt_sched.h>, <linux/pkt_cls.h>
TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS, TC_H_MIN_EGRESS = 0xFFF2, 0xFFF3
CLSACT_HANDLE = 0xFFFF0000  # TC_H_MAKE(TC_H_CLSACT, 0)
#: The parent of a filter on the clsact ingress / egress hook.
TC_INGRESS = 0xFFFF0000 | TC_H_MIN_INGRESS
TC_EGRESS = 0xFFFF0000 | TC_H_MIN_EGRESS
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS, TCA_BPF_ID = 6, 7, 8, 11
TCA_BPF_FLAG_ACT_DIRECT = 1
ETH_P_ALL = 0x0003

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
_NLATTR = struct.Struct("=HH")
_RECV_SIZE = 1 << 16


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, data: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = _NLATTR.pack(_NLATTR.size + len(data), kind) + data
    return raw + b"\0" * (_align(len(raw)) - len(raw))


def nested(kind: int, *attrs: bytes) -> bytes:
    """A nested attribute holding ``attrs``."""
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def attrs(data: bytes) -> dict[int, bytes]:
    """The attributes in ``data`` by type (the last of a repeated type wins).

    Raises:
        OSError: ``EBADMSG`` when an attribute runs past the data.
    """
    out: dict[int, bytes] = {}
    pos = 0
    while pos + _NLATTR.size <= len(data):
        length, kind = _NLATTR.unpack_from(data, pos)
        if length < _NLATTR.size or pos + length > len(data):
            raise OSError(errno.EBADMSG, "rtnetlink: malformed attribute")
        out[kind & NLA_TYPE_MASK] = data[pos + _NLATTR.size : pos + length]
        pos += _align(length)
    return out


def _u32(data: bytes | None) -> int:
    return struct.unpack("=I", data[:4])[0] if data and len(data) >= 4 else 0


def _cstr(data: bytes | None) -> str:
    return data.split(b"\0", 1)[0].decode(errors="replace") if data else ""


class Rtnetlink:
    """One ``NETLINK_ROUTE`` socket (in the calling thread's network namespace);
    owns it: :meth:`close` (or ``with``) closes it.

    Raises:
        OSError: from socket(2) or bind(2).
    """

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        try:
            # Ask for the kernel's error text (4.12); older kernels ignore it.
            with contextlib.suppress(OSError):
                self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self._sock.bind((0, 0))
            self._port = int(self._sock.getsockname()[0])
        except BaseException:
            self._sock.close()
            raise
        self._seq = int.from_bytes(os.urandom(2), "little")
        self._lock = threading.Lock()  # one request at a time on a shared socket

    def close(self) -> None:
        """Close the socket; idempotent."""
        self._sock.close()

    def __enter__(self) -> Rtnetlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, what: str, msg_type: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request; return the ``(type, body)`` of each reply before the
        ack (or ``NLMSG_DONE`` for a dump).

        Raises:
            OSError: with the kernel's errno and ``"<what>: <strerror>[ (<ext ack>)]"``.
        """
        with self._lock:
            return self._request(what, msg_type, flags, body)

    def _request(
        self, what: str, msg_type: int, flags: int, body: bytes
    ) -> list[tuple[int, bytes]]:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, seq, 0)
        self._sock.sendto(header + body, (0, 0))
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(_RECV_SIZE)
            for mtype, mflags, mseq, mpid, body_ in _messages(data):
                if mseq != seq or mpid not in (self._port, 0):
                    continue  # a late reply to an earlier request, or not ours
                if mtype == NLMSG_DONE:
                    # A dump that failed part-way says so here (an int errno).
                    if len(body_) >= 4 and struct.unpack_from("=i", body_)[0] < 0:
                        _check_ack(what, mflags, body_)
                    return replies
                if mtype == NLMSG_ERROR:
                    _check_ack(what, mflags, body_)
                    return replies
                replies.append((mtype, body_))
                if not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return replies


@contextlib.contextmanager
def _socket(sock: Rtnetlink | None) -> Iterator[Rtnetlink]:
    """``sock`` (the caller's), or a new socket closed at the end of the block."""
    if sock is not None:
        yield sock
        return
    with Rtnetlink() as own:
        yield own


def _messages(data: bytes) -> Iterator[tuple[int, int, int, int, bytes]]:
    """(type, flags, seq, port id, body) of each message in one datagram."""
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, mtype, mflags, seq, pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            raise OSError(errno.EBADMSG, "rtnetlink: malformed message")
        yield mtype, mflags, seq, pid, data[pos + _NLMSGHDR.size : pos + length]
        pos += _align(length)


def _check_ack(what: str, flags: int, body: bytes) -> None:
    """Raise for an ``NLMSG_ERROR`` with a non-zero error; return for an ack."""
    (error,) = struct.unpack_from("=i", body)
    if error == 0:
        return
    code = -error
    text = os.strerror(code)
    if flags & NLM_F_ACK_TLVS:
        # struct nlmsgerr: the error, the request's header, its body unless
        # capped, then the attributes.
        inner_len = _NLMSGHDR.unpack_from(body, 4)[0] if len(body) >= 4 + _NLMSGHDR.size else 0
        skip = 4 + (_NLMSGHDR.size if flags & NLM_F_CAPPED else inner_len)
        message = _cstr(attrs(body[_align(skip) :]).get(NLMSGERR_ATTR_MSG))
        if message:
            text = f"{text} ({message})"
    raise OSError(code, f"{what}: {text}")


# ---------------------------------------------------------------- XDP


@dataclass(frozen=True)
class XdpState:
    """What ``IFLA_XDP`` says is attached to an interface.

    ``attached`` is ``XDP_ATTACHED_*``: 0 none, 1 native (driver), 2 generic
    (skb), 3 offloaded, 4 several modes at once.
    """

    attached: int
    prog_id: int  # the program when one mode is attached, else 0
    drv_prog_id: int
    skb_prog_id: int
    hw_prog_id: int


def xdp_set(
    ifindex: int,
    prog_fd: int,
    flags: int = 0,
    *,
    expected_fd: int | None = None,
    sock: Rtnetlink | None = None,
) -> None:
    """Attach XDP program ``prog_fd`` to ``ifindex`` over netlink (4.8); ``prog_fd``
    -1 detaches (with the mode flag of the attached program). ``flags`` are
    ``XDP_FLAGS_*``: a mode, ``UPDATE_IF_NOEXIST`` to refuse replacing;
    ``expected_fd`` replaces only that program (5.7, adds ``XDP_FLAGS_REPLACE``).
    Nothing owns the attachment: it stays until detached or the device goes.

    Raises:
        OSError: with the kernel's errno and ext ack text (``EBUSY`` when a
            program is there and UPDATE_IF_NOEXIST is set, or an XDP link holds
            the device; ``EEXIST`` when the expected program is not the one).
    """
    parts = [attr(IFLA_XDP_FD, struct.pack("=i", prog_fd))]
    if expected_fd is not None:
        flags |= XDP_FLAGS_REPLACE
        parts.append(attr(IFLA_XDP_EXPECTED_FD, struct.pack("=i", expected_fd)))
    if flags:
        parts.append(attr(IFLA_XDP_FLAGS, struct.pack("=I", flags)))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0) + nested(IFLA_XDP, *parts)
    with _socket(sock) as nl:
        nl.request("RTM_SETLINK IFLA_XDP", RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, body)


def xdp_query(ifindex: int, *, sock: Rtnetlink | None = None) -> XdpState:
    """What XDP program ``ifindex`` runs, by netlink (any XDP, link or not).

    Raises:
        OSError: ``ENODEV`` when there is no such interface.
    """
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0)
    with _socket(sock) as nl:
        replies = nl.request("RTM_GETLINK", RTM_GETLINK, NLM_F_REQUEST, body)
    for mtype, reply in replies:
        if mtype != RTM_NEWLINK or len(reply) < _IFINFOMSG.size:
            continue
        if _IFINFOMSG.unpack_from(reply)[2] != ifindex:
            continue
        xdp = attrs(attrs(reply[_IFINFOMSG.size :]).get(IFLA_XDP, b""))
        attached = xdp.get(IFLA_XDP_ATTACHED, b"\0")[0]
        return XdpState(
            attached=attached,
            prog_id=_u32(xdp.get(IFLA_XDP_PROG_ID)),
            drv_prog_id=_u32(xdp.get(IFLA_XDP_DRV_PROG_ID)),
            skb_prog_id=_u32(xdp.get(IFLA_XDP_SKB_PROG_ID)),
            hw_prog_id=_u32(xdp.get(IFLA_XDP_HW_PROG_ID)),
        )
    raise OSError(errno.ENODEV, f"RTM_GETLINK: no interface with index {ifindex}")


# ---------------------------------------------------------------- tc


def clsact_add(ifindex: int, *, sock: Rtnetlink | None = None) -> None:
    """Add the ``clsact`` qdisc to ``ifindex`` (4.5).

    Raises:
        OSError: ``EEXIST`` when it is already there; the kernel's errno otherwise.
    """
    _qdisc(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, "RTM_NEWQDISC clsact", sock)


def clsact_del(ifindex: int, *, sock: Rtnetlink | None = None) -> None:
    """Delete the ``clsact`` qdisc of ``ifindex`` (and every filter on it).

    Raises:
        OSError: ``ENOENT``/``EINVAL`` when there is none; the kernel's errno otherwise.
    """
    _qdisc(RTM_DELQDISC, 0, ifindex, "RTM_DELQDISC clsact", sock)


def _qdisc(msg_type: int, flags: int, ifindex: int, what: str, sock: Rtnetlink | None) -> None:
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0)
    body += attr(TCA_KIND, b"clsact\0")
    with _socket(sock) as nl:
        nl.request(what, msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, body)


def qdisc_kinds(ifindex: int, *, sock: Rtnetlink | None = None) -> list[str]:
    """The kinds of the qdiscs on ``ifindex`` (e.g. ``["noqueue", "clsact"]``).

    Raises:
        OSError: with the kernel's errno.
    """
    body = _TCMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    with _socket(sock) as nl:
        replies = nl.request("RTM_GETQDISC", RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, body)
    kinds = []
    for mtype, reply in replies:
        if mtype == RTM_NEWQDISC and _TCMSG.unpack_from(reply)[1] == ifindex:
            kinds.append(_cstr(attrs(reply[_TCMSG.size :]).get(TCA_KIND)))
    return kinds


@dataclass(frozen=True)
class TcFilter:
    """One ``cls_bpf`` filter on a clsact hook."""

    priority: int
    handle: int
    prog_id: int
    name: str
    direct_action: bool


def _filter_info(priority: int) -> int:
    # tcm_info = TC_H_MAKE(priority << 16, htons(protocol))
    return (priority << 16) | socket.htons(ETH_P_ALL)


def filter_add(
    ifindex: int,
    parent: int,
    prog_fd: int,
    name: str,
    *,
    priority: int = 1,
    handle: int = 1,
    replace: bool = False,
    sock: Rtnetlink | None = None,
) -> None:
    """Add a ``cls_bpf`` filter running ``prog_fd`` in direct-action mode on
    ``parent`` (:data:`TC_INGRESS` or :data:`TC_EGRESS`) of ``ifindex``'s clsact
    qdisc (4.5). ``replace`` swaps the program of an existing filter of that
    priority and handle. Nothing owns the filter: it stays until deleted or the
    qdisc goes.

    Raises:
        ValueError: ``priority`` outside 1..65535 or ``handle`` outside 1..2**32-1.
        OSError: ``EEXIST`` when that priority/handle is taken (without
            ``replace``); ``EINVAL`` (with ext ack text) when there is no clsact
            qdisc; the kernel's errno otherwise.
    """
    if not 1 <= priority <= 0xFFFF:
        raise ValueError(f"tc filter priority must be 1..65535, got {priority}")
    if not 1 <= handle <= 0xFFFFFFFF:
        raise ValueError(f"tc filter handle must be 1..4294967295, got {handle}")
    options = nested(
        TCA_OPTIONS,
        attr(TCA_BPF_FD, struct.pack("=I", prog_fd)),
        attr(TCA_BPF_NAME, name.encode()[:255] + b"\0"),
        attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT)),
    )
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, parent, _filter_info(priority))
    body += attr(TCA_KIND, b"bpf\0") + options
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    with _socket(sock) as nl:
        nl.request("RTM_NEWTFILTER bpf", RTM_NEWTFILTER, flags, body)


def filter_del(
    ifindex: int, parent: int, *, priority: int, handle: int, sock: Rtnetlink | None = None
) -> None:
    """Delete the ``cls_bpf`` filter of ``priority``/``handle`` on ``parent``.

    Raises:
        OSError: ``ENOENT`` when there is no such filter; the kernel's errno otherwise.
    """
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, parent, _filter_info(priority))
    body += attr(TCA_KIND, b"bpf\0")
    with _socket(sock) as nl:
        nl.request("RTM_DELTFILTER bpf", RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, body)


def filter_list(ifindex: int, parent: int, *, sock: Rtnetlink | None = None) -> list[TcFilter]:
    """The ``cls_bpf`` filters on ``parent`` of ``ifindex``, in the kernel's order.

    Raises:
        OSError: ``EINVAL`` when there is no clsact qdisc; the kernel's errno otherwise.
    """
    found = []
    for kind, priority, handle, top in _filter_dump(ifindex, parent, sock):
        if kind != "bpf":
            continue
        options = attrs(top.get(TCA_OPTIONS, b""))
        found.append(
            TcFilter(
                priority=priority,
                handle=handle,
                prog_id=_u32(options.get(TCA_BPF_ID)),
                name=_cstr(options.get(TCA_BPF_NAME)),
                direct_action=bool(_u32(options.get(TCA_BPF_FLAGS)) & TCA_BPF_FLAG_ACT_DIRECT),
            )
        )
    return found


def filter_kinds(
    ifindex: int, parent: int, *, sock: Rtnetlink | None = None
) -> list[tuple[str, int, int]]:
    """``(classifier kind, priority, handle)`` of every filter on ``parent`` of
    ``ifindex``, of any classifier (``bpf``, ``u32``, ``flower``, ...).

    Raises:
        OSError: ``EINVAL`` when there is no clsact qdisc; the kernel's errno otherwise.
    """
    return [
        (kind, priority, handle)
        for kind, priority, handle, _ in _filter_dump(ifindex, parent, sock)
    ]


def _filter_dump(
    ifindex: int, parent: int, sock: Rtnetlink | None
) -> list[tuple[str, int, int, dict[int, bytes]]]:
    """(kind, priority, handle, attributes) of each filter on ``parent`` (all chains)."""
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, 0, parent, 0)
    with _socket(sock) as nl:
        replies = nl.request("RTM_GETTFILTER", RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, body)
    found = []
    for mtype, reply in replies:
        if mtype != RTM_NEWTFILTER or len(reply) < _TCMSG.size:
            continue
        _, index, handle, _, info = _TCMSG.unpack_from(reply)
        if index != ifindex or handle == 0:
            continue  # handle 0: the classifier itself, not one of its filters
        top = attrs(reply[_TCMSG.size :])
        found.append((_cstr(top.get(TCA_KIND)), info >> 16, handle, top))
    return found
