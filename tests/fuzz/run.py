"""Long fuzzing runs: ``python -m tests.fuzz.run --minutes 30`` (from the repo root).

Engines:

- ``atheris`` (default when ``pip install atheris`` worked): libFuzzer,
  coverage-guided over bpfnest and pyelftools, with the structured mutators
  of :mod:`tests.fuzz.mutate` as its custom mutator (half the time; the
  other half libFuzzer's own byte mutations);
- ``random``: the same mutators driven by ``random.Random(seed)``, no
  coverage feedback; no extra dependency.

An input is a tag byte and a payload: ``E`` + an ELF object, ``B`` + a
``.BTF`` blob, ``X`` + the index of a seed's ``.BTF`` + a ``.BTF.ext`` blob.
Every failure is saved (input and report) in ``--out`` once per distinct
signature, and ``stats.json`` there is rewritten every few seconds with the
figures README.md asks for. ``--replay FILE...`` re-checks saved inputs.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TAGS = (b"E", b"B", b"X")


class Session:
    """Counts executions and failures, saves crashes, writes stats.json."""

    def __init__(self, out: Path, engine: str, seconds: float, seeds: Any) -> None:
        from . import harness, mutate

        self.h = harness
        self.m = mutate
        self.out = out
        self.seeds = seeds
        self.engine = engine
        self.seconds = seconds
        self.start = time.time()
        self.execs = 0
        self.outcomes = {"ok": 0, "error": 0}
        self.failures: dict[str, dict[str, Any]] = {}
        self.slowest = 0.0
        self.mutator_errors = 0
        self.last_write = 0.0
        out.mkdir(parents=True, exist_ok=True)
        self.ext_pool = [e for e, _ in seeds.ext]

    # -------------------------------------------------------- one input

    def check(self, data: bytes) -> None:
        tag, payload = data[:1], data[1:]
        t0 = time.perf_counter()
        try:
            if tag == b"E":
                outcome = self.h.check_elf(payload)
            elif tag == b"B":
                outcome = self.h.check_btf(payload)
            elif tag == b"X" and payload:
                _, btf = self.seeds.ext[payload[0] % len(self.seeds.ext)]
                outcome = self.h.check_ext(payload[1:], btf)
            else:
                outcome = self.h.check_one(payload)
            self.outcomes[outcome] += 1
        except self.h.FuzzFailure as failure:
            self.record(failure, data)
        took = time.perf_counter() - t0
        if took > self.slowest:
            self.slowest = took
            if took > 0.5:  # worth a look: keep the slowest input
                (self.out / "slowest.bin").write_bytes(data)
        self.execs += 1
        if time.time() - self.last_write > 5:
            self.write_stats()

    def record(self, failure: Any, data: bytes) -> None:
        sig = failure.signature
        entry = self.failures.get(sig)
        if entry is not None:
            entry["count"] += 1
            return
        digest = hashlib.sha1(data).hexdigest()[:12]
        name = f"{failure.kind}-{digest}"
        (self.out / f"{name}.bin").write_bytes(data)
        (self.out / f"{name}.txt").write_text(f"{sig}\n\n{failure}\n")
        self.failures[sig] = {
            "kind": failure.kind,
            "count": 1,
            "file": f"{name}.bin",
            "first": str(failure).splitlines()[0][:300],
            "after_s": round(time.time() - self.start, 1),
        }
        print(f"\n[fuzz] NEW {sig}\n  {self.failures[sig]['first']}", file=sys.stderr)
        self.write_stats()

    def write_stats(self) -> None:
        self.last_write = time.time()
        elapsed = time.time() - self.start
        stats = {
            "engine": self.engine,
            "date": datetime.datetime.fromtimestamp(self.start).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1),
            "budget_s": self.seconds,
            "execs": self.execs,
            "execs_per_s": round(self.execs / elapsed, 1) if elapsed else 0,
            "outcomes": self.outcomes,
            "slowest_input_s": round(self.slowest, 3),
            "mutator_errors": self.mutator_errors,
            "distinct_failures": len(self.failures),
            "failures": self.failures,
            "seeds": len(self.seeds.elf),
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
            },
        }
        tmp = self.out / "stats.json.tmp"
        tmp.write_text(json.dumps(stats, indent=2) + "\n")
        tmp.replace(self.out / "stats.json")

    # -------------------------------------------------------- mutation

    def seed_inputs(self) -> list[bytes]:
        out = [b"E" + d for d in self.seeds.elf]
        out += [b"B" + d for d in self.seeds.btf]
        out += [b"X" + bytes([i]) + e for i, (e, _) in enumerate(self.seeds.ext)]
        return out

    def structured(self, data: bytes, rnd: random.Random) -> bytes:
        try:
            return self._structured(data, rnd)
        except Exception as exc:  # a bug in the mutators: report it, keep fuzzing
            self.mutator_errors += 1
            if self.mutator_errors == 1:
                import traceback

                traceback.print_exc()
                print(f"[fuzz] mutator failed: {exc!r}", file=sys.stderr)
            return self.m.blind(data, rnd)

    def _structured(self, data: bytes, rnd: random.Random) -> bytes:
        tag, payload = data[:1], data[1:]
        if tag not in TAGS or not payload:
            return self.seed_inputs()[rnd.randrange(len(self.seed_inputs()))]
        if tag == b"E":
            return tag + self.m.mutate_elf(payload, rnd, self.seeds.elf)
        if tag == b"B":
            return tag + self.m.mutate_btf(payload, rnd, self.seeds.btf)
        idx = payload[0] % len(self.seeds.ext)
        btf = self.seeds.ext[idx][1].raw
        return tag + payload[:1] + self.m.mutate_ext(payload[1:], rnd, self.ext_pool, btf=btf)


def _load_seeds(quick: bool) -> Any:
    from . import harness

    names = harness.CI_SEEDS if quick else None
    return harness.build_seeds(harness.conftest_compiler(), names)


def run_random(args: argparse.Namespace, out: Path) -> Session:
    seeds = _load_seeds(args.quick)
    s = Session(out, "random", args.seconds, seeds)
    rnd = random.Random(args.seed)
    inputs = s.seed_inputs()
    for data in inputs:
        s.check(data)
    deadline = s.start + args.seconds
    while time.time() < deadline:
        s.check(s.structured(inputs[rnd.randrange(len(inputs))], rnd))
    s.write_stats()
    return s


def run_atheris(args: argparse.Namespace, out: Path) -> None:
    import importlib

    import atheris

    # Import what is fuzzed under instrumentation, before anything else does.
    with atheris.instrument_imports(include=["bpfnest", "elftools"]):
        for name in ("elftools.elf.elffile", "elftools.common.utils", "bpfnest", "bpfnest.elf"):
            importlib.import_module(name)
    seeds = _load_seeds(args.quick)
    s = Session(out, "atheris", args.seconds, seeds)
    corpus = out / "corpus"
    corpus.mkdir(exist_ok=True)
    for data in s.seed_inputs():
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)

    def test_one(data: bytes) -> None:
        s.check(data)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd = random.Random(seed)
        if rnd.random() < 0.5 and data[:1] in TAGS:
            return data[:1] + atheris.Mutate(data[1:], max(1, max_size - 1))
        result = s.structured(data, rnd)
        return result[:max_size]

    argv = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={int(args.seconds)}",
        "-timeout=0",  # the harness has its own SIGALRM limit
        "-rss_limit_mb=4096",
        "-max_len=262144",
        f"-seed={args.seed}",
        "-print_final_stats=1",
        f"-artifact_prefix={out}/",  # libFuzzer's own crash-*/slow-unit-* files
    ]
    import atexit

    atexit.register(s.write_stats)
    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


def replay(paths: list[str]) -> int:
    from . import harness

    seeds = harness.build_seeds(harness.conftest_compiler())
    s = Session(Path(tempfile.mkdtemp(prefix="bpfnest-replay-")), "replay", 0, seeds)
    bad = 0
    for p in paths:
        data = Path(p).read_bytes()
        before = len(s.failures)
        s.check(data)
        status = "FAIL" if len(s.failures) > before else "ok"
        bad += status == "FAIL"
        print(f"{status} {p}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float)
    g.add_argument("--minutes", type=float)
    p.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="where crashes and stats.json go (default: a new temp dir)")
    p.add_argument("--quick", action="store_true", help="only the CI seed objects")
    p.add_argument("--replay", nargs="+", metavar="FILE", help="re-check saved inputs")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    args.seconds = args.seconds or (args.minutes or 1) * 60
    out = Path(args.out or tempfile.mkdtemp(prefix="bpfnest-fuzz-"))
    engine = args.engine
    if engine == "auto":
        import importlib.util

        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    print(f"[fuzz] engine {engine}, {args.seconds:.0f} s, output in {out}", file=sys.stderr)
    if engine == "atheris":
        run_atheris(args, out)  # libFuzzer exits the process when done
        return 0
    s = run_random(args, out)
    print(json.dumps({k: v for k, v in json.loads((out / "stats.json").read_text()).items()}))
    return 1 if s.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
