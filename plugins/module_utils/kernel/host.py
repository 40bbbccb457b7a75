# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host as the loader sees it: the kernel release, the CPUs per-CPU
values are laid out for, and what this process may do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi

# Capability numbers (linux/capability.h).
CAP_SYS_ADMIN = 21
CAP_BPF = 39


def kernel_version(release=None):
    """(major, minor) of a release string such as '6.1.0-18-amd64'."""
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def kernel_older_than(release):
    """True if the running kernel predates ``release`` ('5.15')."""
    return kernel_version() < tuple(int(x) for x in release.split(".")[:2])


def possible_cpus():
    """Number of possible CPUs (the stride of per-CPU values)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except (IOError, OSError):
        return os.cpu_count() or 1
    count = 0
    for part in text.split(","):
        lo, _sep, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def value_slot_size(map_type, value_size):
    """Bytes of one CPU's value in what a lookup returns: per-CPU maps
    round each value up to 8 bytes."""
    return (value_size + 7) // 8 * 8 if uapi.is_percpu(map_type) else value_size


def value_buffer_size(map_type, value_size):
    """Bytes one lookup of such a map returns: per-CPU maps give a value
    slot per possible CPU."""
    if uapi.is_percpu(map_type):
        return value_slot_size(map_type, value_size) * possible_cpus()
    return value_size


def effective_capabilities():
    """This process's effective capability set (CapEff), or None without procfs."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (IOError, OSError, ValueError):
        pass
    return None


def may_use_bpf():
    """True if this process holds CAP_BPF or CAP_SYS_ADMIN (None: unknown)."""
    caps = effective_capabilities()
    return None if caps is None else bool(caps & (1 << CAP_BPF | 1 << CAP_SYS_ADMIN))


def lockdown_state():
    """The kernel lockdown mode ('none', 'integrity', 'confidentiality'), or
    None when it cannot be read (no lockdown LSM, or securityfs not mounted)."""
    try:
        with open("/sys/kernel/security/lockdown") as f:
            text = f.read()
    except (IOError, OSError):
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None
