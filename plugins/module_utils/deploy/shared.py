# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maps shared between collections: those an object pins by name
(``__uint(pinning, LIBBPF_PIN_BY_NAME)``, or iproute2's PIN_GLOBAL_NS).

libbpf pins such a map at ``<pin_root_path>/<name>`` (``/sys/fs/bpf`` by
default) and every object that declares it reuses it. Here each one lives
once at ``<pin_root>/shared/<name>`` (so libbpf with ``pin_root_path`` set
to that directory finds the same map), and is also pinned in each user's
own ``maps/`` like its other maps. Beside it, ``<name>__users`` is the
map's ownership record (a frozen record map, as a collection's state):
which collections use it, as their own state records say (those swap with
their versions, so they decide when the two disagree after an interrupted
run). A collection that joins adds itself, one that
leaves (removed, or a version that no longer declares the map) takes
itself out, and the last one out removes the map. Writers hold
``shared_lock`` of the pin root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map, read_record, read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    KEPT_SUFFIX, SHARED_DIR, STAGING_SUFFIX, list_dir, make_dirs, open_pinned, pin_name)
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import estimate_live_map

USERS_SUFFIX = "__users"
# What plan() needs of a shared map (observed.py's map fields, and its BTF).
_FIELDS = ("id", "path", "type", "key_size", "value_size", "max_entries", "flags", "memlock")


def shared_dir(pin_root):
    return os.path.join(pin_root, SHARED_DIR)


def shared_path(pin_root, name):
    return os.path.join(shared_dir(pin_root), pin_name(name))


def _users_path(pin_root, name):
    return shared_path(pin_root, name) + USERS_SUFFIX


def check_names(spec):
    """Raise LoaderError if a shared map's name would clash with the
    ownership records kept beside the shared maps."""
    for m in spec.maps.values():
        if m.pinned_by_name and pin_name(m.name).endswith(USERS_SUFFIX):
            raise LoaderError("map '%s': a map pinned by name may not end in '%s' (ebpf.deploy keeps each shared "
                              "map's users under that name)" % (m.name, USERS_SUFFIX))


def read_users(pin_root, name):
    """The collections that use shared map ``name`` (sorted; [] if none)."""
    record = read_record(_users_path(pin_root, name))
    return sorted((record or {}).get("users") or [])


def live_users(pin_root, name):
    """The collections under ``pin_root`` whose live version records shared
    map ``name`` (sorted). The collections' own records decide, as they
    swap with their versions: a run interrupted before it updated the
    ownership record neither loses a user nor keeps one that left."""
    out = []
    for user in list_dir(pin_root):
        # A kept version goes with its collection: it is no user of its own.
        if user == SHARED_DIR or user.endswith((STAGING_SUFFIX, KEPT_SUFFIX)):
            continue
        path = os.path.join(pin_root, user)
        record = read_state(path) if os.path.isdir(path) and not os.path.islink(path) else None
        if record is not None and pin_name(name) in (record.get("shared") or ()):
            out.append(user)
    return out


def observe_shared(pin_root, spec):
    """{map name: None, or {id, path, type, ..., btf ids, users}} of the
    spec's shared maps, as pinned under the pin root now."""
    out = {}
    for m in spec.maps.values():
        if not m.pinned_by_name:
            continue
        out[m.name] = observe_one(pin_root, m.name)
    return out


def observe_one(pin_root, name):
    """The shared map ``name`` (see observe_shared), or None."""
    path = shared_path(pin_root, name)
    try:
        fd = syscalls.obj_get(path)
    except SyscallError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    try:
        info = syscalls.fdinfo(fd)
        if "map_id" not in info:
            raise LoaderError("shared map '%s': %s is not a map" % (name, path))
        minfo = syscalls.map_info(fd, what=path)
        estimate = estimate_live_map(fd, info)
    finally:
        os.close(fd)
    entry = {"id": int(info["map_id"]), "path": path, "type": info.map_type, "key_size": info.key_size,
             "value_size": info.value_size, "max_entries": info.max_entries, "flags": info.map_flags,
             "memlock": info.memlock, "memlock_estimate": estimate, "btf_id": minfo.btf_id,
             "btf_key_type_id": minfo.btf_key_type_id, "btf_value_type_id": minfo.btf_value_type_id}
    entry["users"] = live_users(pin_root, name)
    return entry


def publish(pin_root, name, fd, replace=False):
    """Pin map ``fd`` as shared map ``name``: where none is pinned, or in
    place of the one there when ``replace`` (a migration: pinned beside,
    then renamed over it, so the path never misses)."""
    path = shared_path(pin_root, name)
    make_dirs(shared_dir(pin_root))
    if not replace:
        try:
            syscalls.obj_pin(fd, path)
        except SyscallError as e:
            if e.errno != errno.EEXIST:
                raise
        return
    tmp = path + "__new"
    _unlink(tmp)
    syscalls.obj_pin(fd, tmp)
    os.rename(tmp, path)


