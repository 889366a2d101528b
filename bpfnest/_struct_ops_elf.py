"""``SEC(".struct_ops")`` and ``SEC(".struct_ops.link")`` variables -> STRUCT_OPS map specs.

Pure (part of the ELF reader): each variable of such a section (e.g. a
``struct tcp_congestion_ops``) is one ``STRUCT_OPS`` map named after the
variable, as libbpf's ``init_struct_ops_maps`` makes it: key 4 bytes, one
entry, ``BPF_F_LINK`` in ``.struct_ops.link``; its value is described by a
:class:`~bpfnest.spec.StructOpsSpec` (the struct's name, the variable's bytes,
the members' layout and, from the section's relocations, the program each
function pointer names, as ``bpf_object__collect_st_ops_relos``). The kernel
side (``struct bpf_struct_ops_<T>``, member indexes) is resolved at load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ._elffile import Symbol
from .btf import BTF, Datasec, FuncProto, Pointer, Struct, Var
from .constants import F_LINK, MapType, ProgType
from .errors import ParseError
from .spec import MapSpec, ProgramSpec, StructOpsMember, StructOpsSpec

__all__ = ["STRUCT_OPS_SECTIONS", "add_struct_ops", "essential_name", "read_struct_ops"]

#: The sections whose variables are struct_ops maps; ``?`` (not created by
#: default, libbpf 1.4+) is refused with a clear error.
STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link", "?.struct_ops", "?.struct_ops.link")

Err = Callable[[str, str, "int | None"], ParseError]


def essential_name(name: str) -> str:
    """``name`` without a ``___flavor`` suffix (libbpf's ``bpf_core_essential_name_len``)."""
    cut = name.rfind("___")
    return name[:cut] if cut > 0 else name


def read_struct_ops(
    btf: BTF | None,
    section: str,
    data: bytes,
    relocations: Sequence[tuple[int, Symbol]],
    program_at: Callable[[Symbol], str | None],
    kernel_name: Callable[[str], str],
    err: Err,
    offsets: Mapping[str, int] | None = None,
) -> list[tuple[str, MapSpec, int]]:
    """The maps of struct_ops section ``section`` (its bytes ``data``):
    ``(variable name, spec, offset in the section)``. ``offsets`` gives each
    variable's offset by name (its symbol's value: clang leaves the DATASEC's
    offsets 0); without it the DATASEC's are used.

    ``program_at(sym)`` names the program a relocation's symbol defines
    (None when it is no program).

    Raises:
        ParseError: no BTF, a variable that is not a named struct or runs past
            the section, a relocation that is not on a function pointer or
            not to a program, a ``?`` section.
    """
    if section.startswith("?"):
        raise err(
            f'SEC("{section}") (a struct_ops map not created by default) is not supported:'
            f' use SEC("{section[1:]}")',
            section,
            0,
        )
    if btf is None:
        raise err(f"a {section} section needs BTF (compile with -g)", section, 0)
    try:
        ds = btf.find(section, Datasec)
    except KeyError:
        raise err(f"no DATASEC '{section}' in BTF", ".BTF", None) from None
    found: list[tuple[str, MapSpec, int]] = []
    for vsi in ds.vars:
        var = vsi.type
        if not isinstance(var, Var):
            raise err(f"'{section}' holds something that is not a variable", ".BTF", None)
        t = btf.resolve(var.type)
        start = (offsets or {}).get(var.name, vsi.offset)
        if not isinstance(t, Struct) or not t.name:
            raise err(
                f"struct_ops variable '{var.name}' is not of a named struct type",
                section,
                start,
            )
        if start + t.size > len(data):
            raise err(
                f"struct_ops variable '{var.name}' ({t.size} bytes at {start:#x}) runs past"
                f" the end of {section}",
                section,
                start,
            )
        members = []
        for m in t.members:
            if m.bitfield_size:
                raise err(
                    f"struct_ops variable '{var.name}': bitfield member '{m.name}' is not"
                    " supported (as with libbpf)",
                    section,
                    start,
                )
            mt = btf.resolve(m.type)
            func = isinstance(mt, Pointer) and isinstance(btf.resolve(mt.target), FuncProto)
            members.append(StructOpsMember(m.name, m.bit_offset // 8, btf.sizeof(m.type), func))
        ops = StructOpsSpec(
            type_name=essential_name(t.name),
            data=data[start : start + t.size],
            members=members,
        )
        spec = MapSpec(
            type=MapType.STRUCT_OPS,
            key_size=4,
            value_size=t.size,
            max_entries=1,
            flags=F_LINK if section == ".struct_ops.link" else 0,
            name=kernel_name(var.name),
            btf_value_type_id=t.id,
            struct_ops=ops,
        )
        found.append((var.name, spec, start))
    for off, sym in relocations:
        _relocate(found, section, off, sym, program_at, err)
    return found


def _relocate(
    found: list[tuple[str, MapSpec, int]],
    section: str,
    off: int,
    sym: Symbol,
    program_at: Callable[[Symbol], str | None],
    err: Err,
) -> None:
    """Record the program a relocation at ``off`` puts in a function pointer."""
    for name, spec, start in found:
        ops = spec.struct_ops
        assert ops is not None
        if not start <= off < start + len(ops.data):
            continue
        member = next((m for m in ops.members if m.offset == off - start), None)
        if member is None or not member.func:
            what = f"member '{member.name}'" if member else f"offset {off - start}"
            raise err(
                f"struct_ops variable '{name}': relocation to '{sym.name}' on {what}, which is"
                " not a function pointer",
                section,
                off,
            )
        prog = program_at(sym)
        if prog is None:
            raise err(
                f"struct_ops variable '{name}': member '{member.name}' points to '{sym.name}',"
                ' which is not a program (put it in SEC("struct_ops/...") and make it global)',
                section,
                off,
            )
        ops.programs[member.name] = prog
        return
    raise err(f"relocation to '{sym.name}' is in no struct_ops variable", section, off)


class _Function(Protocol):
    name: str
    is_program: bool


class _Section(Protocol):
    index: int
    name: str
    data: bytes


class _Reader(Protocol):
    @property
    def btf(self) -> BTF | None: ...
    @property
    def sections(self) -> Mapping[int, _Section]: ...
    @property
    def map_at(self) -> dict[tuple[int, int], str]: ...

    def relocations(self, target: Any) -> list[tuple[int, Symbol]]: ...
    def symbols_in(self, sec: Any) -> list[Symbol]: ...
    def err(self, message: str, section: str = "", offset: int | None = None) -> ParseError: ...
    def add_map(self, name: str, spec: MapSpec, origin: str, section: str, offset: int) -> None: ...


def add_struct_ops(
    reader: _Reader,
    functions: Mapping[tuple[int, int], _Function],
    programs: Mapping[str, ProgramSpec],
    kernel_name: Callable[[str], str],
) -> None:
    """Add the maps of every struct_ops section to ``reader`` and name, in each
    program a function pointer points to, the member it implements:
    ``attach_to`` ``"<struct>:<member>"`` (``tcp_congestion_ops:ssthresh``),
    from which the load finds ``attach_btf_id`` and the expected attach type.

    Raises:
        ParseError: as :func:`read_struct_ops`; a program that is not of type
            STRUCT_OPS, or that two members of different names or structs use.
    """

    def program_at(sym: Symbol) -> str | None:
        fn = functions.get((sym.section or 0, sym.value // 8))
        return fn.name if fn is not None and fn.is_program else None

    used: dict[str, str] = {}
    for sec in list(reader.sections.values()):
        if sec.name not in STRUCT_OPS_SECTIONS:
            continue
        found = read_struct_ops(
            reader.btf,
            sec.name,
            sec.data,
            reader.relocations(sec),
            program_at,
            kernel_name,
            reader.err,
            {sym.name: sym.value for sym in reader.symbols_in(sec) if sym.type == "STT_OBJECT"},
        )
        for name, spec, off in found:
            origin = f"struct_ops variable in {sec.name} at {off:#x}"
            reader.add_map(name, spec, origin, sec.name, off)
            reader.map_at[(sec.index, off)] = name  # its offset for the DATASEC fixup
            assert spec.struct_ops is not None
            for member, prog in spec.struct_ops.programs.items():
                target = f"{spec.struct_ops.type_name}:{member}"
                ps = programs[prog]
                if ps.type != ProgType.STRUCT_OPS:
                    raise reader.err(
                        f"struct_ops variable '{name}': member '{member}' points to program"
                        f" '{prog}' of section '{ps.section}', not a struct_ops program"
                        ' (use SEC("struct_ops/...") )',
                        sec.name,
                        off,
                    )
                if used.setdefault(prog, target) != target:
                    raise reader.err(
                        f"program '{prog}' implements both {used[prog]} and {target}: a"
                        " struct_ops program serves one member of one struct (as with libbpf)",
                        sec.name,
                        off,
                    )
                ps.attach_to = target
