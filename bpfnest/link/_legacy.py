"""Attachments the kernel makes no BPF link for, as :class:`~bpfnest.Link` objects.

XDP attached over netlink (``IFLA_XDP``, before 5.9 or by choice), tc
``cls_bpf`` filters on a ``clsact`` qdisc (before tcx, 6.6), cgroup programs
attached with ``BPF_PROG_ATTACH`` (before cgroup links, 5.7) and tracepoints
by the ``PERF_EVENT_IOC_SET_BPF`` ioctl (before perf-event links, 5.15) leave
no kernel object behind that a program could hold, pin or query by id. The
design: a :class:`LegacyLink` is a :class:`~bpfnest.Link` (same API, so the
caller does not care which path was taken) that holds a :class:`Hook`, a
small strategy object per path (``_xdp.XdpHook``, ``_tc.TcHook``,
``_cgroup.CgroupHook``, ``_tracepoint.PerfHook``) that knows how to read what
runs at its place in the kernel, swap it and remove it.

What the :class:`~bpfnest.Link` attributes are for such an attachment:

* ``fd``: the one fd the object owns, a duplicate of the attached program's
  fd (the kernel gives no link fd). It keeps the program alive for
  :meth:`LegacyLink.update` and :meth:`LegacyLink.close`, which pass it to the
  kernel to name the program they expect (``IFLA_XDP_EXPECTED_FD``,
  ``BPF_PROG_DETACH``'s ``attach_bpf_fd``). A hook may own more (the cgroup's
  fd, the perf event's fd); it closes them with the link.
* ``id``: 0 and ``type``: :attr:`~bpfnest.LinkType.UNSPEC` (0), values the
  kernel never gives a BPF link, so that no code takes this for one; ``hook``
  names the path (``"xdp"``, ``"tc"``, ``"cgroup"``, ``"perf_event"``).
* ``program_id`` and :meth:`LegacyLink.info`: asked of the kernel each time
  (netlink ``RTM_GETLINK``, the tc filter dump, ``BPF_PROG_QUERY``,
  ``BPF_TASK_FD_QUERY``): the program at this attachment's place now, 0 when
  nothing (or, for a cgroup, not this program) is there any more.

Closing removes the attachment (what closing an unpinned link does) but only
when the program there is still the one this object attached: a hook taken
over by someone else meanwhile is left to them. An object dropped without
``close()`` leaves the program attached (nothing in the kernel ties it to
this process), as ``ip link set ... xdp`` and ``tc filter add`` do.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._sys.fd import FD, dup_owned
from ..constants import LinkType, ProgType
from ..errors import BPFError, NotSupportedError, error, strerror
from ..programs import Program
from ._link import Link, LinkInfo, attach_error, check_type

if TYPE_CHECKING:
    from .._pins import PathArg
    from ..maps import Map

__all__ = ["Hook", "LegacyLink", "LegacyLinkInfo", "attach_legacy"]

# Errnos that mean the place is gone (the interface, the qdisc, the filter):
# nothing is left to remove.
_GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.ENXIO})


@dataclass(frozen=True)
class LegacyLinkInfo(LinkInfo):
    """What the kernel says of an attachment without a BPF link.

    ``id`` is 0 and ``type`` :attr:`~bpfnest.LinkType.UNSPEC`; ``program_id``
    is the program at this place now (0 when none, or not this one).
    """

    #: The path: ``"xdp"`` (netlink), ``"tc"`` (cls_bpf), ``"cgroup"``
    #: (BPF_PROG_ATTACH), ``"perf_event"`` (ioctl).
    hook: str = ""
    #: XDP: ``"native"``, ``"generic"`` or ``"offload"``.
    mode: str | None = None
    #: tc: ``"ingress"`` or ``"egress"``.
    direction: str | None = None
    #: tc: the filter's priority and handle.
    priority: int | None = None
    handle: int | None = None


class Hook:
    """Where one attachment without a BPF link sits, and how to read, swap and
    remove it: one subclass per path. Methods raise plain :class:`OSError`;
    :class:`LegacyLink` turns it into a :class:`~bpfnest.BPFError`."""

    #: The path, as :attr:`LegacyLinkInfo.hook` says it.
    kind: ClassVar[str] = ""
    #: The program types it takes.
    types: ClassVar[tuple[ProgType, ...]] = ()
    #: Why :meth:`LegacyLink.pin` cannot work, and what to do instead.
    no_pin: ClassVar[str] = ""
    #: The BPF link that would have been pinnable, and its first kernel.
    link_feature: ClassVar[tuple[str, str]] = ("", "")
    #: Why :meth:`LegacyLink.update` / :meth:`LegacyLink.detach` cannot work
    #: here (None: they can).
    no_update: ClassVar[str | None] = None
    no_detach: ClassVar[str | None] = None

    def describe(self) -> str:
        """How messages name the place, e.g. ``tc ingress of interface 'eth0' ...``."""
        raise NotImplementedError

    def current(self, ours: int) -> int:
        """The id of the program at this place now; 0 when none (or, where
        several share the place, when ``ours`` is not among them)."""
        raise NotImplementedError

    def info(self, program_id: int) -> LegacyLinkInfo:
        """The info of this place, with ``program_id`` as :meth:`current` found it."""
        raise NotImplementedError

    def replace(self, new_fd: int, old_fd: int, name: str) -> None:
        """Put program ``new_fd`` (named ``name``) where ``old_fd`` runs."""
        raise NotImplementedError

    def remove(self, ours_fd: int) -> None:
        """Remove program ``ours_fd`` (the one attached here) from the place."""
        raise NotImplementedError

    def tidy(self) -> None:
        """Remove what the attach made besides the attachment, once unused (tc's qdisc)."""

    def close(self) -> None:
        """Close the fds the hook owns; idempotent."""


class LegacyLink(Link):
    """A program attached by a path that makes no BPF link (see the module docstring).

    Made by ``Program.attach_xdp(..., netlink=True)`` (or on a kernel without
    XDP links), ``Program.attach_tc``, ``Program.attach_cgroup(...,
    legacy=True)`` (or without cgroup links) and ``Program.attach_tracepoint``
    on a kernel without perf-event links; the caller owns it. Closing removes
    the program from the hook unless someone else's program is there now.
    It cannot be pinned or opened (``from_id``, ``from_pinned``, ``from_fd``
    raise ``TypeError``): there is no kernel object.

    Minimum kernel: that of its path (netlink XDP 4.8, tc ``clsact`` 4.5,
    ``BPF_PROG_ATTACH`` 4.10, ``PERF_EVENT_IOC_SET_BPF`` 4.1).
    """

    def __init__(self, hook: Hook, prog: FD, program: Program) -> None:
        """Own ``prog`` (a duplicate of ``program``'s fd) and ``hook``; use ``Program.attach_*``."""
        super().__init__(prog, LinkInfo(0, LinkType.UNSPEC, program.id))
        self._hook = hook
        self._prog_id = program.id
        self._prog_name = program.name

    @classmethod
    def _from_owned(cls, fd: FD) -> LegacyLink:
        """Refused: the openers give a :class:`~bpfnest.Link`; nothing opens as this.

        Raises ``TypeError`` (``from_id``/``from_pinned``/``from_fd`` close the fd).
        """
        raise TypeError(
            "LegacyLink cannot be opened: an attachment without a BPF link (netlink XDP,"
            " tc, cgroup BPF_PROG_ATTACH, perf-event ioctl) is no kernel object; open links"
            " with Link.from_id, Link.from_pinned or Link.from_fd"
        )

    # ------------------------------------------------------------- attributes

    @property
    def hook(self) -> str:
        """The path: ``"xdp"`` (netlink), ``"tc"``, ``"cgroup"`` or ``"perf_event"``."""
        return self._hook.kind

    def info(self) -> LegacyLinkInfo:
        """What the kernel says of this place now: the program there (0 when
        none, or not this one), and the interface, mode, direction, priority,
        cgroup or tracepoint. ``id`` is 0, ``type`` ``LinkType.UNSPEC``.

        Minimum kernel: 4.8 (netlink XDP), 4.5 (tc), 4.15 (cgroup,
        BPF_PROG_QUERY), 4.18 (perf event, BPF_TASK_FD_QUERY; before it the
        program this object attached is reported).

        Raises:
            ValueError: the link is closed.
            BPFError: the kernel refused the query.
        """
        try:
            with self._use():
                return self._hook.info(self._hook.current(self._prog_id))
        except OSError as err:
            raise self._error("info", err) from None

    def pin(self, path: PathArg, *, dir_fd: int | None = None) -> None:
        """Refused: the kernel made no BPF link for this attachment, so there
        is nothing to pin; the message says what to do instead.

        Raises:
            ValueError: the link is closed.
            NotSupportedError: always (``EOPNOTSUPP``), naming why.
        """
        self._raw()  # a closed link says so first
        feature, min_kernel = self._hook.link_feature
        message = f"pin {self._describe()}: {strerror(errno.EOPNOTSUPP)} ({self._hook.no_pin})"
        raise NotSupportedError(
            message, feature=feature, min_kernel=min_kernel, code=errno.EOPNOTSUPP
        )

    def update(self, program: Program | Map[Any], *, old: Program | Map[Any] | None = None) -> None:
        """Make this place run ``program`` from now on, where the kernel can
        swap in place: netlink XDP (``XDP_FLAGS_REPLACE`` with this object's
        program as the expected one, 5.7), tc (the filter replaced at the same
        priority and handle, 4.5), cgroup (``BPF_F_REPLACE``, 5.6). A
        tracepoint attached by ioctl cannot swap (close it, attach the new one).

        With ``old``, the swap happens only if ``old`` is the program there now.
        This object then holds ``program`` (a duplicate of its fd).

        Raises:
            TypeError: ``program`` or ``old`` is not a :class:`~bpfnest.Program`,
                or ``program`` is of a type the hook does not take; before any syscall.
            ValueError: the link or a program is closed.
            BPFError: ``EPERM`` when ``old`` is not the program there,
                ``ENOLINK`` when nothing of this object's is attached there any
                more (detached), ``EBUSY`` when another program took the place,
                ``EOPNOTSUPP`` where the hook cannot swap.
        """
        for arg, value in (("program", program), ("old", old)):
            if value is not None and not isinstance(value, Program):
                got = type(value).__name__
                raise TypeError(f"update {self._describe()}: {arg} must be a Program, got {got}")
        assert isinstance(program, Program) and (old is None or isinstance(old, Program))
        check_type(program, self._hook.types, self._hook.describe())
        self._raw()  # a closed link says so first
        if self._hook.no_update is not None:
            raise self._refused("update", errno.EOPNOTSUPP, self._hook.no_update)
        try:
            with self._use() as ours, program._use() as new:
                now = self._hook.current(self._prog_id)
                if old is not None and now != old.id:
                    raise self._refused(
                        "update", errno.EPERM, f"the program attached is not '{old.name}'"
                    )
                self._check_ours("update", now)
                self._hook.replace(new, ours, program.name)
                swapped = dup_owned(new)
        except OSError as err:
            if isinstance(err, BPFError):
                raise
            raise self._error("update", err) from None
        before, self._fd = self._fd, swapped
        self._prog_id, self._prog_name = program.id, program.name
        before.close()

    def detach(self) -> None:
        """Remove the program from the hook; the object stays (``info()`` then
        reports program 0, ``update()`` refuses with ``ENOLINK``). Does
        nothing when this object's program is not there any more (detached
        already, or the place taken by another program, which stays).
        A tracepoint attached by ioctl cannot detach: close it.

        Raises:
            ValueError: the link is closed.
            BPFError: the kernel refused; ``EOPNOTSUPP`` for a perf-event ioctl.
        """
        self._raw()  # a closed link says so first
        if self._hook.no_detach is not None:
            raise self._refused("detach", errno.EOPNOTSUPP, self._hook.no_detach)
        try:
            with self._use() as ours:
                self._remove(ours)
        except OSError as err:
            raise self._error("detach", err) from None

    def close(self) -> None:
        """Remove the program from the hook (unless another program took its
        place meanwhile) and what the attach made for it (tc: the clsact qdisc,
        when it was made here and no filter is left on it), then close the fds
        this object owns. Idempotent; the fds are closed also when the removal
        fails.

        Raises:
            BPFError: the kernel refused to remove the attachment (it stays).
        """
        if self._fd.closed:
            return
        try:
            with self._use() as ours:
                self._remove(ours)
        except OSError as err:
            if err.errno not in _GONE:
                raise self._error("close", err) from None
        finally:
            try:
                self._hook.close()
            finally:
                super().close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"program {self._prog_id}"
        return f"<LegacyLink {self._describe()} {state}>"

    # ------------------------------------------------------------- internals

    def _remove(self, ours: int) -> None:
        if self._hook.current(self._prog_id) == self._prog_id:
            try:
                self._hook.remove(ours)
            except OSError as err:
                if err.errno not in _GONE:  # removed meanwhile by someone else
                    raise
        self._hook.tidy()

    def _check_ours(self, op: str, now: int) -> None:
        if now == 0:
            raise self._refused(
                op, errno.ENOLINK, "the program is not attached there any more: attach again"
            )
        if now != self._prog_id:
            raise self._refused(
                op, errno.EBUSY, f"program {now} holds the hook now, not program {self._prog_id}"
            )

    def _type_name(self) -> str:
        return self._hook.kind

    def _describe(self) -> str:
        return self._hook.describe()

    def _refused(self, op: str, code: int, hint: str) -> BPFError:
        return error(op, self._describe(), code, hint)


def attach_legacy(
    program: Program,
    types: Collection[ProgType],
    hook: str,
    make: Callable[[int], Hook],
    hints: Mapping[int, str] | Callable[[int], str | None] | None = None,
) -> LegacyLink:
    """Attach ``program`` to ``hook`` (named in errors) by ``make(prog_fd)``,
    which does the syscalls (all or nothing) and returns the :class:`Hook`;
    the caller owns the :class:`LegacyLink`.

    Raises:
        TypeError: the program's type is not one of ``types`` (before any syscall).
        ValueError: the program is closed.
        BPFError: the kernel refused; ``hints`` by errno say why (before the
            kernel's own text, e.g. netlink's extended ack).
    """
    check_type(program, types, hook)
    what = f"{program._describe()} to {hook}"
    with program._use() as prog_fd:
        own = dup_owned(prog_fd)
        try:
            made = make(prog_fd)
        except OSError as err:
            own.close()
            raise attach_error(what, err, hints, own_first=False, prog_type=program.type) from None
        except BaseException:
            own.close()
            raise
    return LegacyLink(made, own, program)
