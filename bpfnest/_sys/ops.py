"""Typed wrappers of the bpf(2) commands the library uses.

Each function fills one attr structure, calls :func:`bpfnest._sys.bpf` and
returns plain Python values (ints, bytes); the callers never touch ctypes.
Every function that creates a file descriptor returns it as an owned
:class:`~bpfnest._sys.fd.FD` (through :func:`bpfnest._sys.bpf_fd`): the caller
closes it, and no exception can leave the number without an owner.
Failures raise :class:`OSError` with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, NamedTuple

from . import _strerror, bpf, bpf_fd
from .batch import (  # the batch engine, re-exported
    BatchBuffers,
    BatchError,
    address_of,
    bytes_at,
    delete_at,
    lookup_into,
    update_at,
    walk_into,
)
from .elem import ElemOps  # the element fast path, re-exported
from .fd import FD
from .uapi import (
    BPF_OBJ_NAME_LEN,
    BpfBtfInfo,
    BpfMapInfo,
    BpfProgInfo,
    BtfLoadAttr,
    Cmd,
    GetIdAttr,
    InfoAttr,
    MapCreateAttr,
    MapElemAttr,
    ObjAttr,
    ProgLoadAttr,
    TestRunAttr,
)
from .uapi_query import EnableStatsAttr

__all__ = [
    "BatchBuffers",
    "ElemOps",
    "address_of",
    "bytes_at",
    "delete_at",
    "lookup_into",
    "update_at",
    "walk_into",
    "btf_data",
    "btf_name",
    "BatchError",
    "BtfLoadError",
    "LookupBatch",
    "ProgLoadError",
    "TestRunError",
    "TestRunResult",
    "btf_load",
    "enable_stats",
    "get_fd_by_id",
    "get_next_id",
    "map_create",
    "map_delete_batch",
    "map_delete_elem",
    "map_freeze",
    "map_get_next_key",
    "map_info",
    "map_lookup_and_delete_elem",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "obj_get",
    "obj_kind",
    "obj_pin",
    "prog_info",
    "prog_load",
    "prog_map_ids",
    "prog_test_run",
]

_ENOENT = 2
_EBADF = 9
_EBADFD = 77
_EINVAL = 22
_PROG_INFO_MIN = 128  # bytes of info the kernel fills for a program, at least


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _in(data: bytes) -> ctypes.Array[ctypes.c_char] | None:
    """A C copy of ``data`` for the kernel to read (None for empty data)."""
    return ctypes.create_string_buffer(data, len(data)) if data else None


def map_create(
    *,
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    map_flags: int = 0,
    inner_map_fd: int = 0,
    numa_node: int = 0,
    map_name: bytes = b"",
    map_ifindex: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    map_extra: int = 0,
) -> FD:
    """BPF_MAP_CREATE; returns the new map's fd (the caller closes it)."""
    attr = MapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=map_flags,
        inner_map_fd=inner_map_fd,
        numa_node=numa_node,
        map_name=map_name,
        map_ifindex=map_ifindex,
        btf_fd=btf_fd,
        btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
        btf_vmlinux_value_type_id=btf_vmlinux_value_type_id,
        map_extra=map_extra,
    )
    return bpf_fd(Cmd.MAP_CREATE, attr)


