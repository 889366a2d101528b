"""The ``bpfnest`` command: argument parsing and formatting only.

``main(argv, out)`` returns the exit status: 0, 1 for an error (one line on
stderr, never a traceback), 2 for a usage error, 141 when the reader of the
output went away (``| head``; quiet, as coreutils). ``map dump`` streams:
memory stays bounded by one entry however large the map. What is shown comes from
:mod:`bpfnest.view` (and ``--json`` prints exactly that data). ``load
--attach`` without ``--pin`` holds its links until SIGINT or SIGTERM, then
detaches them and returns 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .. import __version__, _pins, view
from ..errors import BPFError
from ..maps import Map
from ..spec import MapSpec
from ._common import Usage, count, emit, selector
from ._events import map_events, seconds
from ._gen import gen_command, gen_parser
from ._hist import map_hist
from ._links import attach_all, link_command, pin_links, plan_attach, wait_for_stop
from ._usdt import usdt_command, usdt_parser

if TYPE_CHECKING:
    from ..collection import Collection
    from ..link import Link
    from ..spec import CollectionSpec

__all__ = ["main"]


def _show_line(s: dict[str, Any]) -> str:
    line = (
        f"{s['id']}: {s['type']}  name {s['name']}  flags {s['flags']:#x}\n"
        f"\tkey {s['bytes_key']}B  value {s['bytes_value']}B  max_entries {s['max_entries']}"
        f"  memlock {s['bytes_memlock']}B"
    )
    if s.get("frozen"):
        line += "  frozen"
    if "filled_slots" in s:
        line += f"  filled_slots {s['filled_slots']}"
    for path in s.get("pinned", []):
        line += f"\n\tpinned {path}"
    return line


def _found(n: int) -> str:
    return f"Found {n} element{'' if n == 1 else 's'}"


def _hex(words: list[str]) -> str:
    return " ".join(w[2:] for w in words)


def _entry_lines(e: dict[str, Any], indent: str) -> Iterator[str]:
    """The lines of one dump entry, without an outer entry's inner map."""
    if "inner_map_id" in e:
        yield f"{indent}key: {_hex(e['key'])}  inner_map_id: {e['inner_map_id']}"
    elif "values" in e:
        yield f"{indent}key: {_hex(e['key'])}"
        for v in e["values"]:
            yield f"{indent}\tvalue (CPU {v['cpu']:02d}): {_hex(v['value'])}"
    else:
        yield f"{indent}key: {_hex(e['key'])}  value: {_hex(e['value'])}"


def _write_dump(out: TextIO, entries: Iterable[dict[str, Any]], indent: str = "") -> int:
    """Write a dump's entries as text, one entry at a time; returns how many."""
    n = 0
    for e in entries:
        n += 1
        for line in _entry_lines(e, indent):
            out.write(line + "\n")
        inner = e.get("inner")
        if inner is not None:
            for sub in _show_line(inner).splitlines():
                out.write(f"{indent}    {sub.strip()}\n")
            found = _write_dump(out, inner["entries"], indent + "    ")
            out.write(f"{indent}    {_found(found)}\n")
        if "formatted" in e:
            out.write(f"{indent}  = {json.dumps(e['formatted'])}\n")
    return n


def _write_json(out: TextIO, data: Any) -> None:
    """``json.dump(data, out)``, byte for byte, except that an iterator is
    written as a JSON array item by item (never held whole)."""
    if isinstance(data, Iterator):
        out.write("[")
        for i, item in enumerate(data):
            if i:
                out.write(", ")
            _write_json(out, item)
        out.write("]")
    elif isinstance(data, dict) and any(isinstance(v, (dict, Iterator)) for v in data.values()):
        out.write("{")
        for i, (key, value) in enumerate(data.items()):
            out.write((", " if i else "") + json.dumps(key) + ": ")
            _write_json(out, value)
        out.write("}")
    else:
        out.write(json.dumps(data))  # one C call: json.dump writes piece by piece


