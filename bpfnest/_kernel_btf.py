"""The running kernel's own BTF: ``/sys/kernel/btf/vmlinux`` and its modules', indexed lazily.

Programs that attach to a kernel function, tracepoint, LSM hook or iterator
(``fentry/F``, ``tp_btf/N``, ``lsm/H``, ``iter/T``, ...) name their target by
its type id in the kernel's BTF (``attach_btf_id``); typed ``__ksym`` externs
and kfunc calls name a VAR or FUNC there; CO-RE relocations look up types by
name and walk their members. This module is the one place that reads that
BTF. The file is read once per process and indexed by
:class:`bpfnest.btf.LazyBTF` (one pass over the records: about 30 ms and
15 MB for a 5.5 MB vmlinux BTF, where a full parse took 0.45 s and 100 MB);
a type is decoded when first asked for. :func:`kernel_type_id` is the lookup
of the loader.

Kernel modules publish split BTF (on top of vmlinux's) as BTF objects:
:func:`kernel_btf_objects` lists them through ``BPF_BTF_GET_NEXT_ID``,
``BPF_BTF_GET_FD_BY_ID`` and ``BPF_OBJ_GET_INFO_BY_FD``, and
:func:`module_btf` reads and indexes one (cached by object id).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator

from ._externs import KsymValue, compatible, strip
from ._sys import ops
from ._sys.fd import FD
from ._sys.uapi import Cmd
from .btf import Func, LazyBTF, Type, Typedef, Var
from .errors import BPFError, NotSupportedError, strerror
from .spec import ExternSpec, KsymRef

__all__ = [
    "VMLINUX",
    "KernelBTFObject",
    "KernelType",
    "find_kernel_type",
    "kernel_btf",
    "kernel_btf_objects",
    "kernel_type_id",
    "module_btf",
    "resolve_ksyms",
]

#: Where the running kernel publishes its BTF (``CONFIG_DEBUG_INFO_BTF``, 5.4+).
VMLINUX = "/sys/kernel/btf/vmlinux"
#: The kernel's symbols and their addresses (root sees the addresses).
KALLSYMS = "/proc/kallsyms"

_KINDS: dict[str, type[Type]] = {"FUNC": Func, "TYPEDEF": Typedef, "VAR": Var}
_lock = threading.Lock()


@functools.cache
def _indexed(path: str) -> LazyBTF:
    with open(path, "rb") as f:
        return LazyBTF.parse(f.read(), file=path)


def kernel_btf(path: str = VMLINUX) -> LazyBTF:
    """The BTF at ``path`` (the running kernel's by default), indexed once per
    process; types are decoded on first use (:class:`bpfnest.btf.LazyBTF`,
    a :class:`bpfnest.btf.BTF`).

    Raises:
        NotSupportedError: the file does not exist (a kernel built without
            ``CONFIG_DEBUG_INFO_BTF``; feature ``"kernel BTF"``, 5.4).
        OSError: the file cannot be read.
        ParseError: the file is not valid BTF.
    """
    with _lock:  # one index, even when threads load programs at once
        try:
            return _indexed(os.fspath(path))
        except FileNotFoundError:
            raise NotSupportedError(
                f"no kernel BTF at {path}: programs with a kernel target (fentry, tp_btf,"
                " lsm, iter) need a kernel built with CONFIG_DEBUG_INFO_BTF=y",
                feature="kernel BTF",
                min_kernel="5.4",
                code=errno.ENOENT,
            ) from None


def kernel_type_id(name: str, kind: str, path: str = VMLINUX) -> int | None:
    """The id of the first type called ``name`` of ``kind`` (``"FUNC"``,
    ``"TYPEDEF"`` or ``"VAR"``) in the kernel's BTF, as libbpf's
    ``find_kernel_btf_id``; None when there is none. Other kinds of the same
    name are skipped (``bpf_iter_task`` is both a STRUCT and the FUNC an
    ``iter/task`` program names). Only the matching records are decoded.

    Raises:
        ValueError: an unknown ``kind``.
        NotSupportedError, OSError, ParseError: as :func:`kernel_btf`.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    cls = _KINDS[kind]
    for t in kernel_btf(path).named(name):
        if isinstance(t, cls):
            return t.id
    return None


# ------------------------------------------------------------------ modules


@dataclasses.dataclass(frozen=True)
class KernelBTFObject:
    """A BTF object the kernel publishes: ``name`` is ``"vmlinux"`` or a
    module's name; ``id`` its BTF object id (what ``attach_btf_obj_fd`` and
    module ksyms are opened by)."""

    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class KernelType:
    """Where :func:`find_kernel_type` found a type: ``type_id`` in the BTF of
    ``module`` (``""`` for vmlinux), whose BTF object id is ``btf_obj_id``
    (0 for vmlinux: the loader passes no fd for it)."""

    type_id: int
    module: str = ""
    btf_obj_id: int = 0


def _btf_error(op: str, err: OSError) -> BPFError:
    code = err.errno or errno.EIO
    hint = " (needs CAP_SYS_ADMIN)" if code == errno.EPERM else ""
    return BPFError(code, f"{op}: {strerror(code)}{hint}")


def kernel_btf_objects() -> Iterator[KernelBTFObject]:
    """The kernel's own BTF objects (vmlinux and one per module that has BTF),
    in id order; BTF loaded by programs is skipped. Each object is opened
    for a moment to read its name and closed again.
    Minimum kernel: 5.11 (``kernel_btf`` in ``bpf_btf_info``); 5.4 for the ids.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN (opening a BTF object by id).
    """
    start = 0
    while True:
        try:
            nxt = ops.get_next_id(Cmd.BTF_GET_NEXT_ID, start)
        except OSError as err:
            raise _btf_error("list BTF objects", err) from None
        if nxt is None:
            return
        start = nxt
        try:
            with ops.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, nxt) as fd, fd.borrow() as raw:
                obj_id, name, is_kernel = ops.btf_name(raw)
        except OSError as err:
            if err.errno == errno.ENOENT:  # freed since it was listed
                continue
            raise _btf_error(f"open BTF object {nxt}", err) from None
        if is_kernel:
            yield KernelBTFObject(obj_id, name)


