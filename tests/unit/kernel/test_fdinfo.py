# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for syscalls.Fdinfo, the one reading of /proc/self/fdinfo fields."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.syscalls import Fdinfo

MAP = {"pos": "0", "flags": "02000002", "mnt_id": "15", "ino": "1057", "map_type": "1", "key_size": "4",
       "value_size": "8", "max_entries": "1024", "map_flags": "0x1", "map_extra": "0x5", "memlock": "86816",
       "map_id": "42", "frozen": "0"}
PROG = {"prog_type": "6", "prog_jited": "1", "prog_tag": "a04f5eef06a7f555", "memlock": "4096", "prog_id": "7"}
LINK = {"link_type": "xdp", "link_id": "3", "prog_tag": "a04f5eef06a7f555", "prog_id": "7"}


def test_map_fields_are_ints_flags_hex():
    info = Fdinfo(MAP)
    assert (info.map_type, info.key_size, info.value_size, info.max_entries) == (1, 4, 8, 1024)
    assert (info.map_flags, info.map_extra, info.memlock, info.map_id) == (1, 5, 86816, 42)
    assert info["map_flags"] == "0x1"       # still the kernel's text, as a dict


@pytest.mark.parametrize("raw, kind", [(MAP, "map"), (PROG, "prog"), (LINK, "link"), ({}, None)])
def test_kind(raw, kind):
    assert Fdinfo(raw).kind == kind


def test_missing_fields_read_zero():
    info = Fdinfo(PROG)
    assert (info.prog_type, info.prog_id, info.prog_tag) == (6, 7, "a04f5eef06a7f555")
    assert (info.map_type, info.map_flags, info.max_entries) == (0, 0, 0)
    assert Fdinfo({}).prog_tag == ""
