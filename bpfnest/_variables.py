"""Global variables of a loaded collection: ``Collection.variables[name]``.

A :class:`Variable` reads and writes its bytes in the value of its data map
(``.data``, ``.bss``, ``.rodata``, ``.data.*``, ...). Where the loader could
create that map ``F_MMAPABLE`` (Linux 5.5), the map's value is mapped once
into this process and every access is a memory access, no syscall; otherwise
each read is a lookup and each write a read-modify-write update. Values are
typed from the object's BTF as :mod:`bpfnest.btf.values` decodes them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .codec import encode
from .constants import F_MMAPABLE

if TYPE_CHECKING:
    from .maps import Map
    from .spec import CollectionSpec, VariableSpec

__all__ = ["Variable", "Variables"]


class Variable:
    """One global variable of a loaded collection (``Collection.variables[name]``).

    :attr:`value` is typed from the object's BTF (bytes without BTF);
    :attr:`raw` is its bytes. Both can be set, except for ``.rodata`` and
    ``.kconfig`` variables, which are frozen at load (set ``.rodata`` ones
    before load through ``CollectionSpec.variables[name].value``). The
    variable uses its collection's map: it works while the collection is open.
    """

    def __init__(self, owner: Variables, spec: VariableSpec) -> None:
        """Use ``Collection.variables[name]``."""
        self._owner = owner
        self._spec = spec
        self.name = spec.name
        #: The data map it lives in (``.data``, ``.bss``, ``.rodata``, ...).
        self.map_name = spec.map

    @property
    def readonly(self) -> bool:
        """True for ``.rodata`` and ``.kconfig`` variables (frozen at load)."""
        return self.map_name.startswith(".rodata") or self.map_name == ".kconfig"

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} in {self.map_name} ({self._spec.size} bytes)>"

    @property
    def raw(self) -> bytes:
        """Its bytes now (a memory read where the map is mapped, else one lookup).

        Raises:
            ValueError: the collection is closed.
        """
        spec = self._spec
        view = self._owner._view(spec.map)
        if view is not None:
            return view[spec.offset : spec.offset + spec.size].tobytes()
        value = self._owner._map(spec.map)[0]
        assert isinstance(value, bytes)
        return value[spec.offset : spec.offset + spec.size]

    @raw.setter
    def raw(self, value: object) -> None:
        self._write(encode(value, self._spec.size, f"variable '{self.name}'"))

    @property
    def value(self) -> Any:
        """Its value now, typed (see :mod:`bpfnest.btf.values`); settable with an
        int, an instance, a dict of fields or bytes, checked before anything changes.

        Raises:
            ValueError: the collection is closed; a write to a frozen variable
                (``.rodata``, ``.kconfig``); a value that does not fit.
            TypeError: a value of the wrong kind.
        """
        c = self._codec()
        raw = self.raw
        return raw if c is None else c.decode(raw)

    @value.setter
    def value(self, value: object) -> None:
        c = self._codec()
        what = f"variable '{self.name}'"
        raw = encode(value, self._spec.size, what) if c is None else c.encode(value, what)
        self._write(raw)

    def _codec(self) -> Any:
        from .btf.values import variable_codec

        spec = self._spec
        return variable_codec(self._owner._spec.btf, spec.map, spec.name, spec.size)

    def _write(self, raw: bytes) -> None:
        spec = self._spec
        if self.readonly:
            raise ValueError(
                f"variable '{self.name}' is in {spec.map}, frozen at load: set it before"
                f" load (CollectionSpec.variables['{self.name}'].value = ...)"
            )
        view = self._owner._view(spec.map)
        if view is not None:
            view[spec.offset : spec.offset + spec.size] = raw
            return
        m = self._owner._map(spec.map)
        old = m[0]
        m[0] = old[: spec.offset] + raw + old[spec.offset + spec.size :]


class Variables(Mapping[str, Variable]):
    """``Collection.variables``: every global variable of the object, by name.

    Mapped data maps (``F_MMAPABLE``) are mapped on first use and unmapped by
    :meth:`release` (``Collection.close`` calls it).
    """

    def __init__(self, spec: CollectionSpec, maps: Mapping[str, Map[Any]]) -> None:
        """Use ``Collection.variables``."""
        self._spec = spec
        self._maps = maps
        self._views: dict[str, memoryview | None] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._vars = {name: Variable(self, v) for name, v in spec.variables.items()}

    def __getitem__(self, name: str) -> Variable:
        """The variable ``name``.

        Raises:
            KeyError: the object has no such global variable.
        """
        try:
            return self._vars[name]
        except KeyError:
            raise KeyError(
                f"no global variable {name!r} (variables: {', '.join(self._vars)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        """The variables' names."""
        return iter(self._vars)

    def __len__(self) -> int:
        """How many variables."""
        return len(self._vars)

    def _map(self, name: str) -> Map[Any]:
        if self._closed:
            raise ValueError("the collection is closed")
        return self._maps[name]

    def _view(self, name: str) -> memoryview | None:
        """The mapped value of data map ``name`` (None where it is not mappable)."""
        m = self._map(name)  # ValueError once closed
        with self._lock:
            if name not in self._views:
                self._views[name] = m.mmap() if m.flags & F_MMAPABLE else None
            return self._views[name]

    def release(self) -> None:
        """Release the mapped views (before the maps close); idempotent."""
        with self._lock:
            self._closed = True
            for view in self._views.values():
                if view is not None:
                    with contextlib.suppress(BufferError):
                        view.release()
            self._views.clear()
