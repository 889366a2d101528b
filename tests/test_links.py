"""bpfnest.Link and Program.attach_* on real hooks (issue 14, first part).

Network hooks run on a veth pair across two network namespaces with real UDP
traffic from the peer (tests/netns.py); cgroup_skb on a fresh child cgroup;
tracepoint and raw_tp count this process's getpgid calls. Every link a test
makes is closed, and the leak guard checks that its id is gone.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import test_sys_links
from test_links_probes import probed, probes  # noqa: F401  (the uprobe conformance row)
from test_perf import tracefs  # noqa: F401  (mounts tracefs when it is not)

import bpfnest
from bpfnest import AttachType, BPFError, Link, LinkType
from bpfnest._sys import link_ops, netlink

from netns import Cgroup, Veth, counter, wait_for
from netns import link_ids as all_link_ids

pytestmark = pytest.mark.usefixtures("kernel")

# The programs of tests/bpf, loaded for each test as in test_sys_links.
xdp, tc, trace = test_sys_links.xdp, test_sys_links.tc, test_sys_links.trace
send_udp = test_sys_links.send_udp


def gone(link: Link) -> bool:
    """Close ``link``; True once the kernel has forgotten it."""
    lid = link.id
    link.close()
    return wait_for(lambda: lid not in all_link_ids())


def test_link_type_matches_the_kernel() -> None:
    assert (LinkType.RAW_TRACEPOINT, LinkType.CGROUP, LinkType.XDP) == (1, 3, 6)
    assert (LinkType.PERF_EVENT, LinkType.TCX, LinkType.SOCKMAP) == (7, 11, 14)


# ------------------------------------------------------------------ XDP


@pytest.mark.parametrize("mode", ["generic", "native"])
def test_attach_xdp_counts_updates_detaches(
    mode: str, veth: Veth, xdp: bpfnest.Collection, objs: Callable[[str], str]
) -> None:
    passing, dropping = xdp.programs["count_pass"], xdp.programs["count_drop"]
    with bpfnest.CollectionSpec.from_file(objs("xdp_pass")).load() as peer_coll:
        peer = None
        if mode == "native":  # veth runs native XDP only when the peer has a program too
            with veth.peer():
                peer = peer_coll.programs["pass"].attach_xdp(veth.peer_ifname)
        try:
            with passing.attach_xdp(veth.ifname, mode=mode) as link:
                assert (link.type, link.program_id) == (LinkType.XDP, passing.id)
                info = link.info()
                assert (info.id, info.ifindex, info.name) == (link.id, veth.ifindex, None)
                veth.send(20)
                assert wait_for(lambda: counter(xdp, 0) == 20), counter(xdp, 0)
                assert veth.received() == 20
                with pytest.raises(BPFError) as caught:  # the old program named is not attached
                    link.update(passing, old=dropping)
                assert caught.value.errno == errno.EPERM
                assert str(caught.value) == (
                    f"update XDP link {link.id}: Operation not permitted"
                    " (the program attached is not 'count_drop')"
                )
                link.update(dropping, old=passing)  # live: later packets are dropped
                assert link.program_id == dropping.id
                veth.send(10)
                assert wait_for(lambda: counter(xdp, 1) == 10), counter(xdp, 1)
                assert veth.received() == 0
                link.detach()
                assert link.info().ifindex == 0
                veth.send(4)
                assert veth.received() == 4
                assert counter(xdp, 1) == 10
                with pytest.raises(BPFError) as caught:
                    link.update(passing)
                assert caught.value.errno == errno.ENOLINK
            assert link.closed
            link.close()  # idempotent
        finally:
            if peer is not None:
                peer.close()


def test_attach_xdp_by_ifindex_second_attach_refused_close_stops(
    veth: Veth, xdp: bpfnest.Collection
) -> None:
    first = xdp.programs["count_drop"].attach_xdp(veth.ifindex)
    try:
        with pytest.raises(BPFError) as caught:
            xdp.programs["count_pass"].attach_xdp(veth.ifname)
        assert caught.value.errno == errno.EBUSY
        msg = str(caught.value)
        assert msg.startswith(
            f"attach program 'count_pass' to XDP of interface '{veth.ifname}'"
            f" (ifindex {veth.ifindex}): "
        ), msg
        assert msg.endswith(
            f"Device or resource busy (program {xdp.programs['count_drop'].id} is attached there"
            f" by link {first.id}: update() that link (Link.from_id({first.id})), or close it"
            " and unpin it)"
        ), msg
        veth.send(3)
        assert veth.received() == 0
    finally:
        assert gone(first)
    veth.send(3)
    assert veth.received() == 3


def test_attach_xdp_over_a_netlink_program_names_it(veth: Veth, xdp: bpfnest.Collection) -> None:
    held = xdp.programs["count_drop"]
    netlink.xdp_set(veth.ifindex, held.fd, netlink.XDP_FLAGS_SKB_MODE)
    try:
        with pytest.raises(BPFError) as caught:
            xdp.programs["count_pass"].attach_xdp(veth.ifname, mode="generic")
        assert caught.value.errno == errno.EBUSY
        assert str(caught.value).endswith(
            f"Device or resource busy (program {held.id} is attached there by netlink: remove"
            f" it with `ip link set dev {veth.ifname} xdp off`, then attach again)"
        ), str(caught.value)
    finally:
        netlink.xdp_set(veth.ifindex, -1, netlink.XDP_FLAGS_SKB_MODE)


def test_pinned_link_survives_the_object(veth: Veth, xdp: bpfnest.Collection, bpffs: str) -> None:
    path = os.path.join(bpffs, "xdp_link")
    link = xdp.programs["count_pass"].attach_xdp(veth.ifname)
    lid = link.id
    try:
        link.pin(path)
        link.close()
        veth.send(2)  # the pin holds it: it still runs
        assert wait_for(lambda: counter(xdp, 0) == 2)
        with Link.from_pinned(path) as again, Link.from_id(lid) as by_id:
            assert (again.id, by_id.id) == (lid, lid)
            assert again.type == LinkType.XDP
            assert by_id.info().ifindex == veth.ifindex
        assert lid in set(bpfnest.link_ids())
    finally:
        os.unlink(path)
    assert wait_for(lambda: lid not in all_link_ids())


def test_from_pinned_refuses_what_is_not_a_link(xdp: bpfnest.Collection, bpffs: str) -> None:
    path = os.path.join(bpffs, "prog")
    xdp.programs["count_pass"].pin(path)
    try:
        with pytest.raises(BPFError) as caught:
            Link.from_pinned(path)
        assert caught.value.errno == errno.EINVAL
        assert str(caught.value) == (
            f"open pinned '{path}': not a link (it is anon_inode:bpf-prog)"
        )
    finally:
        os.unlink(path)


def test_wrong_program_type_and_unknown_interface_fail_before_any_syscall(
    veth: Veth, xdp: bpfnest.Collection, tc: bpfnest.Collection, trace: bpfnest.Collection,
    cgroup: Cgroup,
) -> None:  # fmt: skip
    before = all_link_ids()
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (
            lambda: tc.programs["count_pass"].attach_xdp(veth.ifname),
            TypeError,
            f"attach program 'count_pass' to XDP of interface '{veth.ifname}'"
            f" (ifindex {veth.ifindex}): it is a SCHED_CLS program, XDP of interface"
            f" '{veth.ifname}' (ifindex {veth.ifindex}) takes XDP programs",
        ),
        (
            lambda: xdp.programs["count_pass"].attach_tcx(veth.ifname, "ingress"),
            TypeError,
            "it is a XDP program",
        ),
        (
            lambda: xdp.programs["count_pass"].attach_cgroup(cgroup.path, AttachType.XDP),
            TypeError,
            "attach program 'count_pass' to a cgroup: it is a XDP program",
        ),
        (
            lambda: xdp.programs["count_pass"].attach_raw_tracepoint("sys_enter"),
            TypeError,
            "takes RAW_TRACEPOINT or RAW_TRACEPOINT_WRITABLE programs",
        ),
        (
            lambda: trace.programs["raw_sys_enter"].attach_tracepoint("syscalls", "x"),
            TypeError,
            "it is a RAW_TRACEPOINT program, tracepoint syscalls/x takes TRACEPOINT programs",
        ),
        (
            lambda: xdp.programs["count_pass"].attach_xdp("no-such-if0"),
            ValueError,
            "attach_xdp: no interface 'no-such-if0' in this network namespace (see `ip link`)",
        ),
        (
            lambda: tc.programs["count_pass"].attach_tcx("no-such-if0", "ingress"),
            ValueError,
            "attach_tcx: no interface 'no-such-if0'",
        ),
        (
            lambda: tc.programs["count_pass"].attach_tcx(veth.ifname, "sideways"),
            ValueError,
            "direction must be 'ingress' or 'egress', got 'sideways'",
        ),
        (
            lambda: xdp.programs["count_pass"].attach_xdp(veth.ifname, mode="turbo"),
            ValueError,
            "mode must be one of",
        ),
    ]
    for call, kind, text in cases:
        with pytest.raises(kind) as caught:
            call()
        assert text in str(caught.value), str(caught.value)
    assert all_link_ids() == before


# ------------------------------------------------------------------ tcx


def test_attach_tcx_ingress(veth: Veth, tc: bpfnest.Collection) -> None:
    prog = tc.programs["count_pass"]
    with prog.attach_tcx(veth.ifname, "ingress") as link:
        info = link.info()
        assert (info.type, info.ifindex, info.attach_type) == (
            LinkType.TCX, veth.ifindex, AttachType.TCX_INGRESS,
        )  # fmt: skip
        veth.send(12)
        assert wait_for(lambda: counter(tc, 0) == 12)
        assert veth.received() == 12
        link.update(tc.programs["count_drop"])
        veth.send(7)
        assert wait_for(lambda: counter(tc, 1) == 7)
        assert veth.received() == 0
        assert gone(link)
    veth.send(3)
    assert veth.received() == 3


# ------------------------------------------------------------------ cgroup


@pytest.mark.parametrize("by", ["path", "fd"])
def test_attach_cgroup_skb_egress(by: str, cgroup: Cgroup, objs: Callable[[str], str]) -> None:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        prog = coll.programs["count_pass"]
        if by == "path":
            link = prog.attach_cgroup(cgroup.path)  # the section names the attach type
        else:
            dirfd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                link = prog.attach_cgroup(dirfd, AttachType.CGROUP_INET_EGRESS)
            finally:
                os.close(dirfd)
        with link:
            info = link.info()
            assert (info.type, info.cgroup_id, info.attach_type) == (
                LinkType.CGROUP, cgroup.id, AttachType.CGROUP_INET_EGRESS,
            )  # fmt: skip
            send_udp(5)  # this process is not in the cgroup
            cgroup.run(lambda: send_udp(9))
            assert wait_for(lambda: counter(coll, 0) == 9), counter(coll, 0)
            assert gone(link)
        cgroup.run(lambda: send_udp(4))
        time.sleep(0.05)
        assert counter(coll, 0) == 9


def test_attach_cgroup_missing_path(cgroup: Cgroup, objs: Callable[[str], str]) -> None:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        missing = os.path.join(cgroup.path, "nope")
        with pytest.raises(ValueError) as caught:
            coll.programs["count_pass"].attach_cgroup(missing)
        assert str(caught.value).startswith(
            f"attach_cgroup: cgroup '{missing}': No such file or directory"
        )


def test_attach_cgroup_without_an_attach_type(
    cgroup: Cgroup, cgroup_progs: bpfnest.Collection
) -> None:
    """A program opened by id has no section name: the attach type must be given."""
    with bpfnest.Program.from_id(cgroup_progs.programs["count_pass"].id) as prog:
        with pytest.raises(ValueError) as caught:
            prog.attach_cgroup(cgroup.path)
        assert str(caught.value) == (
            f"attach_cgroup: program '{prog.name}' has no expected attach type:"
            " pass attach_type= (e.g. AttachType.CGROUP_INET_EGRESS)"
        )
        with prog.attach_cgroup(cgroup.path, AttachType.CGROUP_INET_EGRESS) as link:
            assert link.info().attach_type == AttachType.CGROUP_INET_EGRESS


# ------------------------------------------------------------------ tracing


def test_attach_raw_tracepoint(trace: bpfnest.Collection) -> None:
    prog = trace.programs["raw_sys_enter"]
    with prog.attach_raw_tracepoint("sys_enter") as link:
        info = link.info()
        assert (info.type, info.program_id, info.name) == (
            LinkType.RAW_TRACEPOINT, prog.id, "sys_enter",
        )  # fmt: skip
        for _ in range(10):
            os.getpgid(0)
        assert counter(trace, 1) == 10
        assert gone(link)
    os.getpgid(0)
    assert counter(trace, 1) == 10
    with pytest.raises(BPFError) as caught:
        prog.attach_raw_tracepoint("no_such_tracepoint_here")
    assert caught.value.errno == errno.ENOENT
    assert "no raw tracepoint 'no_such_tracepoint_here'" in str(caught.value)


@pytest.mark.usefixtures("tracefs")
def test_attach_tracepoint_owns_its_perf_event(trace: bpfnest.Collection) -> None:
    prog = trace.programs["tp_getpgid"]
    fds_before = set(os.listdir("/proc/self/fd"))
    with prog.attach_tracepoint("syscalls", "sys_enter_getpgid") as link:
        info = link.info()
        assert (info.type, info.perf_event, info.name) == (
            LinkType.PERF_EVENT, "tracepoint", "sys_enter_getpgid",
        )  # fmt: skip
        assert len(set(os.listdir("/proc/self/fd")) - fds_before) == 2  # link + perf event
        for _ in range(7):
            os.getpgid(0)
        assert counter(trace, 0) == 7
    assert set(os.listdir("/proc/self/fd")) == fds_before
    os.getpgid(0)
    assert counter(trace, 0) == 7
    with pytest.raises(BPFError) as caught:
        prog.attach_tracepoint("syscalls", "sys_enter_no_such_call")
    assert caught.value.errno == errno.ENOENT
    assert str(caught.value).startswith(
        "attach program 'tp_getpgid' to tracepoint syscalls/sys_enter_no_such_call:"
        " No such file or directory (no tracepoint syscalls/sys_enter_no_such_call ("
    ), str(caught.value)
    assert set(os.listdir("/proc/self/fd")) == fds_before


def test_link_from_fd_and_repr(trace: bpfnest.Collection) -> None:
    with trace.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter") as link:
        with Link.from_fd(link.fd) as dup:
            assert dup.id == link.id
            assert repr(dup) == f"<Link RAW_TRACEPOINT link {link.id} program {dup.program_id}>"
        assert link_ops.link_info(link.fd).info.id == link.id
    with pytest.raises(ValueError):
        link.info()


def test_pinned_link_survives_the_process(veth: Veth, xdp: bpfnest.Collection, bpffs: str) -> None:
    """A child process attaches, pins and exits; the link runs on and comes back here."""
    path = os.path.join(bpffs, "kept")
    prog_path = os.path.join(bpffs, "prog")
    xdp.programs["count_pass"].pin(prog_path)
    child = (
        "import sys, bpfnest\n"
        "with bpfnest.Program.from_pinned(sys.argv[1]) as p:\n"
        "    with p.attach_xdp(sys.argv[2]) as link:\n"
        "        link.pin(sys.argv[3])\n"
        "        print(link.id)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", child, prog_path, veth.ifname, path],
            capture_output=True, text=True, check=True, timeout=60,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(bpfnest.__file__))),
        )  # fmt: skip
        lid = int(out.stdout)
        veth.send(3)  # the child has exited: the pin keeps the program running
        assert wait_for(lambda: counter(xdp, 0) == 3), counter(xdp, 0)
        assert veth.received() == 3
        with Link.from_pinned(path) as again:
            assert (again.id, again.type, again.info().ifindex) == (
                lid, LinkType.XDP, veth.ifindex,
            )  # fmt: skip
            assert again.program_id == xdp.programs["count_pass"].id
    finally:
        os.unlink(prog_path)
        if os.path.lexists(path):
            os.unlink(path)
    assert wait_for(lambda: lid not in all_link_ids())
    veth.send(2)
    assert veth.received() == 2


def test_attach_tcx_egress_on_the_peer(veth: Veth, tc: bpfnest.Collection) -> None:
    with veth.peer():
        link = tc.programs["count_drop"].attach_tcx(veth.peer_ifname, "egress")
    with link:
        assert link.info().attach_type == AttachType.TCX_EGRESS
        veth.send(6)
        assert wait_for(lambda: counter(tc, 1) == 6)
        assert veth.received() == 0
    veth.send(2)
    assert veth.received() == 2


# ------------------------------------------------------------------ conformance


@pytest.fixture
def cgroup_progs(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with bpfnest.CollectionSpec.from_file(objs("cgroup_count")).load() as coll:
        yield coll


@pytest.mark.parametrize("kind", ["xdp", "tcx", "cgroup", "raw_tp", "tracepoint", "uprobe"])
def test_every_link_kind_pins_reopens_updates_detaches_closes(
    kind: str, request: pytest.FixtureRequest, bpffs: str,
) -> None:  # fmt: skip
    """What cilium's testLink checks, on each kind: pin, reopen by pin and id, info,
    update (or its clear refusal), detach (or its refusal), close; the guard checks leaks."""
    if kind == "xdp":
        coll, veth = request.getfixturevalue("xdp"), request.getfixturevalue("veth")
        link, other = coll.programs["count_pass"].attach_xdp(veth.ifname), "count_drop"
    elif kind == "tcx":
        coll, veth = request.getfixturevalue("tc"), request.getfixturevalue("veth")
        link, other = coll.programs["count_pass"].attach_tcx(veth.ifname, "ingress"), "count_drop"
    elif kind == "cgroup":
        coll, cg = request.getfixturevalue("cgroup_progs"), request.getfixturevalue("cgroup")
        link, other = coll.programs["count_pass"].attach_cgroup(cg.path), "count_drop"
    elif kind == "raw_tp":
        coll = request.getfixturevalue("trace")
        link, other = coll.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter"), ""
        same = coll.programs["raw_sys_enter"]
    elif kind == "uprobe":  # the fixtures of test_links_probes
        coll, target = request.getfixturevalue("probes"), request.getfixturevalue("probed")
        link = coll.programs["on_entry"].attach_uprobe(target, "bpfnest_probe_me")
        other, same = "", coll.programs["on_entry"]
    else:
        request.getfixturevalue("tracefs")
        coll = request.getfixturevalue("trace")
        link = coll.programs["tp_getpgid"].attach_tracepoint("syscalls", "sys_enter_getpgid")
        other, same = "", coll.programs["tp_getpgid"]
    with link:
        path = os.path.join(bpffs, kind)
        link.pin(path)
        try:
            with Link.from_pinned(path) as pinned, Link.from_id(link.id) as by_id:
                assert pinned.info() == by_id.info() == link.info()
        finally:
            os.unlink(path)
        name = f"{link.type.name} link {link.id}"
        if other:  # swaps, then detaches: the link stays, without its hook
            link.update(coll.programs[other])
            assert link.program_id == coll.programs[other].id
            link.detach()
            assert link.info().program_id == coll.programs[other].id
        else:  # these kinds can do neither: the messages say so and what to do
            with pytest.raises(BPFError) as caught:
                link.update(same)
            assert str(caught.value) == (
                f"update {name}: Invalid argument (a {link.type.name} link cannot switch"
                " programs: close it and attach the new one)"
            )
            with pytest.raises(BPFError) as caught:
                link.detach()
            assert str(caught.value) == (
                f"detach {name}: Operation not supported (a {link.type.name} link cannot"
                " detach: close it (and remove its pin))"
            )
    assert link.closed
