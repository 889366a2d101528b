"""Attaching real programs at the ``_sys`` level (``bpfnest._sys.link_ops``).

Each hook gets a real program from tests/bpf and real events: UDP packets sent
from a peer network namespace over a veth pair (XDP, tcx), packets sent by a
process moved into a fresh cgroup (cgroup_skb), syscalls of this process
(raw_tp). Every test checks the link's info, that closing (or detaching) the
link stops the program, and that the link ids it made are gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest

import bpfnest
from bpfnest import AttachType
from bpfnest._sys import link_ops, ops
from bpfnest._sys.fd import FD

from netns import Cgroup, Veth, closed_and_gone, counter, link_id, link_ids, trace_counts, wait_for

pytestmark = pytest.mark.usefixtures("kernel")

# enum bpf_link_type (bpfnest.LinkType comes with the Link class).
LINK_RAW_TRACEPOINT, LINK_CGROUP, LINK_XDP, LINK_TCX = 1, 3, 6, 11
# XDP_FLAGS_* of <linux/if_link.h>: the attach mode.
XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE = 1 << 1, 1 << 2
XDP_MODES = {"generic": XDP_FLAGS_SKB_MODE, "native": XDP_FLAGS_DRV_MODE}


@pytest.fixture
def links() -> Iterator[list[FD]]:
    """Link fds a test makes: closed at the end, and their ids must be gone."""
    made: list[FD] = []
    yield made
    ids = set()
    for fd in made:
        if not fd.closed:
            ids.add(int(link_ops.link_info(fd.raw).info.id))
            fd.close()
    assert wait_for(lambda: not (ids & link_ids())), f"links left: {ids & link_ids()}"


# ------------------------------------------------------------------ XDP


@pytest.fixture
def xdp(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("xdp_count")).load() as coll:
        yield coll


@pytest.mark.parametrize("mode", ["generic", "native"])
def test_xdp_link_counts_real_packets(
    mode: str, veth: Veth, xdp: bpfnest.Collection, objs: Callable[[str], str],
    links: list[FD],
) -> None:  # fmt: skip
    flags = XDP_MODES[mode]
    if mode == "native":
        # veth delivers to a native XDP program only when the peer has one too.
        with bpfnest.CollectionSpec.from_file(objs("xdp_pass")).load() as peer_coll, veth.peer():
            ifindex = socket.if_nametoindex(veth.peer_ifname)
            links.append(
                link_ops.link_create(peer_coll.programs["pass"].fd, ifindex, AttachType.XDP)
            )
    prog = xdp.programs["count_pass"]
    fd = link_ops.link_create(prog.fd, veth.ifindex, AttachType.XDP, flags=flags)
    links.append(fd)
    got = link_ops.link_info(fd.raw)
    assert (got.info.type, got.info.prog_id, got.info.xdp.ifindex, got.name) == (
        LINK_XDP, prog.id, veth.ifindex, "",
    )  # fmt: skip
    veth.send(20)
    assert wait_for(lambda: counter(xdp, 0) == 20), counter(xdp, 0)
    assert veth.received() == 20
    # Swap programs live: the drop program counts in slot 1 and nothing arrives.
    link_ops.link_update(fd.raw, xdp.programs["count_drop"].fd)
    assert link_ops.link_info(fd.raw).info.prog_id == xdp.programs["count_drop"].id
    veth.send(10)
    assert wait_for(lambda: counter(xdp, 1) == 10), counter(xdp, 1)
    assert veth.received() == 0
    assert closed_and_gone(fd)
    veth.send(5)
    assert veth.received() == 5
    assert (counter(xdp, 0), counter(xdp, 1)) == (20, 10)


def test_xdp_second_attach_is_refused(veth: Veth, xdp: bpfnest.Collection, links: list[FD]) -> None:
    first = link_ops.link_create(xdp.programs["count_pass"].fd, veth.ifindex, AttachType.XDP)
    links.append(first)
    with pytest.raises(OSError) as caught:
        links.append(
            link_ops.link_create(xdp.programs["count_drop"].fd, veth.ifindex, AttachType.XDP)
        )
    assert caught.value.errno == errno.EBUSY
    assert closed_and_gone(first)


def test_link_update_with_old_program_checked(
    veth: Veth, xdp: bpfnest.Collection, links: list[FD]
) -> None:
    passing, dropping = xdp.programs["count_pass"], xdp.programs["count_drop"]
    fd = link_ops.link_create(passing.fd, veth.ifindex, AttachType.XDP)
    links.append(fd)
    with pytest.raises(OSError) as caught:  # the old program named is not the one attached
        link_ops.link_update(fd.raw, passing.fd, old_prog_fd=dropping.fd)
    assert caught.value.errno == errno.EPERM
    link_ops.link_update(fd.raw, dropping.fd, old_prog_fd=passing.fd)
    assert link_ops.link_info(fd.raw).info.prog_id == dropping.id


def test_link_detach_stops_the_program_and_keeps_the_link(
    veth: Veth, xdp: bpfnest.Collection, links: list[FD]
) -> None:
    fd = link_ops.link_create(xdp.programs["count_drop"].fd, veth.ifindex, AttachType.XDP)
    links.append(fd)
    veth.send(3)
    assert wait_for(lambda: counter(xdp, 1) == 3)
    assert veth.received() == 0
    link_ops.link_detach(fd.raw)
    info = link_ops.link_info(fd.raw).info  # the link keeps its program, loses its device
    assert (info.type, info.prog_id, info.xdp.ifindex) == (
        LINK_XDP,
        xdp.programs["count_drop"].id,
        0,
    )
    veth.send(4)
    assert veth.received() == 4
    assert counter(xdp, 1) == 3
    with pytest.raises(OSError) as caught:
        link_ops.link_update(fd.raw, xdp.programs["count_pass"].fd)
    assert caught.value.errno == errno.ENOLINK


def test_link_by_id_and_pin(
    veth: Veth, xdp: bpfnest.Collection, links: list[FD], bpffs: str
) -> None:
    fd = link_ops.link_create(xdp.programs["count_pass"].fd, veth.ifindex, AttachType.XDP)
    links.append(fd)
    lid = link_id(fd)
    again = link_ops.link_get_fd_by_id(lid)
    links.append(again)
    assert link_id(again) == lid
    path = os.path.join(bpffs, "xdp_link")
    ops.obj_pin(fd.raw, path)
    pinned = ops.obj_get(path)
    links.append(pinned)
    assert link_id(pinned) == lid
    for each in (fd, again, pinned):
        each.close()
    veth.send(2)  # the pin holds the link: it still runs
    assert wait_for(lambda: counter(xdp, 0) == 2)
    os.unlink(path)
    assert wait_for(lambda: lid not in link_ids())


def test_leak_guard_reports_a_link_left_behind(
    veth: Veth, xdp: bpfnest.Collection, bpffs: str
) -> None:
    from support import LeakCheck

    check = LeakCheck()
    fd = link_ops.link_create(xdp.programs["count_pass"].fd, veth.ifindex, AttachType.XDP)
    lid = link_id(fd)
    path = os.path.join(bpffs, "kept")
    try:
        ops.obj_pin(fd.raw, path)
        fd.close()
        problems = check.problems(timeout=0.2)
        assert problems == [f"BPF links leaked (ids still in the system): [{lid}]"], problems
    finally:
        fd.close()
        os.unlink(path)
    assert wait_for(lambda: lid not in link_ids())
    assert check.problems() == []


# ------------------------------------------------------------------ tcx


@pytest.fixture
def tc(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("tc_count")).load() as coll:
        yield coll


def test_tcx_ingress_counts_and_drops(veth: Veth, tc: bpfnest.Collection, links: list[FD]) -> None:
    prog = tc.programs["count_pass"]
    fd = link_ops.link_create(prog.fd, veth.ifindex, AttachType.TCX_INGRESS)
    links.append(fd)
    info = link_ops.link_info(fd.raw).info
    assert (info.type, info.prog_id, info.tcx.ifindex, info.tcx.attach_type) == (
        LINK_TCX, prog.id, veth.ifindex, AttachType.TCX_INGRESS,
    )  # fmt: skip
    veth.send(12)
    assert wait_for(lambda: counter(tc, 0) == 12)
    assert veth.received() == 12
    link_ops.link_update(fd.raw, tc.programs["count_drop"].fd)
    veth.send(7)
    assert wait_for(lambda: counter(tc, 1) == 7)
    assert veth.received() == 0
    link_ops.link_detach(fd.raw)
    veth.send(3)
    assert veth.received() == 3
    assert counter(tc, 1) == 7


def test_tcx_egress_runs_on_the_peer_side(
    veth: Veth, tc: bpfnest.Collection, links: list[FD]
) -> None:
    with veth.peer():
        ifindex = socket.if_nametoindex(veth.peer_ifname)
        fd = link_ops.link_create(tc.programs["count_drop"].fd, ifindex, AttachType.TCX_EGRESS)
    links.append(fd)
    assert link_ops.link_info(fd.raw).info.tcx.attach_type == AttachType.TCX_EGRESS
    veth.send(6)
    assert wait_for(lambda: counter(tc, 1) == 6)
    assert veth.received() == 0
    assert closed_and_gone(fd)
    veth.send(2)
    assert veth.received() == 2


# ------------------------------------------------------------------ cgroup


def send_udp(count: int) -> None:
    """Send ``count`` datagrams to 127.0.0.1:9999 (a dropped one is EPERM to the sender)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(count):
            with contextlib.suppress(PermissionError):
                s.sendto(b"x" * 8, ("127.0.0.1", 9999))


