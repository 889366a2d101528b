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
    "ParseError",
    "VerifierError",
    "error",
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

    errno: int  # always set (an OSError's may be None): ``errno.errorcode[err.errno]`` type-checks

    def __init__(self, code: int, message: str, *, reason: str | None = None) -> None:
        super().__init__(code, strerror(code))
        self.message = message
        #: The message without its "<op> <object>: " ("<strerror>[ (<hint>)]") when
        #: built by :func:`error`; else the whole message.
        self.reason = message if reason is None else reason

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errno, self.message), {"reason": self.reason})


def error(op: str, target: str, code: int, hint: str | None = None) -> BPFError:
    """Return the error of ``op`` on ``target``, in the one template of every family::

        <op> <target>: <strerror>[ (<hint>)]

    ``target`` names the object and where in it (``ARRAY_OF_MAPS 'outer' slot
    3``, ``program 'xdp_pass'``, ``pinned '/sys/fs/bpf/x'``); ``.reason`` is
    the part after the colon, for a caller that wraps the error in its own
    words (a collection naming the slot it was filling).
    """
    reason = strerror(code) + (f" ({hint})" if hint else "")
    if code == _errno.ENOENT and op in _KEY_OPS:
        return KeyNotFoundError(f"{op} {target}: {reason}", reason=reason)
    return BPFError(code, f"{op} {target}: {reason}", reason=reason)


# Operations whose ENOENT means "no such key": KeyNotFoundError (a KeyError).
_KEY_OPS = frozenset({"lookup", "delete", "lookup_and_delete"})


class KeyNotFoundError(BPFError, KeyError):
    """The key is not in the map (``ENOENT``); ``except KeyError`` catches it."""

    def __init__(self, message: str, *, reason: str = "no such key") -> None:
        super().__init__(_errno.ENOENT, message, reason=reason)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message,), {"reason": self.reason})


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

    def __init__(self, code: int, message: str, log: str, *, reason: str | None = None) -> None:
        super().__init__(code, message, reason=reason)
        self.log = log

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errno, self.message, self.log), {"reason": self.reason})


class ParseError(ValueError):
    """An ELF object or its BTF is malformed.

    ``file``, ``section`` and ``offset`` (within the section) say where;
    ``str()`` names all three. Parsing never touches the kernel, so nothing
    is left behind.
    """

    def __init__(
        self, message: str, *, file: str = "", section: str = "", offset: int | None = None
    ) -> None:
        where = ": ".join(
            part
            for part in (
                file,
                section,
                f"offset {offset:#x}" if offset is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.file = file
        self.section = section
        self.offset = offset

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_parse_error, (self.message, self.file, self.section, self.offset))

    def at(self, *, file: str | None = None, section: str | None = None) -> ParseError:
        """Return a copy with ``file`` and/or ``section`` filled in."""
        return ParseError(
            self.message,
            file=self.file if file is None else file,
            section=self.section if section is None else section,
            offset=self.offset,
        )


def _rebuild_parse_error(message: str, file: str, section: str, offset: int | None) -> ParseError:
    return ParseError(message, file=file, section=section, offset=offset)
