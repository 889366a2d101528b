"""BTF indexed in one pass and decoded on demand: the kernel's BTF in milliseconds.

:meth:`bpfnest.btf.BTF.parse` builds every type of ``/sys/kernel/btf/vmlinux``
(about 130,000 records, 0.5 s and 100 MB). :class:`LazyBTF` is a subclass of
:class:`~bpfnest.btf.BTF` with the same methods (``named``, ``find``,
``type_by_id``, ``resolve``, ``sizeof``, ``string``, ``types``) that only
walks the records once, keeping their word offsets and name offsets in two
arrays, and decodes a type the first time it is asked for. A decoded type is
one of the :mod:`bpfnest.btf.types` classes (a subclass of it: ``isinstance``
works); the types it refers to (a member's type, a pointer's target, ...)
are decoded when the attribute is read, so reading ``struct task_struct``
decodes its record and nothing it points to. Each id is decoded once per
object and the same object is returned every time (``is`` holds).

The checks are the full parser's, made per record when it is decoded: a
malformed record raises :class:`~bpfnest.errors.ParseError` when it is
reached, not at :meth:`LazyBTF.parse` (which checks the header, the section
bounds and the record chain: kinds and lengths).

Pure: no I/O, no kernel.
"""

from __future__ import annotations

import array
import operator
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final, NoReturn, SupportsIndex, TypeVar, overload

from ..errors import ParseError
from . import _wire as w
from ._lazy_types import (
    QUALIFIERS,
    _LazyArray,
    _LazyDeclTag,
    _LazyFunc,
    _LazyFuncProto,
    _LazyMember,
    _LazyParam,
    _LazyPointer,
    _LazyTypeTag,
    _LazyVar,
    _LazyVarSecinfo,
)
from .parse import BTF, SECTION, _Parser, describe
from .types import (
    VOID,
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Linkage,
    Member,
    Param,
    Pointer,
    Qualifier,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarSecinfo,
    Volatile,
)

__all__ = ["LazyBTF"]

T = TypeVar("T", bound=Type)

_K = w.Kind
#: Words (u32) a record takes: fixed part (header included) and per vlen item.
#: Unknown kinds take more words than any section has, which ends the walk.
_BAD: Final = 1 << 62
_FIXED: Final = [_BAD] * 32
_PER: Final = [0] * 32
for _k, (_fixed, _per) in w.EXTRA_SIZE.items():
    _FIXED[_k] = 3 + _fixed // 4
    _PER[_k] = _per // 4
_LINKAGE: Final = (Linkage.STATIC, Linkage.GLOBAL, Linkage.EXTERN)
_ANONYMOUS: Final = frozenset({_K.PTR, _K.ARRAY, _K.VOLATILE, _K.CONST, _K.RESTRICT, _K.FUNC_PROTO})
_NAMED: Final = frozenset(
    {_K.TYPEDEF, _K.FWD, _K.FUNC, _K.VAR, _K.DATASEC, _K.DECL_TAG, _K.TYPE_TAG}
)
_MODIFIERS: Final = frozenset({_K.TYPEDEF, _K.VOLATILE, _K.CONST, _K.RESTRICT, _K.TYPE_TAG})
_INT_SIZES: Final = frozenset({1, 2, 4, 8, 16})
_ENUM_SIZES: Final = frozenset({1, 2, 4, 8})
_FLOAT_SIZES: Final = frozenset({2, 4, 8, 12, 16})
#: Kind of a decoded type (for a base BTF's types, which are objects already).
_KIND_OF: Final[Mapping[type, int]] = {
    Int: _K.INT,
    Pointer: _K.PTR,
    Array: _K.ARRAY,
    Struct: _K.STRUCT,
    Union: _K.UNION,
    Fwd: _K.FWD,
    Typedef: _K.TYPEDEF,
    Volatile: _K.VOLATILE,
    Const: _K.CONST,
    Restrict: _K.RESTRICT,
    Func: _K.FUNC,
    FuncProto: _K.FUNC_PROTO,
    Var: _K.VAR,
    Datasec: _K.DATASEC,
    Float: _K.FLOAT,
    DeclTag: _K.DECL_TAG,
    TypeTag: _K.TYPE_TAG,
}


