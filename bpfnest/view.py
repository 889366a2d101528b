"""What the command line shows, as plain data: map and program descriptions,
dumps with inner maps nested, the map-in-map tree of the whole system.

Everything here returns dicts and lists that ``json.dumps`` takes; keys
follow ``bpftool -j`` where bpftool has the same thing (``id``, ``type`` in
bpftool's spelling, ``bytes_key`` ...), plus our own. The CLI only formats.
Opening maps by id needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._sys import ops
from ._sys.uapi import Cmd
from .constants import MapType, ProgType
from .errors import BPFError
from .maps import Map, OuterMap, PerCPUMap, map_ids
from .maps._elements import _info_from_kernel
from .spec import MapInfo

if TYPE_CHECKING:  # imported where used: `map list` and `map show` need no program code
    from .link import Link
    from .programs import Program

__all__ = [
    "each_link",
    "each_map",
    "each_program",
    "find_link_pins",
    "find_pins",
    "iter_dump",
    "link_list",
    "link_show",
    "links_by_program",
    "map_dump",
    "map_list",
    "map_show",
    "map_tree",
    "open_map",
    "printable",
    "prog_show",
    "prog_stats",
    "run_stats",
]

BPFFS = "/sys/fs/bpf"


def type_name(t: MapType | ProgType | int) -> str:
    """bpftool's spelling of a map or program type (``array_of_maps``)."""
    return t.name.lower() if isinstance(t, (MapType, ProgType)) else f"type {t}"


_HEX = [f"0x{b:02x}" for b in range(256)]


def hex_bytes(raw: bytes) -> list[str]:
    """Bytes as bpftool's JSON writes them: ``["0x01", "0x00", ...]`` (the 256
    strings are shared: a list costs one pointer per byte)."""
    return [_HEX[b] for b in raw]


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable():
        return c
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def printable(name: str) -> str:
    """``name`` (a path or a name from the system) safe to print on one line:
    a backslash, newline, tab, carriage return or any other unprintable
    character becomes a Python-style escape (``\\\\``, ``\\n``, ``\\x1b``), and a
    byte that is not UTF-8 (``os.fsdecode`` gives it as a lone surrogate)
    becomes ``\\xNN``. Printable text, ASCII or not, is kept as it is."""
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(_escape_char(c) for c in name)


def fdinfo(fd: int) -> dict[str, str]:
    """The ``/proc/self/fdinfo`` lines of ``fd`` (memlock, frozen, ...)."""
    # One read (fdinfo of a map is a few hundred bytes), no text layer.
    raw = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(raw, 4096)]
        while chunks[-1]:
            chunks.append(os.read(raw, 4096))
    finally:
        os.close(raw)
    out = {}
    for line in b"".join(chunks).decode("ascii", "replace").splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def open_map(how: str, what: str) -> Map[Any]:
    """Open a map named the bpftool way: ``("id", "12")``, ``("pinned", path)``,
    ``("name", "outer")``. The caller closes it.

    Raises:
        BPFError: no such map (``ENOENT``), or no privileges.
        ValueError: an id that is not a number, or several maps have the
            name (the message lists their ids and types).
    """
    if how == "id":
        try:
            map_id = int(what, 0)
        except ValueError:
            raise ValueError(f"map id must be a number, got {what!r}") from None
        return Map.from_id(map_id)
    if how == "pinned":
        return Map.from_pinned(what)
    if how == "name":
        return _open_by_name(what)
    raise ValueError(f"a map is named by id, pinned or name, not {how!r}")


def _open_by_name(name: str) -> Map[Any]:
    found: list[Map[Any]] = []
    try:
        for m in each_map():
            if m.name == name:
                found.append(m)
            else:
                m.close()
        if len(found) == 1:
            return found.pop()
        if not found:
            raise BPFError(errno.ENOENT, f"open map name '{name}': no map has this name")
        which = ", ".join(f"{m.id} ({type_name(m.type)})" for m in found)
        raise ValueError(
            f"open map name '{name}': {len(found)} maps have this name, ids {which}: name one by id"
        )
    finally:
        for m in found:
            m.close()


def each_map() -> Iterator[Map[Any]]:
    """Open every map in the system in turn (skipping maps that vanish)."""
    return _each_of(map_ids())


def _each_of(ids: Iterable[int]) -> Iterator[Map[Any]]:
    for map_id in ids:
        try:
            yield Map.from_id(map_id)
        except BPFError as err:
            if err.errno != errno.ENOENT:
                raise


