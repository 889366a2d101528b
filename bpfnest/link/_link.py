"""The :class:`Link`: one attachment of a program to a hook, as a kernel object.

A link owns its fd (and, for a tracepoint, the perf event's fd too). Closing
the last fd of an unpinned link detaches the program; a pinned link keeps
running until its pin is removed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from .. import _pins
from .._hints import attach_eperm_hint
from .._object import KernelObject, iter_ids
from .._sys import link_ops
from .._sys.fd import FD
from .._sys.uapi import BpfLinkInfo, Cmd
from ..constants import AttachType, LinkType, ProgType
from ..errors import BPFError, NotSupportedError, error
from ..programs import Program

if TYPE_CHECKING:
    from ..maps import Map

__all__ = ["Link", "LinkInfo", "link_ids"]

# Link types whose kernel ops can swap the program (BPF_LINK_UPDATE).
_UPDATABLE = frozenset(
    {
        LinkType.CGROUP,
        LinkType.ITER,
        LinkType.NETNS,
        LinkType.XDP,
        LinkType.STRUCT_OPS,
        LinkType.TCX,
        LinkType.NETKIT,
        LinkType.SOCKMAP,
    }
)


class Closer(Protocol):
    """What a link owns besides its fd: an :class:`FD`, or anything closed with it."""

    def close(self) -> None: ...


_PERF_EVENT_KINDS = {1: "uprobe", 2: "uretprobe", 3: "kprobe", 4: "kretprobe", 5: "tracepoint"}


@dataclass(frozen=True)
class LinkInfo:
    """What the kernel says of a link; a field is None where the type has none."""

    id: int
    type: LinkType | int
    program_id: int
    #: The interface (XDP, tcx, netkit); 0 once detached.
    ifindex: int | None = None
    #: The attach type (cgroup, tcx, tracing, netns, netkit, sockmap).
    attach_type: AttachType | int | None = None
    #: The cgroup's id (its inode number in cgroup2); 0 once detached.
    cgroup_id: int | None = None
    #: The raw tracepoint's name, the iterator's target, a perf event's
    #: tracepoint, function or file name.
    name: str | None = None
    #: A perf-event link's kind: "tracepoint", "kprobe", "kretprobe", "uprobe", "uretprobe".
    perf_event: str | None = None
    #: A tracing link's target: the BTF object id and type id.
    target_obj_id: int | None = None
    target_btf_id: int | None = None
    #: A kprobe's offset into its function, an uprobe's file offset.
    offset: int | None = None
    #: An ITER link's map (a map iterator made with ``attach_iter(map=...)``); 0 for
    #: others. A STRUCT_OPS link's map (the struct_ops it registers).
    map_id: int | None = None


def _enum(kind: type[AttachType] | type[LinkType], value: int) -> AttachType | LinkType | int:
    try:
        return kind(value)
    except ValueError:
        return value


def _decode(raw: BpfLinkInfo, name: str) -> LinkInfo:
    kind = _enum(LinkType, int(raw.type))
    base = LinkInfo(int(raw.id), kind, int(raw.prog_id))
    if kind == LinkType.XDP:
        return replace(base, ifindex=int(raw.xdp.ifindex))
    if kind in (LinkType.TCX, LinkType.NETKIT):
        sub = raw.tcx if kind == LinkType.TCX else raw.netkit
        at = _enum(AttachType, int(sub.attach_type))
        return replace(base, ifindex=int(sub.ifindex), attach_type=at)
    if kind == LinkType.CGROUP:
        at = _enum(AttachType, int(raw.cgroup.attach_type))
        return replace(base, cgroup_id=int(raw.cgroup.cgroup_id), attach_type=at)
    if kind == LinkType.TRACING:
        t = raw.tracing
        return replace(
            base,
            attach_type=_enum(AttachType, int(t.attach_type)),
            target_obj_id=int(t.target_obj_id),
            target_btf_id=int(t.target_btf_id),
        )
    if kind == LinkType.PERF_EVENT:
        sub = _PERF_EVENT_KINDS.get(int(raw.perf_event.type), "event")
        got = replace(base, name=name, perf_event=sub)
        if sub in ("uprobe", "uretprobe"):
            return replace(got, offset=int(raw.perf_event.uprobe.offset))
        if sub in ("kprobe", "kretprobe"):
            return replace(got, offset=int(raw.perf_event.kprobe.offset))
        return got
    if kind == LinkType.STRUCT_OPS:
        return replace(base, map_id=int(raw.struct_ops.map_id))
    if kind == LinkType.ITER:
        return replace(base, name=name, map_id=int(raw.iter.map.map_id))
    if kind in (LinkType.RAW_TRACEPOINT, LinkType.UPROBE_MULTI):
        return replace(base, name=name)
    return base


def _info_of(fd: FD) -> LinkInfo:
    got = link_ops.link_info(fd.raw)
    return _decode(got.info, got.name)


def check_type(program: Program, types: Collection[ProgType], hook: str) -> None:
    """Raise ``TypeError`` naming both when ``program``'s type is not one of ``types``."""
    if program.type not in types:
        want = " or ".join(t.name for t in types)
        have = program.type.name if isinstance(program.type, ProgType) else str(program.type)
        raise TypeError(
            f"attach {program._describe()} to {hook}: it is a {have} program,"
            f" {hook} takes {want} programs"
        )


