"""CO-RE: relocate a program's instructions against another BTF (the kernel's). Pure.

A program built with ``preserve_access_index`` (``BPF_CORE_READ``,
``bpf_core_field_exists``, ``bpf_core_type_size``, ``bpf_core_enum_value``,
...) carries one ``bpf_core_relo`` per instruction that depends on a type's
layout: the instruction, a local type, an access string (``"0:1:2"``) and a
kind. :class:`Relocator` computes what each instruction must hold on the
target and patches it, with libbpf's semantics (``relo_core.c``):

- candidates are the target types of the local type's *essential* name (a
  ``___flavor`` suffix stripped) and of a compatible kind;
- fields are matched by name, through anonymous structs and unions, and
  through arrays (a flexible array may be indexed past its zero length);
- several candidates must agree, else the relocation is ambiguous (an error);
- a relocation that no candidate satisfies gives 0 for the ``*_EXISTS``
  kinds (and type id/size), and otherwise *poisons* its instruction: it
  becomes ``call 0xbad2310``, which the verifier refuses only if it can run,
  so code guarded by ``bpf_core_field_exists`` is removed as dead code.

The target is a :class:`bpfnest.btf.BTF` (the caller reads it); no I/O here.
Errors: :class:`~bpfnest.errors.ParseError` for malformed records (bad access
string, type id out of range, instruction outside the program),
:class:`~bpfnest.errors.BPFError` (``EINVAL``) for a relocation that cannot be
applied (ambiguous candidates, an instruction that does not hold the value the
compiler recorded); both name the program and the instruction.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import weakref
from collections.abc import Iterable, Sequence
from typing import Final, Protocol

from ..errors import BPFError, ParseError
from ._core_compat import compat_kind, essential_name, fields_compat, types_compat, types_match
from ._core_patch import POISON, Patcher, Result
from .parse import BTF
from .types import (
    Array,
    Composite,
    Enum,
    Fwd,
    Int,
    Pointer,
    Struct,
    Type,
    Typedef,
    Union,
)

__all__ = ["POISON", "CoreFixup", "CoreKind", "CoreRecord", "Relocator", "essential_name"]

#: The longest access path libbpf follows (``BPF_CORE_SPEC_MAX_LEN``).
MAX_SPEC_LEN: Final = 64


class CoreRecord(Protocol):
    """A CO-RE record as the engine reads it (:class:`bpfnest.CoreReloSpec` is one):
    the instruction index, the local type id, the access string and the kind."""

    @property
    def insn(self) -> int: ...

    @property
    def type_id(self) -> int: ...

    @property
    def access(self) -> str: ...

    @property
    def kind(self) -> int: ...


class CoreKind(enum.IntEnum):
    """``enum bpf_core_relo_kind``."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def field_based(self) -> bool:
        return self <= CoreKind.FIELD_RSHIFT_U64

    @property
    def type_based(self) -> bool:
        return CoreKind.TYPE_ID_LOCAL <= self <= CoreKind.TYPE_SIZE or self == CoreKind.TYPE_MATCHES

    @property
    def enum_based(self) -> bool:
        return self in (CoreKind.ENUMVAL_EXISTS, CoreKind.ENUMVAL_VALUE)

    @property
    def label(self) -> str:
        """libbpf's name (``byte_off``, ``exists``, ``enumval_value``, ...)."""
        return _LABELS[self]


_LABELS: Final = {
    CoreKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreKind.FIELD_EXISTS: "field_exists",
    CoreKind.FIELD_SIGNED: "signed",
    CoreKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreKind.TYPE_ID_LOCAL: "local_type_id",
    CoreKind.TYPE_ID_TARGET: "target_type_id",
    CoreKind.TYPE_EXISTS: "type_exists",
    CoreKind.TYPE_SIZE: "type_size",
    CoreKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreKind.ENUMVAL_VALUE: "enumval_value",
    CoreKind.TYPE_MATCHES: "type_matches",
}


@dataclasses.dataclass(frozen=True)
class CoreFixup:
    """What one relocation did to instruction ``insn``.

    ``path`` names the local type and access path (``struct
    task_struct___mine.no_such_field``); ``old`` is what the compiler wrote,
    ``new`` what the target needs; ``poisoned`` says the instruction became
    ``call 0xbad2310``: no candidate satisfied it, or (``resized``) the
    field is there but a load or store of it cannot change size (it is
    signed, or neither an integer nor a pointer), as libbpf decides.
    """

    insn: int
    kind: CoreKind
    path: str
    old: int
    new: int
    poisoned: bool = False
    resized: bool = False


