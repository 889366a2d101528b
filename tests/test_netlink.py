"""``bpfnest._sys.netlink``: XDP and legacy tc over rtnetlink, with real
programs and real UDP traffic between two network namespaces."""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable, Iterator

import pytest

import bpfnest
from bpfnest import AttachType
from bpfnest._sys import link_ops, netlink
from bpfnest._sys.netlink import TC_EGRESS, TC_INGRESS, TcFilter, XdpState

from netns import Veth, closed_and_gone, counter, wait_for

pytestmark = pytest.mark.usefixtures("kernel")

XDP_ATTACHED_NONE, XDP_ATTACHED_DRV, XDP_ATTACHED_SKB = 0, 1, 2
MODES = {
    "generic": (netlink.XDP_FLAGS_SKB_MODE, XDP_ATTACHED_SKB),
    "native": (netlink.XDP_FLAGS_DRV_MODE, XDP_ATTACHED_DRV),
}


@pytest.fixture
def xdp(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("xdp_count")).load() as coll:
        yield coll


@pytest.fixture
def tc(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("tc_count")).load() as coll:
        yield coll


# ------------------------------------------------------------------ XDP


@pytest.mark.parametrize("mode", list(MODES))
def test_xdp_over_netlink_counts_real_packets(
    mode: str, veth: Veth, xdp: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    flags, attached = MODES[mode]
    passing, dropping = xdp.programs["count_pass"], xdp.programs["count_drop"]
    with bpfnest.CollectionSpec.from_file(objs("xdp_pass")).load() as peer_coll:
        if mode == "native":  # veth delivers to native XDP only when the peer has XDP too
            with veth.peer():
                peer_index = socket.if_nametoindex(veth.peer_ifname)
                netlink.xdp_set(peer_index, peer_coll.programs["pass"].fd, flags)
        try:
            netlink.xdp_set(veth.ifindex, passing.fd, flags)
            try:
                state = netlink.xdp_query(veth.ifindex)
                assert (state.attached, state.prog_id) == (attached, passing.id)
                veth.send(15)
                assert wait_for(lambda: counter(xdp, 0) == 15)
                assert veth.received() == 15
                # Replace, naming the program expected to be there.
                netlink.xdp_set(veth.ifindex, dropping.fd, flags, expected_fd=passing.fd)
                assert netlink.xdp_query(veth.ifindex).prog_id == dropping.id
                veth.send(5)
                assert wait_for(lambda: counter(xdp, 1) == 5)
                assert veth.received() == 0
            finally:
                netlink.xdp_set(veth.ifindex, -1, flags)
            assert netlink.xdp_query(veth.ifindex) == XdpState(XDP_ATTACHED_NONE, 0, 0, 0, 0)
            veth.send(4)
            assert veth.received() == 4
        finally:
            if mode == "native":
                with veth.peer():
                    netlink.xdp_set(peer_index, -1, flags)


def test_xdp_netlink_refusals_say_what_and_why(veth: Veth, xdp: bpfnest.Collection) -> None:
    passing, dropping = xdp.programs["count_pass"], xdp.programs["count_drop"]
    skb = netlink.XDP_FLAGS_SKB_MODE
    netlink.xdp_set(veth.ifindex, passing.fd, skb)
    try:
        with pytest.raises(OSError) as caught:  # something is there: do not replace
            netlink.xdp_set(veth.ifindex, dropping.fd, skb | netlink.XDP_FLAGS_UPDATE_IF_NOEXIST)
        assert caught.value.errno == errno.EBUSY
        assert str(caught.value) == (
            "[Errno 16] RTM_SETLINK IFLA_XDP: Device or resource busy"
            " (XDP program already attached)"
        )
        with pytest.raises(OSError) as caught:  # the expected program is not the one there
            netlink.xdp_set(veth.ifindex, passing.fd, skb, expected_fd=dropping.fd)
        assert caught.value.errno == errno.EEXIST
        assert str(caught.value) == (
            "[Errno 17] RTM_SETLINK IFLA_XDP: File exists (Active program does not match expected)"
        )
        with pytest.raises(OSError) as caught:  # a link cannot take a netlink-held hook
            link_ops.link_create(dropping.fd, veth.ifindex, AttachType.XDP)
        assert caught.value.errno == errno.EEXIST
        assert netlink.xdp_query(veth.ifindex).prog_id == passing.id
    finally:
        netlink.xdp_set(veth.ifindex, -1, skb)


def test_netlink_cannot_replace_an_xdp_link(veth: Veth, xdp: bpfnest.Collection) -> None:
    link = link_ops.link_create(xdp.programs["count_pass"].fd, veth.ifindex, AttachType.XDP)
    try:
        state = netlink.xdp_query(veth.ifindex)  # netlink sees link-attached programs too
        assert state.prog_id == xdp.programs["count_pass"].id
        with pytest.raises(OSError) as caught:
            netlink.xdp_set(veth.ifindex, xdp.programs["count_drop"].fd)
        assert caught.value.errno == errno.EBUSY
        assert "(Can't replace active BPF XDP link)" in str(caught.value)
    finally:
        assert closed_and_gone(link)


def test_xdp_query_of_a_missing_interface() -> None:
    with pytest.raises(OSError) as caught:
        netlink.xdp_query(0x7FFFFFF0)
    assert caught.value.errno == errno.ENODEV


# ------------------------------------------------------------------ tc


def test_clsact_and_cls_bpf_ingress_count_and_drop(veth: Veth, tc: bpfnest.Collection) -> None:
    passing, dropping = tc.programs["count_pass"], tc.programs["count_drop"]
    assert "clsact" not in netlink.qdisc_kinds(veth.ifindex)
    with pytest.raises(OSError) as caught:  # no clsact yet: the kernel says why
        netlink.filter_add(veth.ifindex, TC_INGRESS, passing.fd, "count_pass")
    assert caught.value.errno == errno.EINVAL
    assert "(Parent Qdisc doesn't exists)" in str(caught.value)  # sic, the kernel's text
    netlink.clsact_add(veth.ifindex)
    try:
        assert "clsact" in netlink.qdisc_kinds(veth.ifindex)
        with pytest.raises(OSError) as caught:
            netlink.clsact_add(veth.ifindex)
        assert caught.value.errno == errno.EEXIST
        netlink.filter_add(veth.ifindex, TC_INGRESS, passing.fd, "count_pass", priority=3, handle=7)
        assert netlink.filter_list(veth.ifindex, TC_INGRESS) == [
            TcFilter(
                priority=3, handle=7, prog_id=passing.id, name="count_pass", direct_action=True
            )
        ]
        assert netlink.filter_list(veth.ifindex, TC_EGRESS) == []
        veth.send(11)
        assert wait_for(lambda: counter(tc, 0) == 11)
        assert veth.received() == 11
        with pytest.raises(OSError) as caught:  # that priority and handle are taken
            netlink.filter_add(veth.ifindex, TC_INGRESS, dropping.fd, "x", priority=3, handle=7)
        assert caught.value.errno == errno.EEXIST
        netlink.filter_add(
            veth.ifindex, TC_INGRESS, dropping.fd, "count_drop", priority=3, handle=7, replace=True
        )
        (only,) = netlink.filter_list(veth.ifindex, TC_INGRESS)
        assert (only.prog_id, only.name) == (dropping.id, "count_drop")
        veth.send(6)
        assert wait_for(lambda: counter(tc, 1) == 6)
        assert veth.received() == 0
        netlink.filter_del(veth.ifindex, TC_INGRESS, priority=3, handle=7)
        assert netlink.filter_list(veth.ifindex, TC_INGRESS) == []
        with pytest.raises(OSError) as caught:
            netlink.filter_del(veth.ifindex, TC_INGRESS, priority=3, handle=7)
        assert caught.value.errno == errno.ENOENT
        veth.send(3)
        assert veth.received() == 3
    finally:
        netlink.clsact_del(veth.ifindex)
    assert "clsact" not in netlink.qdisc_kinds(veth.ifindex)


def test_cls_bpf_egress_on_the_peer(veth: Veth, tc: bpfnest.Collection) -> None:
    with veth.peer():
        index = socket.if_nametoindex(veth.peer_ifname)
        netlink.clsact_add(index)
    try:
        with veth.peer():
            netlink.filter_add(index, TC_EGRESS, tc.programs["count_drop"].fd, "count_drop")
        veth.send(8)
        assert wait_for(lambda: counter(tc, 1) == 8)
        assert veth.received() == 0
    finally:
        with veth.peer():
            netlink.clsact_del(index)  # takes its filters with it
    veth.send(2)
    assert veth.received() == 2


def test_filter_arguments_are_checked_before_any_message() -> None:
    for kwargs in ({"priority": 0}, {"priority": 0x10000}, {"handle": 0}):
        with pytest.raises(ValueError, match="must be"):
            netlink.filter_add(1, TC_INGRESS, 0, "x", **kwargs)


# ------------------------------------------------------------------ messages


def test_ack_parsing() -> None:
    request = struct.pack("=IHHII", 16, 19, 5, 1, 0)
    ext = netlink.attr(netlink.NLMSGERR_ATTR_MSG, b"Something went wrong\0")
    capped = struct.pack("=i", -errno.EBUSY) + request + ext
    with pytest.raises(OSError) as caught:
        netlink._check_ack("OP", netlink.NLM_F_CAPPED | netlink.NLM_F_ACK_TLVS, capped)
    assert (caught.value.errno, str(caught.value)) == (
        errno.EBUSY,
        "[Errno 16] OP: Device or resource busy (Something went wrong)",
    )
    uncapped = struct.pack("=i", -errno.EINVAL) + struct.pack("=IHHII", 20, 19, 5, 1, 0)
    uncapped += b"\1\2\3\4" + ext
    with pytest.raises(OSError, match=r"OP: Invalid argument \(Something went wrong\)"):
        netlink._check_ack("OP", netlink.NLM_F_ACK_TLVS, uncapped)
    with pytest.raises(OSError, match=r"^\[Errno 1\] OP: Operation not permitted$"):
        netlink._check_ack("OP", 0, struct.pack("=i", -errno.EPERM) + request)
    netlink._check_ack("OP", 0, struct.pack("=i", 0) + request)  # an ack
    with pytest.raises(OSError) as caught:
        netlink.attrs(struct.pack("=HH", 40, 1) + b"abcd")
    assert caught.value.errno == errno.EBADMSG
