"""perf_event_open(2), its BPF ioctls, tracefs and the dynamic probe PMUs.

What the tracing hooks need below the link layer:

* :func:`perf_event_open` returns the event as an owned
  :class:`~bpfnest._sys.fd.FD` (the caller closes it); the syscall number per
  architecture is resolved on first use, like bpf(2)'s.
* :func:`set_bpf`, :func:`enable`, :func:`disable`: the ioctls of the attach
  path that has no BPF link (before 5.15, or by choice):
  ``PERF_EVENT_IOC_SET_BPF`` then ``PERF_EVENT_IOC_ENABLE``. The program stays
  attached until the event fd is closed.
* :func:`tracefs` finds where tracefs is mounted; :func:`tracepoint_id` reads
  ``events/<group>/<name>/id`` there.
* :func:`pmu_type` reads ``/sys/bus/event_source/devices/<pmu>/type`` (the
  ``kprobe`` and ``uprobe`` PMUs, 4.17); a kernel built without
  ``CONFIG_KPROBES`` (or ``CONFIG_UPROBE_EVENTS``) has no such directory and
  gets ``OSError(ENOENT)`` naming the option, for the upper layer to turn into
  ``NotSupportedError``. :func:`probe_open` opens a kprobe or uprobe through its
  PMU.
* :func:`has_pmu` and :func:`probe_events` say which of the two ways a kernel
  offers; :func:`probe_event_add` / :func:`probe_event_remove` write the
  legacy definitions into tracefs ``kprobe_events`` / ``uprobe_events`` (for
  kernels before 4.17, whose probes are then opened as tracepoints).

Failures raise plain :class:`OSError` with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re

from . import number_for
from .fd import FD, new_fd
from .uapi import PerfEventAttr

__all__ = [
    "PERF_FLAG_FD_CLOEXEC",
    "PERF_TYPE_TRACEPOINT",
    "disable",
    "enable",
    "has_pmu",
    "perf_event_open",
    "pmu_type",
    "probe_event_add",
    "probe_event_line",
    "probe_event_remove",
    "probe_events",
    "probe_open",
    "ref_ctr_shift",
    "retprobe_bit",
    "set_bpf",
    "syscall_number",
    "tracefs",
    "tracepoint_id",
    "tracepoint_open",
]

# enum perf_type_id
PERF_TYPE_TRACEPOINT = 2
# perf_event_open(2) flags
PERF_FLAG_FD_CLOEXEC = 1 << 3
# ioctls: _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

# perf_event_open(2) system call numbers by machine (uname -m).
_NR_PERF_EVENT_OPEN = {
    "x86_64": 298,
    "i386": 336,
    "i686": 336,
    "aarch64": 241,
    "arm64": 241,
    "armv7l": 364,
    "armv6l": 364,
    "riscv64": 241,
    "loongarch64": 241,
    "ppc64le": 319,
    "ppc64": 319,
    "s390x": 331,
    "mips64": 5292,
}
_nr: list[int] = []  # resolved on first use

_PMU_DIR = "/sys/bus/event_source/devices"
# Which kernel option gives each dynamic PMU (for the ENOENT message).
_PMU_OPTION = {"kprobe": "CONFIG_KPROBES", "uprobe": "CONFIG_UPROBE_EVENTS"}
_TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def syscall_number(machine: str | None = None) -> int:
    """Return the perf_event_open(2) syscall number for ``machine`` (default: this one).

    Raises:
        OSError: ``ENOSYS`` for a machine whose number is not known.
    """
    return number_for(_NR_PERF_EVENT_OPEN, "perf_event_open(2)", machine)


def perf_event_open(
    attr: PerfEventAttr, pid: int, cpu: int, group_fd: int = -1, flags: int = PERF_FLAG_FD_CLOEXEC
) -> FD:
    """perf_event_open(2): return the event's fd, owned (the caller closes it).

    ``attr.size`` is filled in when 0. ``pid`` -1 with a ``cpu`` >= 0 is every
    process on that CPU; a ``pid`` with ``cpu`` -1 is that process on any CPU.

    Raises:
        OSError: with the kernel's errno (``ENOENT``/``EINVAL`` for an unknown
            event, ``EACCES``/``EPERM`` without CAP_PERFMON or CAP_SYS_ADMIN).
    """
    if not _nr:
        _nr.append(syscall_number())
    if attr.size == 0:
        attr.size = ctypes.sizeof(attr)
    c_long = ctypes.c_long
    return new_fd(
        "syscall",
        c_long(_nr[0]),
        ctypes.byref(attr),
        c_long(pid),
        c_long(cpu),
        c_long(group_fd),
        c_long(flags),
    )


def set_bpf(event_fd: int, prog_fd: int) -> None:
    """PERF_EVENT_IOC_SET_BPF (4.1): attach ``prog_fd`` to the event; it stays
    attached until the event fd is closed.

    Raises:
        OSError: ``EEXIST`` when the event already has a program; ``EINVAL`` for
            a program of the wrong type.
    """
    fcntl.ioctl(event_fd, PERF_EVENT_IOC_SET_BPF, prog_fd)


def enable(event_fd: int) -> None:
    """PERF_EVENT_IOC_ENABLE.

    Raises:
        OSError: with the kernel's errno.
    """
    fcntl.ioctl(event_fd, PERF_EVENT_IOC_ENABLE, 0)


def disable(event_fd: int) -> None:
    """PERF_EVENT_IOC_DISABLE.

    Raises:
        OSError: with the kernel's errno.
    """
    fcntl.ioctl(event_fd, PERF_EVENT_IOC_DISABLE, 0)


def tracefs() -> str:
    """Where tracefs is mounted: from /proc/mounts, else the usual places.

    Raises:
        OSError: ``ENOENT`` when it is not mounted, saying how to mount it.
    """
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "tracefs":
                    return parts[1].replace("\\040", " ")
    except OSError:
        pass
    for path in _TRACEFS_CANDIDATES:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    raise OSError(
        errno.ENOENT,
        "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)",
    )


def tracepoint_id(group: str, name: str) -> int:
    """The id of tracepoint ``group/name`` (``events/<group>/<name>/id`` in tracefs).

    Where tracefs is not mounted, it is read through a mount of its own in a
    short-lived child process (:func:`_read_privately`): nothing stays mounted.

    Raises:
        ValueError: ``group`` or ``name`` is not a plain event name.
        OSError: ``ENOENT`` naming the tracepoint when it does not exist, or
            tracefs is not mounted.
    """
    for what, part in (("group", group), ("name", name)):
        if not _EVENT_NAME.fullmatch(part) or part in (".", ".."):
            raise ValueError(f"tracepoint {what} {part!r} is not an event name")
    try:
        where = tracefs()
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
        return int(_read_privately(f"events/{group}/{name}/id", f"tracepoint {group}/{name}"))
    path = os.path.join(where, "events", group, name, "id")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"no tracepoint {group}/{name} ({path} is missing)") from None


# Mount tracefs and print one of its files, in a mount namespace of its own:
# exit 3 when it cannot mount, 4 when the file is missing.
_PRIVATE_READ = (
    "mount -t tracefs nodev /sys/kernel/tracing 2>&1 || exit 3;"
    ' cat "/sys/kernel/tracing/$1" 2>/dev/null || exit 4'
)


def _read_privately(relpath: str, what: str) -> str:
    """The text of tracefs file ``relpath`` where tracefs is not mounted.

    A child process (util-linux's ``unshare``) gets a mount namespace of its
    own, mounts tracefs there and prints the file; the mount goes with the
    child, so nothing is left mounted and no other process sees it. Needs
    CAP_SYS_ADMIN (as mounting tracefs does).

    Raises:
        OSError: ``ENOENT`` naming ``what`` when the file is missing; else
            ``ENOENT`` saying tracefs is not mounted, why mounting it here
            failed, and how to mount it.
    """
    import shutil
    import subprocess

    fix = "mount it: mount -t tracefs nodev /sys/kernel/tracing"
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"])
    unshare = shutil.which("unshare", path=search)
    if unshare is None:
        raise OSError(errno.ENOENT, f"tracefs is not mounted (and util-linux is missing): {fix}")
    proc = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", _PRIVATE_READ, "sh", relpath],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode == 0:
        return proc.stdout
    if proc.returncode == 4:
        raise OSError(errno.ENOENT, f"no {what} (events in tracefs: /sys/kernel/tracing/events)")
    said = (proc.stdout + proc.stderr).strip().splitlines()
    why = said[-1] if said else f"exit status {proc.returncode}"
    raise OSError(
        errno.ENOENT, f"tracefs is not mounted, and mounting it privately failed ({why}): {fix}"
    )


def tracepoint_open(group: str, name: str, *, pid: int = -1, cpu: int = 0) -> FD:
    """Open tracepoint ``group/name`` as a perf event (PERF_TYPE_TRACEPOINT) to
    attach a program to; the caller closes the fd. For BPF, one event on CPU
    0 serves every CPU.

    Raises:
        ValueError: from :func:`tracepoint_id`.
        OSError: from :func:`tracepoint_id` or :func:`perf_event_open`.
    """
    attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, config=tracepoint_id(group, name))
    attr.sample_period = 1
    attr.wakeup_events = 1
    return perf_event_open(attr, pid, cpu)


def pmu_type(pmu: str) -> int:
    """The perf type number of the dynamic PMU ``pmu`` (``"kprobe"``, ``"uprobe"``).

    Raises:
        OSError: ``ENOENT`` when the kernel has no such PMU, naming the kernel
            option it needs (e.g. CONFIG_KPROBES).
    """
    path = os.path.join(_PMU_DIR, pmu, "type")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        option = _PMU_OPTION.get(pmu)
        why = f"kernel built without {option}?" if option else "unknown PMU"
        raise OSError(errno.ENOENT, f"no {pmu} PMU: {path} is missing ({why})") from None


def retprobe_bit(pmu: str) -> int:
    """The ``config`` bit that makes a ``pmu`` probe a return probe
    (``format/retprobe`` says ``config:0``).

    Raises:
        OSError: ``ENOENT`` as :func:`pmu_type`.
    """
    path = os.path.join(_PMU_DIR, pmu, "format", "retprobe")
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        pmu_type(pmu)  # raises for a missing PMU
        raise OSError(errno.ENOENT, f"{path} is missing") from None
    match = re.fullmatch(r"config:(\d+)", text)
    if match is None:
        raise OSError(errno.EINVAL, f"{path}: unexpected format {text!r}")
    return int(match.group(1))


def ref_ctr_shift(pmu: str = "uprobe") -> int:
    """The first ``config`` bit of an uprobe's ``ref_ctr_offset`` (the file
    offset of a USDT semaphore the kernel counts up while the probe is
    attached; 4.20): ``format/ref_ctr_offset`` says ``config:32-63``.

    Raises:
        OSError: ``ENOENT`` when the PMU has no such field (a kernel before
            4.20, or no uprobe PMU).
    """
    path = os.path.join(_PMU_DIR, pmu, "format", "ref_ctr_offset")
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise OSError(
            errno.ENOENT, f"{path} is missing (uprobe semaphores need Linux 4.20)"
        ) from None
    match = re.fullmatch(r"config:(\d+)-63", text)
    if match is None:
        raise OSError(errno.EINVAL, f"{path}: unexpected format {text!r}")
    return int(match.group(1))


def probe_open(
    pmu: str,
    target: str,
    offset: int = 0,
    *,
    retprobe: bool = False,
    pid: int = -1,
    ref_ctr_offset: int = 0,
) -> FD:
    """Open a kprobe (``pmu="kprobe"``, ``target`` a kernel function) or an
    uprobe (``pmu="uprobe"``, ``target`` a file, ``offset`` its file offset)
    through the PMU; the caller closes the fd. ``pid`` -1 is every process.
    ``ref_ctr_offset`` (uprobes, 4.20) is the file offset of a USDT
    semaphore the kernel increments while the probe exists.

    Raises:
        OSError: ``ENOENT`` from :func:`pmu_type` when the PMU is missing (or
            from :func:`ref_ctr_shift`); the kernel's errno otherwise
            (``ENOENT`` for an unknown function or file).
    """
    ptype = pmu_type(pmu)
    config = 1 << retprobe_bit(pmu) if retprobe else 0
    if ref_ctr_offset:
        config |= ref_ctr_offset << ref_ctr_shift(pmu)
    name = ctypes.create_string_buffer(os.fsencode(target))
    attr = PerfEventAttr(type=ptype, config=config)
    attr.config1 = ctypes.addressof(name)  # kprobe_func / uprobe_path
    attr.config2 = offset  # probe_offset
    attr.sample_period = 1
    attr.wakeup_events = 1
    return perf_event_open(attr, pid, 0 if pid == -1 else -1)


def has_pmu(pmu: str) -> bool:
    """Whether the kernel has the dynamic PMU ``pmu`` (``"kprobe"``, ``"uprobe"``; 4.17)."""
    return os.path.exists(os.path.join(_PMU_DIR, pmu, "type"))


def probe_events(kind: str) -> str | None:
    """The path of tracefs ``<kind>_events`` (``kind`` ``"kprobe"`` or
    ``"uprobe"``) when tracefs is mounted and the kernel has it, else None."""
    try:
        path = os.path.join(tracefs(), f"{kind}_events")
    except OSError:
        return None
    return path if os.path.exists(path) else None


def _write_events(kind: str, line: str) -> None:
    path = probe_events(kind)
    if path is None:
        raise OSError(errno.ENOENT, f"no {kind}_events in tracefs (or tracefs is not mounted)")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        os.write(fd, line.encode() + b"\n")
    finally:
        os.close(fd)


def probe_event_line(
    kind: str, group: str, name: str, target: str, offset: int = 0, *, retprobe: bool = False
) -> str:
    """The line that defines probe event ``group/name`` in tracefs
    ``<kind>_events``: ``p:G/N func+off`` (kprobe), ``p:G/N /path:0xoff``
    (uprobe), ``r:`` for a return probe.

    Raises:
        ValueError: ``group``, ``name`` or ``target`` cannot be written in the
            format (whitespace, a NUL), or an unknown ``kind``.
    """
    for what, part in (("group", group), ("name", name)):
        if not _EVENT_NAME.fullmatch(part) or part in (".", ".."):
            raise ValueError(f"probe event {what} {part!r} is not an event name")
    if not target or any(c.isspace() for c in target) or "\0" in target:
        raise ValueError(f"probe target {target!r} cannot be written to {kind}_events")
    if kind == "kprobe":
        where = f"{target}+{offset}" if offset else target
    elif kind == "uprobe":
        where = f"{target}:{offset:#x}"
    else:
        raise ValueError(f"probe kind must be 'kprobe' or 'uprobe', got {kind!r}")
    return f"{'r' if retprobe else 'p'}:{group}/{name} {where}"


def probe_event_add(
    kind: str, group: str, name: str, target: str, offset: int = 0, *, retprobe: bool = False
) -> None:
    """Define probe event ``group/name`` in tracefs ``<kind>_events``: a kprobe
    on kernel function ``target`` (+``offset``) or an uprobe on file ``target``
    at file offset ``offset``; ``retprobe`` for the return (the line of
    :func:`probe_event_line`). The event stays until
    :func:`probe_event_remove` (also after this process exits): the caller
    removes it.

    Raises:
        ValueError: from :func:`probe_event_line`.
        OSError: ``ENOENT`` when there is no such file; the kernel's errno
            otherwise (``ENOENT``/``EINVAL`` for an unknown function or a bad
            offset, ``EEXIST`` when the name is taken).
    """
    _write_events(kind, probe_event_line(kind, group, name, target, offset, retprobe=retprobe))


def probe_event_remove(kind: str, group: str, name: str) -> None:
    """Remove probe event ``group/name`` from tracefs ``<kind>_events``.

    Raises:
        OSError: ``EBUSY`` while a perf event (or a pinned link) still uses it,
            ``ENOENT`` when there is no such event; the kernel's errno otherwise.
    """
    _write_events(kind, f"-:{group}/{name}")
