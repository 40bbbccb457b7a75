# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one collection on a host: observe, plan, apply.

``plan()`` compares the desired state (object checksum + normalised
options) with what is pinned under ``pin_root/name`` and decides; it reads
only bpffs and the object file, never kernel BTF, so the no-op run of a
fleet is cheap. The loader's modules are imported only when something is
to be loaded: inside AnsiballZ every imported module is compiled on each
run, and a no-op run needs none of them. ``apply()`` is the only place that changes kernel state:
it builds the new version in ``name__staging`` (reusing compatible maps so
their data survives, copying entries into resized ones), then swaps the
two directories atomically and removes the old version. A failure before
the swap leaves the host as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.lock import collection_lock
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.migrate import COPYABLE_TYPES, copy_entries
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import STATE_PIN, create_state_map, read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    CollectionPins, LINKS_DIR, LINK_REQUESTS_DIR, MAPS_DIR, PROGS_DIR, exchange, make_dirs, open_pinned, pin_name,
    planted_symlinks, remove_tree)
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import memlock_delta, memlock_shortfall
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import (
    estimate_live_map, estimate_live_program)

# Maps whose contents are program or map references of one version:
# they are rebuilt with every version, never carried over.
_NEVER_REUSED = frozenset((uapi.BPF_MAP_TYPE_PROG_ARRAY, uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
                           uapi.BPF_MAP_TYPE_RINGBUF))
INCOMPATIBLE_POLICIES = ("migrate", "recreate", "fail")


class ObjectNeeded(LoaderError):
    """Raised by plan() when only the object's digest was given and the
    collection must change: the caller sends the object and asks again."""


class Desired:
    """What the caller asks for (the module's options, checked)."""

    def __init__(self, name, pin_root, path=None, state="present", maps=None, prealloc=None, constants=None,
                 programs=None, btf_path=None, on_incompatible_map="migrate", kernel_btf=None, btf_cache="none",
                 run_id=None, object_sha256=None, source=None):
        self.name = name
        self.pin_root = pin_root
        self.path = path
        # The object's digest, for a caller that has not got the object
        # itself (yet): enough to find that nothing changed.
        self.object_sha256 = object_sha256
        # What errors call the object: the user's src, not the temporary
        # file it arrived in.
        self.source = source
        self.state = state
        self.maps = maps or {}
        self.prealloc = prealloc
        self.constants = constants or {}
        self.programs = sorted(programs) if programs else None
        self.btf_path = btf_path
        if on_incompatible_map not in INCOMPATIBLE_POLICIES:
            raise SpecError("on_incompatible_map %r: want one of %s" % (
                on_incompatible_map, ", ".join(INCOMPATIBLE_POLICIES)))
        self.on_incompatible_map = on_incompatible_map
        self.kernel_btf = kernel_btf
        self.btf_cache = btf_cache
        self.run_id = run_id

    def options(self):
        """The options that define the deployed state, normalised."""
        maps = dict((n, dict((k, v) for k, v in sorted((s or {}).items()) if v is not None))
                    for n, s in sorted(self.maps.items()))
        return {"maps": maps, "prealloc": self.prealloc, "constants": self.constants, "programs": self.programs,
                "btf_path": self.btf_path}


