#!/usr/bin/python3
"""The workloads of shared/BENCH.md with bcc's Python API, for comparison.

    /usr/bin/python3 benchmarks/bcc/bench.py [--only NAME ...] [--scale F]   (needs root)

Runs under the system Python with Debian's ``python3-bpfcc`` (``benchmarks/bcc/setup``
installs it and the kernel headers bcc compiles against), written the way a bcc
user writes them: the maps declared in a small BPF C text given to
``BPF(text=...)``, then the table API (``table[key]``, ``table[key] = value``,
``table.items()``). Every ``BPF`` object is cleaned up (``with BPF(...)`` calls
``cleanup()``), so no map outlives its workload.

Prints one JSON object on stdout, the shape of ``benchmarks/c/bench.c``'s:
``{"WORKLOAD": {"ops_per_s", "ns_per_op", "n"}, ...}``, or
``{"WORKLOAD": {"unavailable": REASON}}`` for a workload bcc cannot do.
Only the measured loop is timed. ``--scale`` multiplies every n. A name that
is not a workload here is skipped with a note on stderr. On any failure
stdout stays empty, stderr says why, and the exit status is 1.

- ``outer_inner_lookup``: bcc's map-in-map tables return the inner map's id
  on lookup, and bcc's Python API has no way to open a map by id; libbcc
  exports libbpf's ``bpf_map_get_fd_by_id``, so each op looks up the id
  through the table API, opens it with ``lib.bpf_map_get_fd_by_id``, reads
  the element with ``lib.bpf_lookup_elem`` and closes the fd (what the C
  version does).
- ``swap_inner`` and ``churn`` create a map per op. bcc creates maps only by
  compiling C (``BPF(text=...)``), so they are reported as not possible at
  run time, with the measured cost of one such compile.
"""

from __future__ import annotations

import argparse
import ctypes as ct
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# bcc ships no type information (and runs under the system python).
from bcc import BPF  # type: ignore[attr-defined,unused-ignore]
from bcc.libbcc import lib  # type: ignore[import-not-found,import-untyped,unused-ignore]

Result = dict[str, Any]

# libbpf's bpf_map_get_fd_by_id, exported by libbcc.so but not declared by bcc's Python side.
_get_fd_by_id = getattr(lib, "bpf_map_get_fd_by_id", None)
if _get_fd_by_id is not None:
    _get_fd_by_id.restype = ct.c_int
    _get_fd_by_id.argtypes = [ct.c_uint32]


def since(n: int, start: int) -> Result:
    elapsed = time.perf_counter_ns() - start
    return {"n": n, "ns_per_op": elapsed / n, "ops_per_s": n * 1e9 / elapsed}


def fill(table: Any, values: dict[int, int]) -> None:
    """Setup, not timed: put every key -> value with one BPF_MAP_UPDATE_BATCH."""
    keys = (table.Key * len(values))(*values)
    leaves = (table.Leaf * len(values))(*values.values())
    table.items_update_batch(keys, leaves)


def array_lookup(n: int) -> Result:
    with BPF(text="BPF_ARRAY(b_array, u64, 1024);") as b:
        array = b["b_array"]
        fill(array, {k: k for k in range(1024)})
        start = time.perf_counter_ns()
        for i in range(n):
            value = array[ct.c_uint(i % 1024)]
        result = since(n, start)
        assert value.value == (n - 1) % 1024, value
        return result


def hash_update(n: int) -> Result:
    with BPF(text="BPF_HASH(b_hash, u32, u64, 65536);") as b:
        table = b["b_hash"]
        start = time.perf_counter_ns()
        for i in range(n):
            table[ct.c_uint(i % 65536)] = ct.c_uint64(i)
        return since(n, start)


