"""Loading a :class:`CollectionSpec`: maps, outer maps, programs, slots.

:class:`Collection` owns every map and program it creates. Its private
:class:`_Loader` works in the order the kernel needs and is all-or-nothing:

0. checks, and CO-RE relocations applied to the programs' code (against the
   kernel's BTF or ``kernel_btf``; :mod:`bpfnest._core_load`): nothing is
   created yet;
1. BTF, when programs carry func_info/line_info (``BPF_BTF_LOAD``);
2. plain maps (pinned ones reused when compatible), global data filled in,
   ``.rodata`` and ``.kconfig`` frozen; a ``PERF_EVENT_ARRAY`` declared
   without ``max_entries`` gets one slot per possible CPU, as with libbpf
   (the spec keeps its 0);
3. outer maps, each from a template that is closed right after;
4. programs, with map references resolved to fds;
5. declared slots of outer maps and PROG_ARRAYs, and the programs of each
   ``STRUCT_OPS`` map (a ``SEC(".struct_ops")`` variable: created in step 2
   as the kernel's ``struct bpf_struct_ops_<T>``, its programs loaded with
   the kernel's struct and member index; registered only by
   ``Map.attach_struct_ops``);
6. pins of new pinned maps.

Everything created goes on an ``ExitStack`` that is released only when the
last step succeeded, so a failure anywhere closes all of it and removes new
pins. Each step is logged at DEBUG on the ``"bpfnest"`` logger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import mmap
import os
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from . import _core_load, _pins
from ._hints import btf_eperm_hint
from ._kconfig import kconfig_value
from ._kconfig import kernel_version_code as kernel_version_code  # (re-exported)
from ._kconfig import read_kernel_config as read_kernel_config  # (re-exported)
from ._kernel_btf import resolve_ksyms
from ._pins import pin_name as pin_name  # (re-exported: the CLI names pins by it)
from ._struct_ops import StructOpsValue, kernel_value
from ._sys import ops
from ._sys.fd import FD
from ._variables import Variables
from .btf.core import CoreFixup
from .codec import encode
from .constants import ENOTSUPP, F_MMAPABLE, MapType, ProgType
from .errors import BPFError, NotSupportedError, VerifierError
from .maps import Map, OuterMap, StructOpsMap, possible_cpus
from .programs import Program, unknown_type
from .spec import PIN_BY_NAME, CollectionSpec, MapSpec, ProgramSpec, check_pin_dir

__all__ = ["Collection"]

log = logging.getLogger("bpfnest")


class Collection:
    """The maps and programs of a loaded object; owns all of them.

    ``maps`` and ``programs`` are keyed by the names in the spec. Close with
    :meth:`close` or a ``with`` block: that closes every fd (maps that are
    pinned, or held by an outer map or a program, live on in the kernel).

    ``replace`` gives existing maps to use instead of creating the spec's
    maps of those names (libbpf's ``bpf_map__reuse_fd``, cilium/ebpf's
    ``MapReplacements``): each must be compatible with the spec (type, key
    and value size, max_entries, flags, an outer map's template); the
    collection holds its own duplicate fd, so the given ``Map`` stays the
    caller's, and its contents and slots are left as they are (declared
    slots and global data are not written into it).

    CO-RE relocations are applied against ``kernel_btf`` (see
    :meth:`bpfnest.CollectionSpec.load`) before anything is created.

    Maps pinned by name (``PIN_BY_NAME``) are reused from, or pinned in,
    ``pin_root`` (made mode 0700 when missing, as libbpf does). No symlink
    on the way is followed: one planted there is an error, never a way to
    reuse or pin a map elsewhere.

    Raises:
        ValueError: the spec is incomplete (e.g. a legacy outer map without
            an inner map), ``replace`` names no map of the spec, or the name
            of a map pinned by name cannot be one file name (``/``, NUL,
            ``.``, ``..``) or collides with another once dots become ``_``;
            nothing was created.
        TypeError: a ``replace`` value that is not a ``Map``.
        BPFError: the kernel refused a step, or ``pin_root`` holds a symlink
            (``ELOOP``); everything created was closed and new pins removed.
        VerifierError: a program was rejected (its ``log`` has the reason).
    """

    def __init__(
        self,
        spec: CollectionSpec,
        *,
        pin_root: str = "/sys/fs/bpf",
        log_level: int = 0,
        replace: Mapping[str, Map[Any]] | None = None,
        kernel_btf: _core_load.KernelBTF = None,
    ) -> None:
        self.spec = spec
        self.maps: dict[str, Map[Any]] = {}
        self.programs: dict[str, Program] = {}
        _Loader(
            spec,
            self,
            pin_root=pin_root,
            log_level=log_level,
            replace=replace,
            kernel_btf=kernel_btf,
        ).load()

    @property
    def variables(self) -> Variables:
        """The object's global variables by name, each with ``.value`` (typed from
        the BTF) and ``.raw`` (bytes), read and written in their data maps now:
        without a syscall where the map is mapped (``.data``, ``.bss`` and
        ``.rodata`` are created ``F_MMAPABLE`` on Linux 5.5+), else by lookup
        and update. ``.rodata`` and ``.kconfig`` ones are read-only (frozen at
        load). They work while the collection is open.
        """
        found = self.__dict__.get("_variables")
        if found is None:
            found = self.__dict__["_variables"] = Variables(self.spec, self.maps)
        return found

    def close(self) -> None:
        """Close every map and program fd; idempotent."""
        found = self.__dict__.get("_variables")
        if found is not None:
            found.release()  # the mapped data goes before its maps
        for prog in self.programs.values():
            prog.close()
        for m in self.maps.values():
            m.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def get_global(self, name: str) -> bytes:
        """Read global variable ``name`` from its map now.

        Raises:
            KeyError: no such variable.
        """
        var = self.spec.variables[name]
        value = self.maps[var.map][0]
        assert isinstance(value, bytes)
        return value[var.offset : var.offset + var.size]

    def set_global(self, name: str, value: bytes | int) -> None:
        """Write global variable ``name`` in its map (read-modify-write of value 0).

        Raises:
            KeyError: no such variable.
            ValueError: a value of the wrong size.
            BPFError: ``EPERM`` for ``.rodata``/``.kconfig``, frozen at load.
        """
        var = self.spec.variables[name]
        raw = encode(value, var.size, f"variable '{name}'")
        m = self.maps[var.map]
        old = m[0]
        m[0] = old[: var.offset] + raw + old[var.offset + var.size :]

    def pin_all(self, directory: _pins.PathArg) -> list[str]:
        """Pin every map at ``directory/maps/NAME`` and program at ``directory/progs/NAME``.

        Dots in names become ``_`` (bpffs refuses them): ``.bss`` -> ``maps/_bss``.
        A name that cannot be one file name (``/``, NUL, ``.``, ``..``), or
        two names that become the same one, are refused before anything is
        pinned.

        ``directory`` must be on a bpffs. It and the two subdirectories are
        made mode 0700 when missing; no symlink in ``directory/maps`` or
        ``directory/progs`` is followed. A map already pinned at its path
        (e.g. a pin-by-name map reused from there) is left as it is. All or
        nothing: on any failure, or an exception such as KeyboardInterrupt,
        the pins made so far and the directories made are removed. Returns
        the path of every pin. Minimum kernel: 4.4.

        Raises:
            TypeError, ValueError: ``directory`` is not a path; a name cannot
                be a pin file name, or two names collide.
            BPFError: a pin failed (e.g. ``EEXIST``: something is there
                already), or a directory is a symbolic link (``ELOOP``).
            OSError: the directories cannot be made.
        """
        directory = _pins.check_path(directory, "pin_all")
        plan: list[tuple[str, list[tuple[str, Map[Any] | Program]]]] = []
        for sub, what, objs in (
            ("maps", "map", self.maps),
            ("progs", "program", self.programs),
        ):
            files = _pin_files(objs, what, os.path.join(directory, sub))
            plan.append((sub, [(f, objs[name]) for f, name in files.items()]))
        paths: list[str] = []
        created: list[str] = []
        pins = _pins.PinSet()
        with contextlib.ExitStack() as dirs:
            try:
                for sub, entries in plan:
                    where = os.path.join(directory, sub)
                    dir_fd = _pins.open_dir(where, create=True, created=created)
                    assert dir_fd is not None
                    dirs.callback(os.close, dir_fd)
                    for fname, obj in entries:
                        pins.pin(obj, dir_fd, fname, exist_ok=True)
                        paths.append(os.path.join(where, fname))
            except BaseException:
                pins.rollback()
                _pins.remove_dirs(created)
                raise
        return paths

    def __repr__(self) -> str:
        return f"<Collection {len(self.maps)} maps, {len(self.programs)} programs>"


class _Loader:
    def __init__(
        self,
        spec: CollectionSpec,
        coll: Collection,
        *,
        pin_root: str,
        log_level: int,
        replace: Mapping[str, Map[Any]] | None,
        kernel_btf: _core_load.KernelBTF = None,
    ) -> None:
        self.spec = spec
        self.kernel_btf = kernel_btf
        self.relocated: dict[str, tuple[ProgramSpec, list[CoreFixup]]] = {}
        self.core_target = ""
        self.coll = coll
        self.pin_root = pin_root
        self.log_level = log_level
        self.replace = dict(replace or {})
        self.reused: set[str] = set()
        self.btf_fd: FD | None = None
        self.to_pin: list[tuple[str, str, str]] = []  # (map, pin_dir, file name)
        self.pin_dirs: dict[str, int] = {}  # pin_root and its pin_dir subdirectories, opened
        # without following symlinks; self.dirs closes them after a rollback used them
        self.dirs = contextlib.ExitStack()
        self.kconfig: bytes | None = None  # the .kconfig value, answered before any syscall
        self.struct_ops: dict[str, StructOpsValue] = {}  # from the kernel's BTF, before any syscall

    def load(self) -> None:
        self.check()
        with self.dirs, contextlib.ExitStack() as stack:
            btf_fd = self.btf_fd = self.load_btf(stack)
            for name, ms in self.spec.maps.items():
                if not ms.type.is_outer:
                    self.create_map(name, ms, stack)
            for name, ms in self.spec.maps.items():
                if ms.type.is_outer:
                    self.create_map(name, ms, stack)
            for name, ps in self.spec.programs.items():
                if not ps.autoload:
                    log.debug("program '%s': autoload is off, not loaded", name)
                    continue
                prog = self.load_program(name, ps, btf_fd)
                stack.callback(prog.close)
                self.coll.programs[name] = prog
                log.debug("program '%s': loaded as %s, id %d", name, ps.type.name, prog.id)
            self.fill_slots()
            for name in self.struct_ops:
                m = self.coll.maps[name]
                assert isinstance(m, StructOpsMap)
                m._bind(self.coll.programs)
            self.pin(stack)
            if btf_fd is not None:
                btf_fd.close()  # programs and maps hold their own references
            stack.pop_all()

    def load_program(self, name: str, ps: ProgramSpec, btf_fd: FD | None) -> Program:
        """Load program ``name`` (its CO-RE relocations applied); the error of a
        poisoned instruction names the type and field the target lacks."""
        relocated, fixups = self.relocated.get(name, (ps, []))
        try:
            return Program.load(
                relocated,
                self.coll.maps,
                btf_fd=btf_fd.raw if btf_fd else 0,
                log_level=self.log_level,
            )
        except VerifierError as err:
            better = _core_load.explain(err, ps, fixups, self.core_target) if fixups else None
            if better is None:
                raise
            raise better from None

    # ------------------------------------------------------------ checks

    def check(self) -> None:
        if self.spec.byteorder != _native():
            raise NotSupportedError(
                f"load '{self.spec.file}': the object is {self.spec.byteorder}-endian and this"
                f" machine is {_native()}-endian (build it with -target bpf)",
                feature="byte order",
            )
        for ps in self.spec.programs.values():
            if not ps.autoload:
                continue
            if ps.type == ProgType.UNSPEC:
                raise ValueError(unknown_type(ps))
        names = set(self.spec.maps)
        progs = {n for n, ps in self.spec.programs.items() if ps.autoload}
        for name, given in self.replace.items():
            if name not in names:
                raise ValueError(
                    f"replace: the object has no map '{name}' (it has {', '.join(sorted(names))})"
                )
            if not isinstance(given, Map):
                raise TypeError(f"replace['{name}'] must be a Map, got {type(given).__name__}")
            if given.closed:
                raise ValueError(f"replace['{name}']: map '{given.name}' is closed")
        for name, ms in self.spec.maps.items():
            if name in self.replace:
                continue
            check_pin_dir(ms.pin_dir, f"map '{name}'")
            if ms.type.is_outer and ms.inner is None:
                raise ValueError(
                    f"map '{name}': {ms.type.name} has no inner map definition"
                    f" (legacy SEC(\"maps\")): set spec.maps['{name}'].inner to a MapSpec"
                    " or a Map before loading"
                )
            for slot, target in (ms.contents or {}).items():
                if ms.type.is_outer and isinstance(target, str) and target not in names:
                    raise ValueError(f"map '{name}': slot [{slot}] names unknown map '{target}'")
                if (
                    ms.type == MapType.PROG_ARRAY
                    and isinstance(target, str)
                    and target not in progs
                ):
                    off = target in self.spec.programs
                    raise ValueError(
                        f"map '{name}': slot [{slot}] names program '{target}', which autoload"
                        f" leaves out (set spec.programs['{target}'].autoload = True)"
                        if off
                        else f"map '{name}': slot [{slot}] names unknown program '{target}'"
                    )
        for pname, ps in self.spec.programs.items():
            for ref in ps.map_refs:
                if ref.map not in names:
                    raise ValueError(f"program '{pname}' refers to unknown map '{ref.map}'")
        by_name = {
            n: ms
            for n, ms in self.spec.maps.items()
            if ms.pinning == PIN_BY_NAME and n not in self.replace
        }
        if by_name:
            self.pin_root = _pins.check_path(self.pin_root, "pin_root")
            _pin_files(by_name, "map", self.pin_root)
        if ".kconfig" in names and ".kconfig" not in self.replace:
            self.kconfig = kconfig_value(self.spec)
        self.relocated, self.core_target = _core_load.relocate_all(self.spec, self.kernel_btf)
        for pname, ps in self.spec.programs.items():
            if ps.autoload and ps.ksym_refs:  # answered again by Program.load
                resolve_ksyms(ps.ksym_refs, pname, _close_now)
        for name, ms in self.spec.maps.items():
            if ms.type == MapType.STRUCT_OPS and name not in self.replace:
                self.struct_ops[name] = value = kernel_value(name, ms)
                for prog in value.programs.values():
                    if prog not in progs:
                        raise ValueError(
                            f"map '{name}': a function pointer names program '{prog}', which"
                            f" autoload leaves out (set spec.programs['{prog}'].autoload = True)"
                        )

    # ------------------------------------------------------------ BTF

    def load_btf(self, stack: contextlib.ExitStack) -> FD | None:
        btf = self.spec.btf
        wanted = any(p.func_info for p in self.spec.programs.values()) or any(
            m.btf_key_type_id or m.btf_value_type_id or m.struct_ops
            for m in self.spec.maps.values()
        )
        if btf is None or not wanted:
            return None
        if btf.byteorder != self.spec.byteorder or self.spec.byteorder != _native():
            return None  # the program load refuses the byte order with a clear error
        try:
            fd, _ = ops.btf_load(btf.raw)
        except ops.BtfLoadError as err:
            try:
                again_fd, _ = ops.btf_load(btf.raw, log_level=1, log_size=1 << 20)
            except ops.BtfLoadError as again:
                text = again.log
            else:
                again_fd.close()
                text = ""
            last = _last_line(text)
            hint = btf_eperm_hint() if err.errno == errno.EPERM else None
            raise BPFError(
                err.errno or 0,
                f"load BTF of '{self.spec.file}': {err.strerror}"
                + (f": {last}" if last else "")
                + (f" ({hint})" if hint else ""),
            ) from None
        stack.callback(fd.close)
        log.debug("BTF of '%s' loaded", self.spec.file)
        return fd

    # ------------------------------------------------------------ maps

    def create_map(self, name: str, ms: MapSpec, stack: contextlib.ExitStack) -> None:
        ms = _sized_for_this_machine(name, ms)
        given = self.replace.get(name)
        if given is not None:
            m = Map.from_fd(given.fd)  # the collection's own fd; the caller keeps theirs
            stack.callback(m.close)
            if isinstance(m, OuterMap) and isinstance(given, OuterMap):
                m._template = given._template
            _check_compatible(m, ms, f"replace map '{name}' with '{given.name}'")
            self.coll.maps[name] = m
            self.reused.add(name)
            log.debug("map '%s': replaced by the given map, id %d", name, m.id)
            return
        ms = _mappable_data(name, ms)
        if ms.pinning == PIN_BY_NAME:
            fname = pin_name(name)
            path = os.path.join(self.pin_root, ms.pin_dir, fname)
            where = self.open_pin_dir(ms.pin_dir, create=False)
            pinned = None if where is None else _pins.reuse_pinned(where, fname, path)
            if pinned is not None:
                stack.callback(pinned.close)
                _check_compatible(pinned, ms, f"reuse pinned map '{name}' at {path}")
                self.coll.maps[name] = pinned
                self.reused.add(name)
                log.debug("map '%s': reused pinned map at %s, id %d", name, path, pinned.id)
                return
            self.to_pin.append((name, ms.pin_dir, fname))
        if name in self.struct_ops:  # the kernel's value type, with the object's BTF
            btf_fd = self.btf_fd.raw if self.btf_fd else 0
            st = StructOpsMap._made(ms, self.struct_ops[name], btf_fd=btf_fd)
            stack.callback(st.close)
            self.coll.maps[name] = st
            log.debug("map '%s': created STRUCT_OPS %s", name, st.struct_ops_type)
            return
        create = ms
        if name == ".kconfig" and self.kconfig is not None:
            create = MapSpec(**{**ms.__dict__, "contents": {0: self.kconfig}})
        m = self.create_with_btf(name, _without_contents(create))
        stack.callback(m.close)
        self.coll.maps[name] = m
        if log.isEnabledFor(logging.DEBUG):  # m.id costs a syscall: a new map learns it lazily
            log.debug("map '%s': created %s, id %d", name, ms.type.name, m.id)
        if not (ms.type.is_outer or ms.type == MapType.PROG_ARRAY):
            for key, value in (create.contents or {}).items():
                m[key] = value
            if name.startswith(".rodata") or name == ".kconfig":
                m.freeze()
                log.debug("map '%s': frozen", name)

    def create_with_btf(self, name: str, ms: MapSpec) -> Map[Any]:
        """Create with the object's BTF for key and value where it applies (not for
        outer maps: the kernel refuses that); without it if the kernel refuses."""
        if (
            self.btf_fd is None
            or ms.type.is_outer
            or not (ms.btf_key_type_id or ms.btf_value_type_id)
        ):
            return Map.create(_without_btf(ms))
        try:
            return Map.create(ms, btf_fd=self.btf_fd.raw)
        except BPFError as err:
            if err.errno not in (errno.EINVAL, ENOTSUPP, errno.EOPNOTSUPP):
                raise
            log.debug("map '%s': kernel refused its BTF (%s); created without", name, err)
            return Map.create(_without_btf(ms))

    def fill_slots(self) -> None:
        """Fill the declared slots of each outer map and PROG_ARRAY.

        All slots of a map go in one BPF_MAP_UPDATE_BATCH: an outer map pays
        one RCU grace period for all of them instead of one per slot. If the
        batch is refused, the slots are set one by one so that the error names
        the slot and what was to go in it.
        """
        for name, ms in self.spec.maps.items():
            if not (ms.type.is_outer or ms.type == MapType.PROG_ARRAY) or name in self.reused:
                continue
            outer = self.coll.maps[name]
            what = "map" if ms.type.is_outer else "program"
            slots: list[tuple[Any, Any, str]] = []
            for slot, target in sorted((ms.contents or {}).items(), key=lambda kv: str(kv[0])):
                if isinstance(target, str):
                    value: Any = (
                        self.coll.maps[target]
                        if ms.type.is_outer
                        else self.coll.programs[target].fd
                    )
                    slots.append((slot, value, target))
                else:
                    slots.append((slot, target, getattr(target, "name", repr(target))))
            if not slots:
                continue
            try:
                outer.update_batch([(slot, value) for slot, value, _ in slots])
            except (BPFError, ValueError, TypeError):
                for slot, value, target in slots:
                    try:
                        outer[slot] = value
                    except BPFError as err:
                        raise BPFError(
                            err.errno or errno.EINVAL,
                            f"map '{name}': slot [{slot}] cannot be set to {what} '{target}':"
                            f" {err.reason}",
                            reason=err.reason,
                        ) from None
            for slot, value, target in slots:
                fd = value.fd if isinstance(value, (Map, Program)) else value
                log.debug("map '%s': slot [%s] set to %s '%s' fd=%d", name, slot, what, target, fd)

    def open_pin_dir(self, sub: str, *, create: bool) -> int | None:
        """The fd of ``pin_root/sub`` (``sub`` "" for pin_root itself, else a
        map's ``pin_dir``), opened without following a symlink anywhere in it;
        None when it is missing and not ``create``. Missing directories are
        made 0700 and removed again, when still empty, if the load fails."""
        if sub not in self.pin_dirs:
            created: list[str] = []
            self.dirs.callback(_pins.remove_dirs, created)  # empty ones only
            path = os.path.join(self.pin_root, sub) if sub else self.pin_root
            fd = _pins.open_dir(path, create=create, created=created)
            if fd is None:
                return None
            self.dirs.callback(os.close, fd)
            self.pin_dirs[sub] = fd
        return self.pin_dirs[sub]

    def pin(self, stack: contextlib.ExitStack) -> None:
        if not self.to_pin:
            return
        pins = _pins.PinSet()
        stack.callback(pins.rollback)
        for name, sub, fname in self.to_pin:
            where = self.open_pin_dir(sub, create=True)
            assert where is not None
            pins.pin(self.coll.maps[name], where, fname)
            log.debug("map '%s': pinned at %s", name, os.path.join(self.pin_root, sub, fname))


def _pin_files(objs: Mapping[str, Any], what: str, where: str) -> dict[str, str]:
    """``{file name: name}`` of ``objs`` pinned in directory ``where``.

    Raises:
        ValueError: a name cannot be a file name, or two become the same one.
    """
    files: dict[str, str] = {}
    for name in objs:
        _pins.check_name(name, what)
        fname = pin_name(name)
        if fname in files:
            raise ValueError(
                f"pin {what}s '{files[fname]}' and '{name}': both would be pinned at"
                f" '{os.path.join(where, fname)}' (bpffs names hold no dots: they become '_');"
                " rename one of them"
            )
        files[fname] = name
    return files


def _sized_for_this_machine(name: str, ms: MapSpec) -> MapSpec:
    """``ms``, or a copy with what is left to the loader filled in, as libbpf does:
    a PERF_EVENT_ARRAY (or such an inner template) without max_entries gets one
    slot per possible CPU (/sys/devices/system/cpu/possible); a RINGBUF or
    USER_RINGBUF size is rounded up to what the kernel takes (:func:`ring_size`).
    The spec stays as read."""
    inner = ms.inner
    if isinstance(inner, MapSpec):
        sized = _sized_for_this_machine(f"{name}.inner", inner)
        if sized is not inner:
            ms = dataclasses.replace(ms, inner=sized)
    if ms.type == MapType.PERF_EVENT_ARRAY and ms.max_entries == 0:
        ms = dataclasses.replace(ms, max_entries=possible_cpus())
        log.debug("map '%s': max_entries 0 set to %d possible CPUs", name, ms.max_entries)
    if ms.type in (MapType.RINGBUF, MapType.USER_RINGBUF):
        size = ring_size(ms.max_entries)
        if size != ms.max_entries:
            log.debug("map '%s': ring of %d bytes rounded up to %d", name, ms.max_entries, size)
            ms = dataclasses.replace(ms, max_entries=size)
    return ms


def ring_size(size: int, page: int = mmap.PAGESIZE) -> int:
    """The ring buffer size the kernel takes for a declared ``size``, as libbpf's
    ``adjust_ringbuf_sz``: a power-of-2 multiple of the page size, the smallest
    one above ``size`` when ``size`` is not one already (0, and a size no such
    multiple in 32 bits can hold, are left for the kernel to refuse)."""
    if size == 0 or (size % page == 0 and (size // page).bit_count() == 1):
        return size
    mul = 1
    while mul * page <= 0xFFFF_FFFF:
        if mul * page > size:
            return mul * page
        mul <<= 1
    return size


def _mappable_data(name: str, ms: MapSpec) -> MapSpec:
    """A global data map (``.data``, ``.bss``, ``.rodata`` and their ``.*``
    variants) made ``F_MMAPABLE`` where the kernel allows it (5.5+), as libbpf
    does, so ``Collection.variables`` reads and writes it without a syscall."""
    if (
        ms.type == MapType.ARRAY
        and name.startswith((".data", ".bss", ".rodata"))
        and not ms.flags & F_MMAPABLE
        and kernel_version_code() >= (5 << 16) | (5 << 8)
    ):
        return dataclasses.replace(ms, flags=ms.flags | F_MMAPABLE)
    return ms


def _without_btf(ms: MapSpec) -> MapSpec:
    return MapSpec(**{**ms.__dict__, "btf_key_type_id": 0, "btf_value_type_id": 0})


def _without_contents(ms: MapSpec) -> MapSpec:
    return MapSpec(**{**ms.__dict__, "contents": None, "pinning": None})


def _check_compatible(m: Map[Any], ms: MapSpec, what: str) -> None:
    """Raise unless ``m`` is what ``ms`` describes (:meth:`Map._check_against`)."""
    m._check_against(ms, what)


def _native() -> Literal["little", "big"]:
    return sys.byteorder


def _last_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else ""


def _close_now(fd: FD) -> int:
    """A module BTF fd opened to check a ksym before the load: not kept."""
    fd.close()
    return 0
