"""bpfnest: Linux BPF maps from Python, map-in-map first.

Pure Python over the bpf(2) syscall (no libbpf at run time). See the README
for the set-up commands and a first example.

Importing the package loads only the pure core (constants, errors, specs).
The names that own kernel objects (``Map``, ``Program``, ``Collection``, ...)
are imported on first use, so ``import bpfnest.elf`` or ``bpfnest.btf`` never
loads ctypes or the syscall layer and works where bpf(2) is unknown.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .constants import (
    ANY,
    ENOTSUPP,
    EXIST,
    F_CLONE,
    F_INNER_MAP,
    F_LINK,
    F_LOCK,
    F_MMAPABLE,
    F_NO_COMMON_LRU,
    F_NO_PREALLOC,
    F_NO_USER_CONV,
    F_NUMA_NODE,
    F_PATH_FD,
    F_PRESERVE_ELEMS,
    F_RDONLY,
    F_RDONLY_PROG,
    F_SEGV_ON_FAULT,
    F_STACK_BUILD_ID,
    F_TOKEN_FD,
    F_VTYPE_BTF_OBJ_FD,
    F_WRONLY,
    F_WRONLY_PROG,
    F_ZERO_SEED,
    NOEXIST,
    AttachType,
    LinkType,
    MapType,
    ProgType,
)
from .errors import (
    BPFError,
    IterationAbortedError,
    KeyNotFoundError,
    NotSupportedError,
    ParseError,
    VerifierError,
)
from .spec import (
    PIN_BY_NAME,
    CollectionSpec,
    CoreReloSpec,
    FuncInfoSpec,
    LineInfoSpec,
    MapInfo,
    MapRef,
    MapSpec,
    ProgramSpec,
    StructOpsMember,
    StructOpsSpec,
    VariableSpec,
)

if TYPE_CHECKING:
    from ._usdt import UsdtProbe, usdt_probes
    from .btf import BTF
    from .collection import Collection
    from .events import PerfBuffer, PerfRecord, RingBuffer, UserRingBuffer
    from .hist import format_linear_hist, format_log2_hist
    from .link import LegacyLink, Link, StructOpsRegistration, link_ids
    from .maps import (
        KeylessMap,
        Map,
        OuterMap,
        PerCPUMap,
        StructOpsMap,
        TypedMap,
        map_ids,
        possible_cpus,
    )
    from .programs import Program, ProgramInfo, TestRun, program_ids

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "Collection": "collection",
    "Map": "maps",
    "PerCPUMap": "maps",
    "map_ids": "maps",
    "possible_cpus": "maps",
    "OuterMap": "maps",
    "KeylessMap": "maps",
    "Program": "programs",
    "TestRun": "programs",
    "ProgramInfo": "programs",
    "program_ids": "programs",
    "Link": "link",
    "LegacyLink": "link",
    "link_ids": "link",
    "BTF": "btf",
    "PerfBuffer": "events",
    "PerfRecord": "events",
    "RingBuffer": "events",
    "UserRingBuffer": "events",
    "format_log2_hist": "hist",
    "format_linear_hist": "hist",
    "TypedMap": "maps",
    "StructOpsMap": "maps",
    "StructOpsRegistration": "link",
    "UsdtProbe": "_usdt",
    "usdt_probes": "_usdt",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfnest' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "ANY",
    "BTF",
    "ENOTSUPP",
    "EXIST",
    "F_CLONE",
    "F_INNER_MAP",
    "F_LINK",
    "F_LOCK",
    "F_MMAPABLE",
    "F_NO_COMMON_LRU",
    "F_NO_PREALLOC",
    "F_NO_USER_CONV",
    "F_NUMA_NODE",
    "F_PATH_FD",
    "F_PRESERVE_ELEMS",
    "F_RDONLY",
    "F_RDONLY_PROG",
    "F_SEGV_ON_FAULT",
    "F_STACK_BUILD_ID",
    "F_TOKEN_FD",
    "F_VTYPE_BTF_OBJ_FD",
    "F_WRONLY",
    "F_WRONLY_PROG",
    "F_ZERO_SEED",
    "NOEXIST",
    "PIN_BY_NAME",
    "AttachType",
    "BPFError",
    "Collection",
    "CollectionSpec",
    "CoreReloSpec",
    "FuncInfoSpec",
    "IterationAbortedError",
    "KeyNotFoundError",
    "KeylessMap",
    "LineInfoSpec",
    "Link",
    "LegacyLink",
    "LinkType",
    "Map",
    "MapInfo",
    "MapRef",
    "MapSpec",
    "MapType",
    "NotSupportedError",
    "OuterMap",
    "ParseError",
    "PerCPUMap",
    "PerfBuffer",
    "PerfRecord",
    "ProgType",
    "Program",
    "ProgramInfo",
    "ProgramSpec",
    "RingBuffer",
    "TestRun",
    "UserRingBuffer",
    "VariableSpec",
    "VerifierError",
    "__version__",
    "link_ids",
    "map_ids",
    "possible_cpus",
    "program_ids",
    "format_log2_hist",
    "format_linear_hist",
    "TypedMap",
    "StructOpsMap",
    "StructOpsMember",
    "StructOpsRegistration",
    "StructOpsSpec",
    "UsdtProbe",
    "usdt_probes",
]
