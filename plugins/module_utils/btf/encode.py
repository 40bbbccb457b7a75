# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain values (as YAML gives them) to and from the bytes of a BTF type.

ints, bools, enums (number or enumerator name), floats, char arrays (str),
arrays (list), structs and unions (dict by member name, bitfields
included). ``formats`` maps a member path ('' for the whole value,
'addr', 'hdr.port') to a textual form where an integer is unnatural:
``ipv4``, ``ipv6`` and ``mac`` (addresses, network byte order), ``be16``,
``be32``, ``be64`` (network-order integers) and ``cidr`` (an LPM trie key:
'10.0.0.0/8' into {prefixlen, address}). Every rejection names the path
of the value, e.g. ``constant 'cfg': member 'port': 70000 does not fit u16``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError

_ORDER = sys.byteorder


FORMATS = ("ipv4", "ipv6", "mac", "be16", "be32", "be64", "cidr")


def encode(btf, type_id, value, what, formats=None):
    """The bytes of ``value`` as BTF type ``type_id``; exactly sizeof(type)
    long. Raises SpecError naming ``what`` and the reason."""
    out = bytearray(btf.sizeof(type_id))
    _encode_into(btf, type_id, value, out, 0, what, formats or {}, "")
    return bytes(out)


def _format_bytes(fmt, value, size, what):
    """The bytes of ``value`` written in form ``fmt`` into ``size`` bytes."""
    text = str(value)
    try:
        if fmt == "ipv4":
            data = socket.inet_pton(socket.AF_INET, text)
        elif fmt == "ipv6":
            data = socket.inet_pton(socket.AF_INET6, text)
        elif fmt == "mac":
            parts = text.replace("-", ":").split(":")
            if len(parts) != 6:
                raise ValueError
            data = bytes(int(p, 16) for p in parts)
        elif fmt in ("be16", "be32", "be64"):
            width = int(fmt[2:]) // 8
            data = _int_value(value, what).to_bytes(width, "big")
        else:
            raise SpecError("%s: unknown format '%s' (want one of %s)" % (what, fmt, ", ".join(FORMATS)))
    except (OSError, ValueError, OverflowError) as e:
        raise SpecError("%s: %r is not a valid %s value" % (what, value, fmt)) from e
    if len(data) != size:
        raise SpecError("%s: a %s value is %d bytes but the field has %d" % (what, fmt, len(data), size))
    return data


