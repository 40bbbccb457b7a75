# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-disk index of kernel BTF types that the per-run cache keeps.

The index spares the two passes of a fresh parse (the offsets of ~127k
type records and the name index): ``build_index`` encodes them for a BTF
blob, ``open_index`` checks an index file against the very blob it claims
to describe and builds a ``BTF`` over it with ``BTF.from_index``.

Format version 1 (native byte order and alignment; the file never leaves
the host that wrote it)::

    header, 128 bytes
      0  magic        8s   b"EBPFBTFI"
      8  version      u32  1
     12  endian       u32  0x01020304 as written (another order: foreign)
     16  header_size  u32  128
     20  flags        u32  0
     24  source_size  u64  length of the BTF blob the index was built from
     32  identity     32s  SHA-256 of that blob
     64  type_count   u32  entries in the offsets table
     68  name_count   u32  entries in the name table
     72  flavor_count u32  entries in the flavour table
     76  reserved     u32  0
     80  checksum     u32  CRC-32 of the file with these 4 bytes left out
     84  zero padding up to 128
    payload
      offsets    u32[type_count]   record offset of each own type, by id
      (zero padding to a multiple of 8)
      names      u64[name_count]   (crc32(utf-8 name) << 32 | type id),
                                   ascending, one entry per named type
      flavors    u64[flavor_count] (crc32(essential name) << 32 | type id),
                                   ascending, one per flavoured type
                                   ('x___v2' has essential name 'x')

A lookup hashes the name, bisects the memoryview of the mapped table for
the hash's range and keeps the candidates whose name in the BTF really is
the one asked for (CRC-32 collides among 70k names about once), so it
returns exactly what a fresh parse returns, in the same (id) order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import struct
import zlib
from array import array
from bisect import bisect_left

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError

FORMAT_VERSION = 1
INDEX_MAGIC = b"EBPFBTFI"
_ENDIAN_TAG = 0x01020304
HEADER_SIZE = 128

# magic, version, endian, header_size, flags, source_size, identity,
# type_count, name_count, flavor_count, reserved, checksum
INDEX_HEADER = struct.Struct("=8sIIIIQ32sIIIII")
_CHECKSUM_OFF = 80
_CHECKSUM_END = 84

# No kernel BTF index comes near this; a larger file is damaged.
MAX_INDEX_SIZE = 1 << 28


class InvalidIndex(Exception):
    """The index at hand must not be trusted; the message says why."""


def btf_identity(data):
    """The identity of a BTF blob: the hex SHA-256 of its bytes. Cost:
    one pass over the data (about 4 ms for vmlinux's 5.5 MB here)."""
    return hashlib.sha256(data).hexdigest()


class _HashIndex:
    """Candidate ids for a name from a sorted u64 table of
    (crc32(name) << 32 | id), searched in place (a memoryview over the
    mapped file: no per-entry Python objects)."""

    __slots__ = ("_keys",)

    def __init__(self, keys):
        self._keys = keys

    def __call__(self, name):
        try:
            key = zlib.crc32(name.encode("utf-8")) << 32
        except UnicodeEncodeError:
            return ()
        keys = self._keys
        lo = bisect_left(keys, key)
        hi = bisect_left(keys, key + (1 << 32), lo)
        return [keys[i] & 0xffffffff for i in range(lo, hi)]


def _hash_table(items):
    # items: (name, id or ascending tuple of ids); -> sorted array('Q').
    crc = zlib.crc32
    keys = []
    append = keys.append
    for name, ids in items:
        h = crc(name.encode("utf-8")) << 32
        if ids.__class__ is int:
            append(h | ids)
        else:
            for type_id in ids:
                append(h | type_id)
    keys.sort()
    return array("Q", keys)


