"""The object reader and loader stay within bounds: what they read, allocate
and accept from an object, with one clear error line when a bound is hit."""

from __future__ import annotations

import io
import os
import socket
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from test_elf import _bench_run

import bpfnest.spec
from bpfnest import CollectionSpec, ParseError
from bpfnest.cli import main

from support import own_map_ids

Objs = Callable[..., str]


# ------------------------------------------------------------------ what from_file reads


def _fifo(tmp: str) -> str:
    path = os.path.join(tmp, "fifo")
    os.mkfifo(path)
    return path


def _socket(tmp: str) -> str:
    path = os.path.join(tmp, "sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda tmp: "/dev/zero", "a character device"),
        (lambda tmp: tmp, "a directory"),
        (_fifo, "a FIFO"),  # opening must not wait for a writer
        (_socket, "a socket"),
    ],
)
def test_from_file_reads_only_regular_files(
    tmp_path: object, make: Callable[[str], str], kind: str
) -> None:
    path = make(str(tmp_path))
    with pytest.raises(ParseError, match=f"not an object file: {kind}") as exc:
        CollectionSpec.from_file(path)
    assert exc.value.file == path and "\n" not in str(exc.value)


def test_from_file_caps_the_size(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bpfnest.spec.MAX_OBJECT_SIZE == 512 << 20
    huge = os.path.join(str(tmp_path), "huge.o")
    with open(huge, "wb") as f:
        f.truncate(bpfnest.spec.MAX_OBJECT_SIZE + 1)  # sparse: refused before any read
    with pytest.raises(ParseError, match=r"object larger than 536870912 bytes"):
        CollectionSpec.from_file(huge)
    monkeypatch.setattr(bpfnest.spec, "MAX_OBJECT_SIZE", 100)
    small = os.path.join(str(tmp_path), "small.o")
    with open(small, "wb") as f:
        f.write(bytes(101))
    with pytest.raises(ParseError, match="object larger than 100 bytes"):
        CollectionSpec.from_file(small)
    # A file larger than fstat says (procfs says 0 bytes) is read in steps up
    # to the cap plus one byte, no further.
    with pytest.raises(ParseError, match="object larger than 100 bytes"):
        CollectionSpec.from_file("/proc/self/maps")


def test_cli_load_of_a_device_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "/dev/zero"], io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "/dev/zero: not an object file: a character device" in err
    assert err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------ .kconfig externs


def test_a_huge_kconfig_extern_is_refused_before_allocating(objs: Objs) -> None:
    """extern char CONFIG_X[0xF0000000]: 3.75 GiB were allocated at load."""
    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as exc:
            CollectionSpec.from_file(objs("bad_kconfig_huge"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "extern 'CONFIG_X' (.kconfig) is 4026531840 bytes;" in str(exc.value)
    assert "takes 1 to 65536" in str(exc.value) and exc.value.section == ".BTF"
    assert peak < 64 << 20


def test_a_kconfig_extern_of_no_size(tmp_path: Path) -> None:
    """extern char CONFIG_X[]: a .kconfig variable without the map to hold it."""
    run = _bench_run()
    source = (
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
        "extern char CONFIG_X[] __kconfig;\n"
        'SEC("socket") int f(void *ctx) { return CONFIG_X[0]; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    with pytest.raises(ParseError, match=r"extern 'CONFIG_X' \(\.kconfig\) is 0 bytes"):
        CollectionSpec.from_file(run.compile_c(source, str(tmp_path)))


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize(
    ("obj", "config", "text"),
    [
        (
            "kconfig_narrow",  # extern char LINUX_KERNEL_VERSION: an OverflowError traceback
            None,
            r"extern 'LINUX_KERNEL_VERSION' \(\.kconfig\): \d+ \(0x[0-9a-f]+\) does not fit"
            r" its 1 byte; it needs 3 \(declare it unsigned int\)",
        ),
        (
            "kconfig",  # extern _Bool CONFIG_BPF_SYSCALL
            {"CONFIG_BPF_SYSCALL": "-300"},
            r"extern 'CONFIG_BPF_SYSCALL' \(\.kconfig\): -300 \(-0x12c\) does not fit its 1 byte;"
            r" it needs 2 \(declare it int\)",
        ),
        (
            "kconfig",
            {"CONFIG_BPF_SYSCALL": "maybe"},
            r"extern 'CONFIG_BPF_SYSCALL' \(\.kconfig\): config value 'maybe' is not y, m, n,"
            " a number or a string",
        ),
    ],
)
def test_kconfig_value_that_does_not_fit(
    objs: Objs,
    monkeypatch: pytest.MonkeyPatch,
    obj: str,
    config: dict[str, str] | None,
    text: str,
) -> None:
    """One line naming the extern and what it needs, before any map is created."""
    import bpfnest._kconfig

    if config is not None:
        monkeypatch.setattr(bpfnest._kconfig, "read_kernel_config", lambda: config)
    spec = CollectionSpec.from_file(objs(obj))
    before = own_map_ids()
    with pytest.raises(ValueError, match=text) as exc:
        spec.load()
    assert "\n" not in str(exc.value)
    assert own_map_ids() == before  # answered before the first syscall


@pytest.mark.usefixtures("kernel")
def test_cli_load_of_a_narrow_kconfig_extern(
    objs: Objs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", objs("kconfig_narrow")], io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "extern 'LINUX_KERNEL_VERSION' (.kconfig)" in err and "it needs 3" in err
    assert err.count("\n") == 1 and "Traceback" not in err
