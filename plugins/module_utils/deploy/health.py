# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a deployed collection healthy (bpf_health's backend)? Only reads.

Three kinds of check, each with its own result and reason:

- links: every pinned link of the live version runs a program of the live
  version (by the program id the kernel reports for the link);
- runs: every attached program (or those named) ran at least ``min_runs``
  times within the window. Run counts come from the kernel's statistics,
  which BPF_ENABLE_STATS (5.8+) turns on for as long as its fd is open:
  run_cnt is read (BPF_OBJ_GET_INFO_BY_FD) before and after the window, then
  the fd is closed, so kernel.bpf_stats_enabled is left as it was;
- maps: an entry exists at a key, and (``grows``) its value, or one member
  of it, is larger at the end of the window than at its start.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import PinnedMap, map_path
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.names import DEFAULT_PIN_ROOT
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record, read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    LINKS_DIR, PROGS_DIR, CollectionPins, list_dir)

STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
MAX_WINDOW = 3600

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    pin_root=dict(type="path", default=DEFAULT_PIN_ROOT),
    window=dict(type="float", default=5.0),
    min_runs=dict(type="int", default=1),
    programs=dict(type="list", elements="str"),
    links=dict(type="bool", default=True),
    maps=dict(type="list", elements="dict", default=[], options=dict(
        map=dict(type="str", required=True),
        key=dict(type="raw", required=True, no_log=False),   # a map key, not a secret
        exists=dict(type="bool", default=True),
        grows=dict(type="bool", default=False),
        field=dict(type="str"),
    )),
)


def check_health(name, pin_root=DEFAULT_PIN_ROOT, window=5.0, min_runs=1, programs=None, links=True, maps=()):
    """Run the checks; returns {'healthy', 'reasons', 'checks', 'window',
    'collection'}. A check that fails is a result, not an error; raises
    LoaderError only for bad options (naming the option), before the window."""
    if not 0 <= window <= MAX_WINDOW:
        raise SpecError("window %r: want 0 to %d seconds" % (window, MAX_WINDOW))
    if min_runs < 0:
        raise SpecError("min_runs %r: must not be negative" % (min_runs,))
    pins = CollectionPins(pin_root, name)
    pins.check()
    result = {"collection": name, "window": window, "checks": []}
    record = read_state(pins.live) if os.path.isdir(pins.live) else None
    if record is None:
        return _verdict(result, [{"check": "deployed", "ok": False,
                                  "reason": "collection '%s' is not deployed in %s" % (name, pin_root)}])
    attached = _links(pins.live, record)
    checks = []
    if links:
        checks.extend(attached)
    if programs is not None:
        names = list(programs)
    else:   # every attached program; none in a window of 0 (nothing can run in it)
        names = sorted(set(c["program"] for c in attached if c.get("program"))) if window else []
    for program in names:
        if program not in record.get("programs", {}):
            raise SpecError("programs: '%s' is not a program of collection '%s' (it has %s)" % (
                program, name, ", ".join(sorted(record.get("programs", {}))) or "none"))
    conditions = [_MapCondition(pin_root, name, i, m) for i, m in enumerate(maps or ())]
    try:
        checks.extend(_watch(pins.live, record, names, attached, min_runs, window, conditions))
    finally:
        for c in conditions:
            c.close()
    return _verdict(result, checks)


def _verdict(result, checks):
    result["checks"] = checks
    result["reasons"] = [c["reason"] for c in checks if not c["ok"]]
    result["healthy"] = not result["reasons"]
    return result


def _links(version, record):
    """One check per pinned link: it runs a program of the live version."""
    by_id = dict((e["id"], n) for n, e in record.get("programs", {}).items())
    out = []
    directory = os.path.join(version, LINKS_DIR)
    for link in list_dir(directory) if not os.path.islink(directory) else []:
        path = os.path.join(directory, link)
        if os.path.islink(path):
            continue
        fd = syscalls.obj_get(path)
        try:
            if syscalls.fdinfo(fd).kind == "map":
                # A netlink tc attachment's record: it names the program's pin.
                entry = read_record(path) or {}
                program = next((n for n, e in record.get("programs", {}).items()
                                if e.get("pin") == entry.get("program")), None)
                out.append({"check": "link", "link": link, "program": program, "ok": program is not None,
                            "reason": None if program else "link '%s': its tc filter's program is not in the live "
                                                           "version" % link})
                continue
            prog_id = syscalls.link_info(fd, what="link '%s'" % link).prog_id
        finally:
            os.close(fd)
        program = by_id.get(prog_id)
        out.append({"check": "link", "link": link, "program": program, "program_id": prog_id,
                    "ok": program is not None,
                    "reason": None if program else "link '%s' runs program id %d, which is not a program of the "
                                                   "live version" % (link, prog_id)})
    return out


