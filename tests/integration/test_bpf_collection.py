# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ebpf.deploy.bpf_collection through real playbooks on this host's kernel:
load, no-op, prealloc and memlock, migration with data, refusals, check
mode, diff, absent, repair, concurrency, and the module's EXAMPLES."""

from __future__ import absolute_import, division, print_function

import hashlib
import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from playbook_runner import REPO, ansible_env, playbooks_at_once, run_playbook

EXAMPLE_OBJECT = os.path.join(REPO, "examples", "bpf", "build", "packet_counter.o")
MODULE = "ebpf.deploy.bpf_collection"


@pytest.fixture
def maps_o(bpf_build):
    return os.path.join(bpf_build.dir, "maps.o")


def task(**args):
    return {MODULE: args}


def fill(pin, count, key_size=8):
    fd = syscalls.obj_get(pin)
    try:
        for i in range(count):
            syscalls.map_update(fd, i.to_bytes(key_size, "little"), (i * 7).to_bytes(4, "little"))
    finally:
        os.close(fd)


def entries(pin, key_size=8):
    fd = syscalls.obj_get(pin)
    try:
        return dict((int.from_bytes(k, "little"), int.from_bytes(syscalls.map_lookup(fd, k, 4), "little"))
                    for k in syscalls.map_keys(fd, key_size))
    finally:
        os.close(fd)


def map_result(result, name):
    return [m for m in result["maps"] if m["name"] == name][0]


def test_load_then_noop(tmp_path, pin_dir, maps_o):
    args = dict(name="maps", path=maps_o, pin_root=pin_dir)
    proc, (first, second) = run_playbook(tmp_path, [task(**args), task(**args)])
    assert not first.get("failed"), proc.stdout
    assert first["changed"] and first["action"] == "create"
    assert second["changed"] is False and second["action"] == "none", second
    assert os.path.exists(os.path.join(pin_dir, "maps", "progs", "fill_maps"))
    assert second["ansible_facts"]["bpf_memlock"]["delta"] == 0
    assert second["ansible_facts"]["bpf_memlock"]["after"] == first["ansible_facts"]["bpf_memlock"]["after"]
    # A run that changed nothing says so in O(1) data: the version, the counts, the totals.
    assert "maps" not in second and "programs" not in second, second
    assert "maps" not in second["ansible_facts"]["bpf_memlock"], second
    assert second["counts"] == {"maps": len(first["maps"]), "programs": len(first["programs"])}
    assert second["object_sha256"] == hashlib.sha256(open(maps_o, "rb").read()).hexdigest()
    proc, (full,) = run_playbook(tmp_path, [task(facts="full", **args)])
    assert full["changed"] is False, full
    ids = dict((m["name"], m["id"]) for m in first["maps"])
    assert dict((m["name"], m["id"]) for m in full["maps"]) == ids
    assert sorted(full["ansible_facts"]["bpf_memlock"]["maps"]) == sorted(
        first["ansible_facts"]["bpf_memlock"]["maps"])


