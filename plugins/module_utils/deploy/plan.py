# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide what one collection needs: a pure function of the desired state,
the observed state (plain data) and, when something must change, the new
version (the object's spec and the live maps' layouts). Check mode stops
here; ``diff()`` renders the plan for --diff.

The no-op decision compares the object's digest and the normalised options
with the live version's state record, and needs neither the object's spec
nor kernel BTF: on a fleet that is the common case.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import ObjectNeeded
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import pin_name

# Maps whose contents are program or map references of one version:
# they are rebuilt with every version, never carried over.
_NEVER_REUSED = frozenset((uapi.BPF_MAP_TYPE_PROG_ARRAY, uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
                           uapi.BPF_MAP_TYPE_RINGBUF))


class Plan:
    """The decision: ``action`` is 'none', 'create', 'replace', 'remove',
    'rollback' (the kept version goes live) or 'prune' (the kept version is
    removed); ``reasons`` say why; ``map_actions`` gives per map what
    happens to its data ((action, the live map's observed entry or None),
    action one of create, reuse, migrate, recreate; for a rollback, per map
    of the kept version, one of shared (the same map), migrate (the live
    entries are copied back), keep (its own entries stay: the live map's
    cannot be copied) or own (a map of its own version: data sections,
    program arrays)); ``conversions`` the maps whose entries a migration
    converts to a new key or value type ({map name:
    deploy.migrate.EntryConversion}); ``warnings`` what the caller should
    read."""

    def __init__(self, action, reasons, new=None, map_actions=None, warnings=None, conversions=None):
        self.action = action
        self.reasons = reasons
        self.new = new
        self.map_actions = map_actions or {}
        self.warnings = warnings or []
        self.conversions = conversions or {}

    @property
    def changed(self):
        return self.action != "none"

    @property
    def spec(self):
        return self.new.spec if self.new is not None else None


class NewVersion:
    """The version a change would build: the object's bytes and digest, its
    spec with the options applied, the warnings that gave, the key and
    value layouts of the live maps it might reuse (see live_layouts), and
    the shared maps (pinned by name) as observed under the pin root
    ({map name: observed entry with its 'users', or None})."""

    def __init__(self, data, spec, warnings, layouts, shared=None):
        self.data = data
        self.spec = spec
        self.warnings = warnings
        self.layouts = layouts
        self.shared = shared or {}


