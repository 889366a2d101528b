"""USDT probes: one uprobe per probe site, with the argument specs that
libbpf's ``<bpf/usdt.bpf.h>`` reads (``bpf_usdt_arg``, ``bpf_usdt_cookie``).

What libbpf's ``usdt_manager_attach_usdt`` does, for a program of an object
built on ``usdt.bpf.h``:

* the probe's sites come from the file's ``.note.stapsdt`` notes
  (:mod:`bpfnest._usdt`: prelink adjustment, file offsets);
* each distinct argument string of the probe gets a slot of the program's
  ``__bpf_usdt_specs`` ARRAY map (a ``struct __bpf_usdt_spec``: argument
  kinds, registers, offsets, sizes, signedness, and the user's cookie);
  slots come from a free list per map (the last freed first, then the next
  never used), as libbpf's ``allocate_spec_id``;
* each site gets a uprobe (a perf event of the uprobe PMU, with the
  semaphore's ``ref_ctr_offset`` when the probe has one, and the ``pid``
  filter) and a perf-event link whose BPF cookie is the slot; on a kernel
  without BPF cookies (before 5.15) the slot is found by the probe's address
  in ``__bpf_usdt_ip_to_spec_id`` instead, which is filled then (and emptied
  again on close).

The maps are the program's own (found through its map ids, by their kernel
names ``__bpf_usdt_spec`` and ``__bpf_usdt_ip_t`` and their sizes), so
every program of one object shares them, as in libbpf. The :class:`Link`
returned is the first site's perf-event link; it owns the other sites'
links, every perf event and the spec slots, and closing it closes them all
and frees the slots for reuse; it cannot be pinned (:meth:`Link.pin` refuses
it: a pin would keep one site, and the slots are this process's to hand out).
A failure half-way closes what was made.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import _hints, _usdt, features
from .._object import open_by_id
from .._sys import link_ops, ops, perf
from .._sys.fd import FD
from .._sys.uapi import Cmd
from ..constants import AttachType, MapType, ProgType
from ..errors import NotSupportedError
from ._link import Closer, Link, attach, check_type
from ._probe import _check_path

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["attach_usdt"]

_TYPES = (ProgType.KPROBE,)
# The kernel keeps 15 characters of a map's name.
_SPECS_NAME = "__bpf_usdt_specs"[:15]
_IP_NAME = "__bpf_usdt_ip_to_spec_id"[:15]


@dataclass
class _Slots:
    """The spec slots of one ``__bpf_usdt_specs`` map, as libbpf's usdt_manager."""

    size: int
    next: int = 0
    free: list[int] = field(default_factory=list)
    used: int = 0


_slots: dict[int, _Slots] = {}  # by the specs map's id
_lock = threading.Lock()


def _take(map_id: int, size: int, count: int) -> list[int]:
    """``count`` free slots of map ``map_id`` (the last freed first, then new ones).

    Raises:
        OSError: ``E2BIG`` when the map has fewer free slots.
    """
    with _lock:
        slots = _slots.setdefault(map_id, _Slots(size))
        if len(slots.free) + slots.size - slots.next < count:
            raise OSError(
                errno.E2BIG,
                f"all {slots.size} slots of __bpf_usdt_specs are taken by open USDT links"
                f" ({count} needed): close some, or build with a larger BPF_USDT_MAX_SPEC_CNT",
            )
        taken = []
        for _ in range(count):
            if slots.free:
                taken.append(slots.free.pop())
            else:
                taken.append(slots.next)
                slots.next += 1
        slots.used += count
        return taken


def _give_back(map_id: int, ids: list[int]) -> None:
    with _lock:
        slots = _slots.get(map_id)
        if slots is None:
            return
        slots.free.extend(ids)
        slots.used -= len(ids)
        if slots.used <= 0:  # nothing in use: start afresh
            del _slots[map_id]


class _NotPinnable:
    """In every USDT link's extras: :meth:`Link.pin` refuses such a link."""

    pin_refusal = (
        "a USDT link is a uprobe link for each probe site, and its argument specs sit"
        " in slots of the object's map that this process hands out: a pin would keep"
        " one site, and the slots could go to another link; keep the process that"
        " attached it running"
    )

    def close(self) -> None:
        """Nothing to close."""


class _Release:
    """Closed last by the link: removes this link's addresses from the
    ip-to-spec map (kernels without BPF cookies), closes that map, and
    returns the spec slots to the free list; idempotent."""

    def __init__(self, map_id: int, ids: list[int]) -> None:
        self.map_id, self.ids = map_id, ids
        self.ip_map: FD | None = None
        self.ips: list[int] = []

    def close(self) -> None:
        try:
            if self.ip_map is not None:
                for ip in self.ips:
                    with contextlib.suppress(OSError):  # not much to do (libbpf neither)
                        ops.map_delete_elem(self.ip_map.raw, _key(ip))
                self.ips = []
                self.ip_map.close()
        finally:
            ids, self.ids = self.ids, []
            if ids:
                _give_back(self.map_id, ids)


