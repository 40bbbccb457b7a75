# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kept versions and rollback: an upgrade leaves the previous version
loaded but unattached (name__kept); state: rolled_back makes it live again
without its object, with every link on its programs and the map data the
live version had. Which version runs is checked by behaviour: each exec
adds the version's ``generation`` to its hook's slot of ``hits``."""

from __future__ import absolute_import, division, print_function

import os
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import observe
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import CollectionPins
from kernel_helpers import converge_killed, links_running
from playbook_runner import run_playbook

SLOTS = (0, 1, 2)
V1, V2 = 1, 1000   # the generations of the two versions


def hits(version):
    fd = syscalls.obj_get(os.path.join(version, "maps", "hits"))
    try:
        return [struct.unpack("=Q", syscalls.map_lookup(fd, struct.pack("=I", i), 8))[0] for i in range(4)]
    finally:
        os.close(fd)


def set_slot(version, slot, value):
    fd = syscalls.obj_get(os.path.join(version, "maps", "hits"))
    try:
        syscalls.map_update(fd, struct.pack("=I", slot), struct.pack("=Q", value))
    finally:
        os.close(fd)


def generation_running(version, execs=6):
    """The generation the hooks add per exec (V1 or V2), or fail: each exec
    of /bin/true adds it to slots 0-2 (other processes' execs add more of
    the same; both versions at once would add V1 + V2)."""
    start = hits(version)
    for _run in range(execs):
        subprocess.run(["/bin/true"], check=True)
    end = hits(version)
    deltas = [end[i] - start[i] for i in SLOTS]
    if all(d >= execs * V2 and d % V2 == 0 for d in deltas):
        return V2, deltas
    assert all(execs <= d < V2 for d in deltas), deltas
    return V1, deltas


def prog_ids(version):
    record = read_record(os.path.join(version, "state"))
    return sorted(e["id"] for e in record["programs"].values())


@pytest.fixture
def v1v2(bpf_build, pin_dir, tmp_path):
    """v1 (generation 1) deployed with its three exec links and a value in
    hits[3], then v2 (generation 2, hits resized so its map is a migrated
    copy): yields (pins, v1 record, v2 result); both objects are deleted
    before the test, so a rollback cannot use them."""
    obj = str(tmp_path / "hooks.o")
    shutil.copy(bpf_build.path("exec_hooks"), obj)
    converge(Desired("rb", pin_dir, path=obj))
    try:
        converge_link(LinkRequest(pin_dir, "rb", None))
    except LoaderError as e:
        converge(Desired("rb", pin_dir, state="absent"))
        if getattr(e, "errno", None) == 1:
            pytest.skip("the kernel refuses one of the exec hooks here (EPERM): %s" % e)
        raise
    pins = CollectionPins(pin_dir, "rb")
    set_slot(pins.live, 3, 4242)
    v1 = read_record(os.path.join(pins.live, "state"))
    assert generation_running(pins.live)[0] == V1
    v2 = converge(Desired("rb", pin_dir, path=obj, constants={"generation": V2}, maps={"hits": {"max_entries": 8}}))
    assert v2["action"] == "replace", v2
    os.unlink(obj)
    yield pins, v1, v2
    converge(Desired("rb", pin_dir, state="absent"))
    assert not any(os.path.exists(p) for p in (pins.live, pins.kept, pins.staging))


def test_upgrade_keeps_the_previous_version_unattached(v1v2):
    pins, v1, v2 = v1v2
    # v1's programs are still loaded (the kernel finds them by id) and
    # pinned in name__kept; the links run v2 (each exec adds 2).
    assert prog_ids(pins.kept) == sorted(e["id"] for e in v1["programs"].values())
    for prog_id in prog_ids(pins.kept):
        os.close(syscalls.get_fd_by_id("prog", prog_id))
    assert not os.path.exists(os.path.join(pins.kept, "links"))
    assert generation_running(pins.live)[0] == V2
    for link, (program, _tag) in links_running(pins.pin_root, "rb").items():
        assert link.startswith(program + "__")
    assert hits(pins.live)[3] == 4242   # migrated into v2's bigger map
    # The kept version's memlock is counted, as kept/<pin>: its programs,
    # and hits (v2 has its own copy), not the maps the versions share.
    memlock = v2["bpf_memlock"]
    assert set(memlock["programs"]) >= set("kept/" + p for p in ("tpbtf_exec", "rawtp_exec", "tp_exec"))
    assert "kept/hits" in memlock["maps"] and memlock["maps"]["kept/hits"]["after"] > 0
    assert memlock["after"] == sum(m["after"] for m in memlock["maps"].values()) + sum(
        p["after"] for p in memlock["programs"].values())
    check = converge(Desired("rb", pins.pin_root, state="rolled_back"), check_mode=True)
    assert check["changed"] and check["action"] == "rollback"


def test_rollback_without_the_object(v1v2):
    pins, v1, _v2 = v1v2
    set_slot(pins.live, 3, 5151)   # written while v2 is live: must survive the rollback
    before = hits(pins.live)
    rolled_back = dict(name="rb", pin_root=pins.pin_root, state="rolled_back")

    # Check mode: changed, with a diff, and nothing moves.
    check = converge(Desired(**rolled_back), check_mode=True)
    assert check["changed"] and check["action"] == "rollback", check
    assert check["diff"]["after"]["maps"]["hits"].endswith("(migrate)"), check["diff"]
    assert check["bpf_memlock"]["predicted"] is True
    assert generation_running(pins.live)[0] == V2 and os.path.isdir(pins.kept)

    r = converge(Desired(**rolled_back))
    assert r["changed"] and r["action"] == "rollback", r
    assert not os.path.exists(pins.kept) and not os.path.exists(pins.staging)
    assert prog_ids(pins.live) == sorted(e["id"] for e in v1["programs"].values())
    # Links run v1 again (each exec adds 1), into v1's own hits map, which
    # now holds what v2's held: the data survived and v1 reads it.
    gen, _deltas = generation_running(pins.live)
    assert gen == V1
    after = hits(pins.live)
    assert after[3] == 5151 and all(after[i] >= before[i] for i in SLOTS), (before, after)
    hits_entry = [m for m in r["maps"] if m["name"] == "hits"][0]
    assert hits_entry["max_entries"] == 4 and hits_entry["action"] == "migrate", hits_entry
    # The kept version is gone: its figures drop to 0.
    kept = dict((n, m) for n, m in r["bpf_memlock"]["maps"].items() if n.startswith("kept/"))
    assert kept and all(m["after"] == 0 and m["before"] > 0 for m in kept.values()), kept

    # A second identical task changes nothing.
    again = converge(Desired(**rolled_back))
    assert again["changed"] is False, again
    assert converge(Desired(**rolled_back), check_mode=True)["changed"] is False


def test_rollback_with_no_kept_version_fails_and_changes_nothing(bpf_build, pin_dir):
    path = bpf_build.path("exec_hooks")
    converge(Desired("nk", pin_dir, path=path, keep_versions=0))
    converge(Desired("nk", pin_dir, path=path, keep_versions=0, constants={"generation": V2}))
    pins = CollectionPins(pin_dir, "nk")
    assert not os.path.exists(pins.kept)
    record = read_record(os.path.join(pins.live, "state"))
    for check_mode in (True, False):
        with pytest.raises(LoaderError) as e:
            converge(Desired("nk", pin_dir, state="rolled_back"), check_mode=check_mode)
        assert "collection 'nk': no kept version to roll back to" in str(e.value)
    assert read_record(os.path.join(pins.live, "state")) == record
    with pytest.raises(LoaderError) as e:
        converge(Desired("never", pin_dir, state="rolled_back"))
    assert "collection 'never': not deployed" in str(e.value)
    converge(Desired("nk", pin_dir, state="absent"))


def test_keep_versions_0_removes_the_kept_version(bpf_build, pin_dir):
    path = bpf_build.path("exec_hooks")
    converge(Desired("kv", pin_dir, path=path))
    converge(Desired("kv", pin_dir, path=path, constants={"generation": V2}))
    pins = CollectionPins(pin_dir, "kv")
    assert os.path.isdir(pins.kept)
    noop_kept = converge(Desired("kv", pin_dir, path=path, constants={"generation": V2}))
    assert noop_kept["changed"] is False and noop_kept["kept_object_sha256"]
    check = converge(Desired("kv", pin_dir, path=path, constants={"generation": V2}, keep_versions=0),
                     check_mode=True)
    assert check["changed"] and check["action"] == "prune" and os.path.isdir(pins.kept)
    r = converge(Desired("kv", pin_dir, path=path, constants={"generation": V2}, keep_versions=0))
    assert r["changed"] and not os.path.exists(pins.kept)
    assert converge(Desired("kv", pin_dir, path=path, constants={"generation": V2},
                            keep_versions=0))["changed"] is False
    with pytest.raises(LoaderError):
        Desired("kv", pin_dir, keep_versions=2)
    converge(Desired("kv", pin_dir, state="absent"))


STEPS = [
    ("_copy_back", 1, "before the entries are copied back"),
    ("map_update", 2, "half way through copying entries back"),
    ("_mark", 1, "before the kept version is marked"),
    ("remake_links", 1, "before the links are made again"),
    ("_remake_link", 2, "after one link was made again"),
    ("exchange", 1, "just before the exchange"),
    ("carry_links", 1, "after the exchange, before the links move"),
    ("remove_tree", 1, "while removing the version rolled back from"),
]


@pytest.mark.parametrize("target, nth, when", STEPS, ids=[s[2] for s in STEPS])
def test_kill_during_rollback(v1v2, target, nth, when):
    pins, v1, v2 = v1v2
    set_slot(pins.live, 3, 777)
    v1_ids = sorted(e["id"] for e in v1["programs"].values())
    v2_ids = sorted(p["id"] for p in v2["programs"])
    args = dict(name="rb", pin_root=pins.pin_root, state="rolled_back")
    converge_killed(target, nth, args)

    # Whatever the step: one complete version is live (v1 or v2), and its
    # three links run exactly that version (the generation each exec adds).
    observed = observe(pins)
    assert observed.problems == [], observed.problems
    live_ids = prog_ids(pins.live)
    assert live_ids in (v1_ids, v2_ids)
    gen = generation_running(pins.live)[0]
    assert gen == (V1 if live_ids == v1_ids else V2), (when, live_ids)
    assert hits(pins.live)[3] == 777

    # The next run converges: v1 live, its links on it, nothing left over.
    r = converge(Desired(**args))
    assert r["action"] in ("rollback", "none"), r
    assert prog_ids(pins.live) == v1_ids
    assert not os.path.exists(pins.kept) and not os.path.exists(pins.staging)
    assert generation_running(pins.live)[0] == V1
    assert hits(pins.live)[3] == 777
    assert len(links_running(pins.pin_root, "rb")) == 3
    assert converge(Desired(**args))["changed"] is False


def test_rollback_task_in_a_playbook(tmp_path, bpf_build, pin_dir):
    """Through the module and its action plugin: the object (src) is gone
    from the controller; check mode with --diff, the rollback, the no-op."""
    obj = tmp_path / "hooks.o"
    shutil.copy(bpf_build.path("exec_hooks"), str(obj))
    base = {"name": "pb", "pin_root": pin_dir}
    load = [{"ebpf.deploy.bpf_collection": dict(base, src=str(obj))},
            {"ebpf.deploy.bpf_collection": dict(base, src=str(obj), constants={"generation": V2})}]
    proc, results = run_playbook(tmp_path, load)
    assert all(r["changed"] and not r.get("failed") for r in results), proc.stdout[-3000:]
    obj.unlink()
    back = {"ebpf.deploy.bpf_collection": dict(base, src=str(obj), state="rolled_back")}
    proc, (check, real, again) = run_playbook(tmp_path, [dict(back, check_mode=True), back, back], diff=True)
    try:
        assert not any(r.get("failed") for r in (check, real, again)), proc.stdout[-3000:]
        assert check["changed"] and check["action"] == "rollback" and "diff" in check, check
        assert real["changed"] and real["action"] == "rollback", real
        assert again["changed"] is False and again["action"] == "none", again
        record = read_record(os.path.join(pin_dir, "pb", "state"))
        assert record["options"]["constants"] == {} and record["rolled_back_from"]["object_sha256"]
    finally:
        converge(Desired("pb", pin_dir, state="absent"))