def _tree_lines(trees: list[dict[str, Any]]) -> list[str]:
    lines = []
    for t in trees:
        tmpl = t["template"]
        what = (
            "template unknown (empty)"
            if tmpl == "unknown"
            else f"template {tmpl['type']} key {tmpl['bytes_key']}B value {tmpl['bytes_value']}B"
        )
        lines.append(f"{t['id']}: {t['type']} '{t['name']}' max_entries {t['max_entries']}, {what}")
        for i, s in enumerate(t["slots"]):
            branch = "└─" if i == len(t["slots"]) - 1 else "├─"
            where = f"[{s['slot']}]" if "slot" in s else f"key {_hex(s['key'])}"
            inner = s["inner"]
            count = "?" if inner["entries"] is None else inner["entries"]
            shared = "  (shared)" if inner["shared"] else ""
            lines.append(
                f"  {branch} {where} -> {inner['id']}: {inner['type']} '{inner['name']}'"
                f" key {inner['bytes_key']}B value {inner['bytes_value']}B"
                f" max_entries {inner['max_entries']}, {count} entries{shared}"
            )
    return lines


_LIST_COLUMNS = (
    ("ID", "id"),
    ("TYPE", "type"),
    ("NAME", "name"),
    ("FLAGS", "flags"),
    ("KEY", "bytes_key"),
    ("VALUE", "bytes_value"),
    ("MAX_ENTRIES", "max_entries"),
    ("MEMLOCK", "bytes_memlock"),
    ("SLOTS", "filled_slots"),
    ("PINNED", "pinned"),
)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key, "")
        if key == "flags":
            return f"{value:#x}"
        if key == "pinned":
            return ",".join(value) if value else ""
        return str(value)

    cells = [[h for h, _ in _LIST_COLUMNS]] + [[cell(r, k) for _, k in _LIST_COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_LIST_COLUMNS))]
    numeric = {
        "id",
        "flags",
        "bytes_key",
        "bytes_value",
        "max_entries",
        "bytes_memlock",
        "filled_slots",
    }
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if k in numeric else c.ljust(w)
            for c, w, (_, k) in zip(row, widths, _LIST_COLUMNS, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


def _map_list(args: argparse.Namespace, out: TextIO) -> None:
    rows = view.map_list(view.find_pins())
    emit(out, rows, args.json, _table(rows))


def _map_show(args: argparse.Namespace, out: TextIO) -> None:
    with view.open_map(*selector(args.map)) as m:
        s = view.map_show(m, view.find_pins())
    emit(out, s, args.json, [_show_line(s)])


def _map_dump(args: argparse.Namespace, out: TextIO) -> None:
    with view.open_map(*selector(args.map)) as m:
        entries = view.iter_dump(m, depth=args.depth, limit=args.limit)
        if args.json:
            _write_json(out, entries)
            out.write("\n")
        else:
            out.write(_found(_write_dump(out, entries)) + "\n")


def _map_tree(args: argparse.Namespace, out: TextIO) -> None:
    if args.map:
        with view.open_map(*selector(args.map)) as m:
            trees = view.map_tree(m)
    else:
        trees = view.map_tree()
    emit(out, trees, args.json, _tree_lines(trees) or ["no outer maps"])


def _prog(args: argparse.Namespace, out: TextIO) -> None:
    from ..programs import Program

    if args.prog_command == "show":
        how, what = selector(args.prog, "program", ("id", "pinned"))
        opened = Program.from_id(int(what)) if how == "id" else Program.from_pinned(what)
        with opened as p:
            rows = [view.prog_show(p, view.links_by_program())]
    else:
        rows = []
        links = view.links_by_program()
        for p in view.each_program():
            with p:
                rows.append(view.prog_show(p, links))
    data: Any = rows[0] if args.prog_command == "show" else rows
    lines = [
        f"{r['id']}: {r['type']}  name {r['name']}  tag {r['tag']}"
        + (f"  map_ids {','.join(map(str, r['map_ids']))}" if r["map_ids"] else "")
        + (f"  link_ids {','.join(map(str, r['link_ids']))}" if r["link_ids"] else "")
        for r in rows
    ]
    emit(out, data, args.json, lines)


def _need_inner(spec: CollectionSpec, inner: list[str]) -> None:
    """Refuse a legacy outer map without an inner map before anything is made,
    naming the option that gives one."""
    named = {item.partition("=")[0] for item in inner}
    for name, ms in spec.maps.items():
        if ms.type.is_outer and ms.inner is None and name not in named:
            raise ValueError(
                f"map '{name}': {ms.type.name} has no inner map definition (legacy"
                f' SEC("maps")): give a map to copy as its template with --inner {name}=ID|PATH'
            )


class _Signalled(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP came during ``load``: unwinds like Ctrl-C."""


_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_held() -> Iterator[Callable[[], None]]:
    """Hold SIGINT, SIGTERM and SIGHUP back while ``load`` works; yields a check
    that raises :class:`_Signalled` when one came.

    A signal raised as an exception at any bytecode could land inside the
    library's own bookkeeping (a lock taken, a pin made but not yet recorded),
    so they are blocked and looked at only between steps; the rollback then
    runs whole. When the block ends the held signal is delivered under its
    usual handler: SIGTERM and SIGHUP end the process, SIGINT raises
    KeyboardInterrupt. Only signals left to their default action are held (one
    ignored under ``nohup``, or handled by an embedding program, stays so),
    and only in the main thread.
    """
    defaults = (signal.SIG_DFL, signal.default_int_handler)
    held = {s for s in _STOPS if signal.getsignal(s) in defaults}
    if threading.current_thread() is not threading.main_thread() or not held:
        yield lambda: None
        return

    def check() -> None:
        came = held & signal.sigpending()
        if came:
            raise _Signalled(", ".join(sorted(signal.Signals(s).name for s in came)))

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield check
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _load(args: argparse.Namespace, out: TextIO) -> None:
    with _signals_held() as check:
        _load_object(args, out, check)


def _missing_dirs(top: str) -> list[str]:
    """The directories ``pin_all(top)`` is about to make, parents first."""
    missing = [os.path.join(top, s) for s in ("maps", "progs")]
    d = os.path.abspath(top)
    while not os.path.lexists(d) and d != os.path.dirname(d):
        missing.insert(0, d)
        d = os.path.dirname(d)
    return [m for m in missing if not os.path.lexists(m)]


def _unpin(paths: list[str], keep: set[str], made_dirs: list[str]) -> None:
    """Undo a ``pin_all`` that succeeded: unlink ``paths`` but ``keep``, then the
    directories in ``made_dirs`` (deepest last) that are left empty."""
    for path in paths:
        if path not in keep:
            with contextlib.suppress(OSError):
                os.unlink(path)
    for path in reversed(made_dirs):
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _pinned_by_name(specs: dict[str, MapSpec], maps_dir: str) -> dict[str, Map[Any]]:
    """The maps of ``specs`` already pinned in ``maps_dir``, each checked against
    its spec; the caller closes them."""
    from .. import _pins
    from ..collection import _check_compatible, pin_name

    found: dict[str, Map[Any]] = {}
    dir_fd = _pins.open_dir(maps_dir, create=False)
    if dir_fd is None:
        return found
    try:
        for name, ms in specs.items():
            _pins.check_name(name, "map")
            path = os.path.join(maps_dir, pin_name(name))
            m = _pins.reuse_pinned(dir_fd, pin_name(name), path)
            if m is not None:
                found[name] = m
                _check_compatible(m, ms, f"reuse pinned map '{name}' at {path}")
    except BaseException:
        for m in found.values():
            m.close()
        raise
    finally:
        os.close(dir_fd)
    return found


def _pin_everything(
    coll: Collection,
    links: list[tuple[str, Link]],
    top: str,
    keep: set[str],
    check: Callable[[], None],
) -> list[str]:
    """Pin the maps and programs of ``coll`` (``pin_all``) and ``links`` at
    ``top/links/NAME``; all or nothing: on any failure (a held signal
    included) what was pinned here is removed, but the pins in ``keep``.
    Returns the paths of the pins."""
    made_dirs = _missing_dirs(top)
    paths = coll.pin_all(top)
    pins = _pins.PinSet()
    with contextlib.ExitStack() as dirs:
        try:
            link_paths = pin_links(links, top, pins, made_dirs, dirs) if links else []
            check()
        except BaseException:
            pins.rollback()
            _unpin(paths, keep, made_dirs)
            raise
    return paths + link_paths


def _load_object(args: argparse.Namespace, out: TextIO, check: Callable[[], None]) -> None:
    from ..collection import pin_name
    from ..spec import PIN_BY_NAME, CollectionSpec

    if not args.attach and (args.iface is not None or args.cgroup is not None):
        raise Usage("--iface and --cgroup are the targets of --attach: add --attach")
    spec = CollectionSpec.from_file(args.object)
    _need_inner(spec, args.inner or [])
    given: list[Map[Any]] = []
    replace: dict[str, Map[Any]] = {}
    try:
        for item in args.inner or []:
            name, sep, where = item.partition("=")
            if not sep or name not in spec.maps:
                raise Usage(f"--inner takes MAP=ID|PATH with a map of the object, not {item!r}")
            m = Map.from_id(int(where)) if where.isdigit() else Map.from_pinned(where)
            given.append(m)
            spec.maps[name].inner = m
        # Maps pinned by name (LIBBPF_PIN_BY_NAME) live in DIR/maps with the
        # others: one found there is reused, a new one is pinned by pin_all,
        # all or nothing. Without --pin nothing is pinned nor reused.
        by_name = {n: ms for n, ms in spec.maps.items() if ms.pinning == PIN_BY_NAME}
        for ms in by_name.values():
            ms.pinning = None
        if args.pin and by_name:
            replace = _pinned_by_name(by_name, os.path.join(args.pin, "maps"))
            given += replace.values()
        with spec.load(replace=replace) as coll, contextlib.ExitStack() as held:
            check()
            links: list[tuple[str, Link]] = []
            if args.attach:  # every program checked first; closing `held` detaches
                links = attach_all(plan_attach(coll, args.iface, args.cgroup), held, check)
            if args.pin:
                keep = {os.path.join(args.pin, "maps", pin_name(n)) for n in replace}
                for path in _pin_everything(coll, links, args.pin, keep, check):
                    out.write(f"pinned {path}\n")
            for name, m in coll.maps.items():
                reused = " (reused its pin)" if name in replace else ""
                out.write(f"map {name}: {view.type_name(m.type)} id {m.id}{reused}\n")
            for name, p in coll.programs.items():
                out.write(f"program {name}: {view.type_name(p.type)} id {p.id}\n")
            for name, link in links:
                kind = getattr(link.type, "name", f"type {link.type}").lower()
                out.write(f"link {name}: {kind} id {link.id}\n")
            if not args.pin and links:
                out.write(
                    "not pinned: the links detach when this command exits;"
                    " waiting for SIGINT or SIGTERM (Ctrl-C)\n"
                )
                out.flush()
                came = wait_for_stop(_STOPS)
                out.write(f"{came}: detaching {len(links)} link{'s' * (len(links) > 1)}\n")
            elif not args.pin:
                out.write("not pinned: everything is released when this command exits")
                if by_name:
                    names = ", ".join(by_name)
                    out.write(f" (maps pinned by name too: {names}; --pin DIR pins them)")
                out.write("\n")
    finally:
        for m in given:
            m.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bpfnest", description="BPF maps, map-in-map first.")
    p.add_argument("--version", action="version", version=f"bpfnest {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    mp = sub.add_parser("map", help="inspect maps")
    msub = mp.add_subparsers(dest="map_command", required=True)
    ml = msub.add_parser("list", help="every map in the system")
    ml.add_argument("--json", action="store_true")
    for name, helptext in (("show", "one map"), ("dump", "a map's entries, inner maps nested")):
        c = msub.add_parser(name, help=helptext)
        c.add_argument("map", nargs="+", metavar="ID | pinned PATH | name NAME")
        c.add_argument("--json", action="store_true")
        if name == "dump":
            c.add_argument(
                "--depth", type=count, default=1, help="levels of inner maps (default 1)"
            )
            c.add_argument("--limit", type=count, default=None, help="entries per map at most")
    ev = msub.add_parser(
        "events",
        help="print a ring buffer's or perf buffer's records as they arrive",
        description="Print the records of a RINGBUF or PERF_EVENT_ARRAY map as programs"
        " write them, one line each: the bytes in hex (for a perf buffer preceded by the"
        " CPU and the records the kernel lost before this one), or with --json one JSON"
        " object per line; with --type and --object each record is decoded by that BTF"
        ' type (JSON: a "formatted" key). A ring buffer has one consumer position:'
        " records read here are"
        " gone for any other reader. A perf buffer's slots are pointed at this command's"
        " events while it runs, and emptied when it exits. Ctrl-C stops it (exit 130).",
    )
    ev.add_argument("map", nargs="+", metavar="ID | pinned PATH | name NAME")
    ev.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per line: {"data": ["0x01", ...]}, with "cpu" and "lost"'
        " for a perf buffer",
    )
    ev.add_argument("--count", type=count, default=None, metavar="N", help="stop after N records")
    ev.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="S",
        help="stop after S seconds without a record (default: wait for ever)",
    )
    ev.add_argument(
        "--type",
        metavar="NAME",
        help="decode each record as this BTF type of --object (struct event, or a typedef)",
    )
    ev.add_argument("--object", metavar="OBJECT.o", help="the object whose BTF has the --type")
    _hist_parser(msub)
    t = msub.add_parser("tree", help="every outer map with its inner maps")
    t.add_argument("map", nargs="*", metavar="ID | pinned PATH | name NAME")
    t.add_argument("--json", action="store_true")
    pp = sub.add_parser("prog", help="inspect programs")
    psub = pp.add_subparsers(dest="prog_command", required=True)
    pl = psub.add_parser("list", help="every program in the system")
    pl.add_argument("--json", action="store_true")
    ps = psub.add_parser("show", help="one program")
    ps.add_argument("prog", nargs="+", metavar="ID | pinned PATH")
    ps.add_argument("--json", action="store_true")
    lk = sub.add_parser("link", help="inspect links (programs attached to hooks)")
    lsub = lk.add_subparsers(dest="link_command", required=True)
    lsub.add_parser("list", help="every link in the system").add_argument(
        "--json", action="store_true"
    )
    lshow = lsub.add_parser("show", help="one link")
    lshow.add_argument("link", nargs="+", metavar="ID | pinned PATH")
    lshow.add_argument("--json", action="store_true")
    ld = sub.add_parser("load", help="load an object's maps and programs")
    ld.add_argument("object")
    ld.add_argument(
        "--attach",
        action="store_true",
        help="attach every program by its section name (all or nothing); with --pin the"
        " links are pinned under DIR/links and stay, without it they detach when the"
        " command exits on SIGINT or SIGTERM",
    )
    ld.add_argument("--iface", metavar="NAME", help="the interface of xdp, tcx and tc programs")
    ld.add_argument("--cgroup", metavar="PATH", help="the cgroup2 directory of cgroup programs")
    ld.add_argument(
        "--pin",
        metavar="DIR",
        help="pin maps under DIR/maps (pin-by-name maps too: one already there is reused),"
        " programs under DIR/progs; directories made 0700",
    )
    ld.add_argument(
        "--inner",
        action="append",
        metavar="MAP=ID|PATH",
        help="inner map template of a legacy outer map",
    )
    sub.add_parser("demo", help="the README's map-in-map example on the real kernel")
    _top_parser(sub)
    usdt_parser(sub)
    gen_parser(sub)
    return p


def _interval(text: str) -> float:
    """argparse type of --interval: seconds > 0."""
    n = seconds(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return n


def _hist_parser(msub: Any) -> None:
    h = msub.add_parser(
        "hist",
        help="print a histogram map as bcc does (log2 or linear)",
        description="Print a map that holds a histogram as bcc's print_log2_hist or"
        " print_linear_hist does: an ARRAY or PERCPU_ARRAY of integer slots (per-CPU"
        " values summed), or a map whose value is a struct with an integer array member"
        " (struct hist { __u32 slots[N]; }), one histogram per key. With --interval S"
        " it prints every S seconds: first what the map holds, then each period's"
        " counts (the difference from the previous read; the map is never cleared).",
    )
    h.add_argument("map", nargs="+", metavar="ID | pinned PATH | name NAME")
    h.add_argument(
        "--linear",
        type=int,
        metavar="STEP",
        help="slot i counts the values from i*STEP to (i+1)*STEP-1 (default: log2 slots)",
    )
    h.add_argument("--unit", default="value", metavar="U", help='the header (default "value")')
    h.add_argument("--interval", type=_interval, metavar="S", help="print every S seconds")
    h.add_argument("--count", type=count, metavar="N", help="with --interval: N prints, then exit")
    h.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per print: every slot with its bounds (low, high, count)",
    )


def _top_parser(sub: Any) -> None:
    t = sub.add_parser(
        "top",
        help="a live table of the loaded BPF programs and their run time",
        description="Show every loaded BPF program's runs per second, average ns per run"
        " and share of one CPU, every --interval seconds. The kernel's run-time"
        " statistics (BPF_ENABLE_STATS, 5.8) are on only while this runs. On a terminal"
        " the table fills the screen (q quits); otherwise one block of lines, or with"
        " --json one JSON object, per interval. Ctrl-C stops it (exit 130).",
    )
    t.add_argument(
        "--interval", type=_interval, default=1.0, metavar="S", help="seconds (default 1)"
    )
    t.add_argument("--count", type=count, metavar="N", help="stop after N intervals")
    t.add_argument("--json", action="store_true", help="one JSON object per interval")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status: 0, 1 for an error (one
    line on stderr), 2 for a usage error, 130 on Ctrl-C (0 for the Ctrl-C or
    SIGTERM that ``load --attach`` waits for), 141 (128 + SIGPIPE) when the
    reader of ``out`` went away (nothing is printed then)."""
    out = out or sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    handlers = {
        ("map", "list"): _map_list,
        ("map", "show"): _map_show,
        ("map", "dump"): _map_dump,
        ("map", "tree"): _map_tree,
        ("map", "events"): map_events,
        ("map", "hist"): map_hist,
    }
    try:
        if args.command == "map":
            handlers[("map", args.map_command)](args, out)
        elif args.command == "prog":
            _prog(args, out)
        elif args.command == "link":
            link_command(args, out)
        elif args.command == "load":
            _load(args, out)
        elif args.command == "top":
            from ._top import top

            top(args, out)
        elif args.command == "usdt":
            usdt_command(args, out)
        elif args.command == "gen":
            gen_command(args, out)
        elif args.command == "demo":
            from ..demo import run

            run(out)
        out.flush()  # a reader gone away shows here, inside the try
    except Usage as err:
        print(f"bpfnest: {err}", file=sys.stderr)
        return 2
    except BPFError as err:
        print(f"bpfnest: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _broken_pipe(out)
    except (ValueError, TypeError, RuntimeError, OSError) as err:
        print(f"bpfnest: {err}", file=sys.stderr)
        return 1
    except MemoryError:
        print("bpfnest: out of memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


#: The exit status of a command whose reader went away (``... | head -1``):
#: 128 + SIGPIPE, what a shell reports for coreutils killed by the signal.
EXIT_PIPE = 128 + signal.SIGPIPE


def _broken_pipe(out: TextIO) -> int:
    """The reader of ``out`` closed the pipe: stop quietly, as coreutils do.

    The rest of what is buffered can never be written: ``out`` (stdout) is
    pointed at /dev/null so that Python's flush at exit does not complain.
    """
    try:
        fileno = out.fileno()
    except (OSError, ValueError):  # not a file (io.StringIO in tests)
        return EXIT_PIPE
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)
    return EXIT_PIPE
