"""Build the BPF C source of an example: ``build("config_swap")`` -> the object's path.

Compiles ``examples/NAME.bpf.c`` with ``clang -O2 -g -target bpf -c`` into
``examples/.build/NAME.o``, and again only when the source is newer than the
object. The extra ``-I/usr/include/<multiarch>`` lets ``<linux/bpf.h>`` find
``<asm/types.h>``, which clang does not look for under ``-target bpf``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, ".build")


def _multiarch() -> str:
    try:
        res = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True)
    except FileNotFoundError:
        return ""
    return res.stdout.strip()


def build(name: str) -> str:
    """Compile ``examples/<name>.bpf.c`` if needed; return the path of ``<name>.o``.

    Raises:
        FileNotFoundError: no such source, or clang is not installed.
        RuntimeError: clang failed (its messages are in the error).
    """
    src = os.path.join(HERE, f"{name}.bpf.c")
    out = os.path.join(BUILD, f"{name}.o")
    if not os.path.exists(src):
        raise FileNotFoundError(src)
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    clang = shutil.which("clang")
    if clang is None:
        raise FileNotFoundError("clang is not installed (apt-get install clang)")
    flags = ["-O2", "-g", "-target", "bpf"]
    multiarch = _multiarch()
    if multiarch:
        flags.append(f"-I/usr/include/{multiarch}")
    os.makedirs(BUILD, exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"  # atomic: a concurrent run never sees half an object
    res = subprocess.run([clang, *flags, "-c", src, "-o", tmp], capture_output=True, text=True)
    if res.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise RuntimeError(f"clang failed on {src}:\n{res.stderr}")
    os.replace(tmp, out)
    return out
