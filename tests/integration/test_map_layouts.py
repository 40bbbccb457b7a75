# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An upgrade never reuses a live map whose key or value layout changed at
the same size: the new program would misread every entry. Its entries are
converted member by member (test_schema_migration.py has the rest),
recreated, or refused. Checked by what the programs answer
(BPF_PROG_TEST_RUN on the pinned program), not by our own decoding."""

from __future__ import absolute_import, division, print_function

import os
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import observe
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.plan import new_version, plan, read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import CollectionPins
from kernel_helpers import PKT


def answer(pin_root):
    fd = syscalls.obj_get(os.path.join(pin_root, "cfg", "progs", "read_cfg"))
    try:
        return syscalls.prog_test_run(fd, PKT)[0]
    finally:
        os.close(fd)


@pytest.fixture
def v1(bpf_build, pin_dir):
    """Version 1 live, with entry {id: 7} -> {action: 3, weight: 80, flags: 1}: it answers 1 + 3."""
    converge(Desired("cfg", pin_dir, path=bpf_build.path("layout_v1")))
    fd = syscalls.obj_get(os.path.join(pin_dir, "cfg", "maps", "config"))
    syscalls.map_update(fd, struct.pack("=I", 7), struct.pack("=IHH", 3, 80, 1))
    os.close(fd)
    assert answer(pin_dir) == 4
    yield pin_dir
    converge(Desired("cfg", pin_dir, state="absent"))


LAYOUT_CHANGES = [
    ("layout_reordered", "value: struct cfg_val: weight: u16 at 4 \u2192 u16 at 0; flags: u16 at 6 \u2192 u16 at 2; "
                         "action: u32 at 0 \u2192 u32 at 4", 4),
    ("layout_renamed", "value: struct cfg_val: + verdict (u32 at 0); - action (u32 at 0)", 1),
    ("layout_retyped", "value: struct cfg_val: action: u32 at 0 \u2192 s32 at 0", 4),
    ("layout_key", "key: struct cfg_key: + zone (u16 at 0); id: u32 at 0 \u2192 u16 at 2", 4),
]


@pytest.mark.parametrize("variant, words, answered", LAYOUT_CHANGES)
def test_same_size_layout_change_converts_the_entries_member_by_member(bpf_build, v1, variant, words, answered):
    """The new program reads v1's entry in its own layout: moved and
    retyped members keep their values; a renamed one is a member dropped
    (with a warning) and one added (zero), so the answer loses it."""
    r = converge(Desired("cfg", v1, path=bpf_build.path(variant)))
    assert dict((m["name"], m["action"]) for m in r["maps"])["config"] == "migrate"
    assert "map 'config': entries converted (%s)" % words in r["reasons"], r["reasons"]
    assert answer(v1) == answered
    dropped = [w for w in r["warnings"] if "its values are dropped" in w]
    assert dropped == (["map 'config': value member 'action' (u32 at 0) is not in the new type; its values are "
                        "dropped"] if variant == "layout_renamed" else [])


@pytest.mark.parametrize("variant, words, _answered", LAYOUT_CHANGES)
def test_same_size_layout_change_is_refused_with_fail_naming_each_difference(bpf_build, v1, variant, words,
                                                                             _answered):
    with pytest.raises(SpecError) as e:
        converge(Desired("cfg", v1, path=bpf_build.path(variant), on_incompatible_map="fail"))
    message = str(e.value)
    assert message == ("map 'config': the live map differs from the desired one (%s) and on_incompatible_map is "
                       "fail" % words), message
    assert "recreate" in e.value.hint
    # Nothing changed: version 1 still runs on its own bytes.
    assert answer(v1) == 4
    assert not os.path.exists(os.path.join(v1, "cfg__staging"))


def test_layout_change_with_recreate_starts_the_map_empty(bpf_build, v1):
    r = converge(Desired("cfg", v1, path=bpf_build.path("layout_reordered"), on_incompatible_map="recreate"))
    assert dict((m["name"], m["action"]) for m in r["maps"])["config"] == "recreate"
    assert any("layout changed" in reason for reason in r["reasons"]), r["reasons"]
    assert answer(v1) == 1          # no entry: v2 never sees v1's bytes
    fd = syscalls.obj_get(os.path.join(v1, "cfg", "maps", "config"))
    syscalls.map_update(fd, struct.pack("=I", 7), struct.pack("=HHI", 80, 1, 3))   # v2's layout
    os.close(fd)
    assert answer(v1) == 4


@pytest.mark.parametrize("variant", ["layout_v1", "layout_same"])
def test_same_layout_is_still_reused_and_keeps_its_entries(bpf_build, v1, variant):
    r = converge(Desired("cfg", v1, path=bpf_build.path(variant), constants={"answer": 2}))
    assert r["action"] == "replace"
    assert dict((m["name"], m["action"]) for m in r["maps"])["config"] == "reuse"
    assert not any("could not be compared" in w for w in r["warnings"]), r["warnings"]
    assert answer(v1) == 5          # 2 + the carried-over action 3


def test_maps_without_btf_are_compared_by_size_with_a_warning(bpf_build, pin_dir):
    """Legacy `maps` carry no BTF: the plan says the layouts were not
    compared, warns, and reuses the maps as their sizes match."""
    path = bpf_build.path("legacy")
    converge(Desired("leg", pin_dir, path=path))
    try:
        observed = observe(CollectionPins(pin_dir, "leg"))
        desired = Desired("leg", pin_dir, path=path, constants={}, prealloc=True)
        data = read_object(path)
        p = plan(desired, observed, "changed", new_version(desired, observed, data))
    finally:
        converge(Desired("leg", pin_dir, state="absent"))
    reused = [n for n, (action, _old) in p.map_actions.items() if action == "reuse"]
    assert reused
    for name in reused:
        assert any(w.startswith("map '%s': its key and value layouts could not be compared (the live map has no "
                                "BTF)" % name) for w in p.warnings), p.warnings
        assert any(r.startswith("map '%s': key/value layouts not compared" % name) for r in p.reasons)
