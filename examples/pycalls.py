"""Count a child Python's function calls by name, through CPython's USDT probes.

Debian's ``python3.11`` is built with USDT probes (``bpfnest usdt list
/usr/bin/python3.11``): ``python:function__entry`` fires at each Python
function call, with the function's name as its second argument, but only
while a profile or trace function is set (CPython 3.11 tests that before it
fires) and only while a tracer holds the probe's semaphore. The script
starts a child interpreter that sets a no-op profile function and runs a
small workload, attaches ``on_entry`` (``pycalls.bpf.c``) to the probe of
that one process with ``Program.attach_usdt``, lets the child work, and
prints the calls by name from the ``calls`` hash map, first from Python,
then with the command line (``bpfnest map dump``). It checks the counts of
the workload's functions, which are known exactly.

Run it as root from the repository root: ``python examples/pycalls.py``
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from buildobj import build

from bpfnest import CollectionSpec, usdt_probes
from bpfnest.cli import main as bpfnest_cli

# The workload: fib(12) makes 465 calls of fib, and each round one of work().
CHILD = textwrap.dedent(
    """
    import sys

    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def work():
        return fib(12)

    sys.setprofile(lambda *args: None)  # CPython fires function probes only then
    print("ready", flush=True)
    for line in sys.stdin:
        for _ in range(int(line)):
            work()
        print("done", flush=True)
    """
)
ROUNDS = 3


def interpreter() -> str | None:
    """A python3 with the function__entry probe: this one, or Debian's python3.11."""
    for candidate in (sys.executable, "/usr/bin/python3.11", "/usr/bin/python3"):
        path = os.path.realpath(candidate)
        try:
            if any(p.name == "function__entry" for p in usdt_probes(path)):
                return path
        except (OSError, ValueError):  # absent, or not an ELF file
            continue
    return None


def main() -> None:
    python = interpreter()
    if python is None:
        print("no python3 with USDT probes here (Debian's python3.11 has them): nothing to count")
        return
    print(
        f"{python}: " + ", ".join(sorted({f"{p.provider}:{p.name}" for p in usdt_probes(python)}))
    )
    child = subprocess.Popen(
        [python, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        with CollectionSpec.from_file(build("pycalls")).load() as coll:
            prog = coll.programs["on_entry"]
            with prog.attach_usdt(python, "python", "function__entry", pid=child.pid) as link:
                print(f"attached to python:function__entry of pid {child.pid} (link {link.id})")
                child.stdin.write(f"{ROUNDS}\n")
                child.stdin.flush()
                assert child.stdout.readline().strip() == "done"
            calls = coll.maps["calls"]
            counts = {
                bytes(key).rstrip(b"\0").decode(): int.from_bytes(bytes(value), "little")
                for key, value in calls.items()
            }
            print("calls by function:")
            for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                print(f"  {n:6d}  {name}")
            assert counts["fib"] == 465 * ROUNDS, counts
            assert counts["work"] == ROUNDS, counts
            print(f"\n$ bpfnest map dump id {calls.id}")
            sys.stdout.flush()
            assert bpfnest_cli(["map", "dump", "id", str(calls.id)]) == 0
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()


if __name__ == "__main__":
    main()
