"""The lazily indexed BTF (bpfnest.btf.LazyBTF) and the kernel's BTF behind it.

LazyBTF must answer as the full parser does: the same types (kind, name,
size, members, references by id) for a sample of vmlinux's named types here,
for all of them in the slow test; the same errors, at the same offsets, for
every malformed record of test_btf's table; split BTF on a lazy base as
module BTF is. The kernel side: kernel_btf() is indexed once per process,
the BTF objects the kernel lists are the files in /sys/kernel/btf (only
vmlinux on a kernel without modules), and a module's BTF is read through
its object as vmlinux's reads back the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from test_btf import BAD_BTF, ORDERS, Builder, basic

from bpfnest import _kernel_btf
from bpfnest._kernel_btf import (
    VMLINUX,
    KernelType,
    find_kernel_type,
    kernel_btf,
    kernel_btf_objects,
    kernel_type_id,
)
from bpfnest._sys import ops
from bpfnest._sys.uapi import Cmd
from bpfnest.btf import (
    BTF,
    VOID,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Func,
    FuncProto,
    LazyBTF,
    Struct,
    Type,
    Typedef,
    Var,
)
from bpfnest.errors import ParseError

from support import skip_or_fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shape(t: Type) -> tuple[Any, ...]:
    """What a type says, with references as ids: equal for equal records."""
    out: list[Any] = [type(t).__name__, t.id, t.name]
    for attr in ("size", "encoding", "bits", "bit_offset", "nelems", "linkage", "kind"):
        if hasattr(t, attr):
            out.append((attr, getattr(t, attr)))
    for attr in ("type", "target", "index_type", "return_type"):
        if hasattr(t, attr):
            out.append((attr, getattr(t, attr).id))
    if isinstance(t, Composite):
        out.append([(m.name, m.type.id, m.bit_offset, m.bitfield_size) for m in t.members])
    if isinstance(t, FuncProto):
        out.append([(p.name, p.type.id) for p in t.params])
    if isinstance(t, Enum):
        out.append((t.signed, t.kind64, [(v.name, v.value) for v in t.values]))
    if isinstance(t, Datasec):
        out.append([(v.type.id, v.offset, v.size) for v in t.vars])
    if isinstance(t, DeclTag):
        out.append((t.component_idx, t.attribute))
    return tuple(out)


def outcome(op: Any, t: Type) -> object:
    """``op(t)``, or the text of the ParseError it raises (a function has no size)."""
    try:
        return op(t)
    except ParseError as err:
        return str(err)


@pytest.fixture(scope="module")
def vmlinux() -> bytes:
    if not os.path.exists(VMLINUX):
        skip_or_fail(f"no {VMLINUX}: the kernel is built without CONFIG_DEBUG_INFO_BTF")
    with open(VMLINUX, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def full(vmlinux: bytes) -> BTF:
    return BTF.parse(vmlinux, file=VMLINUX)


def test_a_sample_of_vmlinux_types_equals_the_full_parse(vmlinux: bytes, full: BTF) -> None:
    lazy = LazyBTF.parse(vmlinux, file=VMLINUX)
    assert len(lazy.types) == len(full.types) and lazy.start_id == 1
    sample = full.types[1::97]
    for t in sample:
        assert shape(lazy.type_by_id(t.id)) == shape(t)
        if t.name:  # the index by name finds what the full graph has
            assert [x.id for x in lazy.named(t.name)] == [x.id for x in full.named(t.name)]
    for t in sample:  # kind and size of every type of the sample, through resolve
        assert shape(lazy.resolve(lazy.types[t.id])) == shape(full.resolve(t))
        assert outcome(lazy.sizeof, lazy.types[t.id]) == outcome(full.sizeof, t)
    task = lazy.find("task_struct", Struct)
    want = full.find("task_struct", Struct)
    assert shape(task) == shape(want)
    pid = next(m for m in task.members if m.name == "pid")
    assert pid.bit_offset == next(m for m in want.members if m.name == "pid").bit_offset
    assert lazy.sizeof(pid.type) == 4 and lazy.resolve(pid.type).name == "int"
    # Decoding is once per id: the same objects every time.
    assert lazy.find("task_struct", Struct) is task and lazy.types[task.id] is task
    assert pid.type is next(m for m in task.members if m.name == "pid").type
    # Only what was asked for was decoded: a small fraction of the types.
    assert len(lazy._cache) < len(full.types) // 10


@pytest.mark.soak
def test_every_vmlinux_type_equals_the_full_parse(vmlinux: bytes, full: BTF) -> None:
    """All ~130,000 types, and the names of every 10th (a minute and ~200 MB:
    marked slow, run with -m soak)."""
    lazy = LazyBTF.parse(vmlinux, file=VMLINUX)
    for a, b in zip(full.types, lazy.types, strict=True):
        assert shape(a) == shape(b)
    names = sorted({t.name for t in full.types if t.name})
    for name in names[::10]:
        assert [t.id for t in lazy.named(name)] == [t.id for t in full.named(name)], name


@pytest.mark.parametrize("order", ORDERS)
def test_hand_built_types_equal_the_full_parse(order: str) -> None:
    b = basic(order)
    b.add("INT", "", 4, extra=[2 << 16 | 5])  # 5 bits at +2: a plain (kind_flag 0) bitfield
    b.add("STRUCT", "old", 8, vlen=2, extra=[b.s("x"), 1, 0, b.s("y"), 4, 32])
    proto = b.add("FUNC_PROTO", "", 1, vlen=2, extra=[b.s("fmt"), 2, 0, 0])
    fn = b.add("FUNC", "logf", proto, vlen=2)
    b.add("DECL_TAG", "noinline", fn, kflag=1, extra=[-1])
    b.add("DECL_TAG", "arg", 5, extra=[1])
    b.add("TYPE_TAG", "percpu", 1, kflag=1)
    b.add("ENUM", "e", 4, vlen=2, kflag=1, extra=[b.s("M1"), -1, b.s("P7"), 7])
    b.add("ENUM64", "u", 8, vlen=1, extra=[b.s("HIGH"), 0, 0x8000_0001])
    var = b.add("VAR", "v", 3, extra=[1])
    b.add("DATASEC", ".data", 8, vlen=2, extra=[var, 0, 8, fn, 8, 0])
    b.add("PTR", "", 3)
    b.add("ARRAY", "", 0, extra=[3, 1, 4])
    b.add("FWD", "later", kflag=1)
    b.add("FLOAT", "double", 8)
    raw = b.build()
    full, lazy = BTF.parse(raw), LazyBTF.parse(raw)
    assert len(lazy.types) == len(full.types) == 19
    assert [shape(t) for t in lazy.types] == [shape(t) for t in full.types]
    assert lazy.find("old", Struct).members[1].bitfield_size == 5
    assert lazy.find("logf", Func).type.variadic and lazy.types[0] is VOID
    assert lazy.byteorder == order and lazy.record_offset(lazy.types[4]) == b.offset(4)
    assert lazy.with_datasec_fixups({".data": 16}, {"v": 4}) == full.with_datasec_fixups(
        {".data": 16}, {"v": 4}
    )
    assert repr(lazy.types[3]) == repr(full.types[3])


def test_types_is_a_read_only_sequence() -> None:
    lazy = LazyBTF.parse(basic().build())
    types = lazy.types
    assert len(types) == 4 and types[-1] is types[3] and types[1:3] == [types[1], types[2]]
    assert next(reversed(types)) is types[3] and types[3] in types and types.index(types[2]) == 2
    assert types == list(types) and types != [] and "4 BTF types" in repr(types)
    with pytest.raises(IndexError):
        types[4]
    for mutate in (lambda: types.append(VOID), lambda: types.clear(), lambda: types.pop()):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    with pytest.raises(AttributeError, match="read-only"):
        lazy.find("myint", Typedef).type = VOID
    with pytest.raises(ParseError, match=r"type id 4 out of range \(0..3\)"):
        lazy.type_by_id(4)
    with pytest.raises(ParseError, match="out of range"):
        lazy.type_by_id(-1)
    assert lazy.named("") == [] and lazy.named("nope") == [] and lazy.ids_named("s") == (3,)
    assert lazy.kind_of(3).name == "STRUCT" and lazy.kind_of(2).name == "TYPEDEF"


def test_split_btf_on_a_lazy_base() -> None:
    """As a module's BTF on vmlinux's: ids and strings continue the base's."""
    base_b = basic()
    base = LazyBTF.parse(base_b.build())
    b = Builder(first_id=4, str_base=len(base.strings))
    ptr = b.add("PTR", "", 3)
    b.add("STRUCT", "mod", 8, vlen=1, extra=[b.s("p"), ptr, 0])
    b.add("TYPEDEF", "int_alias", 1)  # name in the split strings, type in base
    b.add("VAR", base_b.strtab.index(b"myint"), 2, extra=[0])  # name from the base strings
    b.add("TYPEDEF", "s", 3)  # a name the base has too
    split = LazyBTF.parse(b.build(), base=base)
    full = BTF.parse(b.build(), base=BTF.parse(base_b.build()))
    assert [shape(t) for t in split.types] == [shape(t) for t in full.types]
    assert split.start_id == 4 and len(split.types) == 9
    assert split.find("int_alias", Typedef).type is base.types[1]
    assert [type(t).__name__ for t in split.named("s")] == ["Struct", "Typedef"]
    assert split.named("myint")[0] is base.types[2] and split.named("myint")[1].id == 7
    assert split.ids_named("myint") == (7,) and isinstance(split.types[7], Var)
    assert split.kind_of(3).name == "STRUCT" and split.kind_of(5).name == "STRUCT"
    assert split.sizeof(split.find("mod", Struct)) == 8


