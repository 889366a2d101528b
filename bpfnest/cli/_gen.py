"""``bpfnest gen OBJECT.o [-o MODULE.py]``: a typed Python module from an object.

The module (see :mod:`bpfnest.gen`) is written to ``MODULE.py``, or printed
when ``-o`` is not given (it then finds the object by its file name, next to
wherever the text is saved).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

__all__ = ["gen_command", "gen_parser"]


def gen_parser(sub: Any) -> None:
    """Add ``gen OBJECT.o [-o MODULE.py]`` to the subcommands ``sub``."""
    g = sub.add_parser(
        "gen",
        help="a typed Python module from an object (bpftool gen skeleton for Python)",
        description="Write a Python module with one class per struct, union and enum the"
        " object's maps and variables use, and load() returning the object's maps with typed"
        " keys and values, its programs and its variables; mypy --strict accepts it.",
    )
    g.add_argument("object", metavar="OBJECT.o", help="a BPF object built with clang -g")
    g.add_argument(
        "-o",
        "--output",
        metavar="MODULE.py",
        help="write the module here (the object's path is recorded relative to it);"
        " default: print it",
    )


def gen_command(args: argparse.Namespace, out: TextIO) -> None:
    """``bpfnest gen``: parse the object, write or print the module.

    Raises:
        ValueError: the object has no BTF, or is malformed (``ParseError``).
        OSError: the object cannot be read, or the module cannot be written.
    """
    from ..gen import generate
    from ..spec import CollectionSpec

    spec = CollectionSpec.from_file(args.object)
    if args.output is None:
        out.write(generate(spec, object_path=args.object))
        return
    directory = os.path.dirname(os.path.abspath(args.output))
    text = generate(spec, object_path=args.object, module_dir=directory)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
