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
import re
import resource


def kernel_version(release=None):
    """(major, minor) of a release string such as '6.1.0-18-amd64'."""
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


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


def memlock_delta(name, before, after, release=None):
    """The ``bpf_memlock`` fact: ``before`` and ``after`` are
    {'maps': {name: bytes}, 'programs': {name: bytes}} (empty when absent)."""
    def total(side):
        return sum(side.get("maps", {}).values()) + sum(side.get("programs", {}).values())

    def per(kind):
        names = sorted(set(before.get(kind, {})) | set(after.get(kind, {})))
        return dict((n, {"before": before.get(kind, {}).get(n, 0), "after": after.get(kind, {}).get(n, 0),
                         "delta": after.get(kind, {}).get(n, 0) - before.get(kind, {}).get(n, 0)})
                    for n in names)

    b, a = total(before), total(after)
    return {
        "collection": name,
        "before": b,
        "after": a,
        "delta": a - b,
        "maps": per("maps"),
        "programs": per("programs"),
        "accounting": accounting_mode(release),
        "kernel": release or os.uname().release,
        "rlimit_memlock": rlimit_memlock(),
    }
