"""kprobes and uprobes: a probe perf event and a perf-event link (5.15).

The probe is opened through its PMU (``/sys/bus/event_source/devices/kprobe``
or ``uprobe``, 4.17) where the kernel has one; else, where tracefs has
``kprobe_events`` / ``uprobe_events``, a uniquely named event is defined
there, opened as a tracepoint, and removed again when the link is closed
(and at once when the attach fails). A kernel with neither gets
:class:`~bpfnest.NotSupportedError` naming the option it lacks, before any
syscall. The :class:`Link` owns the perf event's fd (and the tracefs event).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import _hints, _uprobe, features
from .._sys import link_ops, perf
from .._sys.fd import FD
from ..constants import AttachType, LinkType, ProgType
from ..errors import NotSupportedError
from ._legacy import LegacyLinkInfo, attach_legacy
from ._link import Closer, Link, attach, check_type
from ._tracepoint import PerfHook

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_kprobe", "attach_uprobe"]

_log = logging.getLogger("bpfnest")
_TYPES = (ProgType.KPROBE,)
_SYMBOL = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*(:[A-Za-z_.][A-Za-z0-9_.]*)?")
#: The tracefs group of the events this library defines (legacy kernels).
GROUP = "bpfnest"
_serial = itertools.count()


class _TracefsEvent:
    """A perf event opened on a probe event this process defined in tracefs:
    closing closes the fd, then removes the definition (idempotent)."""

    def __init__(self, kind: str, name: str, fd: FD) -> None:
        self.kind, self.name, self.fd = kind, name, fd

    def close(self) -> None:
        try:
            self.fd.close()
        finally:
            if self.name:
                name, self.name = self.name, ""
                _remove(self.kind, name)


def _remove(kind: str, name: str) -> None:
    try:
        perf.probe_event_remove(kind, GROUP, name)
    except OSError as err:  # e.g. EBUSY: a pinned link still holds it
        _log.debug("%s_events: %s/%s not removed: %s", kind, GROUP, name, err)


def _event_name(kind: str, target: str, offset: int) -> str:
    """A tracefs event name unique in the system: pid, a serial, the target."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", os.path.basename(target))
    name = f"{kind}_{os.getpid()}_{next(_serial)}_{offset:x}_{base}"
    return name[:63]  # MAX_EVENT_NAME_LEN is 64 with the NUL


def _open(kind: str, target: str, offset: int, retprobe: bool, pid: int) -> tuple[Closer, FD]:
    """The probe's perf event (its owner, and its fd): through the PMU, else a
    tracefs event whose owner removes it again."""
    if perf.has_pmu(kind):
        fd = perf.probe_open(kind, target, offset, retprobe=retprobe, pid=pid)
        return fd, fd
    name = _event_name(kind, target, offset)
    perf.probe_event_add(kind, GROUP, name, target, offset, retprobe=retprobe)
    try:
        fd = perf.tracepoint_open(GROUP, name, pid=pid, cpu=0 if pid == -1 else -1)
    except BaseException:
        _remove(kind, name)
        raise
    return _TracefsEvent(kind, name, fd), fd


def _attach(
    program: Program,
    kind: str,
    hook: str,
    target: str,
    offset: int,
    *,
    retprobe: bool,
    pid: int,
    hints: Callable[[int], str | None],
) -> Link:
    def make(prog_fd: int) -> tuple[FD, list[Closer]]:
        owner, event = _open(kind, target, offset, retprobe, pid)
        try:
            return link_ops.link_create(prog_fd, event.raw, AttachType.PERF_EVENT), [owner]
        except BaseException:
            owner.close()
            raise

    def hint(code: int) -> str | None:
        if code in (errno.EPERM, errno.EACCES):
            return _hints.perf_eperm_hint()
        return hints(code)

    if not features.has_links("perf_event"):  # before 5.15: PERF_EVENT_IOC_SET_BPF

        def make_legacy(prog_fd: int) -> _ProbeHook:
            owner, event = _open(kind, target, offset, retprobe, pid)
            try:
                perf.set_bpf(event.raw, prog_fd)
                perf.enable(event.raw)
            except BaseException:
                owner.close()  # the program goes with the event
                raise
            sub = f"{'uret' if retprobe else 'u'}probe" if kind == "uprobe" else kind
            if kind == "kprobe" and retprobe:
                sub = "kretprobe"
            return _ProbeHook(owner, event, sub, target)

        return attach_legacy(program, _TYPES, f"{hook} (perf-event ioctl)", make_legacy, hint)
    return attach(program, _TYPES, hook, make, hint)


class _ProbeHook(PerfHook):
    """A program attached to a kprobe's or uprobe's perf event by
    ``PERF_EVENT_IOC_SET_BPF`` (kernels before perf-event links, 5.15); owns
    the event and, for a tracefs-defined probe, its definition.

    Minimum kernel: 4.1 (kprobes), 4.3 (uprobes).
    """

    types = _TYPES
    no_update = (
        "a probe attached by perf-event ioctl cannot switch programs: close it and attach"
        " the new one"
    )
    no_detach = (
        "a probe attached by perf-event ioctl cannot detach (the program runs until its"
        " perf event is closed): close it"
    )

    def __init__(self, owner: Closer, event: FD, sub: str, target: str) -> None:
        """The place: the perf event ``event`` of probe ``sub`` on ``target``;
        ``owner`` (owned from here) closes it and removes a tracefs definition."""
        super().__init__(event, sub, target)
        self.owner = owner
        self.sub = sub

    def describe(self) -> str:
        """E.g. ``uprobe /lib/x86_64-linux-gnu/libc.so.6 (perf-event ioctl)``."""
        return f"{self.sub} {self.name} (perf-event ioctl)"

    def info(self, program_id: int) -> LegacyLinkInfo:
        """The probe's kind and target, with ``program_id``."""
        return LegacyLinkInfo(
            0, LinkType.UNSPEC, program_id, name=self.name, perf_event=self.sub, hook=self.kind
        )

    def close(self) -> None:
        """Disable the event, close it and remove its tracefs definition; idempotent."""
        try:
            super().close()
        finally:
            self.owner.close()


