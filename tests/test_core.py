"""CO-RE engine (bpfnest.btf.core) against hand-made targets, checked by running.

tests/bpf/core_fields.c is an XDP program that lays `struct thing` over the
packet and stores what it reads, plus relocated constants, into out[]. Its
relocations are applied against the BTF of small C files playing kernels
(core_target_*.c: fields moved, resized, renamed with flavors, gone), the
program is run with test_run on a known packet, and each out[] slot is
compared with what the target's layout says, computed here from the
target's BTF member by member (not by the engine).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnest import BPFError, CollectionSpec, NotSupportedError, ParseError, VerifierError
from bpfnest.btf import BTF, Composite, Enum, Int, Type
from bpfnest.btf.core import POISON, CoreKind, Relocator, essential_name
from bpfnest.spec import CoreReloSpec

Objs = Callable[..., str]
PACKET = bytes(range(256))
DEAD = 0xDEAD


def spec_of(objs: Objs, name: str) -> CollectionSpec:
    return CollectionSpec.from_file(objs(name))


def btf_of(objs: Objs, name: str) -> BTF:
    btf = spec_of(objs, name).btf
    assert btf is not None
    return btf


# ------------------------------------------------------------ the truth, from BTF


def _struct(btf: BTF, name: str) -> Composite:
    found = [t for t in btf.types if isinstance(t, Composite) and essential_name(t.name) == name]
    assert len(found) == 1, found
    return found[0]


def _member(btf: BTF, comp: Composite, name: str, base: int = 0) -> tuple[int, int, Type] | None:
    """(bit offset, bitfield size, type) of member ``name``, through anonymous members."""
    for m in comp.members:
        if m.name == name:
            return base + m.bit_offset, m.bitfield_size, m.type
        inner = btf.resolve(m.type)
        if not m.name and isinstance(inner, Composite):
            found = _member(btf, inner, name, base + m.bit_offset)
            if found is not None:
                return found
    return None


class Layout:
    """Reads fields of the target's struct thing from PACKET as the C code would."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self.thing = _struct(btf, "thing")

    def find(self, path: str) -> tuple[int, int, Type] | None:
        comp, base = self.thing, 0
        *outer, last = path.split(".")
        for name in outer:
            found = _member(self.btf, comp, name)
            assert found is not None
            base += found[0]
            nxt = self.btf.resolve(found[2])
            assert isinstance(nxt, Composite)
            comp = nxt
        found = _member(self.btf, comp, last)
        return None if found is None else (base + found[0], found[1], found[2])

    def offset(self, path: str) -> int:
        found = self.find(path)
        assert found is not None
        return found[0] // 8

    def size(self, path: str) -> int:
        found = self.find(path)
        assert found is not None
        return self.btf.sizeof(found[2])

    def read(self, path: str, index: int | None = None) -> int:
        """The field's value as a u64 (signed ints sign-extended)."""
        found = self.find(path)
        assert found is not None
        bit, bits, typ = found
        t = self.btf.resolve(typ)
        if index is not None:  # an array element
            elem = self.btf.resolve(t.type)  # type: ignore[attr-defined]
            size = self.btf.sizeof(elem)
            start = bit // 8 + index * size
            return int.from_bytes(PACKET[start : start + size], "little")
        signed = isinstance(t, Int) and t.signed
        if bits:  # a bitfield: little-endian bits from the struct start
            value = int.from_bytes(PACKET, "little") >> bit & ((1 << bits) - 1)
            if signed and value >> (bits - 1):
                value -= 1 << bits
        else:
            size = self.btf.sizeof(t)
            value = int.from_bytes(PACKET[bit // 8 : bit // 8 + size], "little", signed=signed)
        return value & (1 << 64) - 1

    def enum(self, name: str) -> int | None:
        for t in self.btf.types:
            if isinstance(t, Enum) and t.name == "color":
                return next((v.value for v in t.values if v.name == name), None)
        return None

    def expected(self) -> list[int]:
        has_gone = self.find("gone") is not None
        inner = [t for t in self.btf.types if essential_name(t.name) == "inner"]
        return [
            self.read("a"),
            self.read("b"),
            self.read("c"),
            self.read("bf1"),
            self.read("bf2"),
            self.read("sbf"),
            self.read("in.y"),
            self.read("u1"),
            self.read("arr", 2),
            self.offset("c"),
            self.size("c"),
            int(has_gone),
            self.read("gone") if has_gone else DEAD,
            self.btf.sizeof(self.thing),
            int(self.enum("GREEN") is not None),
            self.enum("BLUE") or 0,
            int(bool(inner)),
            self.offset("arr") + 8,
            self.offset("u2"),
            1,
        ]


def run_against(objs: Objs, kernel_btf: BTF | str) -> list[int]:
    spec = spec_of(objs, "core_fields")
    with spec.load(kernel_btf=kernel_btf) as coll:
        res = coll.programs["read_thing"].test_run(PACKET)
        assert res.retval == 2  # XDP_PASS: the packet was long enough
        out = memoryview(coll.get_global("out")).cast("Q").tolist()
    return out[:20]


# ------------------------------------------------------------ records


def test_records_kept_per_program(objs: Objs) -> None:
    spec = spec_of(objs, "core_fields")
    prog = spec.programs["read_thing"]
    assert prog.core_relos == len(prog.core_relocations) == 35
    assert spec.btf is not None
    thing = spec.btf.find("thing").id
    assert prog.core_relocations[0] == CoreReloSpec(6, thing, "0:0", CoreKind.FIELD_BYTE_OFFSET)
    kinds = {CoreKind(r.kind) for r in prog.core_relocations}
    assert kinds == set(CoreKind) - {
        CoreKind.TYPE_ID_LOCAL,
        CoreKind.TYPE_ID_TARGET,
        CoreKind.TYPE_MATCHES,
    }


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
@pytest.mark.parametrize("name", ["core_fields", "core_subprog"])
def test_records_point_at_their_instructions(objs: Objs, name: str, target: str) -> None:
    # Relocated against its own BTF, every instruction must hold what the
    # compiler recorded (the engine checks it): so records were rebased right,
    # also in subprograms appended to several programs at other places.
    # Bitfields aside: there libbpf (and so bpfnest) may disagree with clang
    # (clang wrote byte size 8 for bf1 where 4 bytes hold it), unchecked.
    # Big-endian code too (its fields are read and patched in its byte order).
    spec = CollectionSpec.from_file(objs(name, target))
    assert spec.btf is not None
    relocator = Relocator(spec.btf, spec.btf)
    for prog in spec.programs.values():
        assert prog.core_relocations
        code, fixups = relocator.relocate(
            prog.name, prog.instructions, prog.core_relocations, byteorder=prog.byteorder
        )
        assert not any(f.poisoned for f in fixups)
        exact = [f for f in fixups if f.path.split(".")[-1] not in ("bf1", "bf2", "sbf")]
        assert exact and all(f.old == f.new for f in exact)
        for f in exact:
            assert (
                code[f.insn * 8 : f.insn * 8 + 8] == prog.instructions[f.insn * 8 : f.insn * 8 + 8]
            )


def test_subprogram_records_rebased(objs: Objs) -> None:
    spec = spec_of(objs, "core_subprog")
    first, second = spec.programs["first"], spec.programs["second"]
    # The shared subprogram sits at a different place in each program.
    assert len(first.core_relocations) == len(second.core_relocations) == 2
    starts = {p.name: p.func_info[1].insn for p in (first, second)}
    assert starts["first"] != starts["second"]
    for p in (first, second):
        assert all(r.insn >= starts[p.name] for r in p.core_relocations)


# ------------------------------------------------------------ engine, run


def test_own_btf_runs_as_compiled(objs: Objs) -> None:
    btf = btf_of(objs, "core_fields")
    assert run_against(objs, btf) == Layout(btf).expected()


def test_moved_resized_fields(objs: Objs) -> None:
    target = btf_of(objs, "core_target_moved")
    out = run_against(objs, target)
    want = Layout(target).expected()
    assert out == want
    # Not the local layout: offsets really moved, sizes really changed.
    assert out[9:11] == [4, 4]  # c: u64 at 8 -> u32 at 4
    assert out[15] == 7  # BLUE


def test_missing_field_type_and_enumerator(objs: Objs) -> None:
    target = btf_of(objs, "core_target_gone")  # struct thing___v2: a flavor
    out = run_against(objs, target)
    assert out == Layout(target).expected()
    assert (out[11], out[12], out[14], out[16]) == (0, DEAD, 0, 0)


def test_kernel_btf_as_files(objs: Objs, tmp_path: os.PathLike[str]) -> None:
    target_obj = objs("core_target_moved")
    raw = os.path.join(tmp_path, "thing.btf")
    btf = btf_of(objs, "core_target_moved")
    with open(raw, "wb") as f:
        f.write(btf.raw)
    want = Layout(btf).expected()
    assert run_against(objs, raw) == want  # raw BTF, as btfhub ships it
    assert run_against(objs, target_obj) == want  # an ELF file's .BTF


def test_ambiguous_candidates(objs: Objs) -> None:
    spec = spec_of(objs, "core_fields")
    with pytest.raises(BPFError) as exc:
        spec.load(kernel_btf=btf_of(objs, "core_target_ambiguous"))
    assert exc.value.errno == errno.EINVAL
    assert str(exc.value).startswith(
        "load program 'read_thing': CO-RE relocation byte_off of instruction 6 (struct thing.a):"
        " candidates disagree on the offset (0 != 4 bytes"
    )


def test_unsatisfied_relocation_poisons(objs: Objs) -> None:
    spec = spec_of(objs, "core_fields")
    assert spec.btf is not None
    relocator = Relocator(spec.btf, btf_of(objs, "core_target_gone"))
    prog = spec.programs["read_thing"]
    code, fixups = relocator.relocate(prog.name, prog.instructions, prog.core_relocations)
    poisoned = [f for f in fixups if f.poisoned]
    assert [(f.kind, f.path) for f in poisoned] == [
        (CoreKind.FIELD_BYTE_OFFSET, "struct thing.gone")
    ]
    at = poisoned[0].insn * 8
    assert code[at : at + 8] == bytes((0x85, 0, 0, 0)) + POISON.to_bytes(4, "little")


def test_essential_names() -> None:
    assert essential_name("task_struct___v1") == "task_struct"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("x____y") == "x____y"  # four underscores: no flavor
    assert essential_name("___x") == "___x"
    assert essential_name("plain") == "plain"


# ------------------------------------------------------------ bad input

BAD_RECORDS = [
    (CoreReloSpec(6, 8, "0:x", 0), "not numbers separated by ':'"),
    (CoreReloSpec(6, 8, "", 0), "not numbers separated by ':'"),
    (CoreReloSpec(6, 99999, "0:0", 0), "type id out of range"),
    (CoreReloSpec(6, 0, "0:0", 0), "type id out of range"),
    (CoreReloSpec(6, 8, "0:0", 99), "unknown kind 99"),
    (CoreReloSpec(100000, 8, "0:0", 0), "instruction outside the program"),
    (CoreReloSpec(6, 8, "0:77", 0), "has no member #77"),
    (CoreReloSpec(6, 8, "0:1", CoreKind.TYPE_SIZE), "must be '0'"),
    (CoreReloSpec(6, 8, "0", CoreKind.ENUMVAL_VALUE), "not an enumerator"),
    (CoreReloSpec(6, 8, ":".join(["0"] * 70), 0), "longer than 64"),
]


@pytest.mark.parametrize(("record", "why"), BAD_RECORDS)
def test_malformed_records(objs: Objs, record: CoreReloSpec, why: str) -> None:
    spec = spec_of(objs, "core_fields")
    assert spec.btf is not None and spec.btf.find("thing").id == 8
    prog = spec.programs["read_thing"]
    prog.core_relocations = [record]
    with pytest.raises(ParseError) as exc:
        spec.load(kernel_btf=spec.btf)
    assert "program 'read_thing': CO-RE relocation of instruction" in str(exc.value)
    assert why in str(exc.value)


def test_relocation_of_an_unexpected_instruction(objs: Objs) -> None:
    # A byte offset recorded on the bounds check's jump: not patchable.
    spec = spec_of(objs, "core_fields")
    prog = spec.programs["read_thing"]
    prog.core_relocations = [dataclasses.replace(prog.core_relocations[0], insn=5)]
    with pytest.raises(BPFError) as exc:
        spec.load(kernel_btf=btf_of(objs, "core_target_moved"))
    assert exc.value.errno == errno.EINVAL
    assert "instruction 5 (struct thing.a): instruction code 0x2d cannot be relocated" in str(
        exc.value
    )


def test_record_outside_its_section(objs: Objs) -> None:
    from elftools.elf.elffile import ELFFile

    path = objs("core_fields")
    with open(path, "rb") as f:
        data = bytearray(f.read())
        f.seek(0)
        sec = ELFFile(f).get_section_by_name(".BTF.ext")
        assert sec is not None
        start = sec["sh_offset"]
    hdr_len = int.from_bytes(data[start + 4 : start + 8], "little")
    core_off = int.from_bytes(data[start + 24 : start + 28], "little")
    first = start + hdr_len + core_off + 4 + 8  # record size, then the section's header
    data[first : first + 4] = (1 << 20).to_bytes(4, "little")
    with pytest.raises(ParseError, match=r"CO-RE relocation at byte 1048576 of 'xdp': no instr"):
        CollectionSpec.from_bytes(bytes(data))


def test_kernel_btf_not_btf(objs: Objs, tmp_path: os.PathLike[str]) -> None:
    spec = spec_of(objs, "core_fields")
    junk = os.path.join(tmp_path, "junk.btf")
    with open(junk, "wb") as f:
        f.write(b"not btf at all")
    with pytest.raises(ParseError, match="kernel_btf: not BTF"):
        spec.load(kernel_btf=junk)
    with pytest.raises(FileNotFoundError):
        spec.load(kernel_btf=os.path.join(tmp_path, "absent.btf"))
    with pytest.raises(TypeError, match="kernel_btf must be a path or a BTF"):
        spec.load(kernel_btf=3)  # type: ignore[arg-type]


def test_program_load_refuses_records_left() -> None:
    from bpfnest import Program, ProgramSpec, ProgType

    spec = ProgramSpec("p", ProgType.XDP, bytes(16))
    spec.core_relocations = [CoreReloSpec(0, 1, "0", CoreKind.TYPE_SIZE)]
    with pytest.raises(NotSupportedError, match=r"CollectionSpec\.load"):
        Program.load(spec)


# ------------------------------------------------------------ fuzz

TOKENS = ["0", "1", "2", "3", "8", "9", "77", "65535", "4294967296", "-1", "x", "", " 1", "٣"]


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=120,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_fuzz_records_and_engine(fuzz_inputs: tuple[CollectionSpec, list[BTF]], data: Any) -> None:
    # Records mutated field by field, against every target: only ParseError
    # (a bad record) or BPFError (a relocation that cannot apply) may come out.
    spec, targets = fuzz_inputs
    assert spec.btf is not None
    prog = spec.programs["read_thing"]
    records = list(prog.core_relocations)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        i = data.draw(st.integers(0, len(records) - 1), label="record")
        r = records[i]
        field = data.draw(st.sampled_from(["insn", "type_id", "access", "kind"]), label="field")
        if field == "access":
            parts = data.draw(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=6))
            r = dataclasses.replace(r, access=":".join(parts))
        else:
            value = data.draw(st.integers(-2, max(len(spec.btf.types), prog.insn_count) + 2))
            r = dataclasses.replace(r, **{field: value})
        records[i] = r
    target = targets[data.draw(st.integers(0, len(targets) - 1), label="target")]
    try:
        Relocator(spec.btf, target).relocate(prog.name, prog.instructions, records)
    except ParseError as err:
        assert "program 'read_thing'" in str(err)
    except BPFError as err:
        assert err.errno == errno.EINVAL and "program 'read_thing'" in str(err)


@pytest.fixture(scope="module")
def fuzz_inputs(objs: Objs) -> tuple[CollectionSpec, list[BTF]]:
    spec = spec_of(objs, "core_fields")
    assert spec.btf is not None
    names = ("core_target_moved", "core_target_gone", "core_target_ambiguous")
    return spec, [spec.btf, *(btf_of(objs, n) for n in names)]


# ------------------------------------------------------------ more kinds and shapes


@pytest.mark.parametrize(("target", "offset"), [("core_flex", 4), ("core_target_flex", 12)])
def test_flexible_array(objs: Objs, target: str, offset: int) -> None:
    spec = spec_of(objs, "core_flex")
    assert [r.access for r in spec.programs["read_flex"].core_relocations] == ["0:1:5"]
    with spec.load(kernel_btf=btf_of(objs, target)) as coll:
        assert coll.programs["read_flex"].test_run(PACKET).retval == PACKET[offset + 5]


def _btf_bytes(types: list[bytes], strings: bytes) -> bytes:
    """Raw little-endian BTF from type records and a string section."""
    body = b"".join(types)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


def test_enum64_target_built_by_hand(objs: Objs) -> None:
    # A target whose enum color is an ENUM64 (kind 19) with a value past 32 bits.
    strings = b"\0color\0BLUE\0GREEN\0"
    enum64 = struct.pack("<III", 1, 19 << 24 | 2, 8) + struct.pack(
        "<IIIIII",
        7,
        2,
        1,
        12,
        5,
        0,  # BLUE = 0x1_0000_0002, GREEN = 5
    )
    target = BTF.parse(_btf_bytes([enum64], strings), file="enum64.btf")
    spec = spec_of(objs, "core_fields")
    assert spec.btf is not None
    prog = spec.programs["read_thing"]
    enum_records = [r for r in prog.core_relocations if CoreKind(r.kind).enum_based]
    code, fixups = Relocator(spec.btf, target).relocate(prog.name, prog.instructions, enum_records)
    assert [(f.path, f.old, f.new) for f in fixups] == [
        ("enum color::GREEN", 1, 1),
        ("enum color::BLUE", 2, 0x1_0000_0002),
    ]
    at = fixups[1].insn * 8  # an ld_imm64: both halves of the value
    assert struct.unpack_from("<i", code, at + 4)[0] == 2
    assert struct.unpack_from("<i", code, at + 12)[0] == 1


@pytest.mark.parametrize(
    ("target", "matches"),
    [("core_fields", 1), ("core_target_moved", 0), ("core_target_gone", 0)],
)
def test_type_matches(objs: Objs, target: str, matches: int) -> None:
    # clang 14 has no bpf_core_type_matches: a record of that kind on `r0 = 1`.
    spec = spec_of(objs, "core_fields")
    assert spec.btf is not None
    code = bytes((0xB7, 0, 0, 0)) + (1).to_bytes(4, "little") + bytes((0x95,)) + bytes(7)
    record = CoreReloSpec(0, spec.btf.find("thing").id, "0", CoreKind.TYPE_MATCHES)
    out, fixups = Relocator(spec.btf, btf_of(objs, target)).relocate("m", code, [record])
    assert fixups[0].new == int.from_bytes(out[4:8], "little") == matches


def test_signed_field_resized_is_refused(objs: Objs) -> None:
    spec = spec_of(objs, "core_signed")
    assert spec.btf is not None
    prog = spec.programs["read_signed"]
    target = btf_of(objs, "core_target_signed")
    _, fixups = Relocator(spec.btf, target).relocate(
        prog.name, prog.instructions, prog.core_relocations
    )
    assert [(f.path, f.poisoned, f.resized) for f in fixups] == [
        ("struct sthing.u", False, False),  # unsigned: the load grows to 8 bytes
        ("struct sthing.v", True, True),
    ]
    with pytest.raises(VerifierError) as exc:
        spec.load(kernel_btf=objs("core_target_signed"))
    assert re.fullmatch(
        r"load program 'read_signed' \(XDP\): instruction \d+ uses struct sthing\.v, whose size"
        r" differs in the target BTF \(.*core_target_signed.*\): a load or store can change"
        r" size only for unsigned integers and pointers \(read it with BPF_CORE_READ_INTO\(\),"
        r" or check bpf_core_field_size\(\) first\)",
        str(exc.value),
    ), str(exc.value)
