"""The object reader and loader stay within bounds: what they read, allocate
and accept from an object, with one clear error line when a bound is hit."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable

import pytest

import bpfnest.spec
from bpfnest import CollectionSpec, ParseError
from bpfnest.cli import main

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
    # A file that is larger than the cap is refused even if fstat said otherwise
    # (it grew): the read stops at the cap plus one byte.
    monkeypatch.setattr(bpfnest.spec, "MAX_OBJECT_SIZE", 100)
    small = os.path.join(str(tmp_path), "small.o")
    with open(small, "wb") as f:
        f.write(bytes(101))
    with pytest.raises(ParseError, match="object larger than 100 bytes"):
        CollectionSpec.from_file(small)


def test_cli_load_of_a_device_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "/dev/zero"], io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "/dev/zero: not an object file: a character device" in err
    assert err.count("\n") == 1 and "Traceback" not in err
