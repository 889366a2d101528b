"""Pin paths: checked names, directories walked without following symlinks,
and pins made all or nothing.

``/sys/fs/bpf`` is usually mode 1777: any local user can plant files,
directories and symlinks in it. So a name from an object never becomes more
than one path component, every directory a pin goes into is opened component
by component with ``O_NOFOLLOW`` (and made 0700 when missing, as libbpf does),
and pins are made relative to that open directory (``BPF_F_PATH_FD``, Linux
6.5; ``/proc/self/fd/N/NAME`` before). A failed operation removes the pins it
made, checking that each still holds its object first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._sys import ops
from .errors import BPFError

if TYPE_CHECKING:
    from ._object import KernelObject
    from .maps import Map

__all__ = [
    "PathArg",
    "PinSet",
    "at",
    "check_name",
    "check_path",
    "open_dir",
    "remove_dirs",
    "reuse_pinned",
    "shown",
]

_T = TypeVar("_T")
PathArg = str | bytes | os.PathLike[str] | os.PathLike[bytes]  # what pin/from_pinned take
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FD: list[bool] = []  # [False] once the kernel refused BPF_F_PATH_FD (< 6.5)


def check_path(path: object, what: str) -> str:
    """``path`` (``str``, ``bytes`` or ``os.PathLike``) as the ``str`` a syscall takes.

    Raises:
        TypeError: any other type (``None`` included).
        ValueError: an empty path, or one holding a NUL byte (the kernel
            would cut the path there).
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        kind = type(path).__name__
        raise TypeError(f"{what}: path must be str, bytes or os.PathLike, got {kind}")
    raw = os.fspath(path)  # TypeError when __fspath__ returns neither str nor bytes
    text = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    if not text:
        raise ValueError(f"{what}: the path is empty")
    if "\0" in text:
        raise ValueError(f"{what}: path {text!r} holds a NUL byte (the kernel would cut it there)")
    return text


def check_name(name: str, what: str) -> None:
    """Refuse ``name`` (of map or program ``what``) as one pin path component.

    Raises:
        ValueError: the name is empty, ``.`` or ``..``, or holds ``/`` or NUL.
    """
    if "/" in name:
        why = "holds '/'"
    elif "\0" in name:
        why = "holds a NUL byte"
    elif name in ("", ".", ".."):
        why = f"is {name!r}"
    else:
        return
    raise ValueError(
        f"pin {what} {name!r}: the name {why}, so it cannot be a file name in the pin"
        " directory; rename it in the object or in the spec"
    )


def shown(path: str, dir_fd: int | None) -> str:
    """``path`` as messages show it: joined to the directory ``dir_fd`` when known."""
    if dir_fd is None or os.path.isabs(path):
        return path
    try:
        return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    except OSError:
        return f"{path} (in directory fd {dir_fd})"


def at(path: str, dir_fd: int | None, call: Callable[[str, int | None], _T]) -> _T:
    """``call(path, path_fd)`` with ``path`` relative to the open directory ``dir_fd``.

    Uses ``BPF_F_PATH_FD`` (Linux 6.5); an older kernel refuses it with
    ``EINVAL``, and then ``/proc/self/fd/<dir_fd>/<path>`` names the same file.
    """
    if dir_fd is None or os.path.isabs(path):
        return call(path, None)
    via_proc = f"/proc/self/fd/{dir_fd}/{path}"
    if _PATH_FD:
        return call(via_proc, None)
    try:
        return call(path, dir_fd)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        try:
            result = call(via_proc, None)
        except OSError:
            raise err from None
        _PATH_FD.append(False)
        return result


