"""Live kernel programs: :class:`Program` owns one program file descriptor.

A ``Program`` comes from :meth:`Program.load` (a :class:`ProgramSpec` plus
the maps it refers to), :meth:`Program.from_id`, :meth:`Program.from_pinned`
or :meth:`Program.from_fd`, and is closed by :meth:`Program.close` (or a
``with`` block). :meth:`Program.test_run` runs it in the kernel on a buffer
(``BPF_PROG_TEST_RUN``).

Loading is fast first: no verifier log is asked for. Only when the kernel
refuses is the load repeated with a log buffer that grows until the whole
log fits, and the refusal raised as :class:`VerifierError` carrying it.
:func:`link_maps` is the pure step that writes map fds into the
instructions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import re
import struct
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import ClassVar, Protocol

from ._attach import Attachable
from ._hints import prog_eperm_hint
from ._object import KernelObject, iter_ids
from ._sys import ops
from ._sys.fd import FD
from ._sys.uapi import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BpfProgInfo, Cmd
from .constants import ENOTSUPP, AttachType, ProgType
from .errors import BPFError, NotSupportedError, VerifierError, error, strerror
from .sections import BTF_TARGET_SECTIONS, kernel_btf_target
from .spec import MapRef, ProgramSpec

__all__ = ["Program", "ProgramInfo", "TestRun", "link_maps", "program_ids", "unknown_type"]


_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_INSN = struct.Struct("=BBhi")  # code, dst/src registers, off, imm (native order)
_FUNC_INFO = struct.Struct("=II")  # struct bpf_func_info
_LINE_INFO = struct.Struct("=IIII")  # struct bpf_line_info
_LOG_START = 64 * 1024
_LOG_MAX = 16 * 1024 * 1024
_LOG_MIN = 128  # the kernel refuses a smaller log buffer
_ETH_HLEN = 14
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.]")
# Program types whose test_run takes a packet that starts with an Ethernet header.
_PACKET_TYPES = frozenset(
    {
        ProgType.SOCKET_FILTER,
        ProgType.SCHED_CLS,
        ProgType.SCHED_ACT,
        ProgType.XDP,
        ProgType.CGROUP_SKB,
        ProgType.LWT_IN,
        ProgType.LWT_OUT,
        ProgType.LWT_XMIT,
        ProgType.LWT_SEG6LOCAL,
        ProgType.SK_SKB,
        ProgType.FLOW_DISSECTOR,
    }
)
# Program types whose test_run refuses a ctx_out buffer (SYSCALL writes ctx_in back).
_NO_CTX_OUT = frozenset({ProgType.SYSCALL, ProgType.RAW_TRACEPOINT, ProgType.TRACING})
_CTX_OUT = 1024  # default ctx output buffer; more than any context struct
# Lines of a verifier log that are statistics, not the reason for a refusal.
_LOG_NOISE = ("processed ", "verification time ", "stack depth ")
_LOG_STATS = re.compile(r"processed \d+ insns \(limit \d+\).*$")


class _HasFd(Protocol):
    """Anything with an open fd, such as :class:`bpfnest.Map`."""

    @property
    def fd(self) -> int: ...


@dataclasses.dataclass(frozen=True)
class TestRun:
    """What one :meth:`Program.test_run` gave back.

    ``retval`` is the program's return value (the last run's, with
    ``repeat``); ``data`` the packet after the program, as long as the kernel
    says it is; ``ctx`` the context after the run (None when none was given);
    ``duration_ns`` the mean time of one run in nanoseconds.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    retval: int
    data: bytes
    ctx: bytes | None
    duration_ns: int


@dataclasses.dataclass(frozen=True)
class ProgramInfo:
    """What the kernel reports about a loaded program (``struct bpf_prog_info``)."""

    type: ProgType | int
    id: int
    name: str
    tag: str
    gpl_compatible: bool
    load_time: int
    created_by_uid: int
    nr_map_ids: int
    btf_id: int
    xlated_prog_len: int
    jited_prog_len: int
    verified_insns: int
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    attach_btf_id: int
    attach_btf_obj_id: int
    ifindex: int