def map_lookup_elem(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_ELEM; ``key`` empty for keyless maps (peek)."""
    kbuf = _in(key)
    vbuf = ctypes.create_string_buffer(value_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=ctypes.addressof(vbuf), flags=flags)
    bpf(Cmd.MAP_LOOKUP_ELEM, attr)
    return vbuf.raw


def map_lookup_in(fd: int, value: bytes) -> None:
    """BPF_MAP_LOOKUP_ELEM with no key and ``value`` as input (BLOOM_FILTER)."""
    vbuf = _in(value)
    bpf(Cmd.MAP_LOOKUP_ELEM, MapElemAttr(map_fd=fd, key=0, value=_addr(vbuf), flags=0))


def map_update_elem(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    """BPF_MAP_UPDATE_ELEM; ``key`` empty for keyless maps (push)."""
    kbuf = _in(key)
    vbuf = _in(value)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=_addr(vbuf), flags=flags)
    bpf(Cmd.MAP_UPDATE_ELEM, attr)


def map_delete_elem(fd: int, key: bytes) -> None:
    """BPF_MAP_DELETE_ELEM."""
    kbuf = _in(key)
    bpf(Cmd.MAP_DELETE_ELEM, MapElemAttr(map_fd=fd, key=_addr(kbuf)))


def map_lookup_and_delete_elem(fd: int, key: bytes, value_size: int, flags: int = 0) -> bytes:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM; ``key`` empty for keyless maps (pop)."""
    kbuf = _in(key)
    vbuf = ctypes.create_string_buffer(value_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), value=ctypes.addressof(vbuf), flags=flags)
    bpf(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, attr)
    return vbuf.raw


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first for None); None at the end."""
    kbuf = _in(key) if key is not None else None
    nbuf = ctypes.create_string_buffer(key_size)
    attr = MapElemAttr(map_fd=fd, key=_addr(kbuf), next_key=ctypes.addressof(nbuf))
    try:
        bpf(Cmd.MAP_GET_NEXT_KEY, attr)
    except OSError as err:
        if err.errno == _ENOENT:
            return None
        raise
    return nbuf.raw


def map_freeze(fd: int) -> None:
    """BPF_MAP_FREEZE."""
    bpf(Cmd.MAP_FREEZE, MapElemAttr(map_fd=fd))


class LookupBatch(NamedTuple):
    """One answer of BPF_MAP_LOOKUP[_AND_DELETE]_BATCH."""

    keys: bytes  # count * key_size
    values: bytes  # count * value_size (per-CPU: the whole per-CPU buffer each)
    n: int
    token: bytes  # out_batch, to pass as in_batch next time
    done: bool  # the kernel reported the end of the map (ENOENT)


def map_lookup_batch(
    fd: int,
    token: bytes | None,
    token_size: int,
    key_size: int,
    value_size: int,
    count: int,
    *,
    delete: bool = False,
    elem_flags: int = 0,
) -> LookupBatch:
    """BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH) of up to ``count`` elements,
    copied out (one step of :func:`lookup_into` in buffers of its own).

    ``token`` is None to start from the beginning. ENOENT with elements is the
    normal end of the map and is returned as ``done``; other errors raise
    :class:`BatchError` with the count the kernel reported.
    """
    bufs = BatchBuffers(key_size, value_size, count, token_size)
    if token is not None:
        bufs._tok_in[: len(token)] = token
        bufs.started = True
    n, done = lookup_into(fd, bufs, count, delete=delete, elem_flags=elem_flags)
    return LookupBatch(
        bytes(bufs.keys[: n * key_size]),
        bytes(bufs.values[: n * value_size]),
        n,
        bytes(bufs._tok_in[:token_size]),
        done,
    )


def map_update_batch(fd: int, keys: Any, values: Any, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH of ``count`` elements from two buffers (any buffer
    protocol object); returns how many were applied.

    Raises:
        BatchError: with ``count`` = elements applied before the failure.
    """
    keep: list[Any] = []
    return update_at(fd, address_of(keys, keep), address_of(values, keep), count, elem_flags)


