# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The 2026 BTF format: 32-byte header with a layout section, 7-bit kinds, 24-bit vlen; kinds the
reader does not know sized from the layout section or refused; the cut back to the old header
(drop_layout_section). The kernel's side: tests/integration/test_btf_layout.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import types as T
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import drop_layout_section
from unit.btf.newheader import LIBBPF_LAYOUTS, with_layout_section
from unit.btf.test_reader import Blob, sample_blob

VMLINUX = "/sys/kernel/btf/vmlinux"


def all_types(btf):
    return [btf.type_by_id(i) for i in btf.iter_ids()]


@pytest.mark.parametrize("order", ["<", ">"])
def test_new_header_decodes_the_same(order):
    old, _ids = sample_blob(order)
    new = with_layout_section(old)
    a, b = BTF.from_bytes(old), BTF.from_bytes(new)
    assert b.kind_layouts == LIBBPF_LAYOUTS and a.kind_layouts is None
    assert all_types(a) == all_types(b) and a.count == b.count
    assert bytes(drop_layout_section(bytearray(new))) == old


def unknown_kind_blob(kind, vlen, info_sz, elem_sz, order="<"):
    """int, a record of ``kind`` (info_sz + vlen * elem_sz bytes after btf_type), a pointer."""
    b = Blob(order)
    b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32(32))
    b.t(kind, "newkind", 1, vlen=vlen, extra=b"\x07" * (info_sz + vlen * elem_sz))
    b.t(L.BTF_KIND_PTR, "", 1)
    return b.build()


@pytest.mark.parametrize("kind", [20, 31, 32, 100, 0x7f])
def test_unknown_kind_sized_by_layout_section(kind):
    records = LIBBPF_LAYOUTS + ((0, 0, 0),) * (kind - len(LIBBPF_LAYOUTS)) + ((8, 12, 0),)
    btf = BTF.from_bytes(with_layout_section(unknown_kind_blob(kind, 3, 8, 12), records))
    assert btf.count == 4
    assert btf.kind_of(2) == kind
    assert btf.type_by_id(2) == T.Unknown(2, "newkind", kind, 1, 3, 0)
    assert btf.type_by_id(2).kind_name == "KIND#%d" % kind
    assert btf.type_by_id(3) == T.Pointer(3, "", 1)
    assert btf.ids_by_name("newkind") == (2,)


def test_vlen_is_24_bits():
    # A kind with empty elements carries a vlen above 0xffff without the bytes.
    records = LIBBPF_LAYOUTS + ((4, 0, 0),)
    btf = BTF.from_bytes(with_layout_section(unknown_kind_blob(20, 0x123456, 4, 0), records))
    assert btf.type_by_id(2).vlen == 0x123456 and btf.type_by_id(3) == T.Pointer(3, "", 1)
    b = Blob()
    b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32(32))
    n = 0x10003
    b.t(L.BTF_KIND_ENUM, "big", 4, vlen=n, extra=b"".join(b.u32(0, i) for i in range(n)))
    b.t(L.BTF_KIND_PTR, "", 1)
    btf = BTF.from_bytes(b.build())
    assert len(btf.type_by_id(2).values) == n and btf.type_by_id(2).values[-1].value == n - 1
    assert btf.type_by_id(3) == T.Pointer(3, "", 1)


@pytest.mark.parametrize("label, data, message", [
    ("no layout section", unknown_kind_blob(20, 1, 4, 4),
     r"type #2: unknown kind 20, and the BTF has no layout section to size it \(this reader knows kinds 1..19\)"),
    ("kind beyond the layout section", with_layout_section(unknown_kind_blob(20, 1, 4, 4)),
     r"type #2: unknown kind 20, not described by the layout section \(20 kinds\)"),
    ("sizes not multiples of 4", with_layout_section(unknown_kind_blob(20, 1, 4, 4), LIBBPF_LAYOUTS + ((3, 4, 0),)),
     r"type #2: unknown kind 20: layout section sizes \(info 3, element 4\) are not multiples of 4"),
])
def test_unknown_kind_refused(label, data, message):
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(data)


def _patched_header(field, value):
    data = bytearray(with_layout_section(sample_blob()[0]))
    struct.pack_into("<I", data, {"layout_off": 24, "layout_len": 28, "str_off": 16}[field], value)
    return bytes(data)


@pytest.mark.parametrize("field, value, message", [
    ("layout_off", 2, "layout section offset 2 not 4-byte aligned"),
    ("layout_len", 6, "layout section length 6 not a multiple of 4"),
    ("layout_off", 0, r"layout section \[0, 80\) not between the type section's end"),
    ("layout_len", 400, r"layout section \[\d+, \d+\) not between"),
])
def test_bad_layout_section(field, value, message):
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(_patched_header(field, value))


@pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no %s" % VMLINUX)
def test_vmlinux_rewritten_to_new_header_decodes_the_same():
    with open(VMLINUX, "rb") as f:
        old = f.read()
    new = with_layout_section(old)
    a, b = BTF.from_bytes(old, name="vmlinux"), BTF.from_bytes(new, name="vmlinux-new")
    assert a.count == b.count > 1000
    for type_id in a.iter_ids():
        assert a.type_by_id(type_id) == b.type_by_id(type_id), type_id
    assert bytes(drop_layout_section(new)) == old
    # A module's split BTF (no layout section of its own) over the rewritten base.
    modules = "/sys/kernel/btf"
    names = sorted(n for n in os.listdir(modules) if n != "vmlinux")
    if names:
        path = os.path.join(modules, names[0])
        ma, mb = BTF.from_file(path, base=a), BTF.from_file(path, base=b)
        assert mb.kind_layouts is None and ma.count == mb.count
        assert all_types(ma) == all_types(mb)
