"""Constants against the running kernel's own uapi (its BTF, dumped by bpftool)."""

from __future__ import annotations

import enum
import re
import shutil
import subprocess

import pytest

import bpfnest
from bpfnest import AttachType, MapType, ProgType

from support import skip_or_fail


@pytest.fixture(scope="module")
def vmlinux_h() -> str:
    if shutil.which("bpftool") is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    try:
        return subprocess.run(
            ["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        skip_or_fail(f"cannot dump the kernel's BTF: {err}")
        raise


def kernel_enum(text: str, name: str | None, prefix: str) -> dict[str, int]:
    body = text
    if name is not None:
        m = re.search(rf"enum {name} \{{(.*?)\n\}};", text, re.S)
        assert m, f"enum {name} not in the kernel's BTF"
        body = m.group(1)
    return {
        k[len(prefix) :]: int(v)
        for k, v in re.findall(rf"\b({prefix}[A-Z0-9_]+) = (\d+),", body)
        if not k.startswith("__") and "DEPRECATED" not in k
    }


@pytest.mark.parametrize(
    ("cls", "enum_name", "prefix"),
    [
        (MapType, "bpf_map_type", "BPF_MAP_TYPE_"),
        (ProgType, "bpf_prog_type", "BPF_PROG_TYPE_"),
        (AttachType, "bpf_attach_type", "BPF_"),
    ],
)
def test_enum_matches_kernel(
    vmlinux_h: str, cls: type[enum.IntEnum], enum_name: str, prefix: str
) -> None:
    kernel = kernel_enum(vmlinux_h, enum_name, prefix)
    ours = {m.name: m.value for m in cls}
    assert ours == kernel


def test_map_flags_match_kernel(vmlinux_h: str) -> None:
    flags = kernel_enum(vmlinux_h, None, "BPF_F_")
    for name in (
        "NO_PREALLOC",
        "NO_COMMON_LRU",
        "NUMA_NODE",
        "RDONLY",
        "WRONLY",
        "STACK_BUILD_ID",
        "ZERO_SEED",
        "RDONLY_PROG",
        "WRONLY_PROG",
        "CLONE",
        "MMAPABLE",
        "PRESERVE_ELEMS",
        "INNER_MAP",
        "LINK",
        "PATH_FD",
        "VTYPE_BTF_OBJ_FD",
        "TOKEN_FD",
        "SEGV_ON_FAULT",
        "NO_USER_CONV",
        "LOCK",
    ):
        assert getattr(bpfnest, "F_" + name) == flags[name], name
    updates = kernel_enum(vmlinux_h, None, "BPF_")
    assert (updates["ANY"], updates["NOEXIST"], updates["EXIST"]) == (
        bpfnest.ANY,
        bpfnest.NOEXIST,
        bpfnest.EXIST,
    )


def test_predicates() -> None:
    assert [t for t in MapType if t.is_outer] == [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]
    assert MapType.PERCPU_ARRAY.is_per_cpu and not MapType.ARRAY.is_per_cpu
    assert MapType.QUEUE.is_keyless and MapType.BLOOM_FILTER.is_keyless
    assert not MapType.PROG_ARRAY.can_be_inner and not MapType.HASH_OF_MAPS.can_be_inner
    assert MapType.HASH.can_be_inner and MapType.DEVMAP.can_be_inner
    assert bpfnest.ENOTSUPP == 524