def set_users(pin_root, name, users):
    """Replace shared map ``name``'s ownership record with ``users``; with
    none left, remove the map's shared pin and record (and the shared
    directory once empty). Returns True when the map was removed."""
    path = _users_path(pin_root, name)
    users = sorted(set(users))
    if not users:
        _unlink(shared_path(pin_root, name))
        _unlink(path)
        try:
            os.rmdir(shared_dir(pin_root))
        except OSError:
            pass  # other shared maps stay
        return True
    fd = create_state_map({"map": name, "users": users})
    tmp = path + "__new"
    try:
        _unlink(tmp)
        syscalls.obj_pin(fd, tmp)
        os.rename(tmp, path)
    finally:
        os.close(fd)
    return False


def join(pin_root, collection, names):
    """Add ``collection`` (whose live version now records them) to the
    users of each shared map in ``names``."""
    for name in sorted(names):
        users = sorted(set(live_users(pin_root, name)) | set([collection]))
        if users != read_users(pin_root, name):
            set_users(pin_root, name, users)


def leave(pin_root, collection, names):
    """Take ``collection`` out of the users of each shared map in ``names``
    (the last one out removes the map). Returns the names removed."""
    removed = []
    for name in sorted(names):
        users = [u for u in live_users(pin_root, name) if u != collection]
        if set_users(pin_root, name, users):
            removed.append(name)
    return removed


def clear_slots(pin_root, name, prog_ids):
    """Empty the slots of shared prog array ``name`` that hold one of
    ``prog_ids`` (the programs of a collection leaving it): the users that
    keep the map must not tail-call into a removed collection."""
    try:
        fd = syscalls.obj_get(shared_path(pin_root, name))
    except SyscallError:
        return
    try:
        info = syscalls.map_info(fd, what=name)
        if info.type != uapi.BPF_MAP_TYPE_PROG_ARRAY:
            return
        what = "shared map '%s'" % name
        for slot in range(info.max_entries):
            key = slot.to_bytes(4, sys.byteorder)
            value = syscalls.map_lookup(fd, key, 4, what=what)   # a prog array reads back program ids
            if value is not None and int.from_bytes(value, sys.byteorder) in prog_ids:
                syscalls.map_delete(fd, key, what=what)
    finally:
        os.close(fd)


def shared_maps(pin_root):
    """{pin name: {id, path, type, key_size, value_size, max_entries, flags,
    memlock, memlock_estimate, users}} of every shared map under the pin
    root (for facts)."""
    out = {}
    for pin, obj in open_pinned(shared_dir(pin_root), "map").items():
        try:
            if pin.endswith(USERS_SUFFIX) or pin.endswith("__new"):
                continue
            entry = dict((k, obj[k]) for k in _FIELDS)
            entry["memlock_estimate"] = estimate_live_map(obj["fd"], obj["fdinfo"])
        finally:
            os.close(obj["fd"])
        entry["users"] = live_users(pin_root, pin)
        out[pin] = entry
    return out


def figures_now(observed, shared, old_shared):
    """{pin name: (kernel figure, estimate, users)} of the shared maps a
    collection uses before or after its run, as pinned before the run:
    ``shared`` as observe_shared() gives it, ``old_shared`` the pin names
    the live version shares (read through its own pins, ``observed``)."""
    out = {}
    for name, entry in shared.items():
        if entry is not None:
            out[pin_name(name)] = (entry["memlock"], entry["memlock_estimate"], entry["users"])
    for name in old_shared:
        if name not in out and name in observed.maps:
            obj = observed.maps[name]
            out[name] = (obj["memlock"], obj["memlock_estimate"], None)
    return out


def figures_after(pin_root, names):
    """figures_now()'s shape for the shared maps ``names``, read again after
    the run (a map no one uses any more is gone)."""
    out = {}
    for name in names:
        entry = observe_one(pin_root, name)
        if entry is not None:
            out[name] = (entry["memlock"], entry["memlock_estimate"], entry["users"])
    return out


def shared_memlock(names, after, shared_before, shared_after):
    """The ``shared_maps`` and ``shared`` parts of a bpf_memlock fact: each
    shared map's host-wide figure before and after the run (counted once
    per host, however many collections use it) and their totals.
    ``shared_before``/``shared_after`` are figures_now()/figures_after();
    ``shared_after`` None for a prediction, where ``after`` (the predicted
    figures) stands."""
    shared = {}
    totals = {"before": 0, "after": 0, "estimate_before": 0, "estimate_after": 0}
    for name in names:
        b = shared_before.get(name, (0, 0, None))
        if shared_after is None:
            a = (after.get("maps", {}).get(name, 0), after.get("estimate", {}).get("maps", {}).get(name), b[2])
        else:
            a = shared_after.get(name, (0, 0, []))
        entry = {"before": b[0], "after": a[0], "delta": a[0] - b[0],
                 "estimate": {"before": b[1] or 0, "after": a[1] or 0, "delta": (a[1] or 0) - (b[1] or 0)},
                 "users": a[2] if a[2] is not None else b[2]}
        shared[name] = entry
        totals["before"] += entry["before"]
        totals["after"] += entry["after"]
        totals["estimate_before"] += entry["estimate"]["before"]
        totals["estimate_after"] += entry["estimate"]["after"]
    return {"shared_maps": shared,
            "shared": {"before": totals["before"], "after": totals["after"],
                       "delta": totals["after"] - totals["before"],
                       "estimate": {"before": totals["estimate_before"], "after": totals["estimate_after"],
                                    "delta": totals["estimate_after"] - totals["estimate_before"]}}}


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
