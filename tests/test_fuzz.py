"""Fuzzing the ELF, BTF and BTF.ext parsers: a short deterministic run, the
oracle's own checks, and a regression case for every bug the fuzzer found.

The long run is ``python -m tests.fuzz.run --minutes N`` (tests/fuzz/README.md).
No kernel needed.
"""

from __future__ import annotations

import collections
import contextlib
import random
import struct
import time
from collections.abc import Callable

import pytest
from fuzz import harness, layout, mutate
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bpfnest import CollectionSpec, ParseError, elf
from bpfnest.btf import BTF, Array, Pointer, Struct, Type, Var, parse_ext
from bpfnest.btf.format import decode

from support import compile_bpf

# Deterministic (derandomize), no example database, no per-example deadline:
# harness.limits() bounds each example (TIME_LIMIT s, MEMORY_LIMIT bytes). No
# shrinking: a hang would make it take minutes; the report names the seed and
# the random draws, which replay the mutant exactly.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def seeds() -> harness.Seeds:
    return harness.build_seeds(compile_bpf, harness.CI_SEEDS)


def bounded() -> contextlib.AbstractContextManager[None]:
    """What a regression case may take: 2 s and 256 MiB (a hang or blow-up fails)."""
    return harness.limits(seconds=2, memory=256 << 20)


def _obj(name: str, target: str = "bpfel") -> bytes:
    with open(compile_bpf(name, target), "rb") as f:
        return f.read()


# ------------------------------------------------------------------ the run


def test_seeds_parse(seeds: harness.Seeds) -> None:
    for name, data in zip(seeds.names, seeds.elf, strict=True):
        assert harness.check_elf(data) == "ok", name
    assert all(harness.check_btf(raw) == "ok" for raw in seeds.btf)
    assert all(harness.check_ext(raw, btf) == "ok" for raw, btf in seeds.ext)


@settings(FUZZ, max_examples=1000)
@given(data=st.data())
def test_fuzz_elf(seeds: harness.Seeds, data: st.DataObject) -> None:
    seed = seeds.elf[data.draw(st.integers(0, len(seeds.elf) - 1), label="seed")]
    rnd = data.draw(st.randoms(use_true_random=False))
    harness.check_elf(mutate.mutate_elf(seed, rnd, seeds.elf))


@settings(FUZZ, max_examples=600)
@given(data=st.data())
def test_fuzz_btf(seeds: harness.Seeds, data: st.DataObject) -> None:
    raw = seeds.btf[data.draw(st.integers(0, len(seeds.btf) - 1), label="seed")]
    rnd = data.draw(st.randoms(use_true_random=False))
    mutant = mutate.mutate_btf(raw, rnd, seeds.btf)
    harness.check_btf(mutant)
    if data.draw(st.booleans()):  # the same bytes as split BTF on top of a seed
        harness.check_btf(mutant, base=BTF.parse(seeds.btf[0]))


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_fuzz_ext(seeds: harness.Seeds, data: st.DataObject) -> None:
    raw, btf = seeds.ext[data.draw(st.integers(0, len(seeds.ext) - 1), label="seed")]
    rnd = data.draw(st.randoms(use_true_random=False))
    pool = [e for e, _ in seeds.ext]
    harness.check_ext(mutate.mutate_ext(raw, rnd, pool, btf=btf.raw), btf)


def test_mutants_reach_deep_code(seeds: harness.Seeds) -> None:
    """The mutators are worth running: many mutants still parse, and the
    others fail in many different places (not all at the ELF header)."""
    rnd = random.Random(0)
    ok = 0
    where: collections.Counter[str] = collections.Counter()
    for _ in range(300):
        data = mutate.mutate_elf(rnd.choice(seeds.elf), rnd, seeds.elf)
        try:
            CollectionSpec.from_bytes(data, file="m.o")
            ok += 1
        except ParseError as err:
            where[err.section or "<header>"] += 1
    assert ok > 30, ok
    assert sum(where.values()) > 100, where
    assert {".BTF", ".maps", "<header>"} <= set(where), where
    assert len(where) >= 8, where


# ------------------------------------------------------------------ the oracle