def read_object(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise LoaderError("object '%s': cannot read: %s" % (path, e.strerror or e)) from e


def unchanged(desired, observed, digest):
    """True when the live version is complete and was made from this
    object (``digest``) with these options."""
    record = observed.record
    return (observed.exists and not observed.problems and record is not None
            and record.get("object_sha256") == digest and record.get("options") == _jsonable(desired.options()))


def new_version(desired, observed, data, observe_shared=None):
    """Read the object's spec and apply the options (the loader's first
    stages, imported only here), then read the layouts of the live maps it
    would reuse; ``observe_shared(spec)`` gives the shared maps (see
    NewVersion). Raises LoaderError naming what is wrong."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object_bytes
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_constants import set_constants
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_map_options import apply_map_settings

    spec = read_object_bytes(data, desired.source or os.path.basename(desired.path))
    warnings = apply_map_settings(spec, desired.maps, desired.prealloc)
    set_constants(spec, desired.constants)
    for name in desired.programs or ():
        spec.program(name)
    shared = observe_shared(spec) if observe_shared is not None else {}
    return NewVersion(data, spec, warnings, live_layouts(observed, spec, shared), shared)


def live_layouts(observed, spec, shared=None):
    """{map name: {'btf': the live map's BTF, 'key'/'value': leaves,
    'key_type_id'/'value_type_id', 'title': {part: text}}} of the live maps
    the new version would carry over (same map type), through the kernel's
    copy of their BTF; a part is None (type id 0) where the live map has no
    BTF type for it. A shared map is compared with the one pinned under the
    pin root (``shared``), if there is one."""
    shared = dict((n, e) for n, e in (shared or {}).items() if e is not None)
    if not observed.maps and not shared:
        return {}   # a first load: nothing to compare, nothing to import for it
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import leaves, type_title
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF

    out, btfs = {}, {}
    for m in spec.maps.values():
        old = shared.get(m.name) or observed.maps.get(pin_name(m.name))
        if not (_carries_over(m) or m.pinned_by_name) or old is None or old["type"] != m.type \
                or not old.get("btf_id"):
            continue
        if old["btf_id"] not in btfs:
            btfs[old["btf_id"]] = BTF.from_bytes(syscalls.btf_raw_by_id(old["btf_id"]), name="map '%s'" % m.name)
        btf = btfs[old["btf_id"]]
        layout = {"title": {}, "btf": btf}
        for part in ("key", "value"):
            type_id = old["btf_%s_type_id" % part]
            layout[part] = leaves(btf, type_id) if type_id else None
            layout[part + "_type_id"] = type_id
            layout["title"][part] = type_title(btf, type_id) if type_id else None
        out[m.name] = layout
    return out


def plan(desired, observed, digest, new=None, staging_exists=False):
    """The Plan for ``desired`` given ``observed``: pure. ``digest`` is the
    object's SHA-256; ``new`` the NewVersion, needed only when the
    collection must change (ObjectNeeded otherwise)."""
    if desired.state == "absent":
        if observed.exists or staging_exists or observed.kept is not None:
            return Plan("remove", ["collection is deployed; state is absent"])
        return Plan("none", [])
    if desired.state == "rolled_back":
        return plan_rollback(desired, observed)
    if unchanged(desired, observed, digest):
        if not desired.keep_versions and observed.kept is not None:
            return Plan("prune", ["keep_versions is 0: the kept version is removed"])
        return Plan("none", [])
    if new is None:
        raise ObjectNeeded("collection '%s': the object is needed to change it" % desired.name)
    reasons, warnings = [], list(new.warnings)
    record = observed.record
    if not observed.exists:
        reasons.append("not deployed")
    else:
        reasons.extend(observed.problems)
        if record is not None and record.get("object_sha256") != digest:
            reasons.append("object changed")
        if record is not None and record.get("options") != _jsonable(desired.options()):
            reasons.append("options changed")
    map_actions, conversions = {}, {}
    for m in new.spec.maps.values():
        if m.pinned_by_name:
            map_actions[m.name] = _shared_map_action(desired, observed.maps.get(pin_name(m.name)), m, new, reasons,
                                                     warnings, conversions)
        else:
            map_actions[m.name] = _map_action(desired, observed.maps.get(pin_name(m.name)), m, new, reasons,
                                              warnings, conversions)
    return Plan("replace" if observed.exists else "create", reasons, new, map_actions, warnings, conversions)


def plan_rollback(desired, observed):
    """The Plan that makes the kept version live again, or 'none' when the
    live version is already the one a rollback made. Raises LoaderError
    when there is nothing to roll back to."""
    record, kept = observed.record, observed.kept
    if observed.exists and record is not None and record.get("rolled_back_from"):
        return Plan("none", [])
    if not observed.exists or record is None:
        raise LoaderError("collection '%s': not deployed (or not by ebpf.deploy), so there is nothing to roll back"
                          % desired.name)
    if kept is None:
        raise LoaderError("collection '%s': no kept version to roll back to; nothing changed" % desired.name,
                          hint="a version is kept when an upgrade replaces it with keep_versions: 1 (the default)")
    for kind, pinned in (("program", kept.programs), ("map", kept.maps)):
        for name, entry in sorted((kept.record.get(kind + "s") or {}).items()):
            obj = pinned.get(entry.get("pin"))
            if obj is None or obj["id"] != entry.get("id"):
                raise LoaderError("collection '%s': the kept version's %s '%s' is %s; it cannot be rolled back to, "
                                  "nothing changed" % (desired.name, kind, name,
                                                       "not pinned" if obj is None else "not the one it recorded"))
    reasons = ["rolling back to the kept version (object %s)" % (kept.record.get("object_sha256") or "?")[:12]]
    warnings, map_actions = [], {}
    for name, entry in sorted((kept.record.get("maps") or {}).items()):
        pin = entry.get("pin")
        own, live = kept.maps[pin], observed.maps.get(pin)
        if live is None:
            action = "keep"
        elif live["id"] == own["id"]:
            action = "shared"
        elif name.startswith(".") or own["type"] in _NEVER_REUSED:
            action = "own"
        elif (all(live[k] == own[k] for k in ("type", "key_size", "value_size"))
              and uapi.holds_plain_data(own["type"])):
            action = "migrate"
        else:
            action = "keep"
            warnings.append("map '%s': the live map's entries cannot be copied back into the kept version's map "
                            "(%s); it keeps the entries it had when it was replaced" % (name, _differences(live, own)))
        if action in ("migrate", "keep") and live is not None:
            reasons.append("map '%s': %s" % (name, "live entries copied back" if action == "migrate" else
                                             "the kept version's own entries"))
        map_actions[name] = (action, live)
    return Plan("rollback", reasons, None, map_actions, warnings)


def _differences(live, kept):
    """What differs between a live map and a kept one, live -> kept."""
    out = ["%s %s -> %s" % (what, fmt(live[k]), fmt(kept[k])) for what, k, fmt in (
        ("type", "type", lambda t: uapi.MAP_TYPE_NAMES.get(t, t)), ("key size", "key_size", str),
        ("value size", "value_size", str)) if live[k] != kept[k]]
    return ", ".join(out) or "%s maps hold no plain data" % uapi.MAP_TYPE_NAMES.get(kept["type"], kept["type"])


def _map_action(desired, old, m, new, reasons, warnings, conversions):
    """What happens to the live map ``old`` (None: there is none) for spec
    map ``m``: (action, old); a migration that converts the entries to a new
    key or value type adds its EntryConversion to ``conversions``. Raises
    SpecError, naming what differs, when the map may not change so."""
    if not _carries_over(m) or old is None:
        return ("create", None)
    policy = desired.on_incompatible_map
    conversion, problems, not_compared = None, [], None
    if old["type"] != m.type:
        entry_changes = ["type %s \u2192 %s" % (_type_name(old["type"]), _type_name(m.type))]
        problems = ["entries of one map type are not carried into another"]
    else:
        entry_changes, problems, conversion, not_compared = _entry_changes(
            new.layouts.get(m.name), old, m, new.spec, ((desired.maps or {}).get(m.name) or {}).get("defaults"))
    if not_compared:
        reasons.append("map '%s': key/value layouts not compared (%s)" % (m.name, not_compared))
        warnings.append("map '%s': its key and value layouts could not be compared (%s); it is reused as its "
                        "sizes match, so make sure the new programs read its entries the same way" % (
                            m.name, not_compared))
    setting_changes = _setting_changes(old, m)
    if not entry_changes and not setting_changes:
        return ("reuse", old)
    if policy == "fail":
        raise SpecError("map '%s': the live map differs from the desired one (%s) and on_incompatible_map is fail"
                        % (m.name, "; ".join(entry_changes + setting_changes)),
                        hint="use on_incompatible_map: migrate to copy (and convert) its entries, or recreate to "
                             "start it empty")
    if policy == "recreate" or not uapi.holds_plain_data(m.type):
        if entry_changes:
            reasons.append("map '%s': layout changed (%s); recreated empty" % (m.name, "; ".join(entry_changes)))
        return ("recreate", old)
    if problems:
        raise SpecError("map '%s': its entries cannot be converted (%s): %s" % (
            m.name, "; ".join(entry_changes), "; ".join(problems)),
            hint="use on_incompatible_map: recreate to start the map empty")
    if conversion is not None:
        conversions[m.name] = conversion
        reasons.append("map '%s': entries converted (%s)" % (m.name, "; ".join(entry_changes)))
        warnings.extend("map '%s': %s member '%s' (%s) is not in the new type; its values are dropped" % (
            m.name, part, f.path, f.describe()) for part, f in conversion.removed())
    return ("migrate", old)


def _type_name(map_type):
    return uapi.MAP_TYPE_NAMES.get(map_type, map_type)


def _setting_changes(old, m):
    """What differs in the settings fixed at creation, in words."""
    out = []
    if old["max_entries"] != m.max_entries:
        out.append("max_entries %d \u2192 %d" % (old["max_entries"], m.max_entries))
    if old["flags"] != m.flags:
        out.append("flags %#x \u2192 %#x" % (old["flags"], m.flags))
    return out


def _entry_changes(layout, old, m, spec, defaults):
    """(what differs in the entries' key and value, why they cannot be
    converted, the EntryConversion or None, why layouts were not compared)
    between a live map (its layout from live_layouts) and spec map ``m`` of
    the same map type. Layouts that flatten to the same leaves at the same
    sizes need no conversion (and nothing more is imported for them)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import leaves

    sizes = [("%s size %d \u2192 %d" % (part, old[part + "_size"], getattr(m, part + "_size")))
             for part in ("key", "value") if old[part + "_size"] != getattr(m, part + "_size")]
    if layout is None or (layout["key"] is None and layout["value"] is None):
        return sizes, ["the live map has no BTF to convert them by"] if sizes else [], None, (
            None if sizes else "the live map has no BTF")
    if spec.btf is None or not (m.btf_key_type_id or m.btf_value_type_id):
        return sizes, ["the new object gives the map no BTF to convert them by"] if sizes else [], None, (
            None if sizes else "the new object gives the map no BTF")
    missing, same = [], True
    for part, new_id in (("key", m.btf_key_type_id), ("value", m.btf_value_type_id)):
        if layout[part] is None or not new_id:
            if layout[part] is not None or new_id:
                missing.append("%s: one side has no BTF type" % part)
            continue
        if layout[part] != leaves(spec.btf, new_id):
            same = False
    if missing:
        return sizes, ["; ".join(missing)] if sizes else [], None, None if sizes else "; ".join(missing)
    if same and not sizes:
        return [], [], None, None
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.migrate import plan_entry_conversion

    conversion = plan_entry_conversion(layout["btf"], layout["key_type_id"], layout["value_type_id"], spec.btf,
                                       m.btf_key_type_id, m.btf_value_type_id, defaults)
    if not conversion.differences():
        # The same types in maps of other sizes: BTF that does not size them.
        return sizes, ["its BTF types do not give the key and value sizes"], None, None
    return conversion.differences(), conversion.problems(), conversion, None


def _shared_map_action(desired, own, m, new, reasons, warnings, conversions):
    """_map_action() for a map pinned by name: the one pinned under the pin
    root is reused when it is the same map (type, sizes, max_entries,
    flags, key and value layouts), also a prog array; otherwise the load is
    refused, naming every difference and the collections that use it,
    unless this collection is its only user (an upgrade: as for its own
    maps). ``own`` is the collection's live map of that name, which a
    first shared map adopts (its data kept)."""
    entry = new.shared.get(m.name)
    if entry is None:
        if own is None or not _carries_over(m):
            return ("create", None)
        return _map_action(desired, own, m, new, reasons, warnings, conversions)
    others = [u for u in entry["users"] if u != desired.name]
    if not others and own is not None and own["id"] != entry["id"] and desired.name in entry["users"]:
        # An interrupted run swapped in a version whose map never reached
        # the shared pin: that map is the one the live programs use.
        return _map_action(desired, own, m, new, reasons, warnings, conversions)
    differences = shared_differences(entry, m, new)
    if not differences:
        if own is not None and own["id"] != entry["id"]:
            warnings.append("map '%s': joins the shared map pinned at %s (used by %s); this collection's own "
                            "map of that name is dropped with its entries" % (
                                m.name, entry["path"], _collections(entry["users"]) or "no collection"))
        return ("reuse", entry)
    if not others:
        return _map_action(desired, entry, m, new, reasons, warnings, conversions)
    if desired.name in entry["users"]:
        raise SpecError("map '%s' is shared (pinned by name) with %s: changing it (%s) would change it for them "
                        "too, and migrating a shared map for all its users is not supported; nothing changed" % (
                            m.name, _collections(others), "; ".join(differences)),
                        hint="keep the shared map's settings, or remove the other collections first")
    raise SpecError("map '%s' is pinned by name and %s share%s it (%s), declared differently than in collection "
                    "'%s': %s; nothing changed" % (
                        m.name, _collections(others), "s" if len(others) == 1 else "", entry["path"],
                        desired.name, "; ".join(differences)),
                    hint="declare the map the same way in every collection that shares it, or give it another name")


def shared_differences(entry, m, new):
    """What differs between the shared map ``entry`` (observed) and spec map
    ``m``, in words ('max_entries 16 → 32'; [] when they are the same)."""
    out = []
    for label, old, want, show in (
            ("type", entry["type"], m.type, lambda t: uapi.MAP_TYPE_NAMES.get(t, t)),
            ("key size", entry["key_size"], m.key_size, str), ("value size", entry["value_size"], m.value_size, str),
            ("max_entries", entry["max_entries"], m.kernel_max_entries(), str),
            ("flags", entry["flags"], m.flags, lambda f: "%#x" % f)):
        if old != want:
            out.append("%s %s → %s" % (label, show(old), show(want)))
    if not out:
        out.extend(_entry_changes(new.layouts.get(m.name), entry, m, new.spec, {})[0])
    return out


def _collections(names):
    """collection 'a' / collections 'a' and 'b' / collections 'a', 'b' and 'c'."""
    quoted = ["'%s'" % n for n in names]
    if len(quoted) < 2:
        return "".join("collection %s" % q for q in quoted)
    return "collections %s and %s" % (", ".join(quoted[:-1]), quoted[-1])


def _carries_over(m):
    """Whether a live map of spec map ``m``'s name may keep its data: not
    the data sections (their contents come from the object) nor maps of
    one version's references."""
    return m.kind in ("btf", "legacy") and m.type not in _NEVER_REUSED


def _same_bytes(old, m):
    return old["type"] == m.type and old["key_size"] == m.key_size and old["value_size"] == m.value_size


def describe_live_map(old):
    return "%s, max_entries %d, flags %#x" % (uapi.MAP_TYPE_NAMES.get(old["type"], old["type"]),
                                              old["max_entries"], old["flags"])


def describe_spec_map(m):
    return "%s, max_entries %d, flags %#x" % (uapi.MAP_TYPE_NAMES.get(m.type, m.type), m.max_entries, m.flags)


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True))


