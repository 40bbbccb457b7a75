# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries of a pinned map, declared as plain values and encoded through the
map's own BTF (the kernel keeps it; we read it back by id).

``converge_entries()`` compares each declared entry with the kernel's copy
and writes only what differs; ``exclusive`` removes what is not declared;
``state=absent`` deletes the declared keys. Per-CPU values are one value
for every CPU or a list with one per CPU. Maps without BTF take integers,
'0x..' hex strings or lists of byte values of the exact size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.encode import FORMATS, decode, encode
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.lock import collection_lock
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.names import DEFAULT_PIN_ROOT, split_ref
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    CollectionPins, MAPS_DIR, check_name, pin_name)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import possible_cpus, value_slot_size
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record, copy_fields


STATES = ("present", "absent", "query")
# bpf_map's options, declared once (the module passes this to AnsibleModule).
ARGUMENT_SPEC = dict(
    collection=dict(type="str"),
    map=dict(type="str", required=True),
    entries=dict(type="list", elements="dict", default=[]),
    exclusive=dict(type="bool", default=False),
    state=dict(type="str", default="present", choices=list(STATES)),
    key_format=dict(type="raw", no_log=False),  # a format name, not a secret
    value_format=dict(type="raw"),
    pin_root=dict(type="path", default=DEFAULT_PIN_ROOT),
    entries_src=dict(type="path"),
    remote_src=dict(type="bool", default=False),
    entries_format=dict(type="str", choices=["json", "jsonl", "yaml", "csv"]),
    atomic=dict(type="bool", default=False),
    slot=dict(type="int"),
    # Set by the action plugin for an entries_src on the controller.
    entries_sha256=dict(type="str"),
    entries_received=dict(type="path"),
    run_id=dict(type="str"),
)


def map_ref(collection, name):
    """bpf_map's ``collection`` and ``map`` as one reference: a pinned path,
    or 'collection/map'."""
    if name.startswith("/"):
        if collection:
            raise SpecError("collection: give it with a map name, not with a pinned path")
        return name
    return "%s/%s" % split_ref(collection, name, "map")


def map_path(pin_root, ref):
    """The pin of ``ref``: an absolute pinned path, or 'collection/map'."""
    if ref.startswith("/"):
        return ref
    collection, sep, name = ref.partition("/")
    if not sep or not name:
        raise SpecError("map %r: give a pinned path or 'collection/map'" % ref)
    check_name("collection name", collection)
    if "/" in name or name in (".", ".."):
        raise SpecError("map %r: the map name may not contain '/'" % ref)
    return os.path.join(pin_root, collection, MAPS_DIR, pin_name(name))


def open_pinned_map(path):
    """fd of the map pinned at ``path``; LoaderError naming it when nothing is."""
    try:
        return syscalls.obj_get(path)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            raise LoaderError("map '%s' is not pinned (is the collection deployed?)" % path) from e
        raise


class PinnedMap:
    """An open pinned map with its layout and, when it has one, its BTF.
    ``fd``: a map already open (then ``path`` only names it), which this
    object owns from then on."""

    def __init__(self, path, fd=None):
        self.path = path
        self.fd = fd if fd is not None else open_pinned_map(path)
        info = syscalls.map_info(self.fd)
        copy_fields(self, info, "name", "type", "key_size", "value_size", "max_entries",
                    key_type_id="btf_key_type_id", value_type_id="btf_value_type_id")
        raw = syscalls.btf_raw_by_id(info.btf_id) if info.btf_id else None
        self.btf = BTF.from_bytes(raw, name=path) if raw is not None else None
        self.btf_sha256 = hashlib.sha256(raw).hexdigest() if raw is not None else None
        self.percpu = uapi.is_percpu(self.type)
        self.ncpus = possible_cpus() if self.percpu else 1
        self.slot = value_slot_size(self.type, self.value_size)
        if not uapi.holds_plain_data(self.type):
            os.close(self.fd)
            raise SpecError("map '%s' is a %s map; only %s maps hold declarable entries" % (
                path, uapi.MAP_TYPE_NAMES.get(self.type, self.type),
                ", ".join(sorted(n for t, n in uapi.MAP_TYPE_NAMES.items() if uapi.holds_plain_data(t)))))

    def close(self):
        os.close(self.fd)

    def encode_key(self, key, formats, what):
        return self._encode(key, self.key_type_id, self.key_size, formats, what + ": key")

    def encode_value(self, value, formats, what):
        what += ": value"
        if not self.percpu:
            return self._encode(value, self.value_type_id, self.value_size, formats, what)
        per_cpu = isinstance(value, list) and len(value) == self.ncpus and not self._value_is_array(value)
        values = value if per_cpu else [value] * self.ncpus
        out = bytearray()
        for cpu, v in enumerate(values):
            data = self._encode(v, self.value_type_id, self.value_size, formats, "%s (cpu %d)" % (what, cpu))
            out += data + b"\0" * (self.slot - len(data))
        return bytes(out)

    def _value_is_array(self, value):
        if self.btf is None or not self.value_type_id:
            return all(isinstance(v, int) for v in value) and len(value) == self.value_size
        t = self.btf.type_by_id(self.btf.resolve(self.value_type_id))
        return t.kind == layout.BTF_KIND_ARRAY and not all(isinstance(v, list) for v in value)

    def _encode(self, value, type_id, size, formats, what):
        if self.btf is not None and type_id:
            return encode(self.btf, type_id, value, what, formats)
        return raw_bytes(value, size, what)

    def decode_key(self, data, formats):
        return self._decode(data, self.key_type_id, formats)

    def decode_value(self, data, formats):
        if not self.percpu:
            return self._decode(data, self.value_type_id, formats)
        values = [self._decode(data[i * self.slot:i * self.slot + self.value_size], self.value_type_id, formats)
                  for i in range(self.ncpus)]
        return values[0] if all(v == values[0] for v in values) else values

    def _decode(self, data, type_id, formats):
        if self.btf is not None and type_id:
            return decode(self.btf, type_id, data, formats)
        return "0x" + bytes(data).hex()

    @property
    def lookup_size(self):
        return self.slot * self.ncpus


