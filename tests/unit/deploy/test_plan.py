# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_collection's plan() is a pure function: these feed it observed
states and specs built by hand (no kernel, no clang, no root)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.compare import leaves
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired, ObjectNeeded
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import Observed
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.plan import NewVersion, diff, plan
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.spec import CollectionSpec, MapSpec
from unit.btf.test_compare import V1, build

HASH, QUEUE, PROG_ARRAY = uapi.BPF_MAP_TYPE_HASH, uapi.BPF_MAP_TYPE_QUEUE, uapi.BPF_MAP_TYPE_PROG_ARRAY
DIGEST = "ab" * 32


def desired(**kw):
    return Desired("c", "/sys/fs/bpf/t", path="/o/c.o", **kw)


def live_map(map_type=HASH, key=4, value=8, max_entries=64, flags=0, map_id=10):
    return {"id": map_id, "path": "/sys/fs/bpf/t/c/maps/config", "type": map_type, "key_size": key,
            "value_size": value, "max_entries": max_entries, "flags": flags, "memlock": 4096,
            "memlock_estimate": 4096, "btf_id": 3, "btf_key_type_id": 1, "btf_value_type_id": 2}


def observed(maps=None, options=None, sha=DIGEST, record_maps=None):
    maps = {"config": live_map()} if maps is None else maps
    record = {"object_sha256": sha, "options": options if options is not None else desired().options(),
              "maps": record_maps if record_maps is not None else dict(
                  (n, {"id": m["id"], "pin": n}) for n, m in maps.items()),
              "programs": {}}
    return Observed(True, record, maps, {})


def new(maps, value_layout=None, btf_layout=None):
    """A NewVersion of ``maps`` ([MapSpec]) whose 'config' value type has the
    layout ``btf_layout``; the live 'config' has ``value_layout`` (default:
    the same as V1)."""
    btf, top = build(btf_layout or V1)
    spec = CollectionSpec(None, DIGEST, "c.o")
    spec.btf = btf
    for m in maps:
        m.btf_value_type_id = top if m.name == "config" else 0
        spec.maps[m.name] = m
    old_btf, old_top = build(value_layout or V1)
    layouts = {"config": {"key": None, "value": leaves(old_btf, old_top), "title": {"value": "struct cfg_val"},
                          "btf": old_btf, "key_type_id": 0, "value_type_id": old_top}}
    return NewVersion(b"\0", spec, [], layouts)


def config(map_type=HASH, max_entries=64, flags=0, value=8, kind="btf"):
    return MapSpec("config", map_type, 4, value, max_entries, flags, kind=kind)


def test_same_digest_and_options_is_a_no_op_without_the_object():
    p = plan(desired(), observed(), DIGEST)
    assert p.action == "none" and not p.changed and p.new is None


def test_a_change_needs_the_object():
    with pytest.raises(ObjectNeeded):
        plan(desired(), observed(sha="cd" * 32), DIGEST)


@pytest.mark.parametrize("exists, staging, action", [(True, False, "remove"), (False, True, "remove"),
                                                     (False, False, "none")])
def test_absent(exists, staging, action):
    obs = observed() if exists else Observed(False, None, {}, {})
    assert plan(Desired("c", "/r", state="absent"), obs, None, staging_exists=staging).action == action


def test_reasons_name_what_changed_and_what_is_damaged():
    obs = observed(options={"maps": {}, "prealloc": True, "constants": {}, "programs": None, "btf_path": None},
                   record_maps={"config": {"id": 99, "pin": "config"}})
    p = plan(desired(), obs, "cd" * 32, new([config()]))
    assert p.action == "replace"
    assert p.reasons == ["map 'config': pinned id 10, recorded 99", "object changed", "options changed"]


