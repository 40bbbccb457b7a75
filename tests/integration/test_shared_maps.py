# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maps pinned by name are shared between collections, as libbpf shares
them: one map under pin_root/shared, reused by every collection that
declares it the same way, refused (changing nothing) when one declares it
otherwise, kept while one of its users remains and removed with the last.
Checked by what the programs do: the writer (tests/bpf/shared_writer.c)
counts into the shared map, the reader (shared_reader.c) returns what it
reads there and copies it into its own map."""

from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.facts import gather, select_subsets
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shared import read_users
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from kernel_helpers import as_u64, converge_killed, u32, XDP_DROP, XDP_PASS
from playbook_runner import run_playbook, run_role

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where /work/shared/tools/libbpf-ref/build.sh leaves current libbpf (its default, or the one the lead uses).
LIBBPF_REF_DIRS = [d for d in (os.environ.get("LIBBPF_REF"), "/tmp/libbpf-ref", "/var/tmp/libbpf-ref") if d]


def run_prog(pin_root, collection, program):
    """BPF_PROG_TEST_RUN of a pinned program once; its return value."""
    fd = syscalls.obj_get(os.path.join(pin_root, collection, "progs", program))
    try:
        return syscalls.prog_test_run(fd, b"\0" * 64)[0]
    finally:
        os.close(fd)


def map_info(path):
    fd = syscalls.obj_get(path)
    try:
        return syscalls.map_info(fd)
    finally:
        os.close(fd)


def read_u64(path, key=0):
    fd = syscalls.obj_get(path)
    try:
        return as_u64(syscalls.map_lookup(fd, u32(key), 8))
    finally:
        os.close(fd)


def slot_program(path, slot):
    """The id of the program in a prog array's slot (None: empty)."""
    fd = syscalls.obj_get(path)
    try:
        value = syscalls.map_lookup(fd, u32(slot), 4)
    finally:
        os.close(fd)
    return None if value is None else int.from_bytes(value, sys.byteorder)


def shared_pin(pin_root, name="shared_counts"):
    return os.path.join(pin_root, "shared", name)


def pinned_under(pin_root):
    """Every file (pin) left under the pin root."""
    found = []
    for top, _dirs, files in os.walk(pin_root):
        found.extend(os.path.join(top, f) for f in files)
    return found


def deploy(bpf_build, pin_root, name, obj, **options):
    return converge(Desired(name, pin_root, path=bpf_build.path(obj), **options))


def remove(pin_root, name):
    return converge(Desired(name, pin_root, state="absent"))


@pytest.fixture
def writer_reader(bpf_build, pin_dir):
    """Collection a (the writer) and b (the reader) deployed; both removed after."""
    first = deploy(bpf_build, pin_dir, "a", "shared_writer")
    try:
        second = deploy(bpf_build, pin_dir, "b", "shared_reader")
        yield first, second
    finally:
        for name in ("b", "a"):
            remove(pin_dir, name)


def test_writer_and_reader_use_one_map(writer_reader, pin_dir):
    first, second = writer_reader
    for _run in range(3):
        assert run_prog(pin_dir, "a", "count_up") == XDP_PASS
    assert run_prog(pin_dir, "b", "read_counts") == 3
    assert read_u64(os.path.join(pin_dir, "b", "maps", "seen")) == 3
    # One map, pinned once under shared/ and in each user's maps/.
    shared_id = map_info(shared_pin(pin_dir)).id
    assert map_info(os.path.join(pin_dir, "a", "maps", "shared_counts")).id == shared_id
    assert map_info(os.path.join(pin_dir, "b", "maps", "shared_counts")).id == shared_id
    assert read_users(pin_dir, "shared_counts") == ["a", "b"]
    actions = dict((m["name"], m["action"]) for m in second["maps"])
    assert actions == {"seen": "create", "shared_counts": "reuse"}
    # The shared map counts once: for the run that created it.
    assert first["bpf_memlock"]["shared"]["delta"] > 0
    assert second["bpf_memlock"]["shared"]["delta"] == 0
    assert "shared_counts" not in second["bpf_memlock"]["maps"]
    assert second["bpf_memlock"]["shared_maps"]["shared_counts"]["users"] == ["a", "b"]


