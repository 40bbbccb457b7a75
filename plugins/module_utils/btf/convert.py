# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Convert the bytes of one BTF type into another's, member by member by
name: how a live map's entries follow a new version whose key or value type
changed.

Both types are flattened into fields (every integer, enum, float, pointer,
array and opaque part, by its path from the top, ``hdr.flags``). A field of
the new type whose path the old type has is copied when the two are
compatible: integers and enums of any width and signedness (a value that does
not fit the new field is refused, naming the member), enumerators by name,
floats, pointers, arrays element by element (a longer old array must hold
zeros where the new one ends), other parts when they are the same. A new
field is zero or takes the caller's default; an old field the new type lacks
is dropped (``removed`` names them). A field that changed kind (an integer
that became a struct, an array that became an integer) cannot be converted:
``problems`` says so, and so does a key member removed (two keys could
become one). ``differences`` says what differs in one line per part:
``size 8 → 16; + hits (u64 at 8)``.

Cost: building a Conversion walks both types once; converting one entry is a
loop over the fields with int.from_bytes/to_bytes, about a microsecond per
field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import signature, type_title
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.encode import encode
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_KIND_ARRAY, BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_INT, BTF_KIND_PTR, BTF_KIND_STRUCT,
    BTF_KIND_UNION, BTF_INT_BOOL, BTF_INT_SIGNED)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError

_ORDER = sys.byteorder
_MAX_DEPTH = 32
_NUMBERS = ("int", "enum")


class ConversionError(ValueError):
    """An entry's member does not fit the new type: ``member`` is its path,
    ``reason`` what is wrong (``70000 does not fit u16``)."""

    def __init__(self, member, reason):
        super().__init__("member '%s': %s" % (member, reason))
        self.member = member
        self.reason = reason