# ------------------------------------------------------------------ specs


@dataclasses.dataclass
class _Acc:
    """One step of an access path: member ``idx`` of composite ``type`` (``name``
    set), or element ``idx`` of an array of ``type`` (``name`` None)."""

    type: Type
    idx: int
    name: str | None


@dataclasses.dataclass
class _Spec:
    btf: BTF
    root: Type
    kind: CoreKind
    accs: list[_Acc] = dataclasses.field(default_factory=list)
    raw: list[int] = dataclasses.field(default_factory=list)
    bit_offset: int = 0


class _NoSize(Exception):
    pass


def _size(btf: BTF, t: Type) -> int:
    try:
        return btf.sizeof(t)
    except ParseError:
        raise _NoSize from None


def _kind_name(t: Type) -> str:
    if isinstance(t, Fwd):
        return t.kind
    return {Struct: "struct", Union: "union", Enum: "enum"}.get(type(t), type(t).__name__.lower())


def _is_flex(btf: BTF, prev: _Acc | None, arr: Array) -> bool:
    """The array is the last member of its struct and of length 0."""
    if prev is None or prev.name is None or arr.nelems > 0:
        return False
    comp = btf.resolve(prev.type)
    return isinstance(comp, Composite) and prev.idx == len(comp.members) - 1


# ------------------------------------------------------------------ matching


def _match_member(lb: BTF, lacc: _Acc, tb: BTF, tt: Type, spec: _Spec) -> tuple[bool, Type]:
    """Find local member ``lacc`` in composite ``tt`` (through anonymous members),
    extending ``spec``; return (found, the member's type)."""
    comp = lb.resolve(lacc.type)
    assert isinstance(comp, Composite)
    lmember = comp.members[lacc.idx]
    tt = tb.resolve(tt)
    if not isinstance(tt, Composite):
        return False, tt
    for i, m in enumerate(tt.members):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise _TooDeep
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found, nxt = _match_member(lb, lacc, tb, m.type, spec)
            if found:
                return True, nxt
        elif m.name == lmember.name:
            if not fields_compat(lb, lmember.type, tb, m.type):
                spec.bit_offset -= m.bit_offset
                spec.raw.pop()
                return False, m.type
            spec.accs.append(_Acc(tt, i, m.name))
            return True, m.type
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return False, tt


class _TooDeep(Exception):
    pass


def _spec_match(local: _Spec, tb: BTF, cand: Type) -> _Spec | None:
    """The target spec of ``local`` on candidate ``cand``, or None when it does not match."""
    targ = _Spec(tb, cand, local.kind)
    lb = local.btf
    if local.kind.type_based:
        if local.kind == CoreKind.TYPE_MATCHES:
            ok = types_match(lb, local.root, tb, cand)
        else:
            ok = types_compat(lb, local.root, tb, cand)
        return targ if ok else None
    if local.kind.enum_based:
        enum_t = tb.resolve(cand)
        if not isinstance(enum_t, Enum):
            return None
        want = essential_name(local.accs[0].name or "")
        for i, v in enumerate(enum_t.values):
            if essential_name(v.name) == want:
                targ.accs.append(_Acc(enum_t, i, v.name))
                targ.raw.append(i)
                return targ
        return None
    t: Type = cand
    for i, lacc in enumerate(local.accs):
        t = tb.resolve(t)
        if lacc.name is not None:
            found, t = _match_member(lb, lacc, tb, t, targ)
            if not found:
                return None
            continue
        if i > 0:
            if not isinstance(t, Array):
                return None
            prev = targ.accs[-1] if targ.accs else None
            if not _is_flex(tb, prev, t) and lacc.idx >= t.nelems:
                return None
            t = tb.resolve(t.type)
        if len(targ.raw) >= MAX_SPEC_LEN:
            raise _TooDeep
        targ.accs.append(_Acc(t, lacc.idx, None))
        targ.raw.append(lacc.idx)
        targ.bit_offset += lacc.idx * _size(tb, t) * 8
    return targ