def test_second_run_changes_nothing(writer_reader, bpf_build, pin_dir):
    again = deploy(bpf_build, pin_dir, "b", "shared_reader")
    assert again["changed"] is False
    assert again["bpf_memlock"]["shared"]["delta"] == 0


def test_facts_show_shared_maps_with_their_users_once(writer_reader, pin_dir):
    facts = gather(select_subsets(["collections"]), pin_dir)
    shared = facts["shared_maps"]
    assert list(shared) == ["shared_counts"]
    entry = shared["shared_counts"]
    assert entry["users"] == ["a", "b"] and entry["type"] == "array" and entry["max_entries"] == 4
    assert entry["memlock"] > 0 and entry["path"] == shared_pin(pin_dir)
    assert "shared" not in facts["collections"]
    for name in ("a", "b"):
        assert facts["collections"][name]["shared_maps"] == ["shared_counts"]
    # Counted once: no collection's own figure includes the shared map.
    own_a = facts["collections"]["a"]["memlock"]
    prog_a = os.path.join(pin_dir, "a", "progs", "count_up")
    fd = syscalls.obj_get(prog_a)
    try:
        assert own_a == syscalls.fdinfo(fd).memlock   # the program alone
    finally:
        os.close(fd)


@pytest.mark.parametrize("first", ["a", "b"])
def test_removal_in_either_order(bpf_build, pin_dir, first):
    deploy(bpf_build, pin_dir, "a", "shared_writer")
    deploy(bpf_build, pin_dir, "b", "shared_reader")
    try:
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        gone = remove(pin_dir, first)
        assert gone["action"] == "remove"
        other = "b" if first == "a" else "a"
        assert read_users(pin_dir, "shared_counts") == [other]
        # The one left keeps working on the map it shares.
        if other == "a":
            run_prog(pin_dir, "a", "count_up")
            assert read_u64(shared_pin(pin_dir)) == 4
        else:
            assert run_prog(pin_dir, "b", "read_counts") == 3
        last = remove(pin_dir, other)
        assert any("removed shared map shared_counts" in r for r in last["reasons"]), last["reasons"]
        assert pinned_under(pin_dir) == []
    finally:
        for name in ("a", "b"):
            remove(pin_dir, name)


@pytest.mark.parametrize("order", [("jumps", "targets"), ("targets", "jumps")])
def test_prog_array_with_targets_in_another_collection(bpf_build, pin_dir, order):
    objects = {"jumps": "shared_jumps", "targets": "shared_targets"}
    try:
        for name in order:
            deploy(bpf_build, pin_dir, name, objects[name])
        assert map_info(shared_pin(pin_dir, "shared_jumps")).type == 3   # BPF_MAP_TYPE_PROG_ARRAY
        # jump tail-calls slot 1, filled by the other collection: drop.
        assert run_prog(pin_dir, "jumps", "jump") == XDP_DROP
        # The old version also holds slot 2 (as one that filled more slots would).
        old_drop = syscalls.obj_get(os.path.join(pin_dir, "targets", "progs", "drop"))
        jumps_fd = syscalls.obj_get(shared_pin(pin_dir, "shared_jumps"))
        try:
            syscalls.map_update(jumps_fd, u32(2), u32(old_drop))
        finally:
            os.close(jumps_fd)
            os.close(old_drop)
        # An upgrade of the targets puts its new program in the slot and
        # takes the old version's out of the slots it still held.
        up = deploy(bpf_build, pin_dir, "targets", "shared_targets", programs=["drop"])
        assert up["action"] == "replace"
        new_drop = dict((p["name"], p["id"]) for p in up["programs"])["drop"]
        assert slot_program(shared_pin(pin_dir, "shared_jumps"), 1) == new_drop
        assert slot_program(shared_pin(pin_dir, "shared_jumps"), 2) is None
        assert run_prog(pin_dir, "jumps", "jump") == XDP_DROP
        remove(pin_dir, "targets")
        # Its programs left the shared prog array with it: the slot is empty.
        assert run_prog(pin_dir, "jumps", "jump") == XDP_PASS
        assert read_users(pin_dir, "shared_jumps") == ["jumps"]
        remove(pin_dir, "jumps")
        assert pinned_under(pin_dir) == []
    finally:
        for name in objects:
            remove(pin_dir, name)


