"""Registering a STRUCT_OPS map: a BPF link, or a map update with nothing to hold.

A ``.struct_ops.link`` map (``BPF_F_LINK``, 6.4) is written (the kernel then
holds it READY) and registered by ``BPF_LINK_CREATE`` with the map's fd: the
:class:`~bpfnest.Link` unregisters it when its last fd closes, and
:meth:`~bpfnest.Link.update` swaps in another map of the same struct
(``BPF_LINK_UPDATE`` with ``new_map_fd``). A ``.struct_ops`` map (5.6) is
registered by the map update itself and unregistered by deleting key 0: the
kernel makes no link, and :class:`StructOpsRegistration` (a
:class:`~bpfnest.Link` of type ``UNSPEC``, id 0, like
:class:`~bpfnest.link.LegacyLink`) owns a duplicate of the map's fd and
deletes key 0 on close. As libbpf's ``bpf_map__attach_struct_ops``.
"""

from __future__ import annotations

import contextlib
import errno
from typing import TYPE_CHECKING, Any

from .._sys import link_ops, ops
from .._sys.fd import FD, dup_owned
from ..constants import F_LINK, AttachType, LinkType
from ..errors import BPFError, NotSupportedError, error, strerror
from ._legacy import LegacyLinkInfo
from ._link import Link, LinkInfo, attach_error

if TYPE_CHECKING:
    from .._pins import PathArg
    from ..maps import Map
    from ..maps._struct_ops import StructOpsMap
    from ..programs import Program

__all__ = ["StructOpsRegistration", "attach_struct_ops", "update_struct_ops"]

_KEY0 = bytes(4)
# A .struct_ops.link map written before (an earlier link): the kernel keeps
# its value and refuses a second write with EBUSY, which is fine (libbpf too).
_HINTS = {
    errno.EEXIST: "a struct_ops of this name is registered already (its .name member)",
    errno.EBUSY: "this .struct_ops map was registered before: a map registers once",
    errno.EINVAL: "the kernel refused the value (a required member missing, or a"
    " program of another member)",
}


def _struct_ops_map(m: Map[Any], op: str) -> StructOpsMap:
    from ..maps._struct_ops import StructOpsMap

    if not isinstance(m, StructOpsMap):
        raise TypeError(
            f"{op}: map '{m.name}' is not a STRUCT_OPS map (it comes from a"
            ' SEC(".struct_ops") or SEC(".struct_ops.link") variable)'
        )
    return m


def _write(m: StructOpsMap, map_fd: int, held: contextlib.ExitStack, *, link: bool) -> None:
    """Write the map's value (its programs' fds in it); EBUSY is fine for a link map."""
    try:
        ops.map_update_elem(map_fd, _KEY0, m._value(held), 0)
    except OSError as err:
        if not (link and err.errno == errno.EBUSY):
            raise


def attach_struct_ops(m: Map[Any]) -> Link:
    """Register STRUCT_OPS map ``m``; see :meth:`bpfnest.Map.attach_struct_ops`."""
    so = _struct_ops_map(m, "attach_struct_ops")
    link = bool(so.flags & F_LINK)
    what = f"STRUCT_OPS '{so.name}' ({so.struct_ops_type or 'struct_ops'})"
    try:
        with so._use() as map_fd, contextlib.ExitStack() as held:
            _write(so, map_fd, held, link=link)
            if not link:
                return StructOpsRegistration(dup_owned(map_fd), so)
            fd = link_ops.link_create(map_fd, 0, AttachType.STRUCT_OPS)
    except OSError as err:
        if isinstance(err, BPFError):
            raise
        raise attach_error(what, err, _HINTS, own_first=False) from None
    return Link._made(fd, f"link of {what}")


def update_struct_ops(link: Link, new: Map[Any], old: Map[Any] | Program | None) -> None:
    """Swap the map a STRUCT_OPS link registers; see :meth:`bpfnest.Link.update`."""
    so = _struct_ops_map(new, f"update {link._describe()}")
    from ..maps import Map as _Map

    if old is not None and not isinstance(old, _Map):
        raise TypeError(f"update {link._describe()}: old must be a Map, got {type(old).__name__}")
    if not so.flags & F_LINK:
        raise ValueError(
            f"update {link._describe()}: map '{so.name}' has no BPF_F_LINK: only a"
            ' SEC(".struct_ops.link") map can be swapped in'
        )
    hints = {
        errno.EPERM: f"the map registered now is not '{old.name}'" if old else None,
        errno.EINVAL: "a map of another struct_ops type, or a link of another kind",
        errno.ENOLINK: "the link was detached",
        errno.EOPNOTSUPP: "this link cannot swap maps",
    }
    try:
        with link._use() as fd, so._use() as new_fd, contextlib.ExitStack() as held:
            _write(so, new_fd, held, link=True)
            if old is None:
                link_ops.link_update(fd, new_fd)
            else:
                with old._use() as old_fd:
                    link_ops.link_update(fd, new_fd, old_prog_fd=old_fd)  # old_map_fd
    except OSError as err:
        if isinstance(err, BPFError):
            raise
        raise link._error("update", err, hint=hints.get(err.errno or 0)) from None


