"""Attachments the kernel makes no BPF link for, as Links (issue 14 items 2-5, 8).

Netlink XDP and legacy tc run on the veth pair of tests/netns.py with real UDP
sent from the peer namespace; cgroup BPF_PROG_ATTACH counts packets of a
process moved into a fresh child cgroup; the perf-event ioctl path counts this
process's getpgid calls. What the kernel has attached is checked with the
kernel's own answers (netlink, the tc filter dump, BPF_PROG_QUERY) and with
iproute2 where a user would look (`ip link`, `tc qdisc`).

This kernel (6.18) has every BPF link, so the fallbacks that a kernel
chooses by itself (perf-event ioctl before 5.15, XDP over netlink before 5.9,
PROG_ATTACH before 5.7) are driven here through the same switch the library
uses: ``bpfnest.features.link_support``, the cached answer of the probe.
A test sets it (monkeypatch restores it); every kernel call stays real.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import test_sys_links
from test_perf import tracefs  # noqa: F401  (mounts tracefs when it is not)

import bpfnest
from bpfnest import AttachType, BPFError, LinkType, NotSupportedError, features
from bpfnest._sys import link_ops, netlink
from bpfnest.link import LegacyLink, LegacyLinkInfo

from netns import Cgroup, Veth, counter, ip, ip_command, trace_counts, wait_for
from netns import link_ids as all_link_ids
from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

xdp, tc = test_sys_links.xdp, test_sys_links.tc
send_udp = test_sys_links.send_udp


@pytest.fixture
def trace(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with trace_counts(objs) as coll:
        yield coll


@pytest.fixture
def cgroup_progs(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        yield coll


def xdp_shown(ns: str, ifname: str) -> bool:
    """Whether `ip link show` (in namespace ``ns``) shows an XDP program on ``ifname``."""
    return "prog/xdp" in ip("-n", ns, "link", "show", "dev", ifname)


def tc_tool(ns: str, *args: str) -> str:
    """`tc ARGS` run inside namespace ``ns`` (iproute2's tc, beside ip)."""
    tool = shutil.which("tc", path=os.path.dirname(ip_command() or "/usr/sbin/ip"))
    if tool is None:
        skip_or_fail("iproute2's tc is not installed (apt-get install iproute2)")
    return ip("netns", "exec", ns, tool, *args)


def qdiscs(ns: str, ifname: str) -> str:
    return tc_tool(ns, "qdisc", "show", "dev", ifname)


def links_running(program: bpfnest.Program) -> set[int]:
    """The ids of the BPF links (of any process) that run ``program``."""
    found = set()
    for lid in all_link_ids():
        try:
            with bpfnest.Link.from_id(lid) as link:
                if link.program_id == program.id:
                    found.add(lid)
        except OSError:
            continue  # gone meanwhile
    return found


def cgroup_programs(cgroup: Cgroup, attach_type: AttachType) -> list[int]:
    """The programs attached to ``cgroup`` as ``attach_type`` (BPF_PROG_QUERY)."""
    fd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return link_ops.prog_query(fd, attach_type)
    finally:
        os.close(fd)


def test_the_probes_find_every_link_on_this_kernel() -> None:
    """6.18 has XDP (5.9), cgroup (5.7), perf-event (5.15) and tcx (6.6) links: a probe
    answering otherwise here is wrong (it would send users down the old paths)."""
    saved = dict(features.link_support)
    features.link_support.clear()
    try:
        assert {kind: features.has_links(kind) for kind in features.LINK_KINDS} == {
            "xdp": True,
            "cgroup": True,
            "perf_event": True,
            "tcx": True,
        }
    finally:
        features.link_support.clear()
        features.link_support.update(saved)
    with pytest.raises(KeyError):
        features.has_links("teleport")


# ------------------------------------------------------------------ netlink XDP


@pytest.mark.parametrize("mode", ["generic", "native"])
def test_netlink_xdp_counts_refuses_a_second_updates_detaches(
    mode: str, veth: Veth, xdp: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    passing, dropping = xdp.programs["count_pass"], xdp.programs["count_drop"]
    with bpfnest.CollectionSpec.from_file(objs("xdp_pass")).load() as peer_coll:
        peer = None
        if mode == "native":  # veth runs native XDP only when the peer has a program too
            with veth.peer():
                peer = peer_coll.programs["pass"].attach_xdp(veth.peer_ifname, netlink=True)
        try:
            link = passing.attach_xdp(veth.ifname, mode=mode, netlink=True)
            with link:
                assert isinstance(link, LegacyLink)
                assert (link.id, link.type, link.hook, link.program_id) == (
                    0, LinkType.UNSPEC, "xdp", passing.id,
                )  # fmt: skip
                assert link.info() == LegacyLinkInfo(
                    0, LinkType.UNSPEC, passing.id, ifindex=veth.ifindex, hook="xdp", mode=mode
                )
                state = netlink.xdp_query(veth.ifindex)
                assert (state.drv_prog_id if mode == "native" else state.skb_prog_id) == passing.id
                assert xdp_shown(veth.host_ns, veth.ifname)
                veth.send(20)
                assert wait_for(lambda: counter(xdp, 0) == 20), counter(xdp, 0)
                assert veth.received() == 20

                with pytest.raises(BPFError) as caught:  # never replaces silently
                    dropping.attach_xdp(veth.ifname, mode=mode, netlink=True)
                assert caught.value.errno == errno.EBUSY
                assert str(caught.value) == (
                    f"attach program 'count_drop' to XDP of interface '{veth.ifname}'"
                    f" (ifindex {veth.ifindex}) by netlink: Device or resource busy (program"
                    f" {passing.id} is attached there by netlink: replace it with update() on"
                    " the Link that attached it, or remove it (`ip link set dev"
                    f" {veth.ifname} xdp off`) and attach again)"
                )
                with pytest.raises(BPFError) as caught:  # the old program named is not there
                    link.update(passing, old=dropping)
                assert caught.value.errno == errno.EPERM

                link.update(dropping, old=passing)  # live: later packets are dropped
                assert link.program_id == dropping.id
                veth.send(10)
                assert wait_for(lambda: counter(xdp, 1) == 10), counter(xdp, 1)
                assert veth.received() == 0

                link.detach()
                assert link.info().program_id == 0
                assert not xdp_shown(veth.host_ns, veth.ifname)
                veth.send(4)
                assert veth.received() == 4
                assert counter(xdp, 1) == 10
                with pytest.raises(BPFError) as caught:
                    link.update(passing)
                assert caught.value.errno == errno.ENOLINK
                link.detach()  # nothing of ours is there: nothing to do
            assert link.closed
            link.close()  # idempotent
        finally:
            if peer is not None:
                peer.close()
    with veth.peer():
        assert netlink.xdp_query(socket.if_nametoindex(veth.peer_ifname)).attached == 0


def test_netlink_xdp_close_removes_it(veth: Veth, xdp: bpfnest.Collection) -> None:
    with xdp.programs["count_drop"].attach_xdp(veth.ifindex, netlink=True) as link:
        assert link.info().mode in ("native", "generic")  # the kernel picked; we learnt which
        veth.send(3)
        assert veth.received() == 0
    assert not xdp_shown(veth.host_ns, veth.ifname)
    assert netlink.xdp_query(veth.ifindex).attached == 0
    veth.send(3)
    assert veth.received() == 3


def test_netlink_xdp_taken_over_is_left_to_its_new_owner(
    veth: Veth, xdp: bpfnest.Collection
) -> None:
    """Someone replaces our program (as `ip link set xdp` would): close leaves theirs."""
    ours, theirs = xdp.programs["count_pass"], xdp.programs["count_drop"]
    link = ours.attach_xdp(veth.ifname, mode="generic", netlink=True)
    try:
        netlink.xdp_set(veth.ifindex, theirs.fd, netlink.XDP_FLAGS_SKB_MODE)
        assert link.program_id == theirs.id
        with pytest.raises(BPFError) as caught:
            link.update(ours)
        assert caught.value.errno == errno.EBUSY
        assert str(caught.value).endswith(
            f"(program {theirs.id} holds the hook now, not program {ours.id})"
        )
        link.close()
        assert netlink.xdp_query(veth.ifindex).skb_prog_id == theirs.id
        veth.send(2)
        assert veth.received() == 0
    finally:
        link.close()
        netlink.xdp_set(veth.ifindex, -1, netlink.XDP_FLAGS_SKB_MODE)


def test_attach_xdp_uses_netlink_where_the_kernel_has_no_xdp_links(
    veth: Veth, xdp: bpfnest.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(features.link_support, "xdp", False)  # as on a kernel before 5.9
    with xdp.programs["count_pass"].attach_xdp(veth.ifname, mode="generic") as link:
        assert (type(link), link.type, link.id) == (LegacyLink, LinkType.UNSPEC, 0)
        assert links_running(xdp.programs["count_pass"]) == set()  # no BPF link was made
        veth.send(5)
        assert wait_for(lambda: counter(xdp, 0) == 5)
    assert netlink.xdp_query(veth.ifindex).attached == 0


def test_a_link_attach_names_a_netlink_program_and_netlink_names_a_link(
    veth: Veth, xdp: bpfnest.Collection
) -> None:
    with xdp.programs["count_pass"].attach_xdp(veth.ifname, mode="generic") as first:
        with pytest.raises(BPFError) as caught:
            xdp.programs["count_drop"].attach_xdp(veth.ifname, mode="generic", netlink=True)
        assert caught.value.errno == errno.EBUSY
        assert str(caught.value).endswith(
            f"(program {xdp.programs['count_pass'].id} is attached there by link {first.id}:"
            f" update() that link (Link.from_id({first.id})), or close it and unpin it)"
        ), str(caught.value)


# ------------------------------------------------------------------ tc


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_tc_counts_drops_and_removes_its_qdisc(
    direction: str, veth: Veth, tc: bpfnest.Collection
) -> None:
    """Ingress on veth0 (host side), egress on veth1 (the peer, where the packets leave)."""
    passing, dropping = tc.programs["count_pass"], tc.programs["count_drop"]
    side_ns, side_if = (
        (veth.host_ns, veth.ifname) if direction == "ingress" else (veth.peer_ns, veth.peer_ifname)
    )
    assert "clsact" not in qdiscs(side_ns, side_if)
    if direction == "ingress":
        link = passing.attach_tc(veth.ifname, direction, priority=7)
    else:
        with veth.peer():
            link = passing.attach_tc(veth.peer_ifname, direction, priority=7)
    try:
        assert "clsact" in qdiscs(side_ns, side_if)
        shown = tc_tool(side_ns, "filter", "show", "dev", side_if, direction)
        assert "pref 7 bpf" in shown and "direct-action" in shown, shown
        info = link.info()
        assert (info.type, info.hook, info.direction, info.priority, info.handle) == (
            LinkType.UNSPEC, "tc", direction, 7, 1,
        )  # fmt: skip
        assert info.program_id == passing.id
        veth.send(12)
        assert wait_for(lambda: counter(tc, 0) == 12), counter(tc, 0)
        assert veth.received() == 12
        # Back in the host namespace: the link reads, swaps and removes its filter
        # through the netlink socket of the namespace it attached in.
        link.update(dropping)
        veth.send(7)
        assert wait_for(lambda: counter(tc, 1) == 7), counter(tc, 1)
        assert veth.received() == 0
    finally:
        link.close()
    assert "clsact" not in qdiscs(side_ns, side_if)  # we made it, nothing is left on it
    veth.send(3)
    assert veth.received() == 3


def test_tc_keeps_a_clsact_that_was_there_and_refuses_a_taken_priority(
    veth: Veth, tc: bpfnest.Collection
) -> None:
    netlink.clsact_add(veth.ifindex)
    try:
        passing, dropping = tc.programs["count_pass"], tc.programs["count_drop"]
        with passing.attach_tc(veth.ifname, "ingress") as link:
            with pytest.raises(BPFError) as caught:
                dropping.attach_tc(veth.ifname, "ingress", priority=1)
            assert caught.value.errno == errno.EEXIST
            assert str(caught.value) == (
                f"attach program 'count_drop' to tc ingress of interface '{veth.ifname}'"
                f" (ifindex {veth.ifindex}): File exists (a bpf filter running program"
                f" {passing.id} is at priority 1 of ingress already: pass another priority=,"
                f" or remove it (`tc filter del dev {veth.ifname} ingress pref 1`))"
            )
            with dropping.attach_tc(veth.ifname, "ingress", priority=2) as second:
                assert second.info().priority == 2
                veth.send(4)  # priority 1 runs first; its TC_ACT_OK ends classification
                assert wait_for(lambda: counter(tc, 0) == 4)
                assert veth.received() == 4
                link.detach()  # now priority 2 sees the packets, and drops them
                assert link.info().program_id == 0
                veth.send(3)
                assert wait_for(lambda: counter(tc, 1) == 3)
                assert veth.received() == 0
                assert counter(tc, 0) == 4
            assert netlink.filter_list(veth.ifindex, netlink.TC_INGRESS) == []
        assert netlink.qdisc_kinds(veth.ifindex).count("clsact") == 1  # not ours: it stays
    finally:
        netlink.clsact_del(veth.ifindex)


def test_tc_taken_over_filter_stays_and_so_does_the_qdisc(
    veth: Veth, tc: bpfnest.Collection
) -> None:
    ours, theirs = tc.programs["count_pass"], tc.programs["count_drop"]
    link = ours.attach_tc(veth.ifname, "ingress")
    try:
        netlink.filter_add(
            veth.ifindex, netlink.TC_INGRESS, theirs.fd, "theirs", priority=1, replace=True
        )
        assert link.program_id == theirs.id
        link.close()
        (left,) = netlink.filter_list(veth.ifindex, netlink.TC_INGRESS)
        assert left.prog_id == theirs.id
        assert "clsact" in netlink.qdisc_kinds(veth.ifindex)
    finally:
        link.close()
        netlink.clsact_del(veth.ifindex)


@pytest.mark.parametrize("refusal", ["taken meanwhile", "kernel refuses the program"])
def test_tc_failure_half_way_leaves_nothing_behind(
    refusal: str, veth: Veth, tc: bpfnest.Collection, xdp: bpfnest.Collection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The filter add fails after the qdisc was made. Each refusal is the kernel's:
    another tc user takes the priority between our check and our add, or the
    kernel gets a program cls_bpf does not take (the fd of an XDP program)."""
    real_add = netlink.filter_add
    theirs = tc.programs["count_drop"]

    def add(ifindex: int, parent: int, prog_fd: int, name: str, **kw: int) -> None:
        if refusal == "taken meanwhile":
            real_add(ifindex, parent, theirs.fd, "theirs", priority=kw["priority"], handle=1)
            real_add(ifindex, parent, prog_fd, name, **kw)
        else:
            real_add(ifindex, parent, xdp.programs["count_pass"].fd, name, **kw)

    monkeypatch.setattr(netlink, "filter_add", add)
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(BPFError) as caught:
        tc.programs["count_pass"].attach_tc(veth.ifname, "ingress")
    monkeypatch.undo()
    assert set(os.listdir("/proc/self/fd")) == fds
    if refusal == "taken meanwhile":
        assert caught.value.errno == errno.EEXIST
        assert f"a bpf filter running program {theirs.id} is at priority 1" in str(caught.value)
        (left,) = netlink.filter_list(veth.ifindex, netlink.TC_INGRESS)
        assert left.prog_id == theirs.id  # theirs, on the qdisc we made: both stay
        netlink.clsact_del(veth.ifindex)
    else:
        assert caught.value.errno == errno.EINVAL
        assert "clsact" not in netlink.qdisc_kinds(veth.ifindex)


def test_tc_bad_input_before_any_syscall(
    veth: Veth, tc: bpfnest.Collection, xdp: bpfnest.Collection
) -> None:
    prog = tc.programs["count_pass"]
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: prog.attach_tc(veth.ifname, "sideways"), ValueError, "'ingress' or 'egress'"),
        (lambda: prog.attach_tc(veth.ifname, "ingress", priority=0), ValueError, "1..65535"),
        (lambda: prog.attach_tc(veth.ifname, "ingress", priority=True), TypeError, "an int"),
        (lambda: prog.attach_tc("no-such-if0", "ingress"), ValueError, "no interface"),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind) as caught:
            call()
        assert text in str(caught.value), str(caught.value)
    with pytest.raises(TypeError) as type_error:
        xdp.programs["count_pass"].attach_tc(veth.ifname, "ingress")
    assert "it is a XDP program, tc ingress" in str(type_error.value)
    assert "clsact" not in netlink.qdisc_kinds(veth.ifindex)


# ------------------------------------------------------------------ cgroup


def test_cgroup_prog_attach_counts_updates_detaches_only_its_program(
    cgroup: Cgroup, cgroup_progs: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    passing, dropping = cgroup_progs.programs["count_pass"], cgroup_progs.programs["count_drop"]
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as other:
        neighbour = other.programs["count_pass"]  # someone else's, sharing the hook
        link = passing.attach_cgroup(cgroup.path, legacy=True)
        try:
            assert links_running(passing) == set()  # BPF_PROG_ATTACH makes no link
            info = link.info()
            assert (info.type, info.hook, info.cgroup_id, info.attach_type, info.program_id) == (
                LinkType.UNSPEC, "cgroup", cgroup.id, AttachType.CGROUP_INET_EGRESS, passing.id,
            )  # fmt: skip
            with pytest.raises(BPFError) as caught:
                passing.attach_cgroup(cgroup.path, legacy=True)
            assert caught.value.errno == errno.EINVAL
            assert "program 'count_pass' is attached there as CGROUP_INET_EGRESS already" in str(
                caught.value
            )
            with neighbour.attach_cgroup(cgroup.path, legacy=True):
                send_udp(5)  # this process is not in the cgroup
                cgroup.run(lambda: send_udp(9))
                assert wait_for(lambda: counter(cgroup_progs, 0) == 9), counter(cgroup_progs, 0)
                assert counter(other, 0) == 9
                link.update(dropping)  # in place (BPF_F_REPLACE)
                assert link.program_id == dropping.id
                ids = cgroup_programs(cgroup, AttachType.CGROUP_INET_EGRESS)
                assert sorted(ids) == sorted([dropping.id, neighbour.id])
                link.close()  # detaches exactly ours
                assert cgroup_programs(cgroup, AttachType.CGROUP_INET_EGRESS) == [neighbour.id]
                cgroup.run(lambda: send_udp(4))
                assert wait_for(lambda: counter(other, 0) == 13)
                assert counter(cgroup_progs, 1) == 0  # count_drop never ran
            assert cgroup_programs(cgroup, AttachType.CGROUP_INET_EGRESS) == []
        finally:
            link.close()


def test_attach_cgroup_falls_back_where_the_kernel_has_no_cgroup_links(
    cgroup: Cgroup, cgroup_progs: bpfnest.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(features.link_support, "cgroup", False)  # as on a kernel before 5.7
    dirfd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        link = cgroup_progs.programs["count_pass"].attach_cgroup(dirfd)
    finally:
        os.close(dirfd)  # the link holds its own duplicate
    with link:
        assert isinstance(link, LegacyLink)
        cgroup.run(lambda: send_udp(3))
        assert wait_for(lambda: counter(cgroup_progs, 0) == 3)
        link.detach()
        assert link.info().program_id == 0
        cgroup.run(lambda: send_udp(2))
        time.sleep(0.05)
        assert counter(cgroup_progs, 0) == 3


# ------------------------------------------------------------------ tracepoint by ioctl


@pytest.mark.usefixtures("tracefs")
def test_tracepoint_by_ioctl_counts_and_close_stops(
    trace: bpfnest.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(features.link_support, "perf_event", False)  # as before 5.15
    prog = trace.programs["tp_getpgid"]
    fds = set(os.listdir("/proc/self/fd"))
    with prog.attach_tracepoint("syscalls", "sys_enter_getpgid") as link:
        assert isinstance(link, LegacyLink)
        assert links_running(prog) == set()
        assert len(set(os.listdir("/proc/self/fd")) - fds) == 2  # program dup + perf event
        assert link.info() == LegacyLinkInfo(
            0, LinkType.UNSPEC, prog.id, name="sys_enter_getpgid", perf_event="tracepoint",
            hook="perf_event",
        )  # fmt: skip
        for _ in range(7):
            os.getpgid(0)
        assert counter(trace, 0) == 7
        with pytest.raises(BPFError) as caught:
            link.update(prog)
        assert caught.value.errno == errno.EOPNOTSUPP
        assert str(caught.value) == (
            "update tracepoint syscalls/sys_enter_getpgid (perf-event ioctl): Operation not"
            " supported (a tracepoint attached by perf-event ioctl cannot switch programs:"
            " close it and attach the new one)"
        )
        with pytest.raises(BPFError) as caught:
            link.detach()
        assert caught.value.errno == errno.EOPNOTSUPP
    assert set(os.listdir("/proc/self/fd")) == fds
    os.getpgid(0)
    assert counter(trace, 0) == 7
    with pytest.raises(BPFError) as caught:
        prog.attach_tracepoint("syscalls", "sys_enter_no_such_call")
    assert caught.value.errno == errno.ENOENT
    assert set(os.listdir("/proc/self/fd")) == fds


# ------------------------------------------------------------------ conformance


@pytest.mark.parametrize("kind", ["xdp", "tc", "cgroup", "perf_event"])
def test_every_legacy_kind_behaves_as_a_link(
    kind: str, request: pytest.FixtureRequest, bpffs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Link API on each path: id 0 and type UNSPEC, program_id and info()
    from the kernel, pin() refused naming why (NotSupportedError), no opening by
    id or pin, update (or its clear refusal), detach (or its refusal), close
    idempotent, context manager; the leak guard checks fds."""
    same = ""
    if kind == "xdp":
        coll, veth = request.getfixturevalue("xdp"), request.getfixturevalue("veth")
        link = coll.programs["count_pass"].attach_xdp(veth.ifname, netlink=True)
        other, why = "count_drop", "XDP attached by netlink"
    elif kind == "tc":
        coll, veth = request.getfixturevalue("tc"), request.getfixturevalue("veth")
        link = coll.programs["count_pass"].attach_tc(veth.ifname, "egress")
        other, why = "count_drop", "a tc filter is no BPF link"
    elif kind == "cgroup":
        coll, cg = request.getfixturevalue("cgroup_progs"), request.getfixturevalue("cgroup")
        link = coll.programs["count_pass"].attach_cgroup(cg.path, legacy=True)
        other, why = "count_drop", "BPF_PROG_ATTACH is no BPF link"
    else:
        request.getfixturevalue("tracefs")
        monkeypatch.setitem(features.link_support, "perf_event", False)
        coll = request.getfixturevalue("trace")
        link = coll.programs["tp_getpgid"].attach_tracepoint("syscalls", "sys_enter_getpgid")
        other, same, why = "", "tp_getpgid", "perf-event ioctl is no BPF link"
    first = coll.programs["tp_getpgid" if same else "count_pass"]
    with link:
        assert isinstance(link, bpfnest.Link) and isinstance(link, LegacyLink)
        assert (link.id, link.type, link.hook, link.program_id) == (
            0, LinkType.UNSPEC, kind, first.id,
        )  # fmt: skip
        assert link.info().program_id == first.id
        assert repr(link).startswith("<LegacyLink ") and f"program {first.id}>" in repr(link)
        path = os.path.join(bpffs, kind)
        with pytest.raises(NotSupportedError) as refused:
            link.pin(path)
        assert refused.value.errno == errno.EOPNOTSUPP
        assert refused.value.min_kernel in ("5.9", "6.6", "5.7", "5.15")
        assert why in str(refused.value) and "nothing to pin" in str(refused.value)
        assert not os.path.lexists(path)
        if other:
            link.update(coll.programs[other])
            assert link.program_id == coll.programs[other].id
            with pytest.raises(TypeError) as wrong:
                link.update(link)  # type: ignore[arg-type]
            assert "must be a Program, got LegacyLink" in str(wrong.value)
            link.detach()
            assert link.info().program_id == 0
        else:
            with pytest.raises(BPFError) as caught:
                link.update(coll.programs[same])
            assert caught.value.errno == errno.EOPNOTSUPP
            with pytest.raises(BPFError) as caught:
                link.detach()
            assert caught.value.errno == errno.EOPNOTSUPP
    assert link.closed
    link.close()
    with pytest.raises(ValueError):
        link.info()
    with pytest.raises(ValueError):
        link.pin(os.path.join(bpffs, "closed"))
    for call in (lambda: link.update(first), link.detach):
        with pytest.raises(ValueError) as closed:
            call()
        assert str(closed.value).endswith(" is closed"), str(closed.value)


def test_nothing_opens_as_a_legacy_link(trace: bpfnest.Collection) -> None:
    """The openers give Links; a LegacyLink has no kernel object to open, and
    asking for one closes what was opened."""
    with trace.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter") as link:
        fds = set(os.listdir("/proc/self/fd"))
        for opener in (lambda: LegacyLink.from_fd(link.fd), lambda: LegacyLink.from_id(link.id)):
            with pytest.raises(TypeError) as caught:
                opener()
            assert str(caught.value).startswith("LegacyLink cannot be opened: ")
        assert set(os.listdir("/proc/self/fd")) == fds
