# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patches that make object BTF acceptable to BPF_BTF_LOAD.

clang writes each DATASEC (.data, .bss, .rodata, .maps, ...) with size 0
and, in older releases, every variable at offset 0: the final layout is
only known from the ELF section headers and symbols. The kernel refuses
such BTF (a DATASEC needs its real size and variables at increasing,
in-bounds offsets), so the loader fills them in from the ELF before
loading. Everything here works on a copy; the BTF object is not changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_FUNC_GLOBAL, BTF_HEADER_LAYOUT_SIZE, BTF_HEADER_SIZE, BTF_INT_SIGNED, BTF_KIND_DATASEC, BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO, BTF_KIND_INT, BTF_KIND_VAR, BTF_TYPE_SIZE, BTF_VAR_GLOBAL_ALLOCATED, BTF_VAR_GLOBAL_EXTERN,
    LAYOUTS, byte_order_of, make_info,
)

# The variable that stands in for kfuncs in the .ksyms DATASEC (libbpf's name).
DUMMY_KSYM = "dummy_ksym"


def fix_datasecs(btf, section_sizes, symbol_offsets):
    """A patched copy of ``btf.raw_bytes()`` as a bytearray.

    ``section_sizes``: {section name: size in bytes}; each DATASEC named
    there gets that size. ``symbol_offsets``: {(section name, variable
    name): offset}; each matching var_secinfo gets that offset. A DATASEC
    touched by either is rewritten with its var_secinfos sorted by offset
    (the kernel wants them increasing); others (e.g. ``.kconfig``,
    ``.ksyms`` when the caller has no rule for them) are left as they are.

    Raises BTFError when a DATASEC given a size has a variable that does
    not fit in it, or on malformed BTF. Cost: one copy of the blob and a
    kind read per type; nothing is decoded into objects.
    """
    layout = LAYOUTS[btf.byte_order]
    secinfo = layout.BTF_VAR_SECINFO
    u32 = layout.U32
    out = bytearray(btf.raw_bytes())
    for type_id in btf.iter_ids(include_base=False):
        if btf.kind_of(type_id) != BTF_KIND_DATASEC:
            continue
        sec_name = btf.name_of(type_id)
        off = btf.type_offset(type_id)
        _name_off, info, size = layout.BTF_TYPE.unpack_from(out, off)
        vlen = info & 0xffff
        body = off + BTF_TYPE_SIZE
        changed = False
        new_size = section_sizes.get(sec_name)
        if new_size is not None:
            if new_size < 0 or new_size > 0xffffffff:
                raise BTFError("DATASEC '%s': section size %d out of u32 range"
                               % (sec_name, new_size))
            size = new_size
            u32.pack_into(out, off + 8, size)
            changed = True
        entries = []
        for i in range(vlen):
            v_type, v_off, v_size = secinfo.unpack_from(out, body + i * secinfo.size)
            var_name = btf.name_of(v_type)
            sym_off = symbol_offsets.get((sec_name, var_name))
            if sym_off is not None:
                if sym_off < 0 or sym_off > 0xffffffff:
                    raise BTFError("DATASEC '%s': var '%s': offset %d out of u32 range"
                                   % (sec_name, var_name, sym_off))
                v_off = sym_off
                changed = True
            entries.append((v_off, i, v_type, v_size, var_name))
        if not changed:
            continue
        # Sorting on (offset, original index) keeps equal offsets stable.
        entries.sort()
        pos = body
        for v_off, _i, v_type, v_size, var_name in entries:
            if new_size is not None and v_off + v_size > size:
                raise BTFError("DATASEC '%s': var '%s': offset %d + size %d beyond "
                               "section size %d" % (sec_name, var_name, v_off, v_size, size))
            secinfo.pack_into(out, pos, v_type, v_off, v_size)
            pos += secinfo.size
    return out


