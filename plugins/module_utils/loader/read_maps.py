# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Map definitions of an ELF object: BTF-defined (``.maps``), legacy
(``maps``, including iproute2's longer records), global data sections and
``.kconfig`` externs, each turned into a MapSpec."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import SHT_NOBITS, SHT_PROGBITS, STT_FUNC, STT_SECTION
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_kconfig import parse_externs
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.spec import MapSpec

# Fields of a BTF map definition encoded as `int (*name)[value]`.
_UINT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning",
                "map_extra")

# struct bpf_map_def (5 u32) and iproute2's struct bpf_elf_map (4 more u32).
_LEGACY_DEF = struct.Struct("=5I")
_IPROUTE2_TAIL = struct.Struct("=4I")
IPROUTE2_PIN_GLOBAL_NS = 2

DATA_PREFIXES = (".data", ".rodata", ".bss")
# Larger than any array value the kernel accepts (KMALLOC_MAX_SIZE is far
# below it); refusing early keeps a damaged header from allocating it here.
MAX_DATA_SECTION = 1 << 30


def is_data_section(name):
    return any(name == p or name.startswith(p + ".") for p in DATA_PREFIXES)


def parse_maps(spec):
    """Fill ``spec.maps``. Raises SpecError naming the map and the field."""
    _parse_btf_maps(spec)
    _parse_legacy_maps(spec)
    for m in spec.maps.values():
        if m.type == uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            # Slots hold perf event fds: the kernel takes 4-byte keys and
            # values whatever the source declares (cilium/ebpf ignores it too).
            m.key_size = m.value_size = 4
            m.btf_key_type_id = m.btf_value_type_id = 0
    _parse_data_maps(spec)
    parse_externs(spec)


def _add(spec, m):
    if m.name in spec.maps:
        raise SpecError("object '%s': map '%s' defined twice (%s and %s)" % (
            spec.name, m.name, spec.maps[m.name].section, m.section))
    spec.maps[m.name] = m


def find_datasec(btf, name):
    """The DATASEC type called ``name`` in ``btf``, or None."""
    for type_id in btf.ids_by_name(name):
        if btf.kind_of(type_id) == layout.BTF_KIND_DATASEC:
            return btf.type_by_id(type_id)
    return None


def _parse_btf_maps(spec):
    sec = spec.elf.section(".maps")
    if sec is None:
        return
    where = "object '%s': section '.maps'" % spec.name
    if spec.btf is None:
        raise SpecError("%s: BTF-defined maps need the object's BTF, but it has no .BTF section "
                        "(compile with clang -g)" % where)
    btf = spec.btf
    try:
        datasec = find_datasec(btf, ".maps")
        if datasec is None:
            raise SpecError("%s: the object's BTF has no DATASEC '.maps'" % where)
        by_offset = []
        for secinfo in datasec.vars:
            var = btf.type_by_id(secinfo.type)
            if var.kind != layout.BTF_KIND_VAR:
                raise SpecError("%s: DATASEC entry type #%d is not a VAR" % (where, secinfo.type))
            offset = spec.symbol_offsets.get((".maps", var.name))
            if offset is None:
                raise SpecError("map '%s': no ELF symbol for it in '.maps'" % var.name)
            m, values_offset = _btf_map_def(spec, var.name, var.type, outer=True)
            _check_no_initialiser(sec, m.name, offset, secinfo.size, values_offset)
            m.section = ".maps"
            m.offset = offset
            _add(spec, m)
            by_offset.append((offset, secinfo.size, m, values_offset))
    except BTFError as e:
        raise SpecError("%s: %s" % (where, e)) from e
    _parse_btf_map_inits(spec, sec, by_offset)


def _btf_map_def(spec, name, type_id, outer):
    """(MapSpec, byte offset of its 'values' slots or None)."""
    btf = spec.btf
    st = btf.type_by_id(btf.resolve(type_id))
    if st.kind != layout.BTF_KIND_STRUCT:
        raise SpecError("map '%s': definition is a %s, want a struct" % (
            name, layout.KIND_NAMES.get(st.kind, st.kind)))
    fields = {}
    key_type = value_type = None
    values = None
    for member in st.members:
        if member.name in _UINT_FIELDS:
            fields[member.name] = _uint_field(btf, name, member)
        elif member.name in ("key", "value"):
            target = _pointee(btf, name, member)
            if member.name == "key":
                key_type = target
            else:
                value_type = target
        elif member.name == "values":
            values = member
        else:
            raise SpecError("map '%s': unknown field '%s' in its definition" % (name, member.name))
    if "type" not in fields:
        raise SpecError("map '%s': definition has no 'type'" % name)
    m = MapSpec(name, fields["type"], 0, 0, fields.get("max_entries", 0), fields.get("map_flags", 0))
    m.numa_node = fields.get("numa_node", 0)
    m.map_extra = fields.get("map_extra", 0)
    m.pinning = fields.get("pinning", 0)
    if m.pinning not in (uapi.LIBBPF_PIN_NONE, uapi.LIBBPF_PIN_BY_NAME):
        raise SpecError("map '%s': pinning %d, want 0 (none) or 1 (by name)" % (name, m.pinning))
    m.key_size = _sized(btf, name, "key", key_type, fields.get("key_size"))
    m.value_size = _sized(btf, name, "value", value_type, fields.get("value_size"))
    if key_type is not None:
        m.btf_key_type_id = key_type
    if value_type is not None:
        m.btf_value_type_id = value_type

    if values is None:
        return m, None
    _values_template(spec, m, values, outer)
    return m, values.bit_offset // 8