def _encode_cidr(btf, t, value, out, pos, what):
    # An LPM trie key: a u32 prefix length, then the address bytes.
    members = getattr(t, "members", None)
    if t.kind != layout.BTF_KIND_STRUCT or len(members) < 2 or btf.sizeof(members[0].type) != 4:
        raise SpecError("%s: format cidr needs a struct key {u32 prefixlen; address}" % what)
    text = str(value)
    addr, sep, plen = text.partition("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        data = socket.inet_pton(family, addr)
        prefixlen = int(plen) if sep else len(data) * 8
    except (OSError, ValueError) as e:
        raise SpecError("%s: %r is not an address/prefix" % (what, value)) from e
    room = btf.sizeof(t.id) - members[1].bit_offset // 8
    if not 0 <= prefixlen <= len(data) * 8 or len(data) > room:
        raise SpecError("%s: %r does not fit this key (%d address bytes)" % (what, value, room))
    _put_int(out, pos, 4, False, prefixlen, what, "prefixlen")
    start = pos + members[1].bit_offset // 8
    out[start:start + len(data)] = data


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


def _encode_into(btf, type_id, value, out, pos, what, formats, path):
    t = btf.type_by_id(btf.resolve(type_id))
    kind = t.kind
    fmt = formats.get(path)
    if fmt == "cidr":
        _encode_cidr(btf, t, value, out, pos, what)
    elif fmt is not None:
        size = btf.sizeof(type_id)
        out[pos:pos + size] = _format_bytes(fmt, value, size, what)
    elif kind == layout.BTF_KIND_INT:
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
        _encode_array(btf, t, value, out, pos, what, formats, path)
    elif kind in (layout.BTF_KIND_STRUCT, layout.BTF_KIND_UNION):
        _encode_composite(btf, t, value, out, pos, what, formats, path)
    else:
        raise SpecError("%s: cannot set a value of kind %s" % (what, layout.KIND_NAMES.get(kind, kind)))


def _put_int(out, pos, size, signed, number, what, type_name):
    try:
        out[pos:pos + size] = number.to_bytes(size, _ORDER, signed=signed)
    except OverflowError as e:
        raise SpecError("%s: %d does not fit %s (%d-byte %s)" % (
            what, number, type_name, size, "signed" if signed else "unsigned")) from e


def _encode_array(btf, t, value, out, pos, what, formats, path):
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
        _encode_into(btf, t.elem_type, item, out, pos + i * elem_size, "%s[%d]" % (what, i), formats, path)


def _encode_composite(btf, t, value, out, pos, what, formats, path):
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
            _encode_into(btf, member.type, item, out, pos + member.bit_offset // 8, sub, formats,
                         name if not path else path + "." + name)


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


def decode(btf, type_id, data, formats=None):
    """The plain value of ``data`` as BTF type ``type_id`` (the inverse of
    encode): ints, enumerator names, dicts, lists, strings for char arrays
    that hold text, and the given ``formats``."""
    return _decode(btf, type_id, bytes(data), 0, formats or {}, "", 0)


def _decode(btf, type_id, data, pos, formats, path, depth):
    if depth > 32:
        raise SpecError("type nests too deep to decode")
    t = btf.type_by_id(btf.resolve(type_id))
    fmt = formats.get(path)
    size = btf.sizeof(type_id)
    raw = data[pos:pos + size]
    if fmt == "cidr":
        prefixlen = int.from_bytes(raw[:4], _ORDER)
        addr = raw[t.members[1].bit_offset // 8:]
        family = socket.AF_INET if len(addr) == 4 else socket.AF_INET6
        return "%s/%d" % (socket.inet_ntop(family, addr[:4] if family == socket.AF_INET else addr[:16]), prefixlen)
    if fmt in ("ipv4", "ipv6"):
        return socket.inet_ntop(socket.AF_INET if fmt == "ipv4" else socket.AF_INET6, raw)
    if fmt == "mac":
        return ":".join("%02x" % b for b in raw)
    if fmt in ("be16", "be32", "be64"):
        return int.from_bytes(raw, "big")
    kind = t.kind
    if kind == layout.BTF_KIND_INT:
        if t.encoding & layout.BTF_INT_BOOL:
            return bool(int.from_bytes(raw, _ORDER))
        return int.from_bytes(raw, _ORDER, signed=bool(t.encoding & layout.BTF_INT_SIGNED))
    if kind in (layout.BTF_KIND_ENUM, layout.BTF_KIND_ENUM64):
        number = int.from_bytes(raw, _ORDER, signed=bool(t.signed))
        for ev in t.values:
            if ev.value == number:
                return ev.name
        return number
    if kind == layout.BTF_KIND_FLOAT:
        return struct.unpack("=" + {4: "f", 8: "d"}[t.size], raw)[0]
    if kind == layout.BTF_KIND_ARRAY:
        elem = btf.type_by_id(btf.resolve(t.elem_type))
        elem_size = btf.sizeof(t.elem_type)
        if elem.kind == layout.BTF_KIND_INT and elem_size == 1 and (elem.encoding & layout.BTF_INT_CHAR or
                                                                    elem.name in ("char", "signed char")):
            text = raw.split(b"\0", 1)[0]
            try:
                decoded = text.decode("utf-8")
                if decoded.isprintable() and not any(raw[len(text):]):
                    return decoded
            except UnicodeDecodeError:
                pass
        return [_decode(btf, t.elem_type, data, pos + i * elem_size, formats, path, depth + 1)
                for i in range(t.nelems)]
    if kind in (layout.BTF_KIND_STRUCT, layout.BTF_KIND_UNION):
        out = {}
        for m in t.members:
            if not m.name:
                continue
            sub = m.name if not path else path + "." + m.name
            if m.bitfield_size:
                start = pos + m.bit_offset // 8
                shift = m.bit_offset % 8
                nbytes = (shift + m.bitfield_size + 7) // 8
                word = int.from_bytes(data[start:start + nbytes], "little")
                out[m.name] = (word >> shift) & ((1 << m.bitfield_size) - 1)
            else:
                out[m.name] = _decode(btf, m.type, data, pos + m.bit_offset // 8, formats, sub, depth + 1)
        return out
    return raw.hex()
