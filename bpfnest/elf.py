"""ELF objects from ``clang -target bpf`` -> :class:`CollectionSpec`. No kernel here.

Reads, with :mod:`bpfnest._elffile` (pyelftools, every offset and count
checked first) and :mod:`bpfnest.btf`:

- BTF-defined maps in ``.maps`` (``__uint``, ``__type``, ``__array(values,
  ...)``), with declared slots ``.values = {[i] = &m}`` from ``.rel.maps``
  (:mod:`bpfnest._values`);
- legacy ``SEC("maps")`` definitions (any length >= 16 bytes, one symbol
  each): samples/bpf's ``struct bpf_map_def`` and iproute2's ``struct
  bpf_elf_map``, their inner maps and pinning (:mod:`bpfnest._legacy_maps`);
  an outer map there without ``inner_map_idx``/``inner_id`` has no inner
  definition;
- global data (``.data``, ``.rodata``, ``.bss``, ``.data.*``, ``.rodata.*``)
  as single-element ARRAY maps, and ``.kconfig`` externs;
- programs: every global function in an executable section, linked with the
  subprograms of ``.text`` it calls, with their map references, BTF
  func_info and line_info.

Every malformed input raises :class:`bpfnest.ParseError` naming the file,
the section and the offset; the work and memory it takes are bounded by the
size of the input (``tests/fuzz`` checks both), and the work grows as
n log n with the number of maps, slots and functions. Two maps or two
programs of one name are an error naming both.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ._btf_maps import map_def
from ._elffile import STV_HIDDEN, STV_INTERNAL, ElfFile, Symbol
from ._legacy_maps import read_legacy_maps
from ._values import Layout, read_declared_slots
from .btf import BTF, Datasec, Func, Struct, Var, parse_ext
from .btf.ext import BTFExt
from .constants import F_RDONLY_PROG, MapType, ProgType
from .errors import ParseError
from .sections import program_type
from .spec import (
    CollectionSpec,
    CoreReloSpec,
    FuncInfoSpec,
    LineInfoSpec,
    MapRef,
    MapSpec,
    ProgramSpec,
    VariableSpec,
)

__all__ = ["read_collection"]

SHF_EXECINSTR = 0x4
#: Sections whose bytes the reader uses (besides code, data and what
#: _elffile reads: the string and symbol tables, relocations).
_READ = frozenset({"license", "version", "maps", ".maps", ".BTF", ".BTF.ext"})

OP_LD_IMM64 = 0x18
OP_CALL = 0x85
PSEUDO_CALL = 1
PSEUDO_FUNC = 4

BTF_TYPE_SIZE = 12  # struct btf_type, followed by struct btf_var { u32 linkage; }
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2
BTF_FUNC_STATIC = 0
U32_MAX = 0xFFFF_FFFF
#: A zero-filled (SHT_NOBITS) section's value is spelled out in
#: ``MapSpec.contents`` up to this size; past it ``contents`` is None, which
#: loads the same (the kernel zero-fills a new map), so that a 64-byte section
#: header cannot make the reader allocate gigabytes.
MAX_SPELLED_ZEROS = 1 << 20
#: Bounds on ``.kconfig`` externs, checked before anything allocates them:
#: a config value is a number or a short string (the longest, a built-in
#: command line, is at most a few KiB), so one extern may take 64 KiB and
#: all of them 1 MiB.
MAX_KCONFIG_EXTERN = 1 << 16
MAX_KCONFIG = 1 << 20


def read_collection(data: bytes, *, file: str = "") -> CollectionSpec:
    """Parse an ELF object into a :class:`CollectionSpec`.

    Raises:
        ParseError: anything malformed, naming file, section and offset.
    """
    try:
        return _Reader(bytes(data), file).read()
    except ParseError as err:
        raise err.at(file=file) if not err.file else err from None
    except RecursionError:
        raise ParseError("structure nested too deeply", file=file) from None
    except Exception as err:  # a last resort: the reader checks before it reads
        raise ParseError(f"malformed ELF: {type(err).__name__}: {err}", file=file) from None


class _Record(Protocol):
    @property
    def insn_off(self) -> int: ...


_R = TypeVar("_R", bound=_Record)


@dataclass
class _Function:
    name: str
    section: str
    shndx: int
    first: int  # instruction index in its section
    count: int  # instructions
    is_program: bool

    @property
    def end(self) -> int:
        return self.first + self.count


@dataclass
class _Ref:
    kind: str  # "map", "call", "func"
    map: str = ""
    offset: int | None = None
    target_shndx: int = 0
    target_insn: int = 0


@dataclass
class _Section:
    index: int
    name: str
    data: bytes
    exec: bool
    size: int
    refs: dict[int, _Ref] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, file: str) -> None:
        self.file = file
        self.data = data
        self.obj = ElfFile(data, file)
        self.byteorder = self.obj.byteorder
        self.sections: dict[int, _Section] = {}
        self.by_name: dict[str, _Section] = {}
        for h in self.obj.headers:
            if h.flags & SHF_EXECINSTR or h.name in _READ or self.is_data_section(h.name):
                self.obj.check_plain(h)
            s = _Section(
                index=h.index,
                name=h.name,
                data=self.obj.data_of(h),
                exec=bool(h.flags & SHF_EXECINSTR),
                size=h.size,
            )
            self.sections[h.index] = s
            self.by_name.setdefault(h.name, s)
        self.symbols = self.obj.symbols
        self.by_section: dict[int, list[Symbol]] = {}
        for sym in self.symbols:
            if sym.section is not None:
                self.by_section.setdefault(sym.section, []).append(sym)
        self.reloc_cache: dict[int, list[tuple[int, Symbol]]] = {}
        btf_sec = self.by_name.get(".BTF")
        self.btf: BTF | None = BTF.parse(btf_sec.data, file=file) if btf_sec else None
        ext_sec = self.by_name.get(".BTF.ext")
        self.ext: BTFExt | None = (
            parse_ext(ext_sec.data, self.btf, file=file) if ext_sec and self.btf else None
        )
        self.maps: dict[str, MapSpec] = {}
        self.map_origin: dict[str, str] = {}  # name -> where it was defined, for errors
        self.variables: dict[str, VariableSpec] = {}
        # (section index, offset) -> map name, for symbols that name maps
        self.map_at: dict[tuple[int, int], str] = {}
        self.ext_index: dict[tuple[int, str], tuple[list[int], list[Any]]] = {}
        # Per section: the instructions link() looks at (sorted) and the pseudo calls' targets.
        self.link_index: dict[int, tuple[list[int], dict[int, int]]] = {}

    # ------------------------------------------------------------ helpers

    def err(self, message: str, section: str = "", offset: int | None = None) -> ParseError:
        return ParseError(message, file=self.file, section=section, offset=offset)

    def sym_section(self, sym: Symbol) -> _Section | None:
        return self.sections.get(sym.section) if sym.section is not None else None

    def symbols_in(self, sec: _Section) -> list[Symbol]:
        return self.by_section.get(sec.index, [])

    def relocations(self, target: _Section) -> list[tuple[int, Symbol]]:
        """(offset, symbol) of every relocation applying to ``target``."""
        cached = self.reloc_cache.get(target.index)
        if cached is None:
            cached = self.reloc_cache[target.index] = self.obj.relocations(
                self.obj.headers[target.index]
            )
        return cached

    def add_map(self, name: str, spec: MapSpec, origin: str, section: str, offset: int) -> None:
        """Add map ``name``; a second definition of one name is an error naming both."""
        first = self.map_origin.get(name)
        if first is not None:
            raise self.err(
                f"two maps named '{name}': {first} and {origin} (rename one)", section, offset
            )
        self.maps[name] = spec
        self.map_origin[name] = origin

    def add_variable(self, var: VariableSpec, section: str) -> None:
        first = self.variables.setdefault(var.name, var)
        if first is not var:
            raise self.err(
                f"two variables named '{var.name}': in {first.map} at {first.offset:#x} and in"
                f" {var.map} at {var.offset:#x} (rename one)",
                section,
                var.offset,
            )

    def u32(self, data: bytes, off: int) -> int:
        return int.from_bytes(data[off : off + 4], self.byteorder)

    # --------------------------------------------------------------- read

    def read(self) -> CollectionSpec:
        license_ = self.read_license()
        version = self.read_version()
        self.read_data_sections()
        self.read_kconfig()
        self.read_legacy_maps()
        functions = self.read_functions()
        self.read_btf_maps(functions)
        for sec in self.sections.values():
            if sec.exec and sec.size:
                self.read_code_relocations(sec)
        self.check_core_relos()
        programs = self.link_programs(functions, license_, version)
        if programs and license_ is None:
            raise self.err('no license section: add char LICENSE[] SEC("license") = "GPL";')
        btf = self.fixed_btf()
        return CollectionSpec(
            maps=self.maps,
            programs=programs,
            variables=self.variables,
            btf=btf,
            byteorder=self.byteorder,
            file=self.file,
        )

    def read_license(self) -> str | None:
        sec = self.by_name.get("license")
        if sec is None:
            return None
        text = sec.data.split(b"\0", 1)[0]
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            raise self.err("license is not ASCII text", "license", 0) from None

    def read_version(self) -> int:
        sec = self.by_name.get("version")
        if sec is None:
            return 0
        if len(sec.data) != 4:
            raise self.err(f"version must be 4 bytes, got {len(sec.data)}", "version", 0)
        return self.u32(sec.data, 0)

    # ------------------------------------------------------------ data

    @staticmethod
    def is_data_section(name: str) -> bool:
        return name in (".data", ".rodata", ".bss") or name.startswith(
            (".data.", ".rodata.", ".bss.")
        )

    def read_data_sections(self) -> None:
        for sec in self.sections.values():
            if not self.is_data_section(sec.name) or sec.size == 0:
                continue
            if sec.size > U32_MAX:
                raise self.err(
                    f"{sec.size} bytes do not fit a map value (u32 value_size)", sec.name
                )
            readonly = sec.name.startswith(".rodata")
            value: bytes | None = sec.data
            if not value:  # SHT_NOBITS (.bss): the kernel zero-fills a new map
                value = bytes(sec.size) if sec.size <= MAX_SPELLED_ZEROS else None
            spec = MapSpec(
                type=MapType.ARRAY,
                key_size=4,
                value_size=sec.size,
                max_entries=1,
                flags=F_RDONLY_PROG if readonly else 0,
                name=_kernel_name(sec.name),
                contents={0: value} if value is not None else None,
                btf_value_type_id=self.datasec_id(sec.name),
            )
            self.add_map(sec.name, spec, f"data section {sec.name} (#{sec.index})", sec.name, 0)
            for sym in self.symbols_in(sec):
                if sym.type == "STT_OBJECT" and sym.name:
                    off, size = sym.value, sym.size
                    if off + size > sec.size:
                        raise self.err(
                            f"variable '{sym.name}' ({size} bytes at {off:#x}) runs past the end",
                            sec.name,
                            off,
                        )
                    self.add_variable(VariableSpec(sym.name, sec.name, off, size), sec.name)

    def datasec_id(self, name: str) -> int:
        """The BTF id of DATASEC ``name`` (0 when there is none)."""
        if self.btf is None:
            return 0
        try:
            return self.btf.find(name, Datasec).id
        except KeyError:
            return 0

    def read_kconfig(self) -> None:
        if self.btf is None:
            return
        try:
            ds = self.btf.find(".kconfig", Datasec)
        except KeyError:
            return
        offset = 0
        for vsi in ds.vars:
            var = vsi.type
            if not isinstance(var, Var):
                raise self.err(f"'.kconfig' entry {var.name!r} is not a variable", ".BTF")
            size = self.btf.sizeof(var.type)
            if not 0 < size <= MAX_KCONFIG_EXTERN:
                raise self.err(
                    f"extern '{var.name}' (.kconfig) is {size} bytes; a config value takes"
                    f" 1 to {MAX_KCONFIG_EXTERN}",
                    ".BTF",
                    self.btf.record_offset(var),
                )
            align = min(size, 8) or 1
            offset = (offset + align - 1) // align * align
            self.add_variable(VariableSpec(var.name, ".kconfig", offset, size), ".BTF")
            offset += size
            if offset > MAX_KCONFIG:
                raise self.err(
                    f"'.kconfig' externs take {offset} bytes (with '{var.name}'),"
                    f" more than {MAX_KCONFIG}",
                    ".BTF",
                    self.btf.record_offset(var),
                )
        if offset:
            spec = MapSpec(
                type=MapType.ARRAY,
                key_size=4,
                value_size=offset,
                max_entries=1,
                flags=F_RDONLY_PROG,
                name=".kconfig",
                contents=None,
            )
            self.add_map(".kconfig", spec, "the .kconfig externs", ".BTF", 0)

    # ------------------------------------------------------------ legacy maps

    def read_legacy_maps(self) -> None:
        sec = self.by_name.get("maps")
        if sec is None:
            return
        syms = sorted(
            (s for s in self.symbols_in(sec) if s.name and s.type != "STT_SECTION"),
            key=lambda s: s.value,
        )
        for name, off, spec in read_legacy_maps(
            sec.data,
            syms,
            byteorder=self.byteorder,
            btf=self.btf,
            obj=self.data,
            err=lambda message, offset: self.err(message, "maps", offset),
            kernel_name=_kernel_name,
        ):
            self.add_map(name, spec, f"legacy map in maps at {off:#x}", "maps", off)
            self.map_at[(sec.index, off)] = name

    # ------------------------------------------------------------ BTF maps

    def read_btf_maps(self, functions: dict[tuple[int, int], _Function]) -> None:
        sec = self.by_name.get(".maps")
        if sec is None:
            return
        if self.btf is None:
            raise self.err("a .maps section needs BTF (compile with -g)", ".maps")
        try:
            ds = self.btf.find(".maps", Datasec)
        except KeyError:
            raise self.err("no DATASEC '.maps' in BTF", ".BTF") from None
        layout: Layout = []
        offsets: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for sym in self.symbols_in(sec):
            if not sym.name or sym.type == "STT_SECTION":
                continue
            if sym.name in offsets:
                raise self.err(
                    f"two maps named '{sym.name}': in .maps at {offsets[sym.name]:#x} and at"
                    f" {sym.value:#x} (rename one)",
                    ".maps",
                    sym.value,
                )
            offsets[sym.name], sizes[sym.name] = sym.value, sym.size
        for vsi in ds.vars:
            var = vsi.type
            if not isinstance(var, Var):
                raise self.err("'.maps' holds something that is not a variable", ".BTF")
            name = var.name
            offset = offsets.get(name, vsi.offset)
            if offset >= sec.size:
                raise self.err(
                    f"map '{name}' at offset {offset:#x} is outside .maps ({sec.size} bytes)",
                    ".maps",
                    offset,
                )
            struct_t = self.btf.resolve(var.type)
            if not isinstance(struct_t, Struct):
                raise self.err(f"map '{name}': definition is not a struct", ".maps", offset)
            spec, values_off = map_def(
                self.btf, name, struct_t, offset, err=self.err, kernel_name=_kernel_name
            )
            self.add_map(name, spec, f"map in .maps at {offset:#x}", ".maps", offset)
            self.map_at[(sec.index, offset)] = name
            # The symbol's size includes initialised `values` (a flexible array).
            size = max(sizes.get(name, 0), self.btf.sizeof(struct_t))
            layout.append((offset, size, name, values_off))
        read_declared_slots(
            layout,
            self.relocations(sec),
            self.maps,
            lambda spec, sym: self.slot_target(functions, spec, sym),
            self.err,
        )

    def slot_target(
        self, functions: dict[tuple[int, int], _Function], spec: MapSpec, sym: Symbol
    ) -> str | None:
        """The map (outer maps) or program (PROG_ARRAY) that ``sym`` defines, if any."""
        sec = self.sym_section(sym)
        if sec is None:
            return None
        if spec.type.is_outer:
            return self.map_at.get((sec.index, sym.value)) if sec.name == ".maps" else None
        fn = functions.get((sec.index, sym.value // 8))
        return fn.name if fn is not None and fn.is_program else None

    # ------------------------------------------------------------ code

    def read_functions(self) -> dict[tuple[int, int], _Function]:
        functions: dict[tuple[int, int], _Function] = {}
        for sym in self.symbols:
            if sym.type != "STT_FUNC":
                continue
            sec = self.sym_section(sym)
            if sec is None or not sec.exec:
                continue
            value, size = sym.value, sym.size
            if value % 8 or size % 8 or value + size > sec.size or size == 0:
                raise self.err(
                    f"function '{sym.name}' ({size} bytes at {value:#x}) is not whole"
                    " instructions inside its section",
                    sec.name,
                    value,
                )
            is_program = sec.name != ".text" and sym.bind in (
                "STB_GLOBAL",
                "STB_WEAK",
            )
            functions[(sec.index, value // 8)] = _Function(
                sym.name, sec.name, sec.index, value // 8, size // 8, is_program
            )
        # Per section, the functions by first instruction, for containing().
        self.function_index: dict[int, tuple[list[int], list[_Function]]] = {}
        for fn in sorted(functions.values(), key=lambda f: (f.shndx, f.first)):
            starts, fns = self.function_index.setdefault(fn.shndx, ([], []))
            starts.append(fn.first)
            fns.append(fn)
        return functions

    def insn(self, sec: _Section, idx: int) -> tuple[int, int, int]:
        """(opcode, src_reg, imm) of instruction ``idx``."""
        off = idx * 8
        if off + 8 > len(sec.data):
            raise self.err(f"instruction {idx} is past the end", sec.name, off)
        code, regs = sec.data[off], sec.data[off + 1]
        src = regs >> 4 if self.byteorder == "little" else regs & 0xF
        imm = int.from_bytes(sec.data[off + 4 : off + 8], self.byteorder, signed=True)
        return code, src, imm

    def linked_insns(self, sec: _Section, fn: _Function) -> tuple[list[int], dict[int, int]]:
        """The instructions of ``fn`` that :meth:`link` changes or follows, in
        order (a relocation, or a bpf-to-bpf call), and the pseudo calls'
        targets (``idx + imm + 1``) of its section: found once per section by
        looking at the opcode bytes only, not by decoding every instruction."""
        index = self.link_index.get(sec.index)
        if index is None:
            calls: dict[int, int] = {}
            codes = sec.data[0 : len(sec.data) // 8 * 8 : 8]
            i = codes.find(OP_CALL)
            while i >= 0:
                _, src, imm = self.insn(sec, i)
                if src == PSEUDO_CALL:
                    calls[i] = i + imm + 1
                i = codes.find(OP_CALL, i + 1)
            index = self.link_index[sec.index] = (sorted(calls.keys() | sec.refs.keys()), calls)
        wanted, calls = index
        lo, hi = bisect.bisect_left(wanted, fn.first), bisect.bisect_left(wanted, fn.end)
        return wanted[lo:hi], calls

    def read_code_relocations(self, sec: _Section) -> None:
        for roff, sym in self.relocations(sec):
            if roff % 8:
                raise self.err("relocation not on an instruction boundary", sec.name, roff)
            idx = roff // 8
            code, src, imm = self.insn(sec, idx)
            target = self.sym_section(sym)
            if target is not None and target.name in (".maps", "maps"):
                if code != OP_LD_IMM64:
                    raise self.err(f"map '{sym.name}' used by a non-ld_imm64", sec.name, roff)
                name = self.map_at.get((target.index, sym.value))
                if name is None:
                    raise self.err(f"'{sym.name}' is not a map", sec.name, roff)
                sec.refs[idx] = _Ref("map", map=name)
            elif target is not None and self.is_data_section(target.name):
                if code != OP_LD_IMM64:
                    raise self.err(f"global '{sym.name}' used by a non-ld_imm64", sec.name, roff)
                offset = sym.value + imm
                if not 0 <= offset <= target.size:
                    raise self.err(
                        f"global data offset {offset} outside {target.name}", sec.name, roff
                    )
                sec.refs[idx] = _Ref("map", map=target.name, offset=offset)
            elif target is not None and target.exec:
                if code == OP_CALL and src == PSEUDO_CALL:
                    sec.refs[idx] = _Ref(
                        "call",
                        target_shndx=target.index,
                        target_insn=sym.value // 8 + imm + 1,
                    )
                elif code == OP_LD_IMM64 and src in (0, PSEUDO_FUNC):
                    # A function's address, for a callback (bpf_loop, bpf_for_each_map_elem,
                    # bpf_timer_set_callback, ...): clang leaves src_reg 0, the loader marks
                    # it BPF_PSEUDO_FUNC. A static function is the section symbol plus imm
                    # bytes; a global one its own symbol (imm 0).
                    where = sym.value + imm
                    if where % 8 or not 0 <= where < target.size:
                        raise self.err(
                            f"address of code '{sym.name or target.name}' + {imm} is not an"
                            " instruction of its section",
                            sec.name,
                            roff,
                        )
                    sec.refs[idx] = _Ref("func", target_shndx=target.index, target_insn=where // 8)
                else:
                    raise self.err(
                        f"relocation to code '{sym.name}' on instruction {code:#x}", sec.name, roff
                    )
            elif target is None and sym.name in self.variables:
                var = self.variables[sym.name]
                if var.map != ".kconfig":
                    raise self.err(f"unresolved extern '{sym.name}'", sec.name, roff)
                sec.refs[idx] = _Ref("map", map=".kconfig", offset=var.offset + imm)
            else:
                raise self.err(
                    f"relocation against '{sym.name}' ({target.name if target else 'undefined'})"
                    " is not supported",
                    sec.name,
                    roff,
                )

    def check_core_relos(self) -> None:
        """Every CO-RE record names an instruction (8-byte aligned) of a code section."""
        for name, records in self.ext.core_relos.items() if self.ext is not None else ():
            sec = self.by_name.get(name)
            for cr in records:
                if sec is None or not sec.exec or cr.insn_off >= len(sec.data) or cr.insn_off % 8:
                    where = "no instruction" if sec is not None and sec.exec else "no code section"
                    raise self.err(
                        f"CO-RE relocation at byte {cr.insn_off} of {name!r}: {where}", ".BTF.ext"
                    )

    def link_programs(
        self, functions: dict[tuple[int, int], _Function], license_: str | None, version: int
    ) -> dict[str, ProgramSpec]:
        programs: dict[str, ProgramSpec] = {}
        seen: dict[str, _Function] = {}
        for fn in functions.values():
            if not fn.is_program:
                continue
            first = seen.setdefault(fn.name, fn)
            if first is not fn:
                raise self.err(
                    f"two programs named '{fn.name}': in {first.section} at {first.first * 8:#x}"
                    f" and in {fn.section} at {fn.first * 8:#x} (rename one)",
                    fn.section,
                    fn.first * 8,
                )
            optional = fn.section.startswith("?")  # SEC("?xdp"): not loaded unless asked
            defn = program_type(fn.section[1:] if optional else fn.section)
            spec = self.link(fn, functions, defn, license_ or "", version)
            spec.autoload = not optional
            programs[fn.name] = spec
        return programs

    def containing(
        self,
        functions: dict[tuple[int, int], _Function],
        shndx: int,
        idx: int,
        where: _Function,
        at: int,
    ) -> _Function:
        starts, fns = self.function_index.get(shndx, ([], []))
        i = bisect.bisect_right(starts, idx) - 1
        if i >= 0 and idx < fns[i].end:
            return fns[i]
        for fn in fns[:i]:  # only when function symbols overlap
            if fn.first <= idx < fn.end:
                return fn
        raise self.err(
            f"function '{where.name}' calls instruction {idx} of"
            f" {self.sections[shndx].name}, which is in no function",
            where.section,
            at * 8,
        )

    def in_function(self, records: Mapping[str, Sequence[_R]], fn: _Function) -> Sequence[_R]:
        """The .BTF.ext ``records`` of ``fn``'s instructions, found by bisection
        (a linear scan per function made many subprograms quadratic)."""
        key = (id(records), fn.section)
        index = self.ext_index.get(key)
        if index is None:
            recs = sorted(records.get(fn.section, []), key=lambda r: r.insn_off)
            index = self.ext_index[key] = ([r.insn_off // 8 for r in recs], recs)
        starts, recs = index
        lo, hi = bisect.bisect_left(starts, fn.first), bisect.bisect_left(starts, fn.end)
        return recs[lo:hi]

    def link(
        self,
        prog: _Function,
        functions: dict[tuple[int, int], _Function],
        defn: Any,
        license_: str,
        version: int,
    ) -> ProgramSpec:
        order = [prog]
        start = {id(prog): 0}
        total = prog.count
        i = 0
        while i < len(order):  # breadth-first: every function reached by a call
            fn = order[i]
            i += 1
            sec = self.sections[fn.shndx]
            wanted, calls = self.linked_insns(sec, fn)
            for idx in wanted:
                ref = sec.refs.get(idx)
                if ref is None:
                    target_shndx, target_insn = fn.shndx, calls[idx]
                elif ref.kind in ("call", "func"):
                    target_shndx, target_insn = ref.target_shndx, ref.target_insn
                else:
                    continue
                callee = self.containing(functions, target_shndx, target_insn, fn, idx)
                if id(callee) not in start:
                    start[id(callee)] = total
                    total += callee.count
                    order.append(callee)
        out = bytearray()
        refs: list[MapRef] = []
        func_info: list[FuncInfoSpec] = []
        line_info: list[LineInfoSpec] = []
        core: list[CoreReloSpec] = []
        for fn in order:
            sec = self.sections[fn.shndx]
            base = start[id(fn)]
            code_bytes = bytearray(sec.data[fn.first * 8 : fn.end * 8])
            wanted, calls = self.linked_insns(sec, fn)
            for idx in wanted:
                rel = idx - fn.first
                ref = sec.refs.get(idx)
                if ref is not None and ref.kind == "map":
                    refs.append(MapRef(base + rel, ref.map, ref.offset))
                    continue
                code = sec.data[idx * 8]
                if ref is not None:
                    t_shndx, t_insn = ref.target_shndx, ref.target_insn
                else:
                    t_shndx, t_insn = fn.shndx, calls[idx]
                callee = self.containing(functions, t_shndx, t_insn, fn, idx)
                new_target = start[id(callee)] + (t_insn - callee.first)
                # The kernel finds the target at idx + imm + 1, for calls and
                # BPF_PSEUDO_FUNC loads alike.
                new_imm = new_target - (base + rel) - 1
                code_bytes[rel * 8 + 4 : rel * 8 + 8] = new_imm.to_bytes(
                    4, self.byteorder, signed=True
                )
                if code == OP_LD_IMM64:
                    regs = code_bytes[rel * 8 + 1]
                    if self.byteorder == "little":  # src_reg: the high nibble
                        code_bytes[rel * 8 + 1] = (regs & 0x0F) | (PSEUDO_FUNC << 4)
                    else:
                        code_bytes[rel * 8 + 1] = (regs & 0xF0) | PSEUDO_FUNC
            out += code_bytes
            if self.ext is not None:
                for fi in self.in_function(self.ext.func_info, fn):
                    func_info.append(FuncInfoSpec(base + fi.insn_off // 8 - fn.first, fi.type_id))
                for li in self.in_function(self.ext.line_info, fn):
                    line_info.append(
                        LineInfoSpec(
                            base + li.insn_off // 8 - fn.first,
                            li.file_name_off,
                            li.line_off,
                            li.line,
                            li.col,
                        )
                    )
                for cr in self.in_function(self.ext.core_relos, fn):
                    at = base + cr.insn_off // 8 - fn.first
                    core.append(CoreReloSpec(at, cr.type_id, cr.access_str, cr.kind))
        ptype = defn.type if defn is not None else ProgType.UNSPEC
        return ProgramSpec(
            name=prog.name,
            type=ptype,
            instructions=bytes(out),
            section=prog.section,
            attach_type=defn.attach_type if defn is not None else None,
            attach_to=defn.attach_to if defn is not None else "",
            license=license_,
            kernel_version=version,
            flags=defn.flags if defn is not None else 0,
            byteorder=self.byteorder,
            map_refs=refs,
            func_info=func_info,
            line_info=line_info,
            core_relocations=core,
        )

    # ------------------------------------------------------------ BTF for load

    def fixed_btf(self) -> BTF | None:
        """The BTF with DATASEC sizes and variable offsets from the ELF (libbpf's fixup)."""
        if self.btf is None:
            return None
        sizes = {s.name: s.size for s in self.sections.values() if s.name and not s.exec and s.size}
        if ".kconfig" in self.maps:
            sizes[".kconfig"] = self.maps[".kconfig"].value_size
        offsets = {name: v.offset for name, v in self.variables.items()}
        for (_, off), name in self.map_at.items():
            offsets.setdefault(name, off)
        try:
            raw = bytearray(self.btf.with_datasec_fixups(sizes, offsets))
        except ValueError as exc:  # a section size or symbol offset past 32 bits
            raise self.err(f"cannot fix up DATASECs: {exc}", ".BTF") from None
        # The kernel refuses extern VARs (.kconfig): libbpf makes them allocated globals.
        for t in self.btf.types:
            if isinstance(t, Var) and t.linkage == BTF_VAR_GLOBAL_EXTERN:
                rec = self.btf.record_offset(t)
                if rec is not None:
                    at = rec + BTF_TYPE_SIZE
                    raw[at : at + 4] = BTF_VAR_GLOBAL_ALLOCATED.to_bytes(4, self.btf.byteorder)
        # A global function of hidden visibility (as bpf_usdt_arg in libbpf's usdt.bpf.h)
        # is static for the verifier, as libbpf marks it: checked with its caller's
        # context, not on its own as a global function.
        hidden = {
            sym.name
            for sym in self.symbols
            if sym.type == "STT_FUNC"
            and sym.bind in ("STB_GLOBAL", "STB_WEAK")
            and sym.visibility in (STV_HIDDEN, STV_INTERNAL)
        }
        for t in self.btf.types if hidden else ():
            if isinstance(t, Func) and t.name in hidden and t.linkage != BTF_FUNC_STATIC:
                rec = self.btf.record_offset(t)
                if rec is not None:
                    info = int.from_bytes(raw[rec + 4 : rec + 8], self.btf.byteorder)
                    info = (info & ~0xFFFF) | BTF_FUNC_STATIC  # vlen holds a FUNC's linkage
                    raw[rec + 4 : rec + 8] = info.to_bytes(4, self.btf.byteorder)
        if raw == self.btf.raw:  # nothing to fix (no DATASEC, no extern): parsed already
            return self.btf
        return BTF.parse(bytes(raw), file=self.file)


def _kernel_name(name: str) -> str:
    """``name`` with characters the kernel refuses replaced (it keeps the first 15)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)
