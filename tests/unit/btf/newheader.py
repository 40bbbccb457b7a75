# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewriting BTF to the 2026 header (hdr_len 32, a layout section between types and strings), as
libbpf's btf__new_empty_opts(add_layout) writes it: for the tests of the reader and the loader."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L

# libbpf's layouts[] table (src/btf.c): info_sz, elem_sz, flags per kind 0..BTF_KIND_ENUM64.
LIBBPF_LAYOUTS = tuple((0 if k == 0 else L.KIND_FIXED_SIZE[k], L.KIND_VLEN_SIZE[k], 0)
                       for k in range(L.BTF_KIND_MAX + 1))


def with_layout_section(raw, records=LIBBPF_LAYOUTS, types=None):
    """``raw`` (24-byte header BTF) rewritten with the 32-byte header and ``records`` as its
    layout section; ``types`` replaces the type section when given (bytes)."""
    order = L.byte_order_of(raw)
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        order + "HBBIIIII", raw, 0)
    old_types = raw[hdr_len + type_off:hdr_len + type_off + type_len]
    if types is None:
        types = old_types
    strings = raw[hdr_len + str_off:hdr_len + str_off + str_len]
    layout = b"".join(struct.pack(order + "BBH", *r) for r in records)
    hdr = struct.pack(order + "HBBIIIIIII", magic, version, flags, 32, 0, len(types),
                      len(types) + len(layout), len(strings), len(types), len(layout))
    return hdr + bytes(types) + layout + bytes(strings)
