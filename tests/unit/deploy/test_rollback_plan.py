# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan() for state: rolled_back and keep_versions, fed by hand: what
happens to each map of the kept version, the no-op after a rollback, and
the refusals."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import Kept, Observed, memlock_figures
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.plan import diff, plan
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi

HASH, ARRAY, PROG_ARRAY = uapi.BPF_MAP_TYPE_HASH, uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PROG_ARRAY
DIGEST = "ab" * 32


def a_map(map_id, map_type=HASH, key=4, value=8, max_entries=64):
    return {"id": map_id, "path": "/p/%d" % map_id, "type": map_type, "key_size": key, "value_size": value,
            "max_entries": max_entries, "flags": 0, "memlock": 1000 + map_id, "memlock_estimate": 1000 + map_id,
            "btf_id": 0, "btf_key_type_id": 0, "btf_value_type_id": 0}


def version(maps, sha, prog_id=8, **extra):
    record = dict({"object_sha256": sha, "options": {}, "programs": {"p": {"id": prog_id, "pin": "p"}},
                   "maps": dict((n, {"id": m["id"], "pin": n.replace(".", "_")}) for n, m in maps.items())}, **extra)
    return record, dict((n.replace(".", "_"), m) for n, m in maps.items())


def observed(live_maps, kept_maps=None, **live_extra):
    record, maps = version(live_maps, DIGEST, **live_extra)
    progs = {"p": {"id": 8, "path": "/p/p", "type": 6, "tag": "aa", "memlock": 4096, "memlock_estimate": 4096}}
    kept = None
    if kept_maps is not None:
        krecord, kmaps = version(kept_maps, "cd" * 32, prog_id=7)
        kept = Kept(krecord, kmaps, {"p": dict(progs["p"], id=7, tag="bb")}, state_id=99)
    return Observed(True, record, maps, progs, kept=kept)


def rolled_back(**kw):
    return Desired("c", "/sys/fs/bpf/t", state="rolled_back", **kw)


def test_each_kept_map_gets_its_action():
    shared = a_map(1)
    obs = observed({"shared": shared, "resized": a_map(2, max_entries=128), "retyped": a_map(3, value=16),
                    ".data": a_map(4, ARRAY, value=32), "jumps": a_map(5, PROG_ARRAY, value=4)},
                   {"shared": shared, "resized": a_map(12), "retyped": a_map(13), ".data": a_map(14, ARRAY, value=32),
                    "jumps": a_map(15, PROG_ARRAY, value=4), "dropped": a_map(16)})
    p = plan(rolled_back(), obs, None)
    assert p.action == "rollback" and p.changed
    assert dict((n, a) for n, (a, _live) in p.map_actions.items()) == {
        "shared": "shared", "resized": "migrate", "retyped": "keep", ".data": "own", "jumps": "own",
        "dropped": "keep"}
    assert p.warnings == ["map 'retyped': the live map's entries cannot be copied back into the kept version's map "
                          "(value size 16 -> 8); it keeps the entries it had when it was replaced"]
    d = diff(rolled_back(), obs, p)
    assert d["after"]["maps"]["resized"] == "hash, max_entries 64, flags 0x0 (migrate)"
    assert d["after"]["programs"] == {"p": "bb"} and d["before"]["programs"] == {"p": "aa"}


def test_a_rolled_back_version_is_a_no_op_and_no_kept_version_is_refused():
    done = observed({"m": a_map(1)}, rolled_back_from={"object_sha256": "ef" * 32, "state_id": 5})
    assert plan(rolled_back(), done, None).action == "none"
    with pytest.raises(LoaderError) as e:
        plan(rolled_back(), observed({"m": a_map(1)}), None)
    assert str(e.value) == "collection 'c': no kept version to roll back to; nothing changed"
    with pytest.raises(LoaderError) as e:
        plan(rolled_back(), Observed(False, None, {}, {}), None)
    assert "collection 'c': not deployed" in str(e.value)


def test_keep_versions_0_prunes_and_absent_removes_a_lone_kept_version():
    obs = observed({"m": a_map(1)}, {"m": a_map(1)})
    obs.record["options"] = Desired("c", "/sys/fs/bpf/t", path="/o").options()
    assert plan(Desired("c", "/sys/fs/bpf/t", path="/o"), obs, DIGEST).action == "none"
    assert plan(Desired("c", "/sys/fs/bpf/t", path="/o", keep_versions=0), obs, DIGEST).action == "prune"
    lone = Observed(False, None, {}, {}, kept=obs.kept)
    assert plan(Desired("c", "/sys/fs/bpf/t", state="absent"), lone, None).action == "remove"
    with pytest.raises(LoaderError) as e:
        Desired("c", "/sys/fs/bpf/t", keep_versions=3)
    assert "keep_versions 3: want 0" in str(e.value)


def test_the_kept_version_costs_what_it_does_not_share():
    obs = observed({"shared": a_map(1), "resized": a_map(2)}, {"shared": a_map(1), "resized": a_map(12)})
    figures = memlock_figures(obs.maps, obs.programs, obs.kept)
    assert figures["maps"] == {"shared": 1001, "resized": 1002, "kept/resized": 1012}
    assert figures["programs"] == {"p": 4096, "kept/p": 4096}


def test_a_damaged_kept_version_is_refused():
    obs = observed({"m": a_map(1)}, {"m": a_map(11)})
    obs.kept.programs = {}
    with pytest.raises(LoaderError) as e:
        plan(rolled_back(), obs, None)
    assert str(e.value) == ("collection 'c': the kept version's program 'p' is not pinned; it cannot be rolled back "
                            "to, nothing changed")
