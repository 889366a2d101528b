"""The ctypes layouts of ``bpfnest._sys.uapi`` checked against C.

A wrong offset in an attr structure corrupts memory without any error, so every
field of every class in ``uapi.ATTR_CLASSES`` is checked, including the members
of anonymous unions:

* against the system ``<linux/bpf.h>`` (Debian's is 6.1, older than the
  6.18 uapi that ``uapi.py`` mirrors). Fields that header lacks are listed in
  ``NOT_IN_SYSTEM_HEADER``. A class's size is compared only when the header
  has all of its fields.
* against the running kernel: ``vmlinux.h`` generated from its BTF by bpftool.
  Every field and every size is checked there. The BTF itself is also compared
  member by member, which catches a field that is missing in ``uapi.py`` even
  when it would sit in what is now tail padding.

The C checks are ``_Static_assert`` lines such as
``_Static_assert(__builtin_offsetof(union bpf_attr, batch.keys) == 16,
"MapBatchAttr.keys: offset 16")``. They are compiled with ``-fsyntax-only``, so a
mismatch fails with the field named in the compiler's output.

A missing tool (clang/gcc, bpftool) or a missing ``/sys/kernel/btf/vmlinux``
skips with the reason. Under ``CI=true`` or ``BPFNEST_REQUIRE_KERNEL=1`` those
skips are failures.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bpfnest._sys import uapi, uapi_perf, uapi_query

from support import skip_or_fail

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")

# Fields (and commands) of the 6.18 uapi that the system <linux/bpf.h> (Debian
# 12, 6.1) does not have. They are checked against the running kernel only.
NOT_IN_SYSTEM_HEADER = frozenset(
    {
        "MapCreateAttr.value_type_btf_obj_fd",
        "MapCreateAttr.map_token_fd",
        "MapCreateAttr.excl_prog_hash",
        "MapCreateAttr.excl_prog_hash_size",
        "ProgLoadAttr.log_true_size",
        "ProgLoadAttr.prog_token_fd",
        "ProgLoadAttr.fd_array_cnt",
        "ProgLoadAttr.signature",
        "ProgLoadAttr.signature_size",
        "ProgLoadAttr.keyring_id",
        "ObjAttr.path_fd",
        "GetIdAttr.fd_by_id_token_fd",
        "BtfLoadAttr.btf_log_true_size",
        "BtfLoadAttr.btf_flags",
        "BtfLoadAttr.btf_token_fd",
        "BpfMapInfo.btf_vmlinux_id",  # an unnamed `__u32 :32` pad in 6.1
        "BpfMapInfo.hash",
        "BpfMapInfo.hash_size",
        "Cmd.TOKEN_CREATE",
        "Cmd.PROG_STREAM_READ_BY_FD",
    }
)


# Link structs of the 6.18 uapi that 6.1 lacks whole (every field skipped there),
# and single link fields that came after 6.1.
_CLASSES_AFTER_6_1 = (
    "LinkCreateNetfilter",
    "LinkCreateTcx",
    "LinkCreateUprobeMulti",
    "LinkCreateNetkit",
    "LinkCreateCgroup",
    "LinkInfoStructOps",
    "LinkInfoNetfilter",
    "LinkInfoKprobeMulti",
    "LinkInfoUprobeMulti",
    "LinkInfoPerfEvent",
    "LinkInfoPerfUprobe",
    "LinkInfoPerfKprobe",
    "LinkInfoPerfTracepoint",
    "LinkInfoPerfEventEvent",
    "LinkInfoTcx",
    "LinkInfoNetkit",
    "LinkInfoSockmap",
)
_LINK_FIELDS_AFTER_6_1 = (
    "ProgAttachAttr.target_ifindex",
    "ProgAttachAttr.relative_fd",
    "ProgAttachAttr.relative_id",
    "ProgAttachAttr.expected_revision",
    "RawTracepointAttr.cookie",
    "ProgQueryAttr.target_ifindex",  # 6.6: the query of tcx/netkit hooks
    "ProgQueryAttr.count",
    "ProgQueryAttr.link_ids",
    "ProgQueryAttr.link_attach_flags",
    "ProgQueryAttr.revision",
    "LinkCreateAttr.map_fd",
    "LinkCreateAttr.netfilter",
    "LinkCreateAttr.tcx",
    "LinkCreateAttr.uprobe_multi",
    "LinkCreateAttr.netkit",
    "LinkCreateAttr.cgroup",
    "LinkUpdateAttr.new_map_fd",
    "LinkUpdateAttr.old_map_fd",
    "BpfLinkInfo.struct_ops",
    "BpfLinkInfo.netfilter",
    "BpfLinkInfo.kprobe_multi",
    "BpfLinkInfo.uprobe_multi",
    "BpfLinkInfo.perf_event",
    "BpfLinkInfo.tcx",
    "BpfLinkInfo.netkit",
    "BpfLinkInfo.sockmap",
    "LinkInfoRawTracepoint.cookie",
    "LinkInfoTracing.cookie",
    "PerfEventAttr.aux_action",  # 6.13: was `__u32 __reserved_3`
    "PerfEventAttr.aux_start_paused",
    "PerfEventAttr.aux_pause",
    "PerfEventAttr.aux_resume",
    "PerfEventAttr.__reserved_3",
    "PerfEventAttr.config3",  # 6.3
    "BpfLinkInfo.raw_tracepoint",  # 6.1's is smaller (no cookie)
    "BpfLinkInfo.tracing",
)


# --- the Python side --------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One leaf field of a uapi class, with anonymous unions flattened."""

    cls: str
    name: str
    offset: int  # bytes; for a bitfield, of its storage unit
    size: int  # bytes; for a bitfield, of its storage unit
    signed: bool | None  # None for arrays
    bits: tuple[int, int] | None  # (bit offset in the unit, width) of a bitfield

    @property
    def label(self) -> str:
        return f"{self.cls}.{self.name}"

    @property
    def bit_offset(self) -> int:
        return self.offset * 8 + (self.bits[0] if self.bits else 0)