class Field:
    """One part of a flattened type: ``path``, ``bit_offset`` from the top,
    ``bits`` (a bitfield's width, else 0), ``size`` in bytes, ``kind`` (int,
    enum, float, pointer, array, opaque), ``signed``, ``title`` (how C writes
    its type), ``sig`` (what its bytes mean, as compare.signature says),
    ``type_id``; enums: ``names`` {value: name} and ``values`` {name: value};
    arrays: ``elem`` (a Field at offset 0) and ``nelems``."""

    __slots__ = ("path", "bit_offset", "bits", "size", "kind", "signed", "title", "sig", "type_id", "names",
                 "values", "elem", "nelems", "is_bool")

    def __init__(self, btf, type_id, path, bit_offset, bits=0):
        t = btf.type_by_id(btf.resolve(type_id))
        self.path, self.bit_offset, self.bits, self.type_id = path, bit_offset, bits, type_id
        self.size = btf.sizeof(type_id)
        self.signed, self.is_bool, self.names, self.values, self.elem, self.nelems = False, False, None, None, None, 0
        self.title = type_title(btf, type_id) + (":%d" % bits if bits else "")
        self.sig = signature(btf, type_id) + (":%d" % bits if bits else "")
        if t.kind == BTF_KIND_INT and t.bits in (0, t.size * 8) and not t.offset:
            self.kind = "int"
            self.signed = bool(t.encoding & BTF_INT_SIGNED)
            self.is_bool = bool(t.encoding & BTF_INT_BOOL)
        elif t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
            self.kind = "enum"
            self.signed = bool(t.signed)
            self.names = dict((v.value, v.name) for v in t.values)
            self.values = dict((v.name, v.value) for v in t.values)
        elif t.kind == BTF_KIND_FLOAT and t.size in (4, 8):
            self.kind = "float"
        elif t.kind == BTF_KIND_PTR:
            self.kind = "pointer"
        elif t.kind == BTF_KIND_ARRAY and t.nelems and btf.kind_of(btf.resolve(t.elem_type)) not in (
                BTF_KIND_STRUCT, BTF_KIND_UNION):
            self.kind = "array"
            self.elem = Field(btf, t.elem_type, path + "[]", 0)
            self.nelems = t.nelems
        else:
            self.kind = "opaque"

    @property
    def where(self):
        off = self.bit_offset
        return str(off // 8) if off % 8 == 0 and not self.bits else "bit %d" % off

    def describe(self):
        return "%s at %s" % (self.title, self.where)

    def limits(self):
        """The smallest and largest integer the field holds."""
        if self.is_bool:
            return 0, 1
        width = self.bits or self.size * 8
        return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if self.signed else (0, (1 << width) - 1)

    def read_int(self, data, base):
        if self.bits:
            start, shift = base + self.bit_offset // 8, self.bit_offset % 8
            nbytes = (shift + self.bits + 7) // 8
            word = (int.from_bytes(data[start:start + nbytes], "little") >> shift) & ((1 << self.bits) - 1)
            if self.signed and word >> (self.bits - 1):
                word -= 1 << self.bits
            return word
        start = base + self.bit_offset // 8
        return int.from_bytes(data[start:start + self.size], _ORDER, signed=self.signed)

    def write_int(self, out, base, number):
        if self.bits:
            start, shift = base + self.bit_offset // 8, self.bit_offset % 8
            nbytes = (shift + self.bits + 7) // 8
            word = int.from_bytes(out[start:start + nbytes], "little")
            mask = ((1 << self.bits) - 1) << shift
            word = (word & ~mask) | ((number & ((1 << self.bits) - 1)) << shift)
            out[start:start + nbytes] = word.to_bytes(nbytes, "little")
            return
        start = base + self.bit_offset // 8
        out[start:start + self.size] = number.to_bytes(self.size, _ORDER, signed=self.signed)


def fields(btf, type_id):
    """The type's Fields in offset order (structs flattened, unions and
    arrays of structs kept whole as opaque fields)."""
    out = []
    _flatten(btf, type_id, "", 0, out, 0)
    return out


def _flatten(btf, type_id, path, bit_offset, out, depth):
    t = btf.type_by_id(btf.resolve(type_id))
    if t.kind != BTF_KIND_STRUCT or not t.members or depth > _MAX_DEPTH:
        out.append(Field(btf, type_id, path, bit_offset))
        return
    for i, m in enumerate(t.members):
        sub = m.name or "(anon #%d)" % i
        sub = "%s.%s" % (path, sub) if path else sub
        if m.bitfield_size:
            out.append(Field(btf, m.type, sub, bit_offset + m.bit_offset, m.bitfield_size))
        elif not m.name and btf.kind_of(btf.resolve(m.type)) == BTF_KIND_STRUCT:
            _flatten(btf, m.type, path, bit_offset + m.bit_offset, out, depth + 1)
        else:
            _flatten(btf, m.type, sub, bit_offset + m.bit_offset, out, depth + 1)


def leaf_paths(btf, type_id):
    """The paths a default may name (every field of the type)."""
    return [f.path for f in fields(btf, type_id)]


def encode_defaults(btf, type_id, defaults, what):
    """{path: (Field, bytes or int)} of ``defaults`` ({member path: plain
    value}) for BTF type ``type_id``: bytes for whole fields, an int for
    bitfields. Raises SpecError naming ``what`` and the member for a path
    the type has not or a value that does not fit."""
    if not isinstance(defaults, dict):
        raise SpecError("%s: want a mapping of member names to values, got %r" % (what, defaults))
    by_path = dict((f.path, f) for f in fields(btf, type_id))
    out = {}
    for path in sorted(defaults):
        f = by_path.get(path)
        if f is None or not path:
            raise SpecError("%s: %s has no member '%s' (its members: %s)" % (
                what, type_title(btf, type_id), path, ", ".join(p for p in by_path if p) or "none"))
        sub = "%s: member '%s'" % (what, path)
        if f.bits:
            number = defaults[path]
            if isinstance(number, bool) or not isinstance(number, int):
                raise SpecError("%s: %r is not an integer" % (sub, number))
            lo, hi = f.limits()
            if not lo <= number <= hi:
                raise SpecError("%s: %d does not fit %s" % (sub, number, f.title))
            out[path] = (f, number)
        else:
            out[path] = (f, encode(btf, f.type_id, defaults[path], sub))
    return out


class Conversion:
    """How bytes of the old type become bytes of the new one (see the
    module's docstring). ``differences`` lists what differs, ``problems``
    why it cannot be converted ([] when it can), ``removed`` the old
    fields dropped, ``added`` the new fields set to zero or a default."""

    def __init__(self, old_size, new_size):
        self.old_size = old_size
        self.new_size = new_size
        self.differences = []
        self.problems = []
        self.removed = []
        self.added = []
        self._steps = []
        self._fill = bytes(new_size)

    def convert(self, data):
        """The new type's bytes for ``data`` (the old type's). Raises
        ConversionError naming the member that does not fit."""
        out = bytearray(self._fill)
        for step in self._steps:
            step(data, out)
        return bytes(out)


def plan_conversion(old_btf, old_id, new_btf, new_id, part, defaults=None):
    """The Conversion of ``part`` ('key' or 'value') from old_btf's type
    ``old_id`` to new_btf's ``new_id``; ``defaults`` as encode_defaults
    returns them (values only). Pure: never raises for a difference, it
    lists it in ``problems``."""
    old_fields, new_fields = fields(old_btf, old_id), fields(new_btf, new_id)
    conv = Conversion(old_btf.sizeof(old_id), new_btf.sizeof(new_id))
    if conv.old_size != conv.new_size:
        conv.differences.append("size %d \u2192 %d" % (conv.old_size, conv.new_size))
    old = dict((f.path, f) for f in old_fields)
    new_paths = set(f.path for f in new_fields)
    fill = bytearray(conv.new_size)
    clashed = set()
    for nf in new_fields:
        of = old.get(nf.path)
        if of is None:
            clash = _changed_shape(nf.path, old)
            if clash is not None:
                top = min(clash.path, nf.path, key=len)
                if top not in clashed:
                    clashed.add(top)
                    conv.differences.append("%s: %s \u2192 %s" % (
                        top, _shape_at(top, old_fields), _shape_at(top, new_fields)))
                    conv.problems.append("%s member '%s' changed kind (%s \u2192 %s)" % (
                        part, top, _shape_at(top, old_fields, False), _shape_at(top, new_fields, False)))
                continue
            conv.differences.append("+ %s (%s)" % (nf.path or "(whole)", nf.describe()))
            conv.added.append(nf)
            if defaults and nf.path in defaults:
                _put_default(fill, nf, defaults[nf.path])
            continue
        if of.bit_offset != nf.bit_offset or of.sig != nf.sig:
            conv.differences.append("%s: %s \u2192 %s" % (nf.path or "(whole)", of.describe(), nf.describe()))
        step, problem = _copier(of, nf)
        if problem:
            conv.problems.append("%s member '%s' %s" % (part, nf.path or "(whole)", problem))
        else:
            conv._steps.append(_at_top(step))
    for of in old_fields:
        if of.path in new_paths or any(of.path == top or of.path.startswith(top + ".") for top in clashed):
            continue
        conv.differences.append("- %s (%s)" % (of.path or "(whole)", of.describe()))
        conv.removed.append(of)
        if part == "key":
            conv.problems.append("key member '%s' removed (two keys could become one)" % of.path)
    conv._fill = bytes(fill)
    return conv


def _shape_at(path, flds, where=True):
    """How one side writes the part at ``path``: its field, or the fields
    under it as ``{u16 lo, u16 hi}``."""
    for f in flds:
        if f.path == path:
            return f.describe() if where else f.title
    inner = [f for f in flds if f.path.startswith(path + ".")]
    text = "{%s}" % ", ".join("%s %s" % (f.title, f.path[len(path) + 1:]) for f in inner)
    return "%s at %s" % (text, inner[0].where) if where else text


def _changed_shape(path, others):
    """The field of ``others`` ({path: Field}) whose path is a prefix of
    ``path`` or has it as prefix (one side a struct, the other not)."""
    for other_path, f in others.items():
        if path.startswith(other_path + ".") or other_path.startswith(path + "."):
            return f
    return None


def _put_default(out, nf, value):
    if nf.bits:
        nf.write_int(out, 0, value)
    else:
        start = nf.bit_offset // 8
        out[start:start + nf.size] = value


def _at_top(step):
    return lambda data, out: step(data, 0, out, 0)


def _copier(of, nf):
    """(step(data, data_base, out, out_base), None) copying old field ``of``
    into new field ``nf``, or (None, why not)."""
    if of.kind in _NUMBERS and nf.kind in _NUMBERS:
        return _number_copier(of, nf), None
    if of.kind != nf.kind:
        return None, "changed kind (%s \u2192 %s)" % (of.title, nf.title)
    if of.kind == "float":
        return _float_copier(of, nf), None
    if of.kind == "array":
        elem, problem = _copier(of.elem, nf.elem)
        if problem:
            return None, "elements: %s" % problem
        return _array_copier(of, nf, elem), None
    if of.sig != nf.sig:
        return None, "changed (%s \u2192 %s)" % (of.sig, nf.sig)
    return _bytes_copier(of, nf), None


def _number_copier(of, nf):
    lo, hi = nf.limits()
    by_name = of.kind == "enum" and nf.kind == "enum"

    def step(data, dbase, out, obase):
        number = of.read_int(data, dbase)
        if by_name:
            name = of.names.get(number)
            if name is not None and name in nf.values:
                number = nf.values[name]
        if not lo <= number <= hi:
            name = of.names.get(number) if of.names else None
            raise ConversionError(nf.path, "%d%s does not fit %s" % (
                number, " (%s)" % name if name else "", nf.title))
        nf.write_int(out, obase, number)
    return step


def _float_copier(of, nf):
    old_fmt, new_fmt = "=" + {4: "f", 8: "d"}[of.size], "=" + {4: "f", 8: "d"}[nf.size]

    def step(data, dbase, out, obase):
        value = struct.unpack_from(old_fmt, data, dbase + of.bit_offset // 8)[0]
        try:
            struct.pack_into(new_fmt, out, obase + nf.bit_offset // 8, value)
        except OverflowError as e:
            raise ConversionError(nf.path, "%r does not fit %s" % (value, nf.title)) from e
    return step


def _bytes_copier(of, nf):
    def step(data, dbase, out, obase):
        src, dst = dbase + of.bit_offset // 8, obase + nf.bit_offset // 8
        out[dst:dst + nf.size] = data[src:src + of.size]
    return step


def _array_copier(of, nf, elem):
    osize, nsize = of.elem.size, nf.elem.size
    common = min(of.nelems, nf.nelems)

    def step(data, dbase, out, obase):
        src, dst = dbase + of.bit_offset // 8, obase + nf.bit_offset // 8
        for i in range(common):
            try:
                elem(data, src + i * osize, out, dst + i * nsize)
            except ConversionError as e:
                raise ConversionError("%s[%d]" % (nf.path, i), e.reason) from e
        for i in range(common, of.nelems):
            if any(data[src + i * osize:src + (i + 1) * osize]):
                raise ConversionError(nf.path, "element %d is not zero and the new array has %d" % (i, nf.nelems))
    return step
