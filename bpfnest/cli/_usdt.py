"""``bpfnest usdt list PATH [--json]``: the USDT probes of a binary.

One line per probe site (a probe expanded in several places has several),
in the order of the file's ``.note.stapsdt`` notes, with the fields of
:class:`bpfnest.UsdtProbe`; ``--json`` prints a list of objects with those
keys. ``PATH`` may be a bare name, found as ``attach_usdt`` finds it
(``PATH`` for programs; ``LD_LIBRARY_PATH``, ``/etc/ld.so.cache`` and the
standard directories for ``.so`` names).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TextIO

from .._uprobe import resolve_binary
from .._usdt import usdt_probes
from ._common import emit

__all__ = ["usdt_command", "usdt_parser"]


def usdt_parser(sub: Any) -> None:
    """Add ``usdt list PATH [--json]`` to the subcommands ``sub``."""
    u = sub.add_parser("usdt", help="USDT probes of an executable or shared library")
    usub = u.add_subparsers(dest="usdt_command", required=True)
    ul = usub.add_parser(
        "list",
        help="every USDT probe site of a binary (its .note.stapsdt notes)",
        description="List the USDT probe sites of an ELF executable or shared library, as"
        " readelf -n shows its stapsdt notes: provider:name, the address, the"
        " .stapsdt.base address the note records, the semaphore (0: none) and the"
        " argument string.",
    )
    ul.add_argument("path", metavar="PATH", help="the binary (a path, or a bare name)")
    ul.add_argument("--json", action="store_true", help="a JSON list of objects")


def _line(p: dict[str, Any]) -> str:
    return (
        f"{p['provider']}:{p['name']}  address {p['address']:#x}  base {p['base']:#x}"
        f"  semaphore {p['semaphore']:#x}  args {p['args'] or '-'}"
    )


def usdt_command(args: argparse.Namespace, out: TextIO) -> None:
    """``bpfnest usdt list PATH``: no probes is an empty list (exit 0).

    Raises:
        ValueError: the file is not found or not ELF, or a note is malformed.
        OSError: the file cannot be read.
    """
    path = resolve_binary(args.path)
    rows = [dataclasses.asdict(p) for p in usdt_probes(path)]
    emit(out, rows, args.json, [_line(r) for r in rows])
