"""Fixtures for attach tests: a veth pair across two network namespaces, and a
child cgroup2 directory. Both always remove what they made, also on failure.

``veth``: two namespaces made with ``ip netns add`` (unique names), a veth
pair between them (``veth0`` in the *host* namespace, ``veth1`` in the *peer*
namespace), addresses 10.200.0.1/30 and 10.200.0.2/30 only inside them, static
neighbour entries (no ARP, so every packet sent is a packet on the wire). The
test runs with its thread inside the host namespace: an ifindex, a BPF link
created by ifindex, a netlink socket all refer to it. ``veth.send(n)`` sends
``n`` UDP datagrams from the peer namespace to 10.200.0.1:9999 (a socket made
inside the peer namespace); ``veth.received()`` drains the host-side socket
bound to that port and says how many arrived. At the end the thread goes
back to its own namespace and both namespaces are deleted (the veth with
them); the fixture then checks ``ip netns list`` no longer shows them.

``cgroup``: a fresh directory under the cgroup2 mount found in /proc/mounts;
``cgroup.run(func)`` forks a child, moves it into the cgroup (cgroup.procs)
and runs ``func`` there. The directory is removed at the end (after any child
has exited).

Helpers for the attach tests: :func:`wait_for`, :func:`link_ids` (every
link id in the system), :func:`closed_and_gone` (close a link fd and wait for
its id to disappear), :func:`counter` (a slot of a program's ``counts`` map).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import socket
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

import bpfnest
from bpfnest._sys import link_ops
from bpfnest._sys.fd import FD

from support import skip_or_fail

CLONE_NEWNET = 0x40000000
HOST_ADDR = "10.200.0.1"
PEER_ADDR = "10.200.0.2"
PORT = 9999
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``pred`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def link_ids() -> set[int]:
    """Every BPF link id in the system."""
    ids: set[int] = set()
    cur = 0
    while (nxt := link_ops.link_get_next_id(cur)) is not None:
        ids.add(nxt)
        cur = nxt
    return ids


def link_id(fd: FD) -> int:
    """The id of the link ``fd``."""
    return int(link_ops.link_info(fd.raw).info.id)


def closed_and_gone(fd: FD) -> bool:
    """Close link ``fd``; True once the kernel has forgotten the link."""
    lid = link_id(fd)
    fd.close()
    return wait_for(lambda: lid not in link_ids())


def counter(coll: bpfnest.Collection, slot: int) -> int:
    """Slot ``slot`` of the collection's ``counts`` map (u64)."""
    raw = coll.maps["counts"].lookup(slot)
    assert raw is not None
    return int.from_bytes(raw, "little")


# getpgid's syscall number, for the raw_tp program's filter.
_GETPGID = {"x86_64": 121, "aarch64": 155, "riscv64": 155, "loongarch64": 155}


@contextlib.contextmanager
def trace_counts(objs: Callable[[str], str]) -> Iterator[bpfnest.Collection]:
    """tests/bpf/trace_count.c loaded, counting this process's calls."""
    machine = os.uname().machine
    if machine not in _GETPGID:
        pytest.skip(f"getpgid syscall number unknown here ({machine})")
    with bpfnest.CollectionSpec.from_file(objs("trace_count")).load() as coll:
        coll.maps["config"].update(0, os.getpid())
        coll.maps["config"].update(1, _GETPGID[machine])
        yield coll