# ------------------------------------------------------------------ values


class _Poison(Exception):
    pass


def _field_value(
    spec: _Spec | None, kind: CoreKind, byteorder: str
) -> tuple[int, int, Type | None, bool]:
    """(value, field size for a load/store, field type, validate) of a field relocation."""
    if kind == CoreKind.FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, None, True
    if spec is None:
        raise _Poison
    acc = spec.accs[-1]
    btf = spec.btf
    if acc.name is None:  # an array element
        size = _size(btf, acc.type)
        if kind == CoreKind.FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, size, acc.type, True
        if kind == CoreKind.FIELD_BYTE_SIZE:
            return size, 0, None, True
        raise _Unsupported(f"{kind.label} cannot apply to an array element")
    comp = btf.resolve(acc.type)
    assert isinstance(comp, Composite)
    member = comp.members[acc.idx]
    mt = btf.resolve(member.type)
    bit_off = spec.bit_offset
    bit_sz = member.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = _size(btf, mt)
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise _Unsupported("the bitfield cannot be read with one 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(btf, mt)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    if kind == CoreKind.FIELD_BYTE_OFFSET:
        return byte_off, (0 if bitfield else byte_sz), (None if bitfield else mt), validate
    if kind == CoreKind.FIELD_BYTE_SIZE:
        return byte_sz, 0, None, validate
    if kind == CoreKind.FIELD_SIGNED:
        signed = (isinstance(mt, Enum) and mt.signed) or (isinstance(mt, Int) and mt.signed)
        return int(signed), 0, None, True
    if kind == CoreKind.FIELD_LSHIFT_U64:
        if byteorder == "little":
            return 64 - (bit_off + bit_sz - byte_off * 8), 0, None, validate
        return (8 - byte_sz) * 8 + (bit_off - byte_off * 8), 0, None, validate
    return 64 - bit_sz, 0, None, True  # FIELD_RSHIFT_U64


class _Unsupported(Exception):
    pass


def _type_value(spec: _Spec | None, kind: CoreKind) -> int:
    if spec is None:
        return 0
    if kind in (CoreKind.TYPE_ID_TARGET, CoreKind.TYPE_ID_LOCAL):
        return spec.root.id
    if kind in (CoreKind.TYPE_EXISTS, CoreKind.TYPE_MATCHES):
        return 1
    return _size(spec.btf, spec.root)  # TYPE_SIZE


def _enum_value(spec: _Spec | None, kind: CoreKind) -> int:
    if kind == CoreKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    acc = spec.accs[0]
    assert isinstance(acc.type, Enum)
    value = acc.type.values[acc.idx].value
    if not acc.type.kind64:  # a 32-bit enumerator is an s32, sign-extended as libbpf does
        value &= 0xFFFF_FFFF
        value = value - (1 << 32) if value & 0x8000_0000 else value
    return value & 0xFFFF_FFFF_FFFF_FFFF


def _calc(local: _Spec, targ: _Spec | None, byteorder: str) -> Result:
    res = Result()
    kind = local.kind
    try:
        if kind.field_based:
            res.old, res.old_size, res.old_type, res.validate = _field_value(local, kind, byteorder)
            res.new, res.new_size, res.new_type, _ = _field_value(targ, kind, byteorder)
            ot, nt = res.old_type, res.new_type
            safe = (isinstance(ot, Pointer) and isinstance(nt, Pointer)) or (
                isinstance(ot, Int) and isinstance(nt, Int) and not ot.signed and not nt.signed
            )
            res.bad_mem_size = res.old_size != res.new_size and not safe
        elif kind.type_based:
            res.old = _type_value(local, kind)
            res.new = _type_value(targ, kind)
        else:
            res.old = _enum_value(local, kind)
            res.new = _enum_value(targ, kind)
    except _Poison:
        res.poison = True
    return res


# ------------------------------------------------------------------ relocator

_flavored: weakref.WeakKeyDictionary[BTF, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def _names_of(btf: BTF) -> Iterable[str]:
    names = getattr(btf, "names", None)  # a lazy index may list its names without decoding
    if callable(names):
        return names()  # type: ignore[no-any-return]
    return {t.name for t in btf.types if t.name}


def _candidates_named(btf: BTF, essential: str) -> list[Type]:
    """Every type of ``btf`` whose essential name is ``essential``, by id."""
    index = _flavored.get(btf)
    if index is None:
        index = {}
        for name in _names_of(btf):
            if "___" in name and (base := essential_name(name)) != name:
                index.setdefault(base, []).append(name)
        _flavored[btf] = index
    found = btf.named(essential)
    for name in index.get(essential, ()):
        found.extend(btf.named(name))
    found.sort(key=lambda t: t.id)
    return found


class Relocator:
    """Applies the CO-RE relocations of programs whose types are in ``local``
    (the object's BTF) against ``target`` (the kernel's, or a btfhub file's).

    Candidates are looked up once per local type and kept, so one relocator
    serves every program of an object. Pure: no I/O, no syscall.
    """

    def __init__(self, local: BTF, target: BTF) -> None:
        self.local = local
        self.target = target
        self._cands: dict[int, list[Type]] = {}

    def relocate(
        self,
        program: str,
        instructions: bytes,
        relocations: Sequence[CoreRecord],
        *,
        byteorder: str = "little",
    ) -> tuple[bytes, list[CoreFixup]]:
        """Return ``instructions`` with every relocation applied, and what each one did.

        Raises:
            ParseError: a malformed record (kind, access string, type id,
                instruction index), naming ``program``.
            BPFError: ``EINVAL`` when a relocation cannot be applied: the
                candidates disagree, or the instruction is not of a form
                the relocation can patch (naming the instruction and path).
        """
        code = bytearray(instructions)
        fixups: list[CoreFixup] = []
        for relo in relocations:
            fixups.append(self._one(program, code, relo, byteorder))
        return bytes(code), fixups

    # -------------------------------------------------------------- steps

    def _bad(self, program: str, relo: CoreRecord, why: str) -> ParseError:
        return ParseError(
            f"program '{program}': CO-RE relocation of instruction {relo.insn}"
            f" (type #{relo.type_id}, access {relo.access!r}): {why}",
            section=".BTF.ext",
        )

    def _parse_spec(self, program: str, relo: CoreRecord) -> _Spec:
        """The local spec of ``relo`` (libbpf's ``bpf_core_parse_spec``).

        Raises:
            ParseError: a bad kind, type id or access string.
        """
        try:
            kind = CoreKind(relo.kind)
        except ValueError:
            raise self._bad(program, relo, f"unknown kind {relo.kind}") from None
        parts = relo.access.split(":")
        if not relo.access or not all(p.isascii() and p.isdigit() for p in parts):
            raise self._bad(program, relo, "the access string is not numbers separated by ':'")
        raw = [int(p) for p in parts]
        if len(raw) > MAX_SPEC_LEN:
            raise self._bad(program, relo, f"access path longer than {MAX_SPEC_LEN}")
        btf = self.local
        if not 0 < relo.type_id < len(btf.types):
            raise self._bad(program, relo, f"type id out of range (1..{len(btf.types) - 1})")
        root = btf.types[relo.type_id]
        spec = _Spec(btf, root, kind, raw=raw)
        if kind.type_based:
            if raw != [0]:
                raise self._bad(program, relo, "a type relocation's access string must be '0'")
            return spec
        t = btf.resolve(root)
        if kind.enum_based:
            if not isinstance(t, Enum) or len(raw) != 1 or raw[0] >= len(t.values):
                raise self._bad(program, relo, "not an enumerator of an enum")
            spec.accs.append(_Acc(t, raw[0], t.values[raw[0]].name))
            return spec
        try:
            spec.accs.append(_Acc(t, raw[0], None))
            spec.bit_offset = raw[0] * _size(btf, t) * 8
            for idx in raw[1:]:
                if isinstance(t, Composite):
                    if idx >= len(t.members):
                        raise self._bad(program, relo, f"{_path(spec)} has no member #{idx}")
                    m = t.members[idx]
                    spec.bit_offset += m.bit_offset
                    if m.name:
                        spec.accs.append(_Acc(t, idx, m.name))
                    t = btf.resolve(m.type)
                elif isinstance(t, Array):
                    flex = _is_flex(btf, spec.accs[-1], t)
                    if not flex and idx >= t.nelems:
                        raise self._bad(program, relo, f"index {idx} past {_path(spec)}")
                    t = btf.resolve(t.type)
                    spec.accs.append(_Acc(t, idx, None))
                    spec.bit_offset += idx * _size(btf, t) * 8
                else:
                    raise self._bad(program, relo, f"{_path(spec)} is no struct, union or array")
        except _NoSize:
            raise self._bad(program, relo, f"{_path(spec)} has no size") from None
        return spec

    def candidates(self, local_type: Type) -> list[Type]:
        """Target types of the same essential name and a compatible kind (libbpf's
        ``bpf_core_find_cands``), by id; cached per local type."""
        found = self._cands.get(local_type.id)
        if found is None:
            found = [
                t
                for t in _candidates_named(self.target, essential_name(local_type.name))
                if compat_kind(t, local_type)
            ]
            self._cands[local_type.id] = found
        return found

    def _resolve(self, program: str, relo: CoreRecord, local: _Spec, byteorder: str) -> Result:
        kind = local.kind
        if kind == CoreKind.TYPE_ID_LOCAL:
            return Result(old=local.root.id, new=local.root.id, validate=False)
        if not local.root.name:
            raise self._bad(program, relo, "CO-RE does not relocate anonymous types")
        chosen: Result | None = None
        chosen_spec: _Spec | None = None
        for cand in self.candidates(local.root):
            try:
                targ = _spec_match(local, self.target, cand)
                if targ is None:
                    continue
                res = _calc(local, targ, byteorder)
            except (_NoSize, _TooDeep, _Unsupported) as exc:
                raise self._fail(program, relo, local, str(exc) or "cannot be computed") from None
            if chosen is None or chosen_spec is None:
                chosen, chosen_spec = res, targ
            elif targ.bit_offset != chosen_spec.bit_offset:
                raise self._fail(
                    program,
                    relo,
                    local,
                    f"candidates disagree on the offset ({chosen_spec.bit_offset // 8} !="
                    f" {targ.bit_offset // 8} bytes, #{chosen_spec.root.id} and #{cand.id})",
                )
            elif res.poison != chosen.poison or res.new != chosen.new:
                raise self._fail(
                    program,
                    relo,
                    local,
                    f"candidates disagree ({chosen.new} != {res.new}, #{chosen_spec.root.id}"
                    f" and #{cand.id})",
                )
        if chosen is None:
            try:
                chosen = _calc(local, None, byteorder)
            except (_NoSize, _Unsupported) as exc:
                raise self._fail(program, relo, local, str(exc) or "cannot be computed") from None
        return chosen

    def _fail(self, program: str, relo: CoreRecord, local: _Spec, why: str) -> BPFError:
        return BPFError(
            errno.EINVAL,
            f"load program '{program}': CO-RE relocation {CoreKind(relo.kind).label} of"
            f" instruction {relo.insn} ({_path(local)}): {why}",
        )

    def _one(self, program: str, code: bytearray, relo: CoreRecord, byteorder: str) -> CoreFixup:
        n = len(code) // 8
        if not 0 <= relo.insn < n:
            raise self._bad(program, relo, f"instruction outside the program ({n} instructions)")
        local = self._parse_spec(program, relo)
        res = self._resolve(program, relo, local, byteorder)
        path = _path(local)
        patch = Patcher(code, relo.insn, byteorder)
        resized = False
        if not res.poison:
            why = patch.apply(res)
            if why is not None and why != "poison":
                raise self._fail(program, relo, local, why)
            res.poison = resized = why == "poison"
        if res.poison:
            patch.poison()
        return CoreFixup(relo.insn, local.kind, path, res.old, res.new, res.poison, resized)


def _path(spec: _Spec) -> str:
    """``struct task_struct___mine.comm[2]``, ``enum e::VAL``, ``struct s``: the
    local type and access path, as a C programmer would write it."""
    root = spec.root
    kind = "" if isinstance(root, Typedef) else _kind_name(spec.btf.resolve(root)) + " "
    name = f"{kind}{root.name}" if root.name else f"#{root.id}"
    if spec.kind.type_based:
        return name
    if spec.kind.enum_based:
        return f"{name}::{spec.accs[0].name}" if spec.accs else name
    out = name
    if spec.raw and spec.raw[0]:
        out += f"[{spec.raw[0]}]"
    for acc in spec.accs[1:]:
        out += f".{acc.name}" if acc.name is not None else f"[{acc.idx}]"
    return out
