# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the bpf_deploy role: a collection's map settings under a size
preset, and the declared links and map entries of all collections as flat
lists (one task item each)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

PRESETS = ("small", "medium", "large")


def bpf_deploy_maps(collection, preset=None):
    """``collection['maps']`` with ``max_entries`` from
    ``collection['presets'][preset]`` where the map's own settings do not
    give one. A collection without presets ignores ``preset``; one with
    presets but not this one is an error naming both."""
    name = collection.get("name", "?")
    maps = dict((m, dict(settings or {})) for m, settings in (collection.get("maps") or {}).items())
    presets = collection.get("presets") or {}
    if not preset or not presets:
        return maps
    if preset not in PRESETS:
        raise AnsibleFilterError("bpf_deploy_map_preset: unknown preset '%s' (want one of %s)"
                                 % (preset, ", ".join(PRESETS)))
    if preset not in presets:
        raise AnsibleFilterError("collection '%s': no preset '%s' in its presets (it has %s)"
                                 % (name, preset, ", ".join(sorted(presets)) or "none"))
    for map_name, size in (presets[preset] or {}).items():
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise AnsibleFilterError("collection '%s': presets.%s.%s: want a positive max_entries, got %r"
                                     % (name, preset, map_name, size))
        maps.setdefault(map_name, {}).setdefault("max_entries", size)
    return maps


def bpf_deploy_entries(collections):
    """[{map: 'collection/map', entries, key_format, value_format,
    exclusive}] for every ``entries`` of every collection deployed."""
    out = []
    for c in collections or []:
        if c.get("state", "present") != "present":
            continue
        for map_name, spec in sorted((c.get("entries") or {}).items()):
            if isinstance(spec, list):
                spec = {"entries": spec}
            if not isinstance(spec, dict) or not isinstance(spec.get("entries"), list):
                raise AnsibleFilterError("collection '%s': entries.%s: want a list of {key, value} or a mapping "
                                         "with entries (and key_format, value_format, exclusive)"
                                         % (c.get("name", "?"), map_name))
            unknown = sorted(set(spec) - {"entries", "key_format", "value_format", "exclusive"})
            if unknown:
                raise AnsibleFilterError("collection '%s': entries.%s: unknown field(s) %s"
                                         % (c.get("name", "?"), map_name, ", ".join(unknown)))
            out.append(dict(spec, map="%s/%s" % (c["name"], map_name)))
    return out


LINK_FIELDS = ("program", "type", "interface", "direction", "mode", "cgroup", "target", "method", "priority",
               "handle", "name")


def bpf_deploy_links(collections):
    """[{collection, program, type, ...}] for every ``links`` item of every
    collection deployed, as ebpf.deploy.bpf_link takes them."""
    out = []
    for c in collections or []:
        if c.get("state", "present") != "present":
            continue
        for i, link in enumerate(c.get("links") or []):
            where = "collection '%s': links[%d]" % (c.get("name", "?"), i)
            if not isinstance(link, dict) or not link.get("program"):
                raise AnsibleFilterError("%s: want a mapping with program (and type, interface, ...)" % where)
            unknown = sorted(set(link) - set(LINK_FIELDS))
            if unknown:
                raise AnsibleFilterError("%s: unknown field(s) %s (want %s)" % (where, ", ".join(unknown),
                                                                                ", ".join(LINK_FIELDS)))
            out.append(dict(link, collection=c["name"]))
    return out


class FilterModule(object):
    def filters(self):
        return {"bpf_deploy_maps": bpf_deploy_maps, "bpf_deploy_entries": bpf_deploy_entries,
                "bpf_deploy_links": bpf_deploy_links}
