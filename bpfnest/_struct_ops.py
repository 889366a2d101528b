"""struct_ops against the running kernel: its ``struct bpf_struct_ops_<T>``.

A ``STRUCT_OPS`` map's value is the kernel's ``struct bpf_struct_ops_<T>``
(e.g. ``bpf_struct_ops_tcp_congestion_ops``: a small header, then the
``struct T`` itself as member ``data``), found by name in the kernel's BTF
(:mod:`bpfnest._kernel_btf`); the map is created with that type's id
(``btf_vmlinux_value_type_id``). The object's members are matched to the
kernel's by name, as libbpf's ``bpf_map__init_kern_struct_ops`` does: data
members are copied (same size required), function pointers get the fd of
the program that implements them, and each such program is loaded with
``attach_btf_id`` = the kernel's ``struct T`` and expected attach type = the
member's index in it. No syscall here: kernel BTF only.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from .btf import Composite, FuncProto, Pointer, Struct
from .errors import BPFError, NotSupportedError
from .spec import MapSpec, ProgramSpec

__all__ = ["KernelStructOps", "StructOpsValue", "kernel_struct_ops", "kernel_value", "target"]

VALUE_PREFIX = "bpf_struct_ops_"


@dataclass(frozen=True)
class KernelMember:
    """A member of the kernel's ``struct T``."""

    index: int
    offset: int
    size: int
    func: bool


@dataclass(frozen=True)
class KernelStructOps:
    """The kernel's ``struct T`` and ``struct bpf_struct_ops_T`` (BTF ids and layout)."""

    type_name: str
    type_id: int
    value_type_id: int
    value_size: int
    #: Where ``struct T`` starts in the value.
    data_offset: int
    members: dict[str, KernelMember]


@dataclass(frozen=True)
class StructOpsValue:
    """A map's value before its programs are known: the bytes with the data
    members copied, and the program (by name) whose fd goes at each offset."""

    kernel: KernelStructOps
    template: bytes
    programs: dict[int, str]


def _struct(name: str) -> Struct | None:
    from ._kernel_btf import kernel_btf

    for t in kernel_btf().named(name):
        if isinstance(t, Struct):
            return t
    return None


def kernel_struct_ops(type_name: str) -> KernelStructOps:
    """The kernel's layout of struct_ops type ``type_name`` (``tcp_congestion_ops``).

    Raises:
        NotSupportedError: the kernel has no BTF, or no
            ``struct bpf_struct_ops_<type_name>`` (this kernel cannot take
            that struct_ops type; feature ``"struct_ops <type_name>"``).
    """
    from ._kernel_btf import VMLINUX, kernel_btf

    btf = kernel_btf()
    vtype, ktype = _struct(VALUE_PREFIX + type_name), _struct(type_name)
    data = None
    if vtype is not None and ktype is not None:
        data = next((m for m in vtype.members if btf.resolve(m.type) is ktype), None)
    if vtype is None or ktype is None or data is None:
        raise NotSupportedError(
            f"struct_ops '{type_name}': the kernel's BTF ({VMLINUX}) has no struct"
            f" {VALUE_PREFIX}{type_name}: this kernel cannot register a {type_name}"
            " (check the struct's name, or the kernel's config)",
            feature=f"struct_ops {type_name}",
            min_kernel="5.6",
            code=errno.ENOENT,
        )
    members: dict[str, KernelMember] = {}
    for i, m in enumerate(ktype.members):
        mt = btf.resolve(m.type)
        func = isinstance(mt, Pointer) and isinstance(btf.resolve(mt.target), FuncProto)
        size = 0 if m.bitfield_size or not _sized(mt) else btf.sizeof(m.type)
        members.setdefault(m.name, KernelMember(i, m.bit_offset // 8, size, func))
    return KernelStructOps(type_name, ktype.id, vtype.id, vtype.size, data.bit_offset // 8, members)


def _sized(t: object) -> bool:
    return not isinstance(t, Composite) or t.size > 0


def target(spec: ProgramSpec) -> tuple[int, int]:
    """``(attach_btf_id, expected attach type)`` of STRUCT_OPS program ``spec``:
    the kernel's ``struct T`` and the index of the member it implements, from
    its ``attach_to`` ``"T:member"`` (set by the object's struct_ops variable).

    Raises:
        ValueError: the program is used by no struct_ops variable.
        NotSupportedError: as :func:`kernel_struct_ops`.
        BPFError: ``ESRCH`` when the kernel's struct has no such member.
    """
    type_name, sep, member = spec.attach_to.partition(":")
    if not sep or not type_name or not member:
        raise ValueError(
            f"load program '{spec.name}' (STRUCT_OPS): no struct_ops variable uses it, so"
            ' it implements no member (point a member of a SEC(".struct_ops") variable to'
            " it, or set attach_to to 'STRUCT:MEMBER')"
        )
    kernel = kernel_struct_ops(type_name)
    km = kernel.members.get(member)
    if km is None or not km.func:
        raise BPFError(
            errno.ESRCH,
            f"load program '{spec.name}' (STRUCT_OPS): the kernel's struct {type_name} has no"
            f" function pointer '{member}'",
        )
    return kernel.type_id, km.index


def kernel_value(name: str, spec: MapSpec) -> StructOpsValue:
    """The kernel value of struct_ops map ``name`` from ``spec.struct_ops``.

    A member the kernel's struct lacks is skipped when it is zero (and has no
    program), as libbpf does.

    Raises:
        ValueError: the spec has no ``struct_ops``; a member the kernel lacks
            that is set; a member whose size or kind (function pointer or
            data) differs from the kernel's.
        NotSupportedError: as :func:`kernel_struct_ops`.
    """
    ops = spec.struct_ops
    if ops is None:
        raise ValueError(
            f"map '{name}': a STRUCT_OPS map needs spec.struct_ops (the value an object's"
            ' SEC(".struct_ops") variable declares): load it from its object'
        )
    kernel = kernel_struct_ops(ops.type_name)
    value = bytearray(kernel.value_size)
    programs: dict[int, str] = {}
    where = f"map '{name}' (struct {ops.type_name})"
    for m in ops.members:
        km = kernel.members.get(m.name)
        mine = ops.data[m.offset : m.offset + m.size]
        prog = ops.programs.get(m.name)
        if km is None:
            if any(mine) or prog is not None:
                raise ValueError(
                    f"{where}: the kernel's struct has no member '{m.name}', which is set"
                    " (leave it zero on this kernel)"
                )
            continue
        at = kernel.data_offset + km.offset
        if m.func != km.func:
            kind = "a function pointer" if km.func else "data"
            raise ValueError(f"{where}: member '{m.name}' is {kind} in the kernel's struct")
        if m.func:
            if prog is not None:
                programs[at] = prog
            continue
        if m.size != km.size:
            raise ValueError(
                f"{where}: member '{m.name}' is {m.size} bytes, the kernel's {km.size}"
            )
        value[at : at + m.size] = mine
    return StructOpsValue(kernel, bytes(value), programs)
