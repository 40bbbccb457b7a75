# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out one collection's Plan: the only writer of its kernel state.

A new version is built in ``name__staging`` (reusing the live maps the plan
reuses, so their data survives, and copying entries into resized ones),
its links are checked and those the kernel cannot re-point are made again,
then the two directories are swapped atomically, the other links move over,
and the old version becomes the kept one (``name__kept``, unattached, with
keep_versions 1) or is removed. A failure before the swap leaves the host
as it was; a failure while links move after it puts the previous version
back (see versions.roll_back). A rollback is carried out by rollback.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import STATE_PIN, create_state_map
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import memlock_figures, observe_kept
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.versions import (
    drop_pin_root, keep_previous, make_pin_root, roll_back, swap_in)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import MAPS_DIR, PROGS_DIR, pin_name, remove_tree
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import memlock_shortfall
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import (
    estimate_live_map, estimate_live_program)


def apply(desired, pins, observed, p):
    """Carry out ``p``; returns {'maps': [...], 'programs': [...],
    'memlock_after': {...}, 'warnings': [...], 'btf_cache': {...}}.
    Raises LoaderError."""
    # Each path imports what only it uses: AnsiballZ compiles every imported
    # module on every run (see tests/integration/test_import_paths.py).
    if p.action == "remove":
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import detach_netlink

        detach_netlink(pins.live)
        remove_tree(pins.live)
        remove_tree(pins.staging)
        remove_tree(pins.kept)
        shared_removed = _leave_shared(desired, observed.record, None)
        return {"maps": [], "programs": [], "shared_removed": shared_removed, "pin_root_removed": drop_pin_root(pins)}
    make_pin_root(pins)
    remove_tree(pins.staging)
    loaded, kernel_btf = None, None
    try:
        loaded, kernel_btf, migrated, record = _build(desired, pins, observed, p)
        link_warnings = []
        if observed.exists:
            from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.version_links import (
                carry_links, remake_links)

            link_warnings = remake_links(pins, observed.record, record)
        swap_in(pins, observed.exists)
    except BaseException:
        if loaded is not None:
            loaded.close()
        remove_tree(pins.staging)
        raise
    try:
        # The new version is live; its predecessor, now in staging, still
        # runs behind its links until they are moved over, so no event goes
        # unseen.
        if observed.exists:
            try:
                link_warnings.extend(carry_links(pins.staging, observed.record, pins.live)[0])
            except LoaderError as e:
                raise roll_back(pins, e) from e
        if observed.exists and desired.keep_versions and observed.record is not None and not observed.problems:
            keep_previous(pins)
        else:
            remove_tree(pins.staging)
            if not desired.keep_versions:
                remove_tree(pins.kept)
        shared_removed = _share(desired, observed, p, loaded, record)
        result = _result(pins, p, loaded, migrated, observe_kept(pins.kept))
        result["shared_removed"] = shared_removed
    finally:
        loaded.close()
    result["warnings"] = list(loaded.warnings) + link_warnings
    cache = kernel_btf.cache if kernel_btf is not None else None
    if cache is not None and cache.status is not None:
        result["btf_cache"] = {"status": cache.status, "size": cache.size, "path": cache.path}
        result["warnings"].extend(cache.warnings)
    return result


