"""``Program.attach_*``: one method per hook, each a thin door to ``bpfnest.link``.

Kept apart from :mod:`bpfnest.programs` so that loading and attaching grow
separately; :class:`~bpfnest.programs.Program` inherits :class:`Attachable`.
The work is done in ``bpfnest/link/`` (one module per hook); these methods
carry the documentation a user reads.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from .constants import AttachType

if TYPE_CHECKING:
    from .link import Link
    from .maps import Map
    from .programs import Program

__all__ = ["Attachable"]


class Attachable:
    """The attach methods of :class:`~bpfnest.programs.Program` (a mixin)."""

    def _program(self) -> Program:
        return cast("Program", self)

    def attach_xdp(
        self, iface: str | int, *, mode: str | None = None, netlink: bool = False
    ) -> Link:
        """Attach this XDP program to interface ``iface`` (a name or an ifindex).

        ``mode`` is ``"native"``, ``"generic"``, ``"offload"`` or None (the
        kernel picks). A BPF link (5.9) where the kernel has XDP links; over
        netlink (``IFLA_XDP``, 4.8) where it has not (a probe, run once) or
        when ``netlink=True``: then the :class:`Link` is a ``LegacyLink``
        (id 0, type ``LinkType.UNSPEC``) that cannot be pinned, and it never
        replaces a program already attached (``XDP_FLAGS_UPDATE_IF_NOEXIST``);
        its ``update()`` swaps in place (5.7). The caller owns the returned
        :class:`Link` and closes it (closing detaches unless it is pinned; a
        netlink attachment is removed only while it still runs this
        object's program). Needs CAP_NET_ADMIN.
        Minimum kernel: 5.9 (links), 4.8 (netlink).

        Raises:
            TypeError: the program is not XDP (naming both), or ``iface`` is
                neither a str nor an int; before any syscall.
            ValueError: no such interface, an unknown ``mode``, or the program is closed.
            BPFError: the kernel refused (``EBUSY`` when an XDP program is
                attached there already, naming it and how to replace it).
        """
        from .link import attach_xdp

        return attach_xdp(self._program(), iface, mode=mode, netlink=netlink)

    def attach_tcx(self, iface: str | int, direction: str) -> Link:
        """Attach this SCHED_CLS program to ``iface``'s ``"ingress"`` or ``"egress"`` (tcx link).

        The caller owns the returned :class:`Link` and closes it (closing
        detaches unless it is pinned). Needs CAP_NET_ADMIN. Minimum kernel: 6.6.

        Raises:
            TypeError: the program is not SCHED_CLS/SCHED_ACT (naming both); before any syscall.
            ValueError: no such interface, a bad ``direction``, or the program is closed.
            BPFError: the kernel refused.
        """
        from .link import attach_tcx

        return attach_tcx(self._program(), iface, direction)

    def attach_cgroup(
        self,
        cgroup: str | os.PathLike[str] | int,
        attach_type: AttachType | None = None,
        *,
        legacy: bool = False,
    ) -> Link:
        """Attach this program to ``cgroup`` (a cgroup2 directory path or an open fd).

        ``attach_type`` defaults to the program's expected attach type (from
        its section name). A path is opened and closed here; an fd stays the
        caller's. A cgroup link (5.7) where the kernel has them; else, or with
        ``legacy=True``, ``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_MULTI`` (4.15):
        then the :class:`Link` is a ``LegacyLink`` (id 0, type
        ``LinkType.UNSPEC``, owns a duplicate of the cgroup fd) that cannot be
        pinned, whose ``update()`` swaps in place (``BPF_F_REPLACE``, 5.6) and
        whose ``close()`` detaches exactly its program. The caller owns the
        returned :class:`Link` and closes it (closing detaches unless it is
        pinned). Minimum kernel: 5.7 (links), 4.15 (legacy).

        Raises:
            TypeError: the program is not a cgroup program (naming both), or
                ``cgroup`` is neither a path nor an int; before any syscall.
            ValueError: the path is not a directory, no attach type is known,
                or the program is closed.
            BPFError: the kernel refused (``EINVAL`` for a wrong attach type;
                legacy: ``EEXIST`` when this program is attached there already).
        """
        from .link import attach_cgroup

        return attach_cgroup(self._program(), cgroup, attach_type, legacy=legacy)

    def attach_tracepoint(self, group: str, name: str) -> Link:
        """Attach this TRACEPOINT program to tracepoint ``group/name`` (e.g. ``syscalls``,
        ``sys_enter_getpgid``): a perf event and a perf-event link (5.15), or,
        on a kernel without perf-event links (a probe, run once),
        ``PERF_EVENT_IOC_SET_BPF`` (4.1): then the :class:`Link` is a
        ``LegacyLink`` that cannot be pinned, updated or detached. The
        event's id comes from tracefs; where tracefs is not mounted, a
        short-lived child mounts it in a mount namespace of its own to read
        the id (nothing stays mounted; needs CAP_SYS_ADMIN).

        The returned :class:`Link` owns the perf event's fd too; the caller
        closes it (closing detaches unless it is pinned; the ioctl path
        disables and closes the event). Needs CAP_PERFMON
        or CAP_SYS_ADMIN. Minimum kernel: 5.15 (links), 4.1 (ioctl).

        Raises:
            TypeError: the program is not TRACEPOINT (naming both); before any syscall.
            ValueError: ``group`` or ``name`` is not an event name, or the program is closed.
            BPFError: ``ENOENT`` for an unknown tracepoint; the kernel refused.
        """
        from .link import attach_tracepoint

        return attach_tracepoint(self._program(), group, name)

    def attach_raw_tracepoint(self, name: str) -> Link:
        """Attach this RAW_TRACEPOINT program to raw tracepoint ``name`` (e.g. ``sys_enter``).

        The caller owns the returned :class:`Link` and closes it (closing
        detaches unless it is pinned). Minimum kernel: 4.17 (links: 5.8).

        Raises:
            TypeError: the program is not RAW_TRACEPOINT (naming both); before any syscall.
            ValueError: ``name`` is empty or has a '/', or the program is closed.
            BPFError: ``ENOENT`` for an unknown tracepoint; the kernel refused.
        """
        from .link import attach_raw_tracepoint

        return attach_raw_tracepoint(self._program(), name)

    def attach_kprobe(self, symbol: str, *, retprobe: bool = False, offset: int = 0) -> Link:
        """Attach this KPROBE program to kernel function ``symbol`` (at ``offset``
        bytes into it), or to its return with ``retprobe``: a kprobe perf event
        and a perf-event link.

        The kprobe PMU is used where the kernel has it (4.17); else a uniquely
        named event in tracefs ``kprobe_events``, removed again when the link
        is closed. The returned :class:`Link` owns the perf event's fd (and
        that event); the caller closes it (closing detaches unless it is
        pinned). Needs CAP_PERFMON or CAP_SYS_ADMIN. Minimum kernel: 5.15
        (perf-event links), built with ``CONFIG_KPROBES``.

        Raises:
            TypeError: the program is not KPROBE (naming both), or an argument
                has the wrong type; before any syscall.
            ValueError: ``symbol`` is not a function name, ``offset`` < 0, an
                offset with ``retprobe``, or the program is closed.
            NotSupportedError: the kernel has no kprobes (no kprobe PMU, no
                ``kprobe_events``: ``CONFIG_KPROBES`` is unset); before any syscall.
            BPFError: ``ENOENT`` for an unknown function; ``EPERM``/``EACCES``
                with a hint on capabilities; the kernel refused.
        """
        from .link import attach_kprobe

        return attach_kprobe(self._program(), symbol, retprobe=retprobe, offset=offset)

    def attach_uprobe(
        self,
        path: str | os.PathLike[str],
        symbol: str | None = None,
        *,
        offset: int = 0,
        pid: int | None = None,
        retprobe: bool = False,
    ) -> Link:
        """Attach this KPROBE program as an uprobe on function ``symbol`` of the
        executable or shared library ``path`` (plus ``offset`` bytes), or on
        its return with ``retprobe``.

        ``path`` with a ``/`` is used as it is; a bare library name
        (``"libc.so.6"``) is looked up as libbpf does, in ``LD_LIBRARY_PATH``,
        then ``/etc/ld.so.cache``, then the standard library directories; a
        bare program name in ``PATH``. Without ``symbol``, ``offset`` is the
        file offset of the instruction. ``pid`` limits the probe to one
        process; None is every process that maps the file. The uprobe PMU
        is used (4.17), else tracefs ``uprobe_events``. The returned
        :class:`Link` owns the perf event's fd (and link fd); the caller
        closes it (closing detaches unless it is pinned). Needs CAP_PERFMON
        or CAP_SYS_ADMIN. Minimum kernel: 5.15 (perf-event links).

        Raises:
            TypeError: the program is not KPROBE (naming both), or an argument
                has the wrong type; before any syscall.
            ValueError: the file is not found, ``symbol`` is not a function of
                it, ``offset`` < 0, ``pid`` <= 0, neither ``symbol`` nor
                ``offset`` given, or the program is closed; before
                ``perf_event_open``.
            BPFError: ``ESRCH`` for a process that does not exist;
                ``EPERM``/``EACCES`` with a hint on capabilities; the kernel refused.
        """
        from .link import attach_uprobe

        return attach_uprobe(
            self._program(), path, symbol, offset=offset, pid=pid, retprobe=retprobe
        )

    def attach_tracing(self) -> Link:
        """Attach this fentry, fexit, fmod_ret, tp_btf or lsm program to its target.

        The target (a kernel function, BTF tracepoint or LSM hook) was fixed
        at load from the section name (``fentry/F``, ``tp_btf/N``, ``lsm/H``,
        ...). A ``BPF_LINK_CREATE`` link with the program's attach type
        (5.13), or ``BPF_RAW_TRACEPOINT_OPEN`` without a name on older
        kernels and for a program opened by id. The caller owns the returned
        :class:`Link` and closes it (closing detaches unless it is pinned).
        Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN). Minimum kernel:
        5.5 (fmod_ret 5.6, lsm 5.7).

        Raises:
            TypeError: the program is not TRACING or LSM (naming both), or is
                an iter/* or lsm_cgroup/* program (naming the method that
                attaches it); before any syscall.
            ValueError: the program is closed.
            BPFError: the kernel refused (``EBUSY`` when attached already).
        """
        from .link import attach_tracing

        return attach_tracing(self._program())

    def attach_iter(self, *, map: Map | int | None = None, pid: int | None = None) -> Link:
        """Make an iterator link of this ``iter/*`` program; read it with :meth:`Link.read`.

        ``map`` (a ``Map`` or an fd) is the map a map iterator walks
        (``iter/bpf_map_elem``, ``iter/sockmap``, ...; 5.9); the link holds
        its own reference, so the map may be closed afterwards. ``pid``
        limits a task iterator (``iter/task``, ``iter/task_file``, ...) to
        the threads of that process (6.1). The caller owns the returned
        :class:`Link` and closes it (closing detaches unless it is pinned).
        Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN). Minimum kernel: 5.8.

        Raises:
            TypeError: the program is not TRACING (naming both), or not an
                iter/* program (naming attach_tracing); ``map``/``pid`` of a
                wrong type; before any syscall.
            ValueError: both ``map`` and ``pid``, a non-positive one, or the
                program (or ``map``) is closed.
            BPFError: the kernel refused (``EBADF`` when a map iterator got
                no ``map``).
        """
        from .link import attach_iter

        return attach_iter(self._program(), map=map, pid=pid)

    def attach(self, **target: Any) -> Link:
        """Attach this program to the hook its section names, as libbpf's auto-attach does.

        ``tracepoint/G/N`` and ``tp/G/N`` (:meth:`attach_tracepoint`),
        ``raw_tp/N`` and ``raw_tracepoint/N`` (:meth:`attach_raw_tracepoint`),
        ``kprobe/F[+OFF]``, ``kretprobe/F``, ``ksyscall/NAME`` and
        ``kretsyscall/NAME`` (:meth:`attach_kprobe`; a syscall's
        ``__<arch>_sys_NAME`` wrapper where the kernel has them),
        ``fentry/``, ``fexit/``, ``fmod_ret/``, ``tp_btf/``, ``lsm/``
        (:meth:`attach_tracing`) need no keyword; ``uprobe/PATH:F[+OFF]`` and
        ``uretprobe/PATH:F`` take ``pid=`` (:meth:`attach_uprobe`);
        ``iter/T`` takes ``map=`` and ``pid=`` (:meth:`attach_iter`); ``xdp``
        needs ``iface=`` (and takes ``mode=``, :meth:`attach_xdp`);
        ``tcx/ingress`` and ``tcx/egress`` need ``iface=``
        (:meth:`attach_tcx`); ``tc/ingress``, ``tc/egress`` need ``iface=``,
        a bare ``tc`` also ``direction=`` (tcx where the kernel has it, 6.6,
        else a netlink filter, :meth:`attach_tc`); ``cgroup/*``,
        ``cgroup_skb/*`` and ``sockops`` need ``cgroup=`` (and take
        ``attach_type=``, :meth:`attach_cgroup`). A ``?`` before the section
        name (an optional program) is ignored.
        The keywords are those of the method called. The caller owns the
        returned :class:`Link` and closes it (closing detaches unless it is
        pinned). Minimum kernel and capabilities: those of the method called.

        Raises:
            ValueError: the program has no section name (opened by id, pin or
                fd), or its section is not one ``attach()`` knows (naming the
                ``attach_*`` method to call instead); before any syscall.
            TypeError: a keyword the section's hook does not take (naming the
                ones it takes), or one it needs is missing; before any syscall.
            BPFError: as the method called raises.
        """
        from .link._auto import auto_attach

        return auto_attach(self._program(), target)

    def attach_tc(self, iface: str | int, direction: str, *, priority: int = 1) -> Link:
        """Attach this SCHED_CLS program to ``iface``'s ``"ingress"`` or ``"egress"``
        the way before tcx: a ``cls_bpf`` filter in direct-action mode (handle 1,
        at ``priority``) on the ``clsact`` qdisc, over rtnetlink.

        The qdisc is added when absent. The returned :class:`Link` is a
        ``LegacyLink`` (id 0, type ``LinkType.UNSPEC``) the caller owns:
        ``close()`` removes the filter (unless another program replaced it),
        and the qdisc when it was added here and no filter is left on it;
        ``update()`` replaces the filter's program; ``pin()`` refuses (use
        :meth:`attach_tcx` on 6.6). Needs CAP_NET_ADMIN. Minimum kernel: 4.5.

        Raises:
            TypeError: the program is not SCHED_CLS (naming both), or
                ``priority`` is not an int; before any syscall.
            ValueError: no such interface, a bad ``direction``, ``priority``
                outside 1..65535, or the program is closed.
            BPFError: ``EEXIST`` when a filter is at that priority already
                (naming it and how to remove it); the kernel refused. Nothing
                is left behind on failure.
        """
        from .link import attach_tc

        return attach_tc(self._program(), iface, direction, priority=priority)

    def attach_usdt(
        self,
        path: str | os.PathLike[str],
        provider: str,
        name: str,
        *,
        pid: int | None = None,
        cookie: int = 0,
    ) -> Link:
        """Attach this KPROBE program, written with libbpf's ``<bpf/usdt.bpf.h>``
        (``BPF_USDT``, ``bpf_usdt_arg``, ``bpf_usdt_cookie``), to the USDT
        probe ``provider:name`` of the executable or shared library ``path``.

        ``path`` is found as by :meth:`attach_uprobe`. Every site of the probe
        (see :func:`bpfnest.usdt_probes`) gets an uprobe, with the probe's
        semaphore counted while attached (so probes gated on it fire); each
        distinct argument string gets a slot of the object's
        ``__bpf_usdt_specs`` map, as libbpf fills it, so that
        ``bpf_usdt_arg`` reads constants, registers and memory with their
        sizes and signs, and ``bpf_usdt_cookie`` returns ``cookie`` (a u64).
        ``pid`` limits the probe to one process; None is every process that
        maps the file. The returned :class:`Link` (the first site's
        perf-event link) owns every site's link and perf event and the spec
        slots; the caller closes it, which detaches all and frees the slots
        for reuse (the kernel drops the uprobes, and the semaphore's count,
        from a workqueue just after). It cannot be pinned (``pin()``
        raises ``NotSupportedError``), as in libbpf. Needs CAP_PERFMON and
        CAP_SYS_ADMIN (the object's maps are opened by id), i.e. root.
        x86_64 only. Minimum kernel: 5.15 (perf-event links, BPF cookies);
        4.20 for a probe with a semaphore.

        Raises:
            TypeError: the program is not KPROBE (naming both), or an argument
                has the wrong type; before any syscall.
            ValueError: the file is not found or not ELF, has no USDT notes,
                no probe ``provider:name`` (naming those it has), an argument
                spec this library does not parse (naming it), ``pid`` <= 0,
                ``cookie`` not a u64, a ``cookie`` for a program that uses no
                ``__bpf_usdt_specs`` map (it calls no ``bpf_usdt_*`` helper:
                it gets plain uprobes on every site), or the program is
                closed; nothing is attached.
            NotSupportedError: the kernel cannot count the probe's semaphore
                (``ref_ctr_offset``, 4.20), has no uprobe PMU or perf-event
                links, or the machine is not x86_64; before any syscall.
            BPFError: ``E2BIG`` when every spec slot is taken by open links;
                ``ESRCH`` for a process that does not exist; the kernel
                refused. Nothing is left attached.
        """
        from .link import attach_usdt

        return attach_usdt(self._program(), path, provider, name, pid=pid, cookie=cookie)
