# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Member-by-member conversion between BTF types, on hand-built BTF (no
kernel, no clang): what converts (widened, narrowed in range, moved,
retyped integers and enums, bitfields, arrays, defaults) and what is
refused (a value out of range, a member that changed kind, a key member
removed), in the words the user reads."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.convert import (
    ConversionError, encode_defaults, plan_conversion)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from unit.btf.test_compare import V1, build

A = "\u2192"


def conversion(old, new, part="value", defaults=None, kflag=0):
    a, a_id = build(old, kflag=kflag)
    b, b_id = build(new, kflag=kflag)
    encoded = None
    if defaults:
        encoded = dict((p, v) for p, (_f, v) in encode_defaults(b, b_id, defaults, "defaults").items())
    return plan_conversion(a, a_id, b, b_id, part, encoded)


def v1(action, weight, flags):
    return struct.pack("=IHH", action, weight, flags) + bytes(8)


def test_moved_and_widened_members_keep_their_values():
    wide = [("flags", "u16", 0), ("weight", "u32", 32), ("action", "u64", 64)]
    c = conversion(V1, wide)
    assert c.differences == ["flags: u16 at 6 %s u16 at 0" % A, "weight: u16 at 4 %s u32 at 4" % A,
                             "action: u32 at 0 %s u64 at 8" % A]
    assert c.problems == [] and c.removed == [] and c.added == []
    assert c.convert(v1(3, 80, 1)) == struct.pack("=HxxIQ", 1, 80, 3)


def test_narrowing_checks_the_range_and_names_the_member():
    wide = [("action", "u64", 0), ("weight", "u32", 64), ("flags", "u16", 96)]
    c = conversion(wide, V1)
    assert c.convert(struct.pack("=QIH", 3, 80, 1) + bytes(2)) == v1(3, 80, 1)
    with pytest.raises(ConversionError) as e:
        c.convert(struct.pack("=QIH", 3, 70000, 1) + bytes(2))
    assert str(e.value) == "member 'weight': 70000 does not fit u16"


@pytest.mark.parametrize("old, new, data, result, error", [
    ("s32", "u32", struct.pack("=i", -1), None, "member 'action': -1 does not fit u32"),
    ("u32", "s32", struct.pack("=I", 5), struct.pack("=i", 5), None),
    ("u32", "s32", struct.pack("=I", 1 << 31), None, "member 'action': 2147483648 does not fit s32"),
    ("u32", "enum", struct.pack("=I", 1), struct.pack("=I", 1), None),
    ("enum", "u16", struct.pack("=I", 1), struct.pack("=H", 1), None),
])
def test_signedness_and_enums(old, new, data, result, error):
    c = conversion([("action", old, 0)], [("action", new, 0)])
    if error:
        with pytest.raises(ConversionError) as e:
            c.convert(data + bytes(16 - len(data)))
        assert str(e.value) == error
    else:
        assert c.convert(data + bytes(16 - len(data))) == result + bytes(16 - len(result))


def test_bitfields_convert_by_value():
    c = conversion([("lo", "u32", 0, 3), ("hi", "u32", 3, 5)], [("hi", "u32", 0, 8), ("lo", "u32", 8, 4)], kflag=1)
    assert c.convert(bytes([0b10101_011]) + bytes(15)) == bytes([0b10101, 0b011]) + bytes(14)
    narrow = conversion([("lo", "u32", 0, 4)], [("lo", "u32", 0, 3)], kflag=1)
    with pytest.raises(ConversionError) as e:
        narrow.convert(bytes([9]) + bytes(15))
    assert str(e.value) == "member 'lo': 9 does not fit u32:3"


def test_an_added_member_is_zero_or_its_default_and_a_removed_one_is_listed():
    c = conversion(V1, V1 + [("hits", "u64", 64)], defaults={"hits": 7})
    assert c.differences == ["+ hits (u64 at 8)"]
    assert c.convert(v1(3, 80, 1)) == v1(3, 80, 1)[:8] + struct.pack("=Q", 7)
    back = conversion(V1 + [("hits", "u64", 64)], V1)
    assert back.differences == ["- hits (u64 at 8)"] and [f.path for f in back.removed] == ["hits"]
    assert back.problems == []
    assert back.convert(v1(3, 80, 1)[:8] + struct.pack("=Q", 7)) == v1(3, 80, 1)


def test_what_cannot_be_converted_is_listed_as_problems():
    kind = conversion(V1, [("action", "inner", 0)] + V1[1:])
    assert kind.problems == ["value member 'action' changed kind (u32 %s {u16 a, u16 b})" % A]
    arr = conversion([("action", "arr", 0)], [("action", "u32", 0)])
    assert arr.problems == ["value member 'action' changed kind (u8[4] %s u32)" % A]
    key = conversion([("zone", "u16", 0), ("id", "u16", 16)], [("id", "u32", 0)], part="key")
    assert key.problems == ["key member 'zone' removed (two keys could become one)"]
    assert key.differences == ["id: u16 at 2 %s u32 at 0" % A, "- zone (u16 at 0)"]


def test_arrays_copy_element_by_element():
    c = conversion([("tag", "arr", 0), ("action", "u32", 32)], [("action", "u32", 0), ("tag", "arr", 32)])
    assert c.convert(b"abcd" + struct.pack("=I", 9) + bytes(8)) == struct.pack("=I", 9) + b"abcd" + bytes(8)


@pytest.mark.parametrize("defaults, message", [
    ({"nope": 1}, "defaults: struct cfg_val has no member 'nope' (its members: action, weight, flags)"),
    ({"weight": 70000}, "defaults: member 'weight': 70000 does not fit __u16 (2-byte unsigned)"),
    ({"weight": "x"}, "defaults: member 'weight': 'x' is not an integer"),
])
def test_bad_defaults_name_the_member(defaults, message):
    b, b_id = build(V1)
    with pytest.raises(SpecError) as e:
        encode_defaults(b, b_id, defaults, "defaults")
    assert str(e.value) == message