class _LazyTypes(list[Type]):
    """``LazyBTF.types``: a read-only sequence of every type by id, each
    decoded when it is first read. Its list storage is never used."""

    __slots__ = ("_btf",)

    def __init__(self, btf: LazyBTF) -> None:
        super().__init__()
        self._btf = btf

    def __len__(self) -> int:
        return self._btf._count

    @overload
    def __getitem__(self, i: SupportsIndex) -> Type: ...

    @overload
    def __getitem__(self, i: slice) -> list[Type]: ...

    def __getitem__(self, i: Any) -> Type | list[Type]:
        n = self._btf._count
        if isinstance(i, slice):
            return [self._btf.type_by_id(j) for j in range(*i.indices(n))]
        j = operator.index(i)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"type id {i} out of range (0..{n - 1})")
        return self._btf.type_by_id(j)

    def __iter__(self) -> Iterator[Type]:
        get = self._btf.type_by_id
        return (get(j) for j in range(self._btf._count))

    def __reversed__(self) -> Iterator[Type]:
        get = self._btf.type_by_id
        return (get(j) for j in range(self._btf._count - 1, -1, -1))

    def __contains__(self, t: object) -> bool:
        return isinstance(t, Type) and 0 <= t.id < self._btf._count and self[t.id] is t

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list):
            return NotImplemented
        return len(self) == len(other) and all(a is b for a, b in zip(self, other, strict=True))

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None

    def __bool__(self) -> bool:
        return self._btf._count > 0

    def __repr__(self) -> str:
        return f"<{self._btf._count} BTF types, decoded on demand>"

    def index(self, value: Type, start: Any = 0, stop: Any = sys.maxsize) -> int:
        """The id of ``value`` if it is one of these types.

        Raises:
            ValueError: it is not (or not between ``start`` and ``stop``).
        """
        if value in self and start <= value.id < stop:
            return value.id
        raise ValueError(f"{value!r} is not a type of this BTF")

    def count(self, value: Type) -> int:
        """1 if ``value`` is one of these types, else 0."""
        return int(value in self)

    def copy(self) -> list[Type]:
        """Every type, decoded, in a new list."""
        return list(iter(self))