@pytest.mark.parametrize("spec_map, policy, action", [
    (config(), "migrate", "reuse"),
    (config(max_entries=128), "migrate", "migrate"),
    (config(max_entries=128), "recreate", "recreate"),
    (config(map_type=QUEUE, max_entries=128), "migrate", "recreate"),   # resized, and not copyable
    (config(map_type=PROG_ARRAY, value=4), "migrate", "create"),   # one version's references
    (config(kind="data"), "migrate", "create"),                  # contents come from the object
])
def test_map_actions(spec_map, policy, action):
    live = live_map(map_type=spec_map.type if spec_map.type == QUEUE else HASH)
    p = plan(desired(on_incompatible_map=policy), observed(maps={"config": live}, sha="cd" * 32), DIGEST,
             new([spec_map]))
    assert p.map_actions["config"][0] == action


def test_fail_policy_and_size_changes_refuse_naming_the_map():
    with pytest.raises(SpecError) as e:
        plan(desired(on_incompatible_map="fail"), observed(sha="cd" * 32), DIGEST, new([config(max_entries=128)]))
    assert str(e.value) == ("map 'config': the live map differs from the desired one (max_entries 64 \u2192 128) "
                            "and on_incompatible_map is fail")
    version = new([config(value=16)])
    version.layouts = {}
    with pytest.raises(SpecError) as e:
        plan(desired(), observed(sha="cd" * 32), DIGEST, version)
    assert str(e.value) == ("map 'config': its entries cannot be converted (value size 8 \u2192 16): the live map "
                            "has no BTF to convert them by")


def test_a_layout_change_at_the_same_size_is_converted_refused_or_recreated():
    reordered = [("weight", "u16", 0), ("flags", "u16", 16), ("action", "u32", 32)]
    words = ("value: struct cfg_val: weight: u16 at 4 \u2192 u16 at 0; flags: u16 at 6 \u2192 u16 at 2; "
             "action: u32 at 0 \u2192 u32 at 4")
    p = plan(desired(), observed(sha="cd" * 32), DIGEST, new([config()], btf_layout=reordered))
    assert p.map_actions["config"][0] == "migrate"
    assert p.conversions["config"].differences() == [words]
    assert "map 'config': entries converted (%s)" % words in p.reasons
    assert diff(desired(), observed(), p)["after"]["maps"]["config"] == (
        "hash, max_entries 64, flags 0x0 (migrate, converting: %s)" % words)
    with pytest.raises(SpecError) as e:
        plan(desired(on_incompatible_map="fail"), observed(sha="cd" * 32), DIGEST,
             new([config()], btf_layout=reordered))
    assert str(e.value) == ("map 'config': the live map differs from the desired one (%s) and on_incompatible_map "
                            "is fail" % words)
    p = plan(desired(on_incompatible_map="recreate"), observed(sha="cd" * 32), DIGEST,
             new([config()], btf_layout=reordered))
    assert p.map_actions["config"][0] == "recreate"
    assert "map 'config': layout changed (%s); recreated empty" % words in p.reasons
    with pytest.raises(SpecError) as e:
        plan(desired(), observed(sha="cd" * 32), DIGEST,
             new([config()], btf_layout=[("action", "inner", 0)] + V1[1:]))
    assert str(e.value) == ("map 'config': its entries cannot be converted (value: struct cfg_val: action: u32 at 0 "
                            "\u2192 {u16 a, u16 b} at 0): value member 'action' changed kind (u32 \u2192 {u16 a, "
                            "u16 b})")


def test_no_btf_on_the_live_side_warns_and_reuses():
    version = new([config()])
    version.layouts = {}
    p = plan(desired(), observed(sha="cd" * 32), DIGEST, version)
    assert p.map_actions["config"][0] == "reuse"
    assert p.warnings == ["map 'config': its key and value layouts could not be compared (the live map has no BTF); "
                          "it is reused as its sizes match, so make sure the new programs read its entries the same "
                          "way"]