def _decode_all(btf: LazyBTF) -> None:
    for t in btf.types:
        shape(t)


@pytest.mark.parametrize("case", list(BAD_BTF))
def test_bad_btf_is_the_same_error(case: str) -> None:
    """Each malformed input of test_btf: the full parser's message and offset,
    at parse (header, bounds, kinds, lengths) or when the record is decoded."""
    make, message = BAD_BTF[case]
    raw, offset = make()
    with pytest.raises(ParseError, match=message) as ei:
        _decode_all(LazyBTF.parse(raw, file="bad.o"))
    assert (ei.value.file, ei.value.section, ei.value.offset) == ("bad.o", ".BTF", offset), str(
        ei.value
    )


def test_a_type_section_of_part_of_a_record() -> None:
    raw = bytearray(basic().build())
    raw[12:16] = (int.from_bytes(raw[12:16], "little") - 2).to_bytes(4, "little")
    with pytest.raises(ParseError, match="not whole records"):
        LazyBTF.parse(bytes(raw))


# ------------------------------------------------------------ the kernel's


@pytest.mark.usefixtures("kernel")
def test_kernel_btf_is_indexed_once_and_finds_targets(full: BTF) -> None:
    btf = kernel_btf()
    assert isinstance(btf, LazyBTF) and isinstance(btf, BTF) and kernel_btf() is btf
    for name, kind in (("bpf_iter_task", "FUNC"), ("btf_trace_sys_enter", "TYPEDEF")):
        want = next(t.id for t in full.named(name) if type(t).__name__.upper() == kind)
        assert kernel_type_id(name, kind) == want
    var = kernel_type_id("bpf_prog_active", "VAR")
    assert var is not None and isinstance(full.types[var], Var)
    assert find_kernel_type("bpf_prog_active", "VAR") == KernelType(var)
    assert kernel_type_id("no_such_function_here", "FUNC") is None
    with pytest.raises(ValueError, match="kind must be one of"):
        kernel_type_id("x", "STRUCT")


