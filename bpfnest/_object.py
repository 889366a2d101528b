"""What Map and Program share: one owned FD, its lifetime, and pinning."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from types import TracebackType
from typing import TypeVar

from ._sys import ops
from ._sys.fd import FD, _Borrow
from ._sys.uapi import Cmd
from .errors import BPFError, strerror

__all__ = ["KernelObject", "iter_ids"]

_T = TypeVar("_T", bound="KernelObject")

_PIN_HINTS = {
    errno.EEXIST: "the path exists already",
    errno.ENOENT: "the directory does not exist",
    errno.EPERM: "the path must be on a bpffs (mount -t bpf bpf /sys/fs/bpf)"
    " and this needs root or CAP_BPF",
}


class KernelObject:
    """A BPF object in the kernel reached through one file descriptor it owns.

    Subclasses set ``_fd`` and say how to name themselves in errors.
    """

    _fd: FD

    def _describe(self) -> str:
        """How messages name this object, e.g. ``HASH 'counts'``."""
        raise NotImplementedError

    def _error(self, op: str, err: OSError, *, hint: str | None = None) -> BPFError:
        raise NotImplementedError

    def _raw(self) -> int:
        """The fd number, unguarded. Raises ``ValueError`` once closed.

        For a syscall use :meth:`_use`: another thread's ``close()`` could
        let the number be reused between reading it and the syscall.
        """
        if self._fd.closed:
            raise ValueError(f"{self._describe()} is closed")
        return self._fd.raw

    def _use(self) -> _Borrow:
        """``with self._use() as fd``: the fd number, kept open until the block ends.

        Raises ``ValueError`` once closed.
        """
        return self._fd.borrow(self._describe())

    @property
    def fd(self) -> int:
        """The file descriptor (owned by this object: do not close it)."""
        return self._raw()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd.closed

    def close(self) -> None:
        """Close the file descriptor; idempotent."""
        self._fd.close()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def pin(self, path: str) -> None:
        """Pin the object at ``path`` on a bpffs; unlinking it is the caller's business.

        Raises:
            BPFError: ``EEXIST`` when the path exists, ``ENOENT`` when its
                directory does not, ``EPERM`` when it is not on a bpffs.
        """
        path = str(path)
        try:
            with self._use() as fd:
                ops.obj_pin(fd, path)
        except OSError as err:
            hint = _PIN_HINTS.get(err.errno or 0)
            raise self._error(f"pin at '{path}'", err, hint=hint) from None


def iter_ids(cmd: Cmd, what: str) -> Iterator[int]:
    """Yield every id that ``cmd`` (a ``*_GET_NEXT_ID``) walks, in increasing order.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN (CAP_BPF is not enough).
    """
    cur = 0
    while True:
        try:
            nxt = ops.get_next_id(cmd, cur)
        except OSError as err:
            code = err.errno or 0
            hint = (
                " (listing by id needs CAP_SYS_ADMIN; CAP_BPF is not enough)"
                if code == errno.EPERM
                else ""
            )
            raise BPFError(code, f"list {what}: {strerror(code)}{hint}") from None
        if nxt is None:
            return
        yield nxt
        cur = nxt
