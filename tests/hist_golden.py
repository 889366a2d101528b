"""Golden histogram texts, printed by bcc itself, for tests/test_hist.py.

Run with a Python that has bcc (Debian: python3-bpfcc; not in the project's
venv nor in CI):

    /usr/bin/python3 tests/hist_golden.py > tests/hist_golden.json

Each case of CASES (count vectors, as ``bpfnest.format_log2_hist`` takes
them) goes through bcc's ``table._print_log2_hist([0] + counts, unit, None)``
and ``table._print_linear_hist(counts, unit, None)``, the functions behind
``print_log2_hist``/``print_linear_hist``; what they print is kept as data.
``--random N SEED`` prints N random cases with bcc's texts instead (the live
comparison of test_hist.py). Without bcc it says so on stderr and exits 3.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
from typing import Any

CASES: list[tuple[str, list[int], str]] = [
    ("empty", [], "value"),
    ("all zero", [0] * 32, "usecs"),
    ("slot 0 only", [5], "value"),
    ("single bucket", [0, 0, 0, 7], "usecs"),
    ("one count", [0, 1], "nsecs"),
    ("leading zeros", [0, 0, 0, 0, 3, 9, 27, 81, 2], "usecs"),
    ("runqlat-like", [0, 3, 12, 40, 215, 880, 401, 77, 12, 3, 0, 1], "usecs"),
    ("26 slots", [i * 3 % 11 for i in range(26)], "usecs"),
    ("32 slots full", [i + 1 for i in range(32)], "value"),
    ("slot 31 last", [1] + [0] * 30 + [4], "bytes"),
    ("slot 32 widens", [1] + [0] * 31 + [4], "bytes"),
    ("64 slots", [(i * 7919) % 97 for i in range(64)], "nsecs"),
    ("slot 63", [0] * 63 + [1], "value"),
    ("huge counts", [2**63 - 1, 2**40, 12345678901, 99999999, 1], "events"),
    ("trailing zeros", [4, 2, 1, 0, 0, 0, 0], "ms"),
    ("long unit", [1, 2, 3], "a rather long unit name here"),
    ("equal counts", [10, 10, 10, 10], "value"),
    ("star rounding", [39, 40, 41, 79, 80, 81, 1, 2], "value"),
]


def _bcc_texts(counts: list[int], unit: str) -> dict[str, str]:
    from bcc import table  # type: ignore[import-not-found]

    texts = {}
    for kind, fn, vals in (
        ("log2", table._print_log2_hist, [0, *counts]),
        ("linear", table._print_linear_hist, list(counts)),
    ):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn(vals, unit, None)
        texts[kind] = buf.getvalue()
    return texts


def _random_cases(n: int, seed: int) -> list[tuple[str, list[int], str]]:
    r = random.Random(seed)
    cases = []
    for i in range(n):
        size = r.choice([1, 2, 5, 26, 32, 33, 40, 64])
        counts = [
            r.choice([0, 0, 1, r.randrange(100), r.randrange(10**6), r.randrange(2**64)])
            for _ in range(size)
        ]
        cases.append((f"random {seed}/{i}", counts, r.choice(["value", "usecs", "kbytes"])))
    return cases


def main(argv: list[str]) -> int:
    try:
        import bcc  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as err:
        print(
            f"hist_golden: bcc is not importable here ({err}); apt-get install python3-bpfcc",
            file=sys.stderr,
        )
        return 3
    cases = _random_cases(int(argv[1]), int(argv[2])) if argv[:1] == ["--random"] else CASES
    out: list[dict[str, Any]] = [
        {"name": name, "counts": counts, "unit": unit, **_bcc_texts(counts, unit)}
        for name, counts, unit in cases
    ]
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