def allocate_externs(raw, btf, datasec_name):
    """Mark the extern VARs of DATASEC ``datasec_name`` as allocated globals,
    in ``raw`` (a bytearray from fix_datasecs), in place.

    The kernel refuses BTF_VAR_GLOBAL_EXTERN ("Linkage not supported");
    once the loader backs ``.kconfig`` externs with a map they are plain
    globals of that map, which is what the kernel needs to see."""
    layout = LAYOUTS[btf.byte_order]
    for type_id in btf.iter_ids(include_base=False):
        if btf.kind_of(type_id) != BTF_KIND_DATASEC or btf.name_of(type_id) != datasec_name:
            continue
        for v in btf.type_by_id(type_id).vars:
            if btf.kind_of(v.type) != BTF_KIND_VAR:
                continue
            pos = btf.type_offset(v.type) + BTF_TYPE_SIZE
            if layout.U32.unpack_from(raw, pos)[0] == BTF_VAR_GLOBAL_EXTERN:
                layout.U32.pack_into(raw, pos, BTF_VAR_GLOBAL_ALLOCATED)


def allocate_ksyms(raw, btf, datasec_name):
    """Rewrite DATASEC ``datasec_name`` (``.ksyms``) of ``raw`` (a bytearray
    from fix_datasecs) in place into what BPF_BTF_LOAD accepts, as libbpf
    does: every extern VAR becomes an allocated 4-byte int, every extern
    FUNC (a kfunc) a global FUNC whose unnamed parameters get a name, and
    its DATASEC entry points at a stand-in int variable; entries sit at
    offsets 0, 4, 8, ... of a section 4 bytes per entry.

    Returns (types, strings): what must be appended to the blob once its
    header is final (append_types()); both empty when nothing is needed.
    The stand-in's ids are ``btf.count`` onwards. Raises BTFError on
    malformed BTF."""
    layout = LAYOUTS[btf.byte_order]
    int_id = _find_int32(btf)
    extra_types = bytearray()
    next_id = btf.count
    if int_id is None:
        int_id = next_id
        next_id += 1
        # Named 'int'; the name offset is fixed up in the appended strings.
        extra_types += layout.BTF_TYPE.pack(0, make_info(BTF_KIND_INT), 4) + layout.BTF_INT.pack(
            (BTF_INT_SIGNED << 24) | 32)
    dummy_id = None
    used_int = False
    str_len = layout.BTF_HEADER.unpack_from(raw, 0)[7]
    dummy_name_off = str_len
    for type_id in btf.iter_ids(include_base=False):
        if btf.kind_of(type_id) != BTF_KIND_DATASEC or btf.name_of(type_id) != datasec_name:
            continue
        off = btf.type_offset(type_id)
        entries = btf.type_by_id(type_id).vars
        body = off + BTF_TYPE_SIZE
        for i in range(len(entries)):
            pos = body + i * layout.BTF_VAR_SECINFO.size
            v_type = layout.BTF_VAR_SECINFO.unpack_from(raw, pos)[0]
            t_off = btf.type_offset(v_type)
            if btf.kind_of(v_type) == BTF_KIND_FUNC:
                if dummy_id is None:
                    dummy_id = next_id
                    next_id += 1
                    used_int = True
                _name_off, info, proto = layout.BTF_TYPE.unpack_from(raw, t_off)
                if not proto or btf.kind_of(proto) != BTF_KIND_FUNC_PROTO:
                    raise BTFError("DATASEC '%s': FUNC '%s' (type #%d) has no FUNC_PROTO" % (
                        datasec_name, btf.name_of(v_type), v_type))
                layout.U32.pack_into(raw, t_off + 4, (info & ~0xffff) | BTF_FUNC_GLOBAL)
                p_off = btf.type_offset(proto) + BTF_TYPE_SIZE
                for j in range(len(btf.type_by_id(proto).params)):
                    ppos = p_off + j * layout.BTF_PARAM.size
                    name_off, p_type = layout.BTF_PARAM.unpack_from(raw, ppos)
                    if p_type and not name_off:
                        layout.U32.pack_into(raw, ppos, dummy_name_off)
                entry_type = dummy_id
            elif btf.kind_of(v_type) == BTF_KIND_VAR:
                used_int = True
                layout.U32.pack_into(raw, t_off + 8, int_id)
                layout.U32.pack_into(raw, t_off + BTF_TYPE_SIZE, BTF_VAR_GLOBAL_ALLOCATED)
                entry_type = v_type
            else:
                raise BTFError("DATASEC '%s': entry #%d (type #%d) is neither a VAR nor a FUNC" % (
                    datasec_name, i, v_type))
            layout.BTF_VAR_SECINFO.pack_into(raw, pos, entry_type, 4 * i, 4)
        layout.U32.pack_into(raw, off + 8, 4 * len(entries))
    added_int = int_id >= btf.count
    if added_int and not used_int:
        return bytes(), bytes()
    strings = bytearray()
    if dummy_id is not None:
        strings += DUMMY_KSYM.encode("ascii") + b"\0"
        extra_types += layout.BTF_TYPE.pack(dummy_name_off, make_info(BTF_KIND_VAR), int_id) + layout.BTF_VAR.pack(
            BTF_VAR_GLOBAL_ALLOCATED)
    if added_int:
        layout.U32.pack_into(extra_types, 0, str_len + len(strings))
        strings += b"int\0"
    return bytes(extra_types), bytes(strings)


