"""A throw-away network for the examples: network namespaces, veth pairs, UDP.

``with Lab() as lab:`` gives namespaces (``lab.netns("fwd")``) that have no
name in ``/run/netns``: each one lives only while this process holds its fd,
so when the ``with`` block ends, or the process dies in any way (even
``SIGKILL``), the kernel removes them and every device in them. Nothing is
ever created in the namespace the script started in, and addresses such as
10.200.1.1/30 exist only inside the lab.

- ``lab.netns(name)`` makes a namespace (``unshare(CLONE_NEWNET)``) with
  ``lo`` up and IPv6 off (no router solicitations: the only traffic is what
  the script sends); ``ns.entered()`` runs a block with this thread inside it (a BPF
  link made by ifindex, a socket or an ``ifindex()`` refers to that
  namespace), ``ns.ip(...)`` runs iproute2's ``ip`` there.
- ``lab.veth(ns_a, "a0", ns_b, "b0")`` joins two namespaces with a veth
  pair, both ends up; ``address()`` and ``neighbour()`` give an end an IPv4
  address and a static neighbour entry (no ARP: every datagram sent is one
  frame on the wire).
- ``ns.udp_socket()`` is a UDP socket of that namespace, closed with the lab.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and ``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from types import FrameType

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def ip_command() -> str | None:
    """Where iproute2's ``ip`` is (the sbin directories included), or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=search)


class Netns:
    """A network namespace of a :class:`Lab`, alive while the lab holds its fd."""

    def __init__(self, lab: Lab, name: str, fd: int) -> None:
        self.lab, self.name, self.fd = lab, name, fd
        self.inode = os.fstat(fd).st_ino

    @property
    def path(self) -> str:
        """A path naming this namespace, for ``ip ... netns PATH``."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the block with this thread inside the namespace."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _check(_libc.setns(self.fd, CLONE_NEWNET), f"setns into {self.name}")
            try:
                yield
            finally:
                _check(_libc.setns(home, CLONE_NEWNET), "setns back")
        finally:
            os.close(home)

    def ip(self, *args: str) -> str:
        """Run ``ip ARGS`` inside the namespace; its stdout (raises with its stderr)."""
        with self.entered():
            proc = subprocess.run(
                [self.lab.ip_path, *args],
                capture_output=True,
                text=True,
            )
        if proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} in {self.name}: {proc.stderr.strip()}")
        return proc.stdout

    def ifindex(self, ifname: str) -> int:
        """The ifindex of ``ifname`` in this namespace."""
        with self.entered():
            return socket.if_nametoindex(ifname)

    def mac(self, ifname: str) -> str:
        """The MAC address of ``ifname``."""
        words = self.ip("-o", "link", "show", "dev", ifname).split()
        return words[words.index("link/ether") + 1]

    def address(self, ifname: str, cidr: str) -> None:
        """Give ``ifname`` the address ``cidr`` (e.g. ``10.200.1.1/30``)."""
        self.ip("addr", "add", cidr, "dev", ifname)

    def neighbour(self, ifname: str, addr: str, mac: str) -> None:
        """A permanent neighbour entry: ``addr`` is at ``mac`` on ``ifname``."""
        self.ip("neigh", "replace", addr, "lladdr", mac, "dev", ifname, "nud", "permanent")

    def udp_socket(self, bind: tuple[str, int] | None = None) -> socket.socket:
        """A UDP socket of this namespace (non-blocking if bound), closed with the lab."""
        with self.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.lab.stack.callback(sock.close)
        if bind is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind(bind)
            sock.setblocking(False)
        return sock


def drain(sock: socket.socket) -> int:
    """Read every datagram waiting on ``sock`` (non-blocking); how many there were."""
    got = 0
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return got
        got += 1


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the with blocks: links closed first


class Lab(contextlib.AbstractContextManager["Lab"]):
    """Namespaces, veth pairs and sockets, all gone when the ``with`` block ends.

    Raises:
        RuntimeError: ``ip`` is not installed.
    """

    def __init__(self) -> None:
        path = ip_command()
        if path is None:
            raise RuntimeError("iproute2's ip is not installed (apt-get install iproute2)")
        self.ip_path = path
        self.stack = contextlib.ExitStack()
        self.namespaces: list[Netns] = []

    def __enter__(self) -> Lab:
        # SIGTERM unwinds like Ctrl-C, so that links close before the namespaces go.
        old = signal.signal(signal.SIGTERM, _terminate)
        self.stack.callback(signal.signal, signal.SIGTERM, old)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()
        held = _held_namespaces()
        left = [ns.name for ns in self.namespaces if ns.inode in held]
        assert not left, f"namespaces still held by this process: {left}"

    def netns(self, name: str) -> Netns:
        """A new network namespace with ``lo`` up; removed with the lab."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            finally:
                _check(_libc.setns(home, CLONE_NEWNET), "setns back")
        finally:
            os.close(home)
        self.stack.callback(os.close, fd)  # the last reference: the kernel removes it
        ns = Netns(self, name, fd)
        self.namespaces.append(ns)
        ns.ip("link", "set", "dev", "lo", "up")
        with ns.entered():  # /proc/sys/net shows the namespace of the reading thread
            for conf in ("all", "default"):
                path = f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"
                if os.path.exists(path):  # absent on a kernel without IPv6
                    with open(path, "w") as f:
                        f.write("1")
        return ns

    def veth(self, ns_a: Netns, name_a: str, ns_b: Netns, name_b: str) -> None:
        """A veth pair, ``name_a`` in ``ns_a`` and ``name_b`` in ``ns_b``, both up."""
        ns_a.ip("link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b.path)
        ns_a.ip("link", "set", "dev", name_a, "up")
        ns_b.ip("link", "set", "dev", name_b, "up")


def _held_namespaces() -> set[int]:
    """The inodes of the network namespaces this process holds an fd of."""
    held = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own fd, gone already
        if target.startswith("net:["):
            held.add(int(target[5:-1]))
    return held
