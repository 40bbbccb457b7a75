# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Map entries from a file (``entries_src``), at the scale of 10^6 entries.

The file is read as a stream (JSON list, JSON lines, YAML, CSV) and each
entry is encoded at once into key and value bytes: the only per-entry
objects kept are those two ``bytes``, in one dict. Scalar and fixed-layout
keys and values (integers, enums, structs of them) go through one
precompiled ``struct.Struct``; anything else, and any entry the fast path
refuses, through the BTF encoder, whose messages name the member. Errors
name the file and the line.

The map is read back in chunks (BPF_MAP_LOOKUP_BATCH) and diffed by
comparing bytes; only the difference is written (BPF_MAP_UPDATE_BATCH,
BPF_MAP_DELETE_BATCH), with per-entry calls where the kernel or the map
type has no batch commands. A run that changes nothing writes nothing and
returns counts; check mode and diff give counts and a bounded sample.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import errno
import io
import json
import operator
import os
import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import (
    PinnedMap, _canon, _collection_of, _formats, full_map, map_path, write_entry)
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy import entries_cache, entries_swap
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.lock import collection_lock
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shipped import file_sha256, shipped_object
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi

_first = operator.itemgetter(0)
FILE_FORMATS = ("json", "jsonl", "yaml", "csv")
_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yml": "yaml", ".yaml": "yaml",
               ".csv": "csv"}
# Elements per batch syscall: large enough that the syscalls cost little
# next to packing, small enough that a chunk's buffers stay a few MiB.
CHUNK = 16384
# Entries per category the diff shows; the counts are always complete.
DIFF_SAMPLE = 10
_READ_SIZE = 1 << 20
_INT_CODES = {(1, False): "B", (2, False): "H", (4, False): "I", (8, False): "Q",
              (1, True): "b", (2, True): "h", (4, True): "i", (8, True): "q"}


def file_format(path, fmt=None):
    """``fmt`` or the format the file's extension names; raises SpecError."""
    if fmt:
        if fmt not in FILE_FORMATS:
            raise SpecError("entries_format: '%s' is not one of %s" % (fmt, ", ".join(FILE_FORMATS)))
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise SpecError("entries_src '%s': cannot tell the format from the extension '%s'; set entries_format "
                        "(one of %s)" % (path, ext, ", ".join(FILE_FORMATS)))
    return _EXTENSIONS[ext]


# ---------------------------------------------------------------------------
# Readers: each yields (line, entry) with entry a {key, value} mapping, one
# at a time.
# ---------------------------------------------------------------------------

def read_entries_file(path, fmt, name=None):
    """Yield (line number, entry) from the file ``path`` in format ``fmt``.
    Raises SpecError naming the file (``name``, default ``path``) and line
    for malformed input."""
    name = name or path
    try:
        f = io.open(path, "r", encoding="utf-8", newline="" if fmt == "csv" else None)
    except (IOError, OSError) as e:
        raise SpecError("entries_src '%s': cannot open: %s" % (name, e.strerror or e)) from e
    with f:
        try:
            yield from _READERS[fmt](f, name)
        except UnicodeDecodeError as e:
            raise SpecError("entries_src '%s': not UTF-8 text (%s)" % (name, e.reason)) from e


def _read_jsonl(f, path):
    loads = json.loads
    for line, text in enumerate(f, 1):
        if not text.strip():
            continue
        try:
            yield line, loads(text)
        except ValueError as e:
            raise SpecError("%s:%d: not JSON: %s" % (path, line, e)) from e


