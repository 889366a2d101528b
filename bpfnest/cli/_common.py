"""What every ``bpfnest`` subcommand shares: the usage error, object selectors,
argparse types, and printing data as JSON or lines."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["Usage", "count", "emit", "parse_id", "selector"]


class Usage(Exception):
    pass


def selector(
    words: list[str], what: str = "map", hows: Sequence[str] = ("id", "pinned", "name")
) -> tuple[str, str]:
    """``ID``, ``id ID``, ``pinned PATH`` or ``name NAME`` (the ``hows`` given)
    -> (how, what); anything else, an id that is not a number included, is
    a usage error."""
    if len(words) == 1 and words[0].isascii() and words[0].isdigit():
        return "id", str(int(words[0]))
    if len(words) == 2 and words[0] in hows:
        if words[0] != "id":
            return words[0], words[1]
        n = parse_id(words[1])
        if n is not None:
            return "id", str(n)
    forms = ", ".join(f"{how} {_ARG[how]}" for how in hows[:-1])
    raise Usage(
        f"name a {what} as ID, {forms} or {hows[-1]} {_ARG[hows[-1]]}, not {' '.join(words)!r}"
    )


_ARG = {"id": "ID", "pinned": "PATH", "name": "NAME"}


def parse_id(text: str) -> int | None:
    """An id as ``id ID`` takes it (decimal, or 0x.. hex); None when it is not one."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        n = int(text, 0)
    except ValueError:
        return None
    return n if n >= 0 else None


def count(text: str) -> int:
    """argparse type of --depth, --limit and --count: an int >= 0."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


def emit(out: TextIO, data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        out.write(json.dumps(data) + "\n")
    else:
        for line in lines:
            out.write(line + "\n")
