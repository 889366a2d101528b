"""Programs on a cgroup2 directory: through a cgroup link (``BPF_LINK_CREATE``,
5.7), or with ``BPF_PROG_ATTACH`` and ``BPF_F_ALLOW_MULTI`` (4.15) where the
kernel has no cgroup links or the caller asks, as a
:class:`~bpfnest.link._legacy.LegacyLink` holding a :class:`CgroupHook`."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from .. import features
from .._sys import link_ops
from .._sys.fd import FD, dup_owned
from .._sys.uapi import BPF_F_ALLOW_MULTI
from ..constants import AttachType, LinkType, ProgType
from ._legacy import Hook, LegacyLinkInfo, attach_legacy
from ._link import Link, attach, check_type

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["CgroupHook", "attach_cgroup"]

_TYPES = (
    ProgType.CGROUP_SKB,
    ProgType.CGROUP_SOCK,
    ProgType.CGROUP_DEVICE,
    ProgType.CGROUP_SOCK_ADDR,
    ProgType.CGROUP_SYSCTL,
    ProgType.CGROUP_SOCKOPT,
    ProgType.SOCK_OPS,
)


def _open_cgroup(cgroup: str | os.PathLike[str] | int) -> tuple[int, bool, str]:
    """(fd, opened here, name for messages) of a cgroup path or fd.

    Raises:
        TypeError: ``cgroup`` is neither a path nor an int.
        ValueError: the path is not an existing directory.
    """
    if isinstance(cgroup, int) and not isinstance(cgroup, bool):
        return cgroup, False, f"cgroup fd {cgroup}"
    if not isinstance(cgroup, (str, os.PathLike)):
        raise TypeError(
            f"attach_cgroup: cgroup must be a cgroup2 directory path or an open fd,"
            f" got {type(cgroup).__name__}"
        )
    path = os.fspath(cgroup)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise ValueError(
            f"attach_cgroup: cgroup '{path}': {err.strerror} (give a cgroup2 directory,"
            " e.g. under the cgroup2 mount in /proc/mounts)"
        ) from None
    return fd, True, f"cgroup '{path}'"


def attach_cgroup(
    program: Program,
    cgroup: str | os.PathLike[str] | int,
    attach_type: AttachType | None = None,
    *,
    legacy: bool = False,
) -> Link:
    """Attach ``program`` to ``cgroup``; see ``Program.attach_cgroup``."""
    check_type(program, _TYPES, "a cgroup")  # before the cgroup is opened
    if not isinstance(legacy, bool):
        raise TypeError(f"attach_cgroup: legacy must be a bool, got {type(legacy).__name__}")
    kind = attach_type if attach_type is not None else program._attach_type
    if kind is None:
        raise ValueError(
            f"attach_cgroup: {program._describe()} has no expected attach type:"
            " pass attach_type= (e.g. AttachType.CGROUP_INET_EGRESS)"
        )
    fd, opened, name = _open_cgroup(cgroup)
    try:
        if legacy or not features.has_links("cgroup"):
            return _attach_legacy(program, fd, name, AttachType(kind))
        return attach(
            program,
            _TYPES,
            f"{name} as {AttachType(kind).name}",
            lambda prog: (link_ops.link_create(prog, fd, kind), ()),
        )
    finally:
        if opened:
            os.close(fd)


def _attach_legacy(program: Program, fd: int, name: str, kind: AttachType) -> Link:
    def hints(code: int) -> str | None:
        if code == errno.EPERM:
            return (
                "a program attached there without BPF_F_ALLOW_MULTI does not share the hook"
                " (or this needs root)"
            )
        if code != errno.EINVAL:
            return None
        try:
            there = program.id in link_ops.prog_query(fd, kind)
        except OSError:
            there = False
        if there:  # the kernel takes a program once per cgroup and attach type
            return f"{program._describe()} is attached there as {kind.name} already"
        return f"the kernel refused {kind.name} for this program"

    cgroup = dup_owned(fd)  # the hook's own, for detaching later
    try:

        def make(prog_fd: int) -> CgroupHook:
            link_ops.prog_attach(prog_fd, cgroup.raw, kind, flags=BPF_F_ALLOW_MULTI)
            return CgroupHook(cgroup, name, kind)

        where = f"{name} as {kind.name} (BPF_PROG_ATTACH)"
        return attach_legacy(program, _TYPES, where, make, hints)
    except BaseException:
        cgroup.close()
        raise


class CgroupHook(Hook):
    """A program attached to a cgroup with ``BPF_PROG_ATTACH`` and ``BPF_F_ALLOW_MULTI``
    (others may run beside it); owns a duplicate of the cgroup's fd.

    Minimum kernel: 4.10 (``BPF_F_ALLOW_MULTI`` 4.15, ``BPF_F_REPLACE`` 5.6).
    """

    kind = "cgroup"
    types = _TYPES
    no_pin = (
        "a program attached with BPF_PROG_ATTACH is no BPF link, so there is nothing to"
        " pin; it stays attached until close() or detach(); for an attachment that can be"
        " pinned use a cgroup link (attach_cgroup() without legacy=True, Linux 5.7)"
    )
    link_feature = ("cgroup BPF links", "5.7")

    def __init__(self, cgroup: FD, name: str, attach_type: AttachType) -> None:
        """The place: ``cgroup`` (owned from here, named ``name``), ``attach_type``."""
        self.cgroup = cgroup
        self.name = name
        self.attach_type = attach_type

    def describe(self) -> str:
        """E.g. ``cgroup '/sys/fs/cgroup/x' as CGROUP_INET_EGRESS (BPF_PROG_ATTACH)``."""
        return f"{self.name} as {self.attach_type.name} (BPF_PROG_ATTACH)"

    def current(self, ours: int) -> int:
        """``ours`` while it is among the programs attached there (BPF_PROG_QUERY), else 0."""
        with self.cgroup.borrow(self.name) as fd:
            return ours if ours in link_ops.prog_query(fd, self.attach_type) else 0

    def info(self, program_id: int) -> LegacyLinkInfo:
        """The cgroup's id (its inode) and the attach type, with ``program_id``."""
        with self.cgroup.borrow(self.name) as fd:
            cgroup_id = os.fstat(fd).st_ino
        return LegacyLinkInfo(
            0,
            LinkType.UNSPEC,
            program_id,
            cgroup_id=cgroup_id,
            attach_type=self.attach_type,
            hook=self.kind,
        )

    def replace(self, new_fd: int, old_fd: int, name: str) -> None:
        """Swap ``old_fd`` for ``new_fd`` in place (``BPF_F_REPLACE``, 5.6)."""
        with self.cgroup.borrow(self.name) as fd:
            link_ops.prog_attach(
                new_fd, fd, self.attach_type, flags=BPF_F_ALLOW_MULTI, replace_fd=old_fd
            )

    def remove(self, ours_fd: int) -> None:
        """Detach exactly ``ours_fd`` (BPF_PROG_DETACH with its fd)."""
        with self.cgroup.borrow(self.name) as fd:
            link_ops.prog_detach(fd, self.attach_type, ours_fd)

    def close(self) -> None:
        """Close the cgroup's fd; idempotent."""
        self.cgroup.close()