def outer_inner_lookup(n: int) -> Result:
    if _get_fd_by_id is None:
        return {
            "unavailable": "bcc's Python API cannot open an inner map by the id an outer"
            " lookup returns, and this libbcc does not export bpf_map_get_fd_by_id"
        }
    # 64 inner maps need 64 declarations; the first is also the outer map's template.
    text = "".join(f"BPF_HASH(b_inner{slot}, u32, u64, 1024);\n" for slot in range(64))
    text += 'BPF_ARRAY_OF_MAPS(b_outer, "b_inner0", 64);\n'
    with BPF(text=text) as b:
        outer = b["b_outer"]
        for slot in range(64):
            inner = b[f"b_inner{slot}"]
            fill(inner, {k: slot * 1024 + k for k in range(1024)})
            outer[ct.c_int(slot)] = ct.c_int(inner.map_fd)

        start = time.perf_counter_ns()
        for i in range(n):
            slot, key, value = i % 64, ct.c_uint(i % 1024), ct.c_uint64()
            inner_id = outer[ct.c_int(slot)].value  # map-in-map lookups give the map's id
            fd = _get_fd_by_id(inner_id)
            if fd < 0:
                raise OSError(ct.get_errno(), f"bpf_map_get_fd_by_id({inner_id})")
            try:
                if lib.bpf_lookup_elem(fd, ct.byref(key), ct.byref(value)) < 0:
                    raise OSError(ct.get_errno(), "bpf_lookup_elem (inner)")
            finally:
                os.close(fd)
            if value.value != slot * 1024 + key.value:
                raise AssertionError(f"outer_inner_lookup: wrong value {value.value}")
        return since(n, start)


def dump_hash(n: int) -> Result:
    with BPF(text=f"BPF_HASH(b_dump, u32, u64, {n});") as b:
        table = b["b_dump"]
        fill(table, {k: k for k in range(n)})
        start = time.perf_counter_ns()
        items = table.items()  # get_next_key + lookup per entry
        result = since(n, start)
        # Every entry seen exactly once: values are 0..n-1.
        assert len(items) == n and sum(v.value for _, v in items) == n * (n - 1) // 2
        return result


def compile_seconds(text: str) -> float:
    """Seconds one BPF(text=...) declaring a map takes (after one untimed warm-up compile)."""
    with BPF(text=text):
        pass
    start = time.perf_counter()
    with BPF(text=text):
        elapsed = time.perf_counter() - start
    return elapsed


def not_at_run_time(inner_text: str) -> Callable[[int], Result]:
    def workload(n: int) -> Result:
        seconds = compile_seconds(inner_text)
        return {
            "unavailable": "not possible at run time: creating a map means compiling C with"
            f" BPF(text=...), {seconds:.2f} s each"
        }

    return workload


WORKLOADS: dict[str, tuple[Callable[[int], Result], int]] = {
    "array_lookup": (array_lookup, 200_000),
    "hash_update": (hash_update, 200_000),
    "outer_inner_lookup": (outer_inner_lookup, 50_000),
    "dump_hash": (dump_hash, 100_000),
    "swap_inner": (not_at_run_time("BPF_HASH(b_swap, u32, u64, 1024);"), 500),
    "churn": (not_at_run_time("BPF_ARRAY(b_churn, u32, 8);"), 1000),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", action="extend", nargs="+", metavar="NAME")
    p.add_argument("--scale", type=float, default=1.0)
    args = p.parse_args(argv)
    if not args.scale > 0:
        p.error("--scale must be > 0")
    names = list(WORKLOADS)
    if args.only:
        for name in args.only:
            if name not in WORKLOADS:
                # run.py also asks for its own extras (items_rss): skip, as bench.c does.
                print(f"bcc bench: no bcc workload '{name}', skipped", file=sys.stderr)
        names = [name for name in WORKLOADS if name in args.only]

    # Run everything first so that a failure leaves stdout empty.
    results: dict[str, Result] = {}
    for name in names:
        fn, n = WORKLOADS[name]
        try:
            results[name] = fn(max(1, int(n * args.scale)))
        except Exception as err:
            print(f"bcc bench: {name}: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