def build_index(btf, identity, source_size):
    """The index file's bytes for ``btf`` (a fresh parse, no base) whose
    blob of ``source_size`` bytes has the hex SHA-256 ``identity``. Builds
    the name index if not built yet; raises BTFError as ``ids_by_name``
    would. Cost: about 40 ms for vmlinux after the name index."""
    offsets, names, flavored = btf._index_parts()
    offsets = array("I", offsets)
    name_keys = _hash_table(names.items())
    flavor_keys = _hash_table(flavored.items())
    body = offsets.tobytes()
    body += b"\0" * (-len(body) % 8) + name_keys.tobytes() + flavor_keys.tobytes()
    header = bytearray(INDEX_HEADER.pack(
        INDEX_MAGIC, FORMAT_VERSION, _ENDIAN_TAG, HEADER_SIZE, 0, source_size,
        bytes(bytearray.fromhex(identity)), len(offsets), len(name_keys), len(flavor_keys), 0, 0))
    header += b"\0" * (HEADER_SIZE - len(header))
    checksum = zlib.crc32(bytes(header[:_CHECKSUM_OFF]))
    checksum = zlib.crc32(body, zlib.crc32(bytes(header[_CHECKSUM_END:]), checksum))
    struct.pack_into("=I", header, _CHECKSUM_OFF, checksum)
    return bytes(header) + body


def check_file_size(size):
    """Raises InvalidIndex when an index file of ``size`` bytes cannot be
    valid (shorter than the header, larger than any index): checked before
    the file is mapped."""
    if size > MAX_INDEX_SIZE:
        raise InvalidIndex("%d bytes, larger than any index" % size)
    if size < HEADER_SIZE:
        raise InvalidIndex("truncated: %d bytes, the header alone needs %d" % (size, HEADER_SIZE))


def _payload_layout(type_count, name_count, flavor_count):
    # (offsets_end, names_start, names_end, flavors_end)
    offsets_end = HEADER_SIZE + 4 * type_count
    names_start = offsets_end + (-offsets_end % 8)
    names_end = names_start + 8 * name_count
    return offsets_end, names_start, names_end, names_end + 8 * flavor_count


def open_index(buf, data, identity, name):
    """``BTF.from_index`` over ``data`` (the BTF blob, hex SHA-256
    ``identity``) with the index in ``buf`` (an mmap or bytes of a whole
    index file). Raises InvalidIndex with the reason when the index is
    truncated, damaged, of another format or byte order, or built from
    other BTF."""
    size = len(buf)
    if size < HEADER_SIZE:
        raise InvalidIndex("truncated: %d bytes, the header alone needs %d" % (size, HEADER_SIZE))
    (magic, version, endian, header_size, flags, source_size, ident, type_count, name_count,
     flavor_count, _reserved, checksum) = INDEX_HEADER.unpack_from(buf, 0)
    if magic != INDEX_MAGIC:
        raise InvalidIndex("not a BTF index (magic %r)" % magic)
    if endian != _ENDIAN_TAG:
        raise InvalidIndex("written in another byte order")
    if version != FORMAT_VERSION:
        raise InvalidIndex("format version %d, want %d" % (version, FORMAT_VERSION))
    if header_size != HEADER_SIZE or flags != 0:
        raise InvalidIndex("header size %d flags 0x%x, want %d and 0" % (header_size, flags, HEADER_SIZE))
    want_size = _payload_layout(type_count, name_count, flavor_count)[3]
    if size != want_size:
        raise InvalidIndex("%s: %d bytes, the header promises %d"
                           % ("truncated" if size < want_size else "trailing data", size, want_size))
    mv = memoryview(buf)
    actual = zlib.crc32(mv[_CHECKSUM_END:], zlib.crc32(mv[:_CHECKSUM_OFF]))
    if actual != checksum:
        raise InvalidIndex("checksum mismatch: got 0x%08x, header says 0x%08x" % (actual, checksum))
    if source_size != len(data) or ident != bytes(bytearray.fromhex(identity)):
        raise InvalidIndex("built from other BTF (identity %s, %d bytes; this BTF is %s, %d bytes)"
                           % (ident.hex()[:16], source_size, identity[:16], len(data)))
    offsets_end, names_start, names_end, flavors_end = _payload_layout(type_count, name_count, flavor_count)
    offsets = mv[HEADER_SIZE:offsets_end].cast("I")
    names = _HashIndex(mv[names_start:names_end].cast("Q"))
    flavors = _HashIndex(mv[names_end:flavors_end].cast("Q"))
    try:
        return BTF.from_index(data, offsets, names, flavors, name=name)
    except BTFError as exc:
        raise InvalidIndex("does not fit this BTF: %s" % exc) from exc
