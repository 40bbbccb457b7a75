# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encode plain values (as YAML gives them) into the bytes of a BTF type.

ints, bools, enums (number or enumerator name), floats, char arrays (str),
arrays (list), structs and unions (dict by member name, bitfields
included). Every rejection names the path of the value, e.g.
``constant 'cfg': member 'port': 70000 does not fit u16``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError

_ORDER = sys.byteorder


def encode(btf, type_id, value, what):
    """The bytes of ``value`` as BTF type ``type_id``; exactly sizeof(type)
    long. Raises SpecError naming ``what`` and the reason."""
    out = bytearray(btf.sizeof(type_id))
    _encode_into(btf, type_id, value, out, 0, what)
    return bytes(out)


def _int_value(value, what):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise SpecError("%s: %r is not an integer" % (what, value))


def _encode_into(btf, type_id, value, out, pos, what):
    t = btf.type_by_id(btf.resolve(type_id))
    kind = t.kind
    if kind == layout.BTF_KIND_INT:
        _put_int(out, pos, t.size, bool(t.encoding & layout.BTF_INT_SIGNED), _int_value(value, what), what,
                 t.name)
    elif kind in (layout.BTF_KIND_ENUM, layout.BTF_KIND_ENUM64):
        number = None
        if isinstance(value, str):
            for ev in t.values:
                if ev.name == value:
                    number = ev.value
            if number is None and not value.lstrip("-").isdigit():
                raise SpecError("%s: '%s' is not a value of enum %s (have: %s)" % (
                    what, value, t.name or "(anon)", ", ".join(ev.name for ev in t.values)))
        if number is None:
            number = _int_value(value, what)
        _put_int(out, pos, t.size, t.signed or number < 0, number, what, "enum " + (t.name or "(anon)"))
    elif kind == layout.BTF_KIND_FLOAT:
        fmt = {4: "f", 8: "d"}.get(t.size)
        if fmt is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError("%s: %r cannot be stored as a %d-byte float" % (what, value, t.size))
        struct.pack_into("=" + fmt, out, pos, value)
    elif kind == layout.BTF_KIND_ARRAY:
        _encode_array(btf, t, value, out, pos, what)
    elif kind in (layout.BTF_KIND_STRUCT, layout.BTF_KIND_UNION):
        _encode_composite(btf, t, value, out, pos, what)
    else:
        raise SpecError("%s: cannot set a value of kind %s" % (what, layout.KIND_NAMES.get(kind, kind)))


def _put_int(out, pos, size, signed, number, what, type_name):
    try:
        out[pos:pos + size] = number.to_bytes(size, _ORDER, signed=signed)
    except OverflowError:
        raise SpecError("%s: %d does not fit %s (%d-byte %s)" % (
            what, number, type_name, size, "signed" if signed else "unsigned"))


def _encode_array(btf, t, value, out, pos, what):
    elem = btf.type_by_id(btf.resolve(t.elem_type))
    elem_size = btf.sizeof(t.elem_type)
    if isinstance(value, str):
        if not (elem.kind == layout.BTF_KIND_INT and elem_size == 1):
            raise SpecError("%s: a string needs a char array, not an array of %s" % (what, elem.name or "(anon)"))
        data = value.encode("utf-8")
        if len(data) >= t.nelems:
            raise SpecError("%s: string of %d bytes does not fit char[%d] with its terminating NUL" % (
                what, len(data), t.nelems))
        out[pos:pos + len(data)] = data
        return
    if not isinstance(value, (list, tuple)):
        raise SpecError("%s: want a list of %d elements, got %r" % (what, t.nelems, value))
    if len(value) > t.nelems:
        raise SpecError("%s: %d elements do not fit an array of %d" % (what, len(value), t.nelems))
    for i, item in enumerate(value):
        _encode_into(btf, t.elem_type, item, out, pos + i * elem_size, "%s[%d]" % (what, i))


def _encode_composite(btf, t, value, out, pos, what):
    if not isinstance(value, dict):
        raise SpecError("%s: want a mapping of member names, got %r" % (what, value))
    members = dict((m.name, m) for m in t.members if m.name)
    for name, item in value.items():
        member = members.get(name)
        if member is None:
            raise SpecError("%s: %s has no member '%s' (have: %s)" % (
                what, t.name or "(anon)", name, ", ".join(members)))
        sub = "%s: member '%s'" % (what, name)
        if member.bitfield_size:
            _put_bitfield(btf, member, _int_value(item, sub), out, pos, sub)
        else:
            _encode_into(btf, member.type, item, out, pos + member.bit_offset // 8, sub)


def _put_bitfield(btf, member, number, out, pos, what):
    bits = member.bitfield_size
    mtype = btf.type_by_id(btf.resolve(member.type))
    signed = mtype.kind == layout.BTF_KIND_INT and bool(mtype.encoding & layout.BTF_INT_SIGNED)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= number <= hi:
        raise SpecError("%s: %d does not fit a %d-bit %s bitfield" % (
            what, number, bits, "signed" if signed else "unsigned"))
    if _ORDER != "little":
        raise SpecError("%s: bitfields are supported on little-endian hosts only" % what)
    start = pos + member.bit_offset // 8
    shift = member.bit_offset % 8
    nbytes = (shift + bits + 7) // 8
    word = int.from_bytes(out[start:start + nbytes], "little")
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((number & ((1 << bits) - 1)) << shift)
    out[start:start + nbytes] = word.to_bytes(nbytes, "little")
