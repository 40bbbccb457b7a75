# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A new version whose map key or value type changed gets the live entries
converted member by member by name. Proved by what the new program sees:
schema_*.o's ``sum_cfg`` looks up keys 0..1023 and adds up every member of
the entries it finds (BPF_PROG_TEST_RUN), after 1,000 entries were written
in version 1's types. Refusals are asserted word for word, and leave the
old version running on its own entries."""

from __future__ import absolute_import, division, print_function

import os
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from kernel_helpers import PKT, XDP_PASS, possible_cpus

N = 1000
ARROW = "\u2192"


def v1_entry(i):
    """Version 1's value for key i: {action, weight, flags}."""
    return (i % 7 + 1, (i * 37) % 60000, i & 0xff)


def expected(hits=0, n=N):
    found = [v1_entry(i) for i in range(n)]
    return {"found": n, "action": sum(v[0] for v in found), "weight": sum(v[1] for v in found),
            "flags": sum(v[2] for v in found), "hits": hits * n,
            "mix": sum(i * v[1] for i, v in enumerate(found))}


def sums(pin_root):
    """What the live program sees: its sums over every entry it finds."""
    fd = syscalls.obj_get(os.path.join(pin_root, "cfg", "progs", "sum_cfg"))
    try:
        assert syscalls.prog_test_run(fd, PKT)[0] == XDP_PASS
    finally:
        os.close(fd)
    fd = syscalls.obj_get(os.path.join(pin_root, "cfg", "maps", "sums"))
    try:
        raw = syscalls.map_lookup(fd, struct.pack("=I", 0), 48)
    finally:
        os.close(fd)
    return dict(zip(("found", "action", "weight", "flags", "hits", "mix"), struct.unpack("=6Q", raw)))


def put(pin_root, key, value):
    fd = syscalls.obj_get(os.path.join(pin_root, "cfg", "maps", "config"))
    try:
        syscalls.map_update(fd, key, value)
    finally:
        os.close(fd)


def map_result(r, name="config"):
    return dict((m["name"], m) for m in r["maps"])[name]


@pytest.fixture
def v1(bpf_build, pin_dir):
    """Version 1 live with N entries {id: i} -> v1_entry(i)."""
    converge(Desired("cfg", pin_dir, path=bpf_build.path("schema_v1")))
    fd = syscalls.obj_get(os.path.join(pin_dir, "cfg", "maps", "config"))
    try:
        for i in range(N):
            syscalls.map_update(fd, struct.pack("=I", i), struct.pack("=IHH", *v1_entry(i)))
    finally:
        os.close(fd)
    assert sums(pin_dir) == expected()
    yield pin_dir
    converge(Desired("cfg", pin_dir, state="absent"))


@pytest.mark.parametrize("defaults, hits", [(None, 0), ({"hits": 5}, 5)])
def test_an_added_member_takes_zero_or_its_default(bpf_build, v1, defaults, hits):
    maps = {"config": {"defaults": defaults}} if defaults else {}
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_hits"), maps=maps))
    config = map_result(r)
    assert (config["action"], config["migrated_entries"], config["value_size"]) == ("migrate", N, 16)
    assert ("map 'config': entries converted (value: struct cfg_val: size 8 %s 16; + hits (u64 at 8))" % ARROW
            in r["reasons"]), r["reasons"]
    assert not r["warnings"], r["warnings"]
    assert sums(v1) == expected(hits=hits)


def test_check_mode_and_diff_show_the_conversion_and_change_nothing(bpf_build, v1):
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_hits")), check_mode=True)
    assert r["changed"] and r["action"] == "replace"
    assert r["diff"]["after"]["maps"]["config"] == (
        "hash, max_entries 2048, flags 0x0 (migrate, converting: value: struct cfg_val: size 8 %s 16; + hits "
        "(u64 at 8))" % ARROW)
    assert r["bpf_memlock"]["predicted"]
    assert "map 'config': %d entries would be converted" % N in r["reasons"], r["reasons"]
    fd = syscalls.obj_get(os.path.join(v1, "cfg", "maps", "config"))
    try:
        assert syscalls.map_info(fd).value_size == 8
    finally:
        os.close(fd)
    assert sums(v1) == expected()