def _read_json(f, path):
    # One top-level list, decoded an element at a time with raw_decode over
    # a sliding buffer: the file is never held whole, nor all its entries.
    decoder = json.JSONDecoder()
    buf, pos, line, eof, started = "", 0, 1, False, False
    while True:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf) or eof:
                break
            buf, pos = f.read(_READ_SIZE), 0
            eof = not buf
        if not started:
            if pos >= len(buf) or buf[pos] != "[":
                raise SpecError("%s:%d: want a JSON list of {key, value}" % (path, line))
            started, pos = True, pos + 1
            continue
        if pos >= len(buf):
            raise SpecError("%s:%d: the JSON list is not closed with ']'" % (path, line))
        if buf[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(buf, pos)
        except ValueError as e:
            if eof:
                raise SpecError("%s:%d: not JSON: %s" % (path, line, e)) from e
            more = f.read(_READ_SIZE)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        if end == len(buf) and not eof and buf[pos] not in "{[\"":
            # A number may continue in the next read.
            more = f.read(_READ_SIZE)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        yield line, item
        line += buf.count("\n", pos, end)
        pos = end


def _read_yaml(f, path):
    try:
        import yaml
    except ImportError as e:
        raise SpecError("entries_src '%s': YAML needs PyYAML on the host; use JSON, JSON lines or CSV" % path) from e
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(f)
    try:
        # Composed nodes keep their line; entries are constructed one by one.
        node = loader.get_single_node()
        if node is None:
            return
        if not isinstance(node, yaml.SequenceNode):
            raise SpecError("%s:%d: want a YAML list of {key, value}" % (path, node.start_mark.line + 1))
        items = node.value
        node.value = []
        for i, item in enumerate(items):
            items[i] = None
            yield item.start_mark.line + 1, loader.construct_object(item, deep=True)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = mark.line + 1 if mark else "?"
        raise SpecError("%s:%s: not YAML: %s" % (path, where, getattr(e, "problem", None) or e)) from e
    finally:
        loader.dispose()


def _cell(text):
    # CSV cells are text: integers (decimal or 0x) become numbers, the rest
    # (enumerator names, addresses, strings) stays text for the encoder.
    try:
        return int(text)
    except ValueError:
        try:
            return int(text, 0)
        except ValueError:
            return text


def _read_csv(f, path):
    rows = csv.reader(f)
    header = next(rows, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    columns = []
    for name in header:
        side, dot, member = name.partition(".")
        if side not in ("key", "value") or (dot and not member):
            raise SpecError("%s:1: column '%s': want key and value, or key.<member> and value.<member>"
                            % (path, name))
        columns.append((side, member.split(".") if member else None))
    if not any(side == "key" for side, _m in columns):
        raise SpecError("%s:1: no key column (want key and value, or key.<member> and value.<member>)" % path)
    simple = header in (["key", "value"], ["key"])
    for row in rows:
        line = rows.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise SpecError("%s:%d: %d fields, the header has %d" % (path, line, len(row), len(header)))
        if simple:
            yield line, {"key": _cell(row[0]), "value": _cell(row[1])} if len(row) > 1 else {"key": _cell(row[0])}
            continue
        entry = {}
        for (side, member), text in zip(columns, row):
            if member is None:
                entry[side] = _cell(text)
                continue
            node = entry.setdefault(side, {})
            for part in member[:-1]:
                node = node.setdefault(part, {})
            node[member[-1]] = _cell(text)
        yield line, entry


_READERS = {"json": _read_json, "jsonl": _read_jsonl, "yaml": _read_yaml, "csv": _read_csv}


# ---------------------------------------------------------------------------
# Encoders: a fast path through one precompiled struct, the BTF encoder
# behind it for everything else and for every error message.
# ---------------------------------------------------------------------------

class Codec:
    """Encodes a key or a value of map ``m``: ``encode(obj, path, line)``
    -> bytes. ``fast`` says whether a precompiled struct serves it."""

    def __init__(self, m, side, formats):
        self.m = m
        self.side = side
        self.formats = formats
        self.fast = None
        self.names = None
        if m.btf is None or formats or (side == "value" and m.percpu):
            return
        type_id = m.key_type_id if side == "key" else m.value_type_id
        if not type_id:
            return
        self._compile(m.btf, type_id)

    def _compile(self, btf, type_id):
        t = btf.type_by_id(btf.resolve(type_id))
        code = _scalar_code(btf, t)
        if code is not None:
            self.fast = struct.Struct("=" + code)
            return
        if t.kind != layout.BTF_KIND_STRUCT:
            return
        codes, names, offset = [], [], 0
        for member in sorted(t.members, key=lambda mb: mb.bit_offset):
            mt = btf.type_by_id(btf.resolve(member.type))
            mcode = _scalar_code(btf, mt)
            if mcode is None or member.bitfield_size or member.bit_offset % 8 or not member.name:
                return
            start = member.bit_offset // 8
            if start < offset:
                return
            codes.append("%dx%s" % (start - offset, mcode) if start > offset else mcode)
            names.append(member.name)
            offset = start + mt.size
        if t.size > offset:
            codes.append("%dx" % (t.size - offset))
        self.fast = struct.Struct("=" + "".join(codes))
        self.names = tuple(names)

    def encode(self, obj, path, line):
        fast = self.fast
        if fast is not None:
            try:
                if self.names is None:
                    if obj.__class__ is int:
                        return fast.pack(obj)
                elif obj.__class__ is dict and len(obj) == len(self.names):
                    return fast.pack(*[obj[n] for n in self.names])
            except (struct.error, KeyError, TypeError):
                pass    # the BTF encoder says why, or takes what we did not (enum names, "0x..")
        what = "%s:%d" % (path, line)
        if self.side == "key":
            return self.m.encode_key(obj, self.formats, what)
        return self.m.encode_value(obj, self.formats, what)


def _scalar_code(btf, t):
    if t.kind == layout.BTF_KIND_INT and not t.is_bool:
        return _INT_CODES.get((t.size, bool(t.encoding & layout.BTF_INT_SIGNED)))
    if t.kind in (layout.BTF_KIND_ENUM, layout.BTF_KIND_ENUM64):
        # Enum names go through the BTF encoder; numbers pack as its size.
        return _INT_CODES.get((t.size, bool(getattr(t, "signed", False))))
    return None


def load_wanted(m, path, fmt, state, key_formats, value_formats, name=None):
    """The entries of file ``path`` encoded for map ``m``: {key bytes:
    value bytes} (b'' values with state=absent). Raises SpecError naming
    file (``name``, default ``path``), line and member on the first bad
    entry. Cost: one dict of n pairs of bytes; nothing else per entry
    outlives its line."""
    keys = Codec(m, "key", key_formats)
    values = Codec(m, "value", value_formats)
    present = state == "present"
    is_array = uapi.is_array(m.type)
    if fmt == "csv" and present and not is_array and keys.names is None and values.names is None and \
            keys.fast is not None and values.fast is not None:
        wanted = _load_scalar_csv(path, name or path, keys, values)
        if wanted is not None:
            return wanted
    reading = read_entries_file(path, fmt, name)
    path = name or path
    wanted = {}
    for line, entry in reading:
        if entry.__class__ is not dict or "key" not in entry or len(entry) > 2 or (present and "value" not in entry):
            _bad_entry(path, line, entry, present)
        key = keys.encode(entry["key"], path, line)
        if key in wanted:
            raise SpecError("%s:%d: key %r is listed twice" % (path, line, entry["key"]))
        if is_array and int.from_bytes(key, sys.byteorder) >= m.max_entries:
            raise SpecError("%s:%d: key %r: index beyond the array's %d entries" % (
                path, line, entry["key"], m.max_entries))
        wanted[key] = values.encode(entry["value"], path, line) if present else b""
    return wanted


def _load_scalar_csv(path, name, keys, values):
    """load_wanted for the common large case: a CSV of plain ``key,value``
    integers into scalar key and value: one int() and one pack() per cell,
    no per-row objects. A row it cannot take goes through the general
    encoder (which names what is wrong, or takes hex and enumerator
    names). None when the header is not ``key,value``."""
    try:
        f = io.open(path, "r", encoding="utf-8", newline="")
    except (IOError, OSError) as e:
        raise SpecError("entries_src '%s': cannot open: %s" % (name, e.strerror or e)) from e
    with f:
        rows = csv.reader(f)
        try:
            header = next(rows, None)
            if header is None or [h.strip() for h in header] != ["key", "value"]:
                return None
            kpack, vpack = keys.fast.pack, values.fast.pack
            wanted = {}
            n = 0
            for row in rows:
                try:
                    k, v = row
                    wanted[kpack(int(k))] = vpack(int(v))
                except (ValueError, struct.error):
                    line = rows.line_num
                    if not row:
                        continue
                    if len(row) != 2:
                        raise SpecError("%s:%d: %d fields, the header has 2" % (name, line, len(row))) from None
                    key = keys.encode(_cell(row[0]), name, line)
                    if key in wanted:
                        raise SpecError("%s:%d: key %r is listed twice" % (name, line, _cell(row[0]))) from None
                    wanted[key] = values.encode(_cell(row[1]), name, line)
                n += 1
                if len(wanted) != n:
                    raise SpecError("%s:%d: key %r is listed twice" % (name, rows.line_num, _cell(row[0])))
        except UnicodeDecodeError as e:
            raise SpecError("entries_src '%s': not UTF-8 text (%s)" % (name, e.reason)) from e
        except csv.Error as e:
            raise SpecError("%s:%d: not CSV: %s" % (name, rows.line_num, e)) from e
    return wanted


def _bad_entry(path, line, entry, present):
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"key", "value"})
        if unknown:
            raise SpecError("%s:%d: unknown field(s) %s (want key, value)" % (path, line, ", ".join(unknown)))
        if "key" not in entry:
            raise SpecError("%s:%d: no key" % (path, line))
        if present:
            raise SpecError("%s:%d: value is required with state=present" % (path, line))
    raise SpecError("%s:%d: want a mapping with key (and value), got %r" % (path, line, entry))


