"""Parse ``.BTF.ext``: func_info, line_info and CO-RE relocations per ELF section.

The layout (libbpf's ``btf_ext_header``, which ``clang -g -target bpf``
emits): a header, then up to three blocks. Each block is a ``u32`` record size
followed by groups of ``{sec_name_off, num_info, records[num_info]}``, one
group per ELF code section. ``insn_off`` values are byte offsets into that
section, as in the file. Records may be longer than the structs known here
(a newer producer); the extra bytes are skipped.

Malformed input raises :class:`~bpfnest.errors.ParseError` with
``section=".BTF.ext"`` and the byte offset of the bad record. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from collections.abc import Iterable
from typing import Final

from ..errors import ParseError
from . import _wire as w
from .parse import BTF, describe
from .types import Func

__all__ = [
    "BTFExt",
    "CoreRelo",
    "FuncInfo",
    "LineInfo",
    "encode_func_info",
    "encode_line_info",
    "parse_ext",
]

SECTION: Final = ".BTF.ext"

FUNC_INFO_MIN: Final = 8
LINE_INFO_MIN: Final = 16
CORE_RELO_MIN: Final = 16


@dataclasses.dataclass(frozen=True, slots=True)
class FuncInfo:
    """``bpf_func_info``: the FUNC ``type_id`` of the function at ``insn_off``."""

    insn_off: int
    type_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class LineInfo:
    """``bpf_line_info``: the source position of the instruction at ``insn_off``.

    ``file_name`` and ``line_text`` are the strings at ``file_name_off`` and
    ``line_off`` in the BTF string section.
    """

    insn_off: int
    file_name_off: int
    line_off: int
    line: int
    col: int
    file_name: str = ""
    line_text: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class CoreRelo:
    """``bpf_core_relo``: a CO-RE relocation of ``kind`` (``BPF_CORE_*``)."""

    insn_off: int
    type_id: int
    access_str: str
    kind: int


@dataclasses.dataclass(slots=True)
class BTFExt:
    """Parsed ``.BTF.ext``, keyed by ELF section name. A ``*_rec_size`` is 0
    when its block is absent."""

    func_info: dict[str, list[FuncInfo]]
    line_info: dict[str, list[LineInfo]]
    core_relos: dict[str, list[CoreRelo]]
    func_info_rec_size: int = 0
    line_info_rec_size: int = 0
    core_relo_rec_size: int = 0


class _ExtParser:
    def __init__(self, data: bytes, btf: BTF, file: str) -> None:
        self.data = data
        self.btf = btf
        self.file = file
        self.wire = w.WIRE[btf.byteorder]

    def err(self, message: str, offset: int) -> ParseError:
        return ParseError(message, file=self.file, section=SECTION, offset=offset)

    def string(self, offset: int, what: str, where: int) -> str:
        s = self.btf._string(offset)
        if s is None:
            raise self.err(f"{what} offset {offset} outside the BTF string section", where)
        return s

    def check_type(self, type_id: int, where: int) -> None:
        if type_id >= len(self.btf.types):
            raise self.err(f"type id {type_id} out of range ({len(self.btf.types)} types)", where)

    def block(
        self, off: int, length: int, field: int, min_rec: int, what: str
    ) -> tuple[int, list[tuple[str, int, int]]]:
        """Check one block; return its record size and the groups in it as
        (section name, offset of the first record, count)."""
        if not length:
            return 0, []
        data = self.data
        start = self.hdr_len + off
        end = start + length
        if end > len(data):
            raise self.err(
                f"{what} ({length} bytes at {off}) runs past the end ({len(data)} bytes)", field
            )
        if length < 4:
            raise self.err(f"{what}: no record size", start)
        (rec_size,) = self.wire.u32.unpack_from(data, start)
        if rec_size < min_rec or rec_size % 4:
            raise self.err(
                f"{what}: record size {rec_size} (want a multiple of 4, at least {min_rec})",
                start,
            )
        groups: list[tuple[str, int, int]] = []
        pos = start + 4
        while pos < end:
            if end - pos < 8:
                raise self.err(f"{what}: section header truncated", pos)
            name_off, num = self.wire.ext_info_sec.unpack_from(data, pos)
            if num == 0:
                raise self.err(f"{what}: section with no records", pos)
            first = pos + 8
            if num * rec_size > end - first:
                raise self.err(
                    f"{what}: {num} records of {rec_size} bytes run past the end of the block",
                    pos,
                )
            groups.append((self.string(name_off, "section name", pos), first, num))
            pos = first + num * rec_size
        return rec_size, groups

    def run(self) -> BTFExt:
        data = self.data
        wire = self.wire
        if len(data) < 8:
            raise self.err(f"header truncated: {len(data)} bytes", 0)
        magic, version, _, hdr_len = wire.prefix.unpack_from(data, 0)
        if magic != w.BTF_MAGIC:
            other = "the other byte order than .BTF" if magic == 0x9FEB else "not eb9f"
            raise self.err(f"bad magic {data[:2].hex()} ({other})", 0)
        if version != w.BTF_VERSION:
            raise self.err(f"unsupported BTF.ext version {version}", 2)
        if hdr_len < w.EXT_HEADER_MIN or len(data) < w.EXT_HEADER_MIN:
            raise self.err(f"header truncated: hdr_len {hdr_len}, {len(data)} bytes", 4)
        if hdr_len > len(data):
            raise self.err(f"header length {hdr_len} runs past the end ({len(data)} bytes)", 4)
        self.hdr_len = hdr_len
        _, _, _, _, fi_off, fi_len, li_off, li_len = wire.ext_header.unpack_from(data, 0)
        cr_off = cr_len = 0
        if hdr_len >= w.EXT_HEADER_CORE:
            cr_off, cr_len = wire.ext_core.unpack_from(data, w.EXT_HEADER_MIN)
        types = self.btf.types

        fi_size, groups = self.block(fi_off, fi_len, 8, FUNC_INFO_MIN, "func_info")
        func_info: dict[str, list[FuncInfo]] = {}
        for sec, first, num in groups:
            out_fi = func_info.setdefault(sec, [])
            for pos in range(first, first + num * fi_size, fi_size):
                insn_off, type_id = wire.func_info.unpack_from(data, pos)
                self.check_type(type_id, pos)
                if not isinstance(types[type_id], Func):
                    raise self.err(f"func_info type {describe(types[type_id])} is not a FUNC", pos)
                out_fi.append(FuncInfo(insn_off, type_id))

        li_size, groups = self.block(li_off, li_len, 16, LINE_INFO_MIN, "line_info")
        line_info: dict[str, list[LineInfo]] = {}
        for sec, first, num in groups:
            out_li = line_info.setdefault(sec, [])
            for pos in range(first, first + num * li_size, li_size):
                insn_off, file_off, line_off, line_col = wire.line_info.unpack_from(data, pos)
                out_li.append(
                    LineInfo(
                        insn_off,
                        file_off,
                        line_off,
                        line_col >> w.LINE_SHIFT,
                        line_col & w.COL_MASK,
                        self.string(file_off, "file name", pos),
                        self.string(line_off, "line text", pos),
                    )
                )

        cr_size, groups = self.block(cr_off, cr_len, 24, CORE_RELO_MIN, "core_relo")
        core_relos: dict[str, list[CoreRelo]] = {}
        for sec, first, num in groups:
            out_cr = core_relos.setdefault(sec, [])
            for pos in range(first, first + num * cr_size, cr_size):
                insn_off, type_id, access_off, kind = wire.core_relo.unpack_from(data, pos)
                self.check_type(type_id, pos)
                out_cr.append(
                    CoreRelo(insn_off, type_id, self.string(access_off, "access string", pos), kind)
                )

        return BTFExt(
            func_info=func_info,
            line_info=line_info,
            core_relos=core_relos,
            func_info_rec_size=fi_size,
            line_info_rec_size=li_size,
            core_relo_rec_size=cr_size,
        )


def parse_ext(raw: bytes, btf: BTF, *, file: str = "") -> BTFExt:
    """Parse a ``.BTF.ext`` section against its ``.BTF`` (for strings, type
    ids and byte order).

    Raises:
        ParseError: the data is malformed (``section=".BTF.ext"``, ``offset``
            the byte offset of the bad header field or record).
    """
    return _ExtParser(bytes(raw), btf, file).run()


def _native() -> w.Wire:
    return w.WIRE[sys.byteorder]


def _padding(rec_size: int, minimum: int, what: str) -> bytes:
    if rec_size < minimum or rec_size % 4:
        raise ValueError(f"{what} record size must be a multiple of 4 >= {minimum}, got {rec_size}")
    return bytes(rec_size - minimum)


def encode_func_info(records: Iterable[FuncInfo], rec_size: int = FUNC_INFO_MIN) -> bytes:
    """``bpf_func_info`` records for ``BPF_PROG_LOAD``, native byte order,
    ``insn_off`` as given (the caller turns it into instruction indexes), each
    padded with zeros to ``rec_size``.

    Raises:
        ValueError: ``rec_size`` is too small or not a multiple of 4, or a
            value does not fit in 32 bits.
    """
    pad = _padding(rec_size, FUNC_INFO_MIN, "func_info")
    pack = _native().func_info.pack
    try:
        return b"".join(pack(r.insn_off, r.type_id) + pad for r in records)
    except struct.error as exc:  # a value out of range
        raise ValueError(f"func_info: {exc}") from None


def encode_line_info(records: Iterable[LineInfo], rec_size: int = LINE_INFO_MIN) -> bytes:
    """``bpf_line_info`` records for ``BPF_PROG_LOAD``, native byte order,
    ``insn_off`` as given, ``line << 10 | col``, each padded to ``rec_size``.

    Raises:
        ValueError: ``rec_size`` is bad, ``col`` is not below 1024, or a
            value does not fit in 32 bits.
    """
    pad = _padding(rec_size, LINE_INFO_MIN, "line_info")
    pack = _native().line_info.pack
    out = []
    for r in records:
        if not 0 <= r.col <= w.COL_MASK or not 0 <= r.line < 1 << (32 - w.LINE_SHIFT):
            raise ValueError(f"line_info: line {r.line} col {r.col} do not fit line_col")
        try:
            out.append(
                pack(r.insn_off, r.file_name_off, r.line_off, r.line << w.LINE_SHIFT | r.col) + pad
            )
        except struct.error as exc:  # a value out of range
            raise ValueError(f"line_info: {exc}") from None
    return b"".join(out)