def test_oracle_flags_hangs_blowups_and_hidden_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(harness._Timeout), harness.limits(seconds=0.05):
        time.sleep(2)
    with pytest.raises(MemoryError), harness.limits(memory=64 << 20):
        bytearray(1 << 30)
    with pytest.raises(harness.FuzzFailure) as ei:
        harness._guard("x", lambda: [][1])
    assert ei.value.kind == "crash" and "IndexError" in ei.value.signature

    def bug(self: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(elf._Reader, "read", bug)
    with pytest.raises(harness.FuzzFailure) as ei:
        harness.check_elf(_obj("xdp_pass"))
    assert ei.value.kind == "net" and "KeyError" in ei.value.signature
    assert "behind the safety net (fuzz.o: malformed ELF: KeyError" in str(ei.value)


# ------------------------------------------------------------------ regressions
#
# Each case is a seed with a few fields changed, found by the fuzzer (or, where
# marked, by reading the code while fixing a neighbour). Before the fixes the
# ELF cases escaped as pyelftools errors caught only by read_collection's last
# resort ("malformed ELF: ELFError: ...", no section, no offset), overflowed,
# or allocated without bound; BTF format.decode hung.


def _fields(data: bytes) -> layout.Layout:
    lay = layout.elf_layout(data)
    assert lay is not None
    return lay


def _put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, offset, value)
    return bytes(out)


def _shdr(data: bytes, name: str, field: int, fmt: str, value: int) -> bytes:
    """Set a field of section ``name``'s header (field: byte offset in Elf64_Shdr)."""
    sec = _fields(data).section(name)
    assert sec is not None, name
    return _put(data, sec.header + field, fmt, value)


SH_TYPE, SH_FLAGS, SH_OFFSET, SH_SIZE, SH_LINK, SH_ENTSIZE = 4, 8, 24, 32, 40, 56


