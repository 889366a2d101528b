#!/usr/bin/env python3
"""The BENCH.md workloads through bpfnest's public API, on the real kernel.

    python benchmarks/run.py [--json] [--only NAME ...] [--scale F] [--compare]

Prints a table, or with ``--json`` one JSON object
``{"WORKLOAD": {"ops_per_s", "ns_per_op", "n", ...}, ...}``. ``--compare``
also builds and runs the same workloads in C with libbpf
(``benchmarks/c/bench.c``, ``gcc -O2 -lbpf``) and reports bpfnest's time as
a ratio to C. ``--scale`` multiplies every n (for quick runs). Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bpfnest import Map, MapSpec, MapType, OuterMap, map_ids  # noqa: E402

U32_U64 = dict(key_size=4, value_size=8)

Result = dict[str, Any]


def timed(n: int, op: Callable[[int], object]) -> Result:
    start = time.perf_counter_ns()
    for i in range(n):
        op(i)
    elapsed = time.perf_counter_ns() - start
    return {"n": n, "ns_per_op": elapsed / n, "ops_per_s": n * 1e9 / elapsed}


def since(n: int, start: int) -> Result:
    elapsed = time.perf_counter_ns() - start
    return {"n": n, "ns_per_op": elapsed / n, "ops_per_s": n * 1e9 / elapsed}


# The per-element workloads are written as a user writes a hot loop: the
# method bound once, the loop inline (the C version is the same loop).


def array_lookup(n: int) -> Result:
    with Map.create(MapSpec(MapType.ARRAY, max_entries=1024, name="b_array", **U32_U64)) as m:
        m.update_batch({k: k for k in range(1024)})
        lookup = m.lookup
        start = time.perf_counter_ns()
        for i in range(n):
            lookup(i % 1024)
        return since(n, start)


def hash_update(n: int) -> Result:
    with Map.create(MapSpec(MapType.HASH, max_entries=65536, name="b_hash", **U32_U64)) as m:
        update = m.update
        start = time.perf_counter_ns()
        for i in range(n):
            update(i % 65536, i)
        return since(n, start)


def outer_inner_lookup(n: int) -> Result:
    inner = MapSpec(MapType.HASH, max_entries=1024, name="b_inner", **U32_U64)
    outer_spec = MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 64, name="b_outer", inner=inner)
    with Map.create(outer_spec) as outer:
        batch = {}
        made = []
        try:
            for slot in range(64):
                m = Map.create(inner)
                made.append(m)
                m.update_batch({k: k + slot for k in range(1024)})
                batch[slot] = m
            outer.update_batch(batch)
        finally:
            for m in made:
                m.close()

        assert isinstance(outer, OuterMap)
        inner_lookup = outer.inner_lookup  # the slot's id, then the element, cached inner fds
        start = time.perf_counter_ns()
        for i in range(n):
            inner_lookup(i % 64, i % 1024)
        return since(n, start)


def dump_hash(n: int) -> Result:
    with Map.create(MapSpec(MapType.HASH, max_entries=n, name="b_dump", **U32_U64)) as m:
        m.update_batch({k: k for k in range(n)})
        start = time.perf_counter_ns()
        count = sum(1 for _ in m.items())
        elapsed = time.perf_counter_ns() - start
        assert count == n, (count, n)
        return {"n": n, "ns_per_op": elapsed / n, "ops_per_s": n * 1e9 / elapsed}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def items_rss(n: int) -> Result:
    """items() over an n-entry HASH (1,000,000 at full scale): RSS growth while it runs."""
    with Map.create(MapSpec(MapType.HASH, max_entries=n, name="b_rss", **U32_U64)) as m:
        for start in range(0, n, 100_000):
            m.update_batch({k: k for k in range(start, min(n, start + 100_000))})
        base = peak = _rss()
        count = 0
        start_ns = time.perf_counter_ns()
        for _ in m.items():
            count += 1
            if count % 10_000 == 0:
                peak = max(peak, _rss())
        elapsed = time.perf_counter_ns() - start_ns
        assert count == n, (count, n)
        return {
            "n": n,
            "ns_per_op": elapsed / n,
            "ops_per_s": n * 1e9 / elapsed,
            "rss_growth_mb": (peak - base) / 2**20,
        }


def swap_inner(n: int) -> Result:
    inner = MapSpec(MapType.HASH, max_entries=1024, name="b_swap", **U32_U64)
    values = {k: k for k in range(1024)}
    with Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, 16, name="b_outer", inner=inner)) as o:

        def op(i: int) -> None:
            with Map.create(inner) as m:
                m.update_batch(values)
                o[i % 16] = m

        return timed(n, op)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def churn(n: int) -> Result:
    fds, maps = _fd_count(), set(map_ids())
    inner = MapSpec(MapType.ARRAY, 4, 4, 8, name="b_churn")
    with Map.create(MapSpec(MapType.HASH_OF_MAPS, 4, 4, 1024, name="b_outer", inner=inner)) as o:

        def op(i: int) -> None:
            with Map.create(inner) as m:
                o[i % 1024] = m
            del o[i % 1024]

        result = timed(n, op)
    deadline = time.monotonic() + 5
    while (leaked := set(map_ids()) - maps) and time.monotonic() < deadline:
        time.sleep(0.01)
    result["leaked_fds"] = _fd_count() - fds
    result["leaked_maps"] = len(leaked)
    return result


WORKLOADS: dict[str, tuple[Callable[[int], Result], int]] = {
    "array_lookup": (array_lookup, 200_000),
    "hash_update": (hash_update, 200_000),
    "outer_inner_lookup": (outer_inner_lookup, 50_000),
    "dump_hash": (dump_hash, 100_000),
    "items_rss": (items_rss, 1_000_000),
    "swap_inner": (swap_inner, 500),
    "churn": (churn, 1000),
}


def run_c(names: list[str], scale: float) -> dict[str, Result] | str:
    """Build and run benchmarks/c/bench.c; the JSON it prints, or why it could not run."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return "gcc is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "bench")
        build = subprocess.run(
            [gcc, "-O2", "-o", exe, os.path.join(HERE, "c", "bench.c"), "-lbpf"],
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            return f"build failed: {build.stderr.strip()[:300]}"
        args = [exe, "--scale", str(scale)]
        for name in names:
            args += ["--only", name]
        res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            return f"run failed: {res.stderr.strip()[:300]}"
        data: dict[str, Result] = json.loads(res.stdout)
        return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.add_argument("--only", action="extend", nargs="+", choices=sorted(WORKLOADS))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--compare", action="store_true")
    args = p.parse_args(argv)
    names = args.only or list(WORKLOADS)
    results: dict[str, Result] = {}
    for name in names:
        fn, n = WORKLOADS[name]
        results[name] = fn(max(1, int(n * args.scale)))
    if args.compare:
        c = run_c(names, args.scale)
        if isinstance(c, str):
            results["_c"] = {"unavailable": c}
        else:
            for name in names:
                if name in c:
                    results[name]["c_ns_per_op"] = c[name]["ns_per_op"]
                    results[name]["ratio_to_c"] = results[name]["ns_per_op"] / c[name]["ns_per_op"]
    if args.json:
        json.dump(results, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{'workload':<20} {'n':>8} {'ns/op':>12} {'ops/s':>12} {'x C':>7}")
    for name, r in results.items():
        if name.startswith("_"):
            print(f"{name}: {r}")
            continue
        ratio = f"{r['ratio_to_c']:.2f}" if "ratio_to_c" in r else "-"
        extra = ""
        if "rss_growth_mb" in r:
            extra = f"  RSS growth {r['rss_growth_mb']:.1f} MB"
        if "leaked_fds" in r:
            extra = f"  leaked fds {r['leaked_fds']}, maps {r['leaked_maps']}"
        print(
            f"{name:<20} {r['n']:>8} {r['ns_per_op']:>12.0f} {r['ops_per_s']:>12.0f}"
            f" {ratio:>7}{extra}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
