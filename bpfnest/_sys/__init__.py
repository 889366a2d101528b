"""The kernel boundary: the one place that calls bpf(2).

``bpf(cmd, attr)`` passes a ctypes structure from :mod:`bpfnest._sys.uapi` to
the syscall and returns its result. Failures raise plain :class:`OSError`
with the kernel's errno; turning them into :class:`bpfnest.BPFError` with a
useful message is the job of the callers (maps, programs, collection).
``BPF_PROG_LOAD`` is retried on ``EAGAIN`` as libbpf does. Every call is
traced on the ``bpfnest.sys`` logger at DEBUG. Commands that create a file
descriptor go through :func:`bpf_fd`, which returns it owned by an
:class:`~bpfnest._sys.fd.FD` made in the same step (safe against a
``KeyboardInterrupt`` arriving as the syscall returns).

The foreign function is called without ``argtypes`` (ctypes' argument
conversion costs ~0.4 µs a call here): every caller passes the syscall
number and sizes as small non-negative ints and the attr as a ``byref``.
:data:`syscall_gil_held` is the same call through ``ctypes.PyDLL``: it keeps
the GIL while the kernel runs, which is cheaper still and makes the call
atomic with respect to other Python threads; only the element fast path of
:class:`bpfnest._sys.ops.ElemOps` uses it, for commands that do not sleep.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

from .fd import FD, new_fd
from .uapi import Cmd

__all__ = [
    "NR",
    "Cmd",
    "bpf",
    "bpf_fd",
    "get_errno",
    "syscall_gil_held",
    "syscall_number",
    "syscall_released",
]

_log = logging.getLogger("bpfnest.sys")

# bpf(2) system call numbers by machine (uname -m).
_NR_BPF = {
    "x86_64": 321,
    "i386": 357,
    "i686": 357,
    "aarch64": 280,
    "arm64": 280,
    "armv7l": 386,
    "armv6l": 386,
    "riscv64": 280,
    "loongarch64": 280,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "mips64": 5315,
}

_PROG_LOAD_RETRIES = 5


def number_for(table: dict[str, int], call: str, machine: str | None = None) -> int:
    """The number of system call ``call`` in ``table`` (by ``uname -m``) for
    ``machine`` (default: this one).

    Raises:
        OSError: ``ENOSYS`` for a machine whose number is not known.
    """
    machine = machine or platform.machine()
    try:
        return table[machine]
    except KeyError:
        raise OSError(38, f"{call} syscall number unknown for machine {machine!r}") from None


def syscall_number(machine: str | None = None) -> int:
    """Return the bpf(2) syscall number for ``machine`` (default: this one).

    Raises:
        OSError: ``ENOSYS`` for a machine whose number is not known.
    """
    return number_for(_NR_BPF, "bpf(2)", machine)


# syscall(2) twice: releasing the GIL around the kernel (CDLL) and keeping it
# (PyDLL). No argtypes: see the module docstring.
_syscall = ctypes.CDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
syscall_released = _syscall
syscall_gil_held = ctypes.PyDLL(None, use_errno=True).syscall
syscall_gil_held.restype = ctypes.c_long
#: This machine's bpf(2) syscall number.
NR = syscall_number()
_NR = NR
_byref = ctypes.byref
_sizeof = ctypes.sizeof
_get_errno = ctypes.get_errno
get_errno = ctypes.get_errno


def bpf(cmd: Cmd, attr: ctypes.Structure) -> int:
    """Run ``bpf(cmd, &attr, sizeof(attr))`` and return its (non-negative) result.

    Raises:
        OSError: with the kernel's errno when the call fails.
    """
    ret: int = _syscall(_NR, cmd, _byref(attr), _sizeof(attr))
    if ret >= 0:
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("bpf(%s) = %d", cmd.name, ret)
        return ret
    err = _get_errno()
    retries = _PROG_LOAD_RETRIES if cmd == Cmd.PROG_LOAD else 0
    while err == 11 and retries > 0:  # EAGAIN
        retries -= 1
        ret = _syscall(_NR, cmd, _byref(attr), _sizeof(attr))
        if ret >= 0:
            return ret
        err = _get_errno()
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("bpf(%s) failed: errno %d", cmd.name, err)
    raise OSError(err, _strerror(err))


def bpf_fd(cmd: Cmd, attr: ctypes.Structure) -> FD:
    """Run ``bpf(cmd, &attr, sizeof(attr))`` for a command that returns a new fd;
    return it owned by an ``FD`` (the caller closes it).

    Raises:
        OSError: with the kernel's errno when the call fails (nothing is open then).
    """
    retries = _PROG_LOAD_RETRIES if cmd == Cmd.PROG_LOAD else 0
    while True:
        try:
            fd = new_fd("syscall", _NR, int(cmd), _byref(attr), _sizeof(attr))
        except OSError as err:
            code = err.errno or 0
            if code == 11 and retries > 0:  # EAGAIN
                retries -= 1
                continue
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("bpf(%s) failed: errno %d", cmd.name, code)
            raise OSError(code, _strerror(code)) from None
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("bpf(%s) = fd %r", cmd.name, fd)
        return fd


def _strerror(err: int) -> str:
    # 524 is the kernel-internal ENOTSUPP, which libc has no text for.
    return "Operation not supported (ENOTSUPP)" if err == 524 else os.strerror(err)
