"""link_maps: map references written into instructions (pure: no kernel).

Each map reference is an ``ld_imm64`` whose ``src_reg`` and ``imm`` fields the
linker fills, in either byte order, before the program goes to the kernel.
"""

from __future__ import annotations

import struct
import sys

import pytest

from bpfnest.programs import link_maps
from bpfnest.spec import MapRef


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte instruction in this machine's byte order."""
    regs = dst | src << 4 if sys.byteorder == "little" else dst << 4 | src
    return struct.pack("=BBhi", code, regs, off, imm)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_link_maps_sets_src_reg_and_imm(byteorder: str) -> None:
    fmt = "<BBhi" if byteorder == "little" else ">BBhi"
    dst = 0x03 if byteorder == "little" else 0x30  # r3 in the dst nibble
    code = struct.pack(fmt, 0x18, dst, 0, 0) + struct.pack(fmt, 0, 0, 0, 0)
    code *= 2
    refs = [MapRef(0, "a"), MapRef(2, "b", offset=12)]
    linked = link_maps(code, refs, {"a": 7, "b": 9}, byteorder, program="p")
    first, second, third, fourth = (struct.unpack_from(fmt, linked, i * 8) for i in range(4))
    if byteorder == "little":
        assert first[1] == 0x13 and third[1] == 0x23  # src 1 / 2 high, dst 3 low
    else:
        assert first[1] == 0x31 and third[1] == 0x32  # dst 3 high, src 1 / 2 low
    assert first[3] == 7 and second[3] == 0
    assert third[3] == 9 and fourth[3] == 12
    assert code == struct.pack(fmt, 0x18, dst, 0, 0) + bytes(8) + struct.pack(
        fmt, 0x18, dst, 0, 0
    ) + bytes(8)


def test_link_maps_errors() -> None:
    ld = insn(0x18) + insn(0)
    with pytest.raises(ValueError, match="byteorder"):
        link_maps(ld, [], {}, "middle")
    with pytest.raises(ValueError, match="offset"):
        link_maps(ld, [MapRef(0, "m", offset=-1)], {"m": 3}, sys.byteorder)
    with pytest.raises(ValueError, match="insn 0 refers to map 'm', which was not given"):
        link_maps(ld, [MapRef(0, "m")], {}, sys.byteorder)
