# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one collection on a host (bpf_collection's backend): under the
collection's lock, finish what an interrupted run left, observe, plan,
and, unless in check mode, apply.

The loader's modules are imported only when something is to be loaded:
inside AnsiballZ every imported module is compiled on each run, and a no-op
run needs none of them (nor kernel BTF).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.lock import collection_lock, shared_lock
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import memlock_figures, observe
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.plan import (
    diff, new_version, plan, read_object, unchanged)
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.versions import recover
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import CollectionPins, pin_name
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import (
    accounting_mode, footprint_figure, memlock_delta, over_budget)

# Observed fields the results leave out (the plan's, not the user's).
_NOT_IN_RESULTS = ("path", "btf_id", "btf_key_type_id", "btf_value_type_id")


def converge(desired, check_mode=False):
    """The whole run for one collection: returns the module result dict.

    Raises LoaderError subclasses (ObjectNeeded when only the object's
    digest came and the collection must change); the caller turns them into
    a failure.
    """
    pins = CollectionPins(desired.pin_root, desired.name)
    pins.check()
    with collection_lock(pins), contextlib.ExitStack() as held:
        recovered = recover(pins, desired.keep_versions) if not check_mode else []
        observed = observe(pins)
        data = read_object(desired.path) if desired.state == "present" and desired.path is not None else None
        digest = hashlib.sha256(data).hexdigest() if data is not None else desired.object_sha256
        new = None
        old_shared = (observed.record or {}).get("shared") or []
        if desired.state == "present" and data is not None and not unchanged(desired, observed, digest):
            new = new_version(desired, observed, data,
                              lambda spec: _observe_shared(desired, spec, held, check_mode))
        elif desired.state == "absent" and old_shared and not check_mode:
            held.enter_context(shared_lock(desired.pin_root))
        p = plan(desired, observed, digest, new, staging_exists=os.path.isdir(pins.staging))
        converted = {}
        if check_mode and p.conversions:
            # Read-only: every live entry through the planned conversion, so
            # that one that does not fit fails the check as it would the run.
            from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.migrate import check_conversions

            converted = check_conversions(p)
        before = observed.memlock()
        predicted = None
        if p.changed and (check_mode or desired.memlock_budget is not None):
            if p.action in ("rollback", "prune"):
                kept = observed.kept
                predicted = (memlock_figures(kept.maps, kept.programs) if p.action == "rollback" else
                             memlock_figures(observed.maps, observed.programs))
            elif p.action == "remove":
                predicted = {}
            else:
                predicted = predicted_memlock(observed, p, desired.programs, layout=_kernel_layout(desired))
                if observed.exists and desired.keep_versions and observed.record is not None:
                    _add_kept_prediction(predicted, observed, p)
            refusal = over_budget(desired.name, desired.memlock_budget, predicted)
            if refusal is not None:
                raise refusal
        result = {"changed": p.changed or bool(recovered), "action": p.action, "reasons": recovered + p.reasons,
                  "warnings": list(p.warnings), "collection": desired.name, "pin_path": pins.live}
        result["reasons"].extend("map '%s': %d entries would be converted" % item for item in sorted(converted.items()))
        if not p.changed:
            over = over_budget(desired.name, desired.memlock_budget, _footprint(before), predicted=False)
            if over is not None:
                result["warnings"].append(str(over))
        if not result["changed"] and desired.facts == "summary":
            return _summary(result, desired, observed, before)
        shared_now = _shared_now(desired, observed, new, old_shared)
        result["diff"] = diff(desired, observed, p)
        if not p.changed or check_mode:
            result["maps"] = _observed_entries(observed, "maps")
            result["programs"] = _observed_entries(observed, "programs")
            after = before if not p.changed else predicted
            result["bpf_memlock"] = _memlock(desired, before, after, old_shared, _new_shared(p, old_shared),
                                             shared_now, None if p.changed else shared_now)
            if p.changed:
                result["bpf_memlock"]["predicted"] = True
            return result
        if p.action in ("rollback", "prune"):
            return _rolled_back(result, desired, pins, observed, p, before)
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.apply import apply

        applied = apply(desired, pins, observed, p)
        result["maps"] = applied["maps"]
        result["programs"] = applied["programs"]
        result["warnings"].extend(applied.get("warnings", []))
        if "btf_cache" in applied:
            result["btf_cache"] = applied["btf_cache"]
        if applied.get("shared_removed"):
            result["reasons"].append("removed shared map%s %s: no other collection uses %s" % (
                "s" if len(applied["shared_removed"]) > 1 else "", ", ".join(applied["shared_removed"]),
                "them" if len(applied["shared_removed"]) > 1 else "it"))
        if applied.get("pin_root_removed"):
            result["reasons"].append("removed pin_root %s: ebpf.deploy created it and it is empty now" %
                                     desired.pin_root)
        new_shared = _new_shared(p, old_shared)
        result["bpf_memlock"] = _memlock(desired, before, applied.get("memlock_after", {}), old_shared, new_shared,
                                         shared_now, _shared_after(desired, old_shared, new_shared))
        return result


