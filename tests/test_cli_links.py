"""``bpfnest link list|show``, the links of ``prog show``, and ``load --attach``
(issue 14, item 9), on real links.

``link`` output is compared with ``bpftool -j link`` on the same links (key
names, order and values, for what the installed bpftool knows), and its text
with ``bpftool link``. ``load --attach`` runs in-process (``--pin``: the links
stay after it returns) and as a process in the veth fixture's namespace
(``nsenter``: ``ip -n`` would not see the host's bpffs) that is stopped by a
signal, after which its links must be gone. Failures leave nothing attached
and nothing pinned.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from test_cli import bpftool
from test_perf import tracefs  # noqa: F401  (mounts tracefs when it is not)

import bpfnest
from bpfnest import Link, LinkType, Map, MapSpec, MapType, Program
from bpfnest.cli import main

from netns import Cgroup, Veth, ip, wait_for
from netns import link_ids as all_link_ids
from support import skip_or_fail

pytestmark = pytest.mark.usefixtures("kernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Objs = Callable[[str], str]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out)
    return code, out.getvalue(), capsys.readouterr().err


def shown(argv: list[str]) -> object:
    out = io.StringIO()
    assert main(argv, out) == 0
    return json.loads(out.getvalue())


@pytest.fixture
def made() -> Iterator[list[Link]]:
    """Links a test makes: closed at the end, and their ids must be gone."""
    links: list[Link] = []
    yield links
    ids = {link.id for link in links}
    for link in links:
        link.close()
    assert wait_for(lambda: not (ids & all_link_ids())), ids & all_link_ids()


def bpftool_text(*args: str) -> list[str]:
    res = subprocess.run(["bpftool", *args], capture_output=True, text=True, check=True)
    return [line.rstrip() for line in res.stdout.splitlines()]


# ------------------------------------------------------------ link list|show


@pytest.mark.usefixtures("tracefs")
def test_link_show_and_list_match_bpftool(
    veth: Veth, cgroup: Cgroup, objs: Objs, bpffs: str, made: list[Link]
) -> None:
    load = bpfnest.CollectionSpec.from_file
    with (
        load(objs("trace_count")).load() as trace,
        load(objs("cgroup_count")).load() as cg,
        load(objs("auto_iface")).load() as net,
    ):
        made.append(trace.programs["tp_getpgid"].attach())
        made.append(trace.programs["raw_sys_enter"].attach())
        made.append(cg.programs["count_pass"].attach(cgroup=cgroup.path))
        made.append(net.programs["xdp_seen"].attach(iface=veth.ifname))
        made.append(net.programs["tcx_seen"].attach(iface=veth.ifname))
        tp, raw, cgl, xdp, tcx = made
        pin = os.path.join(bpffs, "raw_link")
        raw.pin(pin)
        listed = {row["id"]: row for row in shown(["link", "list", "--json"])}  # type: ignore[union-attr]
        for link in made:
            ours = shown(["link", "show", str(link.id), "--json"])
            assert isinstance(ours, dict)
            theirs = bpftool("link", "show", "id", str(link.id))
            assert isinstance(theirs, dict)
            keys = [k for k in theirs if k not in ("pids", "pinned")]
            assert list(ours)[: len(keys)] == keys
            for key in keys:
                if key == "type" and isinstance(theirs[key], int):  # a type newer than its libbpf
                    assert ours[key] == LinkType(theirs[key]).name.lower()
                else:
                    assert ours[key] == theirs[key], key
            assert listed[link.id] == ours
        # The fields of kinds the installed bpftool leaves out, under newer bpftool's names.
        assert shown(["link", "show", str(tp.id), "--json"]) == {
            "id": tp.id,
            "type": "perf_event",
            "prog_id": trace.programs["tp_getpgid"].id,
            "tracepoint": "sys_enter_getpgid",
        }
        assert shown(["link", "show", "id", str(tcx.id), "--json"]) == {
            "id": tcx.id,
            "type": "tcx",
            "prog_id": net.programs["tcx_seen"].id,
            "devname": veth.ifname,
            "ifindex": veth.ifindex,
            "attach_type": "tcx_ingress",
        }
        xdp_row = shown(["link", "show", str(xdp.id), "--json"])
        assert isinstance(xdp_row, dict)
        assert (xdp_row["devname"], xdp_row["ifindex"]) == (veth.ifname, veth.ifindex)
        # Pins: as bpftool -f shows them.
        raw_row = shown(["link", "show", "pinned", pin, "--json"])
        assert isinstance(raw_row, dict)
        theirs = bpftool("-f", "link", "show", "id", str(raw.id))
        assert isinstance(theirs, dict)
        assert raw_row["pinned"] == theirs["pinned"] == [pin]
        # Text: bpftool's lines where it shows the type in full, its first line elsewhere.
        for link in made:
            out = io.StringIO()
            assert main(["link", "show", str(link.id)], out) == 0
            ours_text = [x for x in out.getvalue().splitlines() if not x.startswith("\tpinned")]
            theirs_text = bpftool_text("link", "show", "id", str(link.id))
            if link in (raw, cgl):
                assert ours_text == theirs_text
            elif link is tcx:
                assert ours_text == [
                    f"{tcx.id}: tcx  prog {tcx.program_id}",
                    f"\tifindex {veth.ifname}({veth.ifindex})  attach_type tcx_ingress",
                ]
            else:
                assert ours_text[0] == theirs_text[0]
        out = io.StringIO()
        assert main(["link", "show", str(raw.id)], out) == 0
        assert out.getvalue().splitlines()[-1] == f"\tpinned {pin}"
        os.unlink(pin)


def test_link_show_refuses_what_is_not_a_link(
    bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="not_link")) as m:
        m.pin(os.path.join(bpffs, "m"))
    code, _, err = run(["link", "show", "pinned", os.path.join(bpffs, "m")], capsys)
    assert (code, err) == (
        1,
        f"bpfnest: open pinned '{bpffs}/m': not a link (it is anon_inode:bpf-map)\n",
    )
    code, _, err = run(["link", "show", "name", "x"], capsys)
    assert code == 2 and "name a link as ID, id ID or pinned PATH" in err
    code, _, err = run(["link", "show", "4294967295"], capsys)
    assert code == 1 and err.startswith("bpfnest: open link id 4294967295: ")


@pytest.mark.parametrize("retprobe", [False, True])
def test_link_show_of_an_uprobe(objs: Objs, retprobe: bool) -> None:
    from test_perf import libc_path

    from bpfnest._sys import link_ops, perf
    from bpfnest._uprobe import symbol_offset
    from bpfnest.constants import AttachType

    path = libc_path()
    with (
        bpfnest.CollectionSpec.from_file(objs("trace_count")).load() as coll,
        perf.probe_open(
            "uprobe", path, symbol_offset(path, "getpid"), retprobe=retprobe, pid=os.getpid()
        ) as event,
    ):
        prog = coll.programs["uprobe_hit"]
        with link_ops.link_create(prog.fd, event.raw, AttachType.PERF_EVENT) as fd:
            link_id = int(link_ops.link_info(fd.raw).info.id)
            row = shown(["link", "show", str(link_id), "--json"])
            assert isinstance(row, dict)
            assert os.path.realpath(row.pop("file")) == os.path.realpath(path)
            assert row == {
                "id": link_id,
                "type": "perf_event",
                "prog_id": prog.id,
                "retprobe": retprobe,
            }
            out = io.StringIO()
            assert main(["link", "show", str(link_id)], out) == 0
            kind = "uretprobe" if retprobe else "uprobe"
            assert out.getvalue().splitlines()[1].startswith(f"\t{kind} /")


@pytest.mark.usefixtures("tracefs")
def test_prog_show_lists_its_links(objs: Objs, bpffs: str, made: list[Link]) -> None:
    with bpfnest.CollectionSpec.from_file(objs("trace_count")).load() as coll:
        tp, raw = coll.programs["tp_getpgid"], coll.programs["raw_sys_enter"]
        made.append(tp.attach())
        made.append(tp.attach_tracepoint("syscalls", "sys_exit_getpgid"))  # one program, two links
        ids = sorted(link.id for link in made)
        pin = os.path.join(bpffs, "tp")
        tp.pin(pin)
        for how in ([str(tp.id)], ["pinned", pin]):
            row = shown(["prog", "show", *how, "--json"])
            assert isinstance(row, dict) and row["link_ids"] == ids
        out = io.StringIO()
        assert main(["prog", "show", str(tp.id)], out) == 0
        assert out.getvalue().rstrip().endswith(f"  link_ids {ids[0]},{ids[1]}")
        assert shown(["prog", "show", str(raw.id), "--json"])["link_ids"] == []  # type: ignore[index]
        rows = {r["id"]: r for r in shown(["prog", "list", "--json"])}  # type: ignore[union-attr]
        assert (rows[tp.id]["link_ids"], rows[raw.id]["link_ids"]) == (ids, [])
        os.unlink(pin)


# ------------------------------------------------------------ load --attach


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> list[str]:
    """Lines of ``proc``'s stdout up to the one holding ``marker`` (read from
    the pipe unbuffered: nothing after that line is taken)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while marker.encode() not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError(f"no {marker!r} from the command; got {data!r}")
            chunk = os.read(fd, 1)
            if not chunk:
                stderr = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"the command ended: {data!r} {stderr}")
            data += chunk
    while not data.endswith(b"\n"):
        data += os.read(fd, 1)
    return data.decode().splitlines()


