"""The ``.kconfig`` externs answered from the running kernel: its version,
its config (``/proc/config.gz`` or ``/boot/config-<release>``) and the
``LINUX_HAS_*`` facts of :mod:`bpfnest.features`, written into the value of
map ``.kconfig`` as each extern's C type says (libbpf's
``bpf_object__resolve_externs``). Reads files; no bpf(2) of its own.
"""

from __future__ import annotations

import gzip
import os
import platform
import sys
from collections.abc import Mapping
from typing import Any, Literal

from . import features
from .elf import MAX_KCONFIG
from .spec import CollectionSpec

__all__ = ["kconfig_value", "kernel_version_code", "read_kernel_config"]


def _native() -> Literal["little", "big"]:
    return sys.byteorder


def kernel_version_code(release: str | None = None) -> int:
    """``KERNEL_VERSION(a, b, c)`` of the running kernel (c capped at 255)."""
    release = release or platform.release()
    parts = []
    for piece in release.split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return (parts[0] << 16) | (parts[1] << 8) | min(parts[2], 255)


def read_kernel_config() -> dict[str, str]:
    """The running kernel's config from /proc/config.gz or /boot/config-<release>.

    Raises:
        FileNotFoundError: neither exists.
    """
    paths = ["/proc/config.gz", f"/boot/config-{platform.release()}"]
    for path in paths:
        if not os.path.exists(path):
            continue
        opener: Any = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            config = {}
            for line in f:
                line = line.strip()
                if line.startswith("CONFIG_") and "=" in line:
                    key, _, value = line.partition("=")
                    config[key] = value
            return config
    raise FileNotFoundError(f"no kernel config at {' or '.join(paths)}")


def kconfig_value(spec: CollectionSpec) -> bytes:
    """The value of map ``.kconfig``: each extern answered from the running kernel.

    As libbpf: a ``__weak`` extern the kernel lacks (a ``CONFIG_`` option
    not in its config, a ``LINUX_`` name the loader does not know) is 0; a
    value must suit the extern's C type (``y``/``n`` a bool, ``y``/``n``/``m``
    a tristate or char, a string a char array, a number an integer, char or
    bool).

    Raises:
        ValueError: an extern the loader cannot answer, a value its type or
            size cannot hold.
    """
    ms = spec.maps[".kconfig"]
    if ms.value_size > MAX_KCONFIG:
        raise ValueError(
            f"map '.kconfig': value_size {ms.value_size} is more than the {MAX_KCONFIG} bytes"
            " that config externs may take"
        )
    buf = bytearray(ms.value_size)
    config: Mapping[str, str] | None = None
    for name, var in spec.variables.items():
        if var.map != ".kconfig":
            continue
        ext = spec.externs.get(name)
        weak, kind = (ext.weak, ext.kind) if ext is not None else (False, None)
        if name == "LINUX_KERNEL_VERSION":
            value: int | bytes = kernel_version_code()
        elif name == "LINUX_HAS_BPF_COOKIE":
            value = int(features.has_bpf_cookie())
        elif name == "LINUX_HAS_SYSCALL_WRAPPER":
            value = int(features.has_syscall_wrapper())
        elif name.startswith("CONFIG_"):
            if config is None:
                try:
                    config = read_kernel_config()
                except FileNotFoundError as err:
                    if weak:
                        continue
                    raise ValueError(f"extern '{name}' (.kconfig): {err}") from None
            if name not in config:
                if weak:
                    continue  # libbpf: a weak extern the kernel lacks is 0
                raise ValueError(
                    f"extern '{name}' (.kconfig): not set in the running kernel's config"
                    " (declare it __weak to read 0 where the kernel lacks it)"
                )
            value = _config_value(name, config[name], var.size, kind)
        elif weak and name.startswith("LINUX_"):
            continue
        else:
            raise ValueError(f"extern '{name}' (.kconfig): the loader cannot answer it")
        if var.offset + var.size > len(buf):
            raise ValueError(
                f"extern '{name}' (.kconfig): {var.size} bytes at {var.offset} run past"
                f" the map's value_size {len(buf)}"
            )
        raw = value if isinstance(value, bytes) else _kconfig_number(name, value, var.size)
        if kind == "bool" and isinstance(value, int) and value not in (0, 1):
            raise ValueError(
                f"extern '{name}' (.kconfig): {value} is not a bool (declare it an integer)"
            )
        buf[var.offset : var.offset + var.size] = raw
    return bytes(buf)


#: What a kconfig value in the config file is, and the extern kinds it suits.
_SUITS = {
    "y/n": ("bool", "tristate", "char"),
    "m": ("tristate", "char"),
    "string": ("char_array",),
    "number": ("int", "char", "bool"),
}
_DECLARE = {
    "y/n": "bool, enum libbpf_tristate or char",
    "m": "enum libbpf_tristate or char",
    "string": "a char array",
    "number": "an integer",
}


def _config_value(name: str, text: str, size: int, kind: str | None) -> int | bytes:
    """A ``CONFIG_`` option's ``text`` as the extern of ``kind`` (None: as
    the size says, for a spec made by hand) takes it, or a ValueError."""
    what = "y/n" if text in ("y", "n") else "m" if text == "m" else "number"
    if text.startswith('"'):
        what = "string"
    if kind is not None and kind not in _SUITS[what]:
        raise ValueError(
            f"extern '{name}' (.kconfig): the kernel's value {text} does not suit a {kind}"
            f" (declare it {_DECLARE[what]})"
        )
    if what == "string":
        if len(text) < 2 or not text.endswith('"'):
            raise ValueError(f"extern '{name}' (.kconfig): bad string config value {text}")
        return text[1:-1].encode()[: size - 1].ljust(size, b"\0")
    if what != "number":
        if kind == "char":
            return ord(text)
        return {"y": 1, "m": 2, "n": 0}[text]
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(
            f"extern '{name}' (.kconfig): config value {text!r} is not y, m, n,"
            " a number or a string"
        ) from None


def _kconfig_number(name: str, value: int, size: int) -> bytes:
    """``value`` in the extern's ``size`` bytes, or a ValueError saying the size it needs."""
    try:
        return value.to_bytes(size, _native(), signed=value < 0)
    except OverflowError:
        need = (value.bit_length() + (8 if value < 0 else 7)) // 8
        ctype = "int" if need <= 4 else "long long"
        raise ValueError(
            f"extern '{name}' (.kconfig): {value} ({value:#x}) does not fit its {size}"
            f" byte{'s' if size != 1 else ''}; it needs {need}"
            f" (declare it {'unsigned ' if value >= 0 else ''}{ctype})"
        ) from None
