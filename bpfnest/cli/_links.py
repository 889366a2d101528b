"""``bpfnest link list|show`` and the attach step of ``bpfnest load --attach``.

``link`` prints what :func:`bpfnest.view.link_show` gives, as ``bpftool link``
does (``--json``: the same keys as ``bpftool -j link``). ``load --attach``
attaches every program of the object by its section name
(:meth:`~bpfnest.Program.attach`), all or nothing: every program is checked
before the first is attached, and a failure half-way closes (detaches) the
links made and removes the pins made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from .. import _pins, view
from ..collection import pin_name
from ._common import Usage, emit, selector

if TYPE_CHECKING:
    from ..collection import Collection
    from ..link import Link
    from ..programs import Program

__all__ = ["attach_all", "link_command", "link_lines", "pin_links", "plan_attach", "wait_for_stop"]


def _detail(row: dict[str, Any]) -> list[str]:
    """The type's own fields of a ``link show`` row, as bpftool prints them."""
    parts = []
    if "tp_name" in row:
        parts.append(f"tp '{row['tp_name']}'")
    if "prog_type" in row:
        parts.append(f"prog_type {row['prog_type']}")
    if "cgroup_id" in row:
        parts.append(f"cgroup_id {row['cgroup_id']}")
    if "ifindex" in row:
        parts.append(f"ifindex {row['devname']}({row['ifindex']})")
    if "attach_type" in row:
        parts.append(f"attach_type {row['attach_type']}")
    if "target_name" in row:
        parts.append(f"target_name {row['target_name']}")
    if "tracepoint" in row:
        parts.append(f"tracepoint {row['tracepoint']}")
    for key, kind in (("func", "kprobe"), ("file", "uprobe")):
        if key in row:
            ret = kind.replace("probe", "retprobe") if row["retprobe"] else kind
            parts.append(f"{ret} {row[key]}")
    if "path" in row:
        parts.append(f"path {row['path']}")
    lines = ["\t" + "  ".join(parts)] if parts else []
    if "target_obj_id" in row:
        lines.append(
            f"\ttarget_obj_id {row['target_obj_id']}  target_btf_id {row['target_btf_id']}"
        )
    return lines


def link_lines(row: dict[str, Any]) -> list[str]:
    """One link as ``bpftool link show`` prints it (trailing blanks left out)."""
    kind = row["type"] if isinstance(row["type"], str) else f"type {row['type']}"
    lines = [f"{row['id']}: {kind}  prog {row['prog_id']}", *_detail(row)]
    lines += [f"\tpinned {path}" for path in row.get("pinned", [])]
    return lines


def link_command(args: argparse.Namespace, out: TextIO) -> None:
    """``bpfnest link list`` and ``bpfnest link show ID | pinned PATH``."""
    from ..link import Link

    pins = view.find_link_pins()
    if args.link_command == "show":
        how, what = selector(args.link, "link", ("id", "pinned"))
        with Link.from_id(int(what)) if how == "id" else Link.from_pinned(what) as link:
            row = view.link_show(link, pins)
        emit(out, row, args.json, link_lines(row))
    else:
        rows = view.link_list(pins)
        emit(out, rows, args.json, [line for r in rows for line in link_lines(r)])


# ---------------------------------------------------------------- load --attach

_OPTION = {
    "iface": "--iface NAME",
    "cgroup": "--cgroup PATH",
    "direction": 'a direction, which load --attach cannot give: use SEC("tc/ingress")'
    ' or SEC("tc/egress"), or attach it with Program.attach_tcx',
}


def plan_attach(
    coll: Collection, iface: str | None, cgroup: str | None
) -> list[tuple[str, Program, dict[str, Any]]]:
    """(name, program, target keywords) of every program of ``coll``, each
    checked against its section's row before anything is attached.

    Raises:
        Usage: a program needs an option that was not given.
        ValueError: a program's section cannot be attached (naming the
            attach_* method to call instead).
    """
    from ..link._auto import check_target, find_rule

    plan = []
    given = {"iface": iface, "cgroup": cgroup}
    for name, prog in coll.programs.items():
        rule, _ = find_rule(prog)
        takes = rule.required + rule.optional
        target = {k: v for k, v in given.items() if k in takes and v is not None}
        missing = [_OPTION[k] for k in rule.required if k not in target]
        if missing:
            raise Usage(
                f"program '{name}' (section '{prog.section}', {rule.method}) needs"
                f" {' and '.join(missing)}"
            )
        check_target(prog, target)
        plan.append((name, prog, target))
    return plan


def attach_all(
    plan: list[tuple[str, Program, dict[str, Any]]],
    held: contextlib.ExitStack,
    check: Callable[[], None],
) -> list[tuple[str, Link]]:
    """Attach each program of ``plan``; every link goes into ``held`` (closing
    it detaches an unpinned link). ``check`` runs between steps (a held signal)."""
    links = []
    for name, prog, target in plan:
        link = held.enter_context(prog.attach(**target))
        links.append((name, link))
        check()
    return links


def pin_links(
    links: list[tuple[str, Link]],
    top: str,
    pins: _pins.PinSet,
    created: list[str],
    dirs: contextlib.ExitStack,
) -> list[str]:
    """Pin each link at ``top/links/NAME`` (the directory walked without
    following symlinks, made 0700 when missing and appended to ``created``,
    its fd closed by ``dirs``); the pins are recorded in ``pins``, whose
    rollback removes them while ``dirs`` is open. Returns their paths.

    Raises:
        ValueError: a program name cannot be a file name.
        BPFError: a pin failed (``EEXIST``: something is there already).
    """
    where = os.path.join(top, "links")
    for name, _ in links:
        _pins.check_name(name, "program")
    dir_fd = _pins.open_dir(where, create=True, created=created)
    assert dir_fd is not None
    dirs.callback(os.close, dir_fd)
    paths = []
    for name, link in links:
        pins.pin(link, dir_fd, pin_name(name))
        paths.append(os.path.join(where, pin_name(name)))
    return paths


def wait_for_stop(stops: tuple[signal.Signals, ...]) -> str:
    """Wait for one of ``stops`` (SIGINT, SIGTERM, SIGHUP); the name of the one that came.

    ``load`` holds these signals blocked (see ``_signals_held``): they are
    taken here with ``sigwait``, so that the links are closed in order after
    it. Signals that are not held (handled by an embedding program) are left
    to their handler, which must end the wait by raising.
    """
    held = set(stops) & signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if held and threading.current_thread() is threading.main_thread():
        return signal.Signals(signal.sigwait(held)).name
    while True:  # pragma: no cover - ended by the embedding program's handler
        time.sleep(3600)