def _ids(lines: list[str], what: str) -> dict[str, int]:
    """``{name: id}`` of the ``map NAME: TYPE id N`` (or link, program) lines."""
    found = {}
    for line in lines:
        if line.startswith(what + " "):
            head, _, rest = line.partition(": ")
            found[head.split()[1]] = int(rest.split(" id ")[1].split()[0])
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_load_attach_holds_links_until_a_signal(
    stop: signal.Signals, veth: Veth, objs: Objs
) -> None:
    if shutil.which("nsenter") is None:
        skip_or_fail("nsenter is not installed (apt-get install util-linux)")
    command = [
        "nsenter",
        f"--net=/run/netns/{veth.host_ns}",
        sys.executable,
        "-m",
        "bpfnest",
        "load",
        objs("auto_iface"),
        "--attach",
        "--iface",
        veth.ifname,
    ]
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        lines = _read_until(proc, "waiting for SIGINT or SIGTERM")
        assert lines[-1] == (
            "not pinned: the links detach when this command exits;"
            " waiting for SIGINT or SIGTERM (Ctrl-C)"
        )
        links, maps = _ids(lines, "link"), _ids(lines, "map")
        assert set(links) == {"xdp_seen", "tcx_seen"}
        assert set(links.values()) <= all_link_ids()
        with Link.from_id(links["xdp_seen"]) as xdp, Link.from_id(links["tcx_seen"]) as tcx:
            assert (xdp.type, xdp.info().ifindex) == (LinkType.XDP, veth.ifindex)
            assert (tcx.type, tcx.info().ifindex) == (LinkType.TCX, veth.ifindex)
        with Map.from_id(maps["counts"]) as counts:
            veth.send(5)
            assert wait_for(
                lambda: [counts.lookup(s) for s in (0, 1)] == [(5).to_bytes(8, "little")] * 2
            )
            assert veth.received() == 5
            proc.send_signal(stop)
            out, err = proc.communicate(timeout=20)
            assert (proc.returncode, err) == (0, "")
            assert out == f"{stop.name}: detaching 2 links\n"
            assert wait_for(lambda: not (set(links.values()) & all_link_ids()))
            veth.send(3)  # the programs are gone: nothing counts
            assert veth.received() == 3
            assert [counts.lookup(s) for s in (0, 1)] == [(5).to_bytes(8, "little")] * 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_load_attach_pin_keeps_the_links(
    veth: Veth, objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    top = os.path.join(bpffs, "net")
    code, out, err = run(
        ["load", objs("auto_iface"), "--attach", "--iface", veth.ifname, "--pin", top], capsys
    )
    assert (code, err) == (0, "")
    paths = [line.removeprefix("pinned ") for line in out.splitlines() if line.startswith("pinned")]
    assert paths[-2:] == [f"{top}/links/xdp_seen", f"{top}/links/tcx_seen"]
    assert "not pinned" not in out
    ids = set(_ids(out.splitlines(), "link").values())
    try:
        for name in ("xdp_seen", "tcx_seen"):
            with (
                Link.from_pinned(f"{top}/links/{name}") as link,
                Program.from_pinned(f"{top}/progs/{name}") as prog,
            ):
                assert (link.program_id, link.info().ifindex) == (prog.id, veth.ifindex)
                row = shown(["link", "show", str(link.id), "--json"])
                assert isinstance(row, dict) and row["pinned"] == [f"{top}/links/{name}"]
        veth.send(4)
        with Map.from_pinned(f"{top}/maps/counts") as counts:
            assert wait_for(lambda: counts.lookup(1) == (4).to_bytes(8, "little"))
            assert counts.lookup(0) == (4).to_bytes(8, "little")
    finally:
        shutil.rmtree(top)
    assert wait_for(lambda: not (ids & all_link_ids()))


def test_load_attach_cgroup_pinned(
    cgroup: Cgroup, objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    top = os.path.join(bpffs, "cg")
    code, out, err = run(
        ["load", objs("auto_cgroup"), "--attach", "--cgroup", cgroup.path, "--pin", top], capsys
    )
    assert (code, err) == (0, "")
    ids = set(_ids(out.splitlines(), "link").values())
    try:
        with Link.from_pinned(f"{top}/links/sock_made") as link:
            assert (link.type, link.info().cgroup_id) == (LinkType.CGROUP, cgroup.id)
        cgroup.run(lambda: __import__("socket").socket().close())
        with Map.from_pinned(f"{top}/maps/counts") as counts:
            assert counts.lookup(1) == (1).to_bytes(8, "little")
    finally:
        shutil.rmtree(top)
    assert wait_for(lambda: not (ids & all_link_ids()))


# ------------------------------------------------------------ all or nothing


def _nothing_left(before: set[int], bpffs: str) -> None:
    assert wait_for(lambda: all_link_ids() <= before), all_link_ids() - before
    assert os.listdir(bpffs) == []


@pytest.mark.usefixtures("tracefs")
def test_load_attach_refuses_before_attaching(
    veth: Veth, objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    top = os.path.join(bpffs, "d")
    before = all_link_ids()
    code, out, err = run(["load", objs("auto_socket"), "--attach", "--pin", top], capsys)
    assert (code, out) == (1, "")
    assert err == (
        "bpfnest: attach program 'sock_filter': section 'socket' cannot be attached by"
        " attach(); bpfnest has no attach_* method for SOCKET_FILTER programs\n"
    )
    _nothing_left(before, bpffs)
    code, out, err = run(["load", objs("auto_net"), "--attach"], capsys)
    assert (code, out) == (2, "")
    assert err == "bpfnest: program 'xdp_in' (section 'xdp', attach_xdp) needs --iface NAME\n"
    code, out, err = run(["load", objs("auto_net"), "--attach", "--iface", veth.ifname], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("bpfnest: program 'tc_bare' (section 'tc', attach_tcx) needs a direction")
    _nothing_left(before, bpffs)
    assert "xdp" not in ip("-d", "link", "show", "dev", veth.ifname)
    code, out, err = run(["load", objs("auto_trace"), "--iface", "lo"], capsys)
    assert (code, err) == (
        2,
        "bpfnest: --iface and --cgroup are the targets of --attach: add --attach\n",
    )


@pytest.mark.usefixtures("tracefs")
def test_load_attach_undoes_a_failure_half_way(
    veth: Veth, objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    top = os.path.join(bpffs, "d")
    before = all_link_ids()
    # The second tracepoint does not exist: the first link is closed again.
    code, out, err = run(["load", objs("auto_partial"), "--attach", "--pin", top], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(
        "bpfnest: attach program 'tp_missing' to tracepoint syscalls/sys_enter_bpfnest_none: "
    ), err
    _nothing_left(before, bpffs)
    # Two XDP programs for one interface: the second is refused (EBUSY).
    code, out, err = run(
        ["load", objs("xdp_count"), "--attach", "--iface", veth.ifname, "--pin", top], capsys
    )
    assert (code, out) == (1, "")
    assert "attach program 'count_drop' to XDP of interface" in err and "busy" in err
    _nothing_left(before, bpffs)
    veth.send(3)
    assert veth.received() == 3


@pytest.mark.usefixtures("tracefs")
def test_load_attach_undoes_a_link_pin_that_fails(
    objs: Objs, bpffs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    top = os.path.join(bpffs, "d")
    os.makedirs(os.path.join(top, "links"))
    squatter = os.path.join(top, "links", "raw_long")
    with Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="squatter")) as m:
        m.pin(squatter)
        before = all_link_ids()
        code, out, err = run(["load", objs("auto_trace"), "--attach", "--pin", top], capsys)
        assert (code, out) == (1, "")
        assert "raw_long" in err and "File exists" in err, err
        assert wait_for(lambda: all_link_ids() <= before), all_link_ids() - before
        left = sorted(os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs)
        assert left == [squatter]  # what was there stays; all that was made is gone
        with Map.from_pinned(squatter) as again:
            assert again.id == m.id
