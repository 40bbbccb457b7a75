# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative map settings: per-map ``max_entries``, ``value_size`` and
``prealloc``, plus a collection-wide ``prealloc`` default with per-map
exceptions; and the check (check_sizes) that no map is left at size 0
for user space to set.

BPF_F_NO_PREALLOC is accepted by hash, percpu_hash and hash_of_maps;
required by the LPM trie and the local-storage maps; rejected by every
other type (LRU maps, arrays, queues, stacks, ring buffers, ...). An
explicit per-map request a map cannot take is an error naming the map,
its type and why; the collection-wide default skips such maps and says so
in the returned warnings. Everything is validated before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi

_PAGE = 4096


def type_name(map_type):
    return uapi.MAP_TYPE_NAMES.get(map_type, "type %d" % map_type)


def prealloc_problem(map_type, prealloc):
    """Why a map of ``map_type`` cannot be set to ``prealloc``, or None."""
    rule = uapi.prealloc_rule(map_type)
    if prealloc and rule == uapi.NO_PREALLOC_REQUIRED:
        return "the kernel requires BPF_F_NO_PREALLOC for %s maps (they allocate on update)" % type_name(map_type)
    if not prealloc and rule == uapi.NO_PREALLOC_REJECTED:
        return "%s maps are always preallocated; the kernel rejects BPF_F_NO_PREALLOC for them" % (
            type_name(map_type))
    return None


def apply_map_settings(spec, maps=None, prealloc=None):
    """Change ``spec``'s MapSpecs as declared; returns a list of warnings.

    maps: {map name: {'max_entries': int, 'value_size': int, 'prealloc':
    bool, 'defaults': {value member: value}}} (each key optional; defaults
    are for the members a conversion of live entries adds, see
    deploy.migrate); prealloc: the collection-wide default (None
    keeps what the object says). Raises SpecError, changing nothing, for an
    unknown map name, a setting on an internal map (.data, .rodata, .bss,
    .kconfig), a prealloc a map type cannot take, an invalid max_entries,
    defaults naming no member of the value type or not fitting it, a
    value_size the map type or its BTF value type does not allow, or (after
    the settings) a map still left at size 0 (check_sizes).
    """
    maps = maps or {}
    changes = []
    warnings = []
    for name in sorted(maps):
        settings = maps[name] or {}
        if name not in spec.maps:
            user = sorted(n for n, m in spec.maps.items() if m.kind in ("btf", "legacy"))
            raise SpecError("maps: no map '%s' in object '%s' (its maps: %s)" % (
                name, spec.name, ", ".join(user) or "none"))
        m = spec.maps[name]
        if m.kind in ("data", "kconfig"):
            raise SpecError("maps: '%s' is the object's global data, sized by the object itself" % name)
        unknown = sorted(set(settings) - {"max_entries", "value_size", "prealloc", "defaults"})
        if unknown:
            raise SpecError("maps: map '%s': unknown setting(s) %s (want max_entries, value_size, prealloc, "
                            "defaults)" % (name, ", ".join(unknown)))
        if settings.get("defaults"):
            _check_defaults(spec, m, settings["defaults"])
        flags = m.flags
        if settings.get("prealloc") is not None:
            problem = prealloc_problem(m.type, settings["prealloc"])
            if problem:
                raise SpecError("maps: map '%s' (%s): prealloc %s: %s" % (
                    name, type_name(m.type), str(settings["prealloc"]).lower(), problem))
            flags = _with_prealloc(flags, settings["prealloc"])
        max_entries = m.max_entries
        if settings.get("max_entries") is not None:
            max_entries = _check_max_entries(name, m.type, settings["max_entries"])
        value_size = m.value_size
        if settings.get("value_size") is not None:
            value_size = _check_value_size(m, settings["value_size"])
        changes.append((m, max_entries, flags, value_size))
    if prealloc is not None:
        for m in spec.maps.values():
            if m.kind not in ("btf", "legacy") or (m.name in maps and (maps[m.name] or {}).get("prealloc") is not None):
                continue
            problem = prealloc_problem(m.type, prealloc)
            if problem:
                warnings.append("prealloc: %s left map '%s' (%s) as it is: %s" % (
                    str(prealloc).lower(), m.name, type_name(m.type), problem))
                continue
            entry = [c for c in changes if c[0] is m]
            if entry:
                changes.remove(entry[0])
                changes.append((m, entry[0][1], _with_prealloc(entry[0][2], prealloc), entry[0][3]))
            else:
                changes.append((m, m.max_entries, _with_prealloc(m.flags, prealloc), m.value_size))
    sizes = dict((m.name, (m.max_entries, m.value_size)) for m in spec.maps.values())
    for m, max_entries, _flags, value_size in changes:
        sizes[m.name] = (max_entries, value_size)
    check_sizes(spec, sizes)
    for m, max_entries, flags, value_size in changes:
        m.max_entries = max_entries
        m.flags = flags
        m.value_size = value_size
    return warnings