def test_diff_renders_the_plan_by_kind_then_name():
    p = plan(desired(), observed(sha="cd" * 32), DIGEST, new([config(max_entries=128)]))
    d = diff(desired(), observed(), p)
    assert d["before"] == {"maps": {"config": "hash, max_entries 64, flags 0x0"}, "programs": {}}
    assert d["after"] == {"maps": {"config": "hash, max_entries 128, flags 0x0 (migrate)"}, "programs": {}}


# ------------------------------------------------------------ maps pinned by name

def shared_config(**kw):
    m = config(**kw)
    m.pinning = uapi.LIBBPF_PIN_BY_NAME
    return m


def shared_entry(users, **kw):
    entry = live_map(**kw)
    entry.update(path="/sys/fs/bpf/t/shared/config", users=users, map_id=kw.get("map_id", 10))
    return entry


def with_shared(version, entry):
    version.shared = {"config": entry}
    return version


def test_a_shared_map_declared_the_same_is_reused_from_the_pin_root():
    entry = shared_entry(["a"], map_id=20)
    p = plan(desired(), Observed(False, None, {}, {}), DIGEST, with_shared(new([shared_config()]), entry))
    assert p.map_actions["config"] == ("reuse", entry)


def test_a_shared_prog_array_is_shared_too():
    entry = shared_entry(["a"], map_type=PROG_ARRAY, value=4, max_entries=4)
    version = with_shared(new([shared_config(map_type=PROG_ARRAY, value=4, max_entries=4)]), entry)
    version.layouts = {}
    assert plan(desired(), Observed(False, None, {}, {}), DIGEST, version).map_actions["config"][0] == "reuse"


def test_a_first_shared_map_is_created_or_adopts_the_collections_own():
    none = with_shared(new([shared_config()]), None)
    assert plan(desired(), Observed(False, None, {}, {}), DIGEST, none).map_actions["config"] == ("create", None)
    own = observed(sha="cd" * 32)
    assert plan(desired(), own, DIGEST, none).map_actions["config"][0] == "reuse"


@pytest.mark.parametrize("spec_map, difference", [
    (shared_config(max_entries=128), "max_entries 64 \u2192 128"),
    (shared_config(flags=uapi.BPF_F_NO_PREALLOC), "flags 0x0 \u2192 0x1"),
    (shared_config(value=16), "value size 8 \u2192 16"),
])
def test_a_shared_map_declared_otherwise_is_refused_naming_collections_and_differences(spec_map, difference):
    entry = shared_entry(["a", "b"])
    with pytest.raises(SpecError) as refused:
        plan(desired(), Observed(False, None, {}, {}), DIGEST, with_shared(new([spec_map]), entry))
    assert str(refused.value) == (
        "map 'config' is pinned by name and collections 'a' and 'b' share it (/sys/fs/bpf/t/shared/config), "
        "declared differently than in collection 'c': %s; nothing changed" % difference)


def test_a_layout_difference_refuses_a_shared_map():
    entry = shared_entry(["a"])
    version = with_shared(new([shared_config()], btf_layout=[("action", "s32", 0), ("weight", "u16", 32),
                                                             ("flags", "u16", 48)]), entry)
    with pytest.raises(SpecError, match=r"collection 'a' shares it .*value: struct cfg_val: "):
        plan(desired(), Observed(False, None, {}, {}), DIGEST, version)


def test_its_only_user_migrates_a_shared_map_others_may_not_change():
    alone = with_shared(new([shared_config(max_entries=128)]), shared_entry(["c"]))
    assert plan(desired(), observed(sha="cd" * 32), DIGEST, alone).map_actions["config"][0] == "migrate"
    shared = with_shared(new([shared_config(max_entries=128)]), shared_entry(["b", "c"]))
    with pytest.raises(SpecError, match="shared \\(pinned by name\\) with collection 'b': changing it "
                                        "\\(max_entries 64 \u2192 128\\)"):
        plan(desired(), observed(sha="cd" * 32), DIGEST, shared)
