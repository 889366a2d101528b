"""STRUCT_OPS maps: a kernel struct of function pointers implemented by programs.

A ``SEC(".struct_ops")`` or ``SEC(".struct_ops.link")`` variable of an object
(e.g. a ``struct tcp_congestion_ops``) is a :class:`StructOpsMap` once loaded:
its value is the kernel's ``struct bpf_struct_ops_<T>`` (see
:mod:`bpfnest._struct_ops`), whose function pointers hold the fds of the
collection's programs. Nothing is registered at load: :meth:`Map.attach_struct_ops`
writes the value (which registers a ``.struct_ops`` map at once, 5.6) and,
for a ``.struct_ops.link`` map (``BPF_F_LINK``), makes the BPF link that
registers it (6.4).
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._struct_ops import StructOpsValue, kernel_value
from .._sys import ops
from .._sys.fd import FD
from ..constants import MapType
from ..errors import error
from ..spec import MapSpec
from ._elements import _info_from_kernel
from ._map import Map

if TYPE_CHECKING:
    from ..programs import Program

__all__ = ["StructOpsMap"]


class StructOpsMap(Map[bytes], types=frozenset({MapType.STRUCT_OPS})):
    """A ``STRUCT_OPS`` map: one kernel struct of function pointers (a TCP
    congestion control, a scheduler ...) whose functions are BPF programs.

    Made by loading an object with a ``SEC(".struct_ops")`` or
    ``SEC(".struct_ops.link")`` variable (the collection owns it), or by
    :meth:`Map.create` from such a ``MapSpec`` with the object's ``btf_fd``
    (then it knows no programs and cannot be attached). Register it with
    :meth:`Map.attach_struct_ops`. Minimum kernel: 5.6 (``.struct_ops.link``: 6.4).
    """

    _struct_ops: StructOpsValue | None = None
    _struct_ops_programs: dict[int, Program] | None = None

    @classmethod
    def _new(cls, spec: MapSpec, *, btf_fd: int) -> StructOpsMap:
        """A new STRUCT_OPS map of ``spec`` (its ``struct_ops`` resolved against the
        kernel); without ``struct_ops``, the kernel's refusal as for any map."""
        if spec.struct_ops is None:
            return super()._new(spec, btf_fd=btf_fd)
        return cls._made(spec, kernel_value(spec.name, spec), btf_fd=btf_fd)

    @classmethod
    def _made(cls, spec: MapSpec, value: StructOpsValue, *, btf_fd: int) -> StructOpsMap:
        """BPF_MAP_CREATE of a STRUCT_OPS map whose value is ``value.kernel``'s
        ``bpf_struct_ops_<T>``, with the object's BTF (the kernel requires one);
        the caller owns the result.

        Raises:
            ValueError: no ``btf_fd``.
            BPFError: the kernel refused.
        """
        what = f"STRUCT_OPS '{spec.name}'"
        if not btf_fd:
            raise ValueError(
                f"create {what}: a STRUCT_OPS map needs its object's BTF (btf_fd): load the"
                " object with CollectionSpec.load"
            )
        try:
            fd = ops.map_create(
                map_type=MapType.STRUCT_OPS,
                key_size=4,
                value_size=value.kernel.value_size,
                max_entries=1,
                map_flags=spec.flags,
                map_name=spec.name[:15].encode(),
                btf_fd=btf_fd,
                btf_vmlinux_value_type_id=value.kernel.value_type_id,
            )
        except OSError as err:
            raise error("create", what, err.errno or 0, _create_hint(err.errno or 0)) from None

        def make(f: FD) -> StructOpsMap:
            made = cls(f, _info_from_kernel(ops.map_info(f.raw)))
            made._struct_ops = value
            return made

        return cls._adopt(fd, f"map '{spec.name}'", make)

    def _bind(self, programs: Mapping[str, Program]) -> None:
        """Take the loaded programs its function pointers name (a collection's)."""
        assert self._struct_ops is not None
        self._struct_ops_programs = {
            off: programs[name] for off, name in self._struct_ops.programs.items()
        }

    def _value(self, held: contextlib.ExitStack) -> bytes:
        """The value to write: the template with each program's fd (held open by ``held``).

        Raises:
            ValueError: a map that knows no programs, or a program closed.
        """
        if self._struct_ops is None or self._struct_ops_programs is None:
            raise ValueError(
                f"attach_struct_ops map '{self.name}': it knows no programs (only a map"
                " loaded from its object, in a Collection, can be registered)"
            )
        value = bytearray(self._struct_ops.template)
        for off, prog in self._struct_ops_programs.items():
            fd = held.enter_context(prog._use())
            value[off : off + 8] = fd.to_bytes(8, sys.byteorder)
        return bytes(value)

    @property
    def struct_ops_type(self) -> str:
        """The kernel struct this map implements (``tcp_congestion_ops``); "" when unknown."""
        return self._struct_ops.kernel.type_name if self._struct_ops else ""


def _create_hint(code: int) -> str | None:
    if code == errno.EINVAL:
        return "the kernel refused the struct_ops value type or the object's BTF"
    if code == errno.EPERM:
        return "needs CAP_BPF and CAP_SYS_ADMIN (or root)"
    return None