def test_prealloc_off_lowers_memlock(tmp_path, pin_dir, maps_o):
    """The Tetragon case: a 32768-entry hash map, preallocated then not (no
    previous version kept, which would hold the preallocated map)."""
    base = dict(name="pre", path=maps_o, pin_root=pin_dir, keep_versions=0)
    proc, (on, off) = run_playbook(tmp_path, [
        task(maps={"hash_prealloc": {"prealloc": True}}, **base),
        task(maps={"hash_prealloc": {"prealloc": False}}, **base),
    ])
    assert not on.get("failed") and not off.get("failed"), proc.stdout
    before = on["ansible_facts"]["bpf_memlock"]["maps"]["hash_prealloc"]["after"]
    fact = off["ansible_facts"]["bpf_memlock"]
    after = fact["maps"]["hash_prealloc"]["after"]
    if fact["accounting"] == "memcg-exact":
        assert before > 2000000 and after < 700000, (before, after)
    assert fact["maps"]["hash_prealloc"]["delta"] == after - before
    assert map_result(off, "hash_prealloc")["flags"] & 1
    # The estimate shows the saving on every kernel (on 5.11-6.3 the kernel's
    # figure stays flat); from 6.4 the two agree.
    est = fact["maps"]["hash_prealloc"]["estimate"]
    assert est["before"] > 2000000 and est["after"] < 700000, est
    assert fact["estimate"]["delta"] == fact["estimate"]["after"] - fact["estimate"]["before"] < -1000000
    assert fact["footprint"] == ("kernel" if fact["accounting"] == "memcg-exact" else "estimate")
    if fact["accounting"] == "memcg-exact":
        for kind in ("maps", "programs"):
            for name, figures in fact[kind].items():
                assert abs(figures["after"] - figures["estimate"]["after"]) <= max(4096, figures["after"] // 20), \
                    (kind, name, figures)
        assert map_result(off, "hash_prealloc")["memlock_estimate"] == est["after"]


def test_max_entries_change_keeps_1000_entries(tmp_path, pin_dir, maps_o):
    base = dict(name="mig", path=maps_o, pin_root=pin_dir)
    proc, (first,) = run_playbook(tmp_path, [task(**base)])
    pin = os.path.join(pin_dir, "mig", "maps", "hash_prealloc")
    fill(pin, 1000)
    want = entries(pin)
    proc, (grown,) = run_playbook(tmp_path, [task(maps={"hash_prealloc": {"max_entries": 40000}}, **base)])
    assert not grown.get("failed"), proc.stdout
    m = map_result(grown, "hash_prealloc")
    assert m["max_entries"] == 40000 and m["migrated_entries"] == 1000 and m["action"] == "migrate"
    assert entries(pin) == want
    # untouched maps were carried over, not recreated
    assert map_result(grown, "hash_noprealloc")["action"] == "reuse"


def test_shrink_below_entry_count_is_refused_and_changes_nothing(tmp_path, pin_dir, maps_o):
    base = dict(name="shrink", path=maps_o, pin_root=pin_dir)
    run_playbook(tmp_path, [task(**base)])
    pin = os.path.join(pin_dir, "shrink", "maps", "hash_prealloc")
    fill(pin, 1000)
    before = entries(pin)
    fd = syscalls.obj_get(pin)
    old_id = int(syscalls.fdinfo(fd)["map_id"])
    os.close(fd)
    proc, (r,) = run_playbook(tmp_path, [task(maps={"hash_prealloc": {"max_entries": 500}}, **base)])
    assert r.get("failed")
    assert "1000 entries" in r["msg"] and "500" in r["msg"] and "hash_prealloc" in r["msg"]
    fd = syscalls.obj_get(pin)
    assert int(syscalls.fdinfo(fd)["map_id"]) == old_id
    os.close(fd)
    assert entries(pin) == before
    # maps.o pins 'pinned_by_name' by name: it lives under pin_root/shared.
    assert sorted(os.listdir(pin_dir)) == ["shared", "shrink"]


def test_check_mode_and_diff_change_nothing(tmp_path, pin_dir, maps_o):
    base = dict(name="chk", path=maps_o, pin_root=pin_dir)
    proc, (r,) = run_playbook(tmp_path, [task(**base)], check=True, diff=True)
    assert r["changed"] and r["action"] == "create", proc.stdout
    assert not os.path.exists(os.path.join(pin_dir, "chk"))
    run_playbook(tmp_path, [task(**base)])
    proc, (r,) = run_playbook(tmp_path, [task(maps={"hash_prealloc": {"max_entries": 64}}, **base)],
                              check=True, diff=True)
    assert r["changed"] and r["action"] == "replace"
    assert "max_entries 32768" in r["diff"]["before"]["maps"]["hash_prealloc"]
    assert "max_entries 64," in r["diff"]["after"]["maps"]["hash_prealloc"]
    assert r["diff"]["after"]["maps"]["hash_prealloc"].endswith("(migrate)")
    assert "hash_prealloc" in proc.stdout  # the diff was shown
    fd = syscalls.obj_get(os.path.join(pin_dir, "chk", "maps", "hash_prealloc"))
    assert int(syscalls.fdinfo(fd)["max_entries"]) == 32768
    os.close(fd)


def test_absent_removes_everything(tmp_path, pin_dir, maps_o):
    base = dict(name="gone", pin_root=pin_dir)
    proc, (load, absent, again) = run_playbook(tmp_path, [
        task(path=maps_o, **base), task(state="absent", **base), task(state="absent", **base)])
    assert load["changed"] and absent["changed"] and not again["changed"], proc.stdout
    assert not os.path.exists(pin_dir)   # ebpf.deploy created the pin root and removed it with the last collection
    assert absent["ansible_facts"]["bpf_memlock"]["after"] == 0


def test_repairs_a_pin_deleted_by_hand(tmp_path, pin_dir, maps_o):
    base = dict(name="rep", path=maps_o, pin_root=pin_dir)
    run_playbook(tmp_path, [task(**base)])
    os.unlink(os.path.join(pin_dir, "rep", "progs", "fill_maps"))
    proc, (fixed, noop) = run_playbook(tmp_path, [task(**base), task(**base)])
    assert fixed["changed"] and any("pin missing" in r for r in fixed["reasons"]), fixed
    assert not noop["changed"]
    assert os.path.exists(os.path.join(pin_dir, "rep", "progs", "fill_maps"))


@pytest.mark.parametrize("args, words", [
    (dict(maps={"nope": {"max_entries": 1}}), ["no map 'nope'"]),
    (dict(maps={"array": {"prealloc": False}}), ["map 'array'", "always preallocated"]),
    (dict(constants={"nope": 1}), ["constant 'nope'"]),
    (dict(programs=["nope"]), ["no program 'nope'"]),
    (dict(name="../escape"), ["collection name", "'../escape'"]),
    (dict(pin_root="/tmp/not_bpffs"), ["not on a bpf filesystem", "mount -t bpf"]),
])
def test_bad_options_fail_clearly_and_change_nothing(tmp_path, pin_dir, maps_o, args, words):
    base = dict(name="bad", path=maps_o, pin_root=pin_dir)
    base.update(args)
    proc, (r,) = run_playbook(tmp_path, [task(**base)])
    assert r.get("failed"), r
    text = r["msg"] + " " + (r.get("hint") or "")
    for word in words:
        assert word in text, text
    assert "Traceback" not in proc.stdout
    assert not os.path.exists(pin_dir) or os.listdir(pin_dir) == []


def test_verifier_rejection_shows_log_tail(tmp_path, pin_dir, bpf_build):
    proc, (r,) = run_playbook(tmp_path, [task(name="bad", path=os.path.join(bpf_build.dir, "bad_verifier.o"),
                                              pin_root=pin_dir)])
    assert r.get("failed") and "unchecked_packet_read" in r["msg"]
    assert "invalid access to packet" in r["verifier_log"]
    assert not os.path.exists(pin_dir) or os.listdir(pin_dir) == []


def test_two_concurrent_runs_are_serialised(tmp_path, pin_dir, maps_o):
    results = playbooks_at_once(tmp_path, dict(
        (label, [task(name="conc", path=maps_o, pin_root=pin_dir, prealloc=prealloc)])
        for label, prealloc in (("a", True), ("b", False))))
    for label in ("a", "b"):
        proc, (r,) = results[label]
        assert not r.get("failed"), proc.stdout
        assert r["changed"]
    # The one that ran second replaced the first, which is kept; shared:
    # maps.o's map pinned by name.
    assert sorted(os.listdir(pin_dir)) == ["conc", "conc__kept", "shared"]
    # Whichever ran last, the pinned version is complete and consistent.
    proc, (again,) = run_playbook(tmp_path, [task(name="conc", path=maps_o, pin_root=pin_dir, prealloc=False)])
    assert not again.get("failed") and again["action"] in ("none", "replace"), again
    assert not [r for r in again["reasons"] if "pin" in r or "record" in r]


def test_examples_run(tmp_path, pin_dir):
    """The module's EXAMPLES, with the object paths pointed at the example
    collection and pins under the test directory."""
    import importlib
    module = importlib.import_module("ansible_collections.ebpf.deploy.plugins.modules.bpf_collection")
    tasks = yaml.safe_load(module.EXAMPLES)
    files = tmp_path / "files"
    files.mkdir()
    shutil.copy(EXAMPLE_OBJECT, str(files / "packet_counter.bpf.o"))
    for t in tasks:
        args = t[MODULE]
        if "src" in args:
            args["src"] = str(files / os.path.basename(args["src"]))
        if "path" in args:
            args["path"] = EXAMPLE_OBJECT
        args["pin_root"] = pin_dir
    proc, results = run_playbook(tmp_path, tasks)
    for t, r in zip(tasks, results):
        assert not r.get("failed"), (t["name"], r)
    assert [r["changed"] for r in results] == [True] * 6
    assert results[4]["action"] == "rollback"   # to the version the third task replaced
    assert results[2]["maps"] and map_result(results[2], "packets_by_protocol")["max_entries"] == 1024
    assert map_result(results[3], "packets_by_protocol")["max_entries"] != 1024
    assert "packets_by_protocol" in results[3]["ansible_facts"]["bpf_memlock"]["maps"]
    assert not os.path.exists(pin_dir)   # ebpf.deploy created the pin root and removed it with the last collection


def test_ad_hoc(pin_dir, maps_o):
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", MODULE, "-a",
                           'name=adhoc path=%s pin_root=%s maps={"hash_prealloc":{"max_entries":4096,"prealloc":false}}'
                           % (maps_o, pin_dir)], env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r'"changed": true', proc.stdout)
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", MODULE, "-a",
                           "name=adhoc state=absent pin_root=%s" % pin_dir], env=ansible_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("module, option", [
    (MODULE, "on_incompatible_map"), ("ebpf.deploy.bpf_link", "interface"), ("ebpf.deploy.bpf_map", "key_format"),
    ("ebpf.deploy.bpf_facts", "gather_subset"), ("ebpf.deploy.bpf_btf_cache", "directory"),
])
def test_ansible_doc_renders(module, option):
    proc = subprocess.run(["ansible-doc", module], env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert option in proc.stdout and "EXAMPLES" in proc.stdout


def test_btf_cache_per_run(tmp_path, pin_dir, bpf_build):
    """Two CO-RE loads in one run: the first builds the kernel BTF index,
    the second maps it; the run's end removes it. A no-op run reads none."""
    core = os.path.join(bpf_build.dir, "core_kinds.o")
    tasks = [task(name="c1", path=core, pin_root=pin_dir, btf_cache="run"),
             task(name="c2", path=core, pin_root=pin_dir, btf_cache="run"),
             task(name="c1", path=core, pin_root=pin_dir, btf_cache="run"),
             {"ebpf.deploy.bpf_btf_cache": {"state": "absent"}},
             task(name="c3", path=core, pin_root=pin_dir, btf_cache="none")]
    proc, (first, second, noop, end, uncached) = run_playbook(tmp_path, tasks)
    assert not first.get("failed") and not uncached.get("failed"), proc.stdout
    assert first["btf_cache"]["status"] in ("built", "rebuilt") and first["btf_cache"]["size"] > 0
    assert second["btf_cache"]["status"] == "hit"
    assert not noop["changed"] and "btf_cache" not in noop
    assert end["removed"] and not end["changed"] and not os.path.exists(os.path.dirname(first["btf_cache"]["path"]))
    assert "btf_cache" not in uncached
    for name in ("c1", "c2", "c3"):
        run_playbook(tmp_path, [task(name=name, state="absent", pin_root=pin_dir)])


def test_src_sent_once_per_host_and_run(tmp_path, pin_dir, maps_o):
    """The first task of a run that needs the object sends it; later tasks
    naming it send only its digest; when the host lost it, it is sent again."""
    src = dict(src=maps_o, pin_root=pin_dir)
    lose = {"ansible.builtin.shell": "rm -v /run/ebpf_deploy/btf-cache/*/*-maps.o", "changed_when": True}
    stat = {"ansible.builtin.shell": "stat -c '%a %U' /run/ebpf_deploy/btf-cache/*/*-maps.o "
                                     "$(dirname /run/ebpf_deploy/btf-cache/*/*-maps.o)", "changed_when": False}
    end = {"ebpf.deploy.bpf_btf_cache": {"state": "absent"}}
    gone = {"ansible.builtin.shell": "ls /run/ebpf_deploy/btf-cache/*/*-maps.o", "changed_when": False}
    proc, (first, other, perms, again, _lost, resent, _end, after_end) = run_playbook(
        tmp_path, [task(name="a", **src), task(name="b", **src), stat, task(name="a", **src), lose,
                   task(name="b", **dict(src, maps={"hash_prealloc": {"max_entries": 64}})), end, gone])
    assert first["changed"] and first["src_sent"] is True, proc.stdout
    assert other["changed"] and other["src_sent"] is False, proc.stdout
    assert again["changed"] is False and again["src_sent"] is False
    assert perms["stdout_lines"] == ["600 root", "700 root"]
    assert resent["changed"] and resent["src_sent"] is True, proc.stdout
    assert after_end["rc"] != 0       # the run's end removed the kept object with the BTF cache
    for name in ("a", "b"):
        assert sorted(os.listdir(os.path.join(pin_dir, name, "progs")))
    # A new run with nothing to change sends only the digest; a change in it
    # sends the object.
    # (Not prealloc: false, which would change maps.o's map pinned by name,
    # which "b" shares: refused.)
    proc, (next_run, changed) = run_playbook(tmp_path, [task(name="a", **src),
                                                        task(name="a", maps={"hash_prealloc": {"max_entries": 128}},
                                                             **src)])
    assert next_run["changed"] is False and next_run["src_sent"] is False, proc.stdout
    assert changed["changed"] and changed["src_sent"] is True, proc.stdout


def test_absent_needs_no_object_on_the_controller(tmp_path, pin_dir, maps_o):
    copy = tmp_path / "gone.o"
    shutil.copyfile(maps_o, str(copy))
    proc, (loaded,) = run_playbook(tmp_path, [task(name="gone", src=str(copy), pin_root=pin_dir)])
    assert loaded["changed"], proc.stdout
    copy.unlink()
    proc, (removed, again) = run_playbook(tmp_path, [task(name="gone", src=str(copy), pin_root=pin_dir,
                                                          state="absent")] * 2)
    assert removed["changed"] and not removed.get("failed") and again["changed"] is False, proc.stdout
    assert not os.path.exists(os.path.join(pin_dir, "gone"))


def test_removing_the_last_collection_removes_the_pin_root_it_created(bpf_build, pin_dir):
    path = bpf_build.path("maps")
    converge(Desired("a", pin_dir, path=path))
    converge(Desired("b", pin_dir, path=path))
    converge(Desired("a", pin_dir, state="absent"))
    assert os.path.isdir(pin_dir)                        # b is still there
    r = converge(Desired("b", pin_dir, state="absent"))
    assert not os.path.exists(pin_dir)
    assert any("removed pin_root" in reason for reason in r["reasons"]), r["reasons"]


def test_a_pin_root_that_was_there_before_stays(bpf_build, pin_dir):
    os.makedirs(pin_dir)
    converge(Desired("a", pin_dir, path=bpf_build.path("maps")))
    converge(Desired("a", pin_dir, state="absent"))
    assert os.path.isdir(pin_dir) and os.listdir(pin_dir) == []
