"""The library's exceptions.

Every failure the kernel reports comes out as a :class:`BPFError`, a subclass
of :class:`OSError` whose ``errno`` is the kernel's and whose message follows
one pattern::

    <op> <type> '<name>'[ key/slot <k>]: <strerror>[ (<hint>)]

e.g. ``update ARRAY_OF_MAPS 'outer' slot 3: Invalid argument (inner value_size
8 != template 4)``. Errors found before the syscall (a mismatched inner map, a
flag the map type refuses) use the errno the kernel would have given, so code
that catches by errno sees the same thing either way.
"""

from __future__ import annotations

import errno as _errno
import os

from .constants import ENOTSUPP

__all__ = [
    "BPFError",
    "IterationAbortedError",
    "KeyNotFoundError",
    "NotSupportedError",
    "VerifierError",
    "strerror",
]


def strerror(code: int) -> str:
    """Return the text for ``code``, naming the kernel-internal 524 ``ENOTSUPP``."""
    if code == ENOTSUPP:
        return "Operation not supported (ENOTSUPP)"
    return os.strerror(code)


class BPFError(OSError):
    """A bpf(2) operation failed, or was refused before reaching the kernel.

    ``errno`` is the kernel's errno (or the one it would have given);
    ``strerror`` its text; ``str(err)`` the full message naming the operation,
    the object, and the likely cause.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, strerror(code))
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errno, self.message))


class KeyNotFoundError(BPFError, KeyError):
    """The key is not in the map (``ENOENT``); ``except KeyError`` catches it."""

    def __init__(self, message: str) -> None:
        super().__init__(_errno.ENOENT, message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message,))


class IterationAbortedError(BPFError):
    """Iteration gave up because the map kept changing under it (``EAGAIN``)."""

    def __init__(self, message: str) -> None:
        super().__init__(_errno.EAGAIN, message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message,))


class NotSupportedError(BPFError):
    """The running kernel (or this library) does not support a feature.

    ``feature`` names it; ``min_kernel`` is the first kernel version that has
    it, when known (e.g. ``"5.16"``).
    """

    def __init__(
        self, message: str, *, feature: str, min_kernel: str | None = None, code: int = ENOTSUPP
    ) -> None:
        super().__init__(code, message)
        self.feature = feature
        self.min_kernel = min_kernel

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_not_supported, (self.message, self.feature, self.min_kernel, self.errno))


def _rebuild_not_supported(
    message: str, feature: str, min_kernel: str | None, code: int
) -> NotSupportedError:
    return NotSupportedError(message, feature=feature, min_kernel=min_kernel, code=code)


class VerifierError(BPFError):
    """The verifier rejected a program; ``log`` holds its whole log."""

    def __init__(self, code: int, message: str, log: str) -> None:
        super().__init__(code, message)
        self.log = log

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errno, self.message, self.log))