def _info_from_kernel(raw: BpfProgInfo) -> ProgramInfo:
    try:
        ptype: ProgType | int = ProgType(raw.type)
    except ValueError:
        ptype = int(raw.type)
    return ProgramInfo(
        type=ptype,
        id=int(raw.id),
        name=bytes(raw.name).split(b"\0", 1)[0].decode("utf-8", "replace"),
        tag=bytes(raw.tag).hex(),
        gpl_compatible=bool(raw.gpl_compatible),
        load_time=int(raw.load_time),
        created_by_uid=int(raw.created_by_uid),
        nr_map_ids=int(raw.nr_map_ids),
        btf_id=int(raw.btf_id),
        xlated_prog_len=int(raw.xlated_prog_len),
        jited_prog_len=int(raw.jited_prog_len),
        verified_insns=int(raw.verified_insns),
        run_time_ns=int(raw.run_time_ns),
        run_cnt=int(raw.run_cnt),
        recursion_misses=int(raw.recursion_misses),
        attach_btf_id=int(raw.attach_btf_id),
        attach_btf_obj_id=int(raw.attach_btf_obj_id),
        ifindex=int(raw.ifindex),
    )


def _type_name(t: ProgType | int) -> str:
    if isinstance(t, ProgType):
        return t.name
    try:
        return ProgType(t).name
    except ValueError:
        return f"type {t}"


# ------------------------------------------------------------------ linking


def link_maps(
    insns: bytes,
    refs: Iterable[MapRef],
    fds: Mapping[str, int],
    byteorder: str,
    *,
    program: str = "",
) -> bytes:
    """Return a copy of ``insns`` with every map reference set to its map's fd.

    Each ``MapRef`` names an ``ld_imm64`` (two 8-byte slots). With
    ``offset`` None its ``src_reg`` becomes ``BPF_PSEUDO_MAP_FD`` and its
    ``imm`` the fd; with an offset, ``src_reg`` becomes
    ``BPF_PSEUDO_MAP_VALUE``, ``imm`` the fd and the second slot's ``imm``
    the offset into value 0. ``byteorder`` ("little"/"big") is the order
    of ``insns``; registers sit in the nibble that order gives them. Pure: no
    kernel, ``insns`` is not changed.

    Raises:
        ValueError: a reference outside the code, to an instruction that is
            not ``ld_imm64``, to a map missing from ``fds``, or with an
            offset outside 0..2**32-1. The message names program and insn.
    """
    if byteorder not in ("little", "big"):
        raise ValueError(f"byteorder must be 'little' or 'big', got {byteorder!r}")
    who = f"program '{program}'" if program else "program"
    if len(insns) % 8:
        raise ValueError(f"{who}: code is {len(insns)} bytes, not a multiple of 8")
    order = "<" if byteorder == "little" else ">"
    insn = struct.Struct(order + "BBhi")
    count = len(insns) // 8
    out = bytearray(insns)
    for ref in refs:
        i = ref.insn
        if not 0 <= i < count - 1:
            raise ValueError(
                f"{who}: insn {i} refers to map '{ref.map}' but the program has"
                f" {count} instructions (ld_imm64 takes two)"
            )
        code, regs, off, _ = insn.unpack_from(out, i * 8)
        if code != _LD_IMM64:
            raise ValueError(
                f"{who}: insn {i} refers to map '{ref.map}' but is not ld_imm64"
                f" (opcode {code:#04x}, want {_LD_IMM64:#04x})"
            )
        if ref.map not in fds:
            raise ValueError(f"{who}: insn {i} refers to map '{ref.map}', which was not given")
        if ref.offset is None:
            src = BPF_PSEUDO_MAP_FD
        else:
            if not 0 <= ref.offset < 1 << 32:
                raise ValueError(
                    f"{who}: insn {i}: offset {ref.offset} into map '{ref.map}' is out of range"
                )
            src = BPF_PSEUDO_MAP_VALUE
        # dst_reg:4 src_reg:4 are bitfields: src is the high nibble on little-endian.
        regs = (regs & 0x0F) | (src << 4) if byteorder == "little" else (regs & 0xF0) | src
        insn.pack_into(out, i * 8, code, regs, off, fds[ref.map])
        if ref.offset is not None:
            struct.pack_into(order + "I", out, (i + 1) * 8 + 4, ref.offset)
    return bytes(out)