def _read_only(self: _LazyTypes, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError("LazyBTF.types is read-only")


for _name in (
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "sort",
    "reverse",
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
):
    setattr(_LazyTypes, _name, _read_only)


class LazyBTF(BTF):
    """A :class:`~bpfnest.btf.BTF` whose types are decoded when first asked for.

    A subclass: code written against ``BTF`` takes it as it is (``named``,
    ``find``, ``type_by_id``, ``resolve``, ``sizeof``, ``string``,
    ``record_offset``, ``with_datasec_fixups``). ``types`` is a read-only
    ``list`` subclass that decodes on indexing and iteration (iterating all
    of it decodes every type, as a full parse does). Build with
    :meth:`parse`. Decoding is safe from several threads: two threads that
    decode one id at once get the same object.
    """

    def __init__(
        self,
        *,
        raw: bytes,
        byteorder: w.ByteOrder,
        strings: bytes,
        file: str,
        base: BTF | None,
        type_start: int,
        words: array.array[int],
        offsets: array.array[int],
    ) -> None:
        super().__init__(
            raw=raw,
            byteorder=byteorder,
            types=[],
            strings=strings,
            file=file,
            base=base,
            record_offsets=[],
            datasecs=[],
        )
        self.start_id = len(base.types) if base is not None else 1
        self._count = self.start_id + len(offsets)
        self._type_start = type_start
        self._words = words
        self._offsets = offsets
        # The name offset of each own record, found without a Python loop.
        if len(offsets) > 1:
            self._names = array.array("I", operator.itemgetter(*offsets)(words))
        else:
            self._names = array.array("I", [words[o] for o in offsets])
        self._cache: dict[int, Type] = {0: VOID} if base is None else {}
        self._ids: dict[str, tuple[int, ...]] = {}
        self._datasecs_found = False
        self.types = _LazyTypes(self)

    def __repr__(self) -> str:
        split = f", split from {len(self.base.types)}" if self.base is not None else ""
        return (
            f"<LazyBTF {self.file!r}: {len(self._offsets)} types{split},"
            f" {len(self._cache)} decoded, {self.byteorder}-endian>"
        )

    # ------------------------------------------------------------ index

    @classmethod
    def parse(cls, raw: bytes, *, file: str = "", base: BTF | None = None) -> LazyBTF:
        """Index BTF data (an ELF ``.BTF`` section or ``/sys/kernel/btf/*``):
        one pass over the records, keeping where each starts.

        Either byte order is accepted. ``base`` is the BTF that split BTF (a
        kernel module's) extends; it may itself be a ``LazyBTF``. Records are
        checked when decoded (see the module's text).

        Raises:
            ParseError: a bad header or section bounds, an unknown kind, or a
                record that runs past the end of the type section.
        """
        data = bytes(raw)
        parser = _Parser(data, file, base)
        byteorder, _, type_start, type_len, strings = parser.header()
        words = array.array("I")
        if type_len % 4:
            raise parser.err(
                f"type section is {type_len} bytes, not whole records", type_start + type_len
            )
        words.frombytes(data[type_start : type_start + type_len])
        if byteorder != sys.byteorder:
            words.byteswap()
        offsets = array.array("I")
        add = offsets.append
        fixed, per = _FIXED, _PER
        i, n = 0, len(words)
        try:
            while i < n:
                add(i)
                info = words[i + 1]
                kind = info >> 24 & 31
                i += fixed[kind] + per[kind] * (info & 0xFFFF)
        except IndexError:
            i = n + 1
        if i != n:
            _diagnose(parser, words, type_start, len(base.types) if base is not None else 1)
        return cls(
            raw=data,
            byteorder=byteorder,
            strings=strings,
            file=file,
            base=base,
            type_start=type_start,
            words=words,
            offsets=offsets,
        )

    # ------------------------------------------------------------ lookup

    def type_by_id(self, type_id: int) -> Type:
        """The type with id ``type_id``, decoded on first use.

        Raises:
            ParseError: no such id, or its record is malformed.
        """
        t = self._cache.get(type_id)
        if t is not None:
            return t
        if type_id < self.start_id:
            if self.base is not None and type_id >= 0:
                return self.base.type_by_id(type_id)
        elif type_id < self._count:
            return self._cache.setdefault(type_id, self._decode(type_id))
        raise ParseError(
            f"type id {type_id} out of range (0..{self._count - 1})",
            file=self.file,
            section=SECTION,
        )

    def named(self, name: str) -> list[Type]:
        """Every type called ``name``, in id order (a new list); only those are decoded."""
        if not name:
            return []
        found = self.base.named(name) if self.base is not None else []
        found += [self.type_by_id(i) for i in self.ids_named(name)]
        return found

    def ids_named(self, name: str) -> tuple[int, ...]:
        """The ids of this BTF's own types (not its base's) called ``name``,
        in order, without decoding them."""
        ids = self._ids.get(name)
        if ids is not None:
            return ids
        key = b"\0" + name.encode() + b"\0"
        offsets: list[int] = []
        btf: BTF | None = self
        while btf is not None:  # a split BTF's names may point into its base's strings
            strings, at = btf.strings, btf.start_str
            if btf.base is not None and strings.startswith(key[1:]):
                offsets.append(at)  # only a base's string section starts with ""
            pos = strings.find(key)
            while pos >= 0:
                offsets.append(at + pos + 1)
                pos = strings.find(key, pos + 1)
            btf = btf.base
        names = self._names
        found: list[int] = []
        for off in offsets:
            j = -1
            try:
                while True:
                    j = names.index(off, j + 1)
                    found.append(self.start_id + j)
            except ValueError:
                pass
        ids = self._ids[name] = tuple(sorted(found))
        return ids

    def kind_of(self, type_id: int) -> w.Kind:
        """The ``BTF_KIND_*`` of type ``type_id``, without decoding it.

        Raises:
            ParseError: no such id (or, for a base type, a malformed record).
        """
        if type_id < self.start_id:
            return w.Kind(_kind(self.type_by_id(type_id)))
        if type_id >= self._count:
            self.type_by_id(type_id)  # raises
        return w.Kind(self._words[self._offsets[type_id - self.start_id] + 1] >> 24 & 31)

    def record_offset(self, t: Type) -> int | None:
        """Byte offset of ``t``'s record in :attr:`raw` (its base's, for base
        types); None for ``VOID`` and types not from this BTF."""
        if t.id >= self.start_id:
            i = t.id - self.start_id
            if i < len(self._offsets) and self._cache.get(t.id) is t:
                return self._type_start + 4 * self._offsets[i]
            return None
        return self.base.record_offset(t) if self.base is not None else None

    def with_datasec_fixups(
        self, sec_sizes: Mapping[str, int], var_offsets: Mapping[str, int]
    ) -> bytes:
        """As :meth:`bpfnest.btf.BTF.with_datasec_fixups` (finds the DATASECs first).

        Raises:
            ValueError: a size or offset does not fit in 32 bits.
        """
        if not self._datasecs_found:
            kinds = self._words
            self._datasecs = [
                (self.start_id + i, self._type_start + 4 * off)
                for i, off in enumerate(self._offsets)
                if kinds[off + 1] >> 24 & 31 == _K.DATASEC
            ]
            for tid, _ in self._datasecs:
                self.type_by_id(tid)
            self._datasecs_found = True
        return super().with_datasec_fixups(sec_sizes, var_offsets)

    # ------------------------------------------------------------ decode

    def _err(self, message: str, word: int) -> ParseError:
        return ParseError(
            message, file=self.file, section=SECTION, offset=self._type_start + 4 * word
        )

    def _name(self, offset: int, word: int) -> str:
        s = self._string(offset)
        if s is None:
            raise self._err(
                f"string offset {offset} outside the string section ({self.end_str} bytes)", word
            )
        return s

    def _ref(self, ref: int, word: int) -> int:
        if ref >= self._count:
            raise self._err(f"type id {ref} out of range ({self._count} types)", word)
        return ref

    def _shape(self, tid: int) -> tuple[int, int, int]:
        """(kind, vlen, size_or_type) of type ``tid`` (VOID: kind 0)."""
        if tid >= self.start_id:
            rec = self._offsets[tid - self.start_id]
            info = self._words[rec + 1]
            return info >> 24 & 31, info & 0xFFFF, self._words[rec + 2]
        t = self.type_by_id(tid)
        kind = _kind(t)
        if isinstance(t, Composite):
            return kind, len(t.members), t.size
        if isinstance(t, Func):
            return kind, t.linkage, t.type.id
        if isinstance(t, FuncProto):
            return kind, len(t.params), t.return_type.id
        return kind, 0, getattr(getattr(t, "type", VOID), "id", 0)

    def _bitfield(self, ref: int) -> tuple[int, int] | None:
        """(bits, bit offset) of the INT behind ``ref`` (through typedefs and
        qualifiers) when it is narrower than its size or offset, else None."""
        for _ in range(32):
            if ref < self.start_id:
                t = self.type_by_id(ref)
                while isinstance(t, (Typedef, Qualifier)):
                    t = t.type
                if isinstance(t, Int) and (t.bit_offset or t.bits != t.size * 8):
                    return t.bits, t.bit_offset
                return None
            rec = self._offsets[ref - self.start_id]
            kind = self._words[rec + 1] >> 24 & 31
            if kind in _MODIFIERS:
                ref = self._ref(self._words[rec + 2], rec)
                continue
            if kind == _K.INT:
                size, bits_info = self._words[rec + 2], self._words[rec + 3]
                bits = bits_info & w.INT_BITS_MASK
                offset = (bits_info >> w.INT_OFFSET_SHIFT) & w.INT_OFFSET_MASK
                return (bits, offset) if offset or bits != size * 8 else None
            return None
        return None

    def _decode(self, tid: int) -> Type:
        words = self._words
        rec = self._offsets[tid - self.start_id]
        name_off, info, st = words[rec], words[rec + 1], words[rec + 2]
        kind = info >> w.INFO_KIND_SHIFT & w.INFO_KIND_MASK
        vlen = info & w.INFO_VLEN_MASK
        kflag = info >> w.INFO_KFLAG_SHIFT
        if info & w.INFO_UNUSED_MASK:
            raise self._err(f"type #{tid}: unused info bits set ({info:#010x})", rec)
        name = self._name(name_off, rec) if name_off else ""
        if name:
            if kind in _ANONYMOUS:
                raise self._err(f"type #{tid}: {_K(kind).name} must not have a name", rec)
        elif kind in _NAMED:
            raise self._err(f"type #{tid}: {_K(kind).name} must have a name", rec)
        body = rec + 3
        if kind == _K.STRUCT or kind == _K.UNION:
            members: list[Member] = []
            for sub in range(body, body + 3 * vlen, 3):
                m_name = self._name(words[sub], sub) if words[sub] else ""
                ref, m_off = self._ref(words[sub + 1], sub), words[sub + 2]
                if kflag:
                    bits = m_off >> w.MEMBER_BITFIELD_SHIFT
                    m_off &= w.MEMBER_OFFSET_MASK
                else:
                    bits = 0
                    bitfield = self._bitfield(ref)
                    if bitfield is not None:
                        bits, m_off = bitfield[0], m_off + bitfield[1]
                members.append(_LazyMember(self, m_name, ref, m_off, bits))
            return (Struct if kind == _K.STRUCT else Union)(tid, name, st, members)
        if kind in QUALIFIERS:
            return QUALIFIERS[kind](self, tid, name, self._ref(st, rec))  # type: ignore[no-any-return]
        if kind == _K.PTR:
            return _LazyPointer(self, tid, self._ref(st, rec))
        if kind == _K.INT:
            bits_info = words[body]
            bits = bits_info & w.INT_BITS_MASK
            bit_offset = (bits_info >> w.INT_OFFSET_SHIFT) & w.INT_OFFSET_MASK
            if st not in _INT_SIZES or bits + bit_offset > st * 8:
                raise self._err(
                    f"type #{tid}: bad INT: size {st}, {bits} bits at bit {bit_offset}", rec
                )
            encoding = (bits_info >> w.INT_ENCODING_SHIFT) & w.INT_ENCODING_MASK
            return Int(tid, name, st, encoding, bits, bit_offset)
        if kind == _K.ARRAY:
            elem, index = self._ref(words[body], body), self._ref(words[body + 1], body)
            return _LazyArray(self, tid, elem, index, words[body + 2])
        if kind == _K.FUNC:
            if vlen > Linkage.EXTERN:
                raise self._err(f"type #{tid}: bad FUNC linkage {vlen}", rec)
            if self._shape(self._ref(st, rec))[0] != _K.FUNC_PROTO:
                raise self._err(f"FUNC {name!r} (#{tid}) has type #{st}, not a FUNC_PROTO", rec)
            return _LazyFunc(self, tid, name, st, _LINKAGE[vlen])
        if kind == _K.FUNC_PROTO:
            params: list[Param] = []
            last = body + 2 * (vlen - 1)
            for sub in range(body, body + 2 * vlen, 2):
                p_name, p_type = words[sub], self._ref(words[sub + 1], sub)
                if p_type == 0 and (p_name or sub != last):
                    raise self._err(f"type #{tid}: only an unnamed last parameter may be void", sub)
                params.append(_LazyParam(self, self._name(p_name, sub) if p_name else "", p_type))
            return _LazyFuncProto(self, tid, self._ref(st, rec), params)
        if kind == _K.ENUM or kind == _K.ENUM64:
            return self._enum(tid, name, kind, st, vlen, kflag, body)
        if kind == _K.VAR:
            if words[body] > Linkage.EXTERN:
                raise self._err(f"type #{tid}: bad VAR linkage {words[body]}", rec)
            return _LazyVar(self, tid, name, self._ref(st, rec), _LINKAGE[words[body]])
        if kind == _K.DATASEC:
            entries: list[VarSecinfo] = []
            for i, sub in enumerate(range(body, body + 3 * vlen, 3)):
                ref = self._ref(words[sub], sub)
                if self._shape(ref)[0] not in (_K.VAR, _K.FUNC):
                    raise self._err(
                        f"DATASEC {name!r} (#{tid}) entry {i} is"
                        f" {describe(self.type_by_id(ref))}, not a VAR or FUNC",
                        sub,
                    )
                entries.append(_LazyVarSecinfo(self, ref, words[sub + 1], words[sub + 2]))
            return Datasec(tid, name, st, entries)
        if kind == _K.FWD:
            return Fwd(tid, name, "union" if kflag else "struct")
        if kind == _K.FLOAT:
            if st not in _FLOAT_SIZES:
                raise self._err(f"type #{tid}: bad FLOAT size {st}", rec)
            return Float(tid, name, st)
        if kind == _K.DECL_TAG:
            component = words[body] - (1 << 32) if words[body] & 0x80000000 else words[body]
            self._check_tag(tid, name, self._ref(st, rec), component, rec)
            return _LazyDeclTag(self, tid, name, st, component, bool(kflag))
        # TYPE_TAG: the only kind left (the index pass refused unknown kinds).
        return _LazyTypeTag(self, tid, name, self._ref(st, rec), bool(kflag))

    def _enum(
        self, tid: int, name: str, kind: int, size: int, vlen: int, kflag: int, body: int
    ) -> Enum:
        words = self._words
        if size not in _ENUM_SIZES:
            raise self._err(f"type #{tid}: bad enum size {size}", body - 3)
        values: list[EnumValue] = []
        if kind == _K.ENUM:
            for sub in range(body, body + 2 * vlen, 2):
                val = words[sub + 1]
                if kflag and val & 0x80000000:
                    val -= 1 << 32
                values.append(EnumValue(self._name(words[sub], sub), val))
        else:
            for sub in range(body, body + 3 * vlen, 3):
                lo, hi = words[sub + 1], words[sub + 2]
                val = hi << 32 | lo
                if kflag and hi & 0x80000000:
                    val -= 1 << 64
                values.append(EnumValue(self._name(words[sub], sub), val))
        return Enum(tid, name, size, bool(kflag), values, kind == _K.ENUM64)

    def _check_tag(self, tid: int, name: str, target: int, idx: int, rec: int) -> None:
        if idx == -1:
            return
        kind, vlen, ref = self._shape(target)
        count = -1
        if kind in (_K.STRUCT, _K.UNION):
            count = vlen
        elif kind == _K.FUNC:
            count = self._shape(ref)[1]
        if not 0 <= idx < count:
            raise self._err(
                f"DECL_TAG {name!r} (#{tid}): component {idx} not in"
                f" {describe(self.type_by_id(target))}",
                rec,
            )


def _kind(t: Type) -> int:
    """The ``BTF_KIND_*`` of a decoded type (0 for ``VOID``)."""
    if isinstance(t, Enum):
        return _K.ENUM64 if t.kind64 else _K.ENUM
    for cls in type(t).__mro__:
        kind = _KIND_OF.get(cls)
        if kind is not None:
            return kind
    return 0


def _diagnose(parser: _Parser, words: array.array[int], start: int, first_id: int) -> NoReturn:
    """Walk the records again, slowly, to say which one is bad."""
    i, n, tid = 0, len(words), first_id
    while i < n:
        if n - i < 3:
            raise parser.err(
                f"type #{tid}: record truncated ({4 * (n - i)} bytes left)", start + 4 * i
            )
        info = words[i + 1]
        kind = info >> 24 & 31
        if kind not in w.EXTRA_SIZE:
            raise parser.err(f"type #{tid}: unknown kind {kind}", start + 4 * i)
        vlen = info & 0xFFFF
        nxt = i + _FIXED[kind] + _PER[kind] * vlen
        if nxt > n:
            raise parser.err(
                f"type #{tid} ({_K(kind).name}, vlen {vlen}) runs past the end of the type"
                f" section ({4 * (n - i - 3)} bytes left for {4 * (nxt - i - 3)})",
                start + 4 * i,
            )
        i, tid = nxt, tid + 1
    raise AssertionError("the walk found a bad record; the slow walk found none")
