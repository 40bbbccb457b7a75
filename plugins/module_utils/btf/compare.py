# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare the byte layouts of two BTF types, member by member.

A map's key or value type is flattened into its leaves: every scalar,
pointer, enum and array, by its path from the top (``hdr.flags``), with
its bit offset, size and a type signature. Two types have the same layout
when they flatten to the same leaves. Typedef names and qualifiers do not
count (``__u32`` and ``u32`` are one layout); member names, offsets, sizes,
signedness, enum values and kinds do. Used before a live map is reused by a
new version: the same sizes with another layout would make the new
programs misread every entry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_KIND_ARRAY, BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_INT, BTF_KIND_PTR, BTF_KIND_STRUCT,
    BTF_KIND_UNION, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED)

# Deeper than any real key or value type; a guard against cyclic BTF.
_MAX_DEPTH = 32


def type_title(btf, type_id):
    """How a type is written in C, for messages (``struct cfg_val``, ``u32``)."""
    t = btf.type_by_id(btf.resolve(type_id))
    if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        return "%s %s" % ("struct" if t.kind == BTF_KIND_STRUCT else "union", t.name or "(anon)")
    if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
        return "enum %s" % (t.name or "(anon)")
    return _signature(btf, t, 0)


def signature(btf, type_id):
    """What a type's bytes mean, as a comparable text (``u32``,
    ``enum e (4 bytes, unsigned) {A=0}``, ``u8[16]``)."""
    return _signature(btf, btf.type_by_id(btf.resolve(type_id)), 0)


def leaves(btf, type_id):
    """[(path, bit offset, signature)] of the type's leaves, in offset order."""
    out = []
    _flatten(btf, type_id, "", 0, out, 0)
    return out


def _flatten(btf, type_id, path, bit_offset, out, depth):
    if depth > _MAX_DEPTH:
        out.append((path, bit_offset, "(nested too deep)"))
        return
    t = btf.type_by_id(btf.resolve(type_id))
    if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        for i, m in enumerate(t.members):
            name = m.name or "(anon #%d)" % i
            sub = "%s.%s" % (path, name) if path else name
            if m.bitfield_size:
                out.append((sub, bit_offset + m.bit_offset, "%s:%d" % (
                    _signature(btf, btf.type_by_id(btf.resolve(m.type)), depth + 1), m.bitfield_size)))
            elif not m.name and btf.kind_of(btf.resolve(m.type)) in (BTF_KIND_STRUCT, BTF_KIND_UNION):
                # An anonymous struct or union: its members are the parent's.
                _flatten(btf, m.type, path, bit_offset + m.bit_offset, out, depth + 1)
            else:
                _flatten(btf, m.type, sub, bit_offset + m.bit_offset, out, depth + 1)
        if not t.members:
            out.append((path, bit_offset, "%s of %d bytes" % (type_title(btf, t.id), t.size)))
        return
    out.append((path, bit_offset, _signature(btf, t, depth)))


def _signature(btf, t, depth):
    """A leaf's type, as a comparable text (what its bytes mean)."""
    if t.kind == BTF_KIND_INT:
        if t.encoding & BTF_INT_BOOL:
            base = "bool"
        elif t.encoding & BTF_INT_CHAR:
            base = "char"
        else:
            base = "%s%d" % ("s" if t.encoding & BTF_INT_SIGNED else "u", t.size * 8)
        return base if t.bits in (0, t.size * 8) and not t.offset else "%s (%d bits at %d)" % (
            base, t.bits, t.offset)
    if t.kind in (BTF_KIND_ENUM, BTF_KIND_ENUM64):
        values = ", ".join("%s=%d" % (v.name, v.value) for v in t.values)
        sign = "signed" if t.signed else "unsigned"
        return "enum %s (%d bytes, %s) {%s}" % (t.name or "(anon)", t.size, sign, values)
    if t.kind == BTF_KIND_FLOAT:
        return "float%d" % (t.size * 8)
    if t.kind == BTF_KIND_PTR:
        return "pointer"
    if t.kind == BTF_KIND_ARRAY:
        if depth > _MAX_DEPTH:
            return "array"
        elem = leaves(btf, t.elem_type) if btf.kind_of(btf.resolve(t.elem_type)) in (
            BTF_KIND_STRUCT, BTF_KIND_UNION) else None
        if elem is not None:
            inner = "{%s}" % ", ".join("%s@%d: %s" % leaf for leaf in elem)
        else:
            inner = _signature(btf, btf.type_by_id(btf.resolve(t.elem_type)), depth + 1)
        return "%s[%d]" % (inner, t.nelems)
    if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        return "{%s}" % ", ".join("%s@%d: %s" % leaf for leaf in leaves(btf, t.id))
    return t.kind_name


def _where(bit_offset):
    return str(bit_offset // 8) if bit_offset % 8 == 0 else "bit %d" % bit_offset


def layout_differences(old_btf, old_id, new_btf, new_id):
    """What differs between two types' layouts, in words ([] if nothing):
    ``action moved 0 → 4``, ``weight retyped u16 → s16``, ``hits added at
    8``, ``flags removed (was at 6)``; offsets in bytes."""
    return leaf_differences(leaves(old_btf, old_id), leaves(new_btf, new_id))


def leaf_differences(old_leaves, new_leaves):
    """layout_differences() of two types already flattened by leaves()."""
    old = dict((path, (off, sig)) for path, off, sig in old_leaves)
    new = dict((path, (off, sig)) for path, off, sig in new_leaves)
    out = []
    for path, (off, sig) in sorted(old.items(), key=lambda item: item[1][0]):
        label = path or "the whole type"
        if path not in new:
            out.append("%s removed (was at %s)" % (label, _where(off)))
            continue
        new_off, new_sig = new[path]
        if new_off != off:
            out.append("%s moved %s \u2192 %s" % (label, _where(off), _where(new_off)))
        if new_sig != sig:
            out.append("%s retyped %s \u2192 %s" % (label, sig, new_sig))
    for path, (off, sig) in sorted(new.items(), key=lambda item: item[1][0]):
        if path not in old:
            out.append("%s added at %s" % (path or "the whole type", _where(off)))
    return out
