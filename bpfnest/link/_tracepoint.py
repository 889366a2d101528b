"""Tracepoints: by a perf event and a perf-event link (5.15), or, on a kernel
without perf-event links, by ``PERF_EVENT_IOC_SET_BPF`` (4.1) as a
:class:`~bpfnest.link._legacy.LegacyLink` holding a :class:`PerfHook`; and raw
tracepoints (``BPF_RAW_TRACEPOINT_OPEN``, 4.17)."""

from __future__ import annotations

import contextlib
import errno
import os
from typing import TYPE_CHECKING

from .. import features
from .._sys import link_ops, perf
from .._sys.fd import FD
from ..constants import AttachType, LinkType, ProgType
from ._legacy import Hook, LegacyLinkInfo, attach_legacy
from ._link import Link, attach

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["PerfHook", "attach_raw_tracepoint", "attach_tracepoint"]


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

    if not features.has_links("perf_event"):
        return _attach_ioctl(program, group, name)
    return attach(program, (ProgType.TRACEPOINT,), f"tracepoint {group}/{name}", make)


def _attach_ioctl(program: Program, group: str, name: str) -> Link:
    def make(prog_fd: int) -> PerfHook:
        event = perf.tracepoint_open(group, name)
        try:
            perf.set_bpf(event.raw, prog_fd)
            perf.enable(event.raw)
        except BaseException:
            event.close()  # the program goes with the event
            raise
        return PerfHook(event, group, name)

    hints = {errno.EEXIST: "the perf event has a program already"}
    where = f"tracepoint {group}/{name} (perf-event ioctl)"
    return attach_legacy(program, (ProgType.TRACEPOINT,), where, make, hints)


class PerfHook(Hook):
    """A program attached to a tracepoint's perf event by ``PERF_EVENT_IOC_SET_BPF``;
    owns the event's fd (the program runs until the event is closed).

    Minimum kernel: 4.1 (``BPF_TASK_FD_QUERY`` for ``info()``: 4.18).
    """

    kind = "perf_event"
    types = (ProgType.TRACEPOINT,)
    no_pin = (
        "a program attached by perf-event ioctl is no BPF link, so there is nothing to pin;"
        " it runs until close(); perf-event links, which can be pinned, need Linux 5.15"
    )
    link_feature = ("perf-event BPF links", "5.15")
    no_update = (
        "a tracepoint attached by perf-event ioctl cannot switch programs: close it and"
        " attach the new one"
    )
    no_detach = (
        "a tracepoint attached by perf-event ioctl cannot detach (the program runs until"
        " its perf event is closed): close it"
    )

    def __init__(self, event: FD, group: str, name: str) -> None:
        """The place: the perf event ``event`` (owned from here) of ``group/name``."""
        self.event = event
        self.group = group
        self.name = name

    def describe(self) -> str:
        """E.g. ``tracepoint syscalls/sys_enter_getpgid (perf-event ioctl)``."""
        return f"tracepoint {self.group}/{self.name} (perf-event ioctl)"

    def current(self, ours: int) -> int:
        """The program of the perf event (BPF_TASK_FD_QUERY; ``ours`` before 4.18)."""
        if self.event.closed:
            return 0
        with self.event.borrow(self.describe()) as fd:
            try:
                return link_ops.task_fd_query(os.getpid(), fd).prog_id
            except OSError as err:
                if err.errno == errno.ENOENT:
                    return 0
                if err.errno in (errno.EINVAL, errno.ENOSYS):  # before 4.18
                    return ours
                raise

    def info(self, program_id: int) -> LegacyLinkInfo:
        """The tracepoint's name, with ``program_id``."""
        return LegacyLinkInfo(
            0,
            LinkType.UNSPEC,
            program_id,
            name=self.name,
            perf_event="tracepoint",
            hook=self.kind,
        )

    def remove(self, ours_fd: int) -> None:
        """Disable the event (the program goes when :meth:`close` closes it)."""
        with self.event.borrow(self.describe()) as fd:
            perf.disable(fd)

    def close(self) -> None:
        """Disable and close the perf event (the kernel drops the program); idempotent."""
        if not self.event.closed:
            with contextlib.suppress(OSError):
                perf.disable(self.event.raw)
        self.event.close()


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