def setns(fd: int, nstype: int) -> None:
    """setns(2) for the calling thread (os.setns is Python 3.12+)."""
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def ip_command() -> str | None:
    """Where iproute2's ``ip`` is (also looking in the sbin directories)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=search)


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip ARGS``; return its stdout; raise with its stderr when it fails."""
    command = ip_command() or "ip"
    proc = subprocess.run([command, *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def netns_names() -> set[str]:
    """The names ``ip netns list`` shows."""
    return {line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()}


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the block with this thread inside network namespace ``ns``."""
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{ns}", "rb") as target:
        setns(target.fileno(), CLONE_NEWNET)
        try:
            yield
        finally:
            setns(home.fileno(), CLONE_NEWNET)


@dataclass
class Veth:
    """A veth pair between two network namespaces (see the module docstring)."""

    host_ns: str
    peer_ns: str
    ifname: str = "veth0"
    peer_ifname: str = "veth1"
    _tx: socket.socket | None = field(default=None, repr=False)
    _rx: socket.socket | None = field(default=None, repr=False)

    @property
    def ifindex(self) -> int:
        """Index of ``veth0`` in the host namespace (where the test runs)."""
        return socket.if_nametoindex(self.ifname)

    def peer(self) -> contextlib.AbstractContextManager[None]:
        """The block runs inside the peer namespace (e.g. to attach to ``veth1``)."""
        return entered(self.peer_ns)

    def send(self, count: int, port: int = PORT) -> None:
        """Send ``count`` 32-byte UDP datagrams from the peer to HOST_ADDR:port."""
        assert self._tx is not None and 0 < count <= 1000
        for i in range(count):
            self._tx.sendto(i.to_bytes(4, "little") * 8, (HOST_ADDR, port))

    def received(self, settle: float = 0.05) -> int:
        """Drain the host-side socket on PORT: how many datagrams arrived."""
        assert self._rx is not None
        got = 0
        deadline = time.monotonic() + settle
        while True:
            try:
                self._rx.recv(64)
                got += 1
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return got
                time.sleep(0.005)

    def close(self) -> None:
        for sock in (self._tx, self._rx):
            if sock is not None:
                sock.close()
        self._tx = self._rx = None


def _mac(ns: str, ifname: str) -> str:
    out = ip("-n", ns, "-o", "link", "show", "dev", ifname)
    words = out.split()
    return words[words.index("link/ether") + 1]


@pytest.fixture
def veth(kernel: None) -> Iterator[Veth]:
    """Two fresh network namespaces joined by a veth pair; the test runs in the
    host one. Everything is removed at the end, also when the set-up fails."""
    if ip_command() is None:
        skip_or_fail("iproute2 (ip) is not installed (apt-get install iproute2)")
    tag = f"bn{os.getpid()}x{next(_counter)}"
    pair = Veth(f"{tag}h", f"{tag}p")
    made: list[str] = []
    try:
        for ns in (pair.host_ns, pair.peer_ns):
            ip("netns", "add", ns)
            made.append(ns)
        ip(
            "link", "add", pair.ifname, "netns", pair.host_ns, "type", "veth",
            "peer", "name", pair.peer_ifname, "netns", pair.peer_ns,
        )  # fmt: skip
        for ns, dev, addr in (
            (pair.host_ns, pair.ifname, HOST_ADDR),
            (pair.peer_ns, pair.peer_ifname, PEER_ADDR),
        ):
            ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", ns, "link", "set", "dev", dev, "up")
            ip("-n", ns, "link", "set", "dev", "lo", "up")
        for ns, dev, addr, other_ns, other_dev in (
            (pair.host_ns, pair.ifname, PEER_ADDR, pair.peer_ns, pair.peer_ifname),
            (pair.peer_ns, pair.peer_ifname, HOST_ADDR, pair.host_ns, pair.ifname),
        ):
            mac = _mac(other_ns, other_dev)
            ip("-n", ns, "neigh", "replace", addr, "lladdr", mac, "dev", dev, "nud", "permanent")
        with entered(pair.peer_ns):
            pair._tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with entered(pair.host_ns):
            pair._rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            pair._rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            pair._rx.bind((HOST_ADDR, PORT))
            pair._rx.setblocking(False)
        with entered(pair.host_ns):
            yield pair
    finally:
        pair.close()
        for ns in made:
            ip("netns", "del", ns, check=False)
        left = netns_names() & set(made)
        assert not left, f"network namespaces left behind: {sorted(left)}"


# ------------------------------------------------------------------ cgroup2


def cgroup2_mount() -> str | None:
    """Where cgroup2 is mounted, from /proc/mounts (None when it is not)."""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "cgroup2":
                return parts[1].replace("\\040", " ")
    return None


@dataclass
class Cgroup:
    """A fresh child cgroup2 directory (see the module docstring)."""

    path: str

    @property
    def id(self) -> int:
        """The cgroup id the kernel reports (the directory's inode number)."""
        return os.stat(self.path).st_ino

    def run(self, func: Callable[[], None], timeout: float = 10.0) -> None:
        """Fork a child, move it into this cgroup, run ``func`` there; wait for it.

        Raises AssertionError when the child fails (its exit status is non-zero).
        """
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            status = 1
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write("0")
                func()
                status = 0
            except BaseException:
                traceback.print_exc()  # pytest shows the child's stderr with the failure
            finally:
                os._exit(status)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError(f"child in {self.path} did not finish in {timeout} s")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0, f"child in {self.path} failed"


@pytest.fixture
def cgroup(kernel: None) -> Iterator[Cgroup]:
    """A fresh child cgroup2 directory, removed at the end."""
    mount = cgroup2_mount()
    if mount is None:
        skip_or_fail("cgroup2 is not mounted (mount -t cgroup2 none /sys/fs/cgroup)")
    path = os.path.join(mount, f"bpfnest-test-{os.getpid()}-{next(_counter)}")
    os.mkdir(path)
    try:
        yield Cgroup(path)
    finally:
        # A cgroup is removable once no process is in it; children of run()
        # have been waited for, so this only retries while the kernel catches up.
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        assert not os.path.exists(path), f"cgroup left behind: {path}"