def unknown_type(spec: ProgramSpec) -> str:
    """The error for a program whose section names no program type."""
    where = f"section '{spec.section}'" if spec.section else "its spec"
    return (
        f"program '{spec.name}': {where} names no program type: set"
        f" spec.programs['{spec.name}'].type (and .attach_type) before loading"
    )


def _func_info(spec: ProgramSpec) -> bytes:
    return b"".join(_FUNC_INFO.pack(f.insn, f.type_id) for f in spec.func_info)


def _line_info(spec: ProgramSpec) -> bytes:
    return b"".join(
        _LINE_INFO.pack(li.insn, li.file_name_off, li.line_off, (li.line << 10) | li.col)
        for li in spec.line_info
    )


def _kernel_name(name: str) -> bytes:
    """The name the kernel accepts: [A-Za-z0-9_.], at most 15 characters."""
    return _NAME_CHARS.sub("_", name)[:15].encode()


def _attach_btf_id(spec: ProgramSpec) -> int:
    """The kernel BTF id of the target a TRACING or LSM program names, else 0.

    ``fentry/F`` names FUNC ``F``, ``tp_btf/N`` TYPEDEF ``btf_trace_N``,
    ``lsm/H`` FUNC ``bpf_lsm_H``, ``iter/T`` FUNC ``bpf_iter_T`` (libbpf's
    rule), looked up in ``/sys/kernel/btf/vmlinux`` before anything is loaded.
    """
    if spec.type not in (ProgType.TRACING, ProgType.LSM):
        return 0
    from ._kernel_btf import VMLINUX, kernel_type_id

    who = f"load program '{spec.name}' ({spec.type.name})"
    target = kernel_btf_target(spec.attach_type, spec.attach_to)
    if target is None or not target[0]:
        section = f"section '{spec.section}'" if spec.section else "no section"
        raise ValueError(
            f"{who}: it needs a kernel target from its section ({BTF_TARGET_SECTIONS});"
            f" {section}, attach type {spec.attach_type.name if spec.attach_type else None}"
            " names none (set attach_type and attach_to)"
        )
    name, kind = target
    type_id = kernel_type_id(name, kind)
    if type_id is None:
        raise BPFError(
            errno.ESRCH,
            f"{who}: no {kind} '{name}' in the kernel's BTF ({VMLINUX}): this kernel has no"
            f" {spec.attach_to!r} to attach to (check the name in section '{spec.section}')",
        )
    return type_id


# ------------------------------------------------------------------- errors


def _last_log_line(log: str) -> str:
    """The last line of a verifier log that says why, not how much was processed."""
    for line in reversed(log.splitlines()):
        # Some messages lack their newline ("invalid type id 1 in func
        # infoprocessed 0 insns ..."): cut the statistics glued to them.
        line = _LOG_STATS.sub("", line).strip()
        if line and not line.startswith(_LOG_NOISE):
            return line
    return ""


def _load_hint(code: int, spec: ProgramSpec, log: str) -> str | None:
    if code == errno.EPERM:
        return prog_eperm_hint(spec.type)
    if code == errno.E2BIG:
        return f"program too large: {spec.insn_count} instructions"
    if code == errno.ENOSPC:
        return f"the verifier log did not fit in {_LOG_MAX} bytes; use a lower log_level"
    if code in (ENOTSUPP, errno.EOPNOTSUPP):
        return f"this kernel does not support {_type_name(spec.type)} programs as given"
    if code == errno.EINVAL and not log:
        return (
            f"the kernel refused program type {_type_name(spec.type)}, its attach type,"
            " flags or license"
        )
    return None


def _prog_load_error(
    spec: ProgramSpec, code: int, log: str, *, truncated: bool = False
) -> BPFError:
    """Build the error for a refused load: one line; the whole log on ``.log``.

    ``EPERM`` (missing privileges) is a plain :class:`BPFError`; every other
    refusal is a :class:`VerifierError`, even when the kernel wrote no log.
    ``truncated`` says the log did not fit the largest buffer (only its end
    is kept by Linux 6.4+, its start by older kernels).
    """
    reason = strerror(code)
    last = _last_log_line(log)
    if last:
        reason += f": {last}"
    hint = _load_hint(code, spec, log)
    if hint is None and truncated:
        hint = f"the verifier log was longer than {_LOG_MAX} bytes and was cut"
    if hint:
        reason += f" ({hint})"
    message = f"load program '{spec.name}' ({_type_name(spec.type)}): {reason}"
    if code == errno.EPERM:
        return BPFError(code, message, reason=reason)
    return VerifierError(code, message, log, reason=reason)