def _build(desired, pins, observed, p):
    """Load the new version into staging, copy migrated entries, pin its
    state record: (loaded, kernel BTF, {map: entries copied}, record)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection, needs_kernel_btf

    kernel_btf = desired.kernel_btf
    if kernel_btf is None and needs_kernel_btf(p.spec, desired.programs):
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import make_cache
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF

        kernel_btf = KernelBTF(btf_path=desired.btf_path, cache=make_cache(desired.btf_cache, run_id=desired.run_id))
    live = dict((name, _open_live_map(name, old)) for name, (action, old) in p.map_actions.items()
                if action in ("reuse", "migrate"))
    loaded = None
    try:
        reuse = dict((name, fd) for name, fd in live.items() if p.map_actions[name][0] == "reuse")
        try:
            loaded = load_collection(p.spec, pin_dir=pins.staging, programs=desired.programs,
                                     kernel_btf=kernel_btf, reuse_maps=reuse)
        except SyscallError as e:
            shortfall = memlock_shortfall(p.spec, str(e), desired.programs) if e.errno == errno.EPERM else None
            if shortfall is None:
                raise
            raise shortfall from e
        migrated = {}
        for name, (action, old) in sorted(p.map_actions.items()):
            if action == "migrate":
                from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.migrate import copy_entries

                m = p.spec.maps[name]
                migrated[name] = copy_entries(live[name], loaded.maps[name].fd, m.type, m.key_size, m.value_size,
                                              m.max_entries, name, old_sizes=(old["key_size"], old["value_size"]),
                                              conversion=p.conversions.get(name))
        record = {
            "object_sha256": hashlib.sha256(p.new.data).hexdigest(),
            "options": desired.options(),
            "maps": dict((n, {"id": lm.id, "pin": os.path.basename(lm.pin)}) for n, lm in loaded.maps.items()),
            "programs": dict((n, {"id": lp.id, "pin": os.path.basename(lp.pin), "section": lp.section})
                             for n, lp in loaded.programs.items()),
        }
        shared = sorted(pin_name(m.name) for m in p.spec.maps.values() if m.pinned_by_name)
        if shared:
            record["shared"] = shared
        state_fd = create_state_map(record)
        try:
            syscalls.obj_pin(state_fd, os.path.join(pins.staging, STATE_PIN))
        finally:
            os.close(state_fd)
    except BaseException:
        if loaded is not None:
            loaded.close()
        raise
    finally:
        for fd in live.values():
            os.close(fd)
    return loaded, kernel_btf, migrated, record


def _share(desired, observed, p, loaded, record):
    """After the swap: pin the new version's shared maps under the pin root
    where they are not pinned yet (or where this collection, their only
    user, replaced one), add the collection to their users, and leave those
    the previous version shared and this one does not. Returns the shared
    maps removed (none of their users left)."""
    names = record.get("shared") or []
    if names:
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import join, publish

        for m in p.spec.maps.values():
            if not m.pinned_by_name:
                continue
            entry = p.new.shared.get(m.name)
            action, old = p.map_actions[m.name]
            if entry is not None and action == "reuse" and old is entry:
                continue
            publish(desired.pin_root, m.name, loaded.maps[m.name].fd, replace=entry is not None)
        join(desired.pin_root, desired.name, names)
        if observed.record is not None:
            # The new programs are in their slots of a shared prog array;
            # the previous version's leave the slots they still hold.
            from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import clear_slots

            old_ids = set(e.get("id") for e in (observed.record.get("programs") or {}).values())
            for name in names:
                clear_slots(desired.pin_root, name, old_ids)
    return _leave_shared(desired, observed.record, names)


def _leave_shared(desired, old_record, keep):
    """Take the collection out of the users of the shared maps its previous
    version (``old_record``) used and ``keep`` does not (None: all of
    them); clear its programs from the slots of shared prog arrays others
    keep. Returns the names of the maps removed."""
    gone = sorted(set((old_record or {}).get("shared") or ()) - set(keep or ()))
    if not gone:
        return []
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import clear_slots, leave

    prog_ids = set(e.get("id") for e in ((old_record or {}).get("programs") or {}).values())
    removed = leave(desired.pin_root, desired.name, gone)
    for name in gone:
        if name not in removed:
            clear_slots(desired.pin_root, name, prog_ids)
    return removed


def _open_live_map(name, old):
    """The live map the plan observed, opened again by its pin; refused if
    another map is pinned there now (the plan was made for that one)."""
    fd = syscalls.obj_get(old["path"])
    if syscalls.map_info(fd, what="map '%s'" % name).id != old["id"]:
        os.close(fd)
        raise LoaderError("map '%s': %s now holds another map than the one planned for; nothing changed, run "
                          "again" % (name, old["path"]))
    return fd


def _result(pins, p, loaded, migrated, kept=None):
    """The result entries of the loaded version, in name order, with the
    memlock figures read again (maps without preallocation grew as entries
    were copied in), and those of the kept version ``kept`` (a Kept, or
    None) where it does not share them."""
    result = {"maps": [], "programs": []}
    after = {"maps": {}, "programs": {}, "estimate": {"maps": {}, "programs": {}}}
    for lm in sorted(loaded.maps.values(), key=lambda m: m.name):
        entry = lm.as_dict()
        entry["pin"] = os.path.join(pins.live, MAPS_DIR, os.path.basename(lm.pin))
        entry["type"] = uapi.MAP_TYPE_NAMES.get(lm.type, lm.type)
        entry["action"] = p.map_actions.get(lm.name, ("create",))[0]
        entry["migrated_entries"] = migrated.get(lm.name)
        info = syscalls.fdinfo(lm.fd)
        after["maps"][pin_name(lm.name)] = info.memlock
        entry["memlock_estimate"] = after["estimate"]["maps"][pin_name(lm.name)] = estimate_live_map(lm.fd, info)
        result["maps"].append(entry)
    for lp in sorted(loaded.programs.values(), key=lambda p: p.name):
        entry = lp.as_dict()
        entry["pin"] = os.path.join(pins.live, PROGS_DIR, os.path.basename(lp.pin))
        entry["type"] = uapi.PROG_TYPE_NAMES.get(lp.type, lp.type)
        after["programs"][pin_name(lp.name)] = lp.memlock
        entry["memlock_estimate"] = after["estimate"]["programs"][pin_name(lp.name)] = estimate_live_program(lp.fd)
        result["programs"].append(entry)
    if kept is not None:
        extra = memlock_figures({}, {}, kept, live_ids=set(lm.id for lm in loaded.maps.values()))
        for kind in ("maps", "programs"):
            after[kind].update(extra[kind])
            after["estimate"][kind].update(extra["estimate"][kind])
    result["memlock_after"] = after
    return result
