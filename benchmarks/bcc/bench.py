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


# ---- events (issue 15): ringbuf_read, perfbuf_read -------------------------
# The producers of tests/bpf/bench_events.c, written as a bcc user writes them
# (BPF_RINGBUF_OUTPUT / BPF_PERF_OUTPUT and the helpers' methods; the record
# is a struct: bcc 0.26's rewriter crashes on ringbuf_output of an array). They run
# through BPF_PROG_TEST_RUN, which bcc's Python API does not wrap: libbcc
# exports libbpf's bpf_prog_test_run_opts, called here as the fill (not timed).
EVENTS_TEXT = """
struct rec { u64 v[8]; };
BPF_RINGBUF_OUTPUT(ring, 4096);
BPF_PERF_OUTPUT(perf);
int fill_ring(struct xdp_md *ctx)
{
    struct rec rec = { { 1, 2, 3, 4, 5, 6, 7, 8 } };
    ring.ringbuf_output(&rec, sizeof(rec), 0);
    return XDP_PASS;
}
int fill_perf(struct xdp_md *ctx)
{
    struct rec rec = { { 1, 2, 3, 4, 5, 6, 7, 8 } };
    perf.perf_submit(ctx, &rec, sizeof(rec));
    return XDP_PASS;
}
"""


class _TestRunOpts(ct.Structure):
    """libbpf's struct bpf_test_run_opts (the fields up to batch_size)."""

    _fields_ = [
        ("sz", ct.c_size_t),
        ("data_in", ct.c_void_p),
        ("data_out", ct.c_void_p),
        ("data_size_in", ct.c_uint32),
        ("data_size_out", ct.c_uint32),
        ("ctx_in", ct.c_void_p),
        ("ctx_out", ct.c_void_p),
        ("ctx_size_in", ct.c_uint32),
        ("ctx_size_out", ct.c_uint32),
        ("retval", ct.c_uint32),
        ("repeat", ct.c_int),
        ("duration", ct.c_uint32),
        ("flags", ct.c_uint32),
        ("cpu", ct.c_uint32),
        ("batch_size", ct.c_uint32),
    ]


def filled(prog_fd: int, n: int) -> None:
    """Run the XDP producer ``n`` times on a 64-byte packet (setup, not timed)."""
    run = lib.bpf_prog_test_run_opts
    run.restype = ct.c_int
    run.argtypes = [ct.c_int, ct.POINTER(_TestRunOpts)]
    packet = ct.create_string_buffer(64)
    left = n
    while left:  # repeat is a u32; XDP with repeat waits for RCU once a call
        step = min(left, 1 << 20)
        opts = _TestRunOpts(sz=ct.sizeof(_TestRunOpts), repeat=step)
        opts.data_in = ct.cast(packet, ct.c_void_p)
        opts.data_size_in = 64
        if run(prog_fd, ct.byref(opts)) != 0:
            raise OSError(ct.get_errno(), "bpf_prog_test_run_opts failed")
        left -= step


def ringbuf_read(n: int) -> Result:
    n = min(n, (16 << 20) // 72)  # what the 16 MiB ring holds (64 + 8 header)
    with BPF(text=EVENTS_TEXT) as b:
        fill = b.load_func("fill_ring", BPF.XDP)
        got = 0

        def seen(ctx: Any, data: Any, size: int) -> None:
            nonlocal got
            got += 1

        b["ring"].open_ring_buffer(seen)
        filled(fill.fd, n)
        start = time.perf_counter_ns()
        b.ring_buffer_consume()
        result = since(got, start)
        assert got == n, (got, n)
        return result


def perfbuf_read(n: int) -> Result:
    n = min(n, 100_000)  # 80 bytes a sample: 8 MiB rings hold them all
    with BPF(text=EVENTS_TEXT) as b:
        fill = b.load_func("fill_perf", BPF.XDP)
        got = 0
        lost = 0

        def seen(cpu: int, data: Any, size: int) -> None:
            nonlocal got
            got += 1

        def dropped(count: int) -> None:
            nonlocal lost
            lost += count

        b["perf"].open_perf_buffer(seen, page_cnt=2048, lost_cb=dropped)
        filled(fill.fd, n)
        start = time.perf_counter_ns()
        b.perf_buffer_consume()
        result = since(got, start)
        result["lost"] = lost
        assert got + lost == n, (got, lost, n)
        return result


WORKLOADS: dict[str, tuple[Callable[[int], Result], int]] = {
    "array_lookup": (array_lookup, 200_000),
    "hash_update": (hash_update, 200_000),
    "outer_inner_lookup": (outer_inner_lookup, 50_000),
    "dump_hash": (dump_hash, 100_000),
    "swap_inner": (not_at_run_time("BPF_HASH(b_swap, u32, u64, 1024);"), 500),
    "churn": (not_at_run_time("BPF_ARRAY(b_churn, u32, 8);"), 1000),
    "ringbuf_read": (ringbuf_read, 200_000),
    "perfbuf_read": (perfbuf_read, 100_000),
}


# ---- bulk data (issue 21): dump_hash_columns, update_columns ----------------
# bcc's batch API: items_lookup_batch (BPF_MAP_LOOKUP_BATCH into arrays sized
# for the whole map, then a (key, value) pair per element) and
# items_update_batch (one BPF_MAP_UPDATE_BATCH from ctypes arrays).


def dump_hash_columns(n: int) -> Result:
    with BPF(text=f"BPF_HASH(b_dump, u32, u64, {n});") as b:
        table = b["b_dump"]
        fill(table, {k: k for k in range(n)})
        start = time.perf_counter_ns()
        count = total = 0
        for _, value in table.items_lookup_batch():
            count += 1
            total += value  # a c_uint64 array gives ints
        result = since(n, start)
        assert count == n and total == n * (n - 1) // 2, (count, total)
        return result


def update_columns(n: int) -> Result:
    with BPF(text="BPF_HASH(b_cols, u32, u64, 1048576);") as b:
        table = b["b_cols"]
        keys = (table.Key * n)(*range(n))
        values = (table.Leaf * n)(*range(n))
        start = time.perf_counter_ns()
        table.items_update_batch(keys, values)
        result = since(n, start)
        assert table[ct.c_uint(n - 1)].value == n - 1
        return result


WORKLOADS["dump_hash_columns"] = (dump_hash_columns, 100_000)
WORKLOADS["update_columns"] = (update_columns, 1_000_000)


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
