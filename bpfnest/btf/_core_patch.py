"""CO-RE: patching one instruction with a relocation's result (pure; see :mod:`.core`)."""

from __future__ import annotations

import dataclasses
from typing import Final, Literal

from .types import Type

__all__ = ["POISON", "Patcher", "Result"]

#: The helper number a poisoned instruction calls (``0xbad2310``, "bad relo").
POISON: Final = 195896080
_CLASS_LD, _CLASS_LDX, _CLASS_ST, _CLASS_STX = 0x00, 0x01, 0x02, 0x03
_CLASS_ALU, _CLASS_ALU64 = 0x04, 0x07
_SIZE_BYTES: Final = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_BYTES_SIZE: Final = {v: k for k, v in _SIZE_BYTES.items()}
_LD_IMM64: Final = 0x18
_CALL: Final = 0x85
_SRC_X: Final = 0x08
ByteOrder = Literal["little", "big"]


@dataclasses.dataclass
class Result:
    """A relocation's outcome: the value the compiler wrote and the one the target needs."""

    old: int = 0
    new: int = 0
    poison: bool = False
    validate: bool = True
    old_size: int = 0
    new_size: int = 0
    old_type: Type | None = None
    new_type: Type | None = None
    bad_mem_size: bool = False


class Patcher:
    """Reads and writes the fields of instruction ``idx`` of ``code``."""

    def __init__(self, code: bytearray, idx: int, byteorder: str) -> None:
        self.code = code
        self.at = idx * 8
        self.bo: ByteOrder = "big" if byteorder == "big" else "little"

    def _int(self, start: int, size: int, signed: bool) -> int:
        a = self.at + start
        return int.from_bytes(self.code[a : a + size], self.bo, signed=signed)

    def _set(self, start: int, size: int, value: int, signed: bool) -> None:
        a = self.at + start
        self.code[a : a + size] = value.to_bytes(size, self.bo, signed=signed)

    def _regs(self, at: int) -> tuple[int, int]:
        regs = self.code[at + 1]
        return (regs & 0xF, regs >> 4) if self.bo == "little" else (regs >> 4, regs & 0xF)

    def apply(self, res: Result) -> str | None:
        """Patch; return why not (None when done, "poison" to poison instead)."""
        op = self.code[self.at]
        cls = op & 0x07
        new = res.new
        if cls in (_CLASS_ALU, _CLASS_ALU64):
            if op & _SRC_X:
                return "an ALU instruction with a register operand"
            imm = self._int(4, 4, True)
            if res.validate and imm & 0xFFFF_FFFF != res.old & 0xFFFF_FFFF:
                return f"the instruction holds {imm & 0xFFFF_FFFF}, expected {res.old}"
            self._set(4, 4, new & 0xFFFF_FFFF, False)
            return None
        if cls in (_CLASS_LDX, _CLASS_ST, _CLASS_STX):
            off = self._int(2, 2, True)
            if res.validate and off != res.old:
                return f"the instruction's offset is {off}, expected {res.old}"
            if new > 0x7FFF:
                return f"offset {new} does not fit an instruction"
            if res.bad_mem_size:
                return "poison"  # a signed or non-integer field changed size: libbpf poisons
            self._set(2, 2, new, True)
            if res.new_size != res.old_size:
                size_bits = op & 0x18
                if (was := _SIZE_BYTES[size_bits]) != res.old_size:
                    return f"the instruction accesses {was} bytes, expected {res.old_size}"
                if res.new_size not in _BYTES_SIZE:
                    return f"a field of {res.new_size} bytes cannot be loaded by one instruction"
                self.code[self.at] = (op & ~0x18 & 0xFF) | _BYTES_SIZE[res.new_size]
            return None
        if cls == _CLASS_LD:
            if op != _LD_IMM64 or len(self.code) < self.at + 16:
                return "not an ld_imm64 instruction"
            nxt = self.at + 8
            if (
                self._regs(self.at)[1] != 0
                or self._int(2, 2, True) != 0
                or self.code[nxt] != 0
                or self.code[nxt + 1] != 0
                or self.code[nxt + 2 : nxt + 4] != b"\0\0"
            ):
                return "an ld_imm64 of an unexpected form"
            imm = self._int(4, 4, False) | self._int(12, 4, False) << 32
            if res.validate and imm != res.old & 0xFFFF_FFFF_FFFF_FFFF:
                return f"the instruction holds {imm}, expected {res.old}"
            self._set(4, 4, new & 0xFFFF_FFFF, False)
            self._set(12, 4, (new >> 32) & 0xFFFF_FFFF, False)
            return None
        return f"instruction code {op:#04x} cannot be relocated"

    def poison(self) -> None:
        """``call 0xbad2310``: refused by the verifier only if it can run. Both
        halves of an ld_imm64."""
        halves = 2 if self.code[self.at] == _LD_IMM64 and len(self.code) >= self.at + 16 else 1
        for i in range(halves):
            at = self.at + 8 * i
            self.code[at : at + 8] = bytes((_CALL, 0, 0, 0)) + POISON.to_bytes(4, self.bo)