def test_widened_reordered_members_keep_their_values_and_narrow_back_in_range(bpf_build, v1):
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_wide")))
    assert ("map 'config': entries converted (value: struct cfg_val: size 8 {a} 16; flags: u16 at 6 {a} u16 at 0; "
            "weight: u16 at 4 {a} u32 at 4; action: u32 at 0 {a} u64 at 8)".format(a=ARROW) in r["reasons"]), \
        r["reasons"]
    assert sums(v1) == expected()
    # Back to version 1: narrowed, every value in range.
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_v1")))
    assert map_result(r)["migrated_entries"] == N
    assert sums(v1) == expected()


def test_a_value_out_of_range_refuses_naming_the_entry_and_member(bpf_build, v1):
    converge(Desired("cfg", v1, path=bpf_build.path("schema_wide")))
    put(v1, struct.pack("=I", 3), struct.pack("=HxxIQ", 3, 70000, 4))   # {flags 3, weight 70000, action 4}
    before = sums(v1)
    words = "map 'config': entry {\"id\": 3}: value member 'weight': 70000 does not fit u16"
    with pytest.raises(LoaderError) as e:     # check mode reads the entries too
        converge(Desired("cfg", v1, path=bpf_build.path("schema_v1")), check_mode=True)
    assert str(e.value) == words
    with pytest.raises(LoaderError) as e:
        converge(Desired("cfg", v1, path=bpf_build.path("schema_v1")))
    assert str(e.value) == words
    assert "recreate" in e.value.hint
    # Nothing changed: the wide version still runs on its own entries.
    assert sums(v1) == before
    assert not os.path.exists(os.path.join(v1, "cfg__staging"))


def test_a_widened_key_with_a_new_member_keeps_every_entry(bpf_build, v1):
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_key_wide")))
    assert ("map 'config': entries converted (key: struct cfg_key: size 4 {a} 16; id: u32 at 0 {a} u64 at 0; "
            "+ zone (u32 at 8))".format(a=ARROW) in r["reasons"]), r["reasons"]
    assert map_result(r)["key_size"] == 16
    assert sums(v1) == expected()


def test_a_removed_member_is_dropped_with_a_warning(bpf_build, v1):
    converge(Desired("cfg", v1, path=bpf_build.path("schema_hits"), maps={"config": {"defaults": {"hits": 9}}}))
    assert sums(v1) == expected(hits=9)
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_v1")))
    assert r["warnings"] == ["map 'config': value member 'hits' (u64 at 8) is not in the new type; its values are "
                             "dropped"]
    assert ("map 'config': entries converted (value: struct cfg_val: size 16 %s 8; - hits (u64 at 8))" % ARROW
            in r["reasons"]), r["reasons"]
    assert sums(v1) == expected()


@pytest.mark.parametrize("variant, kw, message", [
    ("schema_kind", {},
     "map 'config': its entries cannot be converted (value: struct cfg_val: action: u32 at 0 {a} {{u16 lo, u16 hi}} "
     "at 0): value member 'action' changed kind (u32 {a} {{u16 lo, u16 hi}})"),
    ("schema_key_renamed", {},
     "map 'config': its entries cannot be converted (key: struct cfg_key: + slot (u32 at 0); - id (u32 at 0)): key "
     "member 'id' removed (two keys could become one)"),
    ("schema_hits", {"on_incompatible_map": "fail"},
     "map 'config': the live map differs from the desired one (value: struct cfg_val: size 8 {a} 16; + hits (u64 at "
     "8)) and on_incompatible_map is fail"),
    ("schema_legacy", {},
     "map 'config': its entries cannot be converted (value size 16 {a} 8): the live map has no BTF to convert them "
     "by"),
])
def test_a_change_that_cannot_be_converted_is_refused_saying_what_differs(bpf_build, v1, variant, kw, message):
    if variant == "schema_legacy":
        # A live map without BTF (legacy maps) and a new value size: its
        # bytes cannot be read member by member.
        converge(Desired("cfg", v1, state="absent"))
        converge(Desired("cfg", v1, path=bpf_build.path("schema_legacy"), maps={"config": {"value_size": 16}}))
        put(v1, struct.pack("=I", 1), bytes(range(16)))
    with pytest.raises(SpecError) as e:
        converge(Desired("cfg", v1, path=bpf_build.path(variant if variant != "schema_legacy" else "schema_legacy"),
                         **kw))
    assert str(e.value) == message.format(a=ARROW)
    if variant != "schema_legacy":
        assert sums(v1) == expected()
    assert not os.path.exists(os.path.join(v1, "cfg__staging"))