def _check_no_initialiser(sec, name, offset, size, values_offset):
    # A definition carries its settings in BTF; bytes in the section can
    # only come from an initialiser, which the kernel would never see.
    end = offset + size if values_offset is None else offset + values_offset
    data = bytes(sec.data[offset:end]) if sec.data else b""
    for i, byte in enumerate(data):
        if byte:
            raise SpecError("map '%s': definition has an initialiser at byte %d; only 'values' of prog arrays "
                            "and map-in-maps can be initialised" % (name, i))


def _uint_field(btf, name, member):
    ptr = btf.type_by_id(btf.resolve(member.type))
    if ptr.kind != layout.BTF_KIND_PTR:
        raise SpecError("map '%s': field '%s' is not declared with __uint()" % (name, member.name))
    arr = btf.type_by_id(btf.resolve(ptr.target))
    if arr.kind != layout.BTF_KIND_ARRAY:
        raise SpecError("map '%s': field '%s' is not declared with __uint()" % (name, member.name))
    return arr.nelems


def _pointee(btf, name, member):
    ptr = btf.type_by_id(btf.resolve(member.type))
    if ptr.kind != layout.BTF_KIND_PTR:
        raise SpecError("map '%s': field '%s' is not declared with __type()" % (name, member.name))
    return ptr.target


def _sized(btf, name, what, type_id, size):
    if type_id is None:
        return size or 0
    tsize = btf.sizeof(type_id)
    if size is not None and size != tsize:
        raise SpecError("map '%s': %s type is %d bytes but %s_size says %d" % (name, what, tsize, what, size))
    return tsize


def _values_template(spec, m, member, outer):
    btf = spec.btf
    if not outer:
        raise SpecError("map '%s': an inner map definition cannot have 'values'" % m.name)
    arr = btf.type_by_id(btf.resolve(member.type))
    if arr.kind != layout.BTF_KIND_ARRAY:
        raise SpecError("map '%s': field 'values' is not declared with __array()" % m.name)
    if arr.nelems != 0:
        raise SpecError("map '%s': field 'values' must be a zero-length array, has %d elements" % (
            m.name, arr.nelems))
    ptr = btf.type_by_id(btf.resolve(arr.elem_type))
    if ptr.kind != layout.BTF_KIND_PTR:
        raise SpecError("map '%s': 'values' elements must be pointers" % m.name)
    target = btf.type_by_id(btf.resolve(ptr.target))
    if uapi.is_map_in_map(m.type):
        if target.kind != layout.BTF_KIND_STRUCT:
            raise SpecError("map '%s': 'values' of a map-in-map must point to a map definition" % m.name)
        m.inner = _btf_map_def(spec, m.name + ".inner", ptr.target, outer=False)[0]
    elif m.type == uapi.BPF_MAP_TYPE_PROG_ARRAY:
        if target.kind != layout.BTF_KIND_FUNC_PROTO:
            raise SpecError("map '%s': 'values' of a prog array must be function pointers" % m.name)
    else:
        raise SpecError("map '%s': 'values' initialisers need a prog array or map-in-map, not %s" % (
            m.name, uapi.MAP_TYPE_NAMES.get(m.type, m.type)))
    m.key_size = m.key_size or 4
    m.value_size = m.value_size or 4
    if m.value_size != 4:
        raise SpecError("map '%s': the value of a %s must be 4 bytes" % (
            m.name, uapi.MAP_TYPE_NAMES.get(m.type, m.type)))


