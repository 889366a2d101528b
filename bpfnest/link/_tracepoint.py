"""Tracepoints: by a perf event and a perf-event link (5.15), and raw tracepoints
(``BPF_RAW_TRACEPOINT_OPEN``, 4.17)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .._sys import link_ops, perf
from .._sys.fd import FD
from ..constants import AttachType, ProgType
from ._link import Link, attach

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_raw_tracepoint", "attach_tracepoint"]


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value or "/" in value or "\0" in value or value in (".", ".."):
        raise ValueError(f"{what} must be a tracepoint name without '/', got {value!r}")
    return value


def attach_tracepoint(program: Program, group: str, name: str) -> Link:
    """Attach a TRACEPOINT ``program`` to ``group/name``; see ``Program.attach_tracepoint``."""
    _check_name(group, "attach_tracepoint: group")
    _check_name(name, "attach_tracepoint: name")

    def make(prog_fd: int) -> tuple[FD, list[FD]]:
        event = perf.tracepoint_open(group, name)
        try:
            return link_ops.link_create(prog_fd, event.raw, AttachType.PERF_EVENT), [event]
        except BaseException:
            event.close()
            raise

    return attach(program, (ProgType.TRACEPOINT,), f"tracepoint {group}/{name}", make)


def attach_raw_tracepoint(program: Program, name: str) -> Link:
    """Attach a RAW_TRACEPOINT ``program`` to ``name``; see ``Program.attach_raw_tracepoint``."""
    _check_name(name, "attach_raw_tracepoint: name")
    hints = {errno.ENOENT: f"no raw tracepoint '{name}' (see events/*/ in tracefs)"}
    return attach(
        program,
        (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE),
        f"raw tracepoint '{name}'",
        lambda fd: (link_ops.raw_tracepoint_open(name, fd), ()),
        hints,
    )