# ---------------------------------------------------------------------------
# Reading the map, the diff, and the writes.
# ---------------------------------------------------------------------------

class Reader:
    """Reads map ``m`` back in batches, or one key at a time where the
    kernel or map type has no BPF_MAP_LOOKUP_BATCH; ``batched`` says which
    after the first read."""

    def __init__(self, m):
        self.m = m
        self.batched = True

    def image(self):
        """(keys, values, n): every element, packed (bytes), in the order
        the kernel returns them."""
        m = self.m
        ks, vs = m.key_size, m.lookup_size
        chunks = syscalls.map_lookup_batches(m.fd, ks, vs, CHUNK, what=m.path)
        try:
            first = next(chunks, None)
        except SyscallError as e:
            if e.errno not in syscalls.BATCH_UNSUPPORTED:
                raise
            self.batched = False
            keys, values = [], []
            for key in syscalls.map_keys(m.fd, ks, what=m.path):
                value = syscalls.map_lookup(m.fd, key, vs, what=m.path)
                if value is not None:
                    keys.append(key)
                    values.append(value)
            return b"".join(keys), b"".join(values), len(keys)
        if first is None:
            return b"", b"", 0
        keys, values, n = [], [], 0
        for k, v, count in _chain(first, chunks):
            keys.append(k)
            values.append(v)
            n += count
        return b"".join(keys), b"".join(values), n


