# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``atomic: true``: a rule set replaced whole, never seen half written.

The map named is an outer map (array_of_maps or hash_of_maps) and ``slot``
one of its keys; the slot holds the inner map that programs read through
it. A change is written into a fresh map made with the inner map's layout
(type, sizes, flags, BTF), filled completely, and then put into the slot
with one update: a program's lookup of the slot returns the old map or the
new one, whole. The old inner map stays as it was (and pinned, when the
collection pins it) until nothing holds it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import PinnedMap, open_pinned_map
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi

_MAP_ID = struct.Struct("=I")


class Slot:
    """Slot ``slot`` (an integer key) of the outer map pinned at ``path``.
    Raises SpecError when that map is not a map of maps or the slot holds
    no map, LoaderError when it is not pinned."""

    def __init__(self, path, slot):
        self.fd = open_pinned_map(path)
        try:
            info = syscalls.map_info(self.fd)
            if info.type not in (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS):
                raise SpecError("atomic: map '%s' is a %s map; atomic: true replaces the map held in a slot of an "
                                "array_of_maps or hash_of_maps map: name that outer map and the slot"
                                % (path, uapi.MAP_TYPE_NAMES.get(info.type, info.type)))
            if isinstance(slot, bool) or not isinstance(slot, int):
                raise SpecError("slot: %r: want the outer map's key, an integer" % (slot,))
            try:
                self.key = slot.to_bytes(info.key_size, sys.byteorder)
            except OverflowError as e:
                raise SpecError("slot: %d does not fit the outer map's %d-byte key" % (slot, info.key_size)) from e
            self.path = "%s[%d]" % (path, slot)
            held = syscalls.map_lookup(self.fd, self.key, _MAP_ID.size, what=path)
            if held is None:
                raise SpecError("atomic: slot %d of map '%s' holds no map; the map there gives the new one its layout"
                                % (slot, path))
            self.inner_id = _MAP_ID.unpack(held)[0]
        except BaseException:
            os.close(self.fd)
            raise

    def close(self):
        os.close(self.fd)

    def inner(self):
        """The map the slot holds, as a PinnedMap named ``outer[slot]``."""
        return PinnedMap(self.path, fd=syscalls.get_fd_by_id("map", self.inner_id))

    def fresh(self, m):
        """An empty map with the layout of ``m`` (type, sizes, flags, BTF)."""
        info = syscalls.map_info(m.fd, what=m.path)
        btf_fd = syscalls.get_fd_by_id("btf", info.btf_id) if info.btf_id else 0
        try:
            fd = syscalls.map_create(info.type, info.key_size, info.value_size, info.max_entries, flags=info.flags,
                                     name=info.name, btf_fd=btf_fd, btf_key_type_id=info.btf_key_type_id,
                                     btf_value_type_id=info.btf_value_type_id, map_extra=info.map_extra)
        finally:
            if btf_fd:
                os.close(btf_fd)
        return PinnedMap(self.path, fd=fd)

    def put(self, m):
        """Put map ``m`` into the slot: one update."""
        syscalls.map_update(self.fd, self.key, _MAP_ID.pack(m.fd), what=self.path)
        self.inner_id = syscalls.map_info(m.fd).id