def test_cgroup_skb_egress_link_counts_only_its_processes(
    cgroup: Cgroup, objs: Callable[[str], str], links: list[FD]
) -> None:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        prog = coll.programs["count_pass"]
        dirfd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = link_ops.link_create(prog.fd, dirfd, AttachType.CGROUP_INET_EGRESS)
        finally:
            os.close(dirfd)
        links.append(fd)
        info = link_ops.link_info(fd.raw).info
        assert (info.type, info.prog_id, info.cgroup.cgroup_id, info.cgroup.attach_type) == (
            LINK_CGROUP, prog.id, cgroup.id, AttachType.CGROUP_INET_EGRESS,
        )  # fmt: skip
        send_udp(5)  # this process is not in the cgroup
        cgroup.run(lambda: send_udp(9))
        assert wait_for(lambda: counter(coll, 0) == 9), counter(coll, 0)
        link_ops.link_update(fd.raw, coll.programs["count_drop"].fd)
        cgroup.run(lambda: send_udp(4))
        assert wait_for(lambda: counter(coll, 1) == 4)
        assert closed_and_gone(fd)
        cgroup.run(lambda: send_udp(4))
        time.sleep(0.05)
        assert (counter(coll, 0), counter(coll, 1)) == (9, 4)


def test_cgroup_prog_attach_and_detach(cgroup: Cgroup, objs: Callable[[str], str]) -> None:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        prog = coll.programs["count_pass"]
        dirfd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            link_ops.prog_attach(
                prog.fd,
                dirfd,
                AttachType.CGROUP_INET_EGRESS,
                flags=bpfnest._sys.uapi.BPF_F_ALLOW_MULTI,
            )
            try:
                cgroup.run(lambda: send_udp(3))
                assert wait_for(lambda: counter(coll, 0) == 3)
            finally:
                link_ops.prog_detach(dirfd, AttachType.CGROUP_INET_EGRESS, prog.fd)
            with pytest.raises(OSError) as caught:
                link_ops.prog_detach(dirfd, AttachType.CGROUP_INET_EGRESS, prog.fd)
            assert caught.value.errno == errno.ENOENT
            cgroup.run(lambda: send_udp(3))
            assert counter(coll, 0) == 3
        finally:
            os.close(dirfd)