def _find_int32(btf):
    for type_id in btf.iter_ids(include_base=False):
        if btf.kind_of(type_id) == BTF_KIND_INT:
            t = btf.type_by_id(type_id)
            if t.bits == 32 and t.offset == 0:
                return type_id
    return None


def append_types(raw, types, strings):
    """``raw`` (a BTF blob with a 24-byte header, types then strings, as
    drop_layout_section leaves it) with ``types`` appended to its types and
    ``strings`` to its strings, as a new bytearray. Raises BTFError when the
    strings do not follow the types."""
    if not types and not strings:
        return raw
    layout = LAYOUTS[byte_order_of(raw)]
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = layout.BTF_HEADER.unpack_from(raw, 0)
    if str_off != type_off + type_len:
        raise BTFError("BTF: strings at %d do not follow the types (%d + %d)" % (str_off, type_off, type_len))
    out = bytearray(layout.BTF_HEADER.pack(magic, version, flags, hdr_len, type_off, type_len + len(types),
                                           str_off + len(types), str_len + len(strings)))
    out += raw[layout.BTF_HEADER.size:hdr_len + str_off]
    out += types
    out += raw[hdr_len + str_off:hdr_len + str_off + str_len]
    out += strings
    return out


def drop_layout_section(raw):
    """``raw`` (a BTF blob as bytes or bytearray) with the 24-byte header
    every kernel knows: a 2026 header (hdr_len 32 or more, layout_off and
    layout_len after str_len) loses the bytes after str_len, the layout
    section goes and the strings follow the types. Returns ``raw``
    itself when its header is already 24 bytes.

    The layout section only tells parsers the record sizes of kinds they
    do not know; the kernel knows its own kinds and refuses a header longer
    than its own with a non-zero tail (E2BIG), so BTF for the kernel never
    needs it. The blob must have passed ``BTF.from_bytes`` (this does not
    validate again). Raises BTFError when the sections are not in the order
    types, layout, strings. Cost: one copy of the blob."""
    layout = LAYOUTS[byte_order_of(raw)]
    header = layout.BTF_HEADER.unpack_from(raw, 0)
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = header
    if hdr_len <= BTF_HEADER_SIZE:
        return raw
    layout_off = layout_len = 0
    if hdr_len >= BTF_HEADER_LAYOUT_SIZE:
        layout_off, layout_len = layout.BTF_HEADER_LAYOUT.unpack_from(raw, BTF_HEADER_SIZE)
    if layout_len and not type_off + type_len <= layout_off <= layout_off + layout_len <= str_off:
        raise BTFError("BTF: layout section [%d, %d) not between types and strings"
                       % (layout_off, layout_off + layout_len))
    types = raw[hdr_len + type_off:hdr_len + type_off + type_len]
    strings = raw[hdr_len + str_off:hdr_len + str_off + str_len]
    out = bytearray(layout.BTF_HEADER.pack(magic, version, flags, BTF_HEADER_SIZE,
                                           0, type_len, type_len, str_len))
    out += types
    out += strings
    return out
