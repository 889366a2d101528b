"""What libbpf's loader does besides maps and relocations (issue 19 items 4
and 5): its own kconfig externs answered from probes of the running kernel,
and hidden global functions marked static in the BTF the kernel sees."""

from __future__ import annotations

import platform
from collections.abc import Callable

import pytest

from bpfnest import CollectionSpec, ProgType
from bpfnest.btf import Func
from bpfnest.btf.types import Linkage

Objs = Callable[..., str]


def _release() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


@pytest.mark.usefixtures("kernel")
def test_libbpf_kconfig_externs_are_answered(objs: Objs) -> None:
    with CollectionSpec.from_file(objs("kconfig_libbpf")).load() as coll:
        got = coll.programs["answers"].test_run(bytes(16)).retval
    # bpf_get_attach_cookie came in 5.15; x86_64 and arm64 syscalls go
    # through __<arch>_sys_NAME wrappers since 4.17.
    cookie = _release() >= (5, 15)
    wrapper = platform.machine() in ("x86_64", "aarch64") and _release() >= (4, 17)
    assert got == cookie * 2 + wrapper


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_hidden_global_function_is_static_for_the_kernel(objs: Objs, target: str) -> None:
    spec = CollectionSpec.from_file(objs("usdt_arg", target))
    assert spec.btf is not None
    assert spec.btf.find("bpf_usdt_arg", Func).linkage == Linkage.STATIC
    assert spec.btf.find("visible", Func).linkage == Linkage.GLOBAL


@pytest.mark.usefixtures("kernel")
def test_a_program_on_usdt_bpf_h_passes_the_verifier(objs: Objs) -> None:
    spec = CollectionSpec.from_file(objs("usdt_arg"))
    assert spec.programs["probe"].type == ProgType.KPROBE
    with spec.load() as coll:
        assert set(coll.programs) == {"probe", "uses_visible"}
        assert coll.programs["uses_visible"].test_run(bytes(16)).retval == 42