def _run_counts(version, record, names):
    counts = {}
    for program in names:
        path = os.path.join(version, PROGS_DIR, record["programs"][program]["pin"])
        fd = syscalls.obj_get(path)
        try:
            counts[program] = syscalls.prog_info(fd, what="program '%s'" % program).run_cnt
        finally:
            os.close(fd)
    return counts


def _enable_stats():
    """(fd or None, why the counts cannot be had or None)."""
    try:
        return syscalls.enable_stats(), None
    except SyscallError as e:
        if _stats_sysctl() == "1":
            return None, None   # counting already, for everyone
        if e.errno in (errno.EINVAL, errno.ENOSYS):
            return None, "run counts need BPF_ENABLE_STATS (Linux 5.8+) or kernel.bpf_stats_enabled=1"
        return None, "run counts could not be enabled: %s" % e


def _stats_sysctl():
    try:
        with open(STATS_SYSCTL) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def _watch(version, record, names, attached, min_runs, window, conditions):
    """Read run counts and map values, wait ``window`` seconds, read them
    again: the runs and map checks."""
    linked = set(c["program"] for c in attached if c.get("program"))
    stats_fd, why = _enable_stats() if names else (None, None)
    try:
        before = _run_counts(version, record, names) if why is None else {}
        for c in conditions:
            c.start()
        if window:
            time.sleep(window)
        after = _run_counts(version, record, names) if why is None else {}
        for c in conditions:
            c.end()
    finally:
        if stats_fd is not None:
            os.close(stats_fd)
    checks = []
    for program in names:
        check = {"check": "runs", "program": program, "min_runs": min_runs}
        if program not in linked:
            check.update(ok=False, reason="program '%s' is not attached (no link of the live version runs it)" %
                         program)
        elif why is not None:
            check.update(ok=False, reason="program '%s': %s" % (program, why))
        else:
            runs = after[program] - before[program]
            check.update(runs=runs, ok=runs >= min_runs)
            check["reason"] = None if check["ok"] else "program '%s' ran %d times in %gs, fewer than %d" % (
                program, runs, window, min_runs)
        checks.append(check)
    checks.extend(c.result() for c in conditions)
    return checks


class _MapCondition:
    """One ``maps`` item: an entry at ``key`` exists and (``grows``) its
    value, or its member ``field``, grew over the window."""

    def __init__(self, pin_root, collection, index, spec):
        self.what = "maps[%d] (map '%s')" % (index, spec.get("map"))
        if not spec.get("map"):
            raise SpecError("maps[%d]: map is required" % index)
        self.spec = dict(exists=True, grows=False, field=None)
        self.spec.update((k, v) for k, v in spec.items() if v is not None)
        ref = spec["map"] if spec["map"].startswith("/") else "%s/%s" % (collection, spec["map"])
        path = map_path(pin_root, ref)
        try:
            self.m = PinnedMap(path)
        except LoaderError as e:
            raise SpecError("%s: %s" % (self.what, e)) from e
        try:
            self.key = self.m.encode_key(spec["key"], {}, self.what)
        except LoaderError:
            self.m.close()
            raise
        self.first = self.last = None

    def close(self):
        self.m.close()

    def _read(self):
        raw = syscalls.map_lookup(self.m.fd, self.key, self.m.lookup_size, what=self.what)
        return None if raw is None else self.m.decode_value(raw, {})

    def start(self):
        self.first = self._read()

    def end(self):
        self.last = self._read()

    def _number(self, value):
        if self.spec["field"]:
            if not isinstance(value, dict) or self.spec["field"] not in value:
                raise SpecError("%s: field '%s' is not a member of its value" % (self.what, self.spec["field"]))
            value = value[self.spec["field"]]
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            return sum(value)   # per-CPU values
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError("%s: grows needs a number (give field for a struct value), the value is %r" % (
                self.what, value))
        return value

    def result(self):
        out = {"check": "map", "map": self.spec["map"], "key": self.spec["key"]}
        exists = self.last is not None
        if self.spec["exists"] != exists:
            out.update(ok=False, reason="%s: the entry at key %r %s" % (
                self.what, self.spec["key"], "does not exist" if self.spec["exists"] else "exists"))
            return out
        if self.spec["grows"]:
            if self.first is None or self.last is None:
                out.update(ok=False, reason="%s: no entry at key %r to grow" % (self.what, self.spec["key"]))
                return out
            first, last = self._number(self.first), self._number(self.last)
            out.update(before=first, after=last, ok=last > first)
            out["reason"] = None if out["ok"] else "%s: the value at key %r did not grow (%d -> %d)" % (
                self.what, self.spec["key"], first, last)
            return out
        out.update(ok=True, reason=None)
        return out
