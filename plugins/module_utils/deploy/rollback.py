# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out a rollback Plan: the kept version (``name__kept``, loaded but
unattached) goes live again, without the object.

Steps, each safe to be killed after (the next run finishes or undoes it,
see versions.recover):

1. the live entries of maps the two versions do not share are copied back
   into the kept version's maps (checked to fit first; the kept version is
   attached nowhere, so nothing sees the copy half-done);
2. the kept version's state record is replaced (atomically, by a rename in
   bpffs) by one that names the version it rolls back from, which makes a
   second identical task a no-op;
3. the links the kernel cannot re-point are made again for the kept
   version's programs (new before old), as an upgrade does;
4. the kept and live directories are exchanged (renameat2, atomic);
5. the other links are re-pointed in place (BPF_LINK_UPDATE, per link);
   a failure puts them back and exchanges the versions back;
6. the version rolled back from is removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.migrate import read_entries
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import (
    STATE_PIN, create_state_map, state_map_id)
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import carry_links, remake_links
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.versions import strip_links
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import exchange, remove_tree
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import value_buffer_size

_NEW_STATE_PIN = STATE_PIN + "_new"


class _Pair:
    """The two versions as remake_links names them: links move from
    ``live`` to ``staging`` (here the kept version)."""

    def __init__(self, live, staging):
        self.live = live
        self.staging = staging


def apply_rollback(pins, observed, p):
    """Carry out rollback Plan ``p``; returns {'warnings': [...],
    'migrated': {map: entries copied back}}. Raises LoaderError; a failure
    before step 4 leaves the live version as it was."""
    kept = observed.kept
    if state_map_id(pins.kept) != kept.state_id:
        raise LoaderError("collection '%s': the kept version changed since it was observed; nothing changed, run "
                          "again" % pins.name)
    warnings = list(p.warnings)
    migrated = {}
    for name, (action, live) in sorted(p.map_actions.items()):
        if action == "migrate":
            copied = _copy_back(name, live, kept.maps[kept.record["maps"][name]["pin"]], warnings)
            if copied is not None:
                migrated[name] = copied
    _mark(pins, kept.record, observed.record)
    try:
        warnings.extend(remake_links(_Pair(pins.live, pins.kept), observed.record, kept.record))
    except BaseException:
        strip_links(pins.kept)
        raise
    exchange(pins.kept, pins.live)
    try:
        warnings.extend(carry_links(pins.kept, observed.record, pins.live)[0])
    except LoaderError as e:
        try:
            exchange(pins.kept, pins.live)
            strip_links(pins.kept)
        except (LoaderError, OSError) as again:
            raise LoaderError("collection '%s': rollback failed while moving links (%s) and the version that was "
                              "live could not be put back (%s); the next run repairs it" % (pins.name, e, again)
                              ) from e
        raise LoaderError("collection '%s': rollback failed while moving links, and the version that was live is "
                          "live again with every link on its program: %s" % (pins.name, e), hint=e.hint) from e
    remove_tree(pins.kept)
    return {"warnings": warnings, "migrated": migrated}


def _mark(pins, kept_record, live_record):
    """Replace the kept version's state record by one naming the live
    version it rolls back from (pinned beside it, renamed over it)."""
    record = dict(kept_record)
    record.pop("version", None)
    record["rolled_back_from"] = {"object_sha256": live_record.get("object_sha256"),
                                  "state_id": state_map_id(pins.live)}
    fd = create_state_map(record)
    new = os.path.join(pins.kept, _NEW_STATE_PIN)
    try:
        if os.path.lexists(new):
            os.unlink(new)   # left by a run killed here
        syscalls.obj_pin(fd, new)
    finally:
        os.close(fd)
    os.rename(new, os.path.join(pins.kept, STATE_PIN))


def _layouts_differ(live, own):
    """Why the live map's entries would mean something else to the kept
    version's programs (its key/value BTF types differ), or None."""
    if not live.get("btf_id") or not own.get("btf_id"):
        return None   # sizes match; without BTF there is nothing more to compare
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import leaf_differences, leaves
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF

    btfs = [BTF.from_bytes(syscalls.btf_raw_by_id(m["btf_id"]), name="map") for m in (live, own)]
    out = []
    for part in ("key", "value"):
        ids = [m["btf_%s_type_id" % part] for m in (live, own)]
        if not all(ids):
            continue
        differences = leaf_differences(leaves(btfs[0], ids[0]), leaves(btfs[1], ids[1]))
        if differences:
            out.append("%s: %s" % (part, ", ".join(differences)))
    return "; ".join(out) or None


def _open(obj, name):
    fd = syscalls.obj_get(obj["path"])
    if syscalls.map_info(fd, what="map '%s'" % name).id != obj["id"]:
        os.close(fd)
        raise LoaderError("map '%s': %s now holds another map than the one planned for; nothing changed, run again"
                          % (name, obj["path"]))
    return fd


def _copy_back(name, live, own, warnings):
    """Make the kept version's map ``own`` hold exactly the entries of the
    live map ``live`` (same type and sizes). Returns how many, or None when
    the layouts differ (a warning says so and its own entries stay).
    Raises LoaderError before writing anything when they do not fit."""
    differ = _layouts_differ(live, own)
    if differ:
        warnings.append("map '%s': the live map's entries are laid out differently (%s); the kept version keeps "
                        "the entries it had when it was replaced" % (name, differ))
        return None
    what = "map '%s'" % name
    src, dst = _open(live, name), _open(own, name)
    try:
        entries = read_entries(src, live["type"], live["key_size"], live["value_size"], what)
        order = sys.byteorder
        if uapi.is_array(own["type"]):
            lost = [int.from_bytes(k, order) for k, v in entries
                    if int.from_bytes(k, order) >= own["max_entries"] and any(v)]
            if lost:
                raise LoaderError("map '%s': the kept version's map has %d slots and the live one holds non-zero "
                                  "values up to index %d; nothing changed" % (name, own["max_entries"], max(lost)))
            zero = b"\0" * value_buffer_size(own["type"], own["value_size"])
            wanted = dict((int.from_bytes(k, order), v) for k, v in entries if int.from_bytes(k, order) <
                          own["max_entries"])
            for index in range(own["max_entries"]):
                syscalls.map_update(dst, index.to_bytes(own["key_size"], order), wanted.get(index, zero),
                                    what=what)
            return len(wanted)
        if len(entries) > own["max_entries"]:
            raise LoaderError("map '%s': the live map holds %d entries and the kept version's map takes %d; "
                              "nothing changed" % (name, len(entries), own["max_entries"]),
                              hint="remove entries first, or deploy the old object again with a larger max_entries")
        keep = set(k for k, _v in entries)
        for key in list(syscalls.map_keys(dst, own["key_size"], what=what)):
            if key not in keep:
                syscalls.map_delete(dst, key, what=what)
        for key, value in entries:
            syscalls.map_update(dst, key, value, uapi.BPF_ANY, what=what)
        count = sum(1 for _key in syscalls.map_keys(dst, own["key_size"], what=what))
        if count != len(entries):
            raise LoaderError("map '%s': copied %d entries back but the kept version's map holds %d" % (
                name, len(entries), count))
        return len(entries)
    finally:
        os.close(src)
        os.close(dst)


def prune(pins):
    """Remove the kept version (keep_versions: 0)."""
    remove_tree(pins.kept)
    return {"warnings": [], "migrated": {}}
