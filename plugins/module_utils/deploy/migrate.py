# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy every entry of a live map into its replacement, converting it when
the new version's key or value type changed.

A map's max_entries, flags and key and value sizes are fixed at creation, so
resizing one, or changing its types, means a new map. Entries are read with
get_next_key/lookup, converted member by member (btf.convert, through an
EntryConversion the plan made), and written with BPF_NOEXIST, then counted
again: the copy either holds every entry or the caller discards the new map
and keeps the old one. Every entry is converted before the first is written,
so an entry that does not fit the new type refuses the upgrade, naming the
entry and the member, before the new map holds anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import value_buffer_size, value_slot_size


class EntryConversion:
    """How a live map's entries become the new version's: ``key`` and
    ``value`` are btf.convert Conversions (None: that part's bytes are kept
    as they are); ``titles`` {part: (old C type, new C type)}. The old key's
    BTF names entries in messages."""

    def __init__(self, key, value, titles, old_btf, old_key_id):
        self.key = key
        self.value = value
        self.titles = titles
        self._old_btf = old_btf
        self._old_key_id = old_key_id

    def _parts(self):
        return [(part, conv) for part, conv in (("key", self.key), ("value", self.value)) if conv is not None]

    def differences(self):
        """What differs, one item per part: ``value: struct cfg_val: size 8
        → 16; + hits (u64 at 8)``."""
        out = []
        for part, conv in self._parts():
            if not conv.differences:
                continue
            old, new = self.titles[part]
            title = old if old == new else "%s \u2192 %s" % (old, new)
            out.append("%s: %s: %s" % (part, title, "; ".join(conv.differences)))
        return out

    def problems(self):
        return [p for _part, conv in self._parts() for p in conv.problems]

    def removed(self):
        """[(part, old Field)] of the members the new type drops."""
        return [(part, f) for part, conv in self._parts() for f in conv.removed]

    def entry_name(self, key):
        """An entry, for messages: its old key decoded (``{"id": 7}``)."""
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.encode import decode

        try:
            return json.dumps(decode(self._old_btf, self._old_key_id, key), sort_keys=True)
        except Exception:  # pylint: disable=broad-except  # a message must not fail: show the bytes
            return "0x" + bytes(key).hex()

    def convert(self, key, value, map_type, old_value_size, new_value_size):
        """(key, value) in the new types; a per-CPU value slot by slot.
        Raises ConversionError (btf.convert) for a member that does not fit."""
        if self.key is not None:
            key = self.key.convert(key)
        if self.value is not None:
            if uapi.is_percpu(map_type):
                old_slot, new_slot = value_slot_size(map_type, old_value_size), value_slot_size(map_type, new_value_size)
                pad = bytes(new_slot - new_value_size)
                value = b"".join(self.value.convert(value[i:i + old_value_size]) + pad
                                 for i in range(0, len(value), old_slot))
            else:
                value = self.value.convert(value)
        return key, value


def plan_entry_conversion(old_btf, old_key_id, old_value_id, new_btf, new_key_id, new_value_id, defaults=None):
    """The EntryConversion from the live map's key and value types to the
    new object's: pure; what cannot be converted is in its problems().
    ``defaults``: {value member: plain value} for new value members (the
    map's ``defaults`` option, checked when the object was read)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import leaves, type_title
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.convert import encode_defaults, plan_conversion

    convs, titles = {}, {}
    for part, old_id, new_id in (("key", old_key_id, new_key_id), ("value", old_value_id, new_value_id)):
        if not old_id or not new_id:
            convs[part] = None   # no BTF type on either side (the plan checked both sides agree)
            continue
        titles[part] = (type_title(old_btf, old_id), type_title(new_btf, new_id))
        if old_btf.sizeof(old_id) == new_btf.sizeof(new_id) and leaves(old_btf, old_id) == leaves(new_btf, new_id):
            convs[part] = None
            continue
        encoded = None
        if part == "value" and defaults:
            encoded = dict((path, value) for path, (_f, value) in encode_defaults(
                new_btf, new_id, defaults, "defaults").items())
        convs[part] = plan_conversion(old_btf, old_id, new_btf, new_id, part, encoded)
    return EntryConversion(convs["key"], convs["value"], titles, old_btf, old_key_id)


def read_entries(fd, map_type, key_size, value_size, what="map"):
    """Every (key, value) of a map, as bytes."""
    vsize = value_buffer_size(map_type, value_size)
    out = []
    for key in syscalls.map_keys(fd, key_size, what=what):
        value = syscalls.map_lookup(fd, key, vsize, what=what)
        if value is not None:
            out.append((key, value))
    return out


def copy_entries(old_fd, new_fd, map_type, key_size, value_size, new_max_entries, name, old_sizes=None,
                 conversion=None):
    """Copy all entries from ``old_fd`` to the empty map ``new_fd`` (whose
    key and value sizes are ``key_size``, ``value_size``), converting each
    through ``conversion`` (an EntryConversion) when given; ``old_sizes``
    (key size, value size) of the live map, default the same.

    Returns the number copied. Raises LoaderError naming the map when they
    do not fit (how many there are, how many fit), an entry does not fit the
    new types (the entry and the member), two keys become one, or the count
    read back differs; the old map is never written.
    """
    if not uapi.holds_plain_data(map_type):
        raise LoaderError("map '%s': entries of %s maps cannot be copied" % (
            name, uapi.MAP_TYPE_NAMES.get(map_type, map_type)))
    what = "map '%s'" % name
    old_key_size, old_value_size = old_sizes or (key_size, value_size)
    entries = read_entries(old_fd, map_type, old_key_size, old_value_size, what)
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
    if conversion is not None:
        entries = _converted(entries, conversion, map_type, old_value_size, value_size, name)
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


def check_conversions(p):
    """Check mode: convert every live entry of each map Plan ``p`` converts,
    writing nothing (read-only syscalls), so that an entry that does not fit
    the new types fails the check as it would fail the run. Returns {map
    name: entries converted}; raises LoaderError as copy_entries does."""
    counts = {}
    for name, conversion in sorted(p.conversions.items()):
        old, m = p.map_actions[name][1], p.spec.maps[name]
        fd = syscalls.obj_get(old["path"])
        try:
            entries = read_entries(fd, old["type"], old["key_size"], old["value_size"], "map '%s'" % name)
        finally:
            os.close(fd)
        counts[name] = len(_converted(entries, conversion, m.type, old["value_size"], m.value_size, name))
    return counts


def _converted(entries, conversion, map_type, old_value_size, value_size, name):
    """Every entry in the new types, all converted before any is written."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.convert import ConversionError

    out, seen = [], {}
    for key, value in entries:
        try:
            new_key, new_value = conversion.convert(key, value, map_type, old_value_size, value_size)
        except ConversionError as e:
            part = "key" if conversion.key is not None and _fails(conversion.key, key) else "value"
            raise LoaderError("map '%s': entry %s: %s %s" % (name, conversion.entry_name(key), part, e),
                              hint="change the entry first, keep the member wide enough in the new version, or use "
                                   "on_incompatible_map: recreate to start the map empty") from e
        if new_key in seen:
            raise LoaderError("map '%s': entries %s and %s would have the same key in the new type" % (
                name, conversion.entry_name(seen[new_key]), conversion.entry_name(key)))
        seen[new_key] = key
        out.append((new_key, new_value))
    return out


def _fails(conv, data):
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.convert import ConversionError

    try:
        conv.convert(data)
    except ConversionError:
        return True
    return False
