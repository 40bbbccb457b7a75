# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-disk BTF index on its own, over small hand-built BTF (no kernel,
no directory): an index opens over the blob it was built from and answers
as a fresh parse; any other blob, size or byte is refused with its reason."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import index_format as F
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF


def small_btf(names):
    """A raw BTF blob of 4-byte INTs called ``names`` (ids 1, 2, ...)."""
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    starts = [strtab.index(b"\0" + n.encode() + b"\0") + 1 for n in names]
    types = b"".join(struct.pack("<4I", off, L.make_info(L.BTF_KIND_INT), 4, 32) for off in starts)
    header = struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab))
    return header + types + strtab


BLOB = small_btf(["a", "x___v2", "b", "a", "x"])


def index_of(blob):
    return F.build_index(BTF.from_bytes(blob), F.btf_identity(blob), len(blob))


def test_round_trip():
    btf = F.open_index(index_of(BLOB), BLOB, F.btf_identity(BLOB), "small")
    fresh = BTF.from_bytes(BLOB)
    assert btf.count == fresh.count == 6
    for name in ("a", "b", "x", "x___v2", "missing", ""):
        assert btf.ids_by_name(name) == fresh.ids_by_name(name)
        assert btf.ids_by_essential_name(name) == fresh.ids_by_essential_name(name)


@pytest.mark.parametrize("mangle, reason", [
    (lambda b: b[:100], "truncated"),
    (lambda b: b + b"\0" * 8, "trailing data"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
    (lambda b: b"NOTBTFIX" + b[8:], "not a BTF index"),
])
def test_damaged_index_is_refused(mangle, reason):
    with pytest.raises(F.InvalidIndex, match=reason):
        F.open_index(mangle(index_of(BLOB)), BLOB, F.btf_identity(BLOB), "small")


def test_index_of_other_btf_is_refused():
    other = small_btf(["a", "x___v2", "b", "a", "y"])
    with pytest.raises(F.InvalidIndex, match="built from other BTF"):
        F.open_index(index_of(other), BLOB, F.btf_identity(BLOB), "small")


@pytest.mark.parametrize("size, reason", [(0, "truncated"), (F.HEADER_SIZE - 1, "truncated"),
                                          (F.MAX_INDEX_SIZE + 1, "larger than any index")])
def test_check_file_size(size, reason):
    with pytest.raises(F.InvalidIndex, match=reason):
        F.check_file_size(size)
    F.check_file_size(F.HEADER_SIZE)