def _maps(prog_fd: int, program: Program) -> tuple[tuple[int, int, FD] | None, FD | None]:
    """The program's spec map (id, max_entries, fd) and ip-to-spec map (fd),
    each None when the program uses none; the caller closes both fds.

    Raises:
        ValueError: the program's ``__bpf_usdt_specs`` map is not of the
            layout this library writes.
        OSError: the kernel refused.
    """
    specs: tuple[int, int, FD] | None = None
    ip: FD | None = None
    try:
        for map_id in ops.prog_map_ids(prog_fd):
            fd = open_by_id(Cmd.MAP_GET_FD_BY_ID, map_id, "map")
            info = ops.map_info(fd.raw)
            name = info.name.decode(errors="replace")
            if name == _SPECS_NAME and specs is None:
                if (info.type, info.key_size, info.value_size) != (
                    MapType.ARRAY,
                    4,
                    _usdt.SPEC_SIZE,
                ):
                    fd.close()
                    raise ValueError(
                        f"attach_usdt: {program._describe()}'s __bpf_usdt_specs is not an ARRAY"
                        f" of {_usdt.SPEC_SIZE}-byte struct __bpf_usdt_spec (value size"
                        f" {info.value_size}): build it with libbpf 1.x's <bpf/usdt.bpf.h>"
                    )
                specs = (map_id, int(info.max_entries), fd)
            elif name == _IP_NAME and ip is None and (info.key_size, info.value_size) == (8, 4):
                ip = fd
            else:
                fd.close()
    except BaseException:
        if specs is not None:
            specs[2].close()
        if ip is not None:
            ip.close()
        raise
    return specs, ip


def _vma_address(pid: int, path: str, offset: int) -> int:
    """The address file offset ``offset`` of ``path`` has in process ``pid``
    (its executable mappings in ``/proc/PID/maps``), as libbpf's parse_vma_segs.

    Raises:
        OSError: ``ESRCH`` when no executable mapping of the file holds it.
    """
    real = os.path.realpath(path)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 6 or parts[5].strip() != real or parts[1][2:3] != "x":
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            seg_off = int(parts[2], 16)
            if seg_off <= offset < seg_off + end - start:
                return start - seg_off + offset
    raise OSError(errno.ESRCH, f"process {pid} has no executable mapping of {path} at {offset:#x}")


def _check(value: object, what: str, arg: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what}: {arg} must be a str, got {type(value).__name__}")
    if not value or "\0" in value:
        raise ValueError(f"{what}: {arg} must be a non-empty name, got {value!r}")
    return value