def diff(desired, observed, p):
    """--diff of a plan: before/after of each map's settings and each
    program's tag, by pin name (the shape every module's diff has: kind,
    then name)."""
    before = {"maps": dict((n, describe_live_map(o)) for n, o in observed.maps.items()),
              "programs": dict((n, o["tag"]) for n, o in observed.programs.items())}
    if p.action == "remove":
        return {"before": before, "after": {"maps": {}, "programs": {}}}
    if p.action == "rollback":
        kept = observed.kept
        names = kept.names("maps")
        maps = dict((n, describe_live_map(o) + " (%s)" % p.map_actions.get(names.get(n), ("own",))[0])
                    for n, o in kept.maps.items())
        return {"before": before, "after": {"maps": maps,
                                            "programs": dict((n, o["tag"]) for n, o in kept.programs.items())}}
    if p.spec is None:
        return {"before": before, "after": before}
    maps = {}
    for name, m in p.spec.maps.items():
        action = p.map_actions.get(name, ("create",))[0]
        if name in p.conversions:
            action = "%s, converting: %s" % (action, "; ".join(p.conversions[name].differences()))
        maps[pin_name(name)] = describe_spec_map(m) + ("" if action == "create" else " (%s)" % action)
    programs = desired.programs or list(p.spec.programs)
    return {"before": before, "after": {"maps": maps, "programs": dict((pin_name(n), "(new)") for n in programs)}}
