# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host can do with eBPF and what it runs: the ``bpf`` facts.

Subsets: ``host`` (kernel, BTF, bpffs, JIT and sysctls, memlock
accounting), ``features`` (probed map and program types, cached per
kernel), ``workload`` (every map and program loaded, with memlock, and
host totals) and ``collections`` (what ebpf.deploy manages under
pin_root, with each map's usage: memlock and, for hash-like maps, how full
it is). Reading the workload opens each object by id once; nothing is
created except by the feature probes, which close what they make.

Map pressure (``entries / max_entries``) is counted for the collections'
hash-like maps (hash, LRU and per-CPU hashes, hash of maps, LPM tries),
whose inserts fail (or, for LRU maps, evict) when they are full: with batch
lookups (thousands of entries per call, 5.6+), else one get_next_key call
per entry. ``pressure_warnings`` names the maps at or above a threshold.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.names import DEFAULT_PIN_ROOT
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    KEPT_SUFFIX, LINKS_DIR, MAPS_DIR, PROGS_DIR, open_pinned)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import value_buffer_size
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import (
    accounting_mode, footprint_figure, rlimit_memlock)
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import (
    estimate_live_map, estimate_live_program, estimate_program, fallback_layout)

SUBSETS = ("host", "features", "workload", "collections")
# bpf_facts's options, declared once (the module passes this to AnsibleModule).
# How full (percent of max_entries) a hash-like map may be before a warning.
PRESSURE_THRESHOLD = 90.0
ARGUMENT_SPEC = dict(
    gather_subset=dict(type="list", elements="str", default=["all"]),
    pin_root=dict(type="path", default=DEFAULT_PIN_ROOT),
    pressure_threshold=dict(type="float", default=PRESSURE_THRESHOLD),
)
FEATURE_CACHE_DIR = "/run/ebpf_deploy"
_SYSCTLS = {
    "bpf_jit_enable": "/proc/sys/net/core/bpf_jit_enable",
    "bpf_jit_harden": "/proc/sys/net/core/bpf_jit_harden",
    "bpf_jit_kallsyms": "/proc/sys/net/core/bpf_jit_kallsyms",
    "unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
    "bpf_stats_enabled": "/proc/sys/kernel/bpf_stats_enabled",
}


