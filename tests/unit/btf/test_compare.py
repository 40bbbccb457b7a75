# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Layout comparison of BTF types, on hand-built BTF (no kernel, no clang):
what counts as a layout change (names, offsets, sizes, signedness, enum
values, bitfields, nesting) and what does not (typedefs, qualifiers, tags)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import layout_differences, leaves, type_title
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from unit.btf.test_reader import Blob


def build(members, name="cfg_val", typedef_u32=False, kflag=0):
    """A struct of ``members`` [(name, kind, bit offset[, bitfield bits])];
    kinds: u8/u16/u32/s32/u64, 'enum' (4 bytes), 'inner' (a nested struct
    {u16 a; u16 b;}), 'arr' (u8[4])."""
    b = Blob()
    ids = {}
    ids["u8"] = b.t(L.BTF_KIND_INT, "__u8", 1, extra=b.u32(8))
    ids["u16"] = b.t(L.BTF_KIND_INT, "__u16", 2, extra=b.u32(16))
    u32 = b.t(L.BTF_KIND_INT, "unsigned int", 4, extra=b.u32(32))
    ids["u32"] = b.t(L.BTF_KIND_TYPEDEF, "u32_t", u32) if typedef_u32 else u32
    ids["s32"] = b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32((L.BTF_INT_SIGNED << 24) | 32))
    ids["u64"] = b.t(L.BTF_KIND_INT, "__u64", 8, extra=b.u32(64))
    ids["enum"] = b.t(L.BTF_KIND_ENUM, "verdict", 4, vlen=2, extra=b.u32(b.s("PASS"), 0) + b.u32(b.s("DROP"), 1))
    ids["inner"] = b.t(L.BTF_KIND_STRUCT, "pair", 4, vlen=2,
                       extra=b.u32(b.s("a"), ids["u16"], 0) + b.u32(b.s("b"), ids["u16"], 16))
    ids["arr"] = b.t(L.BTF_KIND_ARRAY, "", 0, extra=b.u32(ids["u8"], ids["u32"], 4))
    ids["const_u32"] = b.t(L.BTF_KIND_CONST, "", ids["u32"])
    extra = b""
    for m in members:
        offset = m[2] | (m[3] << 24 if len(m) > 3 else 0)
        extra += b.u32(b.s(m[0]), ids[m[1]], offset)
    top = b.t(L.BTF_KIND_STRUCT, name, 16, vlen=len(members), kflag=kflag, extra=extra)
    return BTF.from_bytes(b.build()), top


V1 = [("action", "u32", 0), ("weight", "u16", 32), ("flags", "u16", 48)]


def diff(old, new, **kw):
    a, a_id = build(old)
    b, b_id = build(new, **kw)
    return layout_differences(a, a_id, b, b_id)


def test_identical_and_typedef_only_changes_are_the_same_layout():
    assert diff(V1, V1) == []
    assert diff(V1, V1, typedef_u32=True) == []
    assert diff(V1, [("action", "const_u32", 0)] + V1[1:]) == []
    assert diff(V1, V1, name="another_tag") == []


@pytest.mark.parametrize("new, words", [
    ([("weight", "u16", 0), ("flags", "u16", 16), ("action", "u32", 32)],
     ["action moved 0 \u2192 4", "weight moved 4 \u2192 0", "flags moved 6 \u2192 2"]),
    ([("verdict", "u32", 0)] + V1[1:], ["action removed (was at 0)", "verdict added at 0"]),
    ([("action", "s32", 0)] + V1[1:], ["action retyped u32 \u2192 s32"]),
    ([("action", "enum", 0)] + V1[1:], ["action retyped u32 \u2192 enum verdict (4 bytes, unsigned) {PASS=0, DROP=1}"]),
    ([("action", "inner", 0)] + V1[1:], ["action removed (was at 0)", "action.a added at 0", "action.b added at 2"]),
    ([("action", "arr", 0)] + V1[1:], ["action retyped u32 \u2192 u8[4]"]),
    (V1 + [("hits", "u64", 64)], ["hits added at 8"]),
])
def test_each_change_is_named(new, words):
    assert diff(V1, new) == words


def test_bitfields_compare_by_bit():
    old = [("lo", "u32", 0, 3), ("hi", "u32", 3, 5)]
    new = [("lo", "u32", 0, 4), ("hi", "u32", 4, 4)]
    a, a_id = build(old, kflag=1)
    b, b_id = build(new, kflag=1)
    assert layout_differences(a, a_id, b, b_id) == ["lo retyped u32:3 \u2192 u32:4", "hi moved bit 3 \u2192 bit 4",
                                                    "hi retyped u32:5 \u2192 u32:4"]


def test_leaves_and_title():
    btf, top = build([("p", "inner", 0), ("n", "u32", 32)])
    assert leaves(btf, top) == [("p.a", 0, "u16"), ("p.b", 16, "u16"), ("n", 32, "u32")]
    assert type_title(btf, top) == "struct cfg_val"