def map_delete_batch(fd: int, keys: Any, count: int, elem_flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH of ``count`` keys; returns how many were deleted.

    Raises:
        BatchError: with ``count`` = elements deleted before the failure.
    """
    keep: list[Any] = []
    return delete_at(fd, address_of(keys, keep), count, elem_flags)


BPF_F_PATH_FD = 1 << 14  # OBJ_PIN/OBJ_GET: ``path`` is relative to ``path_fd`` (6.5)


def obj_pin(fd: int, path: str, path_fd: int | None = None) -> None:
    """BPF_OBJ_PIN ``fd`` at ``path`` on a bpffs (relative to directory ``path_fd``)."""
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    attr = ObjAttr(pathname=ctypes.addressof(pbuf), bpf_fd=fd)
    if path_fd is not None:
        attr.file_flags, attr.path_fd = BPF_F_PATH_FD, path_fd
    bpf(Cmd.OBJ_PIN, attr)


def obj_get(path: str, file_flags: int = 0, path_fd: int | None = None) -> FD:
    """BPF_OBJ_GET: open the object pinned at ``path`` (relative to directory
    ``path_fd``); returns a new fd (the caller closes it)."""
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    attr = ObjAttr(pathname=ctypes.addressof(pbuf), file_flags=file_flags)
    if path_fd is not None:
        attr.file_flags, attr.path_fd = file_flags | BPF_F_PATH_FD, path_fd
    return bpf_fd(Cmd.OBJ_GET, attr)


def get_next_id(cmd: Cmd, start_id: int) -> int | None:
    """*_GET_NEXT_ID: the next id after ``start_id``, or None when there is none."""
    attr = GetIdAttr(start_id=start_id)
    try:
        bpf(cmd, attr)
    except OSError as err:
        if err.errno == _ENOENT:
            return None
        raise
    return int(attr.next_id)


def get_fd_by_id(cmd: Cmd, obj_id: int, open_flags: int = 0) -> FD:
    """*_GET_FD_BY_ID: open the object with ``obj_id``; returns a new fd (the caller closes it)."""
    return bpf_fd(cmd, GetIdAttr(start_id=obj_id, open_flags=open_flags))


def obj_kind(fd: int) -> str:
    """What the kernel says ``fd`` is, without /proc: ``"map"``, ``"program"``,
    ``"bpf"`` (another BPF object, or one it cannot tell) or ``""`` (not a BPF object).

    BPF_OBJ_GET_INFO_BY_FD answers for any BPF object; a map is told by
    BPF_MAP_LOOKUP_ELEM with no key or value buffer (a non-map fd is EINVAL
    before the command reads anything; a map answers another errno, touching
    no element); a program by the size of the info the kernel fills
    (``struct bpf_prog_info`` is over 128 bytes, the BTF and link ones under).

    Raises:
        OSError: ``EBADF`` when ``fd`` is not open (also where the kernel says EBADFD).
    """
    info = BpfProgInfo()  # zeroed: asks for no arrays
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    try:
        bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    except OSError as err:
        if err.errno in (_EBADF, _EBADFD):  # 6.18 answers EBADFD for a closed fd here
            raise OSError(_EBADF, os.strerror(_EBADF)) from None
        return ""
    try:
        bpf(Cmd.MAP_LOOKUP_ELEM, MapElemAttr(map_fd=fd))
    except OSError as err:
        if err.errno != _EINVAL:
            return "map"
    else:
        return "map"
    return "program" if int(attr.info_len) >= _PROG_INFO_MIN else "bpf"


def map_info(fd: int) -> BpfMapInfo:
    """BPF_OBJ_GET_INFO_BY_FD for a map fd."""
    info = BpfMapInfo()
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


# --- programs and BTF --------------------------------------------------------


def _log_text(buf: ctypes.Array[ctypes.c_char] | None) -> str:
    """The C string the kernel wrote into ``buf``, decoded (empty for no buffer)."""
    if buf is None:
        return ""
    return buf.raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class ProgLoadError(OSError):
    """BPF_PROG_LOAD failed; ``log`` is what the verifier wrote (maybe empty).

    ``log_true_size`` is the buffer size the whole log needs, NUL included,
    as the kernel reports it (Linux 6.4+; 0 from older kernels).
    """

    def __init__(self, code: int, log: str, log_true_size: int) -> None:
        super().__init__(code, _strerror(code))
        self.log = log
        self.log_true_size = log_true_size


class BtfLoadError(OSError):
    """BPF_BTF_LOAD failed; ``log`` is what the kernel wrote (maybe empty)."""

    def __init__(self, code: int, log: str, log_true_size: int) -> None:
        super().__init__(code, _strerror(code))
        self.log = log
        self.log_true_size = log_true_size


def prog_load(
    *,
    prog_type: int,
    insns: bytes,
    license: bytes,
    kern_version: int = 0,
    prog_flags: int = 0,
    prog_name: bytes = b"",
    expected_attach_type: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes = b"",
    func_info_rec_size: int = 0,
    func_info_cnt: int = 0,
    line_info: bytes = b"",
    line_info_rec_size: int = 0,
    line_info_cnt: int = 0,
    attach_btf_id: int = 0,
    attach_prog_fd: int = 0,
    log_level: int = 0,
    log_size: int = 0,
) -> tuple[FD, str]:
    """BPF_PROG_LOAD; returns ``(fd, log)``; the caller closes the fd.

    With ``log_size`` > 0 a buffer of that many bytes receives the verifier
    log (``log_level`` must then be non-zero, as the kernel demands).

    Raises:
        ProgLoadError: with the kernel's errno, the log text and the log's
            true size (``ENOSPC`` when the log did not fit the buffer).
    """
    ibuf = _in(insns)
    lic = ctypes.create_string_buffer(license)  # NUL-terminated; never NULL
    fbuf = _in(func_info)
    lbuf = _in(line_info)
    logbuf = ctypes.create_string_buffer(log_size) if log_size > 0 else None
    attr = ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(insns) // 8,
        insns=_addr(ibuf),
        license=ctypes.addressof(lic),
        log_level=log_level,
        log_size=log_size if logbuf is not None else 0,
        log_buf=_addr(logbuf),
        kern_version=kern_version,
        prog_flags=prog_flags,
        prog_name=prog_name[: BPF_OBJ_NAME_LEN - 1],
        expected_attach_type=expected_attach_type,
        prog_btf_fd=prog_btf_fd,
        func_info_rec_size=func_info_rec_size,
        func_info=_addr(fbuf),
        func_info_cnt=func_info_cnt,
        line_info_rec_size=line_info_rec_size,
        line_info=_addr(lbuf),
        line_info_cnt=line_info_cnt,
        attach_btf_id=attach_btf_id,
        attach_prog_fd=attach_prog_fd,
    )
    try:
        fd = bpf_fd(Cmd.PROG_LOAD, attr)
    except OSError as err:
        raise ProgLoadError(err.errno or 0, _log_text(logbuf), int(attr.log_true_size)) from None
    return fd, _log_text(logbuf)


class TestRunResult(NamedTuple):
    """What BPF_PROG_TEST_RUN reported; ``duration`` is the mean in ns per run."""

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration: int


class TestRunError(OSError):
    """BPF_PROG_TEST_RUN failed; the sizes are what the kernel wrote back.

    ``data_size_out``/``ctx_size_out`` tell how much output the program made
    when the error is ``ENOSPC`` (the output buffers were too small).
    """

    __test__ = False

    def __init__(self, code: int, data_size_out: int, ctx_size_out: int) -> None:
        super().__init__(code, _strerror(code))
        self.data_size_out = data_size_out
        self.ctx_size_out = ctx_size_out


def prog_test_run(
    prog_fd: int,
    *,
    data_in: bytes,
    data_size_out: int,
    ctx_in: bytes | None,
    ctx_size_out: int,
    repeat: int,
    flags: int = 0,
    cpu: int = 0,
) -> TestRunResult:
    """BPF_PROG_TEST_RUN: run the program on ``data_in`` (and ``ctx_in``).

    No output buffer is passed for a size of 0 (program types such as
    SYSCALL refuse one). ``data_out``/``ctx_out`` are cut to the size the
    kernel reports (and to the buffer). Without a ctx output buffer,
    ``ctx_out`` is the ``ctx_in`` buffer after the run (SYSCALL programs
    write their context back there).

    Raises:
        TestRunError: with the kernel's errno and the sizes it wrote back.
    """
    dbuf = _in(data_in)
    cbuf = _in(ctx_in) if ctx_in is not None else None
    dout = ctypes.create_string_buffer(data_size_out) if data_size_out > 0 else None
    cout = ctypes.create_string_buffer(ctx_size_out) if ctx_size_out > 0 else None
    attr = TestRunAttr(
        prog_fd=prog_fd,
        data_size_in=len(data_in),
        data_size_out=data_size_out if dout is not None else 0,
        data_in=_addr(dbuf),
        data_out=_addr(dout),
        repeat=repeat,
        ctx_size_in=len(ctx_in) if ctx_in is not None else 0,
        ctx_size_out=ctx_size_out if cout is not None else 0,
        ctx_in=_addr(cbuf),
        ctx_out=_addr(cout),
        flags=flags,
        cpu=cpu,
    )
    try:
        bpf(Cmd.PROG_TEST_RUN, attr)
    except OSError as err:
        raise TestRunError(
            err.errno or 0, int(attr.data_size_out), int(attr.ctx_size_out)
        ) from None
    data_out = dout.raw[: min(int(attr.data_size_out), data_size_out)] if dout is not None else b""
    if cout is not None:
        ctx_out = cout.raw[: min(int(attr.ctx_size_out), ctx_size_out)]
    else:  # SYSCALL programs write their context back into ctx_in
        ctx_out = cbuf.raw[: len(ctx_in)] if cbuf is not None and ctx_in is not None else b""
    return TestRunResult(int(attr.retval), data_out, ctx_out, int(attr.duration))


def btf_load(raw: bytes, *, log_level: int = 0, log_size: int = 0) -> tuple[FD, str]:
    """BPF_BTF_LOAD of the raw ``.BTF`` blob; returns ``(fd, log)``; the caller closes the fd.

    Raises:
        BtfLoadError: with the kernel's errno and the log text.
    """
    bbuf = _in(raw)
    logbuf = ctypes.create_string_buffer(log_size) if log_size > 0 else None
    attr = BtfLoadAttr(
        btf=_addr(bbuf),
        btf_log_buf=_addr(logbuf),
        btf_size=len(raw),
        btf_log_size=log_size if logbuf is not None else 0,
        btf_log_level=log_level,
    )
    try:
        fd = bpf_fd(Cmd.BTF_LOAD, attr)
    except OSError as err:
        raise BtfLoadError(err.errno or 0, _log_text(logbuf), int(attr.btf_log_true_size)) from None
    return fd, _log_text(logbuf)


def prog_info(fd: int) -> BpfProgInfo:
    """BPF_OBJ_GET_INFO_BY_FD for a program fd (no arrays are fetched)."""
    info = BpfProgInfo()
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


def prog_map_ids(fd: int) -> list[int]:
    """The ids of the maps a program uses (BPF_OBJ_GET_INFO_BY_FD, two calls)."""
    for _ in range(4):  # a program's map set is fixed; retry only for safety
        count = int(prog_info(fd).nr_map_ids)
        if count == 0:
            return []
        ids = (ctypes.c_uint32 * count)()
        info = BpfProgInfo(nr_map_ids=count, map_ids=ctypes.addressof(ids))
        attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
        bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
        if int(info.nr_map_ids) <= count:
            return [int(i) for i in ids[: int(info.nr_map_ids)]]
    return [int(i) for i in ids]


def btf_name(fd: int) -> tuple[int, str, bool]:
    """(id, name, is the kernel's) of a BTF object fd (BPF_OBJ_GET_INFO_BY_FD):
    ``"vmlinux"`` or a module's name for the kernel's own BTF (5.11+)."""
    name = ctypes.create_string_buffer(64)
    info = BpfBtfInfo(name=ctypes.addressof(name), name_len=len(name))
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return int(info.id), name.value.decode(errors="replace"), bool(info.kernel_btf)


def btf_data(fd: int) -> bytes:
    """The raw BTF of a BTF object fd (BPF_OBJ_GET_INFO_BY_FD, two calls)."""
    info = BpfBtfInfo()
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    size = int(info.btf_size)
    buf = ctypes.create_string_buffer(max(size, 1))
    info = BpfBtfInfo(btf=ctypes.addressof(buf), btf_size=size)
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return buf.raw[: int(info.btf_size)]


BPF_STATS_RUN_TIME = 0  # enum bpf_stats_type: run_time_ns and run_cnt of every program


def enable_stats(stats_type: int = BPF_STATS_RUN_TIME) -> FD:
    """BPF_ENABLE_STATS: switch the kernel's per-program run-time statistics on
    for as long as the returned fd (an owned FD, ``anon_inode:bpf-stats``) is
    open; the caller closes it. Minimum kernel: 5.8; needs CAP_SYS_ADMIN.

    Raises:
        OSError: ``EPERM`` without CAP_SYS_ADMIN, ``EINVAL`` for an unknown
            ``stats_type`` (or a kernel before 5.8).
    """
    return bpf_fd(Cmd.ENABLE_STATS, EnableStatsAttr(type=stats_type))