def raw_bytes(value, size, what):
    """Bytes of a value for a map without BTF: an int (host order), a hex
    string '0x...' or a list of byte values, exactly ``size`` bytes."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value.to_bytes(size, sys.byteorder, signed=value < 0)
        if isinstance(value, str) and value.lower().startswith("0x"):
            data = bytes.fromhex(value[2:])
        elif isinstance(value, list):
            data = bytes(value)
        else:
            raise ValueError
    except (ValueError, OverflowError, TypeError) as e:
        raise SpecError("%s: %r is not an integer, '0x...' hex or a list of bytes of %d bytes "
                        "(this map has no BTF to say more)" % (what, value, size)) from e
    if len(data) != size:
        raise SpecError("%s: %d bytes given, the map wants %d" % (what, len(data), size))
    return data


def _canon(value):
    # Diff keys must be strings: keep text as it is, render the rest as JSON.
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def converge_entries(pin_root, ref, entries, exclusive=False, state="present", key_format=None,
                     value_format=None, check_mode=False):
    """Make the map hold ``entries`` ([{key, value}]); returns the result.

    ``key_format`` / ``value_format``: a format name for the whole key or
    value, or {member path: format}. Raises SpecError naming the entry and
    field, LoaderError when the map is missing or full; on error nothing
    was written (all entries are encoded before the first write).
    """
    key_formats = _formats(key_format, "key_format")
    value_formats = _formats(value_format, "value_format")
    path = map_path(pin_root, ref)
    pins = _collection_of(path)
    if pins is None:
        return _converge_entries(path, entries, exclusive, state, key_formats, value_formats, check_mode)
    with collection_lock(pins):
        return _converge_entries(path, entries, exclusive, state, key_formats, value_formats, check_mode)


def _collection_of(path):
    """The collection whose live version holds the map pinned at ``path``
    (``<pin_root>/<collection>/maps/<map>``), or None for a map of no
    collection (a pinned path elsewhere)."""
    maps_dir = os.path.dirname(path)
    if os.path.basename(maps_dir) != MAPS_DIR:
        return None
    version = os.path.dirname(maps_dir)
    try:
        return CollectionPins(os.path.dirname(version), os.path.basename(version))
    except LoaderError:
        return None


def _converge_entries(path, entries, exclusive, state, key_formats, value_formats, check_mode):
    m = PinnedMap(path)
    try:
        wanted = []
        seen = set()
        for i, entry in enumerate(entries or []):
            what = "entries[%d]" % i
            if not isinstance(entry, dict) or "key" not in entry:
                raise SpecError("%s: want a mapping with key (and value)" % what)
            unknown = sorted(set(entry) - {"key", "value"})
            if unknown:
                raise SpecError("%s: unknown field(s) %s (want key, value)" % (what, ", ".join(unknown)))
            key = m.encode_key(entry["key"], key_formats, what)
            if key in seen:
                raise SpecError("%s: key %r is listed twice" % (what, entry["key"]))
            seen.add(key)
            value = None
            if state == "present":
                if "value" not in entry:
                    raise SpecError("%s: value is required with state=present" % what)
                value = m.encode_value(entry["value"], value_formats, what)
            wanted.append((key, value))
        p = plan_entries(m, _current(m), wanted, exclusive, state, key_formats, value_formats)
        if not check_mode:
            apply_entries(m, p)
        return {"changed": p.changed, "written": len(p.writes), "deleted": len(p.deletes), "entries": p.final,
                "map": m.path, "diff": p.diff}
    finally:
        m.close()


def _formats(fmt, option):
    if fmt is None:
        return {}
    if isinstance(fmt, str):
        fmt = {"": fmt}
    if not isinstance(fmt, dict):
        raise SpecError("%s: want a format name or {member: format}" % option)
    for path, name in fmt.items():
        if name not in FORMATS:
            raise SpecError("%s: '%s': unknown format '%s' (want one of %s)" % (option, path, name,
                                                                                ", ".join(FORMATS)))
    return dict(fmt)


def read_entries(pin_root, ref, key_format=None, value_format=None):
    """The map's entries decoded through its BTF: ({"key", "value"} list,
    path). Zeroed array slots are left out, as ``exclusive`` treats them."""
    key_formats = _formats(key_format, "key_format")
    value_formats = _formats(value_format, "value_format")
    m = PinnedMap(map_path(pin_root, ref))
    try:
        zero = b"\0" * m.lookup_size
        skip_zero = uapi.is_array(m.type)
        return [{"key": m.decode_key(key, key_formats), "value": m.decode_value(value, value_formats)}
                for key, value in _current(m).items() if not (skip_zero and value == zero)], m.path
    finally:
        m.close()


def _current(m):
    current = {}
    for key in syscalls.map_keys(m.fd, m.key_size, what=m.path):
        value = syscalls.map_lookup(m.fd, key, m.lookup_size, what=m.path)
        if value is not None:
            current[key] = value
    return current


class EntriesPlan(Record):
    """What a map needs: ``writes`` [(key, value)] and ``deletes`` [key] (raw
    bytes), ``final`` (entries afterwards), ``diff`` (before/after of the
    entries that change, decoded)."""

    __slots__ = ("writes", "deletes", "final", "diff")

    @property
    def changed(self):
        return bool(self.writes or self.deletes)


def plan_entries(m, current, wanted, exclusive, state, key_formats, value_formats):
    """The EntriesPlan that makes map ``m`` (its layout; nothing is read
    from it here) holding ``current`` ({key: value}, raw) hold ``wanted``
    ([(key, value)] encoded): pure. Raises SpecError or LoaderError when
    the entries do not fit."""
    is_array = uapi.is_array(m.type)
    zero = b"\0" * m.lookup_size
    writes, deletes = [], []
    if state == "present":
        for key, value in wanted:
            if current.get(key) != value:
                if is_array and key not in current:
                    raise SpecError("key %r: index beyond the array's %d entries" % (
                        m.decode_key(key, key_formats), m.max_entries))
                writes.append((key, value))
        if exclusive:
            listed = set(k for k, _v in wanted)
            for key, value in current.items():
                if key not in listed and (not is_array or value != zero):
                    deletes.append(key)
    else:
        for key, _value in wanted:
            if key in current and (not is_array or current[key] != zero):
                deletes.append(key)
    added = sum(1 for k, _v in writes if k not in current)
    final = m.max_entries if is_array else len(current) - len(deletes) + added
    if final > m.max_entries:
        raise LoaderError("map '%s' is full: it would hold %d entries (%d now, %d new), max_entries is %d; "
                          "%d do not fit" % (m.path, final, len(current), added, m.max_entries,
                                             final - m.max_entries),
                          hint="raise its max_entries with ebpf.deploy.bpf_collection, or use exclusive: true")
    before, after = {}, {}
    for key, value in writes:
        k = _canon(m.decode_key(key, key_formats))
        if key in current:
            before[k] = m.decode_value(current[key], value_formats)
        after[k] = m.decode_value(value, value_formats)
    for key in deletes:
        k = _canon(m.decode_key(key, key_formats))
        before[k] = m.decode_value(current[key], value_formats)
    return EntriesPlan(writes, deletes, final, {"before": {"entries": before}, "after": {"entries": after}})


def full_map(m):
    """The error for a write the kernel refused with E2BIG: the map is full."""
    return LoaderError("map '%s' is full (max_entries %d)" % (m.path, m.max_entries))


def write_entry(m, key, value):
    """One update of pinned map ``m``; a full map is named with its size."""
    try:
        syscalls.map_update(m.fd, key, value, what=m.path)
    except SyscallError as e:
        if e.errno == errno.E2BIG:
            raise full_map(m) from e
        raise


def apply_entries(m, p):
    """Write plan ``p`` into map ``m``: deletes first (arrays are zeroed),
    then writes."""
    zero = b"\0" * m.lookup_size
    for key in p.deletes:
        if uapi.is_array(m.type):
            syscalls.map_update(m.fd, key, zero, what=m.path)
        else:
            syscalls.map_delete(m.fd, key, what=m.path)
    for key, value in p.writes:
        write_entry(m, key, value)