def find_pins(root: str = BPFFS) -> dict[int, list[str]]:
    """Map id -> paths of the maps pinned under ``root``.

    The tree is walked without recursion (any depth), symlinks are not
    followed, and nothing that goes wrong on the way (a directory that
    cannot be read, a path too long, an object that is not a map or is gone
    meanwhile) stops the walk: that part is left out. Paths are returned as
    found; print them through :func:`printable`. Never raises.
    """

    def map_id(path: str) -> int:
        with Map.from_pinned(path, readonly=True) as m:
            return m.id

    return _walk_pins(root, map_id)


def find_link_pins(root: str = BPFFS) -> dict[int, list[str]]:
    """Link id -> paths of the links pinned under ``root``, walked as
    :func:`find_pins` walks. Never raises."""
    from .link import Link

    def link_id(path: str) -> int:
        with Link.from_pinned(path) as link:
            return link.id

    return _walk_pins(root, link_id)


def _walk_pins(root: str, id_of: Callable[[str], int]) -> dict[int, list[str]]:
    pins: dict[int, list[str]] = {}
    todo = [root]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    todo.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    pins.setdefault(id_of(e.path), []).append(e.path)
            except (OSError, ValueError):
                continue  # of another kind, or gone meanwhile (BPFError is an OSError)
    return pins


def map_show(m: Map[Any], pins: dict[int, list[str]] | None = None) -> dict[str, Any]:
    """One map as ``bpftool -j map show`` has it, plus ``filled_slots`` for outer
    maps and ``pinned`` when ``pins`` (from :func:`find_pins`) is given."""
    info = m._info  # what the map was opened with: btf_id never changes, no syscall
    out = _show(info, m.fd)
    if isinstance(m, OuterMap):
        out["filled_slots"] = sum(1 for _ in m.items())
    return _pinned(out, info.id, pins)


def _show(info: MapInfo, fd: int) -> dict[str, Any]:
    """:func:`map_show`'s entry of the map ``info`` describes, open as ``fd``,
    up to ``btf_id``."""
    proc = fdinfo(fd)
    out: dict[str, Any] = {
        "id": info.id,
        "type": type_name(info.type),
        "name": info.name,
        "flags": info.flags,
        "bytes_key": info.key_size,
        "bytes_value": info.value_size,
        "max_entries": info.max_entries,
        "bytes_memlock": int(proc.get("memlock", "0") or 0),
        "frozen": int(proc.get("frozen", "0") or 0),
    }
    if info.btf_id:
        out["btf_id"] = info.btf_id  # where bpftool -j puts it, only when there is BTF
    return out


def _pinned(out: dict[str, Any], map_id: int, pins: dict[int, list[str]] | None) -> dict[str, Any]:
    if pins is not None and map_id in pins:
        out["pinned"] = sorted(printable(p) for p in pins[map_id])
    return out


