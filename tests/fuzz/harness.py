"""The fuzzing harness: seeds, resource limits and the oracle.

``check_one(data)`` parses ``data`` (an ELF object, or a ``.BTF`` blob) the
way a user would, then uses what came out, and raises :class:`FuzzFailure`
unless

- parsing succeeded, or raised :class:`bpfnest.ParseError` naming the file
  (and, for BTF, the section), whose cause, if any, is not a bug in bpfnest
  hidden by ``read_collection``'s last-resort ``except Exception``;
- it finished within :data:`TIME_LIMIT` seconds (``SIGALRM``);
- it allocated no more than :data:`MEMORY_LIMIT` bytes of address space
  (``RLIMIT_AS``), so a count taken from the input and trusted shows up as
  a ``MemoryError`` instead of taking the machine down.

``check_btf`` and ``check_ext`` do the same for the BTF and BTF.ext parsers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import bpfnest
from bpfnest import BPFError, CollectionSpec, ParseError
from bpfnest.btf import BTF, parse_ext
from bpfnest.btf.core import Relocator
from bpfnest.btf.format import decode

from .layout import section_bytes

#: Seconds one input may take. Seeds parse in ~3 ms; a mutant within 1000x that.
TIME_LIMIT = 5.0
#: Address space one input may add (bytes).
MEMORY_LIMIT = 1 << 30
FILE = "fuzz.o"
BPFNEST_DIR = str(Path(bpfnest.__file__).parent)
TESTS_DIR = Path(__file__).resolve().parent.parent
BPF_DIR = TESTS_DIR / "bpf"
#: The objects test_fuzz.py mutates in CI: one per reader feature, both byte orders.
CI_SEEDS = (
    "all_steps",
    "btf_kinds",
    "core",
    "core_fields",
    "globals",
    "kconfig",
    "legacy_maps",
    "outer_init",
    "tail_calls",
)


class FuzzFailure(AssertionError):
    """An input made a parser crash, hang, blow up, or give a bad error.

    ``signature`` identifies the bug (kind, exception type and where it
    was raised), to count distinct crashes.
    """

    def __init__(self, message: str, *, kind: str, signature: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.signature = signature


class _Timeout(BaseException):
    """Raised by SIGALRM. A BaseException so no ``except Exception`` eats it."""


# ------------------------------------------------------------------ limits


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def limits(seconds: float = TIME_LIMIT, memory: int = MEMORY_LIMIT) -> Iterator[None]:
    """Raise :class:`_Timeout` after ``seconds`` and refuse allocations past
    ``memory`` more bytes of address space (main thread only for the alarm)."""
    main = threading.current_thread() is threading.main_thread()
    old_handler: Any = None
    if main and seconds:

        def on_alarm(signum: int, frame: Any) -> None:
            raise _Timeout

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = _vm_size()
    if memory and used:
        cap = used + memory
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft == resource.RLIM_INFINITY or cap < soft:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        if main and seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            restore = old_handler if old_handler is not None else signal.SIG_DFL
            signal.signal(signal.SIGALRM, restore)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# ------------------------------------------------------------------ oracle


def _origin(tb: TracebackType | None) -> tuple[str, int, str]:
    """(file, line, function) where an exception was raised."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return ("?", 0, "?")
    last = frames[-1]
    return (last.filename, last.lineno or 0, last.name)


def _short(path: str) -> str:
    for marker in ("bpfnest/", "elftools/", "tests/"):
        i = path.rfind(marker)
        if i >= 0:
            return path[i:]
    return os.path.basename(path)


def _signature(kind: str, exc: BaseException) -> str:
    path, line, func = _origin(exc.__traceback__)
    return f"{kind}:{type(exc).__name__}@{_short(path)}:{line}:{func}"


def _fail_exception(exc: BaseException, what: str) -> FuzzFailure:
    if isinstance(exc, _Timeout):
        kind = "hang"
        text = f"{what} took more than {TIME_LIMIT} s"
    elif isinstance(exc, MemoryError):
        kind = "memory"
        text = f"{what} ran out of memory (over {MEMORY_LIMIT >> 20} MiB)"
    else:
        kind = "crash"
        text = f"{what} raised {type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return FuzzFailure(f"{text}\n{tb}", kind=kind, signature=_signature(kind, exc))


def check_error(err: ParseError, *, file: str, section: str | None = None) -> None:
    """Fail unless ``err`` is a proper ParseError: it names ``file`` (and
    ``section``), and is not a bpfnest bug (or a pyelftools error nobody
    translated) caught by ``read_collection``'s ``except Exception``."""
    text = str(err)
    if not err.message or err.file != file:
        raise FuzzFailure(
            f"ParseError without message or file: {text!r} (file {err.file!r})",
            kind="bad-error",
            signature=f"bad-error:file:{err.message[:40]}",
        )
    if section is not None and err.section != section:
        raise FuzzFailure(
            f"ParseError names section {err.section!r}, not {section!r}: {text}",
            kind="bad-error",
            signature=f"bad-error:section:{err.section}",
        )
    cause = err.__context__
    if cause is None or isinstance(cause, ParseError):
        return
    _, _, raised_in = _origin(err.__traceback__)
    origin, _, _ = _origin(cause.__traceback__)
    if isinstance(cause, (MemoryError, RecursionError)) or raised_in == "read_collection":
        if origin.startswith(BPFNEST_DIR):
            what = "a bpfnest bug"
        elif f"{os.sep}elftools{os.sep}" in origin:
            what = "an untranslated pyelftools error"
        else:
            what = f"an exception from {_short(origin)}"
        if isinstance(cause, (MemoryError, RecursionError)):
            what = f"a {type(cause).__name__}"
        failure = _fail_exception(cause, f"{what} behind the safety net ({text})")
        failure.kind = "memory" if isinstance(cause, MemoryError) else "net"
        failure.signature = _signature(failure.kind, cause)
        raise failure