def _parse_btf_map_inits(spec, sec, by_offset):
    syms = spec.elf.symbols
    secs = spec.elf.sections
    for rel in spec.elf.relocations(sec.index):
        owner = values_offset = None
        for off, size, m, voff in by_offset:
            if off <= rel.offset < off + size:
                owner, values_offset = m, voff
                break
        if owner is None or values_offset is None:
            raise SpecError("object '%s': section '.maps': relocation at offset %d is not inside a map's "
                            "'values'" % (spec.name, rel.offset))
        rel_off = rel.offset - owner.offset - values_offset
        if rel_off < 0 or rel_off % 8:
            raise SpecError("map '%s': initialiser relocation at offset %d is misaligned" % (
                owner.name, rel.offset))
        slot = rel_off // 8
        if slot >= owner.max_entries:
            raise SpecError("map '%s': initialiser for slot %d but max_entries is %d" % (
                owner.name, slot, owner.max_entries))
        sym = syms[rel.symbol]
        if owner.type == uapi.BPF_MAP_TYPE_PROG_ARRAY:
            if sym.type != STT_FUNC or not (0 < sym.shndx < len(secs) and secs[sym.shndx].executable):
                raise SpecError("map '%s': slot %d: '%s' is not a program" % (owner.name, slot, sym.name))
            owner.init_slots.append((slot, "prog", sym.name))
        else:
            target = None
            for off, _size, m, _voff in by_offset:
                if sym.shndx == sec.index and off == sym.value:
                    target = m
            if target is None:
                raise SpecError("map '%s': slot %d: '%s' is not a map of this object" % (
                    owner.name, slot, sym.name))
            owner.init_slots.append((slot, "map", target.name))


def _parse_legacy_maps(spec):
    sec = spec.elf.section("maps")
    if sec is None:
        return
    syms = sorted((s for s in spec.elf.symbols if s.shndx == sec.index and s.type != STT_SECTION and s.name),
                  key=lambda s: s.value)
    where = "object '%s': section 'maps'" % spec.name
    if not syms:
        if sec.size:
            raise SpecError("%s: %d bytes but no map symbols" % (where, sec.size))
        return
    if sec.size % len(syms):
        raise SpecError("%s: %d bytes do not divide into %d map definitions" % (where, sec.size, len(syms)))
    def_size = sec.size // len(syms)
    if def_size < _LEGACY_DEF.size:
        raise SpecError("%s: map definitions of %d bytes, want at least %d" % (where, def_size, _LEGACY_DEF.size))
    data = bytes(sec.data)
    for sym in syms:
        if sym.value + def_size > len(data):
            raise SpecError("map '%s': definition runs past the end of section 'maps'" % sym.name)
        rec = data[sym.value:sym.value + def_size]
        map_type, key_size, value_size, max_entries, flags = _LEGACY_DEF.unpack_from(rec)
        m = MapSpec(sym.name, map_type, key_size, value_size, max_entries, flags, kind="legacy",
                    section="maps", offset=sym.value)
        extra = rec[_LEGACY_DEF.size:]
        if len(extra) >= _IPROUTE2_TAIL.size:
            # iproute2's struct bpf_elf_map: id, pinning, inner_id, inner_idx.
            _id, pinning, inner_id, inner_idx = _IPROUTE2_TAIL.unpack_from(extra)
            if inner_id or inner_idx:
                raise SpecError("map '%s': iproute2 map-in-map fields (inner_id %d, inner_idx %d) are not "
                                "supported; use BTF-defined maps" % (sym.name, inner_id, inner_idx))
            if pinning == IPROUTE2_PIN_GLOBAL_NS:
                m.pinning = uapi.LIBBPF_PIN_BY_NAME
            elif pinning:
                raise SpecError("map '%s': iproute2 pinning %d is not supported (only 2, global)" % (
                    sym.name, pinning))
            extra = extra[_IPROUTE2_TAIL.size:]
        if any(extra):
            raise SpecError("map '%s': definition has %d unknown non-zero trailing bytes" % (
                sym.name, len(extra)))
        _add(spec, m)


def _parse_data_maps(spec):
    btf = spec.btf
    for sec in spec.elf.sections:
        if not is_data_section(sec.name) or sec.type not in (SHT_PROGBITS, SHT_NOBITS) or sec.size == 0:
            continue
        if sec.size > MAX_DATA_SECTION:
            raise SpecError("object '%s': section '%s': %d bytes of global data, more than the %d a map value "
                            "can hold" % (spec.name, sec.name, sec.size, MAX_DATA_SECTION))
        readonly = sec.name.startswith(".rodata")
        m = MapSpec(sec.name, uapi.BPF_MAP_TYPE_ARRAY, 4, sec.size, 1,
                    uapi.BPF_F_RDONLY_PROG if readonly else 0, kind="data", section=sec.name)
        m.data = bytearray(sec.size) if sec.type == SHT_NOBITS else bytearray(sec.data)
        m.freeze = readonly
        if btf is not None:
            datasec = find_datasec(btf, sec.name)
            if datasec is not None:
                m.btf_value_type_id = datasec.id
        _add(spec, m)