# ------------------------------------------------------------------ Program


class Program(KernelObject, Attachable):
    """A BPF program in the kernel; owns one file descriptor.

    Open one with :meth:`load`, :meth:`from_id`, :meth:`from_pinned` or
    :meth:`from_fd`; close it with :meth:`close` or a ``with`` block. The
    program lives on in the kernel while something else holds it (a pin, a
    PROG_ARRAY slot, an attachment). Operations on a closed program raise
    ``ValueError``.
    """

    #: The verifier's log when :meth:`load` was given ``log_level`` > 0, else None.
    verifier_log: str | None

    def __init__(
        self,
        fd: FD,
        info: ProgramInfo,
        *,
        name: str | None = None,
        attach_type: AttachType | None = None,
        verifier_log: str | None = None,
        section: str = "",
    ) -> None:
        """Wrap ``fd`` (now owned by this object). Use the class methods instead."""
        self._fd = fd
        self._info = info
        self._name = info.name if name is None else name
        self._attach_type = attach_type
        self._section = section
        self.verifier_log = verifier_log

    # ----------------------------------------------------------- construction

    _kind = "program"
    _get_fd_by_id = Cmd.PROG_GET_FD_BY_ID

    @classmethod
    def _from_owned(cls, fd: FD) -> Program:
        """Wrap ``fd`` after reading the kernel's info (see :class:`KernelObject`)."""
        return cls(fd, _info_from_kernel(ops.prog_info(fd.raw)))

    @classmethod
    def _loaded(
        cls, fd: FD, what: str, spec: ProgramSpec, verifier_log: str | None = None
    ) -> Program:
        """Wrap ``fd`` just loaded from ``spec`` (its name, attach type and section kept)."""

        def make(fd: FD) -> Program:
            info = _info_from_kernel(ops.prog_info(fd.raw))
            return cls(
                fd,
                info,
                name=spec.name,
                attach_type=spec.attach_type,
                verifier_log=verifier_log,
                section=spec.section,
            )

        return cls._adopt(fd, what, make)

    @classmethod
    def load(
        cls,
        spec: ProgramSpec,
        maps: Mapping[str, _HasFd | int] | None = None,
        *,
        btf_fd: int = 0,
        log_level: int = 0,
        log_size: int | None = None,
    ) -> Program:
        """Load ``spec`` into the kernel; the caller owns (and closes) the result.

        ``maps`` gives, by name, the map (a ``Map`` or an int fd) for each of
        ``spec.map_refs``; their fds are written into a copy of the code.
        ``func_info``/``line_info`` are passed only with a ``btf_fd`` (the BTF
        they index). The first attempt asks for no log; when it fails, the
        load is repeated with ``log_level`` 1 (or the one given) and a log
        buffer that starts at ``log_size`` (default 64 KiB) and grows up to
        16 MiB until the whole log fits. A ``log_level`` > 0 asks for the log
        from the start and keeps it on :attr:`verifier_log`. TRACING and LSM
        programs (``fentry/F``, ``fexit/F``, ``fmod_ret/F``, ``tp_btf/N``,
        ``lsm/H``, ``iter/T``) get their target's id in the kernel's BTF
        (``attach_btf_id``), found in ``/sys/kernel/btf/vmlinux`` before the
        load (parsed once per process).
        Minimum kernel: 3.18 (program types and helpers have their own;
        fentry/fexit/tp_btf 5.5, fmod_ret 5.6, lsm 5.7, iter 5.8).

        Raises:
            NotSupportedError: the spec is of a foreign byte order or has
                CO-RE relocations left (:meth:`CollectionSpec.load` applies
                them); nothing was sent to the kernel.
            ValueError: a map reference that is not an ``ld_imm64``, or to a
                map missing from ``maps``; bad ``log_level``/``log_size``; a
                spec whose type is ``UNSPEC`` (its section names no type); a
                TRACING or LSM program whose section names no kernel target.
            NotSupportedError: a kernel target is needed and the kernel has
                no BTF (``/sys/kernel/btf/vmlinux``).
            VerifierError: the kernel refused the program; ``log`` holds the
                verifier's whole log and ``str()`` its last meaningful line.
            BPFError: ``EPERM`` without CAP_SYS_ADMIN (or, with it, when a
                policy refuses the type, as for fentry on some sandboxes);
                ``ESRCH`` when the kernel's BTF has no such target (naming
                it), before anything is loaded.
        """
        if not isinstance(spec, ProgramSpec):
            raise TypeError(f"spec must be a ProgramSpec, got {type(spec).__name__}")
        what = f"program '{spec.name}'"
        if spec.type == ProgType.UNSPEC:
            raise ValueError(unknown_type(spec))
        if spec.byteorder != sys.byteorder:
            raise NotSupportedError(
                f"load {what} ({_type_name(spec.type)}): its code is {spec.byteorder}-endian"
                f" and this machine is {sys.byteorder}-endian (build it with -target bpf)",
                feature="byte order",
            )
        if spec.core_relos > 0:
            raise NotSupportedError(
                f"{what} has {spec.core_relos} CO-RE relocations, which need the object's"
                " BTF: load it with CollectionSpec.load() (which applies them)",
                feature="CO-RE relocations",
            )
        if not isinstance(log_level, int) or log_level < 0:
            raise ValueError(f"log_level must be an int >= 0, got {log_level!r}")
        if log_size is not None and not _LOG_MIN <= log_size <= _LOG_MAX:
            raise ValueError(f"log_size must be in {_LOG_MIN}..{_LOG_MAX}, got {log_size}")
        if not spec.instructions or len(spec.instructions) % 8:
            raise ValueError(
                f"{what}: code is {len(spec.instructions)} bytes, not a non-zero multiple of 8"
            )
        btf_id = _attach_btf_id(spec)
        given = maps if maps is not None else {}
        with contextlib.ExitStack() as held:
            fds: dict[str, int] = {}
            for ref in spec.map_refs:
                if ref.map in given and ref.map not in fds:
                    m = given[ref.map]
                    if isinstance(m, KernelObject):
                        # Borrowed: no other thread can close it until the load is done.
                        fds[ref.map] = held.enter_context(m._use())
                    else:
                        fds[ref.map] = m if isinstance(m, int) else m.fd
            return cls._load_linked(spec, fds, what, btf_fd, log_level, log_size, btf_id)

    @classmethod
    def _load_linked(
        cls,
        spec: ProgramSpec,
        fds: dict[str, int],
        what: str,
        btf_fd: int,
        log_level: int,
        log_size: int | None,
        attach_btf_id: int = 0,
    ) -> Program:
        """The rest of :meth:`load`, with the maps' fds held open."""
        insns = link_maps(spec.instructions, spec.map_refs, fds, spec.byteorder, program=spec.name)
        with_btf = btf_fd != 0
        func_info = _func_info(spec) if with_btf else b""
        line_info = _line_info(spec) if with_btf else b""

        def attempt(level: int, size: int) -> tuple[FD, str]:
            return ops.prog_load(
                prog_type=int(spec.type),
                insns=insns,
                license=spec.license.encode(),
                kern_version=spec.kernel_version,
                prog_flags=spec.flags,
                prog_name=_kernel_name(spec.name),
                expected_attach_type=int(spec.attach_type) if spec.attach_type is not None else 0,
                prog_btf_fd=btf_fd,
                func_info=func_info,
                func_info_rec_size=_FUNC_INFO.size if func_info else 0,
                func_info_cnt=len(spec.func_info) if func_info else 0,
                line_info=line_info,
                line_info_rec_size=_LINE_INFO.size if line_info else 0,
                line_info_cnt=len(spec.line_info) if line_info else 0,
                attach_btf_id=attach_btf_id,
                log_level=level,
                log_size=size,
            )

        first: ops.ProgLoadError | None = None
        if log_level == 0:
            try:
                fd, _ = attempt(0, 0)
            except ops.ProgLoadError as err:
                first = err
                if err.errno == errno.EPERM:
                    raise _prog_load_error(spec, errno.EPERM, "") from None
            else:
                return cls._loaded(fd, what, spec)
        size = log_size or _LOG_START
        while True:
            try:
                fd, text = attempt(log_level or 1, size)
                break
            except ops.ProgLoadError as err:
                # ENOSPC: the log did not fit (6.4+ keeps its tail and says
                # how big it is in log_true_size; older kernels keep the head).
                if err.errno == errno.ENOSPC and size < _LOG_MAX:
                    size = min(_LOG_MAX, max(size * 4, err.log_true_size))
                    continue
                # The first, log-less attempt has the real errno: a log that
                # never fit turns any refusal into ENOSPC.
                code = first.errno if first is not None and first.errno else err.errno or 0
                truncated = err.errno == errno.ENOSPC
                raise _prog_load_error(spec, code, err.log, truncated=truncated) from None
        return cls._loaded(fd, what, spec, text if log_level > 0 else None)

    # ------------------------------------------------------------- attributes

    @property
    def id(self) -> int:
        """The kernel's id of this program."""
        return self._info.id

    @property
    def name(self) -> str:
        """The spec's name when loaded here, else the kernel's (at most 15 characters)."""
        return self._name

    @property
    def type(self) -> ProgType | int:
        """The program type (a plain int for a type newer than this library)."""
        return self._info.type

    @property
    def tag(self) -> str:
        """The kernel's tag (a hash of the code) as 16 hex digits."""
        return self._info.tag

    @property
    def section(self) -> str:
        """The ELF section name the program was loaded from (``"xdp"``,
        ``"tracepoint/syscalls/sys_enter_getpgid"``): what :meth:`attach`
        goes by; "" for a program opened by id, pin or fd (the kernel does
        not keep it)."""
        return self._section

    def info(self) -> ProgramInfo:
        """Return what the kernel reports about this program now. Minimum kernel: 4.13.

        Raises:
            ValueError: the program is closed.
            BPFError: the kernel refused (never for an open program fd).
        """
        try:
            with self._use() as fd:
                return _info_from_kernel(ops.prog_info(fd))
        except OSError as err:
            raise self._error("info", err) from None

    def map_ids(self) -> list[int]:
        """Return the ids of the maps this program uses (as the kernel lists them).

        Minimum kernel: 4.15.

        Raises:
            ValueError: the program is closed.
            BPFError: the kernel refused (never for an open program fd).
        """
        try:
            with self._use() as fd:
                return ops.prog_map_ids(fd)
        except OSError as err:
            raise self._error("map_ids", err) from None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"id={self.id}"
        return f"<Program {_type_name(self.type)} '{self.name}' {state}>"

    # -------------------------------------------------------------- lifetime

    # --------------------------------------------------------------- running

    def test_run(
        self,
        data: bytes = b"",
        repeat: int = 1,
        ctx: bytes | None = None,
        *,
        data_size_out: int | None = None,
        ctx_size_out: int | None = None,
    ) -> TestRun:
        """Run the program ``repeat`` times in the kernel on ``data`` (and ``ctx``).

        Packet programs (XDP, SOCKET_FILTER, SCHED_CLS ...) need ``data`` of
        at least 14 bytes (an Ethernet header). The output buffer is
        ``data_size_out`` bytes (default ``len(data) + 256``: XDP may grow the
        packet; none for empty ``data``); ``ctx_size_out`` defaults to 1024
        bytes, more than any context struct. For SYSCALL programs the returned
        ``ctx`` is the context as the program left it. Side effects (map
        updates) happen ``repeat`` times; SYSCALL, RAW_TRACEPOINT and TRACING
        programs run once and report no duration. The GIL is released while
        the kernel runs. XDP with ``repeat`` > 1 is slow to start: the kernel
        switches its XDP dispatcher to the program and back, which waits for
        RCU (about 17 ms a call on the machines we measure; ``repeat=1``
        takes microseconds).
        Minimum kernel: 4.12 (``ctx``: 5.2; SYSCALL programs: 5.14).

        Raises:
            ValueError: a bad argument, or a closed program.
            BPFError: the kernel refused; the message names program and
                cause (``ENOTSUPP`` for a type without test_run, ``EINVAL``
                for data it does not accept, ``ENOSPC`` when the output did
                not fit ``data_size_out``).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if ctx is not None and not isinstance(ctx, (bytes, bytearray, memoryview)):
            raise TypeError(f"ctx must be bytes or None, got {type(ctx).__name__}")
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat < 1 << 32:
            raise ValueError(f"repeat must be an int in 1..{(1 << 32) - 1}, got {repeat!r}")
        data = bytes(data)
        ctx = bytes(ctx) if ctx is not None else None
        out_size = data_size_out if data_size_out is not None else (len(data) + 256 if data else 0)
        if ctx_size_out is not None:
            ctx_out = ctx_size_out
        elif ctx is None or self.type in _NO_CTX_OUT:
            ctx_out = 0
        else:  # the kernel writes back its whole context struct (__sk_buff: 192 bytes)
            ctx_out = max(len(ctx), _CTX_OUT)
        for what, size in (("data_size_out", out_size), ("ctx_size_out", ctx_out)):
            if not 0 <= size < 1 << 32:
                raise ValueError(f"{what} must be in 0..{(1 << 32) - 1}, got {size}")
        try:
            with self._use() as fd:
                res = ops.prog_test_run(
                    fd,
                    data_in=data,
                    data_size_out=out_size,
                    ctx_in=ctx,
                    ctx_size_out=ctx_out,
                    # 0 means once to every type, and is the only count SYSCALL takes.
                    repeat=repeat if repeat > 1 else 0,
                )
        except ops.TestRunError as err:
            hint = self._test_run_hint(err, data, ctx, out_size, ctx_out, repeat)
            raise self._error("test_run", err, hint=hint) from None
        return TestRun(
            retval=res.retval,
            data=res.data_out,
            ctx=res.ctx_out if ctx is not None else None,
            duration_ns=res.duration,
        )

    def _test_run_hint(
        self,
        err: ops.TestRunError,
        data: bytes,
        ctx: bytes | None,
        out_size: int,
        ctx_out: int,
        repeat: int,
    ) -> str | None:
        code = err.errno or 0
        tname = _type_name(self.type)
        if code in (ENOTSUPP, errno.EOPNOTSUPP):
            return f"program type {tname} has no test_run"
        if code == errno.ENOSPC:
            if err.data_size_out > out_size:
                return (
                    f"the output is {err.data_size_out} bytes, more than data_size_out"
                    f" {out_size}; pass data_size_out={err.data_size_out}"
                )
            if err.ctx_size_out > ctx_out:
                return (
                    f"the context is {err.ctx_size_out} bytes, more than ctx_size_out"
                    f" {ctx_out}; pass ctx_size_out={err.ctx_size_out}"
                )
            return "an output buffer is too small"
        if code == errno.EPERM:
            return "needs root or CAP_BPF (and CAP_NET_ADMIN/CAP_SYS_ADMIN for some types)"
        if code == errno.EINVAL:
            if self.type in _PACKET_TYPES and len(data) < _ETH_HLEN:
                return (
                    f"data is {len(data)} bytes; {tname} needs at least {_ETH_HLEN}"
                    " (an Ethernet header)"
                )
            if repeat > 1 and self.type in _NO_CTX_OUT:
                return f"{tname} programs run once: repeat must be 1"
            if self._attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP):
                return f"programs for {self._attach_type.name} cannot be test-run"
            if ctx is not None:
                return f"{tname} does not accept this ctx ({len(ctx)} bytes)"
            return f"data/ctx of this size or kind not accepted by {tname}"
        return None

    # ---------------------------------------------------------------- helpers

    def _describe(self) -> str:
        return f"program '{self.name}'"

    def _error(self, op: str, err: OSError, *, hint: str | None = None) -> BPFError:
        return error(op, f"program '{self.name}' ({_type_name(self.type)})", err.errno or 0, hint)


def program_ids() -> Iterator[int]:
    """Yield the id of every program in the system, in increasing order.

    Needs CAP_SYS_ADMIN. Minimum kernel: 4.13.

    Raises:
        BPFError: ``EPERM`` without CAP_SYS_ADMIN.
    """
    return iter_ids(Cmd.PROG_GET_NEXT_ID, "programs")
