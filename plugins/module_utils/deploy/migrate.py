# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy every entry of a live map into its replacement.

A map's max_entries and flags are fixed at creation, so resizing one means
a new map. Entries are read with get_next_key/lookup and written with
BPF_NOEXIST, then counted again: the copy either holds every entry or the
caller discards the new map and keeps the old one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import value_buffer_size


def read_entries(fd, map_type, key_size, value_size, what="map"):
    """Every (key, value) of a map, as bytes."""
    vsize = value_buffer_size(map_type, value_size)
    out = []
    for key in syscalls.map_keys(fd, key_size, what=what):
        value = syscalls.map_lookup(fd, key, vsize, what=what)
        if value is not None:
            out.append((key, value))
    return out


def copy_entries(old_fd, new_fd, map_type, key_size, value_size, new_max_entries, name):
    """Copy all entries from ``old_fd`` to the empty map ``new_fd``.

    Returns the number copied. Raises LoaderError naming the map when they
    do not fit (how many there are, how many fit) or the count read back
    differs; the old map is never written.
    """
    if not uapi.holds_plain_data(map_type):
        raise LoaderError("map '%s': entries of %s maps cannot be copied" % (
            name, uapi.MAP_TYPE_NAMES.get(map_type, map_type)))
    what = "map '%s'" % name
    entries = read_entries(old_fd, map_type, key_size, value_size, what)
    if uapi.is_array(map_type):
        # Array slots always exist; what matters is that no non-zero value
        # sits at an index the smaller array would drop.
        order = sys.byteorder
        lost = [int.from_bytes(k, order) for k, v in entries
                if int.from_bytes(k, order) >= new_max_entries and any(v)]
        if lost:
            raise LoaderError("map '%s': shrinking to %d entries would drop %d non-zero slots (first at index %d)"
                              % (name, new_max_entries, len(lost), min(lost)),
                              hint="keep max_entries at least %d, or use on_incompatible_map: recreate" % (
                                  max(lost) + 1))
        entries = [(k, v) for k, v in entries if int.from_bytes(k, order) < new_max_entries]
        flags = uapi.BPF_ANY
    else:
        if len(entries) > new_max_entries:
            raise LoaderError("map '%s' holds %d entries, which do not fit max_entries %d" % (
                name, len(entries), new_max_entries),
                hint="keep max_entries at least %d, or use on_incompatible_map: recreate" % len(entries))
        flags = uapi.BPF_NOEXIST
    for key, value in entries:
        try:
            syscalls.map_update(new_fd, key, value, flags, what=what)
        except SyscallError as e:
            if e.errno in (errno.E2BIG, errno.ENOMEM, errno.ENOSPC):
                raise LoaderError("map '%s': the new map is full after copying some of %d entries (%s)" % (
                    name, len(entries), e)) from e
            raise
    if not uapi.is_array(map_type):
        copied = sum(1 for _key in syscalls.map_keys(new_fd, key_size, what=what))
        if copied != len(entries):
            raise LoaderError("map '%s': copied %d entries but the new map holds %d" % (
                name, len(entries), copied))
    return len(entries)