def map_list(pins: dict[int, list[str]] | None = None) -> list[dict[str, Any]]:
    """:func:`map_show` of every map in the system, in id order (maps that
    vanish meanwhile are left out).

    The light path of ``bpfnest map list``: each map is opened by id, its
    ``bpf_map_info`` and its fdinfo read once, and no ``Map`` is built (but
    for an outer map, whose filled slots are counted through one).
    Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    rows = []
    for map_id in map_ids():
        try:
            fd = ops.get_fd_by_id(Cmd.MAP_GET_FD_BY_ID, map_id)
        except OSError:  # as each_map: ENOENT skipped, else Map.from_id's error
            fd = None
        if fd is not None:
            with fd:
                info = _info_from_kernel(ops.map_info(fd.raw))
                if not issubclass(Map._class_for(info.type), OuterMap):
                    rows.append(_pinned(_show(info, fd.raw), map_id, pins))
                    continue
        for m in _each_of([map_id]):  # an outer map, or an error to report
            with m:
                rows.append(map_show(m, pins))
    return rows


def _entry(m: Map[Any], key: bytes, value: Any) -> dict[str, Any]:
    if isinstance(m, PerCPUMap):
        return {
            "key": hex_bytes(key),
            "values": [{"cpu": i, "value": hex_bytes(v)} for i, v in enumerate(value)],
        }
    if isinstance(m, OuterMap):
        return {
            "key": hex_bytes(key),
            "value": hex_bytes(value.to_bytes(4, "little")),
            "inner_map_id": value,
        }
    return {"key": hex_bytes(key), "value": hex_bytes(value)}


_Decode = Callable[[bytes, Any], "dict[str, Any] | None"]


def _decoder(m: Map[Any]) -> _Decode | None:
    """A function (key, value) -> decoded dict for a map with BTF, else None.

    The function returns None for a value its BTF type cannot decode (too
    many values, nested too deeply, a type the decoder does not know): the
    entry is then shown in hex only, as bpftool does for maps without BTF.
    """
    info = m.info()
    if not (info.btf_key_type_id or info.btf_value_type_id) or isinstance(m, OuterMap):
        return None
    try:
        btf = m.btf()
    except ValueError:  # BTF this parser refuses (ParseError): hex only
        return None
    if btf is None:
        return None
    kt, vt = info.btf_key_type_id, info.btf_value_type_id
    from .btf.format import decode  # here: `map list` and `show` need no BTF code

    def decode_one(type_id: int, raw: bytes) -> Any:
        return decode(btf, btf.type_by_id(type_id), raw) if type_id else None

    def dec(key: bytes, value: Any) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        try:
            out["key"] = decode_one(kt, key)
            if isinstance(value, list):
                out["values"] = [
                    {"cpu": i, "value": decode_one(vt, v)} for i, v in enumerate(value)
                ]
            else:
                out["value"] = decode_one(vt, value)
        except ValueError:  # "type holds too many values", a malformed type ...
            return None
        return out

    return dec


def map_dump(m: Map[Any], *, depth: int = 1, limit: int | None = None) -> list[dict[str, Any]]:
    """Every entry of ``m`` (at most ``limit``); for an outer map, each filled
    slot with ``inner_map_id`` and, while ``depth`` > 0, ``inner``: the inner
    map's show object and its ``entries``. A list of :func:`iter_dump`'s
    entries, inner ``entries`` made lists too: it holds the whole dump in
    memory (the CLI streams :func:`iter_dump` instead).

    Raises:
        BPFError: reading the map, or opening an inner map, failed.
    """
    return [_listed(e) for e in iter_dump(m, depth=depth, limit=limit)]


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    inner = entry.get("inner")
    if inner is not None:
        inner["entries"] = [_listed(e) for e in inner["entries"]]
    return entry


def iter_dump(m: Map[Any], *, depth: int = 1, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The entries of :func:`map_dump`, one at a time: memory stays bounded by
    one entry (and the chunk :meth:`Map.items` reads), however large the map.

    An outer map's entry (while ``depth`` > 0) carries ``inner`` whose
    ``entries`` is itself an iterator over the inner map, open until the next
    entry is asked for: consume it first (later it raises ``ValueError``,
    the inner map being closed). Slots emptied meanwhile are skipped.

    Raises:
        BPFError: ``EOPNOTSUPP`` for a map without keys (queue, stack, bloom
            filter, ring buffer), at once; reading the map, or opening an
            inner map, failed, while iterating.
    """
    if isinstance(m.type, MapType) and (m.type.is_keyless or m.type.is_ringbuf):
        raise BPFError(
            errno.EOPNOTSUPP, f"dump {type_name(m.type)} '{m.name}': it has no keys to walk"
        )
    return _dump_entries(m, _decoder(m), depth, limit)


def _dump_entries(
    m: Map[Any], decoder: _Decode | None, depth: int, limit: int | None
) -> Iterator[dict[str, Any]]:
    count = 0
    for key, value in m.items():
        if limit is not None and count >= limit:
            return
        entry = _entry(m, key, value)
        if decoder is not None:
            formatted = decoder(key, value)
            if formatted is not None:
                entry["formatted"] = formatted
        if isinstance(m, OuterMap) and depth > 0:
            try:
                inner = Map.from_id(value)
            except BPFError as err:
                if err.errno != errno.ENOENT:
                    raise
                continue  # replaced meanwhile
            with inner:
                entry["inner"] = {
                    **map_show(inner),
                    "entries": iter_dump(inner, depth=depth - 1, limit=limit),
                }
                count += 1
                yield entry
            continue
        count += 1
        yield entry


