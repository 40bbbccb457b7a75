# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lazy BTF reader: the public entry point of the btf package.

``BTF.from_file('/sys/kernel/btf/vmlinux')`` maps the file and makes one
pass that records only where each type record starts (an ``array('I')``);
nothing is decoded. ``type_by_id`` decodes one type on request and caches
it; ``ids_by_name`` builds a name index on first use, in one pass.
``kind_of``/``name_of``/``sizeof``/``resolve`` read the raw records
without building objects.

Split BTF (a kernel module's BTF over vmlinux) is read by passing the base
``BTF``: ids continue after the base's ids and string offsets after the
base's string section, and lookups fall through to the base.

``BTF.from_index`` builds the same object over a first pass and name index
made earlier (btf/index_format.py, kept per run by btf/cache.py), so neither pass
runs again; every public method answers exactly as on a fresh parse.

A ``BTF`` is read-only after construction; its lazy caches are plain dicts,
so concurrent first use from several threads may decode twice but stays
correct.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import mmap
import os
import struct
from array import array

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_KIND_ARRAY, BTF_KIND_CONST, BTF_KIND_DATASEC, BTF_KIND_DECL_TAG,
    BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO, BTF_KIND_FWD, BTF_KIND_INT, BTF_KIND_PTR,
    BTF_KIND_RESTRICT, BTF_KIND_STRUCT, BTF_KIND_TYPE_TAG, BTF_KIND_TYPEDEF,
    BTF_KIND_UNION, BTF_KIND_VAR, BTF_KIND_VOID, BTF_KIND_VOLATILE,
    BTF_HEADER_LAYOUT_SIZE, BTF_HEADER_SIZE, BTF_KIND_MAX, BTF_LAYOUT_SIZE, BTF_TYPE_SIZE, BTF_VERSION,
    KIND_FIXED_SIZE, KIND_VLEN_SIZE, MODIFIER_KINDS, byte_view,
    kind_name, kind_tables_with_layout, unpack_header,
)
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.strings import StringTable
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.types import (
    Array, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func,
    FuncProto, Fwd, Int, Member, Param, Pointer, Restrict, Struct, Typedef,
    TypeTag, Union, Unknown, Var, VarSecinfo, Void, Volatile,
)

# Hops resolve()/sizeof() follow before calling a chain a cycle; the
# kernel and libbpf use the same bound.
MAX_RESOLVE_DEPTH = 32

# The kernel refuses BTF with more types than this (BTF_MAX_TYPE).
BTF_MAX_TYPE = 0x000fffff

# Pointer size on every BPF target we load for.
POINTER_SIZE = 8

_SIZED_KINDS = frozenset((
    BTF_KIND_INT, BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM,
    BTF_KIND_ENUM64, BTF_KIND_DATASEC, BTF_KIND_FLOAT))

# Kinds whose size_or_type field is a type id.
_SIZE_FOLLOW_KINDS = MODIFIER_KINDS | frozenset((BTF_KIND_VAR,))

_REF_CLASSES = {
    BTF_KIND_PTR: Pointer,
    BTF_KIND_TYPEDEF: Typedef,
    BTF_KIND_VOLATILE: Volatile,
    BTF_KIND_CONST: Const,
    BTF_KIND_RESTRICT: Restrict,
    BTF_KIND_TYPE_TAG: TypeTag,
}

_VOID = Void()


def map_file(path, name=None):
    """The contents of ``path``: an mmap (private, read-only) or, where the
    file cannot be mapped, the bytes read. ``name`` is used in messages
    (default: the file's base name). Raises BTFError when the file cannot
    be opened or read. Cost: no copy when mapped."""
    if name is None:
        name = os.path.basename(path) or path
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BTFError("BTF '%s': cannot open %s: %s" % (name, path, exc.strerror)) from exc
    try:
        try:
            # A shared ACCESS_READ mapping of sysfs BTF is refused; a
            # private read-only one works.
            return mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        except (OSError, ValueError, AttributeError):
            pass
        try:
            with io.open(fd, "rb", closefd=False) as f:
                return f.read()
        except OSError as exc:
            raise BTFError("BTF '%s': cannot read %s: %s"
                           % (name, path, exc.strerror)) from exc
    finally:
        os.close(fd)


def essential_name(name):
    # CO-RE's flavour rule: cut at the last 'X___Y' where X and Y are not '_'.
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