def attach(
    program: Program,
    types: Collection[ProgType],
    hook: str,
    make: Callable[[int], tuple[FD, Sequence[Closer]]],
    hints: Mapping[int, str] | Callable[[int], str | None] | None = None,
) -> Link:
    """Attach ``program`` to ``hook`` (named in errors) by ``make(prog_fd)``,
    which returns the link fd and the fds it owns; the caller owns the Link.

    Raises:
        TypeError: the program's type is not one of ``types`` (before any syscall).
        ValueError: the program is closed.
        BPFError: the kernel refused; ``hints`` by errno say why.
    """
    check_type(program, types, hook)
    what = f"{program._describe()} to {hook}"
    try:
        with program._use() as prog_fd:
            fd, extra = make(prog_fd)
    except OSError as err:
        raise attach_error(what, err, hints, prog_type=program.type) from None
    return Link._made(fd, f"link of {what}", extra)


def attach_error(
    what: str,
    err: OSError,
    hints: Mapping[int, str] | Callable[[int], str | None] | None = None,
    *,
    own_first: bool = True,
    prog_type: ProgType | int | None = None,
) -> BPFError:
    """The ``BPFError`` of a failed attach of ``what``: the hint is the text the
    lower layer gave (e.g. tracefs, netlink's ext ack), or the one ``hints``
    has for the errno (the other way round with ``own_first`` False), or a
    general one: for ``EPERM``, the capabilities a ``prog_type`` program's
    hook needs, or that the kernel refused although the process has them."""
    code = err.errno or 0
    own = err.strerror if err.strerror != os.strerror(code) else None  # e.g. tracefs
    said = hints(code) if callable(hints) else (hints or {}).get(code)
    hint = (own or said) if own_first else (said or own)
    if hint is None and code == errno.EPERM and prog_type is not None:
        hint = attach_eperm_hint(prog_type)
    return error("attach", what, code, hint or _ATTACH_HINTS.get(code))


_ATTACH_HINTS = {
    errno.EPERM: "needs root, or CAP_BPF with CAP_NET_ADMIN (network hooks)"
    " or CAP_PERFMON (tracing)",
    errno.EINVAL: "the kernel refused this program for this hook",
}


