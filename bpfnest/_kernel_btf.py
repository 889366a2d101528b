"""The running kernel's own BTF (``/sys/kernel/btf/vmlinux``): read once, looked up by name.

Programs that attach to a kernel function, tracepoint, LSM hook or iterator
(``fentry/F``, ``tp_btf/N``, ``lsm/H``, ``iter/T``, ...) must name their
target by its type id in the kernel's BTF at load (``attach_btf_id``). This
module is the one place that reads that file; :func:`kernel_type_id` is the
one lookup, so that a faster index (reading only the names) can replace the
full parse behind it. Parsing is :meth:`bpfnest.btf.BTF.parse` (pure); the
result is kept for the life of the process (about 0.44 s and 100 MB for a
5.5 MB vmlinux BTF, paid by the first program that needs it).
"""

from __future__ import annotations

import errno
import functools
import os
import threading

from .btf import BTF, Func, Type, Typedef
from .errors import NotSupportedError

__all__ = ["VMLINUX", "kernel_btf", "kernel_type_id"]

#: Where the running kernel publishes its BTF (``CONFIG_DEBUG_INFO_BTF``, 5.4+).
VMLINUX = "/sys/kernel/btf/vmlinux"

_KINDS: dict[str, type[Type]] = {"FUNC": Func, "TYPEDEF": Typedef}
_lock = threading.Lock()


@functools.cache
def _parsed(path: str) -> BTF:
    with open(path, "rb") as f:
        return BTF.parse(f.read(), file=path)


def kernel_btf(path: str = VMLINUX) -> BTF:
    """The BTF at ``path`` (the running kernel's by default), parsed once per process.

    Raises:
        NotSupportedError: the file does not exist (a kernel built without
            ``CONFIG_DEBUG_INFO_BTF``; feature ``"kernel BTF"``, 5.4).
        OSError: the file cannot be read.
        ParseError: the file is not valid BTF.
    """
    with _lock:  # one parse, even when threads load programs at once
        try:
            return _parsed(os.fspath(path))
        except FileNotFoundError:
            raise NotSupportedError(
                f"no kernel BTF at {path}: programs with a kernel target (fentry, tp_btf,"
                " lsm, iter) need a kernel built with CONFIG_DEBUG_INFO_BTF=y",
                feature="kernel BTF",
                min_kernel="5.4",
                code=errno.ENOENT,
            ) from None


def kernel_type_id(name: str, kind: str, path: str = VMLINUX) -> int | None:
    """The id of the first type called ``name`` of ``kind`` (``"FUNC"`` or
    ``"TYPEDEF"``) in the kernel's BTF, as libbpf's ``find_kernel_btf_id``;
    None when there is none. Other kinds of the same name are skipped
    (``bpf_iter_task`` is both a STRUCT and the FUNC an ``iter/task``
    program names).

    Raises:
        ValueError: an unknown ``kind``.
        NotSupportedError, OSError, ParseError: as :func:`kernel_btf`.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    cls = _KINDS[kind]
    for t in kernel_btf(path).named(name):
        if isinstance(t, cls):
            return t.id
    return None