class BTF:
    """Type information of one BTF blob (vmlinux, a module, an object).

    Build with ``from_bytes`` or ``from_file``. Valid type ids are
    ``0 .. count - 1``; id 0 is void; with a base, ids below
    ``base.count`` belong to the base.
    """

    def __init__(self, data, name="<object>", base=None):
        """Parse the header and make the offsets-only first pass.

        ``data``: bytes, bytearray, memoryview or mmap holding exactly one
        BTF blob (trailing bytes are allowed and ignored); it is not
        copied, so it must not change while this object is in use.
        Raises BTFError on any malformed header or type section.
        Cost: one pass over the type section (about 30 ms for vmlinux).
        """
        self._setup(data, name, base)
        self._offsets = self._scan_types()
        self._finish()

    def _setup(self, data, name, base):
        # Everything but the first pass: header, byte order, string table.
        self.name = name
        self._base = base
        mv = byte_view(data, "BTF '%s'" % name)
        self._data = data
        self._mv = mv
        self._parse_header()
        if base is not None and base.byte_order != self.byte_order:
            raise BTFError("BTF '%s': byte order %s differs from base BTF '%s' (%s)"
                           % (name, self.byte_order, base.name, base.byte_order))
        self._first = base.count if base is not None else 1
        self.strings = StringTable(
            data if hasattr(data, "find") else mv,
            self._str_start, self._str_len,
            base=base.strings if base is not None else None, name=name)
        # Prebuilt name index (from_index): callables name -> candidate ids.
        self._name_lookup = None
        self._flavored_lookup = None

    def _finish(self):
        self.count = self._first + len(self._offsets)
        if self.count - 1 > BTF_MAX_TYPE:
            self._fail("too many types: got %d, kernel max %d" % (self.count - 1, BTF_MAX_TYPE))
        self._cache = {}
        self._names = None
        self._flavored = None

    # -- constructors -----------------------------------------------------

    @classmethod
    def from_bytes(cls, data, name="<object>", base=None):
        """BTF over ``data`` (bytes, bytearray, memoryview, mmap), not
        copied. ``base``: the base BTF for split BTF. Raises BTFError."""
        return cls(data, name=name, base=base)

    @classmethod
    def from_file(cls, path, base=None, name=None):
        """BTF read from ``path`` (e.g. /sys/kernel/btf/vmlinux). The file
        is mapped private and read-only, or read whole if it cannot be
        mapped. ``name`` defaults to the file's base name. Raises BTFError,
        also when the file cannot be opened."""
        if name is None:
            name = os.path.basename(path) or path
        return cls(map_file(path, name), name=name, base=base)

    @classmethod
    def from_index(cls, data, offsets, name_lookup, flavored_lookup, name="<object>", base=None):
        """BTF over ``data`` whose first pass and name index were made
        before (btf/index_format.py), so neither runs again.

        ``offsets``: where each own type record starts, exactly what the
        first pass over this ``data`` yields (an ``array('I')`` or a
        memoryview cast to 'I', e.g. over a mapped cache file; not
        copied). ``name_lookup(name)`` and ``flavored_lookup(name)``
        return candidate own ids in ascending order: a superset of the
        types called ``name`` (of the flavoured types whose essential name
        is ``name``); each candidate's name is checked against this data,
        so a hash index with collisions is fine. Both must only be given
        for data with the identity they were built from: offsets are
        checked for fit, not recomputed.

        Raises BTFError on a malformed header or offsets that cannot
        belong to this type section. Cost: the header and a few reads.
        """
        self = cls.__new__(cls)
        self._setup(data, name, base)
        count = len(offsets)
        start = self._type_start
        end = start + self._type_len
        if count == 0:
            if self._type_len:
                self._fail("prebuilt index has no types, type section has %d bytes" % self._type_len)
        elif offsets[0] != start or not start <= offsets[count - 1] <= end - BTF_TYPE_SIZE:
            self._fail("prebuilt index does not fit: type offsets [%d .. %d], type section [%d, %d)"
                       % (offsets[0], offsets[count - 1], start, end))
        self._offsets = offsets
        self._name_lookup = name_lookup
        self._flavored_lookup = flavored_lookup
        self._finish()
        return self

    def _index_parts(self):
        """(offsets, names, flavored) of this blob's own types, for
        btf/index_format.py: the first pass's offsets table; a dict name -> id or
        tuple of ids (ascending); a dict essential name -> tuple of ids of
        flavoured types. Builds the name index if not built yet (same
        errors as ``ids_by_name``)."""
        if self._names is None:
            self._build_name_index()
        return self._offsets, self._names, self._flavored_index()

    # -- first pass -------------------------------------------------------

    def _fail(self, reason, cause=None):
        raise BTFError("BTF '%s': %s" % (self.name, reason)) from cause

    def _parse_header(self):
        mv = self._mv
        layout, header = unpack_header(mv, "BTF_HEADER", BTF_VERSION, "BTF '%s'" % self.name)
        (_magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len) = header
        size = len(mv)
        if size > 0xffffffff:
            self._fail("data of %d bytes exceeds 4 GiB" % size)
        if type_off & 3:
            self._fail("type section offset %d not 4-byte aligned" % type_off)
        if type_len & 3:
            self._fail("type section length %d not a multiple of 4" % type_len)
        for what, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
            end = hdr_len + off + length
            if end > size:
                self._fail("%s section [%d, %d) beyond data of %d bytes"
                           % (what, hdr_len + off, end, size))
        if type_len and str_len and type_off < str_off + str_len and \
                str_off < type_off + type_len:
            self._fail("type section [%d, %d) overlaps string section [%d, %d)"
                       % (type_off, type_off + type_len, str_off, str_off + str_len))
        layout_off = layout_len = 0
        if hdr_len >= BTF_HEADER_LAYOUT_SIZE:
            layout_off, layout_len = layout.BTF_HEADER_LAYOUT.unpack_from(mv, BTF_HEADER_SIZE)
        self._layout_records = self._parse_layout_section(
            layout, hdr_len, type_off, type_len, str_off, layout_off, layout_len)
        str_start = hdr_len + str_off
        if self._base is None:
            # Offset 0 must name the empty string for anonymous types.
            if str_len == 0 or mv[str_start] != 0:
                self._fail("string section must start with a NUL byte")
        if str_len and mv[str_start + str_len - 1] != 0:
            self._fail("string section does not end with a NUL byte")
        self.byte_order = layout.byte_order
        self._layout = layout
        self._hdr_len = hdr_len
        self._type_start = hdr_len + type_off
        self._type_len = type_len
        self._str_start = str_start
        self._str_len = str_len

    def _parse_layout_section(self, layout, hdr_len, type_off, type_len, str_off, layout_off, layout_len):
        # The optional layout section (2026 UAPI) sits between the types and
        # the strings and holds one struct btf_layout per kind the encoder
        # knew; libbpf checks the same placement.
        if layout_len == 0:
            return None
        if layout_off & 3:
            self._fail("layout section offset %d not 4-byte aligned" % layout_off)
        if layout_len % BTF_LAYOUT_SIZE:
            self._fail("layout section length %d not a multiple of %d" % (layout_len, BTF_LAYOUT_SIZE))
        if layout_off < type_off + type_len or layout_off + layout_len > str_off:
            self._fail("layout section [%d, %d) not between the type section's end %d and the "
                       "string section's start %d" % (layout_off, layout_off + layout_len,
                                                      type_off + type_len, str_off))
        start = hdr_len + layout_off
        return tuple(layout.BTF_LAYOUT.iter_unpack(self._mv[start:start + layout_len]))

    @property
    def kind_layouts(self):
        """The layout section as a tuple of (info_sz, elem_sz, flags), one
        per kind number, or None when the blob has none (a split BTF without
        one uses its base's)."""
        return self._layout_records

    def _kind_sizes(self):
        records = self._layout_records
        if records is None and self._base is not None:
            records = self._base.kind_layouts
        if records is None:
            return KIND_FIXED_SIZE, KIND_VLEN_SIZE
        return kind_tables_with_layout(records)

    def _scan_types(self):
        mv = self._mv
        offsets = array("I")
        append = offsets.append
        unpack_info = self._layout.BTF_TYPE_INFO.unpack_from
        fixed, per_vlen = self._kind_sizes()
        pos = self._type_start
        end = pos + self._type_len
        # The loop body is kept minimal; unknown kinds map to an impossible
        # size, so any bad record ends the loop and is diagnosed below.
        try:
            while pos < end:
                info = unpack_info(mv, pos)[0]
                append(pos)
                kind = (info >> 24) & 0x7f
                pos += BTF_TYPE_SIZE + fixed[kind] + (info & 0xffffff) * per_vlen[kind]
        except struct.error as exc:
            self._fail("type #%d at offset %d: record truncated: btf_type needs %d bytes, "
                       "data has %d left" % (self._first + len(offsets), pos, BTF_TYPE_SIZE,
                                             len(mv) - pos), exc)
        if pos != end:
            self._diagnose_last(offsets, end)
        return offsets

    def _diagnose_last(self, offsets, end):
        type_id = self._first + len(offsets) - 1
        pos = offsets[-1]
        if pos + BTF_TYPE_SIZE > end:
            self._fail("type #%d at offset %d: record truncated: btf_type needs %d bytes, "
                       "type section has %d left" % (type_id, pos, BTF_TYPE_SIZE, end - pos))
        info = self._layout.BTF_TYPE_INFO.unpack_from(self._mv, pos)[0]
        kind = (info >> 24) & 0x7f
        fixed, per_vlen = self._kind_sizes()
        if fixed[kind] == KIND_FIXED_SIZE[BTF_KIND_VOID]:
            # Unsized: kind 0, or a kind neither we nor the layout section know.
            records = self._layout_records
            if records is None and self._base is not None:
                records = self._base.kind_layouts
            if kind == BTF_KIND_VOID:
                self._fail("type #%d: unknown kind 0 (UNKN is not a type)" % type_id)
            if records is None:
                self._fail("type #%d: unknown kind %d, and the BTF has no layout section to "
                           "size it (this reader knows kinds 1..%d)" % (type_id, kind, BTF_KIND_MAX))
            if kind >= len(records):
                self._fail("type #%d: unknown kind %d, not described by the layout section "
                           "(%d kinds)" % (type_id, kind, len(records)))
            self._fail("type #%d: unknown kind %d: layout section sizes (info %d, element %d) "
                       "are not multiples of 4" % (type_id, kind, records[kind][0], records[kind][1]))
        need = BTF_TYPE_SIZE + fixed[kind] + (info & 0xffffff) * per_vlen[kind]
        self._fail("type #%d (%s) at offset %d: record truncated: needs %d bytes, "
                   "type section has %d left"
                   % (type_id, kind_name(kind), pos, need, end - pos))

    # -- small public API -------------------------------------------------

    @property
    def base(self):
        """The base BTF of split BTF, or None."""
        return self._base

    @property
    def first_id(self):
        """The lowest id this blob itself defines (1, or base.count)."""
        return self._first

    def iter_ids(self, include_base=True):
        """Type ids from 1 (or from ``first_id`` without the base) to
        ``count - 1``, without decoding."""
        return iter(range(1 if include_base else self._first, self.count))

    def raw_bytes(self):
        """The BTF blob as given (header, types, strings), as a bytes copy,
        e.g. for BPF_BTF_LOAD. Cost: one copy of the blob."""
        return self._mv.tobytes()

    def type_offset(self, type_id):
        """Byte offset of type ``type_id``'s record within ``raw_bytes()``.
        Raises BTFError for void, base ids, or ids out of range."""
        local = type_id - self._first
        if local < 0 or local >= len(self._offsets):
            self._fail("type id %d not defined by this BTF (own ids %d..%d)"
                       % (type_id, self._first, self.count - 1))
        return self._offsets[local]

    def _locate(self, type_id):
        # (owner, record offset) for a non-void id, wherever it lives.
        btf = self
        while True:
            local = type_id - btf._first
            if 0 <= local < len(btf._offsets):
                return btf, btf._offsets[local]
            if btf._base is None or local >= 0 or type_id <= 0:
                self._out_of_range(type_id)
            btf = btf._base

    def _out_of_range(self, type_id, context=""):
        self._fail("%stype id %d out of range (have %d types)"
                   % (context, type_id, self.count))

    def kind_of(self, type_id):
        """Kind number of ``type_id`` from its info word, without decoding.
        Raises BTFError when out of range."""
        if type_id == 0:
            return BTF_KIND_VOID
        btf, off = self._locate(type_id)
        return (btf._layout.BTF_TYPE_INFO.unpack_from(btf._mv, off)[0] >> 24) & 0x7f

    def name_of(self, type_id):
        """Name of ``type_id`` ('' when anonymous), without decoding the
        rest of the type. Raises BTFError."""
        if type_id == 0:
            return ""
        btf, off = self._locate(type_id)
        name_off = btf._layout.U32.unpack_from(btf._mv, off)[0]
        return btf._string(name_off, type_id, "name")

    def _string(self, offset, type_id, what):
        try:
            return self.strings.get(offset)
        except BTFError as exc:
            reason = exc.details.get("reason", exc.message)
            raise BTFError("BTF '%s': type #%d: %s: %s" % (self.name, type_id, what, reason),
                           details=exc.details) from exc

    def type_by_id(self, type_id):
        """The decoded type (see types.py) for ``type_id``; cached. Raises
        BTFError when the id is out of range or the record references ids
        or strings out of range. Cost: one record decode on first use."""
        try:
            return self._cache[type_id]
        except KeyError:
            pass
        except TypeError as exc:
            raise BTFError("BTF '%s': type id must be an int, got %r"
                           % (self.name, type_id)) from exc
        if type_id == 0:
            return _VOID
        btf, off = self._locate(type_id)
        if btf is not self:
            return btf.type_by_id(type_id)
        value = self._decode(type_id, off)
        self._cache[type_id] = value
        return value

    # -- decoding ---------------------------------------------------------

    def _ref(self, ref_id, type_id, what):
        if ref_id >= self.count:
            self._fail("type #%d: %s type id %d out of range (have %d types)"
                       % (type_id, what, ref_id, self.count))
        return ref_id

    def _decode(self, type_id, off):
        layout = self._layout
        mv = self._mv
        name_off, info, size_or_type = layout.BTF_TYPE.unpack_from(mv, off)
        kind = (info >> 24) & 0x7f
        vlen = info & 0xffffff
        kflag = info >> 31
        name = self._string(name_off, type_id, "name")
        body = off + BTF_TYPE_SIZE
        ref = self._ref
        string = self._string

        cls = _REF_CLASSES.get(kind)
        if cls is not None:
            return cls(type_id, name, ref(size_or_type, type_id, "referenced"))
        if kind == BTF_KIND_INT:
            word = layout.BTF_INT.unpack_from(mv, body)[0]
            return Int(type_id, name, size_or_type, (word >> 24) & 0x0f, word & 0xff,
                       (word >> 16) & 0xff)
        if kind == BTF_KIND_STRUCT or kind == BTF_KIND_UNION:
            members = []
            for i, (m_name, m_type, m_off) in enumerate(
                    layout.BTF_MEMBER.iter_unpack(mv[body:body + vlen * 12])):
                if kflag:
                    bitfield_size = m_off >> 24
                    m_off &= 0xffffff
                else:
                    bitfield_size = 0
                members.append(Member(string(m_name, type_id, "member #%d name" % i),
                                      ref(m_type, type_id, "member #%d" % i),
                                      m_off, bitfield_size))
            cls = Struct if kind == BTF_KIND_STRUCT else Union
            return cls(type_id, name, size_or_type, tuple(members))
        if kind == BTF_KIND_ENUM:
            rec = layout.BTF_ENUM_SIGNED if kflag else layout.BTF_ENUM
            values = tuple(
                EnumValue(string(v_name, type_id, "enumerator #%d name" % i), v)
                for i, (v_name, v) in enumerate(rec.iter_unpack(mv[body:body + vlen * 8])))
            return Enum(type_id, name, size_or_type, values, bool(kflag))
        if kind == BTF_KIND_ENUM64:
            values = []
            for i, (v_name, lo, hi) in enumerate(
                    layout.BTF_ENUM64.iter_unpack(mv[body:body + vlen * 12])):
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                values.append(EnumValue(string(v_name, type_id, "enumerator #%d name" % i), v))
            return Enum64(type_id, name, size_or_type, tuple(values), bool(kflag))
        if kind == BTF_KIND_ARRAY:
            elem, index, nelems = layout.BTF_ARRAY.unpack_from(mv, body)
            return Array(type_id, name, ref(elem, type_id, "element"),
                         ref(index, type_id, "index"), nelems)
        if kind == BTF_KIND_FWD:
            return Fwd(type_id, name, bool(kflag))
        if kind == BTF_KIND_FUNC:
            return Func(type_id, name, ref(size_or_type, type_id, "prototype"), vlen)
        if kind == BTF_KIND_FUNC_PROTO:
            params = tuple(
                Param(string(p_name, type_id, "param #%d name" % i),
                      ref(p_type, type_id, "param #%d" % i))
                for i, (p_name, p_type) in enumerate(
                    layout.BTF_PARAM.iter_unpack(mv[body:body + vlen * 8])))
            return FuncProto(type_id, name, ref(size_or_type, type_id, "return"), params)
        if kind == BTF_KIND_VAR:
            linkage = layout.BTF_VAR.unpack_from(mv, body)[0]
            return Var(type_id, name, ref(size_or_type, type_id, "variable"), linkage)
        if kind == BTF_KIND_DATASEC:
            secinfos = tuple(
                VarSecinfo(ref(v_type, type_id, "var #%d" % i), v_off, v_size)
                for i, (v_type, v_off, v_size) in enumerate(
                    layout.BTF_VAR_SECINFO.iter_unpack(mv[body:body + vlen * 12])))
            return Datasec(type_id, name, size_or_type, secinfos)
        if kind == BTF_KIND_FLOAT:
            return Float(type_id, name, size_or_type)
        if kind == BTF_KIND_DECL_TAG:
            component_idx = layout.BTF_DECL_TAG.unpack_from(mv, body)[0]
            return DeclTag(type_id, name, ref(size_or_type, type_id, "tagged"), component_idx)
        # The first pass sized it from the layout section.
        return Unknown(type_id, name, kind, size_or_type, vlen, kflag)

    # -- lookups without decoding ----------------------------------------

    def _build_name_index(self):
        mv = self._mv
        unpack_u32 = self._layout.U32.unpack_from
        by_off = {}
        type_id = self._first
        # Group by string offset first: ints are cheap, and each distinct
        # name is then decoded once.
        for off in self._offsets:
            name_off = unpack_u32(mv, off)[0]
            if name_off:
                prev = by_off.get(name_off)
                if prev is None:
                    by_off[name_off] = type_id
                elif prev.__class__ is int:
                    by_off[name_off] = [prev, type_id]
                else:
                    prev.append(type_id)
            type_id += 1
        decode = self.strings.decoder()
        names = {}
        for name_off, ids in by_off.items():
            try:
                name = decode(name_off)
            except BTFError as exc:
                first = ids if ids.__class__ is int else ids[0]
                raise BTFError("BTF '%s': type #%d: name: %s"
                               % (self.name, first, exc.details.get("reason", exc.message)),
                               details=exc.details) from exc
            if ids.__class__ is not int:
                ids = tuple(ids)
            prev = names.get(name)
            if prev is None:
                names[name] = ids
            else:
                # Only a string table with duplicates gets here.
                merged = (prev if prev.__class__ is tuple else (prev,)) + \
                    (ids if ids.__class__ is tuple else (ids,))
                names[name] = tuple(sorted(merged))
        self._names = names

    def ids_by_name(self, name):
        """Ids of all types called ``name`` (base ids first), as a tuple,
        possibly empty. The first call builds the name index in one pass
        (about 50 ms and ~10 MB for vmlinux); later calls are dict
        lookups. On a BTF from ``from_index`` nothing is built: a lookup
        is a search of the prebuilt index plus one name read per
        candidate. Raises BTFError if a type name is out of the string
        table."""
        if self._name_lookup is not None:
            own = self._indexed(self._name_lookup, name, False)
        else:
            if self._names is None:
                self._build_name_index()
            own = self._names.get(name, ())
            if own.__class__ is int:
                own = (own,)
        if self._base is not None:
            return self._base.ids_by_name(name) + own
        return own

    def ids_by_essential_name(self, name):
        """Ids of all types whose name without a CO-RE flavour suffix
        ('x___v2' -> 'x') is ``name``: the exact name first, then flavoured
        ones, each in id order (base ids first). The flavoured names are
        collected from the name index once (vmlinux has a handful)."""
        exact = self.ids_by_name(name)
        flavored = self._flavored_ids(name)
        return exact + flavored if flavored else exact

    def _indexed(self, lookup, name, flavored):
        # Own ids among the prebuilt index's candidates whose name (or
        # essential name) really is ``name``.
        if not isinstance(name, str):
            return ()
        mv = self._mv
        unpack_u32 = self._layout.U32.unpack_from
        offsets = self._offsets
        first = self._first
        out = []
        for type_id in lookup(name):
            local = type_id - first
            if local < 0 or local >= len(offsets):
                self._out_of_range(type_id, "prebuilt name index: ")
            full = self._string(unpack_u32(mv, offsets[local])[0], type_id, "name")
            if (essential_name(full) if flavored else full) == name:
                out.append(type_id)
        return tuple(out)

    def _flavored_ids(self, name):
        # Flavoured ids for essential ``name``, base ids first.
        if self._flavored_lookup is not None:
            own = self._indexed(self._flavored_lookup, name, True)
        else:
            own = self._flavored_index().get(name, ())
        if self._base is not None:
            return self._base._flavored_ids(name) + own
        return own

    def _flavored_index(self):
        # essential name -> ascending tuple of own flavoured ids.
        if self._flavored is None:
            if self._names is None:
                self._build_name_index()
            index = {}
            for full in self._names:
                if "___" not in full:
                    continue
                short = essential_name(full)
                if short != full:
                    ids = self._names[full]
                    index[short] = tuple(sorted(index.get(short, ()) + ((ids,) if ids.__class__ is int else ids)))
            self._flavored = index
        return self._flavored

    def find(self, name, kind=None):
        """The one type called ``name`` (of ``kind``, a BTF_KIND_* number,
        if given), decoded. Raises BTFError when there is none or more
        than one."""
        ids = self.ids_by_name(name)
        if kind is not None:
            ids = tuple(i for i in ids if self.kind_of(i) == kind)
        what = "%s '%s'" % (kind_name(kind), name) if kind is not None else "type '%s'" % name
        if not ids:
            self._fail("no %s" % what)
        if len(ids) > 1:
            self._fail("%s is ambiguous: %d types (%s)" % (
                what, len(ids),
                ", ".join("#%d %s" % (i, kind_name(self.kind_of(i))) for i in ids[:8])))
        return self.type_by_id(ids[0])

    def _raw(self, type_id):
        # (kind, size_or_type, owner, offset) of a non-void id.
        btf, off = self._locate(type_id)
        info, size_or_type = btf._layout.BTF_TYPE.unpack_from(btf._mv, off)[1:]
        return (info >> 24) & 0x7f, size_or_type, btf, off

    def resolve(self, type_id, skip=MODIFIER_KINDS):
        """The id reached from ``type_id`` by following types whose kind is
        in ``skip`` (default: typedef, volatile, const, restrict,
        type_tag). Raises BTFError on ids out of range or a chain longer
        than 32 hops (a cycle)."""
        start = type_id
        for _hop in range(MAX_RESOLVE_DEPTH + 1):
            if type_id == 0:
                return 0
            kind, size_or_type = self._raw(type_id)[:2]
            if kind not in skip:
                return type_id
            if size_or_type >= self.count:
                self._out_of_range(size_or_type, "type #%d: referenced " % type_id)
            type_id = size_or_type
        self._fail("resolve type #%d: reference chain longer than %d hops (cycle?)"
                   % (start, MAX_RESOLVE_DEPTH))

    def sizeof(self, type_id):
        """Size in bytes of ``type_id`` (ints, pointers (8), arrays,
        structs, unions, enums, datasecs, floats, through typedefs and
        qualifiers and vars). Raises BTFError for void, func, func_proto,
        fwd and decl_tag, ids out of range, and reference chains longer
        than 32 hops (a cycle). Cost: a few record reads, no decoding."""
        start = type_id
        multiplier = 1
        for _hop in range(MAX_RESOLVE_DEPTH + 1):
            if type_id == 0:
                self._fail("sizeof type #%d: reaches void, which has no size" % start)
            kind, size_or_type, btf, off = self._raw(type_id)
            if kind in _SIZED_KINDS:
                return multiplier * size_or_type
            if kind == BTF_KIND_PTR:
                return multiplier * POINTER_SIZE
            if kind in _SIZE_FOLLOW_KINDS:
                next_id = size_or_type
            elif kind == BTF_KIND_ARRAY:
                next_id, _index, nelems = btf._layout.BTF_ARRAY.unpack_from(
                    btf._mv, off + BTF_TYPE_SIZE)
                multiplier *= nelems
            else:
                self._fail("sizeof type #%d: %s #%d has no size"
                           % (start, kind_name(kind), type_id))
            if next_id >= self.count:
                self._out_of_range(next_id, "type #%d: referenced " % type_id)
            type_id = next_id
        self._fail("sizeof type #%d: reference chain longer than %d hops (cycle?)"
                   % (start, MAX_RESOLVE_DEPTH))

    def __repr__(self):
        return "<BTF '%s': %s types%s>" % (
            self.name, getattr(self, "count", "?"),
            ", base '%s'" % self._base.name if self._base is not None else "")
