"""``bpfnest demo``'s XDP part: a veth pair in a network namespace of its own,
frames counted through an outer map, the inner map swapped under traffic,
everything removed; one line instead where it cannot run. And the
``_sys.netns`` helpers it stands on. (The map-in-map part's output is tested
in test_cli.py.)"""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest

from bpfnest import demo
from bpfnest._sys import netns

pytestmark = pytest.mark.usefixtures("kernel")


def my_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def held_netns() -> set[str]:
    """The network namespaces this process holds an fd of."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("net:["):
            found.add(target)
    return found


def test_xdp_on_veth_counts_frames_through_the_outer_map_and_removes_everything() -> None:
    home, held = my_netns(), held_netns()
    out = io.StringIO()
    assert demo.xdp_on_veth(out) is True
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("attached XDP program 'demo_count' to demo0")
    assert lines[1:3] == [
        "  sent 3 frames: outer[0] -> frames_a counts 3",
        "  swapped outer[0] to frames_b, sent 5: frames_b counts 5, frames_a stays 3",
    ]
    assert lines[3].startswith("closed the link, the 3 maps and the namespace with its veth pair")
    # Back in our own namespace, holding no namespace fd; its veths are not here.
    assert my_netns() == home and held_netns() == held
    assert "demo0" not in {name for _, name in socket.if_nameindex()}
    # (The maps and the link are gone: xdp_on_veth checks it, and so does leak_guard.)


def test_the_demo_ends_with_the_xdp_part() -> None:
    from bpfnest.cli import main

    out = io.StringIO()
    assert main(["demo"], out) == 0
    text = out.getvalue()
    first, _, rest = text.partition("all 4 maps the demo made are gone")
    assert first and "frames_b counts 5, frames_a stays 3" in rest


@pytest.mark.parametrize(
    ("patch", "line"),
    [
        ("geteuid", "XDP on a veth pair: skipped (needs root)\n"),
        ("no_ip", "XDP on a veth pair: skipped (iproute2's ip is not installed)\n"),
        ("no_netns", "XDP on a veth pair: skipped (cannot make a network namespace: denied)\n"),
    ],
)
def test_where_it_cannot_run_it_says_why_in_one_line(
    patch: str, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> netns.FD:
        raise PermissionError(1, "denied")

    if patch == "geteuid":
        monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    elif patch == "no_ip":
        monkeypatch.setattr(demo, "_ip_command", lambda: None)
    else:
        monkeypatch.setattr(demo.netns, "new_netns", refuse)
    held = held_netns()
    out = io.StringIO()
    assert demo.xdp_on_veth(out) is False
    assert out.getvalue() == line
    assert held_netns() == held


def test_new_netns_is_empty_entered_by_this_thread_only_and_gone_with_its_fd() -> None:
    home = my_netns()
    with netns.new_netns() as ns:
        assert my_netns() == home  # made, not entered
        inside = f"net:[{os.fstat(ns.raw).st_ino}]"
        seen: list[str] = []
        look = threading.Event()

        def watch() -> None:
            look.wait(10)
            seen.append(my_netns())

        other = threading.Thread(target=watch)
        other.start()
        with netns.entered(ns):
            assert my_netns() == inside
            assert [name for _, name in socket.if_nameindex()] == ["lo"]
            look.set()
            other.join()
        assert seen == [home]  # a thread started before stays where it was
        assert my_netns() == home
        assert inside in held_netns()
    assert inside not in held_netns()


def test_entered_a_closed_fd_changes_nothing() -> None:
    ns = netns.new_netns()
    ns.close()
    home = my_netns()
    with pytest.raises(ValueError), netns.entered(ns):
        pass
    assert my_netns() == home