@pytest.mark.usefixtures("kernel")
def test_kernel_btf_objects_are_the_files_in_sys_kernel_btf(vmlinux: bytes) -> None:
    """Listed through BTF_GET_NEXT_ID / GET_FD_BY_ID / OBJ_GET_INFO_BY_FD;
    here (CONFIG_MODULES unset) only vmlinux. Its data read through the
    object, as a module's is, is the file's."""
    objs = list(kernel_btf_objects())
    assert sorted(o.name for o in objs) == sorted(os.listdir("/sys/kernel/btf"))
    (vm,) = [o for o in objs if o.name == "vmlinux"]
    with ops.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, vm.id) as fd, fd.borrow() as raw:
        assert ops.btf_data(raw) == vmlinux
    modules = [o for o in objs if o.name != "vmlinux"]
    for mod in modules:  # where modules exist: split BTF on vmlinux's
        btf = _kernel_btf.module_btf(mod)
        assert btf.base is kernel_btf() and btf.start_id == len(kernel_btf().types)
    # A name no BTF has: vmlinux, then every module, is searched.
    assert find_kernel_type("no_such_var_anywhere", "VAR") is None


BENCH_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from bpfnest._kernel_btf import kernel_btf
from bpfnest.btf import Struct
start = time.perf_counter()
task = kernel_btf().find("task_struct", Struct)
pid = next(m for m in task.members if m.name == "pid")
print(json.dumps({"offset": pid.bit_offset // 8, "decoded": len(kernel_btf()._cache)}))
"""


@pytest.mark.usefixtures("kernel")
def test_a_fresh_process_decodes_only_what_it_asks_for(full: BTF) -> None:
    res = subprocess.run(
        [sys.executable, "-c", BENCH_CHILD, ROOT], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    task = full.find("task_struct", Struct)
    assert got["offset"] == next(m for m in task.members if m.name == "pid").bit_offset // 8
    assert got["decoded"] < 20  # task_struct, the name's other types, VOID: not its graph