_modules: dict[int, LazyBTF] = {}


def module_btf(obj: KernelBTFObject) -> LazyBTF:
    """The split BTF of a module (on top of :func:`kernel_btf`'s), read from
    its BTF object and indexed once per process.

    Raises:
        BPFError: the object cannot be opened or read (``ENOENT``: the module
            was unloaded; ``EPERM``: no CAP_SYS_ADMIN).
        ParseError: its data is not valid split BTF.
    """
    with _lock:
        found = _modules.get(obj.id)
    if found is not None:
        return found
    base = kernel_btf()
    try:
        with ops.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, obj.id) as fd, fd.borrow() as raw:
            data = ops.btf_data(raw)
    except OSError as err:
        raise _btf_error(f"read BTF of module {obj.name!r} (BTF object {obj.id})", err) from None
    btf = LazyBTF.parse(data, file=f"/sys/kernel/btf/{obj.name}", base=base)
    with _lock:
        return _modules.setdefault(obj.id, btf)


def find_kernel_type(name: str, kind: str) -> KernelType | None:
    """The first type called ``name`` of ``kind`` (as :func:`kernel_type_id`)
    in vmlinux's BTF, else in the modules' (libbpf's ``find_ksym_btf_id``);
    None when there is none. Modules are listed only when vmlinux lacks it.
    Minimum kernel: 5.4 (vmlinux), 5.11 (modules).

    Raises:
        ValueError: an unknown ``kind``.
        NotSupportedError, OSError, ParseError: as :func:`kernel_btf`.
        BPFError: listing or reading module BTF failed.
    """
    found = kernel_type_id(name, kind)
    if found is not None:
        return KernelType(found)
    cls = _KINDS[kind]
    for obj in kernel_btf_objects():
        if obj.name == "vmlinux":
            continue
        btf = module_btf(obj)
        for type_id in btf.ids_named(name):
            if isinstance(btf.type_by_id(type_id), cls):
                return KernelType(type_id, obj.name, obj.id)
    return None


# ------------------------------------------------------------------ __ksym externs


def kallsyms(names: Iterable[str], path: str = KALLSYMS) -> dict[str, list[int]]:
    """The addresses of ``names`` in ``/proc/kallsyms`` (one per line that
    names it: several means the name is ambiguous). A data symbol renamed
    by LTO (``name.llvm.123``) counts as ``name``, as libbpf has it.

    Raises:
        OSError: the file cannot be read.
    """
    wanted = sorted(set(names))
    found: dict[str, list[int]] = {name: [] for name in wanted}
    if not wanted:
        return found
    with open(path, "rb") as f:
        text = f.read()
    pattern = re.compile(
        rb"^([0-9a-fA-F]+) (\w) ("
        + b"|".join(re.escape(n.encode()) for n in wanted)
        + rb")(\.llvm\.\d+)?(?:\t.*)?$",
        re.M,
    )
    for m in pattern.finditer(text):
        if m.group(4) and m.group(2) not in b"dD":
            continue
        found[m.group(3).decode()].append(int(m.group(1), 16))
    return found


def _ksym_error(program: str, ext: ExternSpec, code: int, why: str) -> BPFError:
    return BPFError(code, f"load program '{program}': extern '{ext.name}' (__ksym): {why}")