def _bit_position(descriptor: Any) -> int:
    """Bit offset of a ctypes bitfield inside its storage unit."""
    if hasattr(descriptor, "bit_offset"):  # Python >= 3.14
        return int(descriptor.bit_offset)
    return int(descriptor.size) & 0xFFFF  # older: size is (width << 16) | offset


def fields(
    cls: type[ctypes.Structure | ctypes.Union], base: int = 0, owner: str = ""
) -> Iterator[Field]:
    """The leaf fields of ``cls`` in declaration order, anonymous members flattened."""
    owner = owner or cls.__name__
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for spec in cls._fields_:
        name, ctype = spec[0], spec[1]
        descriptor = getattr(cls, name)
        offset = base + descriptor.offset
        if name in anonymous:
            assert issubclass(ctype, (ctypes.Structure, ctypes.Union))
            yield from fields(ctype, offset, owner)
            continue
        signed: bool | None = None  # arrays
        if issubclass(ctype, ctypes._SimpleCData):
            signed = ctype(-1).value < 0
        bits = (_bit_position(descriptor), spec[2]) if len(spec) == 3 else None
        yield Field(owner, name, offset, ctypes.sizeof(ctype), signed, bits)


def split_path(path: str) -> tuple[str, str]:
    """``"union bpf_attr.batch"`` -> ``("union bpf_attr", "batch")``."""
    ctype, _, member = path.partition(".")
    return ctype, member


def uapi_constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(uapi).items()
        if name.startswith("BPF_") and isinstance(value, int)
    }


NOT_IN_SYSTEM_HEADER = NOT_IN_SYSTEM_HEADER | frozenset(
    _LINK_FIELDS_AFTER_6_1
    + tuple(f.label for name in _CLASSES_AFTER_6_1 for f in fields(uapi.ATTR_CLASSES[name][0]))
)

ALL_LABELS = frozenset(
    [f.label for cls, _ in uapi.ATTR_CLASSES.values() for f in fields(cls)]
    + [f"Cmd.{name}" for name in uapi.Cmd.__members__]
)


# --- the C side ---------------------------------------------------------------