def pairs(keys, values, key_size, value_size):
    """(key, value) bytes of packed ``keys`` and ``values``."""
    return zip(map(_first, struct.iter_unpack("%ds" % key_size, keys)),
               map(_first, struct.iter_unpack("%ds" % value_size, values)))


def _chain(first, rest):
    yield first
    yield from rest


class SyncPlan:
    """What the map needs: ``changed_entries`` [(key, value)], ``added``
    {key: value} (the file's new keys), ``removed`` [key]; counts, the
    final size, and a bounded sample for the diff."""

    def __init__(self):
        self.changed_entries = []
        self.added = {}
        self.removed = []
        self.unchanged = 0
        self.current = 0
        self.sample = {"before": {}, "after": {}}

    @property
    def changed(self):
        return bool(self.changed_entries or self.added or self.removed)

    def counts(self):
        return {"added": len(self.added), "changed": len(self.changed_entries), "removed": len(self.removed),
                "unchanged": self.unchanged}


def plan_sync(m, current, wanted, exclusive, state, key_formats, value_formats):
    """Diff ``current`` ((key, value) bytes, any order, read once) against
    ``wanted`` ({key: value} from the file, left as it is: the keys the map
    lacks become the plan's ``added``). O(n) by comparing bytes. Raises LoaderError when
    the result would not fit max_entries, before anything is written."""
    p = SyncPlan()
    is_array = uapi.is_array(m.type)
    zero = b"\0" * m.lookup_size
    get = wanted.get
    found = set()
    present = state == "present"
    changed_entries, removed = p.changed_entries, p.removed
    for key, value in current:
        p.current += 1
        want = get(key)
        if want is None:
            if exclusive and present and not (is_array and value == zero):
                removed.append(key)
                _sample(p, m, key, value, None, key_formats, value_formats)
            continue
        found.add(key)
        if not present:
            if not (is_array and value == zero):
                removed.append(key)
                _sample(p, m, key, value, None, key_formats, value_formats)
        elif want == value:
            p.unchanged += 1
        else:
            changed_entries.append((key, want))
            _sample(p, m, key, value, want, key_formats, value_formats)
    if present:
        # Usually all (a first sync) or none (a no-op) of the file is new;
        # neither case copies the file's dict.
        p.added = wanted if not found else (
            {} if len(found) == len(wanted) else dict((k, v) for k, v in wanted.items() if k not in found))
        for key in p.added:
            if p.sample.get("_n", {}).get("added", 0) >= DIFF_SAMPLE:
                break
            _sample(p, m, key, None, p.added[key], key_formats, value_formats)
    p.final = m.max_entries if is_array else p.current - len(removed) + len(p.added)
    if p.final > m.max_entries:
        raise LoaderError("map '%s' is full: it would hold %d entries (%d now, %d new, %d removed), max_entries "
                          "is %d; %d do not fit" % (m.path, p.final, p.current, len(p.added), len(removed),
                                                    m.max_entries, p.final - m.max_entries),
                          hint="raise its max_entries with ebpf.deploy.bpf_collection, or use exclusive: true")
    return p