def select_subsets(requested):
    """The subsets ``gather_subset`` asks for ('all', names, '!name')."""
    chosen = set()
    for item in requested or ["all"]:
        if item == "all":
            chosen.update(SUBSETS)
        elif item.startswith("!"):
            continue
        elif item in SUBSETS:
            chosen.add(item)
        else:
            raise ValueError("gather_subset: unknown subset '%s' (want all, %s, or !name)" % (item, ", ".join(SUBSETS)))
    for item in requested or []:
        if item.startswith("!"):
            chosen.discard(item[1:])
    return chosen


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def host_facts():
    uname = os.uname()
    btf_dir = "/sys/kernel/btf"
    try:
        modules = len([n for n in os.listdir(btf_dir) if n != "vmlinux"])
    except OSError:
        modules = 0
    mounts = []
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "bpf":
                mounts.append(fields[1])
    sysctls = {}
    for name, path in _SYSCTLS.items():
        value = _read(path)
        sysctls[name] = int(value) if value is not None and value.lstrip("-").isdigit() else value
    return {
        "kernel": uname.release,
        "kernel_version": uname.version,
        "machine": uname.machine,
        "btf": {"vmlinux": os.path.exists(os.path.join(btf_dir, "vmlinux")), "modules": modules},
        "bpffs": mounts,
        "sysctl": sysctls,
        "memlock": {"accounting": accounting_mode(uname.release), "rlimit": rlimit_memlock(),
                    "footprint": footprint_figure(accounting_mode(uname.release))},
        "python": {"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                   "pyroute2": _importable("pyroute2")},
    }


def _importable(name):
    # Whether the package is installed, without the cost of importing it
    # (a search of sys.path, as the import system would do first).
    for entry in sys.path:
        base = os.path.join(entry or ".", name)
        if os.path.isdir(base) or os.path.isfile(base + ".py"):
            return True
    return False


# Parameters that let each map type be created for a probe.
def _probe_map(map_type):
    key, value, entries, flags = 4, 8, 1, 0
    if map_type == uapi.BPF_MAP_TYPE_LPM_TRIE:
        key, flags = 8, uapi.BPF_F_NO_PREALLOC
    elif uapi.is_queue_stack(map_type) or map_type == uapi.BPF_MAP_TYPE_BLOOM_FILTER:
        key = 0
    elif uapi.is_ringbuf(map_type):
        key, value, entries = 0, 0, 4096
    elif uapi.holds_fds(map_type) and not uapi.is_map_in_map(map_type):
        value = 4
    elif uapi.is_cgroup_storage(map_type):
        key, entries = 12, 0
    elif map_type == uapi.BPF_MAP_TYPE_STACK_TRACE:
        value = 8
    try:
        fd = syscalls.map_create(map_type, key, value, entries, flags, name="probe")
    except SyscallError as e:
        return e.errno != errno.EINVAL or None
    os.close(fd)
    return True


# "r0 = 0; exit": verified by every program type that exists.
_TRIVIAL = (insn.encode(uapi.BPF_ALU64 | uapi.BPF_MOV | uapi.BPF_K, dst=uapi.BPF_REG_0)
            + insn.encode(uapi.BPF_JMP | uapi.BPF_EXIT))


def _probe_prog(prog_type, expected_attach_type):
    try:
        fd = syscalls.prog_load(prog_type, _TRIVIAL, "GPL", name="probe",
                                expected_attach_type=expected_attach_type or 0)[0]
    except SyscallError as e:
        # EINVAL: the kernel does not know the type (or it needs an attach
        # target a trivial probe cannot give; those are judged by release).
        return e.errno != errno.EINVAL or None
    os.close(fd)
    return True


def feature_facts(cache_dir=FEATURE_CACHE_DIR):
    """Supported map and program types, probed once per kernel build and
    kept in ``cache_dir`` (root-only, written atomically)."""
    uname = os.uname()
    key = hashlib.sha256(("%s %s %s" % (uname.release, uname.version, uname.machine)).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, "features-%s.json" % key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            cached = json.load(f)
        if cached.get("kernel") == uname.release:
            cached["cached"] = True
            return cached
    except (IOError, OSError, ValueError):
        pass
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.sections import SECTION_DEFS
    attach_for = {}
    for d in SECTION_DEFS:
        attach_for.setdefault(d.prog_type, d.expected_attach_type)
    maps = dict((name, _probe_map(t)) for t, name in sorted(uapi.MAP_TYPE_NAMES.items()) if t)
    progs = dict((name, _probe_prog(t, attach_for.get(t))) for t, name in sorted(uapi.PROG_TYPE_NAMES.items()) if t)
    facts = {
        "kernel": uname.release,
        "map_types": sorted(n for n, ok in maps.items() if ok),
        "program_types": sorted(n for n, ok in progs.items() if ok),
        # Link types cannot be probed without a target: judged by release.
        "link_types": sorted(uapi.LINK_TYPE_NAMES[t] for t, minimum in uapi.LINK_TYPE_MIN_KERNEL.items()
                             if _by_release(minimum)),
        "cached": False,
    }
    try:
        os.makedirs(cache_dir, 0o700)
    except OSError:
        pass
    try:
        tmp = "%s.%d.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(facts, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except (IOError, OSError):
        pass
    return facts


def _by_release(minimum):
    if not minimum:
        return True
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import kernel_version
    want = tuple(int(x) for x in minimum.split(".")[:2])
    return kernel_version() >= want


def _objects(kind):
    """Every loaded map or program: (id, fdinfo dict, name, memlock estimate)."""
    out = []
    obj_id = 0
    while True:
        obj_id = syscalls.next_id(kind, obj_id)
        if obj_id is None:
            return out
        try:
            fd = syscalls.get_fd_by_id(kind, obj_id)
        except SyscallError as e:
            if e.errno == errno.ENOENT:  # gone since we listed it
                continue
            raise
        try:
            info = syscalls.fdinfo(fd)
            if kind == "map":
                name = syscalls.map_info(fd).name
                estimate = estimate_live_map(fd, info)
            else:
                prog = syscalls.prog_info(fd)
                name = prog.name
                estimate = estimate_program(prog.jited_prog_len, prog.xlated_prog_len, layout=fallback_layout())
        finally:
            os.close(fd)
        out.append((obj_id, info, name, estimate))


def workload_facts():
    maps = []
    for obj_id, info, name, estimate in _objects("map"):
        maps.append({"id": obj_id, "name": name,
                     "type": uapi.MAP_TYPE_NAMES.get(int(info.get("map_type", 0)), info.get("map_type")),
                     "key_size": int(info.get("key_size", 0)), "value_size": int(info.get("value_size", 0)),
                     "max_entries": int(info.get("max_entries", 0)), "flags": int(info.get("map_flags", "0"), 16),
                     "memlock": int(info.get("memlock", 0)), "memlock_estimate": estimate})
    programs = []
    for obj_id, info, name, estimate in _objects("prog"):
        programs.append({"id": obj_id, "name": name,
                         "type": uapi.PROG_TYPE_NAMES.get(int(info.get("prog_type", 0)), info.get("prog_type")),
                         "tag": info.get("prog_tag", ""), "memlock": int(info.get("memlock", 0)),
                         "memlock_estimate": estimate})
    totals = {"maps": len(maps), "programs": len(programs)}
    for key in ("memlock", "memlock_estimate"):
        totals["maps_" + key] = sum(m[key] or 0 for m in maps)
        totals["programs_" + key] = sum(p[key] or 0 for p in programs)
        totals[key] = totals["maps_" + key] + totals["programs_" + key]
    return {"maps": maps, "programs": programs, "totals": totals}


def collection_facts(pin_root):
    out = {}
    try:
        names = sorted(os.listdir(pin_root))
    except OSError:
        return out
    for name in names:
        if name.endswith(KEPT_SUFFIX):
            continue   # reported with its collection, as 'kept'
        path = os.path.join(pin_root, name)
        record = read_state(path) if os.path.isdir(path) and not os.path.islink(path) else None
        if record is None:
            continue
        memlock = estimate = 0
        usage = {}
        shared = record.get("shared") or []
        for sub, kind in ((MAPS_DIR, "map"), (PROGS_DIR, "prog")):
            for pin, obj in sorted(open_pinned(os.path.join(path, sub), kind).items()):
                if kind == "map" and pin in shared:
                    os.close(obj["fd"])   # counted once, in shared_maps
                    continue
                try:
                    figure = (estimate_live_map(obj["fd"], obj["fdinfo"]) if kind == "map"
                              else estimate_live_program(obj["fd"]))
                    if kind == "map":
                        usage[pin] = map_usage(obj, figure, "collection '%s': map '%s'" % (name, pin))
                finally:
                    os.close(obj["fd"])
                memlock += obj["memlock"]
                estimate += figure or 0
        links = _link_facts(path, record)
        out[name] = {"path": path, "object_sha256": record.get("object_sha256"), "options": record.get("options"),
                     "maps": sorted(record.get("maps", {})), "programs": sorted(record.get("programs", {})),
                     "links": links, "memlock": memlock, "memlock_estimate": estimate, "map_usage": usage,
                     "shared_maps": shared}
        kept = read_state(path + KEPT_SUFFIX) if os.path.isdir(path + KEPT_SUFFIX) else None
        if kept is not None:
            out[name]["kept"] = {"path": path + KEPT_SUFFIX, "object_sha256": kept.get("object_sha256")}
    return out


def shared_map_facts(pin_root):
    """The maps collections share under ``pin_root`` (pinned by name), each
    with its users and its memlock, counted once however many use it."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import shared_maps

    out = {}
    for name, entry in shared_maps(pin_root).items():
        entry = dict(entry)
        entry["type"] = uapi.MAP_TYPE_NAMES.get(entry["type"], entry["type"])
        out[name] = entry
    return out


def counts_pressure(map_type):
    """Whether a map of this type fills up entry by entry (hash-like maps
    and LPM tries), so that entries / max_entries says how full it is."""
    return uapi.is_hash(map_type) or map_type == uapi.BPF_MAP_TYPE_LPM_TRIE


def map_usage(obj, estimate, what="map"):
    """What one open pinned map (an open_pinned() entry) uses: its type,
    max_entries, memlock (the kernel's figure and ours) and, for hash-like
    maps, ``entries`` and ``pressure`` (entries / max_entries, 4 decimals;
    null for other types)."""
    entries = pressure = None
    if counts_pressure(obj["type"]):
        entries = syscalls.map_count(obj["fd"], obj["key_size"], value_buffer_size(obj["type"], obj["value_size"]),
                                     what=what)
        pressure = round(float(entries) / obj["max_entries"], 4) if obj["max_entries"] else None
    return {"type": uapi.MAP_TYPE_NAMES.get(obj["type"], obj["type"]), "max_entries": obj["max_entries"],
            "entries": entries, "pressure": pressure, "memlock": obj["memlock"], "memlock_estimate": estimate}


def pressure_facts(collections, threshold=PRESSURE_THRESHOLD):
    """{threshold, high: [{collection, map, entries, max_entries,
    pressure}]} of the collections' maps at or above ``threshold`` percent
    full, fullest first."""
    high = []
    for name, c in sorted(collections.items()):
        for pin, u in sorted(c.get("map_usage", {}).items()):
            if u["pressure"] is not None and u["pressure"] * 100 >= threshold:
                high.append({"collection": name, "map": pin, "entries": u["entries"],
                             "max_entries": u["max_entries"], "pressure": u["pressure"]})
    high.sort(key=lambda h: (-h["pressure"], h["collection"], h["map"]))
    return {"threshold": threshold, "high": high}


def pressure_warnings(pressure):
    """The warnings of pressure_facts(): one per map, naming it."""
    return ["collection '%s': map '%s' holds %d of %d entries (%.1f%%), at or above pressure_threshold %g%%; "
            "inserts fail when it is full (LRU maps evict)" % (
                h["collection"], h["map"], h["entries"], h["max_entries"], h["pressure"] * 100,
                pressure["threshold"]) for h in pressure["high"]]


def _link_facts(version, record):
    """Each pinned link of a version and the program it runs (by the id the
    kernel reports for the link, named through the version's record)."""
    by_id = dict((e["id"], n) for n, e in record.get("programs", {}).items())
    links = {}
    for name, obj in sorted(open_pinned(os.path.join(version, LINKS_DIR), "link").items()):
        try:
            if "map_type" in obj["fdinfo"]:
                links[name] = {"method": "netlink"}
                continue
            prog_id = syscalls.link_info(obj["fd"]).prog_id
        finally:
            os.close(obj["fd"])
        links[name] = {"program": by_id.get(prog_id), "program_id": prog_id}
    return links


def gather(subsets, pin_root, pressure_threshold=PRESSURE_THRESHOLD):
    """The facts of ``subsets``; with ``collections``, also ``pressure``
    (pressure_facts at ``pressure_threshold`` percent)."""
    facts = {}
    if "host" in subsets:
        facts["host"] = host_facts()
    if "features" in subsets:
        facts["features"] = feature_facts()
    if "workload" in subsets:
        facts.update(workload_facts())
    if "collections" in subsets:
        facts["collections"] = collection_facts(pin_root)
        facts["pressure"] = pressure_facts(facts["collections"], pressure_threshold)
        facts["shared_maps"] = shared_map_facts(pin_root)
    return facts