def open_dir(path: str, *, create: bool, created: list[str] | None = None) -> int | None:
    """Open directory ``path`` without following a symlink anywhere in it.

    Each component is opened with ``O_DIRECTORY | O_NOFOLLOW`` from the one
    before. A missing one is made with mode 0700 when ``create`` (its path
    appended to ``created``); without ``create`` a missing directory gives
    None. Returns a raw fd that the caller closes.

    Raises:
        BPFError: ``ELOOP`` when a component is a symbolic link, ``ENOTDIR``
            when it is not a directory.
        OSError: the directory cannot be opened or made.
    """
    fd = os.open("/" if os.path.isabs(path) else ".", _DIR_FLAGS)
    walked = "/" if os.path.isabs(path) else ""
    try:
        for part in path.split("/"):
            if part in ("", "."):
                continue
            walked = os.path.join(walked, part)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    if created is not None:
                        created.append(walked)
                except FileExistsError:
                    pass
                nxt = _open_existing(part, fd, path, walked)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                nxt = _open_existing(part, fd, path, walked)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_existing(part: str, parent: int, path: str, walked: str) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if stat.S_ISLNK(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode):
            raise BPFError(
                errno.ELOOP,
                f"pin directory '{path}': '{walked}' is a symbolic link; pins are never made"
                " through one (it could send them anywhere): give the real path",
            ) from None
        raise BPFError(
            errno.ENOTDIR, f"pin directory '{path}': '{walked}' is not a directory"
        ) from None


def remove_dirs(created: list[str]) -> None:
    """Remove the directories in ``created`` (deepest last made first) that are empty."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(path)
    created.clear()


def reuse_pinned(dir_fd: int, name: str, where: str) -> Map[Any] | None:
    """The map pinned as ``name`` in the open directory ``dir_fd`` (shown as
    ``where``), or None when nothing is there; the caller owns the map.

    Raises:
        BPFError: ``ELOOP`` for a symbolic link (never followed out of the
            directory), ``EINVAL`` for anything else that is not a pin, or
            what :meth:`Map.from_pinned` raises.
    """
    from .maps import Map

    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        raise BPFError(
            errno.ELOOP,
            f"reuse pinned map at '{where}': it is a symbolic link, not a pin; it is not"
            " followed out of the pin directory (remove it)",
        )
    if not stat.S_ISREG(mode):
        raise BPFError(errno.EINVAL, f"reuse pinned map at '{where}': it is not a pin (remove it)")
    return Map.from_pinned(name, dir_fd=dir_fd)


def _holds(dir_fd: int, name: str, obj: KernelObject) -> bool:
    """True when the pin ``name`` in ``dir_fd`` is ``obj``'s kernel object."""
    try:
        theirs = at(name, dir_fd, lambda p, f: ops.obj_get(p, 0, f))
    except OSError:
        return False
    with theirs:
        try:
            # BPF_OBJ_GET_INFO_BY_FD fills the struct of the fd's own kind (map,
            # program, ...): equal bytes (type, id and more) mean the same object.
            with obj._use() as mine:
                return bytes(ops.map_info(theirs.raw)) == bytes(ops.map_info(mine))
        except (OSError, ValueError):
            return False


class PinSet:
    """The pins one operation makes; :meth:`rollback` removes them.

    An entry is recorded before its pin is tried, so that an exception raised
    at any point (a signal included) cannot leave a pin unrecorded; the
    rollback unlinks only the entries that hold their own object, never what
    someone else pinned there. The directory fds must stay open until then.
    """

    def __init__(self) -> None:
        self._tried: list[tuple[KernelObject, int, str]] = []

    def pin(self, obj: KernelObject, dir_fd: int, name: str, *, exist_ok: bool = False) -> bool:
        """Pin ``obj`` as ``name`` in ``dir_fd``; False when ``exist_ok`` and it is there already.

        Raises:
            BPFError: the kernel refused (``EEXIST``: something else is there).
        """
        entry = (obj, dir_fd, name)
        self._tried.append(entry)
        try:
            obj.pin(name, dir_fd=dir_fd)
        except BPFError as err:
            self._tried.remove(entry)  # refused: nothing was made
            if exist_ok and err.errno == errno.EEXIST and _holds(dir_fd, name, obj):
                return False
            raise
        return True

    def rollback(self) -> None:
        """Unlink every pin made (or maybe made) that still holds its object."""
        while self._tried:
            obj, dir_fd, name = self._tried.pop()
            if _holds(dir_fd, name, obj):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)


def pin_name(name: str) -> str:
    """``name`` as a bpffs file name: bpffs refuses dots, so they become ``_``
    (libbpf's ``sanitize_pin_path``): ``.bss`` is pinned as ``_bss``."""
    return name.replace(".", "_")