class Observed:
    """What is pinned for the collection now."""

    def __init__(self, pins):
        self.pins = pins
        self.record = read_state(pins.live) if os.path.isdir(pins.live) else None
        self.exists = os.path.isdir(pins.live)
        self.maps = open_pinned(os.path.join(pins.live, MAPS_DIR), "map")
        self.programs = open_pinned(os.path.join(pins.live, PROGS_DIR), "prog")
        self.problems = self._check()

    def _check(self):
        """Why the pinned version does not match its own record ([] if it does)."""
        if not self.exists:
            return []
        problems = ["'%s' is a symbolic link (ebpf.deploy makes none; it is removed, never followed)" % path
                    for path in planted_symlinks(self.pins.live)]
        if self.record is None:
            return problems + ["no state record (not deployed by ebpf.deploy, or damaged)"]
        for kind, recorded, pinned in (("map", self.record.get("maps", {}), self.maps),
                                       ("program", self.record.get("programs", {}), self.programs)):
            for name, entry in sorted(recorded.items()):
                obj = pinned.get(entry.get("pin"))
                if obj is None:
                    problems.append("%s '%s': pin missing" % (kind, name))
                elif obj["id"] != entry.get("id"):
                    problems.append("%s '%s': pinned id %d, recorded %s" % (kind, name, obj["id"], entry.get("id")))
            extra = set(pinned) - set(e.get("pin") for e in recorded.values())
            for pin in sorted(extra):
                problems.append("%s pin '%s' not in the record" % (kind, pin))
        return problems

    def memlock(self):
        """The kernel's figures and our estimates, as memlock_delta takes them."""
        return {"maps": dict((n, o["memlock"]) for n, o in self.maps.items()),
                "programs": dict((n, o["memlock"]) for n, o in self.programs.items()),
                "estimate": {"maps": dict((n, self.estimate(o)) for n, o in self.maps.items()),
                             "programs": dict((n, self.estimate(o)) for n, o in self.programs.items())}}

    @staticmethod
    def estimate(obj):
        if "memlock_estimate" not in obj:
            obj["memlock_estimate"] = (estimate_live_map(obj["fd"], obj["fdinfo"]) if "map_id" in obj["fdinfo"]
                                       else estimate_live_program(obj["fd"]))
        return obj["memlock_estimate"]

    def close(self):
        for obj in list(self.maps.values()) + list(self.programs.values()):
            os.close(obj["fd"])
        self.maps, self.programs = {}, {}


class Plan:
    """The decision: ``action`` is 'none', 'create', 'replace' or 'remove';
    ``reasons`` say why; ``maps`` gives per map what happens to its data."""

    def __init__(self, action, reasons, spec=None, data=None, map_actions=None, warnings=None):
        self.action = action
        self.reasons = reasons
        self.spec = spec
        self.data = data
        self.map_actions = map_actions or {}
        self.warnings = warnings or []

    @property
    def changed(self):
        return self.action != "none"