def resolve_ksyms(
    refs: Iterable[KsymRef], program: str, hold: Callable[[FD], int]
) -> dict[str, KsymValue]:
    """What each ``__ksym`` extern of a program stands for in the running
    kernel (libbpf's ``bpf_object__resolve_externs`` for ksyms): a typed one
    by its VAR or FUNC in the kernel's BTF (vmlinux's, else a module's, whose
    BTF fd is opened and given to ``hold``, which owns and closes it and
    returns the number), checked against the declared type; an untyped one
    by its address in /proc/kallsyms. A ``__weak`` one the kernel lacks is
    all 0. Nothing is loaded.
    Minimum kernel: 5.10 (typed), 5.13 (kfunc calls).

    Raises:
        BPFError: ``ESRCH``: a strong extern the kernel lacks (untyped: no
            such line in /proc/kallsyms, where data symbols appear only with
            ``CONFIG_KALLSYMS_ALL``); ``EINVAL``: the kernel's type is not
            compatible with the declared one, or the name is ambiguous;
            ``EPERM``: /proc/kallsyms hides addresses (``kptr_restrict``).
        NotSupportedError: a kfunc found only in a module (no ``fd_array`` yet),
            or no kernel BTF at all.
    """
    externs = {ref.extern.name: ref.extern for ref in refs}
    out: dict[str, KsymValue] = {}
    untyped = [e for e in externs.values() if e.kind == "untyped"]
    addresses = kallsyms(e.name for e in untyped) if untyped else {}
    for ext in untyped:
        found = sorted(set(addresses[ext.name]))
        if not found:
            if not ext.weak:
                raise _ksym_error(
                    program,
                    ext,
                    errno.ESRCH,
                    f"no symbol '{ext.name}' in {KALLSYMS} (the kernel lists data symbols"
                    " only when built with CONFIG_KALLSYMS_ALL: declare it with its type to"
                    " find it in the kernel's BTF, or __weak to load without it)",
                )
            out[ext.name] = KsymValue()
        elif len(found) > 1:
            raise _ksym_error(
                program,
                ext,
                errno.EINVAL,
                f"ambiguous: {KALLSYMS} has it at {', '.join(hex(a) for a in found)}",
            )
        elif found == [0]:
            raise _ksym_error(
                program,
                ext,
                errno.EPERM,
                f"{KALLSYMS} shows its address as 0 (kernel.kptr_restrict; needs CAP_SYSLOG)",
            )
        else:
            out[ext.name] = KsymValue(address=found[0])
    for ext in externs.values():
        if ext.kind in ("var", "func"):
            out[ext.name] = _typed_ksym(ext, program, hold)
    return out


def _typed_ksym(ext: ExternSpec, program: str, hold: Callable[[FD], int]) -> KsymValue:
    kind = "VAR" if ext.kind == "var" else "FUNC"
    found = find_kernel_type(ext.name, kind)
    if found is None:
        if ext.weak:
            return KsymValue()
        raise _ksym_error(
            program, ext, errno.ESRCH, f"no {kind} '{ext.name}' in the kernel's BTF ({VMLINUX})"
        )
    btf = module_btf(KernelBTFObject(found.btf_obj_id, found.module)) if found.module else None
    target = (btf or kernel_btf()).type_by_id(found.type_id)
    assert isinstance(target, (Var, Func))
    if ext.type is not None and not compatible(ext.type, target.type):
        if ext.weak and kind == "FUNC":
            return KsymValue()  # libbpf: a weak kfunc of another prototype is left unresolved
        raise _ksym_error(
            program,
            ext,
            errno.EINVAL,
            f"declared {_spell(ext.type)}, but the kernel's {kind} is {_spell(target.type)}",
        )
    if not found.module:
        return KsymValue(btf_id=found.type_id)
    if kind == "FUNC":
        raise NotSupportedError(
            f"load program '{program}': kfunc '{ext.name}' is in module {found.module!r}:"
            " calls into module BTF (fd_array) are not supported yet",
            feature="module kfuncs",
        )
    try:
        fd = ops.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, found.btf_obj_id)
    except OSError as err:
        raise _btf_error(f"open BTF of module {found.module!r}", err) from None
    return KsymValue(btf_id=found.type_id, btf_obj_fd=hold(fd))


def _spell(t: Type) -> str:
    """A type for an error message: ``int``, ``struct rq``, ``a pointer``."""
    t = strip(t)
    kind = type(t).__name__.lower()
    if kind in ("struct", "union", "enum"):
        return f"{kind} {t.name or '(anon)'}"
    if kind == "funcproto":
        return f"a function of {len(getattr(t, 'params', []))} parameters"
    if kind == "pointer":
        return "a pointer"
    return t.name or kind