def map_tree(only: Map[Any] | None = None) -> list[dict[str, Any]]:
    """Every outer map in the system (or just ``only``) with its slots.

    Each outer map: its show object, ``template`` (learned from an element,
    or "unknown" when empty), and ``slots``: key, slot number for arrays,
    and the inner map (id, type, name, sizes, entry count, and ``shared``
    when it sits in several slots or outer maps).

    Raises:
        ValueError: ``only`` is not an outer map.
    """
    if only is not None and not isinstance(only, OuterMap):
        raise ValueError(
            f"map id {only.id} ('{only.name}') is {type_name(only.type)}, not an outer map"
        )
    outers: list[OuterMap] = []
    try:
        if only is not None:
            outers.append(only)
        else:
            for m in each_map():
                if isinstance(m, OuterMap):
                    outers.append(m)
                else:
                    m.close()
        trees = [_outer_tree(o) for o in outers]
    finally:
        if only is None:
            for o in outers:
                o.close()
    uses: dict[int, int] = {}
    for t in trees:
        for s in t["slots"]:
            uses[s["inner"]["id"]] = uses.get(s["inner"]["id"], 0) + 1
    for t in trees:
        for s in t["slots"]:
            s["inner"]["shared"] = uses[s["inner"]["id"]] > 1
    return trees


def _outer_tree(outer: OuterMap) -> dict[str, Any]:
    template = outer.template
    slots = []
    for key, inner_id in outer.items():
        slot: dict[str, Any] = {"key": hex_bytes(key)}
        if outer.type == MapType.ARRAY_OF_MAPS:
            slot["slot"] = int.from_bytes(key, "little")
        try:
            inner = Map.from_id(inner_id)
        except BPFError as err:
            if err.errno != errno.ENOENT:
                raise
            continue
        with inner:
            slot["inner"] = {
                "id": inner.id,
                "type": type_name(inner.type),
                "name": inner.name,
                "bytes_key": inner.key_size,
                "bytes_value": inner.value_size,
                "max_entries": inner.max_entries,
                "entries": _count(inner),
            }
        slots.append(slot)
    return {
        **map_show(outer),
        "template": "unknown"
        if template is None
        else {
            "type": type_name(template.type),
            "bytes_key": template.key_size,
            "bytes_value": template.value_size,
            "max_entries": template.max_entries,
            "flags": template.flags,
        },
        "slots": slots,
    }


def _count(m: Map[Any]) -> int | None:
    if isinstance(m.type, MapType) and (m.type.is_keyless or m.type.is_ringbuf):
        return None
    return sum(1 for _ in m.items())


def prog_show(p: Program, links: dict[int, list[int]] | None = None) -> dict[str, Any]:
    """One program as ``bpftool -j prog show`` has it (id, type, name, tag, map_ids ...),
    and ``link_ids`` (the links that run it) when ``links`` (from
    :func:`links_by_program`) is given."""
    info = p.info()
    out = {
        "id": info.id,
        "type": type_name(info.type),
        "name": info.name,
        "tag": info.tag,
        "gpl_compatible": info.gpl_compatible,
        "bytes_xlated": info.xlated_prog_len,
        "bytes_jited": info.jited_prog_len,
        "map_ids": p.map_ids(),
        "btf_id": info.btf_id,
    }
    if links is not None:
        out["link_ids"] = links.get(info.id, [])
    return out


def each_program() -> Iterator[Program]:
    """Open every program in the system in turn (skipping programs that vanish)."""
    from .programs import Program, program_ids

    for prog_id in program_ids():
        try:
            yield Program.from_id(prog_id)
        except BPFError as err:
            if err.errno != errno.ENOENT:
                raise


def each_link() -> Iterator[Link]:
    """Open every link in the system in turn (skipping links that vanish);
    the caller closes each."""
    from .link import Link, link_ids

    for link_id in link_ids():
        try:
            yield Link.from_id(link_id)
        except BPFError as err:
            if err.errno != errno.ENOENT:
                raise


def links_by_program() -> dict[int, list[int]]:
    """Program id -> the ids of the links that run it, for every link in the system."""
    found: dict[int, list[int]] = {}
    for link in each_link():
        with link:
            found.setdefault(link.program_id, []).append(link.id)
    return found


def _link_type(t: int) -> str | int:
    """bpftool's spelling of a link or attach type; an unknown one stays a number."""
    return t.name.lower() if isinstance(t, enum.IntEnum) else t


def _devname(ifindex: int) -> str:
    """bpftool's ``devname``: the interface's name in this network namespace."""
    if not ifindex:
        return "(detached)"
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return "(unknown)"


