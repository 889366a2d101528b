"""The ``bpfnest`` command: argument parsing and formatting only.

``main(argv, out)`` returns the exit status: 0, 1 for an error (one line on
stderr, never a traceback), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .constants import MapType
from .errors import BPFError
from .maps import Map, map_ids

__all__ = ["main"]


def _type_name(t: object) -> str:
    return t.name.lower() if isinstance(t, MapType) else str(t)


def _map_list(out: TextIO, as_json: bool) -> None:
    rows = []
    for map_id in map_ids():
        try:
            m = Map.from_id(map_id)
        except BPFError as err:
            if err.errno == 2:  # gone meanwhile
                continue
            raise
        with m:
            rows.append(
                {
                    "id": m.id,
                    "type": _type_name(m.type),
                    "name": m.name,
                    "flags": m.flags,
                    "bytes_key": m.key_size,
                    "bytes_value": m.value_size,
                    "max_entries": m.max_entries,
                }
            )
    if as_json:
        json.dump(rows, out)
        out.write("\n")
        return
    for r in rows:
        out.write(
            f"{r['id']:>6}  {r['type']:<22} {r['name']:<16} key {r['bytes_key']:>4}B"
            f"  value {r['bytes_value']:>6}B  max_entries {r['max_entries']:>8}"
            f"  flags {r['flags']:#x}\n"
        )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bpfnest", description="BPF maps, map-in-map first.")
    p.add_argument("--version", action="version", version=f"bpfnest {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    mp = sub.add_parser("map", help="inspect maps")
    msub = mp.add_subparsers(dest="map_command", required=True)
    ml = msub.add_parser("list", help="every map in the system")
    ml.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="the README's map-in-map example on the real kernel")
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "map" and args.map_command == "list":
            _map_list(out, args.json)
        elif args.command == "demo":
            from .demo import run

            run(out)
    except (BPFError, ValueError, TypeError, RuntimeError) as err:
        print(f"bpfnest: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