def test_a_conversion_and_a_resize_in_one_upgrade(bpf_build, v1):
    r = converge(Desired("cfg", v1, path=bpf_build.path("schema_hits"),
                         maps={"config": {"max_entries": 4096, "defaults": {"hits": 1}}}))
    config = map_result(r)
    assert (config["max_entries"], config["value_size"], config["migrated_entries"]) == (4096, 16, N)
    assert sums(v1) == expected(hits=1)
    # Too small for the entries: refused, nothing changed.
    with pytest.raises(LoaderError) as e:
        converge(Desired("cfg", v1, path=bpf_build.path("schema_v1"), maps={"config": {"max_entries": 512}}))
    assert str(e.value) == "map 'config' holds %d entries, which do not fit max_entries 512" % N
    assert sums(v1) == expected(hits=1)


@pytest.mark.parametrize("defaults, message", [
    ({"hit": 1}, "maps: map 'config': defaults: struct cfg_val has no member 'hit' (its members: action, weight, "
                 "flags, hits)"),
    ({"hits": -1}, "maps: map 'config': defaults: member 'hits': -1 does not fit unsigned long long (8-byte unsigned)"),
    ([1], "maps: map 'config': defaults: want a mapping of member names to values, got [1]"),
])
def test_bad_defaults_are_refused_before_anything_changes(bpf_build, v1, defaults, message):
    with pytest.raises(SpecError) as e:
        converge(Desired("cfg", v1, path=bpf_build.path("schema_hits"), maps={"config": {"defaults": defaults}}))
    assert str(e.value) == message
    assert sums(v1) == expected()


def test_per_cpu_values_are_converted_cpu_by_cpu(bpf_build, pin_dir):
    """A per-CPU hash: each CPU's value is converted on its own. The entries
    the program sums are the same on every CPU; key 2000 (outside its loop)
    holds another value per CPU, read back per CPU after the upgrade."""
    converge(Desired("cfg", pin_dir, path=bpf_build.path("schema_percpu")))
    try:
        cpus = possible_cpus()
        fd = syscalls.obj_get(os.path.join(pin_dir, "cfg", "maps", "config"))
        try:
            for i in range(N):
                syscalls.map_update(fd, struct.pack("=I", i), struct.pack("=IHH", *v1_entry(i)) * cpus)
            syscalls.map_update(fd, struct.pack("=I", 2000),
                                b"".join(struct.pack("=IHH", c + 1, c * 10, c) for c in range(cpus)))
        finally:
            os.close(fd)
        assert sums(pin_dir) == expected()
        r = converge(Desired("cfg", pin_dir, path=bpf_build.path("schema_percpu_hits"),
                             maps={"config": {"defaults": {"hits": 2}}}))
        assert map_result(r)["migrated_entries"] == N + 1
        assert sums(pin_dir) == expected(hits=2)
        fd = syscalls.obj_get(os.path.join(pin_dir, "cfg", "maps", "config"))
        try:
            raw = syscalls.map_lookup(fd, struct.pack("=I", 2000), 16 * cpus)
        finally:
            os.close(fd)
        assert [struct.unpack_from("=IHHQ", raw, 16 * c) for c in range(cpus)] == [
            (c + 1, c * 10, c, 2) for c in range(cpus)]
    finally:
        converge(Desired("cfg", pin_dir, state="absent"))
