# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helpers BTF and .BTF.ext share: a flat byte view of any contiguous
buffer, and the common header prefix (magic, version, flags, hdr_len)
checked once for both, with the reader's and BTF.ext's own names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import BTFExt
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError


def test_byte_view_flattens_without_copying():
    words = array.array("I", [1, 2])
    mv = L.byte_view(words, "BTF 'x'")
    assert (mv.ndim, mv.itemsize, len(mv)) == (1, 1, 8)
    words[0] = 7
    assert mv[0] == 7 or mv[3] == 7


@pytest.mark.parametrize("data, reason", [
    (object(), "data is not a buffer: object"),
    (memoryview(array.array("I", [1, 2, 3, 4]))[::2], "data is not a contiguous byte buffer"),
])
def test_byte_view_refuses(data, reason):
    with pytest.raises(BTFError, match="BTF 'x': " + reason):
        L.byte_view(data, "BTF 'x'")


@pytest.mark.parametrize("order", ["<", ">"])
def test_unpack_header_both_byte_orders(order):
    blob = struct.pack(order + "HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, 0, 0, 1) + b"\0"
    layout, fields = L.unpack_header(L.byte_view(blob, "t"), "BTF_HEADER", L.BTF_VERSION, "t")
    assert layout is L.LAYOUTS[order] and fields == (L.BTF_MAGIC, 1, 0, 24, 0, 0, 0, 1)


@pytest.mark.parametrize("mangle, reason", [
    (lambda h: h[:10], "header truncated: got 10 bytes, want at least 24"),
    (lambda h: b"\0\0" + h[2:], "bad magic 0x0000"),
    (lambda h: h[:2] + b"\2" + h[3:], "unsupported version 2: want 1"),
    (lambda h: h[:3] + b"\1" + h[4:], "unsupported header flags 0x1"),
    (lambda h: h[:4] + struct.pack("<I", 8) + h[8:], "hdr_len 8 shorter than the 24-byte header"),
    (lambda h: h[:4] + struct.pack("<I", 99) + h[8:], "hdr_len 99 beyond data of 25 bytes"),
])
def test_btf_and_btf_ext_refuse_a_bad_header_alike(mangle, reason):
    btf = mangle(struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, 0, 0, 1) + b"\0")
    with pytest.raises(BTFError, match="^BTF 'b': " + reason):
        BTF.from_bytes(btf, name="b")
    ext = mangle(struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, 0, 0, 0) + b"\0")
    with pytest.raises(BTFError, match="^BTF.ext 'e': " + reason):
        BTFExt(ext, BTF.from_bytes(struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, 0, 0, 1) + b"\0").strings,
               name="e")