# ------------------------------------------------------------------ raw_tp


@pytest.fixture
def trace(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with trace_counts(objs) as coll:
        yield coll


def test_raw_tracepoint_counts_syscalls(trace: bpfnest.Collection, links: list[FD]) -> None:
    prog = trace.programs["raw_sys_enter"]
    fd = link_ops.raw_tracepoint_open("sys_enter", prog.fd, cookie=77)
    links.append(fd)
    got = link_ops.link_info(fd.raw)
    assert got.info.raw_tracepoint.cookie == 77
    assert (got.info.type, got.info.prog_id, got.name) == (
        LINK_RAW_TRACEPOINT,
        prog.id,
        "sys_enter",
    )
    assert got.info.raw_tracepoint.tp_name_len == len("sys_enter") + 1
    for _ in range(10):
        os.getpgid(0)
    assert counter(trace, 1) == 10
    assert closed_and_gone(fd)
    os.getpgid(0)
    assert counter(trace, 1) == 10


def test_raw_tracepoint_unknown_name(trace: bpfnest.Collection) -> None:
    with pytest.raises(OSError) as caught:
        link_ops.raw_tracepoint_open("no_such_tracepoint_here", trace.programs["raw_sys_enter"].fd)
    assert caught.value.errno == errno.ENOENT


def test_a_program_of_the_wrong_type_is_einval(
    veth: Veth, xdp: bpfnest.Collection, tc: bpfnest.Collection, trace: bpfnest.Collection,
    links: list[FD],
) -> None:  # fmt: skip
    """What the kernel answers (the link layer names both types before asking)."""
    cases = [
        (tc.programs["count_pass"], veth.ifindex, AttachType.XDP),
        (xdp.programs["count_pass"], veth.ifindex, AttachType.TCX_INGRESS),
        (trace.programs["raw_sys_enter"], veth.ifindex, AttachType.XDP),
    ]
    for prog, target, attach_type in cases:
        with pytest.raises(OSError) as caught:
            links.append(link_ops.link_create(prog.fd, target, attach_type))
        assert caught.value.errno == errno.EINVAL, (prog.name, attach_type)
    with pytest.raises(OSError) as caught:
        links.append(link_ops.raw_tracepoint_open("sys_enter", xdp.programs["count_pass"].fd))
    assert caught.value.errno == errno.EINVAL
