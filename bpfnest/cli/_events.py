"""``bpfnest map events``: the records of a ring buffer or perf buffer as they arrive."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from .. import view
from ..maps import Map
from ._common import Usage, selector

__all__ = ["map_events", "seconds"]


def seconds(text: str) -> float:
    """argparse type of --timeout: a number of seconds >= 0."""
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not n >= 0 or n == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return n


_Decode = Callable[[bytes], Any]

_KINDS = {"struct": "Struct", "union": "Union", "enum": "Enum"}


def _event_decoder(type_name: str | None, obj: str | None) -> _Decode | None:
    """``--type NAME --object OBJ.o``: a function decoding a record by that BTF
    type of the object (None without them). ``NAME`` may say ``struct``,
    ``union`` or ``enum``; typedefs and base types are found too."""
    if type_name is None and obj is None:
        return None
    if type_name is None or obj is None:
        raise Usage("--type NAME and --object OBJECT.o go together")
    from .. import btf as btf_types
    from ..btf.format import decode
    from ..spec import CollectionSpec

    btf = CollectionSpec.from_file(obj).btf
    if btf is None:
        raise ValueError(f"{obj} has no BTF to decode records with (compile it with clang -g)")
    kind, _, name = type_name.strip().rpartition(" ")
    if kind in _KINDS:
        wanted: tuple[type, ...] = (getattr(btf_types, _KINDS[kind]),)
    else:  # "event", "__u64", "unsigned int"
        name = type_name.strip()
        wanted = (btf_types.Composite, btf_types.Typedef, btf_types.Int, btf_types.Enum)
    found = [t for t in btf.named(name) if isinstance(t, wanted)]
    if not found:
        raise ValueError(
            f"{obj} has no BTF type named {type_name!r} (clang -g emits the types of"
            " maps, globals and function arguments, not those only used by local variables)"
        )
    t = found[0]
    size = btf.sizeof(t)

    def decoder(raw: bytes) -> Any:
        if len(raw) < size:
            raise ValueError(f"{len(raw)} bytes, {type_name} needs {size}")
        return decode(btf, t, raw)

    return decoder


def _event_line(record: Any, as_json: bool, decoder: _Decode | None = None) -> str:
    """One record as ``map events`` prints it: a ring buffer's bytes in hex
    (or decoded by ``decoder``), a perf buffer's with its CPU and the records
    lost before it. A record that does not decode is printed in hex with why."""
    from ..events import PerfRecord

    fields: dict[str, Any] = {}
    if isinstance(record, PerfRecord):
        fields = {"cpu": record.cpu, "lost": record.lost}
        raw = record.data
    else:
        raw = bytes(record)
    fields["data"] = view.hex_bytes(raw) if as_json else raw.hex(" ")
    if decoder is not None:
        try:
            fields["formatted"] = decoder(raw)
        except ValueError as err:
            fields["error"] = str(err)
    if as_json:
        return json.dumps(fields)
    head = "".join(f"{k} {fields[k]}  " for k in ("cpu", "lost") if k in fields)
    if "formatted" in fields:
        return head + json.dumps(fields["formatted"])
    tail = f"  (not decoded: {fields['error']})" if "error" in fields else ""
    return f"{head}{fields['data']}{tail}".rstrip()


def _open_reader(m: Map[Any]) -> Any:
    """The reader of ``m``'s records: a RingBuffer or a PerfBuffer; the caller
    closes it. Any other map type: one line naming it and what is read."""
    from ..constants import MapType
    from ..events import PerfBuffer, RingBuffer

    if m.type == MapType.RINGBUF:
        return RingBuffer(m)
    if m.type == MapType.PERF_EVENT_ARRAY:
        return PerfBuffer(m)
    raise ValueError(
        f"map events reads ringbuf and perf_event_array maps; map {m.id} '{m.name}'"
        f" is {view.type_name(m.type)}"
    )


def map_events(args: argparse.Namespace, out: TextIO) -> None:
    how_what = selector(args.map)
    decoder = _event_decoder(args.type, args.object)
    with view.open_map(*how_what) as m, _open_reader(m) as reader:
        left = args.count
        while left is None or left > 0:
            record = reader.read(0)
            if record is None:  # idle: show what was printed, then wait
                out.flush()
                record = reader.read(args.timeout)
                if record is None:
                    return
            out.write(_event_line(record, args.json, decoder) + "\n")
            if left is not None:
                left -= 1
