"""Programs that pass a function as a callback (issue 19 item 1): bpf_loop,
bpf_for_each_map_elem, bpf_timer_set_callback (and bpf_user_ringbuf_drain in
test_events.py) load and run; the function-address load is rewritten as
libbpf does (src_reg BPF_PSEUDO_FUNC, imm = target - insn - 1)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

import bpfnest
from bpfnest import CollectionSpec, ParseError

Objs = Callable[..., str]
PACKET = bytes(64)
LD_IMM64, PSEUDO_FUNC = 0x18, 4


def u64(b: bytes) -> int:
    return int.from_bytes(b, "little")


@pytest.mark.usefixtures("kernel")
def test_bpf_loop_and_a_subprogram_called_from_the_callback(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("callbacks")).load() as coll:
        coll.programs["loop"].test_run(PACKET)
        out = coll.maps["out"]
        assert (u64(out.lookup(0)), u64(out.lookup(1))) == (45, 90)


@pytest.mark.usefixtures("kernel")
def test_bpf_for_each_map_elem(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("callbacks")).load() as coll:
        for k in range(8):
            coll.maps["vals"].update(k, (k * 10).to_bytes(8, "little"))
        coll.programs["each"].test_run(PACKET)
        assert u64(coll.maps["out"].lookup(2)) == 280


@pytest.mark.usefixtures("kernel")
def test_timer_callback_fires(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("callbacks")).load() as coll:
        coll.programs["timer"].test_run(PACKET)
        deadline = time.monotonic() + 3
        while u64(coll.maps["out"].lookup(3)) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert u64(coll.maps["out"].lookup(3)) == 1


def _func_loads(spec: bpfnest.ProgramSpec, order: str) -> list[tuple[int, int]]:
    """(index, target index) of each BPF_PSEUDO_FUNC load in ``spec``."""
    found = []
    code = spec.instructions
    for i in range(len(code) // 8):
        op, regs = code[i * 8], code[i * 8 + 1]
        src = regs >> 4 if order == "little" else regs & 0xF
        if op == LD_IMM64 and src == PSEUDO_FUNC:
            imm = int.from_bytes(code[i * 8 + 4 : i * 8 + 8], order, signed=True)
            found.append((i, i + imm + 1))
    return found


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_function_address_points_at_the_appended_function(objs: Objs, target: str) -> None:
    spec = CollectionSpec.from_file(objs("callbacks", target))
    order = spec.byteorder
    loop = spec.programs["loop"]
    loads = _func_loads(loop, order)
    assert len(loads) == 2  # add_index and add_twice
    starts = {fi.insn for fi in loop.func_info}
    for at, target_insn in loads:
        assert target_insn in starts and target_insn > at  # a function appended after main
    assert len(_func_loads(spec.programs["each"], order)) == 1
    assert len(_func_loads(spec.programs["timer"], order)) == 1


def test_function_address_off_an_instruction_is_refused(objs: Objs) -> None:
    path = objs("callbacks")
    data = bytearray(Path(path).read_bytes())
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        text = elf.get_section_index(".text")
        for sec in elf.iter_sections():
            if not isinstance(sec, RelocationSection) or sec.name != ".relxdp":
                continue
            target = elf.get_section(sec["sh_info"])
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                if sym["st_shndx"] == text:
                    at = target["sh_offset"] + rel["r_offset"] + 4
                    imm = struct.unpack_from("<i", data, at)[0]
                    struct.pack_into("<i", data, at, imm + 4)  # half an instruction on
                    break
            break
    with pytest.raises(ParseError, match=r"address of code '\.text' \+ \d+ is not an instruction"):
        CollectionSpec.from_bytes(bytes(data))