def _sample(p, m, key, before, after, key_formats, value_formats):
    # Up to DIFF_SAMPLE entries of each kind (added, changed, removed).
    kind = "changed" if before is not None and after is not None else ("removed" if after is None else "added")
    counts = p.sample.setdefault("_n", {})
    if counts.get(kind, 0) >= DIFF_SAMPLE:
        return
    counts[kind] = counts.get(kind, 0) + 1
    k = _canon(m.decode_key(key, key_formats))
    if before is not None:
        p.sample["before"][k] = m.decode_value(before, value_formats)
    if after is not None:
        p.sample["after"][k] = m.decode_value(after, value_formats)


def diff_of(p):
    """The before/after of the sampled entries, with the full counts."""
    counts = p.counts()
    return {"before": {"entries": p.sample["before"]},
            "after": {"entries": p.sample["after"], "counts": counts,
                      "sampled": "at most %d entries of each kind shown" % DIFF_SAMPLE}}


def _refused(err, done, count):
    # The command itself refused (no batch commands in this kernel or for
    # this map type), before any element: the kernel leaves the count as
    # given when it does not know the command, and says 0 when the map
    # type lacks it. Anything else is a real failure part way.
    return err.errno in syscalls.BATCH_UNSUPPORTED and done in (0, count)


def _unzip(items):
    keys, values = [], []
    for key, value in items:
        keys.append(key)
        values.append(value)
    return keys, values