class StructOpsRegistration(Link):
    """A ``.struct_ops`` map registered without a BPF link (the map update did it).

    Made by :meth:`bpfnest.Map.attach_struct_ops` for a map without
    ``BPF_F_LINK``; the caller owns it. It owns a duplicate of the map's fd;
    closing it (or :meth:`detach`) unregisters the struct_ops (deletes key 0).
    ``id`` is 0 and ``type`` ``LinkType.UNSPEC``; :meth:`info` is a
    :class:`~bpfnest.link.LegacyLinkInfo` with ``hook`` ``"struct_ops"`` and
    the map's id. A map registers once: after unregistering, the kernel
    refuses to register it again (load the object again).
    """

    def __init__(self, fd: FD, m: StructOpsMap) -> None:
        """Own ``fd`` (a duplicate of ``m``'s fd); use :meth:`bpfnest.Map.attach_struct_ops`."""
        super().__init__(fd, LinkInfo(0, LinkType.UNSPEC, 0))
        self._map_id = m.id
        self._what = f"struct_ops '{m.name}' ({m.struct_ops_type or 'struct_ops'})"

    @classmethod
    def _from_owned(cls, fd: FD) -> StructOpsRegistration:
        """Refused: there is no kernel link to open.

        Raises ``TypeError``.
        """
        raise TypeError(
            "StructOpsRegistration cannot be opened: a .struct_ops map registered without a"
            " link is no kernel link; open the map with Map.from_id"
        )

    def info(self) -> LegacyLinkInfo:
        """``id`` 0, ``type`` ``UNSPEC``, ``hook`` ``"struct_ops"``, ``map_id`` the map's.

        Raises:
            ValueError: closed.
        """
        self._raw()
        return LegacyLinkInfo(0, LinkType.UNSPEC, 0, map_id=self._map_id, hook="struct_ops")

    def update(self, program: Program | Map[Any], *, old: Program | Map[Any] | None = None) -> None:
        """Refused: a ``.struct_ops`` map registered without a link cannot be swapped.

        Raises:
            ValueError: closed.
            NotSupportedError: always (``EOPNOTSUPP``): declare the variable in
                ``SEC(".struct_ops.link")`` (6.4) to swap maps through its link.
        """
        self._raw()
        raise NotSupportedError(
            f"update {self._describe()}: {strerror(errno.EOPNOTSUPP)} (registered without a"
            ' link: declare it in SEC(".struct_ops.link") to swap it, 6.4)',
            feature="struct_ops link",
            min_kernel="6.4",
            code=errno.EOPNOTSUPP,
        )

    def pin(self, path: PathArg, *, dir_fd: int | None = None) -> None:
        """Refused: no kernel link to pin (pin the map instead).

        Raises:
            ValueError: closed.
            NotSupportedError: always (``EOPNOTSUPP``).
        """
        self._raw()
        raise NotSupportedError(
            f"pin {self._describe()}: {strerror(errno.EOPNOTSUPP)} (registered without a link;"
            ' pin the map, or use SEC(".struct_ops.link"))',
            feature="struct_ops link",
            min_kernel="6.4",
            code=errno.EOPNOTSUPP,
        )

    def detach(self) -> None:
        """Unregister (delete key 0 of the map); the object stays until closed.

        Minimum kernel: 5.6.

        Raises:
            ValueError: closed.
            BPFError: the kernel refused (``ENOENT``/``EINPROGRESS``: not
                registered any more).
        """
        try:
            with self._use() as fd:
                ops.map_delete_elem(fd, _KEY0)
        except OSError as err:
            raise self._error("detach", err) from None

    def close(self) -> None:
        """Unregister (unless done already) and close the map fd it owns; idempotent.

        Minimum kernel: 5.6.

        Raises:
            BPFError: the kernel refused to unregister (the fd is closed all the same).
        """
        if self._fd.closed:
            return
        try:
            with self._use() as fd:
                ops.map_delete_elem(fd, _KEY0)
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.EINPROGRESS):
                raise self._error("close", err) from None
        finally:
            super().close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"map {self._map_id}"
        return f"<StructOpsRegistration {self._what} {state}>"

    def _type_name(self) -> str:
        return "struct_ops"

    def _describe(self) -> str:
        return self._what

    def _error(self, op: str, err: OSError, *, hint: str | None = None) -> BPFError:
        return error(op, self._describe(), err.errno or 0, hint)