class Link(KernelObject):
    """A program attached to a hook; owns the link's fd (and any fd the hook needs).

    Made by ``Program.attach_*`` (the caller owns the result), or opened with
    :meth:`from_id`, :meth:`from_pinned`, :meth:`from_fd`. Closing the last fd
    of an unpinned link detaches the program; a pinned one runs on until the
    pin is removed. Operations on a closed link raise ``ValueError``.
    """

    _kind = "link"
    _get_fd_by_id = Cmd.LINK_GET_FD_BY_ID

    def __init__(self, fd: FD, info: LinkInfo, *, extra: Sequence[Closer] = ()) -> None:
        """Wrap ``fd`` (now owned, with ``extra``). Use ``Program.attach_*`` or the openers."""
        self._fd = fd
        self._info = info
        self._extra = list(extra)

    @classmethod
    def _from_owned(cls, fd: FD) -> Link:
        """Wrap ``fd`` after reading the kernel's info (see :class:`KernelObject`)."""
        return cls(fd, _info_of(fd))

    @classmethod
    def _made(cls, fd: FD, what: str, extra: Sequence[Closer] = ()) -> Link:
        """Wrap a link fd just created (``extra`` fds closed with it, also on failure)."""
        try:
            return cls._adopt(fd, what, lambda f: cls(f, _info_of(f), extra=extra))
        except BaseException:
            for each in extra:
                each.close()
            raise

    # ------------------------------------------------------------- attributes

    @property
    def id(self) -> int:
        """The kernel's id of this link."""
        return self._info.id

    @property
    def type(self) -> LinkType | int:
        """The link type (a plain int for a type newer than this library)."""
        return self._info.type

    @property
    def program_id(self) -> int:
        """The id of the program the link runs now."""
        return self.info().program_id

    def info(self) -> LinkInfo:
        """What the kernel says of the link now (program, interface, cgroup, name).

        Minimum kernel: 5.8.

        Raises:
            ValueError: the link is closed.
            BPFError: the kernel refused (e.g. ``EPERM``).
        """
        try:
            with self._use() as fd:
                got = link_ops.link_info(fd)
        except OSError as err:
            raise self._error("info", err) from None
        self._info = _decode(got.info, got.name)
        return self._info

    def pin(self, path: _pins.PathArg, *, dir_fd: int | None = None) -> None:
        """Pin the link at ``path`` (``path`` and ``dir_fd`` as for
        :meth:`bpfnest.Map.pin`): the program then stays attached until the
        pin is removed, after this process exits too. A link made of several
        kernel links, which ``attach_usdt`` returns, is refused (libbpf does
        not pin one either). Minimum kernel: 5.7.

        Raises:
            TypeError, ValueError: ``path`` is not a path; the link is closed.
            NotSupportedError: a link that cannot be pinned as one
                (``EOPNOTSUPP``), saying why.
            BPFError: ``EEXIST`` when the path exists, ``ENOENT`` when its
                directory does not, ``EPERM`` when it is not on a bpffs.
        """
        for each in self._extra:
            refusal = getattr(each, "pin_refusal", None)
            if refusal:
                self._raw()  # a closed link says so first
                raise NotSupportedError(
                    f"pin {self._describe()}: {refusal}",
                    feature="a pin of this link",
                    code=errno.EOPNOTSUPP,
                )
        super().pin(path, dir_fd=dir_fd)

    def update(self, program: Program | Map[Any], *, old: Program | Map[Any] | None = None) -> None:
        """Make the link run ``program`` from now on (``BPF_LINK_UPDATE``), atomically.

        With ``old``, the swap happens only if ``old`` is the program attached
        now. A STRUCT_OPS link (:meth:`~bpfnest.Map.attach_struct_ops`) takes
        a ``.struct_ops.link`` map of the same struct instead (its value is
        written first; ``old`` a map). Minimum kernel: 5.7 (cgroup), 5.9
        (XDP), 6.4 (struct_ops), 6.6 (tcx).

        Raises:
            TypeError: ``program`` or ``old`` is not a :class:`~bpfnest.Program`
                (or, for a struct_ops map, a STRUCT_OPS :class:`~bpfnest.Map`).
            ValueError: the link, a program or map is closed; a map without
                ``BPF_F_LINK``.
            BPFError: ``EPERM`` when ``old`` is not the attached program,
                ``EINVAL`` for a program of another type, ``ENOLINK`` after
                :meth:`detach`, ``EOPNOTSUPP`` for link types that cannot swap.
        """
        from ..maps import Map

        if isinstance(program, Map):
            from ._struct_ops import update_struct_ops

            update_struct_ops(self, program, old)
            return
        for arg, value in (("program", program), ("old", old)):
            if value is not None and not isinstance(value, Program):
                got = type(value).__name__
                raise TypeError(f"update {self._describe()}: {arg} must be a Program, got {got}")
        assert isinstance(program, Program) and (old is None or isinstance(old, Program))
        fixed = (
            f"a {self._type_name()} link cannot switch programs: close it and attach the new one"
        )
        hints = {
            errno.EPERM: f"the program attached is not '{old.name}'" if old else None,
            errno.EINVAL: f"program '{program.name}' is not of this link's program type"
            if self.type in _UPDATABLE
            else fixed,
            errno.ENOLINK: "the link was detached",
            errno.EOPNOTSUPP: fixed,
        }
        try:
            with self._use() as fd, program._use() as new:
                if old is None:
                    link_ops.link_update(fd, new)
                else:
                    with old._use() as old_fd:
                        link_ops.link_update(fd, new, old_prog_fd=old_fd)
        except OSError as err:
            raise self._error("update", err, hint=hints.get(err.errno or 0)) from None

    def detach(self) -> None:
        """Stop the program (``BPF_LINK_DETACH``); the link object stays, with no hook.

        Minimum kernel: 5.9.

        Raises:
            ValueError: the link is closed.
            BPFError: ``EOPNOTSUPP`` for link types that cannot detach.
        """
        try:
            with self._use() as fd:
                link_ops.link_detach(fd)
        except OSError as err:
            hint = (
                f"a {self._type_name()} link cannot detach: close it (and remove its pin)"
                if err.errno == errno.EOPNOTSUPP
                else None
            )
            raise self._error("detach", err, hint=hint) from None

    def read(self) -> bytes:
        """Run this ITER link's program over its objects once and return all it wrote.

        Each call creates a new iterator (``BPF_ITER_CREATE``), reads it to
        the end and closes it, so two calls see the objects as they are at
        each. The link stays open. Minimum kernel: 5.8.

        Raises:
            TypeError: the link is not an ITER link (before any syscall).
            ValueError: the link is closed.
            BPFError: the kernel refused (``E2BIG`` when one object's output
                exceeds the kernel's buffer).
        """
        from ._iter import read_iter

        return read_iter(self)

    def close(self) -> None:
        """Close the link's fd (and the fds it owns); idempotent.

        An unpinned link is detached by the kernel when its last fd closes.
        """
        try:
            self._fd.close()
        finally:
            while self._extra:
                self._extra.pop().close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"program {self._info.program_id}"
        return f"<Link {self._describe()} {state}>"

    def _type_name(self) -> str:
        return self.type.name if isinstance(self.type, LinkType) else f"type {self.type}"

    def _describe(self) -> str:
        return f"{self._type_name()} link {self.id}"

    def _error(self, op: str, err: OSError, *, hint: str | None = None) -> BPFError:
        return error(op, self._describe(), err.errno or 0, hint)


def link_ids() -> Iterator[int]:
    """Yield the id of every link in the system, in increasing order.

    Needs CAP_SYS_ADMIN. Minimum kernel: 5.8.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    return iter_ids(Cmd.LINK_GET_NEXT_ID, "links")