class Writer:
    """Writes and deletes in batches of CHUNK elements, or per entry where
    the kernel or map type has no batch command (``batched`` is False
    after a fallback)."""

    def __init__(self, m, batched=True):
        self.m = m
        self.batched = batched

    def update(self, items):
        """Write [(key, value)] (any iterable)."""
        self.update_lists(*_unzip(items))

    def update_lists(self, keys, values):
        """Write keys[i] -> values[i] (two lists of bytes)."""
        for start in range(0, len(keys), CHUNK):
            self._update_chunk(keys[start:start + CHUNK], values[start:start + CHUNK])

    def _update_chunk(self, keys, values):
        m = self.m
        if self.batched:
            failed = syscalls.map_update_batch(m.fd, b"".join(keys), b"".join(values), len(keys), what=m.path)
            if failed is None:
                return
            done, err = failed
            if err.errno == errno.E2BIG:
                raise full_map(m) from err
            if not _refused(err, done, len(keys)):
                raise err
            self.batched = False
        for key, value in zip(keys, values):
            write_entry(m, key, value)

    def delete(self, keys):
        """Delete [key]: array slots are zeroed instead."""
        m = self.m
        if uapi.is_array(m.type):
            zero = b"\0" * m.lookup_size
            self.update((key, zero) for key in keys)
            return
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            if self.batched:
                failed = syscalls.map_delete_batch(m.fd, b"".join(chunk), len(chunk), what=m.path)
                if failed is None:
                    continue
                done, err = failed
                if not _refused(err, done, len(chunk)):
                    raise err
                self.batched = False
            for key in chunk:
                syscalls.map_delete(m.fd, key, what=m.path)