def _read_object(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise LoaderError("object '%s': cannot read: %s" % (path, e.strerror or e))


def plan(desired, observed):
    """Decide what to do; reads the object but changes nothing."""
    if desired.state == "absent":
        if observed.exists or os.path.isdir(observed.pins.staging):
            return Plan("remove", ["collection is deployed; state is absent"])
        return Plan("none", [])
    data = _read_object(desired.path) if desired.path is not None else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else desired.object_sha256
    record = observed.record
    if observed.exists and not observed.problems and record is not None and \
            record.get("object_sha256") == digest and record.get("options") == _jsonable(desired.options()):
        return Plan("none", [])
    if data is None:
        raise ObjectNeeded("collection '%s': the object is needed to change it" % desired.name)
    reasons = []
    if not observed.exists:
        reasons.append("not deployed")
    else:
        reasons.extend(observed.problems)
        if record is not None and record.get("object_sha256") != digest:
            reasons.append("object changed")
        if record is not None and record.get("options") != _jsonable(desired.options()):
            reasons.append("options changed")
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_constants import set_constants
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_map_options import apply_map_settings
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object_bytes

    spec = read_object_bytes(data, desired.source or os.path.basename(desired.path))
    warnings = apply_map_settings(spec, desired.maps, desired.prealloc)
    set_constants(spec, desired.constants)
    if desired.programs:
        for name in desired.programs:
            spec.program(name)
    map_actions = {}
    live_btf = {}
    for m in spec.maps.values():
        old = observed.maps.get(pin_name(m.name))
        if m.kind not in ("btf", "legacy") or m.type in _NEVER_REUSED or old is None:
            map_actions[m.name] = ("create", None)
            continue
        same = (old["type"] == m.type and old["key_size"] == m.key_size and old["value_size"] == m.value_size
                and old["max_entries"] == m.max_entries and old["flags"] == m.flags)
        changes, not_compared = [], None
        if old["type"] == m.type and old["key_size"] == m.key_size and old["value_size"] == m.value_size:
            # The bytes would carry over: they must mean the same to the new programs.
            changes, not_compared = _layout_changes(old, m, spec, live_btf)
        if not_compared:
            reasons.append("map '%s': key/value layouts not compared (%s)" % (m.name, not_compared))
            warnings.append("map '%s': its key and value layouts could not be compared (%s); it is reused as its "
                            "sizes match, so make sure the new programs read its entries the same way" % (
                                m.name, not_compared))
        if changes:
            if desired.on_incompatible_map == "recreate":
                map_actions[m.name] = ("recreate", old)
                reasons.append("map '%s': layout changed (%s); recreated empty" % (m.name, "; ".join(changes)))
                continue
            raise SpecError("map '%s': the layout of its entries changed (%s); the new programs would misread every "
                            "entry of the live map, so it is not reused" % (m.name, "; ".join(changes)),
                            hint="use on_incompatible_map: recreate to start the map empty")
        if same:
            map_actions[m.name] = ("reuse", old)
        elif desired.on_incompatible_map == "fail":
            raise SpecError("map '%s': live map (%s) differs from the desired one (%s) and on_incompatible_map "
                            "is fail" % (m.name, _describe_old(old), _describe_spec(m)))
        elif desired.on_incompatible_map == "recreate" or m.type not in COPYABLE_TYPES:
            map_actions[m.name] = ("recreate", old)
        elif old["type"] != m.type or old["key_size"] != m.key_size or old["value_size"] != m.value_size:
            raise SpecError("map '%s': cannot migrate entries from %s to %s (type or key/value size changed); "
                            "use on_incompatible_map: recreate to start it empty" % (
                                m.name, _describe_old(old), _describe_spec(m)))
        else:
            map_actions[m.name] = ("migrate", old)
    return Plan("replace" if observed.exists else "create", reasons, spec, data, map_actions, warnings)


def _layout_changes(old, m, spec, live_btf):
    """(differences, why not compared) between the key and value types of
    live map ``old`` and of spec map ``m``, through each side's BTF.
    ``live_btf`` caches the kernel BTF objects read (maps share them)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import layout_differences, type_title
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF

    info = syscalls.map_info(old["fd"], what="map '%s'" % m.name)
    if not info.btf_id or not (info.btf_key_type_id or info.btf_value_type_id):
        return [], "the live map has no BTF"
    if spec.btf is None or not (m.btf_key_type_id or m.btf_value_type_id):
        return [], "the new object gives the map no BTF"
    if info.btf_id not in live_btf:
        live_btf[info.btf_id] = BTF.from_bytes(syscalls.btf_raw_by_id(info.btf_id), name="map '%s'" % m.name)
    old_btf = live_btf[info.btf_id]
    changes, missing = [], []
    for part, old_id, new_id in (("key", info.btf_key_type_id, m.btf_key_type_id),
                                 ("value", info.btf_value_type_id, m.btf_value_type_id)):
        if not old_id or not new_id:
            if old_id or new_id:
                missing.append("%s: one side has no BTF type" % part)
            continue
        differences = layout_differences(old_btf, old_id, spec.btf, new_id)
        if differences:
            changes.append("%s: %s: %s" % (part, type_title(old_btf, old_id), ", ".join(differences)))
    return changes, "; ".join(missing) or None


def _describe_old(old):
    return "%s, max_entries %d, flags %#x" % (uapi.MAP_TYPE_NAMES.get(old["type"], old["type"]),
                                              old["max_entries"], old["flags"])


def _describe_spec(m):
    return "%s, max_entries %d, flags %#x" % (uapi.MAP_TYPE_NAMES.get(m.type, m.type), m.max_entries, m.flags)


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True))


def diff(desired, observed, p):
    """before/after of map settings and program tags, for --diff."""
    before = {"maps": dict((n, _describe_old(o)) for n, o in observed.maps.items()),
              "programs": dict((n, o["tag"]) for n, o in observed.programs.items())}
    if p.action == "remove":
        return {"before": before, "after": {"maps": {}, "programs": {}}}
    if p.spec is None:
        return {"before": before, "after": before}
    maps = {}
    for name, m in p.spec.maps.items():
        action = p.map_actions.get(name, ("create",))[0]
        maps[pin_name(name)] = _describe_spec(m) + ("" if action == "create" else " (%s)" % action)
    programs = desired.programs or list(p.spec.programs)
    return {"before": before, "after": {"maps": maps, "programs": dict((pin_name(n), "(new)") for n in programs)}}


def apply(desired, observed, p):
    """Carry out ``p``; returns {'maps': [...], 'programs': [...],
    'migrated': {map: entries}}. Raises LoaderError; before the swap a
    failure removes the staging version and leaves the live one alone."""
    pins = observed.pins
    if p.action == "remove":
        _detach_netlink(pins.live)
        remove_tree(pins.live)
        remove_tree(pins.staging)
        return {"maps": [], "programs": [], "migrated": {}}
    pins.make_root()
    remove_tree(pins.staging)
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import make_cache
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection

    reuse = dict((name, old["fd"]) for name, (action, old) in p.map_actions.items() if action == "reuse")
    kernel_btf = desired.kernel_btf
    if kernel_btf is None:
        cache = make_cache(desired.btf_cache, run_id=desired.run_id)
        kernel_btf = KernelBTF(btf_path=desired.btf_path, cache=cache)
    loaded = None
    try:
        try:
            loaded = load_collection(p.spec, pin_dir=pins.staging, programs=desired.programs,
                                     kernel_btf=kernel_btf, reuse_maps=reuse)
        except SyscallError as e:
            shortfall = memlock_shortfall(p.spec, str(e), desired.programs) if e.errno == errno.EPERM else None
            if shortfall is None:
                raise
            raise shortfall
        migrated = {}
        for name, (action, old) in sorted(p.map_actions.items()):
            if action == "migrate":
                m = p.spec.maps[name]
                migrated[name] = copy_entries(old["fd"], loaded.maps[name].fd, m.type, m.key_size, m.value_size,
                                              m.max_entries, name)
        record = {
            "object_sha256": hashlib.sha256(p.data).hexdigest(),
            "options": desired.options(),
            "maps": dict((n, {"id": lm.id, "pin": os.path.basename(lm.pin)}) for n, lm in loaded.maps.items()),
            "programs": dict((n, {"id": lp.id, "pin": os.path.basename(lp.pin), "section": lp.section})
                             for n, lp in loaded.programs.items()),
        }
        state_fd = create_state_map(record)
        try:
            syscalls.obj_pin(state_fd, os.path.join(pins.staging, STATE_PIN))
        finally:
            os.close(state_fd)
        link_warnings = remake_links(pins, observed.record, record) if observed.exists else []
    except BaseException:
        if loaded is not None:
            loaded.close()
        remove_tree(pins.staging)
        raise
    try:
        if observed.exists:
            exchange(pins.staging, pins.live)
        else:
            os.rename(pins.staging, pins.live)
    except BaseException:
        loaded.close()
        remove_tree(pins.staging)
        raise
    # The new version is live; its predecessor, now in staging, still runs
    # behind its links until they are moved over, so no event goes unseen.
    try:
        link_warnings.extend(carry_links(pins.staging, observed.record, pins.live)[0])
    except LoaderError as e:
        loaded.close()
        raise _roll_back(pins, e)
    remove_tree(pins.staging)
    result = {"maps": [], "programs": [], "migrated": migrated}
    for lm in sorted(loaded.maps.values(), key=lambda m: m.name):
        entry = lm.as_dict()
        entry["pin"] = os.path.join(pins.live, MAPS_DIR, os.path.basename(lm.pin))
        entry["type"] = uapi.MAP_TYPE_NAMES.get(lm.type, lm.type)
        entry["action"] = p.map_actions.get(lm.name, ("create",))[0]
        entry["migrated_entries"] = migrated.get(lm.name)
        result["maps"].append(entry)
    for lp in sorted(loaded.programs.values(), key=lambda p: p.name):
        entry = lp.as_dict()
        entry["pin"] = os.path.join(pins.live, PROGS_DIR, os.path.basename(lp.pin))
        entry["type"] = uapi.PROG_TYPE_NAMES.get(lp.type, lp.type)
        result["programs"].append(entry)
    # Read again: maps without preallocation grow as entries are copied in.
    after = {"maps": {}, "programs": {}, "estimate": {"maps": {}, "programs": {}}}
    for entry in result["maps"]:
        m = loaded.maps[entry["name"]]
        info = syscalls.fdinfo(m.fd)
        after["maps"][pin_name(m.name)] = int(info.get("memlock", 0))
        entry["memlock_estimate"] = after["estimate"]["maps"][pin_name(m.name)] = estimate_live_map(m.fd, info)
    for entry in result["programs"]:
        pr = loaded.programs[entry["name"]]
        after["programs"][pin_name(pr.name)] = pr.memlock
        entry["memlock_estimate"] = after["estimate"]["programs"][pin_name(pr.name)] = estimate_live_program(pr.fd)
    result["memlock_after"] = after
    result["warnings"] = list(loaded.warnings) + link_warnings
    cache = kernel_btf.cache
    if cache is not None and cache.status is not None:
        result["btf_cache"] = {"status": cache.status, "size": cache.size, "path": cache.path}
        result["warnings"].extend(cache.warnings)
    loaded.close()
    return result


# Link types whose program BPF_LINK_UPDATE can replace in place; the
# others (perf events, raw and BTF tracepoints, multi links) are made again.
_REPOINTABLE = frozenset((uapi.BPF_LINK_TYPE_CGROUP, uapi.BPF_LINK_TYPE_ITER, uapi.BPF_LINK_TYPE_NETNS,
                          uapi.BPF_LINK_TYPE_XDP, uapi.BPF_LINK_TYPE_TCX, uapi.BPF_LINK_TYPE_NETKIT))


class LinkRewireError(LoaderError):
    """A link of the live version cannot be wired to the new one."""


def _pinned_links(version):
    """The names in ``version``'s links/ (symlinks left out: never ours)."""
    if os.path.islink(os.path.join(version, LINKS_DIR)):
        return []
    try:
        names = sorted(os.listdir(os.path.join(version, LINKS_DIR)))
    except OSError:
        return []
    return [n for n in names if not os.path.islink(os.path.join(version, LINKS_DIR, n))]


def _program_by_id(record):
    return dict((e["id"], (name, e["pin"])) for name, e in (record or {}).get("programs", {}).items())


def _prog_type(path):
    fd = syscalls.obj_get(path)
    try:
        return int(syscalls.fdinfo(fd)["prog_type"])
    finally:
        os.close(fd)


def remake_links(pins, old_record, new_record):
    """Before the swap: every link of the live version is checked against
    the staging one, and the links the kernel cannot re-point are made
    again there, each for the program of the same name (new before old: the
    old link goes with the old version). A link that cannot be re-wired
    fails the upgrade here, while the live version is untouched. Returns
    warnings (links whose program the new version no longer has)."""
    old, new = pins.live, pins.staging
    by_id = _program_by_id(old_record)
    warnings = []
    for name in _pinned_links(old):
        lfd = syscalls.obj_get(os.path.join(old, LINKS_DIR, name))
        try:
            if "map_type" in syscalls.fdinfo(lfd):
                continue  # the record of a netlink attachment: replaced after the swap
            info = syscalls.link_info(lfd)
        finally:
            os.close(lfd)
        program, pin = by_id.get(info.prog_id, (None, None))
        if program is None:
            raise LinkRewireError("link '%s' runs program id %d, which is not in the live version's record" % (
                name, info.prog_id))
        new_entry = new_record["programs"].get(program)
        if new_entry is None:
            warnings.append("link '%s': its program '%s' is not in the new version; the link is detached" % (
                name, program))
            continue
        old_type = _prog_type(os.path.join(old, PROGS_DIR, pin))
        new_type = _prog_type(os.path.join(new, PROGS_DIR, new_entry["pin"]))
        if old_type != new_type:
            raise LinkRewireError("link '%s': program '%s' was a %s program and is a %s program in the new "
                                  "version, which the link cannot run" % (
                                      name, program, uapi.PROG_TYPE_NAMES.get(old_type, old_type),
                                      uapi.PROG_TYPE_NAMES.get(new_type, new_type)))
        if info.type in _REPOINTABLE:
            continue
        _remake_link(pins, old, new, new_record, name, program)
    return warnings


def carry_links(src, src_record, dst):
    """Move the links pinned in version ``src`` to version ``dst``: each is
    pointed at ``dst``'s program of the same name (BPF_LINK_UPDATE, atomic
    per link, and only if it still runs ``src``'s program) and pinned in
    ``dst``. Links ``dst`` already has are left alone. Returns (warnings,
    undo): warnings for links whose program ``dst`` lacks (they go when
    ``src`` is removed), and the steps that put each moved link back.
    On an error the links moved so far are put back before it is raised."""
    dst_links = os.path.join(dst, LINKS_DIR)
    by_id = _program_by_id(src_record)
    dst_record = read_state(dst)
    warnings, undo = [], []
    try:
        for name in _pinned_links(src):
            if os.path.lexists(os.path.join(dst_links, name)):
                continue
            lfd = syscalls.obj_get(os.path.join(src, LINKS_DIR, name))
            try:
                if "map_type" in syscalls.fdinfo(lfd):
                    # Not a link: the record of a netlink attachment.
                    warnings.extend(_carry_netlink(src, dst, name, lfd, undo))
                    continue
                info = syscalls.link_info(lfd)
                program, pin = by_id.get(info.prog_id, (None, None))
                if pin is None or not os.path.lexists(os.path.join(dst, PROGS_DIR, pin)):
                    warnings.append("link '%s': its program is not in the new version; the link is detached" %
                                    name)
                    continue
                if info.type not in _REPOINTABLE:
                    _remake_link(None, src, dst, dst_record, name, program)
                    continue
                new_fd = syscalls.obj_get(os.path.join(dst, PROGS_DIR, pin))
                old_fd = syscalls.obj_get(os.path.join(src, PROGS_DIR, pin))
                try:
                    syscalls.link_update(lfd, new_fd, old_prog_fd=old_fd, what="link '%s'" % name)
                    undo.append(_LinkBack(os.path.join(src, LINKS_DIR, name), os.path.join(src, PROGS_DIR, pin),
                                          os.path.join(dst, PROGS_DIR, pin), os.path.join(dst_links, name)))
                finally:
                    os.close(new_fd)
                    os.close(old_fd)
                make_dirs(dst_links)
                syscalls.obj_pin(lfd, os.path.join(dst_links, name))
                _carry_request(src, dst, name, program)
            finally:
                os.close(lfd)
    except BaseException:
        undo_links(undo)
        raise
    return warnings, undo


class _LinkBack:
    """Puts one re-pointed link back on its old program."""

    def __init__(self, link, old_prog, new_prog, new_pin):
        self.link, self.old_prog, self.new_prog, self.new_pin = link, old_prog, new_prog, new_pin

    def __call__(self):
        fds = [syscalls.obj_get(p) for p in (self.link, self.old_prog, self.new_prog)]
        try:
            syscalls.link_update(fds[0], fds[1], old_prog_fd=fds[2], what="link '%s'" % os.path.basename(self.link))
        finally:
            for fd in fds:
                os.close(fd)
        if os.path.lexists(self.new_pin):
            os.unlink(self.new_pin)


def undo_links(undo):
    """Run undo steps newest first; returns what could not be undone."""
    failed = []
    for step in reversed(undo):
        try:
            step()
        except (LoaderError, OSError) as e:
            failed.append(str(e))
    return failed


def _remake_link(pins, src, dst, dst_record, name, program):
    """Make link ``name`` of version ``src`` again in ``dst`` for its
    program ``program`` from the request record kept beside it; the old one
    stays attached until ``src`` is removed, so no event is missed."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import remake_link
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    record = read_record(os.path.join(src, LINK_REQUESTS_DIR, name))
    if not record:
        raise LinkRewireError("link '%s': its kernel type cannot be re-pointed and it has no request record" % name)
    if record.get("program") not in (None, program):
        raise LinkRewireError("link '%s' runs program '%s' but its request record names '%s'" % (
            name, program, record["program"]))
    pin_root, collection = os.path.split(pins.live if pins is not None else dst)
    try:
        remake_link(pin_root, collection, dst, dst_record, dict(record, name=name), program)
    except LoaderError as e:
        raise LinkRewireError("link '%s': %s" % (name, e), hint=e.hint)


def _roll_back(pins, error):
    """After the swap, a link could not be moved (carry_links has put the
    moved ones back): the previous version goes live again, the new one is
    removed. Returns the error to raise."""
    try:
        exchange(pins.staging, pins.live)
    except (LoaderError, OSError) as e:
        return LoaderError("collection '%s': upgrade failed after the swap (%s) and the previous version could not "
                           "be restored (%s); the next run repairs it" % (pins.name, error, e))
    remove_tree(pins.staging)
    return LoaderError("collection '%s': upgrade rolled back, the previous version is live again with every link "
                       "on its program: %s" % (pins.name, error), hint=error.hint)


def _carry_request(src, dst, name, program):
    """The request record of a moved link goes with it, naming its program
    (records of ``type: auto`` tasks before 0.2 named none)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    path = os.path.join(src, LINK_REQUESTS_DIR, name)
    if not os.path.lexists(path) or os.path.islink(path):
        return
    record = read_record(path)
    if record is not None and record.get("program") is None:
        record.pop("version", None)
        fd = create_state_map(dict(record, program=program))
    else:
        fd = syscalls.obj_get(path)
    try:
        requests = os.path.join(dst, LINK_REQUESTS_DIR)
        make_dirs(requests)
        syscalls.obj_pin(fd, os.path.join(requests, name))
    finally:
        os.close(fd)


def _detach_netlink(version):
    """Remove the tc filters a version attached through netlink: unlike
    links, they would outlive its pins."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    if os.path.islink(os.path.join(version, LINKS_DIR)):
        return
    try:
        names = os.listdir(os.path.join(version, LINKS_DIR))
    except OSError:
        return
    for name in names:
        if os.path.islink(os.path.join(version, LINKS_DIR, name)):
            continue
        record = read_record(os.path.join(version, LINKS_DIR, name))
        if record and record.get("netlink") == "tc":
            netlink_tc.detach(record["interface"], record["direction"], record["priority"], record["handle"],
                              "link '%s'" % name)


def _carry_netlink(src, dst, name, record_fd, undo):
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    record = read_record(os.path.join(src, LINKS_DIR, name))
    if not record or record.get("netlink") != "tc":
        return ["links/%s: neither a link nor an attachment record; left with the old version" % name]
    pin = record["program"]
    if not os.path.lexists(os.path.join(dst, PROGS_DIR, pin)):
        netlink_tc.detach(record["interface"], record["direction"], record["priority"], record["handle"],
                          "link '%s'" % name)
        return ["link '%s': its program is not in the new version; the tc filter is removed" % name]
    _replace_filter(record, os.path.join(dst, PROGS_DIR, pin), name)
    undo.append(lambda: _replace_filter(record, os.path.join(src, PROGS_DIR, pin), name))
    dst_links = os.path.join(dst, LINKS_DIR)
    make_dirs(dst_links)
    syscalls.obj_pin(record_fd, os.path.join(dst_links, name))
    return []


def _replace_filter(record, prog_pin, name):
    """Point a netlink tc filter at the program pinned at ``prog_pin``:
    replacing a filter at the same priority and handle is atomic."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc

    fd = syscalls.obj_get(prog_pin)
    try:
        prog_id = int(syscalls.fdinfo(fd)["prog_id"])
        netlink_tc.attach(record["interface"], record["direction"], fd,
                          netlink_tc.filter_name(os.path.basename(prog_pin), prog_id), record["priority"],
                          record["handle"], "link '%s'" % name)
    finally:
        os.close(fd)


def recover(pins):
    """Finish what an interrupted run left: a staging version beside a
    complete live one (built but never swapped in, or swapped out but not
    yet removed). Its links, if any, move to the live version first.
    Returns the reasons to report (empty when there was nothing)."""
    if not os.path.isdir(pins.staging):
        return []
    reasons = ["removed a version left in %s by an interrupted run" % pins.staging]
    live_record = read_state(pins.live) if os.path.isdir(pins.live) else None
    if live_record is None and read_state(pins.staging) is not None and not os.path.exists(pins.live):
        os.rename(pins.staging, pins.live)
        return ["finished the swap of a version an interrupted run had built"]
    if live_record is not None:
        reasons.extend(carry_links(pins.staging, read_state(pins.staging), pins.live)[0])
    remove_tree(pins.staging)
    return reasons


def converge(desired, check_mode=False):
    """The whole run for one collection: returns the module result dict.

    Raises LoaderError subclasses; the caller turns them into a failure.
    """
    pins = CollectionPins(desired.pin_root, desired.name)
    pins.check()
    with collection_lock(pins):
        return _converge(desired, pins, check_mode)


def _converge(desired, pins, check_mode):
    observed = None
    try:
        recovered = recover(pins) if not check_mode else []
        observed = Observed(pins)
        before = observed.memlock()
        p = plan(desired, observed)
        result = {"changed": p.changed or bool(recovered), "action": p.action, "reasons": recovered + p.reasons,
                  "warnings": list(p.warnings),
                  "diff": diff(desired, observed, p), "collection": desired.name, "pin_path": pins.live}
        if not p.changed or check_mode:
            result["maps"] = _observed_entries(observed, "maps")
            result["programs"] = _observed_entries(observed, "programs")
            after = before if not p.changed else {}
            result["bpf_memlock"] = memlock_delta(desired.name, before, after)
            return result
        applied = apply(desired, observed, p)
        result["maps"] = applied["maps"]
        result["programs"] = applied["programs"]
        result["warnings"].extend(applied.get("warnings", []))
        if "btf_cache" in applied:
            result["btf_cache"] = applied["btf_cache"]
        result["bpf_memlock"] = memlock_delta(desired.name, before, applied.get("memlock_after", {}))
        return result
    finally:
        if observed is not None:
            observed.close()


def _observed_entries(observed, kind):
    """The result entries of what is pinned, named as the object names them
    (the pin name apart), in name order like those of a load."""
    by_pin = dict((e.get("pin"), n) for n, e in ((observed.record or {}).get(kind) or {}).items())
    pinned = observed.maps if kind == "maps" else observed.programs
    names = uapi.MAP_TYPE_NAMES if kind == "maps" else uapi.PROG_TYPE_NAMES
    entries = []
    for pin, obj in pinned.items():
        entry = dict((k, v) for k, v in obj.items() if k not in ("fd", "path", "fdinfo"))
        entry["name"] = by_pin.get(pin, pin)
        entry["pin"] = obj["path"]
        entry["type"] = names.get(obj["type"], obj["type"])
        entries.append(entry)
    return sorted(entries, key=lambda e: e["name"])
