"""The kernel's own answers for map-in-map mistakes, straight through _sys.

The library checks several of these before the syscall and raises the errno
the kernel would give; this file proves, on the running kernel, that the
kernel really gives it (the rows of KERNEL.md's errno table).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from bpfnest import ENOTSUPP, EXIST, NOEXIST, MapType
from bpfnest._sys import ops
from bpfnest._sys.fd import FD
from bpfnest.features import inner_max_entries_types

pytestmark = pytest.mark.usefixtures("kernel")

AOM, HOM = MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS


class Fds:
    def __init__(self) -> None:
        self.fds: list[FD] = []

    def map(self, t: int, k: int, v: int, n: int, flags: int = 0, inner: int = 0) -> int:
        fd = ops.map_create(
            map_type=t, key_size=k, value_size=v, max_entries=n, map_flags=flags, inner_map_fd=inner
        )
        self.fds.append(fd)
        return fd.raw

    def outer(
        self, t: MapType, n: int = 4, tmpl: tuple[int, int, int, int, int] = (1, 4, 4, 8, 0)
    ) -> int:
        with ops.map_create(
            map_type=tmpl[0],
            key_size=tmpl[1],
            value_size=tmpl[2],
            max_entries=tmpl[3],
            map_flags=tmpl[4],
        ) as tfd:
            return self.map(t, 4, 4, n, inner=tfd.raw)


@pytest.fixture
def fds() -> Iterator[Fds]:
    f = Fds()
    yield f
    for fd in f.fds:
        fd.close()


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def errno_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except OSError as err:
        return err.errno or 0
    return 0


def test_aom_rows(fds: Fds) -> None:
    outer = fds.outer(AOM)
    inner = fds.map(1, 4, 4, 8)
    assert errno_of(lambda: ops.map_update_elem(outer, u32(4), u32(inner))) == errno.E2BIG
    assert errno_of(lambda: ops.map_delete_elem(outer, u32(4))) == errno.E2BIG
    assert errno_of(lambda: ops.map_lookup_elem(outer, u32(4), 4)) == errno.ENOENT
    assert errno_of(lambda: ops.map_lookup_elem(outer, u32(0), 4)) == errno.ENOENT
    assert errno_of(lambda: ops.map_delete_elem(outer, u32(0))) == errno.ENOENT
    for flags in (NOEXIST, EXIST, 4):
        assert (
            errno_of(lambda f=flags: ops.map_update_elem(outer, u32(0), u32(inner), f))
            == errno.EINVAL
        )
    assert errno_of(lambda: ops.map_update_elem(outer, u32(0), u32(inner))) == 0
    assert errno_of(lambda: ops.map_lookup_and_delete_elem(outer, u32(0), 4)) == ENOTSUPP
    assert errno_of(lambda: ops.map_delete_batch(outer, u32(0), 1)) == ENOTSUPP
    assert errno_of(lambda: ops.map_lookup_batch(outer, None, 4, 4, 4, 4, delete=True)) == ENOTSUPP
    assert errno_of(lambda: ops.map_delete_elem(outer, u32(0))) == 0
    assert errno_of(lambda: ops.map_lookup_elem(outer, u32(0), 4)) == errno.ENOENT


def test_hom_rows(fds: Fds) -> None:
    outer = fds.outer(HOM, n=1)
    a, b = fds.map(1, 4, 4, 8), fds.map(1, 4, 4, 8)
    assert errno_of(lambda: ops.map_update_elem(outer, u32(1), u32(a), EXIST)) == errno.ENOENT
    assert errno_of(lambda: ops.map_update_elem(outer, u32(1), u32(a), NOEXIST)) == 0
    assert errno_of(lambda: ops.map_update_elem(outer, u32(1), u32(b), NOEXIST)) == errno.EEXIST
    assert errno_of(lambda: ops.map_update_elem(outer, u32(2), u32(b))) == errno.E2BIG
    assert errno_of(lambda: ops.map_delete_elem(outer, u32(9))) == errno.ENOENT
    assert errno_of(lambda: ops.map_lookup_elem(outer, u32(9), 4)) == errno.ENOENT
    assert errno_of(lambda: ops.map_lookup_and_delete_elem(outer, u32(1), 4)) == ENOTSUPP
    res = ops.map_lookup_batch(outer, None, 4, 4, 4, 8)
    assert res.done and res.n == 1 and res.values == u32(_id(a))


def _id(fd: int) -> int:
    return int(ops.map_info(fd).id)


@pytest.mark.parametrize("t", [AOM, HOM])
def test_inner_mismatch_rows(fds: Fds, t: MapType) -> None:
    outer = fds.outer(t)  # template HASH 4/4 max 8
    for spec in [(1, 8, 4, 8, 0), (1, 4, 8, 8, 0), (1, 4, 4, 8, 1), (2, 4, 4, 8, 0)]:
        bad = fds.map(*spec)
        assert errno_of(lambda b=bad: ops.map_update_elem(outer, u32(0), u32(b))) == errno.EINVAL, (
            spec
        )
    with open("/dev/null") as f:
        assert errno_of(lambda: ops.map_update_elem(outer, u32(0), u32(f.fileno()))) == errno.EINVAL
    assert errno_of(lambda: ops.map_update_elem(outer, u32(0), u32(9999))) == errno.EBADF
    assert errno_of(lambda: ops.map_update_elem(outer, u32(0), u32(outer))) == errno.EINVAL
    other_outer = fds.outer(t)
    assert errno_of(lambda: ops.map_update_elem(outer, u32(0), u32(other_outer))) == errno.EINVAL


@pytest.mark.parametrize("t", [AOM, HOM])
def test_array_inner_max_entries_rows(fds: Fds, t: MapType) -> None:
    plain = fds.outer(t, tmpl=(2, 4, 4, 4, 0))
    other = fds.map(2, 4, 4, 8)
    assert errno_of(lambda: ops.map_update_elem(plain, u32(0), u32(other))) == errno.EINVAL
    flexible = fds.outer(t, tmpl=(2, 4, 4, 4, 0x1000))
    big = fds.map(2, 4, 4, 64, flags=0x1000)
    assert errno_of(lambda: ops.map_update_elem(flexible, u32(0), u32(big))) == 0
    # PERCPU_ARRAY inner maps: whether max_entries is compared depends on the
    # kernel build (two 6.18.44 builds differ); the row must agree with the
    # library's probe on this machine. F_INNER_MAP is refused either way.
    pcpu = fds.outer(t, tmpl=(6, 4, 4, 4, 0))
    pbig = fds.map(6, 4, 4, 8)
    expected = errno.EINVAL if MapType.PERCPU_ARRAY in inner_max_entries_types() else 0
    assert errno_of(lambda: ops.map_update_elem(pcpu, u32(0), u32(pbig))) == expected
    assert errno_of(lambda: fds.map(6, 4, 4, 4, flags=0x1000)) == errno.EINVAL
    assert errno_of(lambda: fds.map(1, 4, 4, 4, flags=0x1000)) == errno.EINVAL


@pytest.mark.parametrize("t", [AOM, HOM])
def test_create_rows(fds: Fds, t: MapType) -> None:
    tmpl = fds.map(1, 4, 4, 8)
    assert errno_of(lambda: fds.map(t, 4, 8, 4, inner=tmpl)) == errno.EINVAL  # value_size != 4
    assert errno_of(lambda: fds.map(t, 4, 4, 0, inner=tmpl)) == errno.EINVAL  # max_entries 0
    assert errno_of(lambda: fds.map(t, 4, 4, 4, inner=0)) in (errno.EINVAL, errno.EBADF)
    assert errno_of(lambda: fds.map(t, 4, 4, 4, inner=9999)) == errno.EBADF
    for bad_tmpl in [(3, 4, 4, 4), (19, 8, 8, 0), (21, 8, 8, 0)]:  # PROG_ARRAY, CGROUP_STORAGE x2
        tfd = fds.map(*bad_tmpl)
        assert errno_of(lambda i=tfd: fds.map(t, 4, 4, 4, inner=i)) == ENOTSUPP, bad_tmpl
    nested = fds.outer(AOM)
    assert errno_of(lambda: fds.map(t, 4, 4, 4, inner=nested)) == errno.EINVAL
    if t == AOM:
        assert errno_of(lambda: fds.map(t, 8, 4, 4, inner=tmpl)) == errno.EINVAL