def static_asserts(*, skip: frozenset[str] = frozenset(), max_cmd: bool = False) -> str:
    """C source of one ``_Static_assert`` per fact, each message naming its field.

    Fields and commands in ``skip`` are left out, and so is the size of any class
    with a skipped field. ``max_cmd`` also asserts ``__MAX_BPF_CMD``, so that a
    command the kernel has and ``Cmd`` lacks fails.
    """
    lines: list[str] = []

    def check(expr: str, message: str) -> None:
        lines.append(f'_Static_assert({expr}, "{message}");')

    for cls_name, (cls, path) in uapi.ATTR_CLASSES.items():
        ctype, member = split_path(path)
        cls_fields = list(fields(cls))
        prefix = f"{member}." if member else ""
        # Offsets in a class are from the start of its own struct; a nested member
        # (link_create.tcx) starts somewhere inside the C type.
        base = f" - __builtin_offsetof({ctype}, {member})" if member else ""
        previous: Field | None = None
        for f in cls_fields:
            if f.label in skip:
                previous = None
                continue
            designator = prefix + f.name
            lvalue = f"((({ctype} *)0)->{designator})"
            if f.bits is not None:
                # offsetof/sizeof/typeof reject bitfields: check that the member
                # exists, and that its storage unit starts where the previous
                # field ends (the next field's offset is checked as usual).
                lines.append(
                    f"unsigned int bitfield_{len(lines)}({ctype} *p) {{ return p->{designator}; }}"
                )
                # (after another bitfield there is no offset to take, and a union
                # member overlaps: the BTF test below checks each bit offset then)
                if (
                    previous is not None
                    and previous.bits is None
                    and f.offset >= previous.offset + previous.size
                ):
                    end = (
                        f"__builtin_offsetof({ctype}, {prefix}{previous.name}){base}"
                        f" + sizeof((({ctype} *)0)->{prefix}{previous.name})"
                    )
                    check(f"{end} == {f.offset}", f"{f.label}: bitfield unit at {f.offset}")
            else:
                check(
                    f"__builtin_offsetof({ctype}, {designator}){base} == {f.offset}",
                    f"{f.label}: offset {f.offset}",
                )
                check(f"sizeof{lvalue} == {f.size}", f"{f.label}: size {f.size}")
                if f.signed is not None:
                    sign = "signed" if f.signed else "unsigned"
                    check(
                        f"(((__typeof__{lvalue})-1) < 0) == {int(f.signed)}",
                        f"{f.label}: {sign}",
                    )
            previous = f
        if any(f.label in skip for f in cls_fields):
            continue
        size, align = ctypes.sizeof(cls), ctypes.alignment(cls)
        if member or not ctype.startswith("union "):
            whole = f"((({ctype} *)0)->{member})" if member else f"({ctype})"
            check(f"sizeof{whole} == {size}", f"{cls_name}: size {size}")
            check(f"__alignof__{whole} == {align}", f"{cls_name}: alignment {align}")
        else:
            # An anonymous struct of the union has no name to take sizeof of:
            # its size is the end of its last field, rounded up to its alignment.
            last = cls_fields[-1]
            end = f"__builtin_offsetof({ctype}, {last.name}) + sizeof((({ctype} *)0)->{last.name})"
            check(
                f"({end} + {align - 1}) / {align} * {align} == {size}",
                f"{cls_name}: size {size} (end of {last.name} rounded to {align})",
            )

    for name, value in uapi.Cmd.__members__.items():
        if f"Cmd.{name}" not in skip:
            check(f"BPF_{name} == {int(value)}", f"Cmd.{name} == {int(value)}")
    if max_cmd:
        count = max(uapi.Cmd) + 1
        check(f"__MAX_BPF_CMD == {count}", f"Cmd: the kernel has commands beyond {count - 1}")
    return "\n".join(lines) + "\n"


def c_compiler() -> str:
    for name in ("clang", "gcc"):
        path = shutil.which(name)
        if path:
            return path
    skip_or_fail("neither clang nor gcc is installed")


