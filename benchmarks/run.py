#!/usr/bin/env python3
"""The BENCH.md workloads through bpfnest's public API, on the real kernel.

    python benchmarks/run.py [--json] [--only NAME ...] [--scale F] [--compare]

Prints a table, or with ``--json`` one JSON object
``{"WORKLOAD": {"ops_per_s", "ns_per_op", "n", ...}, ...}``. ``--compare``
also runs the same workloads in C with libbpf (``benchmarks/c/bench.c``,
``gcc -O2 -lbpf``) and with bcc's Python API (``benchmarks/bcc/bench.py``
under the system ``/usr/bin/python3``; ``benchmarks/bcc/setup`` installs
bcc) and reports bpfnest's time as a ratio to each (``ratio_to_c``,
``ratio_to_bcc``). A peer that cannot run at all is reported as
``"_c"``/``"_bcc": {"unavailable": REASON}``; a workload one cannot do as
``"c_unavailable"``/``"bcc_unavailable": REASON`` in that workload's entry.
``--scale`` multiplies every n (for quick runs). ``--rounds N`` runs it all
(peers included) N times in turn and reports each workload's median run,
with every ratio the median of the runs' ratios (``ratio_to_*_runs`` lists
them). Needs root.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bpfnest import Map, MapSpec, MapType, OuterMap, map_ids  # noqa: E402


class _Sizes(TypedDict):
    key_size: int
    value_size: int


U32_U64: _Sizes = {"key_size": 4, "value_size": 8}

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


#: Rounds of a workload and the figure it is a ratio to (its floor, or an
#: untyped lookup), run in turn on the same map: this VM's speed drifts by
#: 10-30% within a run, more than the distances measured.
ROUNDS = 9


def side_by_side(
    n: int, ours: Callable[[int], Result], peer: Callable[[int], Result], name: str
) -> Result:
    """``ours`` and ``peer`` in turn, :data:`ROUNDS` rounds of ``n // ROUNDS``
    operations each (which goes first swaps each round): ours' median round,
    with ``{name}_ns_per_op`` the peer's median and ``ratio_to_{name}`` the
    median of the rounds' ratios (``..._rounds``: each one)."""
    each = max(1, n // ROUNDS)
    mine: list[Result] = []
    theirs: list[float] = []
    ratios: list[float] = []
    for r in range(ROUNDS):
        if r % 2:
            b = peer(each)
            a = ours(each)
        else:
            a = ours(each)
            b = peer(each)
        mine.append(a)
        theirs.append(b["ns_per_op"])
        ratios.append(a["ns_per_op"] / b["ns_per_op"])
    result = sorted(mine, key=lambda r: float(r["ns_per_op"]))[ROUNDS // 2]
    result["n"] = each * ROUNDS
    result[f"{name}_ns_per_op"] = statistics.median(theirs)
    result[f"ratio_to_{name}"] = statistics.median(ratios)
    result[f"ratio_to_{name}_rounds"] = [round(x, 3) for x in ratios]
    return result


def array_lookup(n: int) -> Result:
    """Lookups of key i % 1024 through a bound ``m.lookup``, beside the bare
    ctypes floor on the same map (``ratio_to_floor``)."""
    with Map.create(MapSpec(MapType.ARRAY, max_entries=1024, name="b_array", **U32_U64)) as m:
        m.update_batch({k: k for k in range(1024)})

        def ours(count: int) -> Result:
            lookup = m.lookup
            start = time.perf_counter_ns()
            for i in range(count):
                lookup(i % 1024)
            return since(count, start)

        return side_by_side(n, ours, lambda count: _floor_on(m, 1, count, 1024, False), "floor")


def hash_update(n: int) -> Result:
    """Updates of key i % 65536 = i through a bound ``m.update``, beside the
    bare ctypes floor on the same map (``ratio_to_floor``)."""
    with Map.create(MapSpec(MapType.HASH, max_entries=65536, name="b_hash", **U32_U64)) as m:

        def ours(count: int) -> Result:
            update = m.update
            start = time.perf_counter_ns()
            for i in range(count):
                update(i % 65536, i)
            return since(count, start)

        return side_by_side(n, ours, lambda count: _floor_on(m, 2, count, 65536, True), "floor")


def _outer_of_hashes(slots: int, inner_entries: int) -> OuterMap:
    """An ARRAY_OF_MAPS of ``slots`` inner HASHes of ``inner_entries`` entries k -> k + slot."""
    inner = MapSpec(MapType.HASH, max_entries=inner_entries, name="b_inner", **U32_U64)
    outer = Map.create(MapSpec(MapType.ARRAY_OF_MAPS, 4, 4, slots, name="b_outer", inner=inner))
    assert isinstance(outer, OuterMap)
    made = []
    try:
        for slot in range(slots):
            m = Map.create(inner)
            made.append(m)
            m.update_batch({k: k + slot for k in range(inner_entries)})
        outer.update_batch(dict(enumerate(made)))  # one RCU wait for all the slots
    except BaseException:
        outer.close()
        raise
    finally:
        for m in made:
            m.close()
    return outer


def outer_inner_lookup(n: int) -> Result:
    with _outer_of_hashes(64, 1024) as outer:
        inner_lookup = outer.inner_lookup  # the slot's id, then the element, cached inner fds
        start = time.perf_counter_ns()
        for i in range(n):
            inner_lookup(i % 64, i % 1024)
        return since(n, start)


def outer_inner_lookup_1000(n: int) -> Result:
    """1000 slots cycled: every inner map is opened once, then read through the cache."""
    with _outer_of_hashes(1000, 64) as outer:
        inner_lookup = outer.inner_lookup
        start = time.perf_counter_ns()
        for i in range(n):
            inner_lookup(i % 1000, 0)
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


UPDATE_BATCH_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from bpfnest import Map, MapSpec, MapType
n = int(sys.argv[1])
with Map.create(MapSpec(MapType.HASH, 4, 8, n, name="b_batch")) as m:
    items = {k: k for k in range(n)}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter_ns()
    count = m.update_batch(items)
    elapsed = time.perf_counter_ns() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert count == n and m[n - 1] == (n - 1).to_bytes(8, "little"), count
print(json.dumps({"n": n, "ns_per_op": elapsed / n, "ops_per_s": n * 1e9 / elapsed,
                  "rss_growth_mb": (peak - base) / 1024}))
"""


def update_batch_1m(n: int) -> Result:
    """One update_batch of n u32 -> u64 into a HASH, in a fresh process.

    A fresh process, so that its peak RSS (``ru_maxrss``) grows only by what
    update_batch needs: the dict given to it is built before the baseline.
    """
    res = subprocess.run(
        [sys.executable, "-c", UPDATE_BATCH_CHILD, str(n), os.path.dirname(HERE)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"update_batch_1m failed: {_tail(res.stderr)}")
    result: Result = json.loads(res.stdout)
    return result


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


def _ours(ids: set[int], names: set[str]) -> set[int]:
    """The maps of ``ids`` still alive that have one of ``names`` (this run's own):
    maps another process creates meanwhile are not this run's leak."""
    found = set()
    for map_id in ids:
        try:
            with Map.from_id(map_id) as m:
                if m.name in names:
                    found.add(map_id)
        except (OSError, ValueError):
            continue  # gone meanwhile
    return found


def churn(n: int) -> Result:
    fds, maps = _fd_count(), set(map_ids())
    tag = f"b_ch{os.getpid()}"[:15]  # this run's maps, whatever else runs
    inner = MapSpec(MapType.ARRAY, 4, 4, 8, name=tag)
    with Map.create(MapSpec(MapType.HASH_OF_MAPS, 4, 4, 1024, name="b_outer", inner=inner)) as o:

        def op(i: int) -> None:
            with Map.create(inner) as m:
                o[i % 1024] = m
            del o[i % 1024]

        result = timed(n, op)
    deadline = time.monotonic() + 5
    while (leaked := _ours(set(map_ids()) - maps, {tag})) and time.monotonic() < deadline:
        time.sleep(0.01)
    result["leaked_fds"] = _fd_count() - fds
    result["leaked_maps"] = len(leaked)
    return result


def many_maps_c(n: int) -> str:
    """C for an object of ``n`` BTF-defined ARRAY maps and one ARRAY_OF_MAPS
    that declares ``n`` slots, ``.values = {[i] = &m<i>}`` (tests use it too)."""
    lines = [
        "#include <linux/bpf.h>",
        "#include <bpf/bpf_helpers.h>",
        "struct inner {",
        "\t__uint(type, BPF_MAP_TYPE_ARRAY);",
        "\t__uint(max_entries, 1);",
        "\t__type(key, __u32);",
        "\t__type(value, __u32);",
        "};",
        *(f'struct inner m{i} SEC(".maps");' for i in range(n)),
        "struct {",
        "\t__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);",
        f"\t__uint(max_entries, {n});",
        "\t__type(key, __u32);",
        "\t__array(values, struct inner);",
        '} outer SEC(".maps") = { .values = {',
        *(f"\t[{i}] = &m{i}," for i in range(n)),
        "} };",
        'char LICENSE[] SEC("license") = "GPL";',
    ]
    return "\n".join(lines) + "\n"


def compile_c(source: str, tmp: str) -> str:
    """Compile BPF C with clang (-O2 -g -target bpf); the object's path."""
    clang = shutil.which("clang")
    if clang is None:
        raise SystemExit("clang is not installed (apt-get install clang)")
    multiarch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    src, obj = os.path.join(tmp, "obj.c"), os.path.join(tmp, "obj.o")
    with open(src, "w") as f:
        f.write(source)
    flags = ["-I", f"/usr/include/{multiarch}"] if multiarch else []
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", *flags, "-c", src, "-o", obj], check=True)
    return obj


#: parse_maps reports whether parsing stayed within this per-map time, far
#: above what n log n costs (~80 us a map here), far below what the old
#: quadratic reader took at 10,000 maps (~1.3 ms a map, 13 s in all).
PARSE_BOUND_NS_PER_MAP = 500_000


def parse_maps(n: int) -> Result:
    """Parse an object of n maps whose outer map declares n slots (the clang run is not timed)."""
    from bpfnest import CollectionSpec

    with tempfile.TemporaryDirectory() as tmp:
        obj = compile_c(many_maps_c(n), tmp)
        start = time.perf_counter_ns()
        spec = CollectionSpec.from_file(obj)
        result = since(n, start)
    assert len(spec.maps) == n + 1 and len(spec.maps["outer"].contents or {}) == n
    result["bound_ns_per_op"] = PARSE_BOUND_NS_PER_MAP
    result["within_bound"] = result["ns_per_op"] <= PARSE_BOUND_NS_PER_MAP
    return result


def object_c(maps: int = 100, programs: int = 20, touched: int = 5) -> str:
    """C for an object of ``maps`` BTF-defined maps (HASH u32 -> u64) and
    ``programs`` XDP programs, program ``p`` updating maps ``p*touched ..
    p*touched + touched - 1`` (mod ``maps``): the object_load workload."""
    lines = [
        "#include <linux/bpf.h>",
        "#include <bpf/bpf_helpers.h>",
        "struct u32_u64 {",
        "\t__uint(type, BPF_MAP_TYPE_HASH);",
        "\t__uint(max_entries, 64);",
        "\t__type(key, __u32);",
        "\t__type(value, __u64);",
        "};",
        *(f'struct u32_u64 m{i} SEC(".maps");' for i in range(maps)),
    ]
    for p in range(programs):
        lines += [
            f'SEC("xdp") int prog{p}(struct xdp_md *ctx)',
            "{",
            "\t__u32 k = ctx->ingress_ifindex;",
        ]
        for t in range(touched):
            m = (p * touched + t) % maps
            lines.append(f"\t{{ __u64 v = {t}; bpf_map_update_elem(&m{m}, &k, &v, BPF_ANY); }}")
        lines += ["\treturn XDP_PASS;", "}"]
    lines.append('char LICENSE[] SEC("license") = "GPL";')
    return "\n".join(lines) + "\n"


def object_load(n: int, obj: str | None = None) -> Result:
    """from_file + load + close of the object_c() object, in-process (clang is not timed)."""
    from bpfnest import CollectionSpec

    with tempfile.TemporaryDirectory() as tmp:
        obj = obj or compile_c(object_c(), tmp)

        def op(i: int) -> None:
            CollectionSpec.from_file(obj).load().close()

        op(0)  # warm: pyelftools and the loader imported, the object in the page cache
        return timed(n, op)


#: map_list's maps: as many as BENCH.md says, whatever the scale.
MAP_LIST_MAPS = 1000


_PYCACHE = tempfile.mkdtemp(prefix="bpfnest-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, True)


def _python_env() -> dict[str, str]:
    """The environment of a timed Python child: this checkout first on the path,
    bytecode written and read (under a private PYTHONPYCACHEPREFIX, filled by
    the warm run), whatever PYTHONDONTWRITEBYTECODE says here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": os.path.dirname(HERE), "PYTHONPYCACHEPREFIX": _PYCACHE}


def _wall(n: int, argv: list[str], env: dict[str, str] | None = None) -> float:
    """Mean wall time in ns of ``n`` runs of ``argv`` (after one warm run); output discarded."""
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    start = time.perf_counter_ns()
    for _ in range(n):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return (time.perf_counter_ns() - start) / n


def map_list(n: int) -> Result:
    """``bpfnest map list`` as a process with 1000 maps of this process alive;
    its peer ``bpftool map list`` measured in the same run (``ratio_to_bpftool``)."""
    spec = MapSpec(MapType.ARRAY, max_entries=1, name="b_list", key_size=4, value_size=8)
    made: list[Map[Any]] = []
    try:
        for _ in range(MAP_LIST_MAPS):
            made.append(Map.create(spec))
        ns = _wall(n, [sys.executable, "-m", "bpfnest", "map", "list"], _python_env())
        result: Result = {"n": n, "ns_per_op": ns, "ops_per_s": 1e9 / ns, "maps": len(made)}
        bpftool = shutil.which("bpftool")
        if bpftool is None:
            result["bpftool_unavailable"] = "bpftool is not installed"
        else:
            result["bpftool_ns_per_op"] = theirs = _wall(n, [bpftool, "map", "list"])
            result["ratio_to_bpftool"] = ns / theirs
        return result
    finally:
        for m in made:
            m.close()


def _raw_ratio(result: Result, raw: Result) -> Result:
    result["raw_ns_per_op"] = raw["ns_per_op"]
    result["ratio_to_raw"] = result["ns_per_op"] / raw["ns_per_op"]
    return result


def map_create(n: int) -> Result:
    """``Map.create`` + close of a small ARRAY against the raw ``_sys.ops`` calls."""
    from bpfnest._sys import ops

    spec = MapSpec(MapType.ARRAY, max_entries=8, name="b_create", **U32_U64)
    result = timed(n, lambda i: Map.create(spec).close())

    def raw(i: int) -> None:
        ops.map_create(
            map_type=MapType.ARRAY, key_size=4, value_size=8, max_entries=8, map_name=b"b_create"
        ).close()

    return _raw_ratio(result, timed(n, raw))


def map_open_id(n: int) -> Result:
    """``Map.from_id`` + close against the raw BPF_MAP_GET_FD_BY_ID + close."""
    from bpfnest._sys import ops
    from bpfnest._sys.uapi import Cmd

    spec = MapSpec(MapType.ARRAY, max_entries=8, name="b_open", **U32_U64)
    with Map.create(spec) as m:
        map_id = m.id
        result = timed(n, lambda i: Map.from_id(map_id).close())
        raw = timed(n, lambda i: ops.get_fd_by_id(Cmd.MAP_GET_FD_BY_ID, map_id).close())
    return _raw_ratio(result, raw)


def import_bpfnest(n: int) -> Result:
    """Wall time of ``python -c 'import bpfnest'`` over ``python -c pass`` (bytecode cached)."""
    env = _python_env()
    bare = _wall(n, [sys.executable, "-c", "pass"], env)
    full = _wall(n, [sys.executable, "-c", "import bpfnest"], env)
    over = max(full - bare, 1.0)
    return {"n": n, "ns_per_op": over, "ops_per_s": 1e9 / over, "bare_ns": bare, "full_ns": full}


WORKLOADS: dict[str, tuple[Callable[[int], Result], int]] = {
    "array_lookup": (array_lookup, 200_000),
    "hash_update": (hash_update, 200_000),
    "outer_inner_lookup": (outer_inner_lookup, 50_000),
    "outer_inner_lookup_1000": (outer_inner_lookup_1000, 20_000),
    "dump_hash": (dump_hash, 100_000),
    "items_rss": (items_rss, 1_000_000),
    "update_batch_1m": (update_batch_1m, 1_000_000),
    "swap_inner": (swap_inner, 500),
    "churn": (churn, 1000),
    "parse_maps": (parse_maps, 10_000),
    "object_load": (object_load, 20),
    "map_list": (map_list, 5),
    "map_create": (map_create, 20_000),
    "map_open_id": (map_open_id, 20_000),
    "import_bpfnest": (import_bpfnest, 20),
}


def _tail(text: str, limit: int = 600) -> str:
    """The end of a peer's stderr, where its error is."""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


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
        if "object_load" in names:
            args += ["--object", compile_c(object_c(), tmp)]
        res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            return f"run failed: {res.stderr.strip()[:300]}"
        data: dict[str, Result] = json.loads(res.stdout)
        return data


BCC_PYTHON = "/usr/bin/python3"  # Debian's python3-bpfcc is for the system Python


def run_bcc(names: list[str], scale: float, python: str = BCC_PYTHON) -> dict[str, Result] | str:
    """Run benchmarks/bcc/bench.py; the JSON it prints, or why bcc could not run."""
    setup = "run benchmarks/bcc/setup as root"
    if not os.access(python, os.X_OK):
        return f"no {python}: bcc's Python bindings need the system Python ({setup})"
    # Not this interpreter's path settings: the system Python has its own packages.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = subprocess.run([python, "-c", "import bcc"], capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        return f"'import bcc' fails under {python} ({setup}): {_tail(probe.stderr, 300)}"
    build = f"/lib/modules/{os.uname().release}/build"
    if not os.path.isdir(build):
        return f"no kernel headers at {build}, which bcc compiles against ({setup})"
    args = [python, os.path.join(HERE, "bcc", "bench.py"), "--scale", str(scale)]
    for name in names:
        args += ["--only", name]
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return f"run failed (exit {res.returncode}): {_tail(res.stderr)}"
    data: dict[str, Result] = json.loads(res.stdout)
    return data


def add_peer(
    results: dict[str, Result], peer: str, data: dict[str, Result] | str, label: str
) -> None:
    """Put a peer's figures into ``results``: ``PEER_ns_per_op`` and ``ratio_to_PEER``.

    A peer that could not run becomes ``results["_PEER"] = {"unavailable": why}``;
    a workload it cannot do, or does not have, gets ``PEER_unavailable: why``.
    """
    if isinstance(data, str):
        results[f"_{peer}"] = {"unavailable": data}
        return
    for name, r in results.items():
        if name.startswith("_"):
            continue
        theirs = data.get(name)
        if theirs is None:
            r[f"{peer}_unavailable"] = f"{label} has no such workload (not a BENCH.md peer one)"
        elif "unavailable" in theirs:
            r[f"{peer}_unavailable"] = theirs["unavailable"]
        else:
            r[f"{peer}_ns_per_op"] = theirs["ns_per_op"]
            r[f"ratio_to_{peer}"] = r["ns_per_op"] / theirs["ns_per_op"]
            if "rss_growth_mb" in theirs:
                r[f"{peer}_rss_growth_mb"] = theirs["rss_growth_mb"]


def print_table(results: dict[str, Result]) -> None:
    print(f"{'workload':<24} {'n':>8} {'ns/op':>12} {'ops/s':>12} {'x C':>7} {'x bcc':>7}")
    notes = []
    for name, r in results.items():
        if name.startswith("_"):
            notes.append(f"{name[1:]}: unavailable: {r['unavailable']}")
            continue
        ratios = []
        for peer, label in (("c", "C"), ("bcc", "bcc")):
            if f"ratio_to_{peer}" in r:
                ratios.append(f"{r[f'ratio_to_{peer}']:.2f}")
            elif f"{peer}_unavailable" in r:
                ratios.append("n/a")
                notes.append(f"{name} ({label}): {r[f'{peer}_unavailable']}")
            else:
                ratios.append("-")
        extra = ""
        if "rss_growth_mb" in r:
            extra = f"  RSS growth {r['rss_growth_mb']:.1f} MB"
            if "c_rss_growth_mb" in r:
                extra += f" (C {r['c_rss_growth_mb']:.1f} MB)"
        if "within_bound" in r:
            extra = f"  {'within' if r['within_bound'] else 'OVER'} the bound of"
            extra += f" {r['bound_ns_per_op']} ns/op"
        if "ratio_to_bpftool" in r:
            extra = f"  x bpftool map list {r['ratio_to_bpftool']:.2f}"
        if "ratio_to_untyped" in r:
            extra = f"  x an untyped lookup {r['ratio_to_untyped']:.2f}"
            extra += f" (rounds {', '.join(f'{x:.2f}' for x in r['ratio_to_untyped_rounds'])})"
        if "ratio_to_raw" in r:
            extra = f"  x the raw _sys.ops calls {r['ratio_to_raw']:.2f}"
        if "ratio_to_floor" in r:
            extra = f"  x the bare ctypes floor {r['ratio_to_floor']:.2f}"
            extra += f" (rounds {', '.join(f'{x:.2f}' for x in r['ratio_to_floor_rounds'])})"
        if "ratio_to_bcc_batch" in r:
            extra = f"  x bcc items_lookup_batch {r['ratio_to_bcc_batch']:.2f}"
        for key in sorted(k for k in r if k.endswith("_runs")):  # with --rounds
            runs = ", ".join(f"{x:.2f}" for x in r[key])
            extra += f"  [{key.removeprefix('ratio_to_').removesuffix('_runs')} runs: {runs}]"
        if "bare_ns" in r:
            extra = f"  (python -c pass {r['bare_ns'] / 1e6:.1f} ms)"
        if "leaked_fds" in r:
            extra = f"  leaked fds {r['leaked_fds']}, maps {r['leaked_maps']}"
        if "full_parse_ms" in r:
            extra += f"  ({r['ms']:.0f} ms; a full parse {r['full_parse_ms']:.0f} ms)"
        print(
            f"{name:<24} {r['n']:>8} {r['ns_per_op']:>12.0f} {r['ops_per_s']:>12.0f}"
            f" {ratios[0]:>7} {ratios[1]:>7}{extra}"
        )
    for note in notes:
        print(note)


def one_round(names: list[str], scale: float, compare: bool) -> dict[str, Result]:
    """Every workload of ``names`` once, then (``compare``) the peers'."""
    results: dict[str, Result] = {}
    for name in names:
        fn, n = WORKLOADS[name]
        results[name] = fn(max(1, int(n * scale)))
    if compare:
        add_peer(results, "c", run_c(names, scale), "benchmarks/c/bench.c")
        bcc = run_bcc(names + ["dump_hash_columns"] * ("dump_hash" in names), scale)
        add_peer(results, "bcc", bcc, "benchmarks/bcc/bench.py")
        batch = bcc.get("dump_hash_columns") if isinstance(bcc, dict) else None
        if "dump_hash" in results and batch and "ns_per_op" in batch:
            # issue 21's yardstick for items(): bcc's items_lookup_batch
            results["dump_hash"]["bcc_batch_ns_per_op"] = batch["ns_per_op"]
            results["dump_hash"]["ratio_to_bcc_batch"] = (
                results["dump_hash"]["ns_per_op"] / batch["ns_per_op"]
            )
    return results


def median_of(runs: list[dict[str, Result]]) -> dict[str, Result]:
    """Each workload's median run (by ns/op), its ``ratio_to_*`` figures the
    medians of the runs' (``..._runs``: each one, where there are several)."""
    merged: dict[str, Result] = {}
    for name in runs[0]:
        each = [r[name] for r in runs if name in r]
        if name.startswith("_"):
            merged[name] = each[0]
            continue
        result = dict(sorted(each, key=lambda r: float(r["ns_per_op"]))[len(each) // 2])
        for key in each[0]:
            if key.startswith("ratio_to_") and not key.endswith("_rounds"):
                values = [float(r[key]) for r in each if key in r]
                result[key] = statistics.median(values)
                if len(each) > 1:
                    result[f"{key}_runs"] = [round(x, 3) for x in values]
        merged[name] = result
    return merged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.add_argument("--only", action="extend", nargs="+", choices=sorted(WORKLOADS))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--compare", action="store_true")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run everything (peers too) this many times; report the medians",
    )
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    names = args.only or list(WORKLOADS)
    results = median_of([one_round(names, args.scale, args.compare) for _ in range(args.rounds)])
    if args.json:
        json.dump(results, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print_table(results)
    return 0


# ------------------------------------------------------------------ events (issue 15)
# ringbuf_read / perfbuf_read: a ring (perf buffer) pre-filled with 64-byte
# records by an XDP program run through BPF_PROG_TEST_RUN with repeat, then
# drained through the public readers. The producer is tests/bpf/bench_events.c,
# compiled here with clang.


def _events_object() -> str:
    """tests/bpf/bench_events.c compiled with clang; the object's path."""
    bpf_dir = os.path.join(os.path.dirname(HERE), "tests", "bpf")
    out = os.path.join(tempfile.mkdtemp(prefix="bpfnest-bench-"), "bench_events.o")
    multiarch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    flags = ["-I", f"/usr/include/{multiarch}"] if multiarch else []
    src = os.path.join(bpf_dir, "bench_events.c")
    subprocess.run(
        ["clang", "-O2", "-g", "-target", "bpfel", "-I", bpf_dir, *flags, "-c", src, "-o", out],
        check=True,
    )
    return out


def _filled(coll: Any, prog: str, n: int) -> None:
    left = n
    while left:  # test_run's repeat is a u32; XDP with repeat waits for RCU once a call
        step = min(left, 1 << 20)
        coll.programs[prog].test_run(bytes(64), repeat=step)
        left -= step


def ringbuf_read(n: int) -> Result:
    from bpfnest import CollectionSpec, RingBuffer

    obj = _events_object()
    try:
        n = min(n, (16 << 20) // 72)  # what the 16 MiB ring holds (64 + 8 header)
        with CollectionSpec.from_file(obj).load() as coll, RingBuffer(coll.maps["ring"]) as rb:
            _filled(coll, "fill_ring", n)
            start = time.perf_counter_ns()
            got = 0
            poll = rb.poll
            while k := poll(lambda view: None, 0):
                got += k
            result = since(got, start)
            _filled(coll, "fill_ring", n)
            read = rb.read
            start = time.perf_counter_ns()
            for _ in range(n):
                read(0)
            result["read_ns_per_op"] = since(n, start)["ns_per_op"]
            return result
    finally:
        shutil.rmtree(os.path.dirname(obj), ignore_errors=True)


def perfbuf_read(n: int) -> Result:
    from bpfnest import CollectionSpec, PerfBuffer

    obj = _events_object()
    try:
        n = min(n, 100_000)  # 80 bytes a sample: 8 MiB rings hold them all
        with (
            CollectionSpec.from_file(obj).load() as coll,
            PerfBuffer(coll.maps["perf"], pages=2048) as pb,
        ):
            _filled(coll, "fill_perf", n)
            start = time.perf_counter_ns()
            got = 0
            poll = pb.poll
            while k := poll(lambda record: None, 0):
                got += k
            result = since(got, start)
            result["lost"] = pb.lost
            return result
    finally:
        shutil.rmtree(os.path.dirname(obj), ignore_errors=True)


WORKLOADS["ringbuf_read"] = (ringbuf_read, 200_000)
WORKLOADS["perfbuf_read"] = (perfbuf_read, 100_000)


# ------------------------------------------------------------------ typed data (issue 17)
# typed_lookup: a HASH with a 16-byte struct key and a 24-byte struct value
# (BTF from clang -g), read through Map.typed()[key] with a key of the
# generated class; the same map read untyped (bytes key, bytes value) in the
# same run gives ratio_to_untyped (target <= 1.3). mmap_read: an F_MMAPABLE
# ARRAY of 1024 u64 read through Map.mmap() (C twin: bpf_map_lookup_elem).

TYPED_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct flow { __u32 saddr, daddr; __u16 sport, dport; __u8 proto, pad[3]; };
struct stats { __u64 packets, bytes; __u32 last_seen, flags; };
struct {
\t__uint(type, BPF_MAP_TYPE_HASH);
\t__uint(max_entries, 1024);
\t__type(key, struct flow);
\t__type(value, struct stats);
} flows SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
"""


def typed_lookup(n: int) -> Result:
    from bpfnest import CollectionSpec

    with tempfile.TemporaryDirectory() as tmp:
        spec = CollectionSpec.from_file(compile_c(TYPED_C, tmp))
    with spec.load() as coll:
        m = coll.maps["flows"]
        tm = m.typed()
        flow, stats = tm.key_class, tm.value_class
        keys = [flow(saddr=i, daddr=i + 1, sport=i % 65536, dport=80, proto=6) for i in range(1024)]
        tm.update_batch({k: stats(packets=i, bytes=64 * i) for i, k in enumerate(keys)})
        raw_keys = [bytes(k) for k in keys]

        return side_by_side(
            n,
            lambda count: _cycle(tm.__getitem__, keys, count),
            lambda count: _cycle(m.lookup, raw_keys, count),
            "untyped",
        )


def _cycle(op: Callable[[Any], object], keys: list[Any], count: int) -> Result:
    """``count`` calls of ``op`` (bound once) on ``keys`` in turn."""
    size = len(keys)
    start = time.perf_counter_ns()
    for i in range(count):
        op(keys[i % size])
    return since(count, start)


def mmap_read(n: int) -> Result:
    from bpfnest import F_MMAPABLE

    spec = MapSpec(MapType.ARRAY, max_entries=1024, name="b_mmap", flags=F_MMAPABLE, **U32_U64)
    with Map.create(spec) as m:
        m.update_batch({k: k for k in range(1024)})
        view = m.mmap()
        values = view.cast("Q")
        try:
            start = time.perf_counter_ns()
            for i in range(n):
                values[i % 1024]
            return since(n, start)
        finally:
            values.release()
            view.release()


WORKLOADS["typed_lookup"] = (typed_lookup, 200_000)
WORKLOADS["mmap_read"] = (mmap_read, 1_000_000)


# ------------------------------------------------------------------ kernel BTF (issue 16)
# kernel_btf_lookup: in a fresh process (bpfnest imported first, not timed),
# the first lookup of struct task_struct's member pid in the kernel's BTF:
# read and index /sys/kernel/btf/vmlinux, find the struct, walk its members.
# Reported: wall ms, RSS growth (current RSS, /proc/self/statm, before and
# after) and the ms of the full parse it replaces, measured in the same run.

KERNEL_BTF_CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from bpfnest._kernel_btf import kernel_btf
from bpfnest.btf import BTF, Struct
base = rss()
start = time.perf_counter_ns()
task = kernel_btf().find("task_struct", Struct)
pid = next(m for m in task.members if m.name == "pid")
elapsed = time.perf_counter_ns() - start
grown = rss() - base
out = {"ms": elapsed / 1e6, "rss_growth_mb": grown / 2**20, "pid_offset": pid.bit_offset // 8}
if sys.argv[2] == "full":
    start = time.perf_counter_ns()
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        full = BTF.parse(f.read())
    full.find("task_struct", Struct)
    out["full_parse_ms"] = (time.perf_counter_ns() - start) / 1e6
print(json.dumps(out))
"""


def kernel_btf_lookup(n: int) -> Result:
    """The first kernel BTF lookup in a fresh process (n processes; the mean)."""
    runs = []
    for i in range(n):
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                KERNEL_BTF_CHILD,
                os.path.dirname(HERE),
                "full" if i == 0 else "lazy",
            ],
            capture_output=True,
            text=True,
            env=_python_env(),
        )
        if res.returncode != 0:
            raise RuntimeError(f"kernel_btf_lookup failed: {_tail(res.stderr)}")
        runs.append(json.loads(res.stdout))
    ms = sum(r["ms"] for r in runs) / n
    return {
        "n": n,
        "ns_per_op": ms * 1e6,
        "ops_per_s": 1e3 / ms,
        "ms": ms,
        "rss_growth_mb": max(r["rss_growth_mb"] for r in runs),
        "full_parse_ms": runs[0]["full_parse_ms"],
        "target_ms": 100,
        "target_rss_mb": 50,
    }


WORKLOADS["kernel_btf_lookup"] = (kernel_btf_lookup, 3)

# ------------------------------------------------------------ bulk data (issue 21)
# dump_hash_columns / update_columns: the columnar API against C's batch calls
# and bcc's items_lookup_batch / items_update_batch. array_lookup_floor /
# hash_update_floor: the floor of any pure-Python library, a bare ctypes loop
# of bpf(2) with the attr and buffers built once, beside array_lookup and
# hash_update (``ratio_to_floor``).


def dump_hash_columns(n: int) -> Result:
    """The dump_hash map walked with Map.columns(): keys and values as buffers."""
    with Map.create(MapSpec(MapType.HASH, max_entries=n, name="b_dump", **U32_U64)) as m:
        m.update_batch({k: k for k in range(n)})
        start = time.perf_counter_ns()
        count = 0
        total = 0
        for keys, values in m.columns():
            count += len(keys) // 4
            total += sum(values.cast("Q"))
        result = since(n, start)
        assert count == n and total == n * (n - 1) // 2, (count, total)
        return result


def update_columns(n: int) -> Result:
    """One update_columns of n u32 -> u64 from array('I') / array('Q') into an empty HASH."""
    from array import array

    keys, values = array("I", range(n)), array("Q", range(n))
    with Map.create(MapSpec(MapType.HASH, max_entries=1 << 20, name="b_cols", **U32_U64)) as m:
        start = time.perf_counter_ns()
        count = m.update_columns(keys, values)
        result = since(n, start)
        assert count == n and m[n - 1] == (n - 1).to_bytes(8, "little"), count
        return result


def _floor_on(m: Map, cmd: int, n: int, entries: int, value: bool) -> Result:
    """n bpf(cmd) calls on u32 -> u64 map ``m``, as bare ctypes: one attr, one
    key and one value buffer built once; each op sets the key (and value),
    makes the call, checks it and reads the value (lookups)."""
    import ctypes

    from bpfnest._sys import NR
    from bpfnest._sys.uapi import MapElemAttr

    syscall = ctypes.CDLL(None, use_errno=True).syscall
    key, val = ctypes.c_uint32(), ctypes.c_uint64()
    attr = MapElemAttr(map_fd=m.fd, key=ctypes.addressof(key), value=ctypes.addressof(val))
    ref, size = ctypes.byref(attr), ctypes.sizeof(attr)
    start = time.perf_counter_ns()
    if value:  # update key i % entries = i
        for i in range(n):
            key.value = i % entries
            val.value = i
            if syscall(NR, cmd, ref, size) < 0:
                raise OSError(ctypes.get_errno(), "bpf(MAP_UPDATE_ELEM)")
    else:
        for i in range(n):
            key.value = i % entries
            if syscall(NR, cmd, ref, size) < 0:
                raise OSError(ctypes.get_errno(), "bpf(MAP_LOOKUP_ELEM)")
            val.value  # noqa: B018 (the value read, as a lookup returns it)
    return since(n, start)


def _floor_loop(map_type: MapType, cmd: int, n: int, entries: int, value: bool) -> Result:
    """:func:`_floor_on` on a fresh map (an ARRAY filled with k -> k)."""
    spec = MapSpec(map_type, max_entries=entries, name="b_floor", **U32_U64)
    with Map.create(spec) as m:
        if map_type == MapType.ARRAY:
            m.update_batch({k: k for k in range(entries)})
        return _floor_on(m, cmd, n, entries, value)


def array_lookup_floor(n: int) -> Result:
    """array_lookup as a bare ctypes loop (BPF_MAP_LOOKUP_ELEM = 1)."""
    return _floor_loop(MapType.ARRAY, 1, n, 1024, value=False)


def hash_update_floor(n: int) -> Result:
    """hash_update as a bare ctypes loop (BPF_MAP_UPDATE_ELEM = 2)."""
    return _floor_loop(MapType.HASH, 2, n, 65536, value=True)


WORKLOADS["dump_hash_columns"] = (dump_hash_columns, 100_000)
WORKLOADS["update_columns"] = (update_columns, 1_000_000)
WORKLOADS["array_lookup_floor"] = (array_lookup_floor, 200_000)
WORKLOADS["hash_update_floor"] = (hash_update_floor, 200_000)


if __name__ == "__main__":
    raise SystemExit(main())
