"""Program.attach(**target): the hook from the section name (issue 14, item 6).

Every row of bpfnest.link._auto.RULES on a real hook: tracepoints and raw
tracepoints count this process's getpgid calls; xdp, tcx/* and tc/* count UDP
packets on a veth pair (ingress from the peer, egress to it); cgroup_skb and
cgroup/sock_create count what a process in a fresh cgroup does. Bad targets
are refused before any syscall, naming the section and what to do.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Iterator

import pytest
from test_perf import tracefs  # noqa: F401  (mounts tracefs when it is not)
from test_usdt import PythonChild, python_calls, python_has_probe

import bpfnest
from bpfnest import AttachType, Link, LinkType, Program
from bpfnest.link._auto import RULES

import support
from netns import _GETPGID, PEER_ADDR, PORT, Cgroup, Veth, counter, wait_for
from netns import link_ids as all_link_ids

pytestmark = pytest.mark.usefixtures("kernel")


@pytest.fixture
def made() -> Iterator[list[Link]]:
    """Links a test makes: closed at the end, and their ids must be gone."""
    links: list[Link] = []
    yield links
    ids = {link.id for link in links}
    for link in links:
        link.close()
    assert wait_for(lambda: not (ids & all_link_ids())), ids & all_link_ids()


def load(objs: Callable[[str], str], name: str) -> bpfnest.Collection:
    return bpfnest.CollectionSpec.from_file(objs(name)).load()


def test_every_row_has_a_section_tested_here() -> None:
    tested = {
        "tp/",
        "tracepoint/",
        "raw_tp/",
        "raw_tracepoint/",
        "xdp",
        "tcx/ingress",
        "tc/ingress",
        "tcx/egress",
        "tc/egress",
        "tc",
        "cgroup/",
        "cgroup_skb/",
        "kprobe/",
        "kretprobe/",
        "ksyscall/",
        "kretsyscall/",
        "uprobe/",
        "uretprobe/",
        "tp_btf/",
        "iter/",
        "usdt/",
    }
    untested = [rule.patterns for rule in RULES if not any(p in tested for p in rule.patterns)]
    assert untested == []


@pytest.mark.usefixtures("tracefs")
def test_tracepoint_and_raw_tp_sections_need_no_target(
    objs: Callable[[str], str], made: list[Link]
) -> None:
    machine = os.uname().machine
    if machine not in _GETPGID:
        pytest.skip(f"getpgid syscall number unknown here ({machine})")
    with load(objs, "auto_trace") as coll:
        coll.maps["config"].update(0, os.getpid())
        coll.maps["config"].update(1, _GETPGID[machine])
        progs = coll.programs
        made.extend(progs[n].attach() for n in ("tp_short", "tp_long", "raw_short", "raw_long"))
        kinds = [(link.type, link.info().name) for link in made]
        assert kinds == [
            (LinkType.PERF_EVENT, "sys_enter_getpgid"),
            (LinkType.PERF_EVENT, "sys_enter_getpgid"),
            (LinkType.RAW_TRACEPOINT, "sys_enter"),
            (LinkType.RAW_TRACEPOINT, "sys_enter"),
        ]
        for _ in range(5):
            os.getpgid(0)
        assert wait_for(lambda: [counter(coll, s) for s in range(4)] == [5] * 4)
        assert [link.program_id for link in made] == [progs[n].id for n in progs]
        for link in made:
            link.close()
        os.getpgid(0)
        assert [counter(coll, s) for s in range(4)] == [5] * 4


def test_xdp_tcx_and_tc_sections_on_a_veth(
    veth: Veth, objs: Callable[[str], str], made: list[Link]
) -> None:
    with load(objs, "auto_net") as coll:
        p = coll.programs
        made.append(p["xdp_in"].attach(iface=veth.ifname, mode="generic"))
        made.append(p["tcx_in"].attach(iface=veth.ifname))
        made.append(p["tc_in"].attach(iface=veth.ifindex))
        made.append(p["tcx_out"].attach(iface=veth.ifname))
        made.append(p["tc_out"].attach(iface=veth.ifname))
        made.append(p["tc_bare"].attach(iface=veth.ifname, direction="ingress"))
        infos = [link.info() for link in made]
        assert [(i.type, i.ifindex, i.program_id) for i in infos] == [
            (LinkType.XDP if n == "xdp_in" else LinkType.TCX, veth.ifindex, p[n].id)
            for n in ("xdp_in", "tcx_in", "tc_in", "tcx_out", "tc_out", "tc_bare")
        ]
        assert [i.attach_type for i in infos[1:]] == [
            AttachType.TCX_INGRESS,
            AttachType.TCX_INGRESS,
            AttachType.TCX_EGRESS,
            AttachType.TCX_EGRESS,
            AttachType.TCX_INGRESS,
        ]
        veth.send(10)
        assert wait_for(lambda: [counter(coll, s) for s in (0, 1, 2, 5)] == [10] * 4), [
            counter(coll, s) for s in range(6)
        ]
        assert veth.received() == 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:  # the host namespace
            for _ in range(7):
                out.sendto(b"x" * 32, (PEER_ADDR, PORT))
        assert wait_for(lambda: [counter(coll, s) for s in (3, 4)] == [7, 7])


def test_cgroup_sections_on_a_cgroup(
    cgroup: Cgroup, objs: Callable[[str], str], made: list[Link]
) -> None:
    with load(objs, "auto_cgroup") as coll:
        made.append(coll.programs["skb_out"].attach(cgroup=cgroup.path))
        fd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            made.append(coll.programs["sock_made"].attach(cgroup=fd))
        finally:
            os.close(fd)
        assert [(i.type, i.cgroup_id, i.attach_type) for i in (m.info() for m in made)] == [
            (LinkType.CGROUP, cgroup.id, AttachType.CGROUP_INET_EGRESS),
            (LinkType.CGROUP, cgroup.id, AttachType.CGROUP_INET_SOCK_CREATE),
        ]

        def inside() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(3):
                    s.sendto(b"x", ("127.0.0.1", PORT))

        cgroup.run(inside)
        assert counter(coll, 1) == 1
        assert counter(coll, 0) >= 3
        before = counter(coll, 1)
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()  # not in the cgroup
        assert counter(coll, 1) == before


# ------------------------------------------------------------------ refused


@pytest.fixture
def net(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    with load(objs, "auto_net") as coll:
        yield coll


def _refused(call: Callable[[], object], error: type[Exception], words: str) -> None:
    """``call`` raises ``error`` with exactly ``words``, and no bpf(2) link was made."""
    links = set(support.created_links)
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == words
    assert support.created_links == links


def test_missing_and_unexpected_keywords_name_the_section(net: bpfnest.Collection) -> None:
    p = net.programs
    _refused(
        p["xdp_in"].attach,
        TypeError,
        "attach program 'xdp_in' (section 'xdp', attach_xdp): needs iface=",
    )
    _refused(
        lambda: p["xdp_in"].attach(iface="lo", direction="ingress"),
        TypeError,
        "attach program 'xdp_in' (section 'xdp', attach_xdp): unexpected keyword"
        " direction=; it takes iface=, mode=",
    )
    _refused(
        lambda: p["tc_bare"].attach(iface="lo"),
        TypeError,
        "attach program 'tc_bare' (section 'tc', attach_tcx): needs direction=",
    )
    _refused(
        lambda: p["tcx_in"].attach(iface="lo", direction="egress"),
        TypeError,
        "attach program 'tcx_in' (section 'tcx/ingress', attach_tcx): unexpected keyword"
        " direction=; it takes iface=",
    )
    # The keywords' values are checked by the method called, still before any syscall.
    _refused(
        lambda: p["tc_bare"].attach(iface="lo", direction="up"),
        ValueError,
        "attach_tcx: direction must be 'ingress' or 'egress', got 'up'",
    )


def test_trace_sections_take_no_keyword(objs: Callable[[str], str]) -> None:
    with load(objs, "auto_trace") as coll:
        _refused(
            lambda: coll.programs["raw_short"].attach(iface="lo"),
            TypeError,
            "attach program 'raw_short' (section 'raw_tp/sys_enter', attach_raw_tracepoint):"
            " unexpected keyword iface=; it takes no keywords",
        )


def test_sections_that_cannot_attach_say_what_to_call(objs: Callable[[str], str]) -> None:
    with load(objs, "auto_socket") as coll:
        _refused(
            coll.programs["sock_filter"].attach,
            ValueError,
            "attach program 'sock_filter': section 'socket' cannot be attached by attach();"
            " bpfnest has no attach_* method for SOCKET_FILTER programs",
        )
        with Program.from_id(coll.programs["tp_fine"].id) as by_id:
            assert by_id.section == ""
            _refused(
                by_id.attach,
                ValueError,
                "attach program 'tp_fine': no section name is known (the"
                " program was not loaded from an object here): call its attach_* method instead",
            )
    spec = bpfnest.CollectionSpec.from_file(objs("auto_socket"))
    tp = spec.programs["tp_fine"]
    spec.programs["tp_fine"] = dataclasses.replace(tp, section="tp/syscalls")
    spec.programs["sock_filter"] = dataclasses.replace(
        spec.programs["sock_filter"], section="classifier/x", type=bpfnest.ProgType.SCHED_CLS
    )
    with spec.load() as coll:
        _refused(
            coll.programs["tp_fine"].attach,
            ValueError,
            "attach program 'tp_fine': section 'tp/syscalls' names no tracepoint GROUP/NAME:"
            " call attach_tracepoint(group, name) instead",
        )
        _refused(
            coll.programs["sock_filter"].attach,
            ValueError,
            "attach program 'sock_filter': section 'classifier/x' cannot be attached by"
            " attach(); call attach_tcx(iface, direction) instead",
        )


def test_xdp_devmap_section_goes_into_a_map(objs: Callable[[str], str]) -> None:
    spec = bpfnest.CollectionSpec.from_file(objs("xdp_pass"))
    name = next(iter(spec.programs))
    spec.programs[name] = dataclasses.replace(
        spec.programs[name], section="xdp/devmap", attach_type=AttachType.XDP_DEVMAP
    )
    with spec.load() as coll:
        _refused(
            lambda: coll.programs[name].attach(iface="lo"),
            ValueError,
            f"attach program '{name}': section 'xdp/devmap' cannot be attached by attach();"
            " put it into a DEVMAP entry instead",
        )


# ------------------------------------------------------- probes, tp_btf, iter


def _kprobes_here() -> bool:
    from bpfnest._sys import perf

    return perf.has_pmu("kprobe") or perf.probe_events("kprobe") is not None


@pytest.mark.usefixtures("tracefs")
def test_probe_btf_and_iter_sections(objs: Callable[[str], str], made: list[Link]) -> None:
    machine = os.uname().machine
    if machine not in _GETPGID:
        pytest.skip(f"getpgid syscall number unknown here ({machine})")
    with load(objs, "auto_probes") as coll:
        coll.maps["config"].update(0, os.getpid())
        coll.maps["config"].update(1, _GETPGID[machine])
        progs = coll.programs
        made.append(progs["up"].attach(pid=os.getpid()))
        made.append(progs["urp"].attach())
        made.append(progs["btf_enter"].attach())
        assert [(link.type, link.info().perf_event) for link in made[:2]] == [
            (LinkType.PERF_EVENT, "uprobe"),
            (LinkType.PERF_EVENT, "uretprobe"),
        ]
        for _ in range(5):
            os.getpid()  # glibc's getpid: no cache since 2.25
            os.getpgid(0)
        assert [counter(coll, slot) for slot in (0, 1)] >= [5, 5]
        assert counter(coll, 2) == 5
        with progs["tasks"].attach() as it:
            lines = it.read().decode().splitlines()
        assert len(lines) > 1 and set(lines) == {"task"}  # this process's threads at least
        if _kprobes_here():
            made.extend(progs[n].attach() for n in ("kp", "krp", "ksys", "kretsys"))
            os.getpgid(0)
            assert counter(coll, 4) >= 1
        else:
            for name in ("kp", "krp", "ksys", "kretsys"):
                with pytest.raises(bpfnest.NotSupportedError, match="CONFIG_KPROBES"):
                    progs[name].attach()


def test_probe_sections_that_name_no_target(objs: Callable[[str], str]) -> None:
    spec = bpfnest.CollectionSpec.from_file(objs("auto_probes"))
    for name, section in (("kp", "kprobe/do_sys_openat2+zz"), ("up", "uprobe/getpid")):
        spec.programs[name] = dataclasses.replace(spec.programs[name], section=section)
    with spec.load() as coll:
        _refused(
            coll.programs["kp"].attach,
            ValueError,
            "attach program 'kp': section 'kprobe/do_sys_openat2+zz': offset 'zz' is not a number",
        )
        _refused(
            coll.programs["up"].attach,
            ValueError,
            "attach program 'up': section 'uprobe/getpid' names no PATH:FUNC[+OFFSET]:"
            " call attach_uprobe(path, symbol) instead",
        )
        _refused(
            lambda: coll.programs["urp"].attach(iface="lo"),
            TypeError,
            "attach program 'urp' (section 'uretprobe/libc.so.6:getpid', attach_uprobe):"
            " unexpected keyword iface=; it takes pid=",
        )


def test_usdt_section_on_python(objs: Callable[[str], str], made: list[Link]) -> None:
    # SEC("usdt//usr/bin/python3.11:python:function__entry"), split as libbpf:
    # the last two ':' separate PATH, PROVIDER and NAME; pid and cookie are targets.
    if not python_has_probe("function__entry"):
        support.skip_or_fail("/usr/bin/python3.11 has no python:function__entry USDT probe")
    with load(objs, "usdt_python") as coll:
        child = PythonChild()
        try:
            made.append(coll.programs["auto_entry"].attach(pid=child.pid, cookie=3))
            child.call(4)
            calls = python_calls(coll)
            assert calls.get("bpfnest_traced") == 4
            # every Python function the child entered, each with the link's cookie
            assert int.from_bytes(coll.get_global("cookie_sum"), "little") == 3 * sum(
                calls.values()
            )
        finally:
            child.close()
        made.pop().close()
