# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a collection costs in locked kernel memory, as facts.

The kernel's figure is ``memlock`` in /proc/self/fdinfo/<fd>. Before 5.11
it is the RLIMIT_MEMLOCK charge ('rlimit'); from 5.11 objects are charged
to the memory cgroup and the figure is exact per map type only from 6.4
('memcg-exact'); on 5.11-6.3 it ignores preallocation ('memcg-approximate').
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import resource

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import kernel_version


def accounting_mode(release=None):
    version = kernel_version(release)
    if version < (5, 11):
        return "rlimit"
    if version < (6, 4):
        return "memcg-approximate"
    return "memcg-exact"


def rlimit_memlock():
    """RLIMIT_MEMLOCK soft limit in bytes, or 'unlimited'."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return "unlimited" if soft == resource.RLIM_INFINITY else soft


def footprint_figure(mode):
    """Which figure shows a map's real footprint under accounting ``mode``:
    the kernel's from 6.4, else our estimate (docs/memlock.md)."""
    return "kernel" if mode == "memcg-exact" else "estimate"


def memlock_delta(name, before, after, release=None, per_object=True):
    """The ``bpf_memlock`` fact. ``before`` and ``after`` are
    {'maps': {name: bytes}, 'programs': {name: bytes}, 'estimate': {'maps':
    {...}, 'programs': {...}}} (empty when absent): the kernel's figures
    and, under 'estimate', ours (None where a map type has no rule).

    Top-level before/after/delta and those of each map and program are the
    kernel's figures; ``estimate`` holds ours in the same shape, and
    ``footprint`` names the one that shows the real cost on this kernel.
    Without ``per_object`` only the totals: what a run that changed nothing
    reports, so its result does not grow with the collection."""
    def total(side):
        return sum(side.get("maps", {}).values()) + sum(side.get("programs", {}).values())

    def estimated(side):
        return side.get("estimate", {"maps": {}, "programs": {}})

    def change(b, a):
        return {"before": b, "after": a, "delta": a - b}

    def per(kind):
        out = {}
        for n in sorted(set(before.get(kind, {})) | set(after.get(kind, {}))):
            entry = change(before.get(kind, {}).get(n, 0), after.get(kind, {}).get(n, 0))
            entry["estimate"] = change(estimated(before).get(kind, {}).get(n) or 0,
                                       estimated(after).get(kind, {}).get(n) or 0)
            out[n] = entry
        return out

    def estimate_total(side):
        est = estimated(side)
        return sum(v or 0 for v in est.get("maps", {}).values()) + sum(v or 0 for v in est.get("programs", {}).values())

    mode = accounting_mode(release)
    fact = change(total(before), total(after))
    fact.update({
        "collection": name,
        "estimate": change(estimate_total(before), estimate_total(after)),
        "accounting": mode,
        "footprint": footprint_figure(mode),
        "kernel": release or os.uname().release,
        "rlimit_memlock": rlimit_memlock(),
    })
    if per_object:
        fact.update(maps=per("maps"), programs=per("programs"))
    return fact


def over_budget(name, budget, figures, predicted=True):
    """A LoaderError when ``figures`` ({'maps': {name: bytes}, 'programs':
    {...}}, a prediction or what is live) add up to more than ``budget``
    bytes, naming the largest maps; None within it."""
    maps, progs = figures.get("maps", {}), figures.get("programs", {})
    total = sum(v or 0 for v in maps.values()) + sum(v or 0 for v in progs.values())
    if budget is None or total <= budget:
        return None
    from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

    biggest = sorted(((v or 0, n) for n, v in maps.items()), reverse=True)[:3]
    largest = ", ".join("%s %d" % (n, v) for v, n in biggest) or "none"
    return LoaderError(
        "collection '%s' %s %d bytes (maps %d, programs %d; largest maps: %s), over its memlock_budget of %d "
        "bytes%s" % (name, "would lock" if predicted else "locks", total, total - sum(v or 0 for v in progs.values()),
                     sum(v or 0 for v in progs.values()), largest, budget, "; nothing was changed" if predicted else ""),
        hint="raise memlock_budget, or make the largest maps smaller (max_entries) or not preallocated "
             "(prealloc: false)")


def memlock_shortfall(spec, failed, programs=None, release=None):
    """A LoaderError for the EPERM error ``failed`` (creating a map or
    program of ``spec``) on a kernel that charges RLIMIT_MEMLOCK, saying how much the
    collection needs and what the limit is; None on other kernels, or when
    the limit is unlimited (then EPERM means missing privileges)."""
    if accounting_mode(release) != "rlimit":
        return None
    limit = rlimit_memlock()
    if limit == "unlimited":
        return None
    from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import estimate_spec

    maps, progs = estimate_spec(spec, programs=programs, release=release)
    needed = sum(maps.values()) + sum(progs.values())
    biggest = ", ".join("%s %d" % kv for kv in sorted(maps.items(), key=lambda kv: -kv[1])[:3]) or "none"
    return LoaderError(
        "%s; this kernel (%s) charges BPF memory to RLIMIT_MEMLOCK, which is %d bytes here, and the "
        "collection needs about %d bytes locked (%d maps, %d programs; largest: %s), besides what other BPF "
        "objects of the same user already hold"
        % (failed, release or os.uname().release, limit, needed, len(maps), len(progs), biggest),
        hint="raise the limit to at least %d bytes (or unlimited): the ebpf.deploy.bpf_host role's "
             "bpf_host_memlock, 'ulimit -l unlimited' before Ansible runs, or LimitMEMLOCK=infinity for a "
             "service" % needed)
