"""Parse ``.BTF`` (from an ELF object or ``/sys/kernel/btf/*``) into a type graph.

:meth:`BTF.parse` reads the header and the type records, checking every length
before reading and every type id and string offset before using it, and links
the records into :mod:`bpfnest.btf.types` objects. Malformed input raises
:class:`~bpfnest.errors.ParseError` with ``section=".BTF"`` and the byte
offset (from the start of the data) of the bad record; nothing else escapes.

Pure: no I/O, no kernel.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any, Final, TypeVar, overload

from ..errors import ParseError
from . import _wire as w
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

__all__ = ["BTF"]

T = TypeVar("T", bound=Type)

SECTION: Final = ".BTF"
#: Size of a pointer; BPF (and every 64-bit kernel) uses 8 bytes.
POINTER_SIZE: Final = 8

_K = w.Kind
_LINKAGE: Final = (Linkage.STATIC, Linkage.GLOBAL, Linkage.EXTERN)
#: Kinds that must be anonymous (the kernel refuses a name on them).
_ANONYMOUS: Final = frozenset({_K.PTR, _K.ARRAY, _K.VOLATILE, _K.CONST, _K.RESTRICT, _K.FUNC_PROTO})
#: Kinds that must have a name.
_NAMED: Final = frozenset(
    {_K.TYPEDEF, _K.FWD, _K.FUNC, _K.VAR, _K.DATASEC, _K.DECL_TAG, _K.TYPE_TAG}
)
_INT_SIZES: Final = frozenset({1, 2, 4, 8, 16})
_ENUM_SIZES: Final = frozenset({1, 2, 4, 8})
_FLOAT_SIZES: Final = frozenset({2, 4, 8, 12, 16})
#: Placeholder for Func.type until the link pass sets (and checks) the real one.
_PENDING_PROTO: Final = FuncProto(0, "", VOID, [])


def describe(t: Type) -> str:
    """``"STRUCT 'name' (#id)"``-style text for error messages."""
    kind = type(t).__name__.upper()
    return f"{kind} {t.name!r} (#{t.id})" if t.name else f"{kind} #{t.id}"


class BTF:
    """Parsed BTF: every type (``types[id]``, ``types[0]`` is ``VOID``), the
    string section, and the input bytes.

    Build with :meth:`parse`. With a ``base`` (split BTF, e.g. a kernel
    module's ``/sys/kernel/btf/<module>``), ``types`` starts with the base's
    types and string offsets continue after the base's strings.
    """

    def __init__(
        self,
        *,
        raw: bytes,
        byteorder: w.ByteOrder,
        types: list[Type],
        strings: bytes,
        file: str,
        base: BTF | None,
        record_offsets: list[int],
        datasecs: list[tuple[int, int]],
    ) -> None:
        self.raw: bytes = raw
        self.byteorder: w.ByteOrder = byteorder
        self.types: list[Type] = types
        self.strings: bytes = strings
        self.file: str = file
        self.base: BTF | None = base
        #: The first type id defined by this BTF (1, or after the base's).
        self.start_id: int = len(types) - len(record_offsets)
        #: The first string offset that refers to this BTF's string section.
        self.start_str: int = base.end_str if base is not None else 0
        self._record_offsets = record_offsets
        self._datasecs = datasecs
        self._by_name: dict[str, list[Type]] | None = None
        self._string_cache: dict[int, str] = {}
        # sizeof() and resolve() results by type id (the graph never changes).
        self._sizes: dict[int, int] = {}
        self._resolved: dict[int, Type] = {}

    def __repr__(self) -> str:
        own = len(self.types) - self.start_id
        split = f", split from {len(self.base.types)}" if self.base is not None else ""
        return f"<BTF {self.file!r}: {own} types{split}, {self.byteorder}-endian>"

    @property
    def end_str(self) -> int:
        """One past the last string offset of this BTF (and its base)."""
        return self.start_str + len(self.strings)

    # ------------------------------------------------------------ parse

    @classmethod
    def parse(cls, raw: bytes, *, file: str = "", base: BTF | None = None) -> BTF:
        """Parse BTF data: an ELF ``.BTF`` section or ``/sys/kernel/btf/vmlinux``.

        Either byte order is accepted (the magic tells which). ``base`` is the
        BTF that split BTF (a kernel module's) extends. ``file`` only goes into
        error messages. A header longer than 24 bytes (a later layout) is
        accepted and its extra fields ignored, as libbpf does.

        Raises:
            ParseError: the data is malformed (``section=".BTF"``, ``offset``
                the byte offset of the bad record or header field).
        """
        # A vmlinux parse allocates ~10^6 objects; the cyclic GC would walk
        # them over and over (4x slower). The graph is freed normally later.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return _Parser(bytes(raw), file, base).run()
        finally:
            if gc_was_enabled:
                gc.enable()

    # ------------------------------------------------------------ lookup

    def type_by_id(self, type_id: int) -> Type:
        """The type with id ``type_id``.

        Raises:
            ParseError: no such id.
        """
        if not 0 <= type_id < len(self.types):
            raise ParseError(
                f"type id {type_id} out of range (0..{len(self.types) - 1})",
                file=self.file,
                section=SECTION,
            )
        return self.types[type_id]

    def named(self, name: str) -> list[Type]:
        """Every type called ``name``, in id order (a new list)."""
        if self._by_name is None:
            index: dict[str, list[Type]] = {}
            for t in self.types:
                if t.name:
                    index.setdefault(t.name, []).append(t)
            self._by_name = index
        return list(self._by_name.get(name, ()))

    @overload
    def find(self, name: str) -> Type: ...

    @overload
    def find(self, name: str, cls: type[T]) -> T: ...

    def find(self, name: str, cls: type[Type] | None = None) -> Type:
        """The first type called ``name`` (and an instance of ``cls``, if given).

        Raises:
            KeyError: there is none.
        """
        for t in self.named(name):
            if cls is None or isinstance(t, cls):
                return t
        what = cls.__name__ if cls is not None else "type"
        raise KeyError(f"no BTF {what} named {name!r}")

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` in the string section.

        Raises:
            ParseError: ``offset`` is outside the string section.
        """
        s = self._string(offset)
        if s is None:
            raise ParseError(
                f"string offset {offset} outside the string section (size {self.end_str})",
                file=self.file,
                section=SECTION,
            )
        return s

    def _string(self, offset: int) -> str | None:
        s = self._string_cache.get(offset)
        if s is not None:
            return s
        if offset < self.start_str:
            return self.base._string(offset) if self.base is not None else None
        local = offset - self.start_str
        if local >= len(self.strings):
            return None
        # The parser checked that the section ends in NUL, so find() succeeds.
        s = self.strings[local : self.strings.find(b"\0", local)].decode("utf-8", "replace")
        self._string_cache[offset] = s
        return s

    def record_offset(self, t: Type) -> int | None:
        """Byte offset of ``t``'s record in :attr:`raw` (its base's, for base
        types); None for ``VOID`` and types not from this BTF."""
        if t.id >= self.start_id:
            i = t.id - self.start_id
            if i < len(self._record_offsets) and self.types[t.id] is t:
                return self._record_offsets[i]
            return None
        if self.base is not None:
            return self.base.record_offset(t)
        return None

    def _error(self, message: str, t: Type) -> ParseError:
        return ParseError(message, file=self.file, section=SECTION, offset=self.record_offset(t))

    # ------------------------------------------------------------ layout

    def resolve(self, t: Type) -> Type:
        """``t`` without typedefs, qualifiers and type tags.

        Raises:
            ParseError: they form a cycle.
        """
        if not isinstance(t, (Typedef, Qualifier)):
            return t
        ours = self._ours(t)
        if ours:
            done = self._resolved.get(t.id)
            if done is not None:
                return done
        start = t
        seen: set[int] = set()
        while isinstance(t, (Typedef, Qualifier)):
            if t.id in seen:
                raise self._error(f"type cycle through {describe(t)}", t)
            seen.add(t.id)
            t = t.type
        if ours:
            self._resolved[start.id] = t
        return t

    def _ours(self, t: Type) -> bool:
        """``t`` is this BTF's type number ``t.id`` (so results may be cached by id)."""
        return 0 <= t.id < len(self.types) and self.types[t.id] is t

    def sizeof(self, t: Type) -> int:
        """The size in bytes of ``t``: follows typedefs, qualifiers, type tags
        and variables; an array is ``nelems`` times its element; a pointer is 8.

        Raises:
            ParseError: ``t`` has no size (void, a function, a forward
                declaration, a decl tag), its definition is cyclic, or the size
                does not fit in 64 bits (nested arrays).
        """
        if isinstance(t, (Int, Composite, Enum, Float, Datasec)):
            return t.size
        ours = self._ours(t)
        if ours:
            done = self._sizes.get(t.id)
            if done is not None:
                return done
        size = self._sizeof(t)
        if ours:
            self._sizes[t.id] = size
        return size

    def _sizeof(self, t: Type) -> int:
        mult = 1
        seen: set[int] = set()
        cur = t
        while True:
            if isinstance(cur, (Int, Composite, Enum, Float, Datasec)):
                return _size64(mult * cur.size, t, self)
            if isinstance(cur, Pointer):
                return _size64(mult * POINTER_SIZE, t, self)
            nxt: Type
            if isinstance(cur, Array):
                mult = _size64(mult * cur.nelems, t, self)
                nxt = cur.type
            elif isinstance(cur, (Typedef, Qualifier, Var)):
                nxt = cur.type
            else:
                via = f" (size of {describe(t)} asked)" if cur is not t else ""
                raise self._error(f"{describe(cur)} has no size{via}", cur)
            if cur.id in seen:
                raise self._error(f"type cycle through {describe(cur)}", cur)
            seen.add(cur.id)
            cur = nxt

    # ------------------------------------------------------------ rewrite

    def with_datasec_fixups(
        self, sec_sizes: Mapping[str, int], var_offsets: Mapping[str, int]
    ) -> bytes:
        """A copy of :attr:`raw` with DATASEC sizes and variable offsets set.

        Each DATASEC called a key of ``sec_sizes`` gets that size; each of its
        entries whose VAR is called a key of ``var_offsets`` gets that offset.
        The entries of a DATASEC changed this way are then sorted by offset,
        which the kernel requires. This is libbpf's ``btf_fixup_datasec``:
        clang leaves the sizes (and some offsets) 0, and the ELF section
        headers and symbol table know the truth. Same byte order as the input.

        Raises:
            ValueError: a size or offset does not fit in 32 bits.
        """
        buf = bytearray(self.raw)
        wire = w.WIRE[self.byteorder]
        for type_id, rec in self._datasecs:
            ds = self.types[type_id]
            assert isinstance(ds, Datasec)
            touched = False
            if ds.name in sec_sizes:
                size = _u32(sec_sizes[ds.name], f"size of section {ds.name!r}")
                wire.u32.pack_into(buf, rec + 8, size)
                touched = True
            entries: list[tuple[int, int, int]] = []
            for vsi in ds.vars:
                offset = vsi.offset
                vname = vsi.type.name
                if vname and vname in var_offsets:
                    offset = _u32(var_offsets[vname], f"offset of variable {vname!r}")
                    touched = True
                entries.append((offset, vsi.type.id, vsi.size))
            if touched:
                entries.sort(key=lambda e: e[0])
                for i, (offset, var_id, size) in enumerate(entries):
                    wire.var_secinfo.pack_into(
                        buf, rec + w.TYPE_SIZE + i * wire.var_secinfo.size, var_id, offset, size
                    )
        return bytes(buf)


def _size64(size: int, t: Type, btf: BTF) -> int:
    if size >> 64:
        raise btf._error(f"size of {describe(t)} does not fit in 64 bits", t)
    return size


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must fit in 32 bits, got {value}")
    return value


class _Parser:
    """One parse of one blob. Two passes: create every type with references
    left pending, then link the references (all ids known by then)."""

    def __init__(self, data: bytes, file: str, base: BTF | None) -> None:
        self.data = data
        self.file = file
        self.base = base

    def err(self, message: str, offset: int | None) -> ParseError:
        return ParseError(message, file=self.file, section=SECTION, offset=offset)

    def run(self) -> BTF:
        byteorder, wire, type_start, type_len, strings = self.header()
        self.strings = strings
        self.str_base = self.base.end_str if self.base is not None else 0
        self.names: dict[int, str] = {}
        types, offsets, datasecs = self.types(wire, type_start, type_len)
        return BTF(
            raw=self.data,
            byteorder=byteorder,
            types=types,
            strings=strings,
            file=self.file,
            base=self.base,
            record_offsets=offsets,
            datasecs=datasecs,
        )

    def header(self) -> tuple[w.ByteOrder, w.Wire, int, int, bytes]:
        """Check the header and the section bounds: (byte order, its layouts,
        where the type records start, their length, the string section)."""
        data = self.data
        if len(data) < 8:
            raise self.err(f"header truncated: {len(data)} bytes", 0)
        if data[:2] == b"\x9f\xeb":
            byteorder: w.ByteOrder = "little"
        elif data[:2] == b"\xeb\x9f":
            byteorder = "big"
        else:
            raise self.err(f"bad magic {data[:2].hex()} (want eb9f in either byte order)", 0)
        wire = w.WIRE[byteorder]
        _, version, _, hdr_len = wire.prefix.unpack_from(data, 0)
        if version != w.BTF_VERSION:
            raise self.err(f"unsupported BTF version {version}", 2)
        if hdr_len < w.HEADER_SIZE or len(data) < w.HEADER_SIZE:
            raise self.err(f"header truncated: hdr_len {hdr_len}, {len(data)} bytes", 4)
        if hdr_len > len(data):
            raise self.err(f"header length {hdr_len} runs past the end ({len(data)} bytes)", 4)
        _, _, _, _, type_off, type_len, str_off, str_len = wire.header.unpack_from(data, 0)
        avail = len(data) - hdr_len
        if type_off + type_len > avail:
            raise self.err(
                f"type section ({type_len} bytes at {type_off}) runs past the end"
                f" ({avail} bytes after the header)",
                8,
            )
        if type_off % 4:
            raise self.err(f"type section offset {type_off} is not 4-byte aligned", 8)
        if str_off + str_len > avail:
            raise self.err(
                f"string section ({str_len} bytes at {str_off}) runs past the end"
                f" ({avail} bytes after the header)",
                16,
            )
        if type_len and str_len and type_off < str_off + str_len and str_off < type_off + type_len:
            raise self.err("type and string sections overlap", 16)
        str_start = hdr_len + str_off
        strings = data[str_start : str_start + str_len]
        if self.base is None and (not strings or strings[0] != 0):
            raise self.err("string section must start with an empty string", str_start)
        if strings and strings[-1] != 0:
            raise self.err("string section does not end with NUL", str_start + str_len - 1)
        return byteorder, wire, hdr_len + type_off, type_len, strings

    def name(self, offset: int, where: int) -> str:
        """The string at ``offset``; ``where`` is the record to blame."""
        s = self.names.get(offset)
        if s is not None:
            return s
        if offset < self.str_base:
            assert self.base is not None
            s = self.base._string(offset)
        else:
            local = offset - self.str_base
            if local < len(self.strings):
                end = self.strings.find(b"\0", local)
                s = self.strings[local:end].decode("utf-8", "replace")
        if s is None:
            raise self.err(
                f"string offset {offset} outside the string section"
                f" ({self.str_base + len(self.strings)} bytes)",
                where,
            )
        self.names[offset] = s
        return s

    def types(
        self, wire: w.Wire, start: int, length: int
    ) -> tuple[list[Type], list[int], list[tuple[int, int]]]:
        data = self.data
        view = memoryview(data)
        name = self.name
        types: list[Type] = list(self.base.types) if self.base is not None else [VOID]
        offsets: list[int] = []
        datasecs: list[tuple[int, int]] = []
        # Pending references: (object, referenced id, offset of the record holding it).
        ref_type: list[tuple[Any, int, int]] = []
        ref_target: list[tuple[Pointer, int, int]] = []
        ref_return: list[tuple[FuncProto, int, int]] = []
        ref_index: list[tuple[Array, int, int]] = []
        funcs: list[Func] = []
        tags: list[DeclTag] = []
        plain_composites: list[Composite] = []  # kind_flag 0: bitfields via INT bits
        unpack_type = wire.type.unpack_from
        u32 = wire.u32.unpack_from
        extra = w.EXTRA_SIZE
        t: Type
        pos = start
        end = start + length
        tid = len(types)
        while pos < end:
            rec = pos
            if end - rec < w.TYPE_SIZE:
                raise self.err(f"type #{tid}: record truncated ({end - rec} bytes left)", rec)
            name_off, info, st = unpack_type(data, rec)
            kind = (info >> w.INFO_KIND_SHIFT) & w.INFO_KIND_MASK
            vlen = info & w.INFO_VLEN_MASK
            kflag = info >> w.INFO_KFLAG_SHIFT
            sizes = extra.get(kind)
            if sizes is None:
                raise self.err(f"type #{tid}: unknown kind {kind}", rec)
            if info & w.INFO_UNUSED_MASK:
                raise self.err(f"type #{tid}: unused info bits set ({info:#010x})", rec)
            body = rec + w.TYPE_SIZE
            pos = body + sizes[0] + sizes[1] * vlen
            if pos > end:
                raise self.err(
                    f"type #{tid} ({_K(kind).name}, vlen {vlen}) runs past the end of the"
                    f" type section ({end - body} bytes left for {pos - body})",
                    rec,
                )
            tname = name(name_off, rec) if name_off else ""
            if tname:
                if kind in _ANONYMOUS:
                    raise self.err(f"type #{tid}: {_K(kind).name} must not have a name", rec)
            elif kind in _NAMED:
                raise self.err(f"type #{tid}: {_K(kind).name} must have a name", rec)

            if kind == _K.FUNC:
                if vlen > Linkage.EXTERN:
                    raise self.err(f"type #{tid}: bad FUNC linkage {vlen}", rec)
                t = Func(tid, tname, _PENDING_PROTO, _LINKAGE[vlen])
                ref_type.append((t, st, rec))
                funcs.append(t)
            elif kind == _K.FUNC_PROTO:
                params: list[Param] = []
                t = FuncProto(tid, "", VOID, params)
                ref_return.append((t, st, rec))
                sub = body
                for p_name_off, p_type in wire.param.iter_unpack(view[body:pos]):
                    if p_type == 0 and (p_name_off or sub != pos - 8):
                        raise self.err(
                            f"type #{tid}: only an unnamed last parameter may be void", sub
                        )
                    p = Param(name(p_name_off, sub) if p_name_off else "", VOID)
                    params.append(p)
                    ref_type.append((p, p_type, sub))
                    sub += 8
            elif kind == _K.PTR:
                t = Pointer(tid, "", VOID)
                ref_target.append((t, st, rec))
            elif kind == _K.STRUCT or kind == _K.UNION:
                members: list[Member] = []
                t = (Struct if kind == _K.STRUCT else Union)(tid, tname, st, members)
                if not kflag:
                    plain_composites.append(t)
                sub = body
                for m_name_off, m_type, m_off in wire.member.iter_unpack(view[body:pos]):
                    mname = name(m_name_off, sub) if m_name_off else ""
                    if kflag:
                        m = Member(
                            mname,
                            VOID,
                            m_off & w.MEMBER_OFFSET_MASK,
                            m_off >> w.MEMBER_BITFIELD_SHIFT,
                        )
                    else:
                        m = Member(mname, VOID, m_off, 0)
                    members.append(m)
                    ref_type.append((m, m_type, sub))
                    sub += 12
            elif kind in (_K.CONST, _K.TYPEDEF, _K.VOLATILE, _K.RESTRICT):
                if kind == _K.CONST:
                    t = Const(tid, tname, VOID)
                elif kind == _K.TYPEDEF:
                    t = Typedef(tid, tname, VOID)
                elif kind == _K.VOLATILE:
                    t = Volatile(tid, tname, VOID)
                else:
                    t = Restrict(tid, tname, VOID)
                ref_type.append((t, st, rec))
            elif kind == _K.ARRAY:
                elem, index, nelems = wire.array.unpack_from(data, body)
                t = Array(tid, "", VOID, VOID, nelems)
                ref_type.append((t, elem, body))
                ref_index.append((t, index, body))
            elif kind == _K.ENUM or kind == _K.ENUM64:
                if st not in _ENUM_SIZES:
                    raise self.err(f"type #{tid}: bad enum size {st}", rec)
                values: list[EnumValue] = []
                sub = body
                if kind == _K.ENUM:
                    for v_name_off, val in wire.enum.iter_unpack(view[body:pos]):
                        if kflag and val & 0x80000000:
                            val -= 1 << 32
                        values.append(EnumValue(name(v_name_off, sub), val))
                        sub += 8
                else:
                    for v_name_off, lo, hi in wire.enum64.iter_unpack(view[body:pos]):
                        val = hi << 32 | lo
                        if kflag and hi & 0x80000000:
                            val -= 1 << 64
                        values.append(EnumValue(name(v_name_off, sub), val))
                        sub += 12
                t = Enum(tid, tname, st, bool(kflag), values, kind == _K.ENUM64)
            elif kind == _K.INT:
                (bits_info,) = u32(data, body)
                bits = bits_info & w.INT_BITS_MASK
                bit_offset = (bits_info >> w.INT_OFFSET_SHIFT) & w.INT_OFFSET_MASK
                if st not in _INT_SIZES or bits + bit_offset > st * 8:
                    raise self.err(
                        f"type #{tid}: bad INT: size {st}, {bits} bits at bit {bit_offset}", rec
                    )
                encoding = (bits_info >> w.INT_ENCODING_SHIFT) & w.INT_ENCODING_MASK
                t = Int(tid, tname, st, encoding, bits, bit_offset)
            elif kind == _K.FWD:
                t = Fwd(tid, tname, "union" if kflag else "struct")
            elif kind == _K.VAR:
                (linkage,) = u32(data, body)
                if linkage > Linkage.EXTERN:
                    raise self.err(f"type #{tid}: bad VAR linkage {linkage}", rec)
                t = Var(tid, tname, VOID, _LINKAGE[linkage])
                ref_type.append((t, st, rec))
            elif kind == _K.DATASEC:
                entries: list[VarSecinfo] = []
                t = Datasec(tid, tname, st, entries)
                datasecs.append((tid, rec))
                sub = body
                for v_type, v_off, v_size in wire.var_secinfo.iter_unpack(view[body:pos]):
                    vsi = VarSecinfo(VOID, v_off, v_size)
                    entries.append(vsi)
                    ref_type.append((vsi, v_type, sub))
                    sub += 12
            elif kind == _K.FLOAT:
                if st not in _FLOAT_SIZES:
                    raise self.err(f"type #{tid}: bad FLOAT size {st}", rec)
                t = Float(tid, tname, st)
            elif kind == _K.DECL_TAG:
                (component,) = wire.s32.unpack_from(data, body)
                t = DeclTag(tid, tname, VOID, component, bool(kflag))
                ref_type.append((t, st, rec))
                tags.append(t)
            else:  # TYPE_TAG: the only kind left
                t = TypeTag(tid, tname, VOID, bool(kflag))
                ref_type.append((t, st, rec))
            types.append(t)
            offsets.append(rec)
            tid += 1

        n = len(types)
        for obj, ref, where in ref_type:
            if ref >= n:
                raise self.err(f"type id {ref} out of range ({n} types)", where)
            obj.type = types[ref]
        for ptr, ref, where in ref_target:
            if ref >= n:
                raise self.err(f"type id {ref} out of range ({n} types)", where)
            ptr.target = types[ref]
        for proto, ref, where in ref_return:
            if ref >= n:
                raise self.err(f"type id {ref} out of range ({n} types)", where)
            proto.return_type = types[ref]
        for arr, ref, where in ref_index:
            if ref >= n:
                raise self.err(f"type id {ref} out of range ({n} types)", where)
            arr.index_type = types[ref]

        first = n - len(offsets)
        for f in funcs:
            if not isinstance(f.type, FuncProto):
                raise self.err(
                    f"FUNC {f.name!r} (#{f.id}) has type {describe(f.type)}, not a FUNC_PROTO",
                    offsets[f.id - first],
                )
        for tag in tags:
            self.check_tag(tag, offsets[tag.id - first])
        for ds_id, rec in datasecs:
            ds = types[ds_id]
            assert isinstance(ds, Datasec)
            for i, vsi in enumerate(ds.vars):
                if not isinstance(vsi.type, (Var, Func)):
                    raise self.err(
                        f"DATASEC {ds.name!r} (#{ds_id}) entry {i} is {describe(vsi.type)},"
                        " not a VAR or FUNC",
                        rec + w.TYPE_SIZE + 12 * i,
                    )
        for comp in plain_composites:
            _normalize_bitfields(comp)
        return types, offsets, datasecs

    def check_tag(self, tag: DeclTag, rec: int) -> None:
        target = tag.type
        idx = tag.component_idx
        if idx == -1:
            return
        count = -1
        if isinstance(target, Composite):
            count = len(target.members)
        elif isinstance(target, Func):
            count = len(target.type.params)
        if not 0 <= idx < count:
            raise self.err(
                f"DECL_TAG {tag.name!r} (#{tag.id}): component {idx} not in {describe(target)}",
                rec,
            )


def _normalize_bitfields(comp: Composite) -> None:
    """Without kind_flag, a bitfield's size and extra bit offset sit in the
    INT it points to; move them into the member so both encodings read alike."""
    for m in comp.members:
        t = m.type
        for _ in range(32):
            if not isinstance(t, (Typedef, Qualifier)):
                break
            t = t.type
        if isinstance(t, Int) and (t.bit_offset or t.bits != t.size * 8):
            m.bitfield_size = t.bits
            m.bit_offset += t.bit_offset
