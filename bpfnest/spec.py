"""Specs: descriptions of kernel objects, as plain data. No kernel here.

A :class:`MapSpec` says what map to create; :class:`MapInfo` is what the
kernel says about a map that exists. Both are dataclasses that never call
bpf(2), so they can be built, compared and printed on any machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Container, Mapping
from typing import TYPE_CHECKING, Any, Union

from .constants import F_INNER_MAP, AttachType, MapType, ProgType
from .errors import ParseError

if TYPE_CHECKING:
    from .btf import BTF
    from .collection import Collection
    from .maps import Map

__all__ = [
    "MAX_OBJECT_SIZE",
    "PIN_BY_NAME",
    "CollectionSpec",
    "CoreReloSpec",
    "FuncInfoSpec",
    "LineInfoSpec",
    "MapInfo",
    "MapRef",
    "MapSpec",
    "ProgramSpec",
    "VariableSpec",
]

#: ``pinning`` value meaning "pin under the collection's pin directory by name"
#: (libbpf's ``LIBBPF_PIN_BY_NAME``).
PIN_BY_NAME = 1

#: The largest object :meth:`CollectionSpec.from_file` reads (512 MiB).
MAX_OBJECT_SIZE = 512 << 20

_NAME_RE = re.compile(r"[A-Za-z0-9_.]*")
_U32 = (1 << 32) - 1


def check_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a valid kernel object name.

    Names are made of ``[A-Za-z0-9_.]``; the kernel keeps the first 15
    characters of a longer one (as libbpf does).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be str, got {type(name).__name__}")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"map name {name!r} is not valid: only [A-Za-z0-9_.] characters")


def check_pin_dir(pin_dir: str, what: str) -> None:
    """Raise unless ``pin_dir`` is a relative path of plain names (``a/b``).

    Raises:
        TypeError: not a str.
        ValueError: absolute, empty components, ``.``, ``..`` or NUL.
    """
    if not isinstance(pin_dir, str):
        raise TypeError(f"{what}: pin_dir must be str, got {type(pin_dir).__name__}")
    if pin_dir and any(part in ("", ".", "..") or "\0" in part for part in pin_dir.split("/")):
        raise ValueError(
            f"{what}: pin_dir {pin_dir!r} must be a relative path of plain names"
            " (no leading '/', '.', '..', '//' or NUL)"
        )


@dataclasses.dataclass
class MapSpec:
    """What map to create; no kernel object.

    For ``ARRAY_OF_MAPS`` and ``HASH_OF_MAPS``, ``inner`` is the inner map's
    ``MapSpec`` (the template the outer map is created from) or an existing
    ``Map`` used as template. ``contents`` holds initial entries; for an outer
    map inside a collection: key -> the name of another map, or a ``Map``.

    A map with ``pinning`` ``PIN_BY_NAME`` that a collection loads is pinned
    (or reused) at ``<pin root>/<pin_dir>/NAME``: ``pin_dir`` is ``""`` for
    libbpf's pinning; iproute2's legacy maps get ``"tc/globals"``
    (``PIN_GLOBAL_NS``) or ``"tc/<SHA-1 of the object>"`` (``PIN_OBJECT_NS``),
    iproute2's own paths under the default pin root /sys/fs/bpf.
    """

    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    name: str = ""
    inner: Union[MapSpec, Map[Any], None] = None  # noqa: UP007 - Map is a forward reference
    contents: Mapping[object, object] | None = None
    pinning: int | None = None
    numa_node: int | None = None
    map_extra: int = 0
    ifindex: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    pin_dir: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.type, int) and not isinstance(self.type, MapType):
            try:
                self.type = MapType(self.type)
            except ValueError:
                raise ValueError(f"unknown map type {self.type}") from None

    def validate(self) -> None:
        """Check the fields that can be checked without the kernel.

        Raises:
            TypeError: a field of the wrong type.
            ValueError: a field out of range, an invalid name, an ``inner`` on
                a map that is not an outer map, or an outer map without one.
        """
        what = f"map '{self.name}'" if self.name else "map"
        if not isinstance(self.type, MapType):
            raise TypeError(f"{what}: type must be a MapType, got {type(self.type).__name__}")
        for field in ("key_size", "value_size", "max_entries", "flags", "ifindex"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{what}: {field} must be int, got {type(value).__name__}")
            if not 0 <= value <= _U32:
                raise ValueError(f"{what}: {field} {value} out of range 0..{_U32}")
        if not isinstance(self.map_extra, int) or not 0 <= self.map_extra < 1 << 64:
            raise ValueError(f"{what}: map_extra {self.map_extra!r} is not a u64")
        if self.numa_node is not None and not (
            isinstance(self.numa_node, int) and 0 <= self.numa_node <= _U32
        ):
            raise ValueError(f"{what}: numa_node {self.numa_node!r} is not a u32")
        check_name(self.name)
        check_pin_dir(self.pin_dir, what)
        if self.type.is_outer:
            if self.inner is None:
                raise ValueError(
                    f"{what}: {self.type.name} needs an inner map template:"
                    " set inner to a MapSpec or a Map"
                )
            if isinstance(self.inner, MapSpec):
                if self.inner.type.is_outer:
                    raise ValueError(
                        f"{what}: the inner map cannot be {self.inner.type.name}:"
                        " the kernel allows one level of nesting"
                    )
                self.inner.validate()
        elif self.inner is not None:
            raise ValueError(
                f"{what}: inner is only for ARRAY_OF_MAPS and HASH_OF_MAPS, not {self.type.name}"
            )


@dataclasses.dataclass(frozen=True)
class MapInfo:
    """What the kernel reports about a map (``struct bpf_map_info``)."""

    type: MapType | int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str
    ifindex: int = 0
    map_extra: int = 0
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0

    def to_spec(self) -> MapSpec:
        """Return a ``MapSpec`` that would create a map like this one (no inner)."""
        return MapSpec(
            type=MapType(self.type),
            key_size=self.key_size,
            value_size=self.value_size,
            max_entries=self.max_entries,
            flags=self.flags,
            name=self.name,
            map_extra=self.map_extra,
            ifindex=self.ifindex,
        )

    def template_mismatch(
        self,
        inner: MapInfo | MapSpec,
        *,
        max_entries_types: Container[MapType] = (MapType.ARRAY,),
        label: str = "inner",
    ) -> str | None:
        """Say how ``inner`` fails to match this template, or None when it fits.

        The kernel's rule (``bpf_map_meta_equal``), the one place it is
        written: same type, key size, value size and flags; for the types in
        ``max_entries_types`` also the same max_entries unless the template
        carries ``F_INNER_MAP``. ARRAY is always among them; whether
        PERCPU_ARRAY is depends on the kernel build
        (``bpfnest.features.inner_max_entries_types`` asks the kernel).
        ``inner`` is a live map's info or a spec (a collection's declared
        inner map); ``label`` names it in the answer (``inner key_size 8 !=
        template 4``).
        """
        for field in ("type", "key_size", "value_size", "flags"):
            mine, theirs = getattr(self, field), getattr(inner, field)
            if mine != theirs:
                if field == "type":
                    return f"{label} type {_type_name(theirs)} != template {_type_name(mine)}"
                if field == "flags":
                    return f"{label} flags {theirs:#x} != template {mine:#x}"
                return f"{label} {field} {theirs} != template {mine}"
        if (
            self.type in max_entries_types
            and not self.flags & F_INNER_MAP
            and self.max_entries != inner.max_entries
        ):
            return f"{label} max_entries {inner.max_entries} != template {self.max_entries}" + (
                "; both need F_INNER_MAP to differ" if self.type == MapType.ARRAY else ""
            )
        return None


def _type_name(value: int) -> str:
    try:
        return MapType(value).name
    except ValueError:
        return str(value)


@dataclasses.dataclass(frozen=True)
class MapRef:
    """An instruction of a program that refers to a map.

    ``insn`` is the index (in 8-byte units) of an ``ld_imm64``. With
    ``offset`` None it loads the map itself (``BPF_PSEUDO_MAP_FD``); with an
    offset it loads the address of that byte of the map's value 0
    (``BPF_PSEUDO_MAP_VALUE``: global data).
    """

    insn: int
    map: str
    offset: int | None = None


@dataclasses.dataclass(frozen=True)
class FuncInfoSpec:
    """``bpf_func_info``: the BTF FUNC type of the function starting at ``insn``."""

    insn: int
    type_id: int


@dataclasses.dataclass(frozen=True)
class LineInfoSpec:
    """``bpf_line_info``: the source line of the instruction at ``insn``."""

    insn: int
    file_name_off: int
    line_off: int
    line: int
    col: int


@dataclasses.dataclass(frozen=True)
class CoreReloSpec:
    """``bpf_core_relo``: a CO-RE relocation of the instruction at ``insn``.

    ``insn`` is an instruction index in :attr:`ProgramSpec.instructions`
    (rebased when subprograms are appended), ``type_id`` a type of the
    object's BTF, ``access`` the access string (``"0:1:2"``: the root index,
    then member or array indexes) and ``kind`` a ``BPF_CORE_*`` number
    (:class:`bpfnest.btf.core.CoreKind`). Applied at load against the kernel's
    types (:meth:`CollectionSpec.load`'s ``kernel_btf``).
    """

    insn: int
    type_id: int
    access: str
    kind: int


@dataclasses.dataclass
class ProgramSpec:
    """A program as read from an object; no kernel object.

    ``instructions`` is the linked code (the program's function followed by
    every subprogram it calls, calls relocated) in ``byteorder``.
    ``type`` and ``attach_type`` come from the section name by libbpf's
    conventions and may be changed before loading. ``autoload`` is False for
    a program in a ``SEC("?...")`` section (libbpf's optional programs): a
    collection then leaves it out (it is absent from ``Collection.programs``,
    the maps it uses are still created) until it is set to True.
    """

    name: str
    type: ProgType
    instructions: bytes
    section: str = ""
    attach_type: AttachType | None = None
    attach_to: str = ""
    license: str = ""
    kernel_version: int = 0
    flags: int = 0
    byteorder: str = "little"
    map_refs: list[MapRef] = dataclasses.field(default_factory=list)
    func_info: list[FuncInfoSpec] = dataclasses.field(default_factory=list)
    line_info: list[LineInfoSpec] = dataclasses.field(default_factory=list)
    core_relocations: list[CoreReloSpec] = dataclasses.field(default_factory=list)
    autoload: bool = True

    @property
    def core_relos(self) -> int:
        """The number of CO-RE relocations (``len(core_relocations)``)."""
        return len(self.core_relocations)

    @property
    def insn_count(self) -> int:
        """Number of 8-byte instruction slots."""
        return len(self.instructions) // 8


@dataclasses.dataclass(frozen=True)
class VariableSpec:
    """A global variable: ``size`` bytes at ``offset`` in the value of map ``map``."""

    name: str
    map: str
    offset: int
    size: int


@dataclasses.dataclass
class CollectionSpec:
    """Everything an object file declares: maps, programs, global variables.

    Read with :meth:`from_file` / :meth:`from_bytes`; change freely (e.g.
    give a legacy outer map its ``inner``); load with :meth:`load`.
    """

    maps: dict[str, MapSpec] = dataclasses.field(default_factory=dict)
    programs: dict[str, ProgramSpec] = dataclasses.field(default_factory=dict)
    variables: dict[str, VariableSpec] = dataclasses.field(default_factory=dict)
    btf: BTF | None = None
    byteorder: str = "little"
    file: str = ""

    @classmethod
    def from_file(cls, path: str) -> CollectionSpec:
        """Read an ELF object (``clang -target bpf`` output).

        Only a regular file is read, and at most :data:`MAX_OBJECT_SIZE`
        bytes of it (512 MiB: far more than any BPF object; the largest
        real ones are a few MiB): a device such as ``/dev/zero``, a FIFO or
        a directory is refused before anything is read.

        Raises:
            ParseError: not a regular file, larger than ``MAX_OBJECT_SIZE``,
                or malformed ELF or BTF (names file, section, offset).
            OSError: the file cannot be opened or read.
        """
        return cls.from_bytes(_read_object(path), file=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, file: str = "") -> CollectionSpec:
        """Read an ELF object from memory; see :meth:`from_file`."""
        from .elf import read_collection

        return read_collection(data, file=file)

    def get_global(self, name: str) -> bytes:
        """Return the initial bytes of global variable ``name`` (before load).

        Raises:
            KeyError: no such variable.
        """
        var = self.variables[name]
        value = self._data_value(var)
        return value[var.offset : var.offset + var.size]

    def set_global(self, name: str, value: bytes | int) -> None:
        """Set the initial value of global variable ``name`` before loading.

        ``value`` is bytes of the variable's size or an unsigned int.

        Raises:
            KeyError: no such variable.
            ValueError: a value of the wrong size.
        """
        from .codec import encode

        var = self.variables[name]
        raw = encode(value, var.size, f"variable '{name}'")
        old = self._data_value(var)
        new = old[: var.offset] + raw + old[var.offset + var.size :]
        self.maps[var.map].contents = {0: new}

    def _data_value(self, var: VariableSpec) -> bytes:
        spec = self.maps[var.map]
        contents = spec.contents or {}
        value = contents.get(0, bytes(spec.value_size))
        if not isinstance(value, bytes):
            raise TypeError(f"map '{var.map}' value 0 is not bytes")
        return value

    def load(
        self,
        *,
        pin_root: str = "/sys/fs/bpf",
        log_level: int = 0,
        replace: Mapping[str, Map[Any]] | None = None,
        kernel_btf: str | os.PathLike[str] | BTF | None = None,
    ) -> Collection:
        """Create every map and program: the returned ``Collection`` is the caller's to close.

        All or nothing; see :class:`bpfnest.Collection` for the steps. Maps
        pinned by name go under ``pin_root``. ``log_level`` > 0 keeps the
        verifier's log of every program. ``replace`` gives existing maps to
        use instead of creating those of the same names (the caller keeps
        them; see :class:`bpfnest.Collection`). Minimum kernel: 4.12 for map-in-map,
        4.18 for BTF, 5.2 for ``.rodata`` (frozen); what the object's map and
        program types need beyond that.

        CO-RE relocations (``BPF_CORE_READ``, ``bpf_core_field_exists``, ...)
        are applied before anything is created, against ``kernel_btf``: the
        running kernel's BTF when None (``/sys/kernel/btf/vmlinux``, read once
        per process), else a BTF file (raw BTF as btfhub ships it, or an ELF
        file with ``.BTF``), or a :class:`bpfnest.btf.BTF`. A relocation
        that nothing in the target satisfies turns its instruction into an
        invalid call, which the verifier removes if it cannot run (code
        under ``bpf_core_field_exists``) and otherwise refuses: the error
        then names the program, the instruction and the type and field
        path (``struct task_struct___mine.no_such_field``).

        Raises:
            ValueError: the spec is incomplete (e.g. a legacy outer map
                without an inner map); nothing was created.
            ParseError: a malformed CO-RE record, or a ``kernel_btf`` file
                that is not BTF.
            OSError: ``kernel_btf`` cannot be read.
            NotSupportedError: a foreign byte order; CO-RE relocations and
                no kernel BTF (``CONFIG_DEBUG_INFO_BTF``).
            VerifierError: a program was rejected; ``log`` has the reason.
            BPFError: the kernel refused a step; everything created was
                closed and new pins removed.
        """
        from .collection import Collection

        return Collection(
            self, pin_root=pin_root, log_level=log_level, replace=replace, kernel_btf=kernel_btf
        )


def _read_object(path: str) -> bytes:
    """The bytes of the regular file ``path``, refused past ``MAX_OBJECT_SIZE``."""
    too_large = (
        f"object larger than {MAX_OBJECT_SIZE} bytes (bpfnest.spec.MAX_OBJECT_SIZE):"
        " not a BPF object"
    )
    _check_regular(os.stat(path).st_mode, path)  # a socket cannot even be opened
    # O_NONBLOCK: opening a FIFO put there since must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        _check_regular(st.st_mode, path)
        if st.st_size > MAX_OBJECT_SIZE:
            raise ParseError(too_large, file=str(path))
        with open(fd, "rb", closefd=False) as f:
            data = f.read(st.st_size + 1)  # read(n) allocates n bytes: never the cap
            if len(data) > st.st_size:  # it grew, or says size 0 (procfs): on, in steps
                parts, total = [data], len(data)
                while total <= MAX_OBJECT_SIZE and (chunk := f.read(1 << 20)):
                    parts.append(chunk)
                    total += len(chunk)
                data = b"".join(parts)
    finally:
        os.close(fd)
    if len(data) > MAX_OBJECT_SIZE:
        raise ParseError(too_large, file=str(path))
    return data


def _check_regular(mode: int, path: str) -> None:
    if not stat.S_ISREG(mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise ParseError(
            f"not an object file: {kind} (give the path of a regular ELF file)", file=str(path)
        )


_FILE_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}