def _guard(what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` under :func:`limits`; every exception but ParseError fails."""
    try:
        with limits():
            return fn()
    except (ParseError, FuzzFailure):
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise _fail_exception(exc, what) from None


def exercise_btf(btf: BTF, *, limit: int = 2000) -> None:
    """Use a parsed BTF the way callers do; only ParseError/ValueError (from
    ``decode``, for short values) may come out."""
    for t in btf.types[:limit]:
        repr(t)
        with contextlib.suppress(ParseError):
            btf.resolve(t)
        try:
            size = btf.sizeof(t)
        except ParseError:
            continue
        with contextlib.suppress(ParseError, ValueError):
            decode(btf, t, bytes(min(size, 256)))
    for t in btf.types[1:8]:
        if t.name:
            btf.named(t.name)


def exercise_spec(spec: CollectionSpec) -> None:
    """Use a parsed CollectionSpec: reprs, globals, BTF."""
    for m in spec.maps.values():
        repr(m)
    for p in spec.programs.values():
        repr(p)
    for name, var in spec.variables.items():
        if spec.maps[var.map].value_size <= 1 << 20:  # get_global may build the whole value
            spec.get_global(name)
    if spec.btf is not None:
        exercise_btf(spec.btf)
        # The CO-RE engine on the (mutated) records, against the object's own
        # BTF: a bad record or an unpatchable instruction is ParseError or
        # BPFError, never anything else.
        relocator = Relocator(spec.btf, spec.btf)
        for p in spec.programs.values():
            with contextlib.suppress(ParseError, BPFError):
                relocator.relocate(
                    p.name, p.instructions, p.core_relocations, byteorder=p.byteorder
                )


def check_elf(data: bytes, *, file: str = FILE) -> str:
    """Parse an ELF object; return "ok" or "error" (a proper ParseError)."""

    def run() -> None:
        spec = CollectionSpec.from_bytes(data, file=file)
        exercise_spec(spec)

    try:
        _guard("CollectionSpec.from_bytes", run)
    except ParseError as err:
        check_error(err, file=file)
        return "error"
    return "ok"


def check_btf(raw: bytes, *, base: BTF | None = None, file: str = "fuzz.btf") -> str:
    """Parse a .BTF blob (as split BTF on ``base`` when given)."""

    def run() -> None:
        exercise_btf(BTF.parse(raw, file=file, base=base))

    try:
        _guard("BTF.parse", run)
    except ParseError as err:
        check_error(err, file=file, section=".BTF")
        return "error"
    return "ok"


def check_ext(raw: bytes, btf: BTF, *, file: str = "fuzz.o") -> str:
    """Parse a .BTF.ext blob against ``btf``."""
    try:
        _guard("parse_ext", lambda: parse_ext(raw, btf, file=file))
    except ParseError as err:
        check_error(err, file=file, section=".BTF.ext")
        return "error"
    return "ok"


def check_one(data: bytes) -> str:
    """Check one input: an ELF object, else a .BTF blob. Returns "ok" or
    "error" (a proper ParseError); raises :class:`FuzzFailure` otherwise."""
    if data[:4] == b"\x7fELF":
        return check_elf(data)
    return check_btf(data)


# ------------------------------------------------------------------ seeds


@dataclasses.dataclass
class Seeds:
    """Seed inputs: whole objects, their .BTF, and (.BTF.ext, parsed .BTF) pairs."""

    names: list[str]
    elf: list[bytes]
    btf: list[bytes]
    ext: list[tuple[bytes, BTF]]

    def __repr__(self) -> str:
        return f"<Seeds: {len(self.elf)} objects, {len(self.btf)} .BTF, {len(self.ext)} .BTF.ext>"


def all_sources() -> list[str]:
    return sorted(p.stem for p in BPF_DIR.glob("*.c"))


def build_seeds(
    compile_bpf: Callable[[str, str], str],
    names: Sequence[str] | None = None,
    targets: Sequence[str] = ("bpfel", "bpfeb"),
) -> Seeds:
    """Compile ``names`` (default: every tests/bpf/*.c) with ``compile_bpf``
    (conftest's) for ``targets``, and cut out their .BTF and .BTF.ext."""
    seeds = Seeds([], [], [], [])
    for name in names if names is not None else all_sources():
        for target in targets:
            data = Path(compile_bpf(name, target)).read_bytes()
            seeds.names.append(f"{name}.{target}")
            seeds.elf.append(data)
            raw_btf = section_bytes(data, ".BTF")
            if raw_btf is None:
                continue
            seeds.btf.append(raw_btf)
            raw_ext = section_bytes(data, ".BTF.ext")
            if raw_ext is not None:
                seeds.ext.append((raw_ext, BTF.parse(raw_btf)))
    return seeds


def conftest_compiler() -> Callable[[str, str], str]:
    """conftest.compile_bpf, importable outside pytest too."""
    import sys

    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    from support import compile_bpf  # type: ignore[import-not-found]

    return compile_bpf  # type: ignore[no-any-return]
