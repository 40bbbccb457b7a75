# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The encoded form of a map's entries file, kept on the host between runs.

After ``entries_src`` synced a map and read it back equal to the file, the
file's entries are kept as two packed buffers (keys, values), in the order
the map returned them, in one file per map under CACHE_DIR. The next run
with the same file (same SHA-256) and the same map layout does not parse
the file at all: it reads the map in batches and compares the two buffers
with the kept ones; equal bytes prove the map holds exactly those entries.
When they differ (another writer, the map made again) the kept buffers
still stand in for the parsed file.

The file is a cache, never trusted blindly: it is used only when it is a
private regular file of this user (0600, one link, no symlink) in a 0700
directory of this user, its header names the same content key (file
digest, format, formats, state, map type, sizes and BTF), and the SHA-256
of its payload matches. Anything else is ignored and the file is parsed.
Writers are atomic (write, fsync, rename). CACHE_DIR is under /run: map
contents do not survive a reboot, nor does their cache.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import operator
import os
import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.run_dir import (
    NotPrivate, Unusable, _open_dir, open_private, read_all, unlink_quietly, write_atomic)

CACHE_DIR = "/run/ebpf_deploy/entries"
_MAGIC = b"EBPFENT1"
# magic, entries, key size, value size, content key, payload SHA-256
HEADER = struct.Struct("=8sQII32s32s")


def content_key(file_digest, fmt, state, key_formats, value_formats, m):
    """What the encoded entries depend on: the file's SHA-256 and format,
    the formats, the state, and the map's type, sizes and BTF (digest and
    type ids). 32 bytes."""
    parts = [file_digest, fmt, state, sorted(key_formats.items()), sorted(value_formats.items()), m.type,
             m.key_size, m.value_size, m.lookup_size, m.btf_sha256, m.key_type_id, m.value_type_id]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()


def cache_name(map_path):
    """The cache file of the map pinned at ``map_path``: one per map."""
    return "%s.entries" % hashlib.sha256(os.fsencode(map_path)).hexdigest()[:32]


class Kept:
    """Entries kept for a map: ``keys`` and ``values`` packed (bytes), ``n``."""

    __slots__ = ("keys", "values", "n")

    def __init__(self, keys, values, n):
        self.keys = keys
        self.values = values
        self.n = n

    def as_dict(self, key_size, value_size):
        """{key: value} of the kept entries (bytes)."""
        first = operator.itemgetter(0)
        return dict(zip(map(first, struct.iter_unpack("%ds" % key_size, self.keys)),
                        map(first, struct.iter_unpack("%ds" % value_size, self.values))))


def load(key, m, directory=None):
    """The Kept entries of map ``m`` (a PinnedMap) for content ``key``, or
    None when there are none, they are for another content, or the file is
    not ours, not private or damaged (then it is removed)."""
    directory = directory or CACHE_DIR
    try:
        dir_fd = _open_dir(directory, create=False)
    except (OSError, Unusable):
        return None
    name = cache_name(m.path)
    try:
        fd = open_private(dir_fd, name)
        if fd is None:
            return None
        try:
            head = read_all(fd, HEADER.size)
            if len(head) != HEADER.size:
                raise NotPrivate("short header")
            magic, n, key_size, value_size, kept_key, payload_sha = HEADER.unpack(head)
            if magic != _MAGIC:
                raise NotPrivate("not an entries cache")
            if kept_key != key or key_size != m.key_size or value_size != m.lookup_size:
                return None
            size = n * (key_size + value_size)
            payload = read_all(fd, size)
        finally:
            os.close(fd)
        if len(payload) != size or hashlib.sha256(payload).digest() != payload_sha:
            raise NotPrivate("damaged")
        split = n * key_size
        return Kept(payload[:split], payload[split:], n)
    except (NotPrivate, OSError):
        unlink_quietly(dir_fd, name)
        return None
    finally:
        os.close(dir_fd)


def store(key, m, keys, values, n, directory=None):
    """Keep ``n`` packed ``keys`` and ``values`` for map ``m`` and content
    ``key``. Returns None, or a warning line when the cache cannot be
    written (the sync itself is done; the next run parses the file)."""
    directory = directory or CACHE_DIR
    payload = b"".join((keys, values))
    head = HEADER.pack(_MAGIC, n, m.key_size, m.lookup_size, key, hashlib.sha256(payload).digest())
    try:
        dir_fd = _open_dir(directory, create=True)
    except (OSError, Unusable) as e:
        return "entries_src: cannot keep the encoded entries in %s: %s" % (directory, e)
    try:
        write_atomic(dir_fd, cache_name(m.path), head + payload)
    except OSError as e:
        return "entries_src: cannot keep the encoded entries in %s: %s" % (directory, e.strerror or e)
    finally:
        os.close(dir_fd)
    return None