@pytest.mark.parametrize("obj,difference", [
    ("shared_reader_bigger", "max_entries 4 \u2192 8"),
    ("shared_reader_retyped", "value: u64 \u2192 s64: (whole): u64 at 0 \u2192 s64 at 0"),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_refused_when_declared_differently(writer_reader, bpf_build, pin_dir, obj, difference, check_mode):
    before = map_info(shared_pin(pin_dir)).id
    for _run in range(2):
        run_prog(pin_dir, "a", "count_up")
    with pytest.raises(LoaderError) as refused:
        converge(Desired("c", pin_dir, path=bpf_build.path(obj)), check_mode=check_mode)
    message = str(refused.value)
    assert message == (
        "map 'shared_counts' is pinned by name and collections 'a' and 'b' share it (%s), declared differently "
        "than in collection 'c': %s; nothing changed" % (shared_pin(pin_dir), difference))
    # Nothing changed: no collection c, the same map with its entries, the same users.
    assert not os.path.exists(os.path.join(pin_dir, "c"))
    assert map_info(shared_pin(pin_dir)).id == before
    assert read_u64(shared_pin(pin_dir)) == 2
    assert read_users(pin_dir, "shared_counts") == ["a", "b"]


def test_upgrade_resizes_a_shared_map_its_only_user_holds(bpf_build, pin_dir):
    deploy(bpf_build, pin_dir, "a", "shared_writer")
    try:
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        up = deploy(bpf_build, pin_dir, "a", "shared_writer_bigger")
        entry = dict((m["name"], m) for m in up["maps"])["shared_counts"]
        assert entry["action"] == "migrate"
        info = map_info(shared_pin(pin_dir))
        assert info.max_entries == 8 and info.id == entry["id"]
        # The entries came along, and the new program counts on from them.
        run_prog(pin_dir, "a", "count_up")
        assert read_u64(shared_pin(pin_dir)) == 4
        assert read_users(pin_dir, "shared_counts") == ["a"]
        assert sorted(os.listdir(os.path.join(pin_dir, "shared"))) == ["shared_counts", "shared_counts__users"]
    finally:
        remove(pin_dir, "a")
    assert pinned_under(pin_dir) == []


def test_upgrade_of_a_map_others_share_is_refused_naming_them(writer_reader, bpf_build, pin_dir):
    before = map_info(shared_pin(pin_dir)).id
    with pytest.raises(LoaderError) as refused:
        deploy(bpf_build, pin_dir, "a", "shared_writer", maps={"shared_counts": {"max_entries": 16}})
    assert str(refused.value) == (
        "map 'shared_counts' is shared (pinned by name) with collection 'b': changing it (max_entries 4 \u2192 16) "
        "would change it for them too, and migrating a shared map for all its users is not supported; nothing "
        "changed")
    assert map_info(shared_pin(pin_dir)).id == before
    assert map_info(os.path.join(pin_dir, "a", "maps", "shared_counts")).id == before


def test_collection_may_not_be_called_shared(bpf_build, pin_dir):
    with pytest.raises(LoaderError, match="reserved"):
        deploy(bpf_build, pin_dir, "shared", "shared_writer")
    assert not os.path.exists(pin_dir)


def test_through_ansible_check_apply_idempotent_and_refusal(tmp_path, bpf_build, pin_dir):
    """The module's four steps for a reader joining a writer's map, then a
    collection that declares it otherwise: a failed task naming both
    collections and the difference, no traceback."""
    def task(name, obj):
        return {"ebpf.deploy.bpf_collection": {"name": name, "pin_root": pin_dir, "path": bpf_build.path(obj)}}

    deploy(bpf_build, pin_dir, "a", "shared_writer")
    try:
        _proc, (check,) = run_playbook(tmp_path, [task("b", "shared_reader")], check=True, diff=True)
        assert check["changed"] and check["action"] == "create" and not os.path.exists(os.path.join(pin_dir, "b"))
        assert check["diff"]["after"]["maps"]["shared_counts"].endswith("(reuse)")
        _proc, (applied, again) = run_playbook(tmp_path, [task("b", "shared_reader"), task("b", "shared_reader")])
        assert applied["changed"] and again["changed"] is False
        _proc, (check_again,) = run_playbook(tmp_path, [task("b", "shared_reader")], check=True)
        assert check_again["changed"] is False
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        assert run_prog(pin_dir, "b", "read_counts") == 3
        proc, (refused,) = run_playbook(tmp_path, [task("c", "shared_reader_bigger")])
        assert refused.get("failed") and "Traceback" not in proc.stdout
        assert refused["msg"].startswith("map 'shared_counts' is pinned by name and collections 'a' and 'b' share it")
        assert "max_entries 4 \u2192 8" in refused["msg"]
        assert refused["hint"].startswith("declare the map the same way")
    finally:
        for name in ("b", "a"):
            remove(pin_dir, name)
    assert pinned_under(pin_dir) == []


def test_the_roles_host_budget_counts_a_shared_map_once(tmp_path, bpf_build, pin_dir):
    """bpf_deploy with the writer and the reader: the host's predicted
    total is both collections' own figures plus the shared map once."""
    writer = {"name": "a", "path": bpf_build.path("shared_writer")}
    reader = {"name": "b", "path": bpf_build.path("shared_reader")}
    a = converge(Desired("a", pin_dir, path=writer["path"]), check_mode=True)["bpf_memlock"]
    b = converge(Desired("b", pin_dir, path=reader["path"]), check_mode=True)["bpf_memlock"]
    assert a["shared"]["after"] == b["shared"]["after"] > 0
    once = a["after"] + b["after"] + a["shared"]["after"]
    try:
        proc = run_role(tmp_path, pin_dir, [writer, reader], str(once - 1), check=True)
        assert proc.returncode != 0 and "over the host's bpf_deploy_memlock_budget of %d bytes" % (once - 1) \
            in proc.stdout, proc.stdout
        assert '"(shared maps)": %d' % a["shared"]["after"] in proc.stdout, proc.stdout
        proc = run_role(tmp_path, pin_dir, [writer, reader], str(once))
        assert proc.returncode == 0, proc.stdout
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        assert run_prog(pin_dir, "b", "read_counts") == 3
    finally:
        run_role(tmp_path, pin_dir, [writer, reader], "", state="absent")
    assert pinned_under(pin_dir) == []


# ------------------------------------------------------------ against libbpf

@pytest.fixture(scope="module")
def lbshare(tmp_path_factory):
    """tests/user/lbshare.c built against current libbpf (libbpf-ref)."""
    for d in LIBBPF_REF_DIRS:
        header = os.path.join(d, "inc", "include", "bpf", "libbpf.h")
        archive = os.path.join(d, "src", "src", "libbpf.a")
        if os.path.isfile(header) and os.path.isfile(archive):
            break
    else:
        pytest.skip("current libbpf is not built (none of %s has inc/include/bpf/libbpf.h and src/src/libbpf.a): "
                    "run /work/shared/tools/libbpf-ref/build.sh on a libbpf/libbpf snapshot" % LIBBPF_REF_DIRS)
    if not shutil.which("cc"):
        pytest.skip("no C compiler (cc) to build tests/user/lbshare.c")
    out = str(tmp_path_factory.mktemp("lbshare") / "lbshare")
    proc = subprocess.run(["cc", "-O2", "-I", os.path.join(d, "inc", "include"),
                           os.path.join(REPO, "tests", "user", "lbshare.c"), archive, "-lelf", "-lz", "-o", out],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if proc.returncode != 0:
        pytest.skip("tests/user/lbshare.c does not build against %s: %s" % (d, proc.stdout[-500:]))
    return out


def libbpf_load(lbshare, obj, pin_root_path, progs):
    proc = subprocess.run([lbshare, obj, pin_root_path, progs], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout


def libbpf_run(progs, program):
    fd = syscalls.obj_get(os.path.join(progs, program))
    try:
        return syscalls.prog_test_run(fd, b"\0" * 64)[0]
    finally:
        os.close(fd)


def test_libbpf_shares_the_same_objects_the_same_way(lbshare, bpf_build, pin_dir):
    """Both objects through current libbpf (pin_root_path: a fresh
    directory): one map pinned at <pin_root_path>/shared_counts, and the
    reader sees the writer's three runs, as with ebpf.deploy."""
    os.mkdir(pin_dir, 0o700)
    libbpf_load(lbshare, bpf_build.path("shared_writer"), pin_dir, os.path.join(pin_dir, "a"))
    libbpf_load(lbshare, bpf_build.path("shared_reader"), pin_dir, os.path.join(pin_dir, "b"))
    for _run in range(3):
        libbpf_run(os.path.join(pin_dir, "a"), "count_up")
    assert libbpf_run(os.path.join(pin_dir, "b"), "read_counts") == 3
    assert read_u64(os.path.join(pin_dir, "shared_counts")) == 3


def test_libbpf_reuses_the_map_ebpf_deploy_shares(lbshare, bpf_build, pin_dir):
    """libbpf with pin_root_path = <pin_root>/shared finds the map a
    collection deployed by ebpf.deploy shares, and uses it."""
    deploy(bpf_build, pin_dir, "a", "shared_writer")
    progs = os.path.join(pin_dir, "libbpf_b")
    try:
        os.mkdir(progs, 0o700)
        libbpf_load(lbshare, bpf_build.path("shared_reader"), os.path.join(pin_dir, "shared"), progs)
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        assert libbpf_run(progs, "read_counts") == 3
    finally:
        for name in os.listdir(progs):
            os.unlink(os.path.join(progs, name))
        os.rmdir(progs)
        remove(pin_dir, "a")


# ------------------------------------------------------------ kill -9

MIGRATION_STEPS = [
    ("copy_entries", 1, "before the entries are copied"),
    ("map_update", 2, "half way through copying the entries"),
    ("exchange", 1, "just before the swap"),
    ("publish", 1, "after the swap, before the shared pin moved"),
    ("join", 1, "after the shared pin moved, before the users record"),
]


@pytest.mark.parametrize("target, nth, when", MIGRATION_STEPS, ids=[s[2] for s in MIGRATION_STEPS])
def test_kill_during_a_shared_map_migration(bpf_build, pin_dir, target, nth, when):
    """Whatever the step, the next run leaves one shared map, pinned under
    shared/ and in the collection, holding the counts, which the program
    goes on counting into."""
    deploy(bpf_build, pin_dir, "a", "shared_writer")
    try:
        for _run in range(3):
            run_prog(pin_dir, "a", "count_up")
        args = dict(name="a", pin_root=pin_dir, path=bpf_build.path("shared_writer_bigger"))
        converge_killed(target, nth, args)
        result = converge(Desired(**args))
        assert result["changed"] or result["action"] == "none"
        again = converge(Desired(**args))
        assert again["changed"] is False, again["reasons"]
        shared = map_info(shared_pin(pin_dir))
        assert shared.max_entries == 8
        assert map_info(os.path.join(pin_dir, "a", "maps", "shared_counts")).id == shared.id
        assert read_users(pin_dir, "shared_counts") == ["a"]
        assert read_u64(shared_pin(pin_dir)) == 3
        run_prog(pin_dir, "a", "count_up")
        assert read_u64(shared_pin(pin_dir)) == 4
    finally:
        remove(pin_dir, "a")
    assert pinned_under(pin_dir) == []