def _check_offset(offset: object, what: str) -> int:
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"{what}: offset must be an int, got {type(offset).__name__}")
    if not 0 <= offset < 1 << 64:
        raise ValueError(f"{what}: offset must be >= 0 (a byte offset), got {offset}")
    return offset


def _check_retprobe(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what}: retprobe must be a bool, got {type(value).__name__}")
    return value


def attach_kprobe(
    program: Program, symbol: str, *, retprobe: bool = False, offset: int = 0
) -> Link:
    """Attach a KPROBE ``program`` to kernel function ``symbol``; see ``Program.attach_kprobe``."""
    what = "attach_kprobe"
    check_type(program, _TYPES, f"kprobe '{symbol}'")
    if not isinstance(symbol, str):
        raise TypeError(f"{what}: symbol must be a str, got {type(symbol).__name__}")
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(
            f"{what}: symbol {symbol!r} is not a kernel function name (see /proc/kallsyms)"
        )
    _check_offset(offset, what)
    _check_retprobe(retprobe, what)
    if retprobe and offset:
        raise ValueError(f"{what}: a kretprobe is on the function's return: offset must be 0")
    if not perf.has_pmu("kprobe") and perf.probe_events("kprobe") is None:
        try:
            perf.tracefs()
            unmounted = ""
        except OSError:
            unmounted = (
                "; tracefs is not mounted either (mount -t tracefs nodev /sys/kernel/tracing)"
            )
        raise NotSupportedError(
            f"{what} '{symbol}': this kernel has no kprobes (no kprobe PMU in"
            " /sys/bus/event_source/devices, no kprobe_events in tracefs): it was built without"
            " CONFIG_KPROBES (attach_kprobe needs Linux 5.15: a perf-event link on a kprobe)"
            + unmounted,
            feature="CONFIG_KPROBES",
            min_kernel="5.15",
        )
    kind = "kretprobe" if retprobe else "kprobe"
    at = f"+{offset:#x}" if offset else ""

    def hints(code: int) -> str | None:
        if code == errno.ENOENT:
            return f"no kernel function '{symbol}' to probe (see /proc/kallsyms)"
        if code == errno.EINVAL and offset:
            return f"offset {offset:#x} is not an instruction of '{symbol}'"
        if code in (errno.EINVAL, errno.EADDRNOTAVAIL):
            return (
                f"'{symbol}' is not a kernel function kprobes may probe"
                " (see /proc/kallsyms and the kprobes blacklist)"
            )
        return None

    hook = f"{kind} '{symbol}{at}'"
    return _attach(program, "kprobe", hook, symbol, offset, retprobe=retprobe, pid=-1, hints=hints)


def _check_path(path: object, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what}: path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"{what}: path must be a str path, got bytes")
    if not name or "\0" in name:
        raise ValueError(f"{what}: path {name!r} is empty or holds a NUL byte")
    try:
        found = _uprobe.resolve_binary(name)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    if not os.path.isfile(found):
        why = "is not a regular file" if os.path.exists(found) else "does not exist"
        raise ValueError(f"{what}: '{found}' {why} (give an executable or a shared library)")
    return os.path.abspath(found)


def attach_uprobe(
    program: Program,
    path: str | os.PathLike[str],
    symbol: str | None = None,
    *,
    offset: int = 0,
    pid: int | None = None,
    retprobe: bool = False,
) -> Link:
    """Attach a KPROBE ``program`` as an uprobe on ``path``; see ``Program.attach_uprobe``."""
    what = "attach_uprobe"
    check_type(program, _TYPES, "an uprobe")
    _check_offset(offset, what)
    _check_retprobe(retprobe, what)
    if symbol is not None and not isinstance(symbol, str):
        raise TypeError(f"{what}: symbol must be a str or None, got {type(symbol).__name__}")
    if symbol == "":
        raise ValueError(f"{what}: symbol must be a function name or None, got ''")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise TypeError(f"{what}: pid must be an int or None, got {type(pid).__name__}")
    if pid is not None and pid <= 0:
        raise ValueError(f"{what}: pid must be a process id > 0 (None: every process), got {pid}")
    if symbol is None and offset == 0:
        raise ValueError(f"{what}: give a symbol, or the file offset of the instruction")
    found = _check_path(path, what)
    base = 0
    if symbol is not None:
        try:
            base = _uprobe.symbol_offset(found, symbol)
        except (OSError, ValueError) as err:
            raise ValueError(f"{what}: {err}") from None
    place = base + offset
    kind = "uretprobe" if retprobe else "uprobe"
    where = f"{symbol}+{offset:#x}" if symbol and offset else symbol or f"{offset:#x}"
    hook = f"{kind} '{found}:{where}'" + (f" of pid {pid}" if pid is not None else "")

    def hints(code: int) -> str | None:
        if code == errno.ESRCH:
            return f"no process {pid}"
        if code == errno.EINVAL:
            return f"file offset {place:#x} of '{found}' cannot be probed"
        return None

    return _attach(
        program,
        "uprobe",
        hook,
        found,
        place,
        retprobe=retprobe,
        pid=-1 if pid is None else pid,
        hints=hints,
    )
