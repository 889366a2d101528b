"""Network namespaces held by one fd: made with unshare(2), entered with setns(2).

A namespace made by :func:`new_netns` has no name under ``/run/netns``: it
lives while its :class:`~bpfnest._sys.fd.FD` (or a process, socket or device
inside it) holds it, so closing the fd, or the process ending in any way,
removes it and every device in it. :func:`entered` runs a block with the
calling *thread* inside a namespace (other threads stay where they are); a
child process started in the block starts there too. ``bpfnest demo`` uses
these for its veth pair.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

from .fd import FD, new_fd

__all__ = ["CLONE_NEWNET", "entered", "new_netns"]

CLONE_NEWNET = 0x40000000
_SELF = b"/proc/thread-self/ns/net"
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: int) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _own() -> FD:
    """An fd of the calling thread's network namespace."""
    return new_fd("open", ctypes.c_char_p(_SELF), os.O_RDONLY | os.O_CLOEXEC)


def new_netns() -> FD:
    """A new, empty network namespace (only ``lo``, down), held by the returned
    FD; the calling thread stays in its own. The caller closes the FD; the
    kernel removes the namespace once nothing holds it.

    Raises:
        OSError: ``EPERM`` without CAP_SYS_ADMIN; ``ENOENT`` without /proc.
    """
    with _own() as home:
        _call("unshare", CLONE_NEWNET)
        try:
            return _own()
        finally:
            _call("setns", home.raw, CLONE_NEWNET)


@contextlib.contextmanager
def entered(ns: FD) -> Iterator[None]:
    """Run the block with the calling thread inside namespace ``ns``; back after.

    Raises:
        OSError: from setns(2) (``EPERM`` without CAP_SYS_ADMIN).
    """
    with _own() as home:
        _call("setns", ns.raw, CLONE_NEWNET)
        try:
            yield
        finally:
            _call("setns", home.raw, CLONE_NEWNET)
