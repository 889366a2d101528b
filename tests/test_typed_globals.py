"""Typed global variables: CollectionSpec.variables[name].value before load,
Collection.variables[name].value/.raw after (.data/.bss mapped, no syscall;
.rodata frozen), with get_global/set_global still working (tests/bpf/typed_globals.c)."""

from __future__ import annotations

from typing import Any

import pytest

from bpfnest import F_MMAPABLE, CollectionSpec, VariableSpec
from bpfnest.btf.values import asdict

from support import bpf_mappings

pytestmark = pytest.mark.usefixtures("kernel")


def test_set_before_load_read_and_write_after(objs: Any) -> None:
    spec = CollectionSpec.from_file(objs("typed_globals"))
    cfg = spec.variables["cfg"]
    assert asdict(cfg.value) == {"limit": 10, "port": 80, "name": b"web"}
    assert spec.variables["offset"].value == -5
    cfg.value = {"limit": 3, "port": 8080, "name": "db"}
    assert cfg.raw[:6] == bytes([3, 0, 0, 0, 0x90, 0x1F])
    with pytest.raises(ValueError, match=r"config\.port = 70000 does not fit in u16"):
        cfg.value = {"port": 70000}
    assert cfg.value.port == 8080  # unchanged
    with spec.load() as coll:
        assert all(coll.maps[n].flags & F_MMAPABLE for n in (".rodata", ".data", ".bss"))
        run = coll.programs["run"]
        v = coll.variables
        assert sorted(v) == ["cfg", "offset", "stats"] and len(v) == 3
        assert run.test_run(bytes(64)).retval == 8080
        stats = v["stats"].value
        assert (stats.hits, stats.runs) == (2**32 - 2, 1)  # u32 + s32 is u32 in C
        v["offset"].value = 100  # a memory write: the program sees it at once
        v["stats"].value = {"hits": 0, "runs": 0}
        run.test_run(bytes(64))
        assert asdict(v["stats"].value) == {"hits": 103, "runs": 1}
        assert len(bpf_mappings()) >= 2  # .data and .bss are mapped
        # get_global/set_global see the same bytes
        assert coll.get_global("offset") == (100).to_bytes(4, "little")
        coll.set_global("offset", 7)
        assert v["offset"].value == 7 and v["offset"].raw == bytes([7, 0, 0, 0])
        v["offset"].raw = (-1).to_bytes(4, "little", signed=True)
        assert v["offset"].value == -1
        # .rodata is frozen: readable, not writable
        assert v["cfg"].readonly and v["cfg"].value.name == b"db"
        with pytest.raises(ValueError, match=r"variable 'cfg' is in \.rodata, frozen at load"):
            v["cfg"].value = {"limit": 1}
        with pytest.raises(ValueError, match=r"does not fit in s32"):
            v["offset"].value = 1 << 31
        with pytest.raises(KeyError, match="no global variable 'nope'"):
            v["nope"]
    assert bpf_mappings() == set()
    with pytest.raises(ValueError, match="closed"):
        _ = v["offset"].value


def test_a_lone_variable_spec_has_no_value() -> None:
    with pytest.raises(ValueError, match="belongs to no CollectionSpec"):
        _ = VariableSpec("x", ".data", 0, 4).value
