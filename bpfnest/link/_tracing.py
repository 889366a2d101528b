"""BTF-targeted tracing: fentry, fexit, fmod_ret, tp_btf and lsm programs.

Their target (a kernel function, a BTF tracepoint, an LSM hook) was fixed at
load by ``attach_btf_id``; attaching names nothing more. ``BPF_LINK_CREATE``
with the program's expected attach type (5.13 for tracing programs), or
``BPF_RAW_TRACEPOINT_OPEN`` with no name, which every kernel with these
programs has (5.5), as libbpf falls back to it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .._sys import link_ops
from .._sys.fd import FD
from ..constants import AttachType, ProgType
from ._link import Link, attach, check_type

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_tracing"]

_HOOK = "its kernel target"
# The attach types BPF_LINK_CREATE makes a tracing link (or a raw_tp link) for.
_LINKABLE = frozenset(
    {
        AttachType.TRACE_FENTRY,
        AttachType.TRACE_FEXIT,
        AttachType.MODIFY_RETURN,
        AttachType.TRACE_RAW_TP,
        AttachType.LSM_MAC,
    }
)
# Attach types of TRACING/LSM programs that another attach_* method makes.
_ELSEWHERE = {
    AttachType.TRACE_ITER: "an iter/* program: attach it with attach_iter()",
    AttachType.LSM_CGROUP: "an lsm_cgroup/* program: attach it with attach_cgroup()",
}


def _open(prog_fd: int, attach_type: AttachType | None) -> FD:
    if attach_type is None:  # opened by id: the kernel knows the type, we do not
        return link_ops.raw_tracepoint_open("", prog_fd)
    try:
        return link_ops.link_create(prog_fd, 0, attach_type)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        # Before 5.13 BPF_LINK_CREATE refuses tracing programs (libbpf's fallback).
        return link_ops.raw_tracepoint_open("", prog_fd)


def attach_tracing(program: Program) -> Link:
    """Attach a fentry/fexit/fmod_ret/tp_btf/lsm ``program`` to the target it was
    loaded for; see ``Program.attach_tracing``."""
    check_type(program, (ProgType.TRACING, ProgType.LSM), _HOOK)
    attach_type = program._attach_type
    if attach_type in _ELSEWHERE:
        raise TypeError(
            f"attach_tracing: {program._describe()} is {_ELSEWHERE[attach_type]},"
            " not attach_tracing()"
        )
    if attach_type is not None and attach_type not in _LINKABLE:
        raise TypeError(
            f"attach_tracing: {program._describe()} has attach type {attach_type.name};"
            " attach_tracing() takes fentry, fexit, fmod_ret, tp_btf and lsm programs"
        )
    hints = {
        errno.EINVAL: "the kernel refused this program for its target"
        " (an iter/* or freplace program, or one loaded without a target)",
        errno.EBUSY: "this program is attached to its target already",
    }
    return attach(
        program,
        (ProgType.TRACING, ProgType.LSM),
        _HOOK,
        lambda fd: (_open(fd, attach_type), ()),
        hints,
    )