def check_sizes(spec, sizes=None, skip=()):
    """Raise SpecError naming the map and the option to set when a map of
    ``spec`` is left at max_entries 0 or value_size 0 (objects leave
    stack-trace maps and ring buffers for user space to size), before
    anything is created. ``sizes``: {map name: (max_entries, value_size)}
    to check instead of the MapSpecs' own (default: theirs); maps named in
    ``skip`` (existing maps to reuse) are not checked."""
    for m in sorted(spec.maps.values(), key=lambda x: x.name):
        if m.kind not in ("btf", "legacy") or m.name in skip:
            continue
        max_entries, value_size = sizes[m.name] if sizes else (m.max_entries, m.value_size)
        missing = []
        if not max_entries and not uapi.max_entries_may_be_zero(m.type):
            missing.append("max_entries")
        if not value_size and uapi.value_size_is_free(m.type):
            missing.append("value_size")
        if missing:
            raise SpecError(
                "object '%s': map '%s' (%s): %s left at 0 by the object; set %s in the map's options "
                "(bpf_collection maps: {%s: {%s}})" % (
                    spec.name, m.name, type_name(m.type), " and ".join(missing), " and ".join(missing),
                    m.name, ", ".join("%s: N" % what for what in missing)),
                hint=_size_hint(m.type, missing))


def _size_hint(map_type, missing):
    if "max_entries" in missing and uapi.is_ringbuf(map_type):
        return "a ring buffer's max_entries is its size in bytes, a power of two and a multiple of %d" % _PAGE
    if "value_size" in missing and map_type == uapi.BPF_MAP_TYPE_STACK_TRACE:
        return "a stack_trace map's value_size is 8 bytes per frame (e.g. 127 * 8 for the kernel's maximum depth)"
    return None


def _check_value_size(m, value):
    name = m.name
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 0xffffffff:
        raise SpecError("maps: map '%s': value_size %r is not a whole number from 1 to 4294967295" % (name, value))
    if not uapi.value_size_is_free(m.type):
        raise SpecError("maps: map '%s' (%s): value_size cannot be set: the kernel defines this map type's "
                        "value (or it has none)" % (name, type_name(m.type)))
    if m.btf_value_type_id and value != m.value_size:
        raise SpecError("maps: map '%s' (%s): value_size %d conflicts with the value type the object declares "
                        "in BTF (%d bytes); change the type in the object, or declare the map with "
                        "__uint(value_size, ...) instead" % (name, type_name(m.type), value, m.value_size))
    if m.type == uapi.BPF_MAP_TYPE_STACK_TRACE and value % 8:
        raise SpecError("maps: map '%s' (stack_trace): value_size %d must be a multiple of 8 (one u64 per frame)"
                        % (name, value))
    return value


def _check_defaults(spec, m, defaults):
    """Refuse ``defaults`` (values for value members a conversion adds)
    that name no member of the map's BTF value type or do not fit it."""
    what = "maps: map '%s': defaults" % m.name
    if spec.btf is None or not m.btf_value_type_id:
        raise SpecError("%s: the object gives the map no BTF value type, so it has no members to default" % what)
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.convert import encode_defaults

    encode_defaults(spec.btf, m.btf_value_type_id, defaults, what)


def _with_prealloc(flags, prealloc):
    return flags & ~uapi.BPF_F_NO_PREALLOC if prealloc else flags | uapi.BPF_F_NO_PREALLOC


def _check_max_entries(name, map_type, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 0xffffffff:
        raise SpecError("maps: map '%s': max_entries %r is not a whole number from 1 to 4294967295" % (name, value))
    if uapi.is_ringbuf(map_type) and (value % _PAGE or value & (value - 1)):
        raise SpecError("maps: map '%s' (%s): max_entries %d must be a power of two and a multiple of %d "
                        "(it is the buffer size in bytes)" % (name, type_name(map_type), value, _PAGE))
    return value
