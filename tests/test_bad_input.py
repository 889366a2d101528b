"""The bad-input matrix: every public method, given what it must refuse.

One table: each row calls one public entry point (``Map``, ``OuterMap``,
``MapSpec``, ``CollectionSpec``, ``Collection``, ``Program``, the CLI) with a
wrong type, a wrong size, an out-of-range int, a closed object, a bad fd, a
forbidden template, a mismatched inner map or flags the type refuses. Each
row names the error type and words the message must contain (the cause),
and after each row the kernel must look exactly as before: the same map and
program ids, the same entries in every map of the fixture, the same pins.

``test_every_public_method_has_a_row`` keeps the table complete: a new public
method without a row (or a reason in ``NO_BAD_INPUT``) fails it.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import bpfnest
from bpfnest import (
    EXIST,
    F_LOCK,
    F_NO_PREALLOC,
    NOEXIST,
    AttachType,
    BPFError,
    Collection,
    CollectionSpec,
    KeylessMap,
    KeyNotFoundError,
    Link,
    Map,
    MapSpec,
    MapType,
    NotSupportedError,
    OuterMap,
    ParseError,
    Program,
    ProgramSpec,
    ProgType,
    VerifierError,
)
from bpfnest.cli import main

from support import compile_bpf, own_map_ids, own_prog_ids, wait_maps_gone

pytestmark = pytest.mark.usefixtures("kernel")

U32 = MapSpec(MapType.HASH, 4, 8, 8, name="h")
INNER = MapSpec(MapType.ARRAY, 4, 4, 2, name="inner")
# r0 = 2 (XDP_PASS); exit
XDP_PASS = bytes.fromhex("b700000002000000") + bytes.fromhex("9500000000000000")


@dataclasses.dataclass
class World:
    """The objects the rows work on (all created once per test run of the matrix)."""

    h: Map  # HASH u32 -> u64, 8 entries max, holding {1: 10, 2: 20}
    a: Map  # ARRAY u32 -> u32, 4 entries
    q: Map  # QUEUE of u32, capacity 2, full
    aom: OuterMap  # ARRAY_OF_MAPS of INNER, slot 0 set
    hom: OuterMap  # HASH_OF_MAPS of INNER, key 7 set
    inner: Map  # in aom[0] and hom[7]
    frozen: Map  # ARRAY frozen
    closed: Map
    closed_outer: OuterMap
    prog: Program
    closed_prog: Program
    coll: Collection  # tests/bpf/globals.c
    cspec: CollectionSpec
    pipe: int  # a file descriptor that is not a BPF object
    dead_fd: int  # a number that is not open
    bpffs: str
    tmp: str
    link: Link  # a RAW_TRACEPOINT link on sys_enter (it can neither update nor detach)
    closed_link: Link

    def maps(self) -> list[Map]:
        return [self.h, self.a, self.q, self.aom, self.hom, self.inner, self.frozen]


def snapshot(w: World) -> dict[str, Any]:
    """What the rows must not change."""
    state: dict[str, Any] = {
        "pins": sorted(os.listdir(w.bpffs)),
        "programs": own_prog_ids(),
    }
    for m in w.maps():
        state[m.name] = sorted(m.items()) if m.type != MapType.QUEUE else m.peek()
    for name, m in w.coll.maps.items():
        state[f"coll {name}"] = sorted(m.items())
    return state


@pytest.fixture(scope="module")
def world(kernel_reason: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if kernel_reason is not None:
        pytest.skip(kernel_reason)  # the kernel fixture of each test fails it under CI
    from support import BPFFS

    bpffs = os.path.join(BPFFS, f"bpfnest-bad-input-{os.getpid()}")
    os.mkdir(bpffs)
    made: list[Any] = []

    def keep(x: Any) -> Any:
        made.append(x)
        return x

    try:
        h = keep(Map.create(U32))
        h.update_batch({1: 10, 2: 20})
        a = keep(Map.create(MapSpec(MapType.ARRAY, 4, 4, 4, name="a")))
        q = keep(Map.create(MapSpec(MapType.QUEUE, 0, 4, 2, name="q")))
        q.push(1)
        q.push(2)
        inner = keep(Map.create(INNER))
        aom = keep(Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="aom", inner=INNER)))
        hom = keep(Map.create(MapSpec(MapType.HASH_OF_MAPS, 4, 4, 4, name="hom", inner=INNER)))
        aom[0] = inner
        hom[7] = inner
        frozen = keep(Map.create(MapSpec(MapType.ARRAY, 4, 4, 1, name="frozen")))
        frozen.freeze()
        closed = Map.create(MapSpec(MapType.HASH, 4, 4, 1, name="closed"))
        closed.close()
        closed_outer = Map.create(
            MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, name="closed_outer", inner=INNER)
        )
        closed_outer.close()
        spec = ProgramSpec(name="pass", type=ProgType.XDP, instructions=XDP_PASS, license="GPL")
        prog = keep(Program.load(spec))
        closed_prog = Program.load(spec)
        closed_prog.close()
        cspec = CollectionSpec.from_file(compile_bpf("globals"))
        coll = keep(cspec.load())
        h.pin(os.path.join(bpffs, "h"))
        prog.pin(os.path.join(bpffs, "prog"))
        # Before the dead fd number: nothing opened after may take it.
        raw_spec = dataclasses.replace(spec, name="raw", type=ProgType.RAW_TRACEPOINT)
        raw = keep(Program.load(raw_spec))
        link = keep(raw.attach_raw_tracepoint("sys_enter"))
        closed_link = raw.attach_raw_tracepoint("sys_enter")
        closed_link.close()
        r, wr = os.pipe()
        made.append(r)
        made.append(wr)
        dead = os.dup(r)
        os.close(dead)
        tmp = str(tmp_path_factory.mktemp("bad-input"))
        assert isinstance(aom, OuterMap) and isinstance(hom, OuterMap)
        assert isinstance(closed_outer, OuterMap)
        yield World(
            h, a, q, aom, hom, inner, frozen, closed, closed_outer, prog, closed_prog, coll,
            cspec, r, dead, bpffs, tmp, link, closed_link,
        )  # fmt: skip
    finally:
        for x in reversed(made):
            if isinstance(x, int):
                os.close(x)
            else:
                x.close()
        for name in os.listdir(bpffs):
            os.unlink(os.path.join(bpffs, name))
        os.rmdir(bpffs)


@dataclasses.dataclass
class Row:
    target: str  # "Class.method" (or "cli map show") the row covers
    call: Callable[[World], object]
    error: type[BaseException]
    words: str  # a regex the message must match

    def __str__(self) -> str:
        return f"{self.target}: {self.error.__name__} /{self.words}/"


def cli(*argv: str) -> Callable[[World], object]:
    """Run the CLI; a non-zero status raises SystemExit with what it wrote to stderr."""

    def run(w: World) -> object:
        import contextlib

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([a.format(w=w) for a in argv], io.StringIO())
        if code != 0:
            raise SystemExit(f"status {code}: {err.getvalue()}")
        return code

    return run


def devmap_update(ifindex: int) -> None:
    with Map.create(MapSpec(MapType.DEVMAP, 4, 4, 2, name="dev")) as d:
        d[0] = ifindex


def spec_with(**kw: Any) -> MapSpec:
    return dataclasses.replace(U32, **kw)


def program_spec(**kw: Any) -> ProgramSpec:
    base = {"name": "p", "type": ProgType.XDP, "instructions": XDP_PASS, "license": "GPL"}
    return ProgramSpec(**{**base, **kw})


ROWS: list[Row] = [
    # ------------------------------------------------------------ Map: open
    Row("Map.create", lambda w: Map.create("HASH"), TypeError, "MapSpec"),  # type: ignore[arg-type]
    Row("Map.create", lambda w: Map.create(spec_with(key_size=0)), BPFError, "Invalid argument"),
    Row("Map.create", lambda w: Map.create(spec_with(max_entries=-1)), ValueError, "max_entries"),
    Row("Map.create", lambda w: Map.create(spec_with(key_size="4")), TypeError, "key_size"),
    Row("Map.create", lambda w: Map.create(spec_with(name="x y")), ValueError, "name 'x y'"),
    Row(
        "Map.create",
        lambda w: Map.create(MapSpec(MapType.ARRAY, 4, 4, 4, flags=F_NO_PREALLOC)),
        BPFError,
        "Invalid argument",
    ),
    Row("Map.create", lambda w: Map.create(spec_with(inner=INNER)), ValueError, "inner is only"),
    Row(
        "Map.create",
        lambda w: Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2)),
        ValueError,
        "needs an inner map template",
    ),
    Row(
        "Map.create",
        lambda w: Map.create(
            MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=MapSpec(MapType.PROG_ARRAY, 4, 4, 2))
        ),
        BPFError,
        "PROG_ARRAY",
    ),
    Row(
        "Map.create",
        lambda w: Map.create(
            MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=MapSpec(MapType.HASH_OF_MAPS, 4, 4, 2))
        ),
        ValueError,
        "one level of nesting",
    ),
    Row(
        "Map.create",
        lambda w: Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=w.closed)),
        ValueError,
        "closed",
    ),
    Row("Map.from_fd", lambda w: Map.from_fd(-1), BPFError, "fd -1: Bad file descriptor"),
    Row("Map.from_fd", lambda w: Map.from_fd("3"), TypeError, "int"),  # type: ignore[arg-type]
    Row("Map.from_fd", lambda w: Map.from_fd(w.dead_fd), BPFError, "Bad file descriptor"),
    Row("Map.from_fd", lambda w: Map.from_fd(w.pipe), BPFError, "not a BPF map.*pipe"),
    Row("Map.from_fd", lambda w: Map.from_fd(w.prog.fd), BPFError, "not a BPF map.*prog"),
    Row("Map.from_id", lambda w: Map.from_id(0), BPFError, "id 0: .*no map has this id"),
    Row("Map.from_id", lambda w: Map.from_id(1 << 32), ValueError, "map id must be in"),
    Row("Map.from_id", lambda w: Map.from_id("1"), TypeError, "int"),  # type: ignore[arg-type]
    Row("Map.from_id", lambda w: Map.from_id((1 << 32) - 1), BPFError, "No such file"),
    Row(
        "Map.from_pinned",
        lambda w: Map.from_pinned(os.path.join(w.bpffs, "nothing")),
        BPFError,
        "No such file",
    ),
    Row("Map.from_pinned", lambda w: Map.from_pinned(w.tmp), BPFError, "not on a bpffs"),
    Row(
        "Map.from_pinned",
        lambda w: Map.from_pinned(os.path.join(w.bpffs, "prog")),
        BPFError,
        "not a map \\(it is anon_inode:bpf-prog\\)",
    ),
    # ------------------------------------------------------------ Map: elements
    Row("Map.lookup", lambda w: w.h.lookup(b"abc"), ValueError, "key must be 4 bytes, got 3"),
    Row("Map.lookup", lambda w: w.h.lookup(-1), ValueError, "key -1 out of range"),
    Row("Map.lookup", lambda w: w.closed.lookup(1), ValueError, "HASH 'closed' is closed"),
    Row("Map.get", lambda w: w.h.get(1.5), TypeError, "key must be bytes or int, got float"),
    Row("Map.get", lambda w: w.closed.get(1), ValueError, "is closed"),
    Row("Map.__getitem__", lambda w: w.h[3], KeyNotFoundError, "HASH 'h' key 3"),
    Row("Map.__getitem__", lambda w: w.h[None], TypeError, "NoneType"),
    Row("Map.__contains__", lambda w: b"\0" * 5 in w.h, ValueError, "4 bytes, got 5"),
    Row("Map.__contains__", lambda w: 1 in w.closed, ValueError, "is closed"),
    Row("Map.update", lambda w: w.h.update(1, b"\0" * 7), ValueError, "value must be 8 bytes"),
    Row("Map.update", lambda w: w.h.update(1, -5), ValueError, "value -5 out of range"),
    Row("Map.update", lambda w: w.h.update(1 << 32, 1), ValueError, "out of range"),
    Row("Map.update", lambda w: w.h.update(1, 1, -1), ValueError, "flags must be a u64"),
    Row("Map.update", lambda w: w.h.update(1, 11, NOEXIST), BPFError, "key 1: File exists"),
    Row("Map.update", lambda w: w.h.update(5, 11, EXIST), BPFError, "key 5: No such file"),
    Row("Map.update", lambda w: w.h.update(1, 11, F_LOCK), BPFError, "Invalid argument"),
    Row("Map.update", lambda w: w.a.update(4, 1), BPFError, "key 4: Argument list too long"),
    Row("Map.update", lambda w: w.frozen.update(0, 1), BPFError, "frozen"),
    Row("Map.update", lambda w: devmap_update(999), BPFError, "ifindex of an existing network"),
    Row("Map.update", lambda w: w.a.update(9, 1), BPFError, "index must be below max_entries 4"),
    Row("Map.update", lambda w: w.closed.update(1, 1), ValueError, "is closed"),
    Row("Map.__setitem__", lambda w: w.h.__setitem__("k", 1), TypeError, "str"),
    Row("Map.__setitem__", lambda w: w.h.__setitem__(1, True), TypeError, "value"),
    Row("Map.delete", lambda w: w.h.delete(9), KeyNotFoundError, "delete HASH 'h' key 9"),
    Row("Map.delete", lambda w: w.a.delete(0), BPFError, "Invalid argument"),
    Row("Map.delete", lambda w: w.closed.delete(1), ValueError, "is closed"),
    Row("Map.__delitem__", lambda w: w.h.__delitem__(b""), ValueError, "4 bytes, got 0"),
    Row("Map.lookup_and_delete", lambda w: w.a.lookup_and_delete(0), BPFError, "ARRAY 'a'"),
    Row("Map.lookup_and_delete", lambda w: w.h.lookup_and_delete(b"x"), ValueError, "4 bytes"),
    Row("KeylessMap.push", lambda w: w.h.push(1), TypeError, "QUEUE"),
    Row("KeylessMap.push", lambda w: w.q.push(3), BPFError, "Argument list too long"),
    Row("KeylessMap.push", lambda w: w.q.push(1 << 32), ValueError, "out of range"),
    Row("KeylessMap.pop", lambda w: w.h.pop(), TypeError, "QUEUE"),
    Row("KeylessMap.pop", lambda w: w.closed.pop(), (ValueError, TypeError), "closed|QUEUE"),  # type: ignore[arg-type]
    Row("KeylessMap.peek", lambda w: w.a.peek(), TypeError, "QUEUE"),
    Row("KeylessMap.contains_value", lambda w: w.h.contains_value(1), TypeError, "BLOOM_FILTER"),
    Row("Map.freeze", lambda w: w.frozen.freeze(), BPFError, "already frozen"),
    Row("Map.frozen", lambda w: w.closed.frozen, ValueError, "is closed"),
    Row("Map.freeze", lambda w: w.closed.freeze(), ValueError, "is closed"),
    Row("Map.info", lambda w: w.closed.info(), ValueError, "is closed"),
    Row("Map.btf", lambda w: w.closed.btf(), ValueError, "is closed"),
    Row("Map.pin", lambda w: w.h.pin(os.path.join(w.bpffs, "h")), BPFError, "exists already"),
    Row("Map.pin", lambda w: w.h.pin(os.path.join(w.tmp, "h")), BPFError, "bpffs"),
    Row("Map.pin", lambda w: w.closed.pin(os.path.join(w.bpffs, "c")), ValueError, "closed"),
    # ------------------------------------------------------------ Map: many elements
    Row("Map.items", lambda w: list(w.closed.items()), ValueError, "is closed"),
    Row("Map.items", lambda w: list(w.q.items()), TypeError, "QUEUE 'q' has no keys: use push"),
    Row("Map.keys", lambda w: list(w.closed.keys()), ValueError, "is closed"),
    Row("Map.values", lambda w: list(w.q.values()), TypeError, "QUEUE"),
    Row("Map.__iter__", lambda w: list(w.closed), ValueError, "is closed"),
    Row("Map.lookup_batch", lambda w: w.closed.lookup_batch(), ValueError, "is closed"),
    Row("Map.lookup_batch", lambda w: w.q.lookup_batch(), TypeError, "QUEUE"),
    Row(
        "Map.update_batch",
        lambda w: w.h.update_batch([(3, 30), (4,)]),
        TypeError,
        "item 1 must be a \\(key, value\\) pair",
    ),
    Row(
        "Map.update_batch",
        lambda w: w.h.update_batch({3: 30, 4: b"short"}),
        ValueError,
        "value must be 8 bytes",
    ),
    Row(
        "Map.update_batch",
        lambda w: w.a.update_batch({0: 1, 9: 1}),
        BPFError,
        "key 9: .*max_entries 4; nothing was applied",
    ),
    Row("Map.update_batch", lambda w: w.h.update_batch({3: 3}, flags=-1), ValueError, "flags"),
    Row("Map.delete_batch", lambda w: w.h.delete_batch([1, "x"]), TypeError, "str"),
    Row("Map.delete_batch", lambda w: w.closed.delete_batch([1]), ValueError, "closed"),
    Row(
        "Map.lookup_and_delete_batch",
        lambda w: w.closed.lookup_and_delete_batch(),
        ValueError,
        "is closed",
    ),
    Row("Map.columns", lambda w: w.h.columns(0), ValueError, "size must be None or an int"),
    Row("Map.columns", lambda w: w.h.columns(True), ValueError, "size must be"),  # type: ignore[arg-type]
    Row("Map.columns", lambda w: w.q.columns(), TypeError, "QUEUE 'q' has no keys"),
    Row("Map.columns", lambda w: list(w.closed.columns()), ValueError, "is closed"),
    Row(
        "Map.update_columns",
        lambda w: w.h.update_columns(bytes(6), bytes(16)),
        ValueError,
        "6 bytes is not a whole number of 4-byte keys",
    ),
    Row(
        "Map.update_columns",
        lambda w: w.h.update_columns(bytes(8), bytes(8)),
        ValueError,
        "2 keys but 1 values",
    ),
    Row("Map.update_columns", lambda w: w.h.update_columns("abcd", bytes(8)), TypeError, "buffer"),
    Row(
        "Map.update_columns",
        lambda w: w.h.update_columns(bytes(4), bytes(8), flags=-1),
        ValueError,
        "flags",
    ),
    Row(
        "Map.update_columns",
        lambda w: w.closed.update_columns(bytes(4), bytes(8)),
        ValueError,
        "closed",
    ),
    Row("Map.delete_columns", lambda w: w.h.delete_columns(bytes(3)), ValueError, "4-byte keys"),
    Row("Map.delete_columns", lambda w: w.q.delete_columns(bytes(4)), TypeError, "'q' has no keys"),
    Row("Map.update_columns", lambda w: w.q.update_columns(b"", bytes(8)), TypeError, "no keys"),
    Row("Map.delete_columns", lambda w: w.h.delete_columns([1]), TypeError, "buffer protocol"),
    Row(
        "Map.delete_columns",
        lambda w: w.h.delete_columns(b"\xf0\xff\xff\xff"),
        KeyNotFoundError,
        "key 4294967280.*index 0: 0 of 1 keys deleted|key 0xf0ffffff.*index 0: 0 of 1 keys",
    ),
    # ------------------------------------------------------------ outer maps
    Row("OuterMap.update", lambda w: w.aom.update(1, w.pipe), BPFError, "not a BPF map"),
    Row("OuterMap.update", lambda w: w.aom.update(1, w.dead_fd), BPFError, "Bad file"),
    Row("OuterMap.update", lambda w: w.aom.update(1, -3), BPFError, "fd -3: Bad file"),
    Row("OuterMap.update", lambda w: w.aom.update(1, "map"), TypeError, "Map or an int"),
    Row("OuterMap.update", lambda w: w.aom.update(1, w.closed), ValueError, "'closed' is closed"),
    Row(
        "OuterMap.update",
        lambda w: w.aom.update(1, w.h),
        BPFError,
        "slot 1: Invalid argument \\(inner type HASH != template ARRAY",
    ),
    Row("OuterMap.update", lambda w: w.aom.update(1, w.a), BPFError, "slot 1: .*max_entries 4 !="),
    Row("OuterMap.update", lambda w: w.aom.update(1, w.hom), BPFError, "one level of nesting"),
    Row("OuterMap.update", lambda w: w.aom.update(2, w.inner), BPFError, "slot 2: .*max_entries"),
    Row(
        "OuterMap.update",
        lambda w: w.aom.update(1, w.inner, NOEXIST),
        BPFError,
        "ARRAY_OF_MAPS takes only ANY",
    ),
    Row("OuterMap.update", lambda w: w.hom.update(7, w.inner, NOEXIST), BPFError, "File exists"),
    Row(
        "OuterMap.update_batch",
        lambda w: w.hom.update_batch({1: w.inner, 2: w.a}),
        BPFError,
        "'hom' key 2: .*inner max_entries 4 != template 2; both need F_INNER_MAP",
    ),
    Row(
        "OuterMap.update_batch",
        lambda w: w.aom.update_batch({1: w.inner, 5: w.inner}),
        BPFError,
        "slot 5: .*nothing was applied",
    ),
    Row("OuterMap.get_map", lambda w: w.aom.get_map(b"12345"), ValueError, "4 bytes"),
    Row("OuterMap.lookup", lambda w: w.aom.lookup(b"12345"), ValueError, "4 bytes"),
    Row("OuterMap.open_inner", lambda w: w.aom.open_inner(b"1"), ValueError, "4 bytes"),
    Row("OuterMap.open_inner", lambda w: w.aom.open_inner(3), KeyError, "slot 3: no such key"),
    Row("OuterMap.open_inner", lambda w: w.closed_outer.open_inner(0), ValueError, "closed"),
    Row("OuterMap.lookup", lambda w: w.closed_outer.lookup(0), ValueError, "closed"),
    Row("OuterMap.get_map", lambda w: w.closed_outer.get_map(0), ValueError, "closed"),
    Row("OuterMap.inner_lookup", lambda w: w.aom.inner_lookup(0, b"1"), ValueError, "4 bytes"),
    Row("OuterMap.inner_lookup", lambda w: w.aom.inner_lookup(-1, 0), ValueError, "out of range"),
    Row("OuterMap.keys", lambda w: list(w.closed_outer.keys()), ValueError, "closed"),
    Row("OuterMap.items", lambda w: list(w.closed_outer.items()), ValueError, "closed"),
    Row("Map.delete", lambda w: w.aom.delete(1), KeyNotFoundError, "slot 1"),
    # ------------------------------------------------------------ MapSpec
    Row("MapSpec.__init__", lambda w: MapSpec(999, 4, 4, 1), ValueError, "unknown map type 999"),  # type: ignore[arg-type]
    Row(
        "MapSpec.validate",
        lambda w: spec_with(value_size=1 << 32).validate(),
        ValueError,
        "value_size",
    ),
    Row("MapSpec.validate", lambda w: spec_with(flags=True).validate(), TypeError, "flags"),
    Row("MapSpec.validate", lambda w: spec_with(name="bad name!").validate(), ValueError, "name"),
    Row("MapSpec.validate", lambda w: spec_with(numa_node=-1).validate(), ValueError, "numa_node"),
    Row("MapSpec.validate", lambda w: spec_with(map_extra=-1).validate(), ValueError, "map_extra"),
    Row(
        "CollectionSpec.load",
        lambda w: w.cspec.load(replace={"nope": w.h}),
        ValueError,
        "replace: the object has no map 'nope'",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: w.cspec.load(replace={".data": w.h}),
        BPFError,
        "replace map '.data' with 'h': type HASH != spec ARRAY",
    ),
    # ------------------------------------------------------------ CollectionSpec
    Row(
        "CollectionSpec.from_file",
        lambda w: CollectionSpec.from_file(os.path.join(w.tmp, "missing.o")),
        FileNotFoundError,
        "missing.o",
    ),
    Row(
        "CollectionSpec.from_bytes",
        lambda w: CollectionSpec.from_bytes(b"\x7fELF" + bytes(60)),
        ParseError,
        "ELF",
    ),
    Row(
        "CollectionSpec.from_bytes", lambda w: CollectionSpec.from_bytes(b"abc"), ParseError, "ELF"
    ),
    Row("CollectionSpec.get_global", lambda w: w.cspec.get_global("nope"), KeyError, "nope"),
    Row(
        "CollectionSpec.set_global",
        lambda w: w.cspec.set_global("counter", b"\0"),
        ValueError,
        "4 bytes",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: CollectionSpec.from_file(compile_bpf("rejected")).load(),
        VerifierError,
        ".",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: CollectionSpec.from_file(compile_bpf("legacy_maps")).load(),
        ValueError,
        "no inner map definition",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: CollectionSpec.from_file(compile_bpf("core")).load(),
        VerifierError,
        "struct task_like.tgid",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: CollectionSpec.from_file(compile_bpf("core")).load(
            kernel_btf=compile_bpf("xdp_pass")
        ),
        VerifierError,
        "struct task_like.tgid, which the target BTF .*xdp_pass.* lacks",
    ),
    Row(
        "CollectionSpec.load",
        lambda w: CollectionSpec.from_file(compile_bpf("core")).load(
            kernel_btf=os.path.join(w.tmp, "missing.btf")
        ),
        FileNotFoundError,
        "missing.btf",
    ),
    # ------------------------------------------------------------ Collection
    Row("Collection.__init__", lambda w: Collection("x"), AttributeError, "."),  # type: ignore[arg-type]
    Row("Collection.get_global", lambda w: w.coll.get_global("nope"), KeyError, "nope"),
    Row(
        "Collection.set_global",
        lambda w: w.coll.set_global("factor", 1),
        BPFError,
        "EPERM|frozen|Operation not permitted",
    ),
    Row(
        "Collection.set_global",
        lambda w: w.coll.set_global("counter", b"12345"),
        ValueError,
        "4 bytes",
    ),
    Row("Collection.pin_all", lambda w: w.coll.pin_all(w.tmp), BPFError, "bpffs"),
    Row("Map.lookup", lambda w: w.coll.maps[".data"].lookup(b"1"), ValueError, "4 bytes"),
    # ------------------------------------------------------------ Program
    Row("Program.load", lambda w: Program.load("spec"), TypeError, "ProgramSpec"),  # type: ignore[arg-type]
    Row(
        "Program.load",
        lambda w: Program.load(program_spec(instructions=b"\0" * 7)),
        ValueError,
        "multiple of 8",
    ),
    Row(
        "Program.load",
        lambda w: Program.load(program_spec(), log_level=-1),
        ValueError,
        "log_level",
    ),
    Row("Program.load", lambda w: Program.load(program_spec(), log_size=1), ValueError, "log_size"),
    Row(
        "Program.load",
        lambda w: Program.load(program_spec(instructions=XDP_PASS[:8])),
        VerifierError,
        "exit|last insn|jump",
    ),
    Row("Program.from_fd", lambda w: Program.from_fd(w.h.fd), BPFError, "not a BPF program"),
    Row("Program.from_fd", lambda w: Program.from_fd(-2), BPFError, "fd -2: Bad file"),
    Row("Program.from_id", lambda w: Program.from_id(0), BPFError, "no program has this id"),
    Row("Program.pin", lambda w: w.prog.pin(os.path.join(w.tmp, "p")), BPFError, "bpffs"),
    Row(
        "Program.pin", lambda w: w.closed_prog.pin(os.path.join(w.bpffs, "p")), ValueError, "closed"
    ),
    Row("Program.pin", lambda w: w.prog.pin(""), ValueError, "empty"),
    Row("Program.from_id", lambda w: Program.from_id(2.0), TypeError, "float"),  # type: ignore[arg-type]
    Row(
        "Program.from_pinned",
        lambda w: Program.from_pinned(os.path.join(w.bpffs, "h")),
        BPFError,
        "not a program \\(it is anon_inode:bpf-map\\)",
    ),
    # Attaching (issue 14): bad arguments and a wrong program type, before any syscall.
    Row(
        "Program.attach_xdp",
        lambda w: w.prog.attach_xdp("no-such-if0"),
        ValueError,
        "no interface 'no-such-if0'",
    ),
    Row("Program.attach_xdp", lambda w: w.prog.attach_xdp(1.5), TypeError, "iface must be"),  # type: ignore[arg-type]
    Row(
        "Program.attach_xdp",
        lambda w: w.prog.attach_xdp("lo", mode="x"),
        ValueError,
        "mode must be",
    ),
    Row(
        "Program.attach_tcx",
        lambda w: w.prog.attach_tcx("lo", "up"),
        ValueError,
        "direction must be",
    ),
    Row(
        "Program.attach_tcx",
        lambda w: w.prog.attach_tcx("lo", "ingress"),
        TypeError,
        "takes SCHED_CLS",
    ),
    Row(
        "Program.attach_xdp",
        lambda w: w.prog.attach_xdp("lo", netlink="yes"),  # type: ignore[arg-type]
        TypeError,
        "netlink must be a bool",
    ),
    Row(
        "Program.attach_tc",
        lambda w: w.prog.attach_tc("lo", "up"),
        ValueError,
        "direction must be",
    ),
    Row(
        "Program.attach_tc",
        lambda w: w.prog.attach_tc("lo", "ingress", priority=70000),
        ValueError,
        "priority must be 1..65535",
    ),
    Row(
        "Program.attach_tc",
        lambda w: w.prog.attach_tc("lo", "ingress"),
        TypeError,
        "takes SCHED_CLS",
    ),
    Row(
        "Program.attach_cgroup",
        lambda w: w.prog.attach_cgroup(w.tmp, AttachType.CGROUP_INET_EGRESS),
        TypeError,
        "takes CGROUP_SKB",
    ),
    Row(
        "Program.attach_cgroup",
        lambda w: w.prog.attach_cgroup(w.tmp),
        TypeError,
        "takes CGROUP_SKB",
    ),
    Row(
        "Program.attach_tracepoint",
        lambda w: w.prog.attach_tracepoint("a/b", "c"),
        ValueError,
        "without '/'",
    ),
    Row(
        "Program.attach_tracepoint",
        lambda w: w.prog.attach_tracepoint("syscalls", "sys_enter_getpgid"),
        TypeError,
        "takes TRACEPOINT",
    ),
    Row(
        "Program.attach_raw_tracepoint",
        lambda w: w.prog.attach_raw_tracepoint(""),
        ValueError,
        "tracepoint name",
    ),
    Row(
        "Program.attach_raw_tracepoint",
        lambda w: w.closed_prog.attach_raw_tracepoint("sys_enter"),
        TypeError,
        "takes RAW_TRACEPOINT",
    ),
    Row(
        "Program.attach_kprobe",
        lambda w: w.prog.attach_kprobe("do_sys_openat2"),
        TypeError,
        "takes KPROBE",
    ),
    Row(
        "Program.attach_uprobe",
        lambda w: w.prog.attach_uprobe("libc.so.6", "getpid"),
        TypeError,
        "takes KPROBE",
    ),
    Row(
        "Program.attach_usdt",
        lambda w: w.prog.attach_usdt("/usr/bin/python3.11", "python", "function__entry"),
        TypeError,
        "takes KPROBE",
    ),
    Row("Program.attach_tracing", lambda w: w.prog.attach_tracing(), TypeError, "TRACING or LSM"),
    Row("Program.attach_iter", lambda w: w.prog.attach_iter(), TypeError, "takes TRACING"),
    Row("Link.read", lambda w: w.link.read(), TypeError, "only ITER links can be read"),
    Row(
        "Program.attach",
        lambda w: w.prog.attach(iface="lo"),
        ValueError,
        "no section name is known",
    ),
    # Links: openers, and what a link of a kind that can neither swap nor detach says.
    Row("Link.from_id", lambda w: Link.from_id(0), BPFError, "no link has this id"),
    Row("Link.from_id", lambda w: Link.from_id(2.0), TypeError, "float"),  # type: ignore[arg-type]
    Row(
        "Link.from_pinned",
        lambda w: Link.from_pinned(os.path.join(w.bpffs, "h")),
        BPFError,
        "not a link \\(it is anon_inode:bpf-map\\)",
    ),
    Row("Link.from_fd", lambda w: Link.from_fd(w.h.fd), BPFError, "not a BPF link"),
    Row("Link.from_fd", lambda w: Link.from_fd(-2), BPFError, "fd -2: Bad file"),
    Row("Link.pin", lambda w: w.link.pin(""), ValueError, "empty"),
    Row("Link.pin", lambda w: w.link.pin(os.path.join(w.tmp, "l")), BPFError, "bpffs"),
    Row("Link.info", lambda w: w.closed_link.info(), ValueError, "closed"),
    Row("Link.update", lambda w: w.link.update(3), TypeError, "must be a Program, got int"),  # type: ignore[arg-type]
    Row("Link.update", lambda w: w.closed_link.update(w.prog), ValueError, "closed"),
    Row("Link.update", lambda w: w.link.update(w.prog), BPFError, "cannot switch programs"),
    Row("Link.detach", lambda w: w.link.detach(), BPFError, "cannot detach"),
    Row("Link.detach", lambda w: w.closed_link.detach(), ValueError, "closed"),
    Row("Program.test_run", lambda w: w.closed_prog.test_run(bytes(64)), ValueError, "closed"),
    Row("Program.test_run", lambda w: w.prog.test_run(bytes(64), repeat=-1), ValueError, "repeat"),
    Row("Program.test_run", lambda w: w.prog.test_run("data"), TypeError, "bytes"),  # type: ignore[arg-type]
    Row("Program.test_run", lambda w: w.prog.test_run(bytes(2)), BPFError, "Invalid argument"),
    Row("Program.info", lambda w: w.closed_prog.info(), ValueError, "closed"),
    Row("Program.map_ids", lambda w: w.closed_prog.map_ids(), ValueError, "closed"),
    # ------------------------------------------------------------ CLI
    Row(
        "cli map show", cli("map", "show", "4294967295"), SystemExit, "status 1: bpfnest: .*No such"
    ),
    Row("cli map show", cli("map", "show", "abc"), SystemExit, "status 2"),
    Row("cli map dump", cli("map", "dump", "{w.tmp}/none"), SystemExit, "status 2: .*not '/"),
    Row("cli map dump", cli("map", "dump", "pinned", "{w.tmp}/x"), SystemExit, "status 1: .*bpffs"),
    Row("cli map tree", cli("map", "tree", "0"), SystemExit, "status [12]: bpfnest: "),
    Row("cli map list", cli("map", "list", "--bogus"), SystemExit, "status 2"),
    Row("cli prog show", cli("prog", "show", "4294967295"), SystemExit, "status 1: bpfnest: "),
    Row("cli load", cli("load", "{w.tmp}/missing.o"), SystemExit, "status 1: bpfnest: .*missing.o"),
    Row("cli demo", cli("demo", "--bogus"), SystemExit, "status 2"),
    Row("cli link show", cli("link", "show", "4294967295"), SystemExit, "status 1: bpfnest: "),
    Row("cli link show", cli("link", "show", "name", "x"), SystemExit, "status 2"),
    Row("cli link list", cli("link", "list", "--bogus"), SystemExit, "status 2"),
    Row(
        "cli load --attach",
        cli("load", "{w.tmp}/missing.o", "--iface", "lo"),
        SystemExit,
        "status 2: .*add --attach",
    ),
    Row("format_log2_hist", lambda w: bpfnest.format_log2_hist([1, -2]), ValueError, "slot 1"),
    Row(
        "format_linear_hist", lambda w: bpfnest.format_linear_hist([1], step=0), ValueError, "step"
    ),
    Row("cli map hist", cli("map", "hist", "4294967295"), SystemExit, "status 1: bpfnest: "),
    Row("cli map hist", cli("map", "hist", "name", "x", "--count", "1"), SystemExit, "status 2"),
    Row("cli top", cli("top", "--interval", "0"), SystemExit, "status 2"),
    # ------------------------------------------------------------ typed data (issue 17)
    Row(
        "Map.typed", lambda w: w.h.typed(), ValueError, "HASH 'h' has no BTF for its key and value"
    ),
    Row("Map.mmap", lambda w: w.h.mmap(), ValueError, "needs an ARRAY .* it is a HASH map"),
    Row("Map.mmap", lambda w: w.a.mmap(), ValueError, "created without F_MMAPABLE"),
    Row("cli gen", cli("gen", "{w.tmp}/missing.o"), SystemExit, "status 1: .*No such file"),
    Row("cli gen", cli("gen", "{w.tmp}"), SystemExit, "status 1: .*a directory"),
    # ------------------------------------------------------------ struct_ops (issue 19)
    Row("Map.attach_struct_ops", lambda w: w.h.attach_struct_ops(), TypeError, "not a STRUCT_OPS"),
    Row("Map.attach_struct_ops", lambda w: w.a.attach_struct_ops(), TypeError, "'a' is not a"),
]

# Public methods with no input to get wrong, or whose errors are rows of the
# method they delegate to.
NO_BAD_INPUT = {
    "Map.__init__": "wraps an FD it is given: internal (use the class methods)",
    "Map.close": "idempotent, takes nothing",
    "OuterMap.close": "idempotent, takes nothing",
    "OuterMap.clear_cache": "takes nothing",
    "Collection.close": "idempotent, takes nothing",
    "Program.close": "idempotent, takes nothing",
    "OuterMap.__init__": "internal, as Map.__init__",
    "PerCPUMap.__init__": "internal, as Map.__init__",
    "Program.__init__": "internal, as Map.__init__",
    "Link.__init__": "internal, as Map.__init__",
    "Link.close": "idempotent, takes nothing",
    "Collection.__enter__": "returns self",
    "Collection.__exit__": "calls close",
    "ProgramSpec.__init__": "a plain record; Program.load checks it (rows above)",
    "CollectionSpec.__init__": "a plain record; from_file/from_bytes build it",
}


def test_every_public_method_has_a_row() -> None:
    covered = {r.target for r in ROWS} | set(NO_BAD_INPUT)
    dunders = {"__init__", "__getitem__", "__setitem__", "__delitem__", "__contains__", "__iter__"}
    missing = []
    checked = (Map, OuterMap, KeylessMap, MapSpec, CollectionSpec, Collection, Program, Link)
    for cls in checked:
        # With the members of bpfnest base classes (Map's layers, KernelObject)
        # that no other checked class covers (OuterMap: its own; Map: the rest).
        elsewhere = {k for c in checked if c is not cls and issubclass(cls, c) for k in c.__mro__}
        members: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if klass.__module__.startswith("bpfnest") and klass not in elsewhere:
                members.update(vars(klass))
        for name, value in members.items():
            value = getattr(value, "__wrapped__", value)  # Map's element fast-path methods
            if name.startswith("_") and name not in dunders:
                continue
            if not (callable(value) or isinstance(value, (classmethod, staticmethod))):
                continue  # properties and dataclass field defaults
            if f"{cls.__name__}.{name}" not in covered:
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{r.target}" for i, r in enumerate(ROWS)])
def test_bad_input(world: World, row: Row) -> None:
    before, maps_before = snapshot(world), own_map_ids()
    with pytest.raises(row.error) as exc:
        row.call(world)
    assert re.search(row.words, str(exc.value)), f"{row}: got {exc.value!r}"
    # The one template, "<op> <object>: <reason>" (a NotSupportedError names its feature).
    if isinstance(exc.value, BPFError) and not isinstance(exc.value, NotSupportedError):
        assert str(exc.value).endswith(": " + exc.value.reason), f"{row}: {exc.value.reason!r}"
    assert not wait_maps_gone(own_map_ids() - maps_before), f"{row}: new maps left"
    world.aom.clear_cache()  # inner_lookup keeps inner maps open: not a leak, but an fd
    world.hom.clear_cache()
    assert snapshot(world) == before, f"{row}: the kernel's state changed"