def _rolled_back(result, desired, pins, observed, p, before):
    """Carry out a rollback (or the removal of the kept version) and report
    the version live after it, as observed again."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.rollback import apply_rollback, prune

    done = apply_rollback(pins, observed, p) if p.action == "rollback" else prune(pins)
    result["warnings"] = list(done["warnings"])
    after = observe(pins)
    result["maps"] = _observed_entries(after, "maps")
    for entry in result["maps"]:
        if entry["name"] in p.map_actions:
            entry["action"] = p.map_actions[entry["name"]][0]
            entry["migrated_entries"] = done["migrated"].get(entry["name"])
    result["programs"] = _observed_entries(after, "programs")
    result["bpf_memlock"] = memlock_delta(desired.name, before, after.memlock())
    return result


def _add_kept_prediction(predicted, observed, p):
    """An upgrade keeps the live version: its maps that the new version
    does not reuse, and its programs, stay loaded (``kept/<pin>``)."""
    reused = set(old["id"] for action, old in p.map_actions.values() if action == "reuse" and old)
    for kind, objs in (("maps", dict((n, o) for n, o in observed.maps.items() if o["id"] not in reused)),
                       ("programs", observed.programs)):
        for n, o in objs.items():
            predicted[kind]["kept/" + n] = o["memlock"]
            predicted["estimate"][kind]["kept/" + n] = o["memlock_estimate"]


def _observe_shared(desired, spec, held, check_mode):
    """The shared maps (pinned by name) the spec declares, as pinned under
    the pin root, read (and, unless in check mode, later written) under the
    pin root's shared lock, which ``held`` (an ExitStack) keeps to the end
    of the run. Imported only for an object that has some."""
    if not any(m.pinned_by_name for m in spec.maps.values()):
        return {}
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import check_names, observe_shared

    check_names(spec)
    if not check_mode:
        held.enter_context(shared_lock(desired.pin_root))
    return observe_shared(desired.pin_root, spec)


def _shared_now(desired, observed, new, old_shared):
    """shared.figures_now() when the collection shares any map."""
    if not old_shared and not (new is not None and new.shared):
        return {}
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import figures_now

    return figures_now(observed, new.shared if new is not None else {}, old_shared)


def _shared_after(desired, old_shared, new_shared):
    """shared.figures_after() when the collection shared any map."""
    if not old_shared and not new_shared:
        return {}
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import figures_after

    return figures_after(desired.pin_root, sorted(set(old_shared) | set(new_shared)))


def _new_shared(p, old_shared):
    """The pin names of the maps the collection shares after the plan."""
    if p.action == "remove":
        return []
    if p.spec is None:
        return list(old_shared)
    return sorted(pin_name(m.name) for m in p.spec.maps.values() if m.pinned_by_name)


def _memlock(desired, before, after, old_shared, new_shared, shared_before, shared_after):
    """The bpf_memlock fact; the maps shared with other collections are
    counted apart, once per host (see shared.shared_memlock)."""
    if not old_shared and not new_shared:
        return memlock_delta(desired.name, before, after)
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import shared_memlock

    fact = memlock_delta(desired.name, _without(before, old_shared), _without(after, new_shared))
    fact.update(shared_memlock(sorted(set(old_shared) | set(new_shared)), after, shared_before, shared_after))
    return fact


def _footprint(figures):
    """The figures that show what a collection really holds on this kernel
    (the kernel's from 6.4, else our estimate: docs/memlock.md)."""
    return figures if footprint_figure(accounting_mode()) == "kernel" else figures.get("estimate", {})


def _summary(result, desired, observed, before):
    """A run that changed nothing: what is live in O(1) data (the version,
    how many maps and programs, the memlock totals) instead of every map's
    and program's figures, and no diff (there is none to show)."""
    result["object_sha256"] = (observed.record or {}).get("object_sha256")
    result["counts"] = {"maps": len(observed.maps), "programs": len(observed.programs)}
    if observed.kept is not None:
        result["kept_object_sha256"] = observed.kept.record.get("object_sha256")
    shared = (observed.record or {}).get("shared") or []
    own = _without(before, shared)
    result["bpf_memlock"] = memlock_delta(desired.name, own, own, per_object=False)
    if shared:
        # Its shared maps by name and totals (a few, not the collection's
        # every map), so that a host's report counts them as after a change.
        maps, estimates = before.get("maps", {}), before.get("estimate", {}).get("maps", {})
        figures = dict((n, (maps.get(n, 0), estimates.get(n) or 0)) for n in shared)
        result["bpf_memlock"]["shared_maps"] = dict(
            (n, {"before": k, "after": k, "delta": 0, "estimate": {"before": e, "after": e, "delta": 0}})
            for n, (k, e) in figures.items())
        total, estimate = sum(k for k, _e in figures.values()), sum(e for _k, e in figures.values())
        result["bpf_memlock"]["shared"] = {"before": total, "after": total, "delta": 0,
                                           "estimate": {"before": estimate, "after": estimate, "delta": 0}}
    return result


def _without(figures, names):
    """memlock figures (Observed.memlock()'s shape) without the maps ``names``."""
    if not names or not figures:
        return figures
    est = figures.get("estimate", {})
    return {"maps": dict((n, v) for n, v in figures.get("maps", {}).items() if n not in names),
            "programs": figures.get("programs", {}),
            "estimate": {"maps": dict((n, v) for n, v in est.get("maps", {}).items() if n not in names),
                         "programs": est.get("programs", {})}}


def _kernel_layout(desired):
    """This kernel's struct sizes for a prediction, from its BTF through the
    run's cache (which the load that follows reuses): the fallback sizes
    can be a map header off on a kernel built with other options."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import make_cache
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import KernelLayout

    kernel_btf = desired.kernel_btf
    if kernel_btf is None:
        kernel_btf = KernelBTF(btf_path=desired.btf_path, cache=make_cache(desired.btf_cache, run_id=desired.run_id))
    return KernelLayout.from_kernel(kernel_btf)


def predicted_memlock(observed, p, programs=None, layout=None):
    """What the plan would lock, in memlock_delta's shape, before anything
    is created: reused maps keep their figures, new and resized maps and
    every program are estimated from the spec by the 6.4+ rules (new maps
    empty where their cost grows with their entries, migrated ones full:
    an upper bound). Both columns hold the prediction: the kernel's own
    figure exists only once the objects do. ``layout`` is a KernelLayout
    (default: the fallback sizes)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import pin_name
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import (
        counts_entries, estimate_map, estimate_program, fallback_layout)

    layout = layout or fallback_layout()
    maps = {}
    for name, m in p.spec.maps.items():
        action, old = p.map_actions.get(name, ("create", None))
        if action == "reuse":
            maps[pin_name(name)] = old["memlock_estimate"] or old["memlock"]
            continue
        entries = 0 if action != "migrate" and counts_entries(m.type, m.flags) else None
        try:
            maps[pin_name(name)] = estimate_map(m.type, m.key_size, m.value_size, m.kernel_max_entries(), m.flags,
                                                entries=entries, map_extra=m.map_extra, layout=layout)
        except ValueError:
            maps[pin_name(name)] = 0   # a map type without a rule
    progs = dict((pin_name(n), estimate_program(0, len(prog.insns), layout=layout))
                 for n, prog in p.spec.programs.items() if not programs or n in programs)
    return {"maps": maps, "programs": progs, "estimate": {"maps": dict(maps), "programs": dict(progs)}}


def _observed_entries(observed, kind):
    """The result entries of what is pinned, named as the object names them
    (the pin name apart), in name order like those of a load."""
    by_pin = observed.names(kind)
    pinned = observed.maps if kind == "maps" else observed.programs
    names = uapi.MAP_TYPE_NAMES if kind == "maps" else uapi.PROG_TYPE_NAMES
    entries = []
    for pin, obj in pinned.items():
        entry = dict((k, v) for k, v in obj.items() if k not in _NOT_IN_RESULTS)
        entry["name"] = by_pin.get(pin, pin)
        entry["pin"] = obj["path"]
        entry["type"] = names.get(obj["type"], obj["type"])
        entries.append(entry)
    return sorted(entries, key=lambda e: e["name"])