def _same(wanted, keys, values, key_size, value_size):
    """Whether every packed key's value in ``wanted`` is the packed value
    beside it: the file's values laid out in the map's key order and
    compared as bytes, a CHUNK at a time (C loops, little memory)."""
    key_format = "%ds" % key_size
    get = wanted.__getitem__
    try:
        for start in range(0, len(keys) // key_size, CHUNK):
            chunk = keys[start * key_size:(start + CHUNK) * key_size]
            expect = b"".join(map(get, map(_first, struct.iter_unpack(key_format, chunk))))
            if expect != values[start * value_size:(start + CHUNK) * value_size]:
                return False
    except KeyError:
        return False
    return True


class EntriesNeeded(SpecError):
    """Only the file's digest came (``entries_src`` on the controller), and
    the host has not kept its entries: the caller sends the file and asks
    again. Nothing was written."""


def converge_entries_src(pin_root, ref, path, fmt=None, exclusive=False, state="present", key_format=None,
                         value_format=None, check_mode=False, digest=None, source=None, cache_dir=None,
                         atomic=False, slot=None):
    """Make the map hold the entries of file ``path`` (on this host);
    returns the result: counts, the syscalls used and a bounded diff.

    ``digest`` is the file's SHA-256 when the caller knows it (the action
    plugin sends it first); ``path`` None means only the digest came: the
    entries kept from an earlier run serve, else EntriesNeeded is raised.
    ``source`` is what messages call the file (default ``path``).
    ``atomic``: ``ref`` is an outer map and ``slot`` its key; a change is
    written into a fresh copy of the inner map and put into the slot with
    one update (entries_swap.py). Raises
    SpecError naming file, line and member, LoaderError when the map is
    missing or the entries do not fit; on error nothing was written (the
    file is encoded and the diff made before the first write)."""
    source = source or path
    fmt = file_format(source, fmt)
    if atomic and state != "present":
        raise SpecError("atomic: true fills a fresh map with the file's entries; it takes state=present")
    if slot is not None and not atomic:
        raise SpecError("slot: names the outer map's slot for atomic: true; set atomic: true or leave it out")
    if atomic and slot is None:
        raise SpecError("atomic: true needs slot, the key of the outer map's slot that holds the map")
    key_formats = _formats(key_format, "key_format")
    value_formats = _formats(value_format, "value_format")
    mpath = map_path(pin_root, ref)
    pins = _collection_of(mpath)
    sync = _Sync(mpath, path, source, fmt, exclusive, state, key_formats, value_formats, check_mode, digest,
                 cache_dir, slot if atomic else None)
    if pins is None:
        return sync.run()
    with collection_lock(pins):
        return sync.run()


class _Sync:
    """One converge of a map with a file: the kept entries when the file's
    digest and the map's layout match them, else the parsed file."""

    def __init__(self, mpath, path, source, fmt, exclusive, state, key_formats, value_formats, check_mode,
                 digest, cache_dir, slot):
        self.mpath, self.path, self.source, self.fmt = mpath, path, source, fmt
        self.slot = slot
        self.exclusive, self.state, self.check_mode = exclusive, state, check_mode
        self.key_formats, self.value_formats = key_formats, value_formats
        self.digest, self.cache_dir = digest, cache_dir
        self.warnings = []

    def run(self):
        if self.slot is None:
            m = PinnedMap(self.mpath)
            try:
                return self._run(m, None)
            finally:
                m.close()
        slot = entries_swap.Slot(self.mpath, self.slot)
        try:
            m = slot.inner()
            try:
                return self._run(m, slot)
            finally:
                m.close()
        finally:
            slot.close()

    def _file_digest(self):
        if self.digest is None:
            try:
                self.digest = file_sha256(self.path)
            except (IOError, OSError) as e:
                raise SpecError("entries_src '%s': cannot open: %s" % (self.source, e.strerror or e)) from e
        return self.digest

    def _run(self, m, slot):
        ks, vs = m.key_size, m.lookup_size
        key = kept = None
        if self.state == "present":
            key = entries_cache.content_key(self._file_digest(), self.fmt, self.state, self.key_formats,
                                            self.value_formats, m)
            kept = entries_cache.load(key, m, self.cache_dir)
        if kept is None and self.path is None:
            raise EntriesNeeded("entries_src '%s': not kept on this host; send it" % self.source)
        reader = Reader(m)
        keys, values, n = reader.image()
        if kept is not None and kept.keys == keys and kept.values == values:
            # The map holds exactly the kept entries, that is the file's.
            counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": n}
            diff = {"before": {"entries": {}}, "after": {"entries": {}, "counts": counts}}
            return self._result(m, reader.batched, False, counts, n, 0, 0, diff, "kept")
        if kept is not None:
            wanted, source = kept.as_dict(ks, vs), "kept"
        else:
            wanted = load_wanted(m, self.path, self.fmt, self.state, self.key_formats, self.value_formats,
                                 self.source)
            source = "file"
        full = wanted if key is not None and not self.check_mode else None
        extras = [] if slot is None or self.exclusive else [
            (k, v) for k, v in pairs(keys, values, ks, vs) if k not in wanted]
        p = plan_sync(m, pairs(keys, values, ks, vs), wanted, self.exclusive, self.state, self.key_formats,
                      self.value_formats)
        del keys, values
        writer = Writer(m, reader.batched)
        if slot is not None:
            if self.check_mode or not p.changed:
                return self._result(m, reader.batched, p.changed, p.counts(), p.final, 0, 0, diff_of(p), source)
            return self._swap(slot, m, reader, p, key, wanted, extras, source)
        if not self.check_mode:
            if p.removed:
                writer.delete(p.removed)
            if p.changed_entries:
                writer.update(p.changed_entries)
            if p.added:
                writer.update_lists(list(p.added), list(p.added.values()))
        result = self._result(m, reader.batched and writer.batched, p.changed, p.counts(), p.final,
                              len(p.changed_entries) + len(p.added), len(p.removed), diff_of(p), source)
        del p, wanted   # only ``full`` (the same dict) is needed from here on
        if full is not None:
            self._keep(m, reader, key, full)
        return result

    def _swap(self, slot, m, reader, p, key, wanted, extras, source):
        # Everything into a fresh map, then one update of the slot.
        fresh = slot.fresh(m)
        try:
            writer = Writer(fresh, reader.batched)
            writer.update_lists(list(wanted), list(wanted.values()))
            if extras:
                writer.update(extras)
            slot.put(fresh)
            result = self._result(fresh, reader.batched and writer.batched, True, p.counts(), p.final,
                                  len(wanted) + len(extras), len(p.removed), diff_of(p), source)
            result["inner_map_id"] = slot.inner_id
            del p
            self._keep(fresh, Reader(fresh), key, wanted)
            return result
        finally:
            fresh.close()

    def _keep(self, m, reader, key, full):
        # Read the map back: the file's entries must all be there. Kept in
        # the map's order, so that the next run compares bytes. The common
        # case (the map holds exactly the file) is checked as bytes (_same).
        ks, vs = m.key_size, m.lookup_size
        keys, values, n = reader.image()
        if n == len(full) and _same(full, keys, values, ks, vs):
            self._store(m, key, keys, values, n)
            return
        get = full.get
        found = sum(1 for k, v in pairs(keys, values, ks, vs) if get(k) == v)
        missing = len(full) - found
        if missing:
            self.warnings.append("map '%s': read back after the write, %d of the file's %d entries differ (does "
                                 "another writer change it?); its entries are not kept" % (m.path, missing, len(full)))
            return
        order = [k for k in map(_first, struct.iter_unpack("%ds" % ks, keys)) if k in full]
        self._store(m, key, b"".join(order), b"".join(map(full.__getitem__, order)), len(order))

    def _store(self, m, key, keys, values, n):
        warning = entries_cache.store(key, m, keys, values, n, self.cache_dir)
        if warning:
            self.warnings.append(warning)

    def _result(self, m, batched, changed, counts, final, written, deleted, diff, source):
        return {"changed": changed, "written": written, "deleted": deleted, "entries": final, "map": m.path,
                "counts": counts, "syscalls": "batch" if batched else "per-entry", "diff": diff,
                "entries_sha256": self.digest, "encoded_from": source, "warnings": self.warnings}


def converge_from_params(ref, p, check_mode):
    """bpf_map's ``entries_src`` from the module's checked parameters ``p``:
    a file on the host (``remote_src``), or one on the controller, whose
    digest comes first (``entries_sha256``) and the file itself
    (``entries_received``) only when the host has kept neither its entries
    nor, in this run (``run_id``), the file. Raises EntriesNeeded then."""
    kw = dict(fmt=p["entries_format"], exclusive=p["exclusive"], state=p["state"], key_format=p["key_format"],
              value_format=p["value_format"], check_mode=check_mode, atomic=p["atomic"], slot=p["slot"])
    src, sha = p["entries_src"], p["entries_sha256"]
    if p["remote_src"]:
        if sha or p["entries_received"]:
            raise SpecError("entries_sha256, entries_received: internal to an entries_src on the controller; "
                            "leave them unset")
        return converge_entries_src(p["pin_root"], ref, src, **kw)
    if not sha:
        raise SpecError("entries_src: a file on the controller needs the ebpf.deploy.bpf_map action plugin (run "
                        "it as a task, not with a raw module call); for a file on the host set remote_src: true")
    run_id = p["run_id"] or "adhoc-%d" % os.getpid()
    received = p["entries_received"]
    if received:
        shipped = shipped_object(src, sha, run_id, received=received, what="entries")
        result = converge_entries_src(p["pin_root"], ref, shipped.path or received, digest=sha, source=src, **kw)
    else:
        try:
            return dict(converge_entries_src(p["pin_root"], ref, None, digest=sha, source=src, **kw),
                        entries_sent=False)
        except EntriesNeeded:
            shipped = shipped_object(src, sha, run_id, what="entries")
            if shipped.path is None:
                raise
        result = converge_entries_src(p["pin_root"], ref, shipped.path, digest=sha, source=src, **kw)
    result["warnings"] = shipped.warnings + result["warnings"]
    result["entries_sent"] = bool(received)
    return result