def link_show(link: Link, pins: dict[int, list[str]] | None = None) -> dict[str, Any]:
    """One link as ``bpftool -j link show`` has it: ``id``, ``type``,
    ``prog_id``, then the type's own fields under bpftool's names (``tp_name``,
    ``cgroup_id``, ``attach_type``, ``devname`` and ``ifindex``, ...), and
    ``pinned`` when ``pins`` (from :func:`find_link_pins`) has it."""
    from .constants import LinkType

    info = link.info()
    out: dict[str, Any] = {
        "id": info.id,
        "type": _link_type(info.type),
        "prog_id": info.program_id,
    }
    kind = info.type
    if kind == LinkType.RAW_TRACEPOINT:
        out["tp_name"] = info.name
    elif kind == LinkType.TRACING:
        out["prog_type"] = _prog_type(info.program_id)
        out["attach_type"] = _link_type(info.attach_type or 0)
        out["target_obj_id"] = info.target_obj_id
        out["target_btf_id"] = info.target_btf_id
    elif kind == LinkType.CGROUP:
        out["cgroup_id"] = info.cgroup_id
        out["attach_type"] = _link_type(info.attach_type or 0)
    elif kind == LinkType.ITER:
        out["target_name"] = info.name
    elif kind in (LinkType.XDP, LinkType.TCX, LinkType.NETKIT):
        out["devname"] = _devname(info.ifindex or 0)
        out["ifindex"] = info.ifindex
        if kind != LinkType.XDP:
            out["attach_type"] = _link_type(info.attach_type or 0)
    elif kind == LinkType.PERF_EVENT and info.perf_event is not None:
        if info.perf_event == "tracepoint":
            out["tracepoint"] = info.name
        elif info.perf_event != "event":
            out["retprobe"] = info.perf_event.startswith(("kret", "uret"))
            out["func" if "kprobe" in info.perf_event else "file"] = info.name
    elif kind == LinkType.UPROBE_MULTI:
        out["path"] = info.name
    return _pinned(out, info.id, pins)


def _prog_type(prog_id: int) -> str:
    """bpftool's ``prog_type`` of a tracing link: its program's type."""
    from .programs import Program

    try:
        with Program.from_id(prog_id) as p:
            return type_name(p.type)
    except BPFError:
        return "unknown"


def link_list(pins: dict[int, list[str]] | None = None) -> list[dict[str, Any]]:
    """:func:`link_show` of every link in the system, in id order (links that
    vanish meanwhile are left out)."""
    rows = []
    for link in each_link():
        with link:
            try:
                rows.append(link_show(link, pins))
            except BPFError as err:
                if err.errno != errno.ENOENT:
                    raise
    return rows


@contextlib.contextmanager
def run_stats() -> Iterator[None]:
    """Switch the kernel's per-program run-time statistics (``run_time_ns``,
    ``run_cnt``) on for the ``with`` block: ``BPF_ENABLE_STATS`` gives an fd
    that keeps them on while it is open; it is closed when the block ends,
    however it ends. Stats are off again then unless another process holds
    such an fd too (or ``sysctl kernel.bpf_stats_enabled=1``). Minimum kernel:
    5.8; needs CAP_SYS_ADMIN.

    Raises:
        BPFError: the kernel refused (``EPERM`` without CAP_SYS_ADMIN,
            ``EINVAL`` before 5.8).
    """
    from .errors import error

    try:
        fd = ops.enable_stats()
    except OSError as err:
        hint = "needs CAP_SYS_ADMIN" if err.errno == errno.EPERM else "needs Linux 5.8"
        raise error("enable", "run-time stats", err.errno or 0, hint) from None
    with fd:
        yield


def prog_stats() -> dict[int, dict[str, Any]]:
    """Every loaded program's id -> ``{"id", "type", "name", "run_cnt",
    "run_time_ns", "load_time"}`` (``load_time`` in ns since boot; the
    counters grow only while run-time stats are on: :func:`run_stats`).
    Programs that vanish while being read are left out; each is opened and
    closed here. Needs CAP_SYS_ADMIN.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    out = {}
    for p in each_program():
        with p:
            info = p.info()
        out[info.id] = {
            "id": info.id,
            "type": type_name(info.type),
            "name": info.name,
            "run_cnt": info.run_cnt,
            "run_time_ns": info.run_time_ns,
            "load_time": info.load_time,
        }
    return out
