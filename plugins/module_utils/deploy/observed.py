# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is pinned for one collection now, read from the kernel once and
kept as plain data (no file descriptors), so that plan() is a pure function
that unit tests can feed by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state, state_map_id
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    MAPS_DIR, PROGS_DIR, SHARED_DIR, open_pinned, planted_symlinks)
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import (
    estimate_live_map, estimate_live_program)

# What plan() and the results need of each pinned map and program.
_MAP_FIELDS = ("id", "path", "type", "key_size", "value_size", "max_entries", "flags", "memlock")
_PROG_FIELDS = ("id", "path", "type", "tag", "memlock")


class Kept:
    """The kept version (the previous one, loaded but unattached): its
    ``record``, ``maps`` and ``programs`` (as Observed's) and ``state_id``
    (the id of its state map, which names this very load)."""

    def __init__(self, record, maps, programs, state_id=None):
        self.record = record
        self.maps = maps
        self.programs = programs
        self.state_id = state_id

    def names(self, kind):
        """{pin name: the object's own name} for 'maps' or 'programs'."""
        return dict((e.get("pin"), n) for n, e in (self.record.get(kind) or {}).items())

    def unshared(self, live_ids):
        """(maps, programs) of this version not shared with the live one
        (whose map ids are ``live_ids``; maps it reused are the same kernel
        objects): what keeping it costs."""
        return (dict((n, o) for n, o in self.maps.items() if o["id"] not in live_ids), self.programs)


class Observed:
    """``exists`` (the live version's directory is there), ``record`` (its
    state record, or None), ``maps`` and ``programs`` ({pin name: {id,
    path, type, ..., memlock, memlock_estimate}}), ``symlinks`` (planted
    symlinks among the pins), ``problems`` (why the version does not
    match its own record), ``kept`` (the kept previous version, a Kept,
    or None) and ``shared_ids`` (for each map the record shares with other
    collections, the id of the map pinned under pin_root/shared; None:
    none is)."""

    def __init__(self, exists, record, maps, programs, symlinks=(), kept=None, shared_ids=None):
        self.exists = exists
        self.record = record
        self.maps = maps
        self.programs = programs
        self.symlinks = list(symlinks)
        self.kept = kept
        self.shared_ids = shared_ids or {}
        self.problems = self._check()

    def _check(self):
        if not self.exists:
            return []
        problems = ["'%s' is a symbolic link (ebpf.deploy makes none; it is removed, never followed)" % path
                    for path in self.symlinks]
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
        for pin, shared_id in sorted(self.shared_ids.items()):
            own = self.maps.get(pin)
            if own is not None and own["id"] != shared_id:
                problems.append("shared map '%s': %s under pin_root/shared, this collection uses map id %d" % (
                    pin, "missing" if shared_id is None else "map id %d" % shared_id, own["id"]))
        return problems

    def memlock(self):
        """The kernel's figures and our estimates, as memlock_delta takes them;
        the kept version's objects (those it does not share with the live
        one) are counted too, named ``kept/<pin>``."""
        return memlock_figures(self.maps, self.programs, self.kept)

    def names(self, kind):
        """{pin name: the object's own name} for 'maps' or 'programs'."""
        return dict((e.get("pin"), n) for n, e in ((self.record or {}).get(kind) or {}).items())


def memlock_figures(maps, programs, kept=None, live_ids=None):
    """memlock_delta's figures of a version's maps and programs, with those
    of the kept version ``kept`` it does not share (``kept/<pin>``;
    ``live_ids``: the live map ids, default those of ``maps``)."""
    figures = {"maps": {}, "programs": {}, "estimate": {"maps": {}, "programs": {}}}
    sides = [("", maps, programs)]
    if kept is not None:
        ids = live_ids if live_ids is not None else set(o["id"] for o in maps.values())
        sides.append(("kept/",) + kept.unshared(ids))
    for prefix, side_maps, side_programs in sides:
        for kind, objs in (("maps", side_maps), ("programs", side_programs)):
            for n, o in objs.items():
                figures[kind][prefix + n] = o["memlock"]
                figures["estimate"][kind][prefix + n] = o["memlock_estimate"]
    return figures


def observe(pins):
    """Read what is pinned for collection ``pins`` (a CollectionPins)."""
    exists = os.path.isdir(pins.live)
    record = read_state(pins.live) if exists else None
    maps = _read(os.path.join(pins.live, MAPS_DIR), "map", _MAP_FIELDS)
    programs = _read(os.path.join(pins.live, PROGS_DIR), "prog", _PROG_FIELDS)
    shared_ids = dict((pin, _map_id(os.path.join(pins.pin_root, SHARED_DIR, pin)))
                      for pin in (record or {}).get("shared") or ())
    return Observed(exists, record, maps, programs, planted_symlinks(pins.live) if exists else (),
                    kept=observe_kept(pins.kept), shared_ids=shared_ids)


def observe_kept(directory):
    """The Kept version pinned in ``directory``, or None when there is none
    (or it has no state record of ours)."""
    if not os.path.isdir(directory) or os.path.islink(directory):
        return None
    record = read_state(directory)
    if record is None:
        return None
    return Kept(record, _read(os.path.join(directory, MAPS_DIR), "map", _MAP_FIELDS),
                _read(os.path.join(directory, PROGS_DIR), "prog", _PROG_FIELDS), state_map_id(directory))


def _map_id(path):
    """The id of the map pinned at ``path``, or None."""
    try:
        fd = syscalls.obj_get(path)
    except SyscallError:
        return None
    try:
        return syscalls.map_info(fd, what=path).id
    except SyscallError:
        return None
    finally:
        os.close(fd)


def _read(directory, kind, fields):
    out = {}
    for pin, obj in open_pinned(directory, kind).items():
        try:
            entry = dict((k, obj[k]) for k in fields)
            if kind == "map":
                info = syscalls.map_info(obj["fd"], what=obj["path"])
                entry.update(btf_id=info.btf_id, btf_key_type_id=info.btf_key_type_id,
                             btf_value_type_id=info.btf_value_type_id)
                entry["memlock_estimate"] = estimate_live_map(obj["fd"], obj["fdinfo"])
            else:
                entry["memlock_estimate"] = estimate_live_program(obj["fd"])
        finally:
            os.close(obj["fd"])
        out[pin] = entry
    return out
