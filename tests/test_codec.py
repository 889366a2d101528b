"""Codecs: pure functions, no kernel."""

from __future__ import annotations

import pytest

from bpfnest import codec


@pytest.mark.parametrize(
    ("value", "size", "expect"),
    [
        (0, 4, b"\0\0\0\0"),
        (1, 4, b"\x01\0\0\0"),
        ((1 << 32) - 1, 4, b"\xff" * 4),
        (0x0102, 2, b"\x02\x01"),
        (b"abcd", 4, b"abcd"),
        (bytearray(b"ab"), 2, b"ab"),
        (memoryview(b"xyz"), 3, b"xyz"),
        (b"", 0, b""),
    ],
)
def test_encode(value: object, size: int, expect: bytes) -> None:
    assert codec.encode(value, size, "key") == expect


@pytest.mark.parametrize(
    ("value", "size", "error", "text"),
    [
        (b"abc", 4, ValueError, "key must be 4 bytes, got 3"),
        (1 << 32, 4, ValueError, "key 4294967296 out of range for 4 bytes (0..4294967295)"),
        (-1, 4, ValueError, "key -1 out of range"),
        (1, 0, ValueError, "key must be empty (size 0)"),
        ("x", 4, TypeError, "key must be bytes or int, got str"),
        (True, 4, TypeError, "got bool"),
        (None, 4, TypeError, "got NoneType"),
    ],
)
def test_encode_errors(value: object, size: int, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as exc:
        codec.encode(value, size, "key")
    assert text in str(exc.value)


def test_percpu_roundtrip() -> None:
    assert (
        codec.percpu_stride(1) == 8 and codec.percpu_stride(8) == 8 and codec.percpu_stride(9) == 16
    )
    raw = codec.encode_percpu([1, 2, 3], 4, 3)
    assert raw == b"\x01\0\0\0" + b"\0" * 4 + b"\x02\0\0\0" + b"\0" * 4 + b"\x03\0\0\0" + b"\0" * 4
    assert codec.decode_percpu(raw, 4, 3) == [b"\x01\0\0\0", b"\x02\0\0\0", b"\x03\0\0\0"]
    assert codec.encode_percpu(7, 4, 2) == (b"\x07\0\0\0" + b"\0" * 4) * 2
    with pytest.raises(ValueError, match="must have 3 entries"):
        codec.encode_percpu([1, 2], 4, 3)
    with pytest.raises(ValueError, match=r"value\[cpu 1\] must be 4 bytes"):
        codec.encode_percpu([1, b"x", 3], 4, 3)
    with pytest.raises(TypeError, match="sequence of 3"):
        codec.encode_percpu({1, 2, 3}, 4, 3)


@pytest.mark.parametrize(("text", "n"), [("0", 1), ("0-1\n", 2), ("0-3,5", 6), ("0,2-3", 4)])
def test_parse_cpu_list(text: str, n: int) -> None:
    assert codec.parse_cpu_list(text) == n


@pytest.mark.parametrize("text", ["", "a-b", "0,,1", "-"])
def test_parse_cpu_list_bad(text: str) -> None:
    with pytest.raises(ValueError, match="malformed CPU list"):
        codec.parse_cpu_list(text)


def test_lpm_key() -> None:
    import sys

    assert (
        codec.lpm_key(24, b"\x0a\x01\x02\x00")
        == (24).to_bytes(4, sys.byteorder) + b"\x0a\x01\x02\x00"
    )
    with pytest.raises(ValueError, match=r"prefixlen 33 out of range 0\.\.32"):
        codec.lpm_key(33, b"\0" * 4)
