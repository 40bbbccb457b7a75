# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative map settings: per-map ``max_entries`` and ``prealloc``, plus
a collection-wide ``prealloc`` default with per-map exceptions.

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

    maps: {map name: {'max_entries': int, 'prealloc': bool}} (either key
    optional); prealloc: the collection-wide default (None keeps what the
    object says). Raises SpecError, changing nothing, for an unknown map
    name, a setting on an internal map (.data, .rodata, .bss, .kconfig), a
    prealloc a map type cannot take, or an invalid max_entries.
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
        unknown = sorted(set(settings) - {"max_entries", "prealloc"})
        if unknown:
            raise SpecError("maps: map '%s': unknown setting(s) %s (want max_entries, prealloc)" % (
                name, ", ".join(unknown)))
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
        changes.append((m, max_entries, flags))
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
                changes.append((m, entry[0][1], _with_prealloc(entry[0][2], prealloc)))
            else:
                changes.append((m, m.max_entries, _with_prealloc(m.flags, prealloc)))
    for m, max_entries, flags in changes:
        m.max_entries = max_entries
        m.flags = flags
    return warnings


def _with_prealloc(flags, prealloc):
    return flags & ~uapi.BPF_F_NO_PREALLOC if prealloc else flags | uapi.BPF_F_NO_PREALLOC


def _check_max_entries(name, map_type, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 0xffffffff:
        raise SpecError("maps: map '%s': max_entries %r is not a whole number from 1 to 4294967295" % (name, value))
    if uapi.is_ringbuf(map_type) and (value % _PAGE or value & (value - 1)):
        raise SpecError("maps: map '%s' (%s): max_entries %d must be a power of two and a multiple of %d "
                        "(it is the buffer size in bytes)" % (name, type_name(map_type), value, _PAGE))
    return value