def _sym(data: bytes, name: str, field: int, fmt: str, value: int) -> bytes:
    """Set a field of symbol ``name`` (field: byte offset in Elf64_Sym)."""
    lay = _fields(data)
    symtab = lay.section(".symtab")
    strtab = lay.section(".strtab")
    assert symtab and strtab
    for n in range(symtab.size // 24):
        at = symtab.offset + 24 * n
        (name_off,) = struct.unpack_from("<I", data, at)
        end = data.index(b"\0", strtab.offset + name_off)
        if data[strtab.offset + name_off : end] == name.encode():
            return _put(data, at + field, fmt, value)
    raise AssertionError(f"no symbol {name}")


Case = tuple[str, Callable[[bytes], bytes], str, str]

ELF_CASES: list[Case] = [
    # (seed, mutation, expected message, expected section)
    ("xdp_pass", lambda d: _put(d, 0x3A, "H", 63), "e_shentsize is 63, not 64", ""),
    ("xdp_pass", lambda d: _put(d, 4, "B", 3), "malformed ELF header: ELFError", ""),
    ("xdp_pass", lambda d: _put(d, 0x28, "Q", len(d) - 10), "section header table at", ""),
    ("xdp_pass", lambda d: _put(d, 0x3C, "H", 0xFFFF), "run past the end of the file", ""),
    ("xdp_pass", lambda d: _put(d, 0x3E, "H", 0), "e_shstrndx 0 is not a string table", ""),
    # sh_offset/sh_size past the end: pyelftools seeked to 2**62 (OverflowError)
    # or, when just past the end, silently returned fewer bytes than sh_size.
    ("globals", lambda d: _shdr(d, ".data", SH_OFFSET, "Q", 1 << 62), "run past the end", ""),
    ("globals", lambda d: _shdr(d, ".data", SH_SIZE, "Q", len(d)), "run past the end", ""),
    # SHF_COMPRESSED made pyelftools decompress (ELFCompressionError, or a zlib bomb).
    ("globals", lambda d: _shdr(d, ".BTF", SH_FLAGS, "Q", 0x800), "compressed", ".BTF"),
    ("globals", lambda d: _shdr(d, ".strtab", SH_FLAGS, "Q", 0x800), "compressed", ""),
    ("globals", lambda d: _shdr(d, ".symtab", SH_FLAGS, "Q", 0x800), "compressed", ".symtab"),
    # A symbol table linked to a non-string-table: ELFError from pyelftools.
    ("xdp_pass", lambda d: _shdr(d, ".symtab", SH_LINK, "I", 0), "sh_link 0 is not", ".symtab"),
    ("xdp_pass", lambda d: _shdr(d, ".symtab", SH_ENTSIZE, "Q", 0), "symbol size", ".symtab"),
    ("outer_init", lambda d: _shdr(d, ".relxdp", SH_ENTSIZE, "Q", 8), "relocation size", ".relxdp"),
    # Name offsets past the string tables: OverflowError in pyelftools' seek.
    ("xdp_pass", lambda d: _shdr(d, "xdp", 0, "I", 0xFFFFFFF0), "is not a string in the", ""),
    ("xdp_pass", lambda d: _sym(d, "pass", 0, "I", 0xFFFFFFF0), "not a string in", ".symtab"),
    # Overlapping sections (read: each section's data was a copy of up to the
    # whole file, so n headers made the reader allocate n times the file).
    (
        "globals",
        lambda d: _shdr(d, ".data", SH_OFFSET, "Q", _fields(d).section(".text").offset),
        "overlaps section '.data'",
        ".text",
    ),
    # A zero-fill section of 2**40 bytes was allocated as bytes(2**40) (read).
    ("globals", lambda d: _shdr(d, ".bss", SH_SIZE, "Q", 1 << 40), "do not fit a map", ".bss"),
    # A map symbol 2**37 bytes into .maps: ValueError from with_datasec_fixups.
    ("outer_init", lambda d: _sym(d, "outer_arr", 8, "Q", 1 << 37), "outside .maps", ".maps"),
]


@pytest.mark.parametrize(("seed", "mutation", "message", "section"), ELF_CASES)
def test_elf_regressions(
    seed: str, mutation: Callable[[bytes], bytes], message: str, section: str
) -> None:
    data = mutation(_obj(seed))
    with bounded(), pytest.raises(ParseError) as ei:
        CollectionSpec.from_bytes(data, file="bad.o")
    err = ei.value
    assert message in err.message and err.section == section, str(err)
    assert err.file == "bad.o" and str(err).startswith("bad.o: ")
    assert err.__context__ is None or not isinstance(err.__context__, (KeyError, IndexError))
    harness.check_elf(data)  # and the oracle agrees it is a proper ParseError


def _patch_btf(data: bytes, edits: Callable[[BTF], list[tuple[int, int]]]) -> bytes:
    """Set u32s of the object's .BTF: ``edits(btf)`` gives (offset in .BTF, value)."""
    sec = _fields(data).section(".BTF")
    assert sec is not None
    btf = BTF.parse(data[sec.offset : sec.offset + sec.size])
    for offset, value in edits(btf):
        data = _put(data, sec.offset + offset, "I", value)
    return data


def _rec_at(btf: BTF, t: Type) -> int:
    offset = btf.record_offset(t)
    assert offset is not None
    return offset


def _huge_kconfig(btf: BTF) -> list[tuple[int, int]]:
    """LINUX_KERNEL_VERSION becomes LICENSE's char[4], made char[0xffffffff]."""
    var, arr = btf.find("LINUX_KERNEL_VERSION", Var), btf.find("LICENSE", Var).type
    return [(_rec_at(btf, var) + 8, arr.id), (_rec_at(btf, arr) + 20, 0xFFFFFFFF)]


def _huge_key(btf: BTF) -> list[tuple[int, int]]:
    """A map's key points at a max_entries array, made int[0xffffffff] (one no
    __uint(type, ...) shares: BTF dedups `int (*)[N]`)."""
    structs = [t for t in btf.types if isinstance(t, Struct)]
    members = [{m.name: m.type for m in st.members} for st in structs]
    kinds = {m["type"].target.id for m in members if isinstance(m.get("type"), Pointer)}
    for m in members:
        key, arr = m.get("key"), m.get("max_entries")
        if isinstance(key, Pointer) and isinstance(arr, Pointer) and arr.target.id not in kinds:
            target = arr.target
            return [(_rec_at(btf, key) + 8, target.id), (_rec_at(btf, target) + 20, 0xFFFFFFFF)]
    raise AssertionError("no map to change")


@pytest.mark.parametrize(
    ("seed", "edits", "message", "section"),
    [
        (
            "kconfig",
            _huge_kconfig,
            "extern 'LINUX_KERNEL_VERSION' (.kconfig) is 4294967295 bytes; a config value takes"
            " 1 to 65536",
            ".BTF",
        ),
        ("all_steps", _huge_key, "key type is 17179869180 bytes", ".maps"),
    ],
)
def test_sizes_past_u32(
    seed: str, edits: Callable[[BTF], list[tuple[int, int]]], message: str, section: str
) -> None:
    """Sizes the kernel takes as u32 (read): a map value or key past 4 GiB."""
    with bounded(), pytest.raises(ParseError) as ei:
        CollectionSpec.from_bytes(_patch_btf(_obj(seed), edits), file="big.o")
    assert message in ei.value.message and ei.value.section == section, str(ei.value)


def test_sections_the_reader_does_not_use_are_ignored() -> None:
    """sh_type SHT_DYNAMIC/SHT_HASH on a section the reader does not use made
    pyelftools build those sections and fail on their links (ELFError); a
    compressed one (clang -gz compresses .debug_*) is fine too."""
    data = _obj("xdp_pass")
    lay = _fields(data)
    for name in (".debug_info", ".rel.debug_info", ".llvm_addrsig"):
        unused = lay.section(name)
        assert unused is not None
        for sh_type in (5, 6, 0x6FFFFFF6, 0x6FFFFFFE):  # HASH, DYNAMIC, GNU_HASH, verneed
            bad = _put(data, unused.header + SH_TYPE, "I", sh_type)
            with bounded():
                assert CollectionSpec.from_bytes(bad).programs.keys() == {"pass"}
        bad = _put(data, unused.header + SH_FLAGS, "Q", 0x800)
        assert CollectionSpec.from_bytes(bad).programs.keys() == {"pass"}


def test_huge_bss_is_not_allocated() -> None:
    """A 4 GiB - 1 zero-fill section parses without allocating it (read)."""
    data = _shdr(_obj("globals"), ".bss", SH_SIZE, "Q", 0xFFFFFFFF)
    with bounded():
        spec = CollectionSpec.from_bytes(data)
    assert spec.maps[".bss"].value_size == 0xFFFFFFFF and spec.maps[".bss"].contents is None
    small = CollectionSpec.from_bytes(_obj("globals"))
    assert small.maps[".bss"].contents == {0: bytes(small.maps[".bss"].value_size)}


# BTF: hand-made blobs (little-endian), independent of bpfnest's writer.


def _btf(*records: bytes, strings: bytes = b"\0a\0") -> bytes:
    types = b"".join(records)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


def _rec(kind: int, st: int, *extra: int, name: int = 0, vlen: int = 0) -> bytes:
    return struct.pack(f"<{3 + len(extra)}I", name, kind << 24 | vlen, st, *extra)


INT = _rec(1, 4, 32, name=1)  # int a (#1)


def test_decode_huge_array_is_bounded() -> None:
    """BTF format.decode of `int a[0xffffffff]` looped over 4 billion elements."""
    btf = BTF.parse(_btf(INT, _rec(3, 0, 1, 1, 0xFFFFFFFF)))  # #2: int[0xffffffff]
    arr = btf.types[2]
    assert isinstance(arr, Array)
    with bounded(), pytest.raises(ValueError, match="too short"):
        decode(btf, arr, bytes(64))
    empty = BTF.parse(_btf(INT, _rec(4, 0, name=1), _rec(3, 0, 2, 1, 0xFFFFFFFF)))  # struct a {}[]
    with bounded(), pytest.raises(ValueError, match="too many values"):
        decode(empty, empty.types[3], bytes(64))


def test_decode_deep_array_chain_is_fast() -> None:
    """1000 nested `[2]` arrays of an empty struct: decoding each type walked
    the chain for every element's sizeof (5 s here; a hang under atheris)."""
    recs = [_rec(3, 0, 2 + i, 0, 2) for i in range(1000)] + [_rec(4, 0, name=1)]
    btf = BTF.parse(_btf(*recs))
    with bounded():
        harness.exercise_btf(btf)


def test_sizeof_nested_huge_arrays() -> None:
    """Nested arrays of 2**32-1 elements: sizes grew into huge integers (read)."""
    recs = [INT] + [_rec(3, 0, 1 + i, 1, 0xFFFFFFFF) for i in range(2000)]
    btf = BTF.parse(_btf(*recs))
    assert btf.sizeof(btf.types[2]) == 4 * 0xFFFFFFFF
    with bounded(), pytest.raises(ParseError, match="does not fit in 64 bits") as ei:
        btf.sizeof(btf.types[-1])
    assert ei.value.section == ".BTF"


@pytest.mark.parametrize(
    ("records", "cyclic"),
    [
        ([_rec(10, 2), _rec(9, 1)], True),  # const -> volatile -> const
        ([_rec(8, 1, name=1)], True),  # typedef a a
        ([_rec(3, 0, 1, 1, 3)], True),  # an array of itself
        ([_rec(14, 1, 1, name=1)], True),  # a variable of itself
        ([_rec(8, i + 2, name=1) for i in range(999)] + [_rec(8, 1, name=1)], True),
        ([_rec(4, 4, 1, 1, 0, name=1, vlen=1)], False),  # struct a { struct a a; }: sized
        ([_rec(2, 1)], False),  # void *p = &p: a pointer is 8 bytes
    ],
)
def test_btf_cycles_are_errors_not_hangs(records: list[bytes], cyclic: bool) -> None:
    """Type graphs that loop: parsing, sizeof, resolve and decode all finish."""
    with bounded():
        btf = BTF.parse(_btf(*records))
        harness.exercise_btf(btf)
        if cyclic:
            with pytest.raises(ParseError, match="cycle") as ei:
                btf.sizeof(btf.types[1])
            assert ei.value.section == ".BTF" and ei.value.offset is not None
        else:
            assert btf.sizeof(btf.types[1]) in (4, 8)


def test_btf_ext_counts_are_checked_before_looping() -> None:
    """num_info and record sizes are checked against the block before any loop."""
    btf = BTF.parse(_btf(INT))
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, 20, 0, 0, 0, 0)
    block = struct.pack("<IIIII", 8, 1, 0xFFFFFFFF, 0, 1)  # 4 billion records claimed
    with bounded(), pytest.raises(ParseError) as ei:
        parse_ext(hdr + block, btf)
    assert ei.value.section == ".BTF.ext" and "run past the end" in ei.value.message
