# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of fix_datasecs and allocate_ksyms on hand-built DATASECs. A clang-built object whose
fixed BTF the kernel must accept (and whose raw BTF it refuses):
tests/integration/test_btf_objects.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import types as T
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import allocate_ksyms, append_types, fix_datasecs


# -- hand-built -------------------------------------------------------------

def build(order="<"):
    """int, three VARs, a '.data' DATASEC listing them out of order with
    zero offsets and size, and a '.kconfig' DATASEC."""
    strtab = bytearray(b"\0")

    def s(text):
        strtab.extend(text.encode() + b"\0")
        return len(strtab) - len(text) - 1

    def rec(*words):
        return struct.pack(order + "%dI" % len(words), *words)

    types = rec(s("int"), L.make_info(L.BTF_KIND_INT), 4, 32)                  # 1
    types += rec(s("a"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 2
    types += rec(s("b"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 3
    types += rec(s("c"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 4
    types += rec(s(".data"), L.make_info(L.BTF_KIND_DATASEC, 3), 0,           # 5
                 2, 0, 4, 3, 0, 4, 4, 0, 4)
    types += rec(s(".kconfig"), L.make_info(L.BTF_KIND_DATASEC, 1), 0,        # 6
                 4, 0, 4)
    hdr = struct.pack(order + "HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab))
    return hdr + types + bytes(strtab)


def secinfos(data, type_id):
    return [(v.type, v.offset, v.size) for v in BTF.from_bytes(bytes(data)).type_by_id(type_id).vars]


@pytest.mark.parametrize("order", ["<", ">"])
def test_sizes_offsets_and_order(order):
    data = build(order)
    btf = BTF.from_bytes(data)
    out = fix_datasecs(btf, {".data": 12}, {(".data", "a"): 8, (".data", "b"): 0, (".data", "c"): 4})
    assert isinstance(out, bytearray)
    fixed = BTF.from_bytes(bytes(out))
    assert fixed.type_by_id(5) == T.Datasec(5, ".data", 12, (
        T.VarSecinfo(3, 0, 4), T.VarSecinfo(4, 4, 4), T.VarSecinfo(2, 8, 4)))
    # Untouched: no rule for .kconfig.
    assert fixed.type_by_id(6) == btf.type_by_id(6)
    # The input is not modified.
    assert bytes(data) == btf.raw_bytes()
    assert btf.type_by_id(5).size == 0


def test_nothing_to_do_is_identity():
    btf = BTF.from_bytes(build())
    assert fix_datasecs(btf, {}, {}) == bytearray(btf.raw_bytes())
    assert fix_datasecs(btf, {".rodata": 8}, {(".bss", "a"): 4}) == bytearray(btf.raw_bytes())


def test_size_only_keeps_stable_order():
    # All offsets stay 0: equal keys keep their original order.
    out = fix_datasecs(BTF.from_bytes(build()), {".data": 4}, {})
    assert secinfos(out, 5) == [(2, 0, 4), (3, 0, 4), (4, 0, 4)]
    assert BTF.from_bytes(bytes(out)).type_by_id(5).size == 4


def test_offsets_only():
    out = fix_datasecs(BTF.from_bytes(build()), {}, {(".data", "a"): 16})
    assert secinfos(out, 5) == [(3, 0, 4), (4, 0, 4), (2, 16, 4)]


def test_rules_for_extern_sections():
    out = fix_datasecs(BTF.from_bytes(build()), {".kconfig": 8}, {(".kconfig", "c"): 4})
    fixed = BTF.from_bytes(bytes(out))
    assert fixed.type_by_id(6).size == 8
    assert secinfos(out, 6) == [(4, 4, 4)]


@pytest.mark.parametrize("sizes,offsets,message", [
    ({".data": 8}, {(".data", "a"): 0, (".data", "b"): 4, (".data", "c"): 8},
     r"DATASEC '.data': var 'c': offset 8 \+ size 4 beyond section size 8"),
    ({".data": -1}, {}, "DATASEC '.data': section size -1 out of u32 range"),
    ({}, {(".data", "a"): 1 << 32}, "DATASEC '.data': var 'a': offset 4294967296 out of u32 range"),
])
def test_errors(sizes, offsets, message):
    with pytest.raises(BTFError, match=message):
        fix_datasecs(BTF.from_bytes(build()), sizes, offsets)


def test_bad_var_reference():
    data = bytearray(build())
    # Point .data's first secinfo at a type id that does not exist.
    btf = BTF.from_bytes(bytes(data))
    struct.pack_into("<I", data, btf.type_offset(5) + 12, 99)
    with pytest.raises(BTFError, match="type id 99 out of range"):
        fix_datasecs(BTF.from_bytes(bytes(data)), {".data": 12}, {})


# -- a real object and the kernel -------------------------------------------


# -- .ksyms ------------------------------------------------------------------

def build_ksyms(order="<", with_int=True):
    """A '.ksyms' DATASEC as clang writes it: an extern FUNC whose proto
    has an unnamed parameter, an extern VAR of a 64-bit type, zero sizes."""
    strtab = bytearray(b"\0")

    def s(text):
        strtab.extend(text.encode() + b"\0")
        return len(strtab) - len(text) - 1

    def rec(*words):
        return struct.pack(order + "%dI" % len(words), *words)

    types = rec(s("long"), L.make_info(L.BTF_KIND_INT), 8, (L.BTF_INT_SIGNED << 24) | 64)    # 1
    types += rec(0, L.make_info(L.BTF_KIND_FUNC_PROTO, 1), 1, 0, 1)                          # 2: long (long)
    types += rec(s("kf"), L.make_info(L.BTF_KIND_FUNC, L.BTF_FUNC_EXTERN), 2)                # 3
    types += rec(s("kv"), L.make_info(L.BTF_KIND_VAR), 1, L.BTF_VAR_GLOBAL_EXTERN)          # 4
    types += rec(s(".ksyms"), L.make_info(L.BTF_KIND_DATASEC, 2), 0, 3, 0, 0, 4, 0, 8)      # 5
    if with_int:
        types += rec(s("int"), L.make_info(L.BTF_KIND_INT), 4, (L.BTF_INT_SIGNED << 24) | 32)  # 6
    hdr = struct.pack(order + "HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab))
    return hdr + types + bytes(strtab)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("with_int", [True, False], ids=["has-int", "no-int"])
def test_allocate_ksyms(order, with_int):
    btf = BTF.from_bytes(build_ksyms(order, with_int))
    raw = bytearray(btf.raw_bytes())
    types, strings = allocate_ksyms(raw, btf, ".ksyms")
    out = BTF.from_bytes(bytes(append_types(raw, types, strings)))
    int_id = 6 if with_int else btf.count
    dummy_id = btf.count + (0 if with_int else 1)
    assert out.count == dummy_id + 1
    assert (out.name_of(int_id), out.sizeof(int_id), out.type_by_id(int_id).bits) == ("int", 4, 32)
    dummy = out.type_by_id(dummy_id)
    assert (out.name_of(dummy_id), dummy.type, dummy.linkage) == ("dummy_ksym", int_id, L.BTF_VAR_GLOBAL_ALLOCATED)
    sec = out.type_by_id(5)
    assert sec.size == 8
    assert [(v.type, v.offset, v.size) for v in sec.vars] == [(dummy_id, 0, 4), (4, 4, 4)]
    assert out.type_by_id(3).linkage == L.BTF_FUNC_GLOBAL
    assert [p.name for p in out.type_by_id(2).params] == ["dummy_ksym"]
    kv = out.type_by_id(4)
    assert (kv.type, kv.linkage) == (int_id, L.BTF_VAR_GLOBAL_ALLOCATED)
    # The rest of the blob is as it was.
    assert out.name_of(1) == "long" and out.sizeof(1) == 8


def test_allocate_ksyms_without_ksyms_adds_nothing():
    btf = BTF.from_bytes(build())
    raw = bytearray(btf.raw_bytes())
    assert allocate_ksyms(raw, btf, ".ksyms") == (b"", b"")
    assert append_types(raw, b"", b"") is raw
    assert bytes(raw) == build()