def attach_usdt(
    program: Program,
    path: str | os.PathLike[str],
    provider: str,
    name: str,
    *,
    pid: int | None = None,
    cookie: int = 0,
) -> Link:
    """Attach a KPROBE ``program`` to USDT probe ``provider:name`` of ``path``;
    see ``Program.attach_usdt``."""
    what = "attach_usdt"
    check_type(program, _TYPES, f"USDT probe '{provider}:{name}'")
    _check(provider, what, "provider")
    _check(name, what, "name")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise TypeError(f"{what}: pid must be an int or None, got {type(pid).__name__}")
    if pid is not None and pid <= 0:
        raise ValueError(f"{what}: pid must be a process id > 0 (None: every process), got {pid}")
    if not isinstance(cookie, int) or isinstance(cookie, bool):
        raise TypeError(f"{what}: cookie must be an int, got {type(cookie).__name__}")
    if not 0 <= cookie < 1 << 64:
        raise ValueError(f"{what}: cookie must be a u64 (0 .. 2**64-1), got {cookie}")
    found = _check_path(path, what)
    probe = f"USDT probe '{provider}:{name}' in {found}"
    try:
        sites = _usdt.sites(found, provider, name)
        specs: dict[str, bytes] = {}
        for site in sites:
            if site.probe.args not in specs:
                specs[site.probe.args] = _usdt.encode_spec(
                    _usdt.parse_args(site.probe.args), cookie
                )
    except (OSError, ValueError) as err:
        raise ValueError(f"{what}: {err}") from None
    except NotImplementedError as err:
        raise NotSupportedError(
            f"{what}: {probe}: {err}", feature="USDT arguments", min_kernel="5.15"
        ) from None
    if not perf.has_pmu("uprobe"):
        raise NotSupportedError(
            f"{what}: {probe}: this kernel has no uprobe PMU"
            " (/sys/bus/event_source/devices/uprobe): built without CONFIG_UPROBE_EVENTS,"
            " or older than 4.17",
            feature="CONFIG_UPROBE_EVENTS",
            min_kernel="4.17",
        )
    if any(s.semaphore_offset for s in sites):
        try:
            perf.ref_ctr_shift("uprobe")
        except OSError as err:
            raise NotSupportedError(
                f"{what}: {probe} has a semaphore, and this kernel's uprobes cannot count it"
                f" ({err.strerror}): the probe would never fire",
                feature="uprobe ref_ctr_offset",
                min_kernel="4.20",
            ) from None
    cookies = features.has_bpf_cookie()
    if not features.has_links("perf_event"):
        raise NotSupportedError(
            f"{what}: {probe}: this kernel has no perf-event links (Linux 5.15)",
            feature="perf-event links",
            min_kernel="5.15",
        )
    hook = probe + (f" of pid {pid}" if pid is not None else "")
    target_pid = -1 if pid is None else pid

    def make(prog_fd: int) -> tuple[FD, list[Closer]]:
        found_specs, ip_fd = _maps(prog_fd, program)
        made: list[Closer] = [_NotPinnable()]
        first: FD | None = None
        try:
            if found_specs is None:
                # The program reads no spec (it calls no bpf_usdt_* helper):
                # plain uprobes on every site, as libbpf's for such a program.
                if cookie:
                    raise ValueError(
                        f"attach_usdt: {program._describe()} uses no __bpf_usdt_specs map, so"
                        f" it cannot read cookie {cookie}: write it with libbpf's"
                        " <bpf/usdt.bpf.h> (bpf_usdt_cookie), or attach with cookie=0"
                    )
                slot = dict.fromkeys(specs, 0)
            else:
                map_id, size, specs_fd = found_specs
                with specs_fd:
                    release = _Release(map_id, _take(map_id, size, len(specs)))
                    made.append(release)
                    slot = dict(zip(specs, release.ids, strict=True))
                    for args, spec in specs.items():
                        key = slot[args].to_bytes(4, "little")
                        ops.map_update_elem(specs_fd.raw, key, spec, 0)
            if found_specs is not None and not cookies:
                if ip_fd is None:
                    raise ValueError(
                        f"attach_usdt: {program._describe()} has no __bpf_usdt_ip_to_spec_id"
                        " map, which kernels without BPF cookies (before 5.15) need"
                    )
                release.ip_map, ip_fd = ip_fd, None
                for site in sites:
                    ip = _absolute(site, found, pid)
                    value = slot[site.probe.args].to_bytes(4, "little")
                    ops.map_update_elem(release.ip_map.raw, _key(ip), value, 1)  # NOEXIST
                    release.ips.append(ip)
            elif ip_fd is not None:
                ip_fd.close()
                ip_fd = None
            for site in sites:
                event = perf.probe_open(
                    "uprobe",
                    found,
                    site.offset,
                    pid=target_pid,
                    ref_ctr_offset=site.semaphore_offset,
                )
                made.append(event)
                spec_id = slot[site.probe.args] if cookies else 0
                fd = link_ops.link_create(
                    prog_fd, event.raw, AttachType.PERF_EVENT, bpf_cookie=spec_id
                )
                if first is None:
                    first = fd
                else:
                    made.append(fd)
            assert first is not None  # sites() never returns an empty list
            return first, made
        except BaseException:
            if ip_fd is not None:
                ip_fd.close()
            if found_specs is not None:
                found_specs[2].close()  # idempotent
            if first is not None:
                first.close()
            while made:
                made.pop().close()
            raise

    def hint(code: int) -> str | None:
        if code in (errno.EPERM, errno.EACCES):
            return _hints.perf_eperm_hint()
        if code == errno.ESRCH:
            return f"no process {pid}" if pid is not None else None
        if code == errno.EEXIST and not cookies:
            return "another USDT link of this object has a probe at the same address"
        if code == errno.EINVAL:
            return f"a site of {probe} cannot be probed (file offset or semaphore refused)"
        return None

    return attach(program, _TYPES, hook, make, hint)


def _key(ip: int) -> bytes:
    return ip.to_bytes(8, "little", signed=ip < 0)


def _absolute(site: _usdt.Site, path: str, pid: int | None) -> int:
    """The address of ``site`` at run time, for the ip-to-spec map (no BPF
    cookies): the link-time address in a fixed-address executable, else the
    address the file has in process ``pid``.

    Raises:
        ValueError: a position-independent file without ``pid``.
        OSError: ``ESRCH`` when process ``pid`` does not map it.
    """
    if not _usdt.is_shared(path):
        return site.address
    if pid is None:
        raise ValueError(
            f"attach_usdt: {path} is position-independent: on a kernel without BPF cookies"
            " (before 5.15) give the pid of a process that maps it"
        )
    return _vma_address(pid, path, site.offset)