def compile_checks(source: str, workdir: Path, what: str, *flags: str) -> None:
    """Compile ``source`` (syntax only); fail with the compiler's errors."""
    cc = c_compiler()
    path = workdir / "uapi_check.c"
    path.write_text(source)
    proc = subprocess.run(
        [cc, "-std=gnu11", "-fsyntax-only", *flags, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        output = proc.stderr or proc.stdout
        errors = [
            line.replace(f"{path}:", f"{path.name}:")
            for line in output.splitlines()
            if "error:" in line
        ]
        pytest.fail(
            f"uapi.py disagrees with {what} ({len(errors)} errors, {Path(cc).name}):\n"
            + "\n".join(errors or output.splitlines()),
            pytrace=False,
        )


@dataclass(frozen=True)
class KernelUapi:
    """What the running kernel says its uapi is."""

    release: str
    header: Path  # vmlinux.h of the running kernel
    btf: dict[int, dict[str, Any]]  # bpftool's JSON BTF dump, by type id


@pytest.fixture(scope="session")
def kernel_uapi(tmp_path_factory: pytest.TempPathFactory) -> KernelUapi:
    """vmlinux.h and the BTF of the running kernel, dumped by bpftool."""
    if not VMLINUX_BTF.exists():
        skip_or_fail(f"{VMLINUX_BTF} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)")
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    bpftool = shutil.which("bpftool", path=search)
    if bpftool is None:
        skip_or_fail("bpftool is not installed")
    workdir = tmp_path_factory.mktemp("uapi")
    header = workdir / "vmlinux.h"
    dumps = []
    for args in (
        ["btf", "dump", "file", str(VMLINUX_BTF), "format", "c"],
        ["-j", "btf", "dump", "file", str(VMLINUX_BTF)],
    ):
        proc = subprocess.run([bpftool, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            skip_or_fail(f"bpftool {' '.join(args)} failed: {proc.stderr.strip()}")
        dumps.append(proc.stdout)
    header.write_text(dumps[0])
    btf = {t["id"]: t for t in json.loads(dumps[1])["types"]}
    return KernelUapi(platform.release(), header, btf)


# --- tests: pure Python -------------------------------------------------------


def test_attr_classes_cover_every_structure() -> None:
    defined = {
        obj
        for module in (uapi, uapi_query, uapi_perf)  # the query attrs and perf_event_attr: apart
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, ctypes.Structure)
        and obj.__module__ == module.__name__
    }
    listed = {cls for cls, _ in uapi.ATTR_CLASSES.values()}
    # An anonymous struct (link_create's iter_info) has no C path of its own: its
    # fields are checked, flattened, as fields of the class that holds it.
    anonymous = {
        spec[1]
        for cls in defined
        for sub in [cls, *(spec[1] for spec in cls._fields_ if isinstance(spec[1], type))]
        for spec in getattr(sub, "_fields_", ())
        if spec[0] in getattr(sub, "_anonymous_", ())
    }
    assert defined - listed - anonymous == set(), "Structure classes missing from ATTR_CLASSES"
    assert listed - defined == set()
    assert {name: cls.__name__ for name, (cls, _) in uapi.ATTR_CLASSES.items()} == {
        name: name for name in uapi.ATTR_CLASSES
    }


def test_every_union_is_an_anonymous_member_of_a_checked_class() -> None:
    unions = {
        obj
        for obj in vars(uapi).values()
        if isinstance(obj, type)
        and issubclass(obj, ctypes.Union)
        and obj.__module__ == uapi.__name__
    }
    anonymous = {
        spec[1]
        for cls, _ in uapi.ATTR_CLASSES.values()
        for spec in cls._fields_
        if spec[0] in getattr(cls, "_anonymous_", ())
    }
    assert unions - anonymous == set()


# The kernel's own structs of 4 bytes (only u32 members); the others are 8-aligned.
FOUR_BYTE_STRUCTS = frozenset(
    {
        "EnableStatsAttr",
        "LinkDetachAttr",
        "LinkInfoIterMap",
        "LinkInfoXdp",
        "LinkInfoStructOps",
    }
)


@pytest.mark.parametrize("name", list(uapi.ATTR_CLASSES))
def test_size_is_a_multiple_of_8(name: str) -> None:
    cls, _ = uapi.ATTR_CLASSES[name]
    step = 4 if name in FOUR_BYTE_STRUCTS else 8
    assert ctypes.sizeof(cls) % step == 0, f"{name}: sizeof {ctypes.sizeof(cls)}"


@pytest.mark.parametrize(
    ("cls", "setter", "getter"),
    [
        (uapi.MapElemAttr, "next_key", "value"),
        (uapi.GetIdAttr, "map_id", "start_id"),
        (uapi.ProgLoadAttr, "attach_btf_obj_fd", "attach_prog_fd"),
    ],
)
def test_anonymous_union_members_alias(
    cls: type[ctypes.Structure], setter: str, getter: str
) -> None:
    attr = cls(**{setter: 0x1234})
    assert getattr(attr, getter) == 0x1234


def test_skip_list_names_real_fields() -> None:
    unknown = NOT_IN_SYSTEM_HEADER - ALL_LABELS
    assert not unknown, f"NOT_IN_SYSTEM_HEADER names no uapi field: {sorted(unknown)}"


# --- tests: against C ---------------------------------------------------------


def test_layout_matches_system_header(tmp_path: Path) -> None:
    source = "#include <linux/bpf.h>\n#include <linux/perf_event.h>\n"
    source += static_asserts(skip=NOT_IN_SYSTEM_HEADER)
    source += "".join(
        f'_Static_assert({name} == {value}, "{name} == {value}");\n'
        for name, value in uapi_constants().items()
    )
    compile_checks(source, tmp_path, "the system <linux/bpf.h>")


def test_layout_matches_running_kernel(kernel_uapi: KernelUapi, tmp_path: Path) -> None:
    text = kernel_uapi.header.read_text()
    # Only enumerators reach BTF; the #define constants are checked above.
    enumerators = {
        name: value
        for name, value in uapi_constants().items()
        if re.search(rf"^\s*{name} = ", text, re.MULTILINE)
    }
    source = f'#include "{kernel_uapi.header}"\n' + static_asserts(max_cmd=True)
    source += "".join(
        f'_Static_assert({name} == {value}, "{name} == {value}");\n'
        for name, value in enumerators.items()
    )
    compile_checks(
        source,
        tmp_path,
        f"the running kernel {kernel_uapi.release} (vmlinux.h)",
        "-DBPF_NO_PRESERVE_ACCESS_INDEX",
    )


def _resolve(btf: dict[int, dict[str, Any]], type_id: int) -> dict[str, Any]:
    kind = btf[type_id]
    while kind["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
        kind = btf[kind["type_id"]]
    return kind


def _btf_members(
    btf: dict[int, dict[str, Any]], record: dict[str, Any], base: int = 0
) -> Iterator[tuple[str, int, int | None]]:
    """(name, bit offset, bitfield width) of each leaf member, anonymous ones flattened."""
    for m in record["members"]:
        target = _resolve(btf, m["type_id"])
        offset = base + m["bits_offset"]
        if m["name"] == "(anon)" and target["kind"] in ("STRUCT", "UNION"):
            yield from _btf_members(btf, target, offset)
        else:
            yield m["name"], offset, m.get("bitfield_size")


def _btf_member(
    btf: dict[int, dict[str, Any]], record: dict[str, Any], name: str
) -> dict[str, Any] | None:
    """The type of member ``name`` of ``record``, looking through anonymous members."""
    for m in record["members"]:
        target = _resolve(btf, m["type_id"])
        if m["name"] == name:
            return target
        if m["name"] == "(anon)" and target["kind"] in ("STRUCT", "UNION"):
            found = _btf_member(btf, target, name)
            if found is not None:
                return found
    return None


def _btf_record(btf: dict[int, dict[str, Any]], path: str, first: str) -> dict[str, Any] | None:
    """The BTF struct for an ATTR_CLASSES path (``member.member`` walks nested named
    members, as ``link_create.tcx``); an anonymous one by its first field."""
    ctype, member = split_path(path)
    kind, name = ctype.split()
    top = next(
        (t for t in btf.values() if t["kind"] == kind.upper() and t.get("name") == name), None
    )
    if top is None or (not member and kind == "struct"):
        return top
    if member:
        record: dict[str, Any] | None = top
        for part in member.split("."):
            record = _btf_member(btf, record, part) if record is not None else None
        return record
    for m in top["members"]:
        target = _resolve(btf, m["type_id"])
        if m["name"] == "(anon)" and target["kind"] == "STRUCT":
            leaves = list(_btf_members(btf, target))
            if leaves and leaves[0][0] == first:
                return target
    return None


@pytest.mark.parametrize("name", list(uapi.ATTR_CLASSES))
def test_fields_match_running_kernel_btf(kernel_uapi: KernelUapi, name: str) -> None:
    """Every member of the kernel's struct is here, in order, at the same bit offset."""
    cls, path = uapi.ATTR_CLASSES[name]
    ours = list(fields(cls))
    record = _btf_record(kernel_uapi.btf, path, ours[0].name)
    where = f"the running kernel {kernel_uapi.release} (BTF)"
    assert record is not None, f"{name}: no struct for {path!r} in {where}"
    theirs = list(_btf_members(kernel_uapi.btf, record))
    mine = [(f.name, f.bit_offset, f.bits[1] if f.bits else None) for f in ours]
    missing = [m for m in theirs if m not in mine]
    extra = [m for m in mine if m not in theirs]
    assert (missing, extra) == ([], []), (
        f"{name} disagrees with {where}: (name, bit offset, bitfield width) "
        f"in the kernel only: {missing}; in uapi.py only: {extra}"
    )
    assert mine == theirs, f"{name}: field order differs from {where}"
    assert ctypes.sizeof(cls) == record["size"], f"{name}: size differs from {where}"
