# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upgrades keep every link on its own program: links the kernel cannot
re-point are made again for exactly the program they ran, before the swap;
an upgrade that cannot re-wire every link fails before the swap or is rolled
back, and never leaves a live version with a link missing or on the wrong
program. Checked by what each pinned link runs and by the programs' counts."""

from __future__ import absolute_import, division, print_function

import os
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map, read_record
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, NotSupportedError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import attach, syscalls
from kernel_helpers import links_running
from playbook_runner import run_playbook

HOOKS = {"tpbtf_exec": 0, "rawtp_exec": 1, "tp_exec": 2}


def hits(pin_root, collection="hooks"):
    fd = syscalls.obj_get(os.path.join(pin_root, collection, "maps", "hits"))
    try:
        return [struct.unpack("=Q", syscalls.map_lookup(fd, struct.pack("=I", i), 8))[0] for i in range(3)]
    finally:
        os.close(fd)


def execs(count):
    for _run in range(count):
        subprocess.run(["/bin/true"], check=True)


def assert_each_link_on_its_program(pin_root, collection, result):
    """Every link runs the program its name starts with, and that program
    is the one the run just loaded (same tag)."""
    tags = dict((p["name"], p["tag"]) for p in result["programs"])
    running = links_running(pin_root, collection)
    assert running, "no links"
    for link, (program, tag) in running.items():
        assert link.startswith(program + "__"), running
        assert tag == tags[program], (link, program, tag, tags)
    return running


@pytest.fixture
def hooks(bpf_build, pin_dir):
    path = bpf_build.path("exec_hooks")
    first = converge(Desired("hooks", pin_dir, path=path))
    try:
        r = converge_link(LinkRequest(pin_dir, "hooks", None))   # type auto, no program: all three
    except LoaderError as e:
        converge(Desired("hooks", pin_dir, state="absent"))
        if getattr(e, "errno", None) == 1:
            pytest.skip("the kernel refuses one of the exec hooks here (EPERM): %s" % e)
        raise
    assert sorted(link["program"] for link in r["links"]) == sorted(HOOKS)
    assert_each_link_on_its_program(pin_dir, "hooks", first)
    yield path
    converge(Desired("hooks", pin_dir, state="absent"))


def _upgrade_and_count(pin_dir, path, generation):
    before_running = links_running(pin_dir, "hooks")
    r = converge(Desired("hooks", pin_dir, path=path, constants={"generation": generation}))
    assert r["action"] == "replace" and not r["warnings"], r
    running = assert_each_link_on_its_program(pin_dir, "hooks", r)
    assert sorted(running) == sorted(before_running)
    assert not os.path.exists(os.path.join(pin_dir, "hooks__staging"))
    start = hits(pin_dir)
    execs(10)
    end = hits(pin_dir)
    for program, slot in HOOKS.items():
        delta = end[slot] - start[slot]
        # Only the new programs run (each exec adds `generation`), all three.
        assert delta >= 10 * generation and delta % generation == 0, (program, start, end)
    return r


def test_auto_links_keep_their_own_programs_through_upgrades(pin_dir, hooks):
    for generation in (2, 3):
        _upgrade_and_count(pin_dir, hooks, generation)
    # The request records came along: a second bpf_link run changes nothing.
    assert converge_link(LinkRequest(pin_dir, "hooks", None))["changed"] is False


def test_records_that_name_no_program_are_upgraded_too(pin_dir, hooks):
    """Hosts deployed before this fix hold records with "program": null
    (written by a type: auto task without a program): the upgrade takes the
    program from the link itself, and writes it into the record."""
    requests = os.path.join(pin_dir, "hooks", "link_requests")
    for name in os.listdir(requests):
        record = read_record(os.path.join(requests, name))
        record.pop("version")
        record.update(program=None, link_type="auto", target=None, direction=None)
        fd = create_state_map(record)
        os.unlink(os.path.join(requests, name))
        syscalls.obj_pin(fd, os.path.join(requests, name))
        os.close(fd)
    _upgrade_and_count(pin_dir, hooks, 2)
    for name in os.listdir(requests):
        assert read_record(os.path.join(requests, name))["program"] == name.split("__")[0]


def test_upgrade_that_cannot_keep_a_link_fails_before_the_swap(bpf_build, pin_dir, hooks):
    before = links_running(pin_dir, "hooks")
    record = read_record(os.path.join(pin_dir, "hooks", "state"))
    with pytest.raises(LoaderError) as e:
        converge(Desired("hooks", pin_dir, path=bpf_build.path("exec_hooks_retyped")))
    assert "link 'rawtp_exec__raw_tracepoint_sched_process_exec'" in str(e.value)
    assert "was a raw_tracepoint program and is a xdp program" in str(e.value)
    assert links_running(pin_dir, "hooks") == before
    assert read_record(os.path.join(pin_dir, "hooks", "state"))["programs"] == record["programs"]
    assert not os.path.exists(os.path.join(pin_dir, "hooks__staging"))
    start = hits(pin_dir)
    execs(5)
    end = hits(pin_dir)
    assert all(end[i] - start[i] >= 5 for i in range(3)), (start, end)


def test_a_link_that_fails_to_move_after_the_swap_rolls_back(bpf_build, pin_dir, monkeypatch):
    """Two links the kernel re-points in place (XDP and tcx on loopback);
    the second BPF_LINK_UPDATE fails (a fault injected into that one call):
    the first is put back, the previous version is live again, and both
    links run its programs."""
    path = bpf_build.path("attach_targets")
    programs = ["xdp_count", "tc_in", "on_exec_raw"]
    first = converge(Desired("rb", pin_dir, path=path, programs=programs))
    converge_link(LinkRequest(pin_dir, "rb", "xdp_count", "xdp", interface="lo", mode="skb"))
    converge_link(LinkRequest(pin_dir, "rb", "tc_in", "tc", interface="lo", method="link"))
    converge_link(LinkRequest(pin_dir, "rb", "on_exec_raw"))
    before = assert_each_link_on_its_program(pin_dir, "rb", first)
    assert len(before) == 3
    real_update, calls = syscalls.link_update, []

    def failing_second(link_fd, new_prog_fd, old_prog_fd=None, what="link"):
        calls.append(what)
        if len(calls) == 2:
            raise SyscallError("%s: update" % what, 5)   # EIO
        return real_update(link_fd, new_prog_fd, old_prog_fd=old_prog_fd, what=what)

    monkeypatch.setattr(syscalls, "link_update", failing_second)
    try:
        with pytest.raises(LoaderError) as e:
            converge(Desired("rb", pin_dir, path=path, programs=programs, constants={"cgroup_deny": 1}))
    finally:
        monkeypatch.setattr(syscalls, "link_update", real_update)
    assert "upgrade rolled back" in str(e.value) and "EIO" in str(e.value), str(e.value)
    assert len(calls) == 3   # two forward, one putting the first back
    assert links_running(pin_dir, "rb") == before
    assert not os.path.exists(os.path.join(pin_dir, "rb__staging"))
    # The next run upgrades cleanly.
    r = converge(Desired("rb", pin_dir, path=path, programs=programs, constants={"cgroup_deny": 1}))
    assert r["action"] == "replace" and not r["warnings"]
    assert sorted(assert_each_link_on_its_program(pin_dir, "rb", r)) == sorted(before)
    converge(Desired("rb", pin_dir, state="absent"))


# ---------------------------------------------------------------- rough edges

@pytest.fixture
def odd(bpf_build, pin_dir):
    converge(Desired("odd", pin_dir, path=bpf_build.path("odd_sections")))
    yield pin_dir
    converge(Desired("odd", pin_dir, state="absent"))


def test_auto_skips_what_no_section_names_and_lists_it(odd):
    r = converge_link(LinkRequest(odd, "odd", None))
    assert [link["program"] for link in r["links"]] == ["ok_exec"]
    skipped = dict((s["program"], s["reason"]) for s in r["skipped"])
    assert skipped == {
        "kp_bare": "its section names no kprobe target",
        "up_main": "its section names a uprobe_session attach point, which bpf_link does not support yet",
        "kpm_open": "its section names a kprobe_multi attach point, which bpf_link does not support yet",
    }
    assert converge_link(LinkRequest(odd, "odd", None))["changed"] is False


@pytest.mark.parametrize("program, kw, words", [
    ("up_main", {}, "program 'up_main' (section 'uprobe.session//bin/true:main'): its section names a "
                    "uprobe_session attach point, which bpf_link does not support yet"),
    ("up_main", {"link_type": "uprobe"},
     "program 'up_main' (section 'uprobe.session//bin/true:main'): a uprobe_session program attaches only through "
     "a multi link, which bpf_link does not support yet"),
    ("kpm_open", {}, "program 'kpm_open' (section 'kprobe.multi/do_sys_open*'): its section names a kprobe_multi "
                     "attach point, which bpf_link does not support yet"),
    ("kpm_open", {"link_type": "kprobe", "target": "do_sys_openat2"},
     "program 'kpm_open' (section 'kprobe.multi/do_sys_open*'): a kprobe_multi program attaches only through a "
     "multi link, which bpf_link does not support yet"),
    ("kp_bare", {}, "program 'kp_bare': type kprobe needs target"),
])
def test_unsupported_kinds_say_so(odd, program, kw, words):
    with pytest.raises(LoaderError) as e:
        converge_link(LinkRequest(odd, "odd", program, **kw))
    assert str(e.value) == words
    if program != "kp_bare":
        assert isinstance(e.value, NotSupportedError)


def test_attach_errors_name_the_attach_point_once_and_no_wrong_release(odd):
    fd = syscalls.obj_get(os.path.join(odd, "odd", "progs", "ok_exec"))
    try:
        with pytest.raises(SyscallError) as e:
            attach.attach_tcx(fd, "lo", "ingress", what="program 'ok_exec': tc ingress on lo")
    finally:
        os.close(fd)
    assert str(e.value) == "program 'ok_exec': tc ingress on lo: create: EINVAL (Invalid argument)"


def test_failed_attach_leaves_no_links_directory(odd):
    with pytest.raises(LoaderError) as e:
        converge_link(LinkRequest(odd, "odd", "ok_exec", "raw_tracepoint", target="ebpf_deploy_no_such_tp"))
    assert "no tracepoint 'ebpf_deploy_no_such_tp'" in str(e.value)
    assert not os.path.exists(os.path.join(odd, "odd", "links"))
    assert not os.path.exists(os.path.join(odd, "odd", "link_requests"))


def test_eperm_as_root_names_the_kernel_not_privileges(bpf_build, pin_dir):
    """This kernel refuses fentry programs to root: the hint must not say
    'needs root'."""
    try:
        converge(Desired("fe", pin_dir, path=bpf_build.path("core_attach"), programs=["BPF_PROG_fentry"]))
    except SyscallError as e:
        if e.errno != 1:
            raise
        assert "needs root" not in (e.hint or "") and "holds CAP_BPF/CAP_SYS_ADMIN" in e.hint, e.hint
        assert "lockdown" in e.hint and "ftrace direct calls" in e.hint
    else:
        converge(Desired("fe", pin_dir, state="absent"))
        pytest.skip("this kernel loads fentry programs")


def test_results_name_maps_and_programs_alike_in_one_order(bpf_build, pin_dir):
    path = bpf_build.path("globals")
    created = converge(Desired("names", pin_dir, path=path))
    again = converge(Desired("names", pin_dir, path=path, facts="full"))
    try:
        assert again["action"] == "none"
        for kind in ("maps", "programs"):
            names = [e["name"] for e in created[kind]]
            assert names == sorted(names) == [e["name"] for e in again[kind]], (kind, created[kind], again[kind])
            assert [e["pin"] for e in created[kind]] == [e["pin"] for e in again[kind]]
        assert any(n.startswith(".") for n in (e["name"] for e in created["maps"]))   # the object's own names
    finally:
        converge(Desired("names", pin_dir, state="absent"))


def test_src_errors_name_the_src(tmp_path, pin_dir):
    bad = tmp_path / "broken.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    proc, results = run_playbook(tmp_path, [{"ebpf.deploy.bpf_collection": {
        "name": "badsrc", "src": str(bad), "pin_root": pin_dir}}])
    assert results[0]["failed"], proc.stdout
    assert str(bad) in results[0]["msg"] and "-broken.o" not in results[0]["msg"].replace(str(bad), ""), \
        results[0]["msg"]


RACER = r"""
import sys, json
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
kind, pin_root, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if kind == "upgrade":
    converge(Desired("race", pin_root, path=arg["path"], constants={"generation": arg["generation"]}))
else:
    converge_link(LinkRequest(pin_root, "race", arg["program"], state=arg["state"]))
"""


def test_bpf_link_beside_an_upgrade_of_the_same_collection(bpf_build, pin_dir):
    """bpf_link and bpf_collection take the collection's lock: links made or
    removed while the collection is upgraded all end on the live version."""
    import json
    import sys
    path = bpf_build.path("exec_hooks")
    converge(Desired("race", pin_dir, path=path))
    try:
        for generation in range(2, 10):
            program = ("rawtp_exec", "tp_exec", "tpbtf_exec")[generation % 3]
            state = "absent" if generation % 4 == 0 else "present"
            procs = [subprocess.Popen([sys.executable, "-c", RACER, "upgrade", pin_dir,
                                       json.dumps({"path": path, "generation": generation})]),
                     subprocess.Popen([sys.executable, "-c", RACER, "link", pin_dir,
                                       json.dumps({"program": program, "state": state})])]
            assert [p.wait() for p in procs] == [0, 0]
            running = links_running(pin_dir, "race")
            assert all(not prog.startswith("id ") for prog, _tag in running.values()), running
            assert all(link.startswith(prog + "__") for link, (prog, _tag) in running.items()), running
            assert any(link.startswith(program + "__") for link in running) == (state == "present"), running
            assert not os.path.exists(os.path.join(pin_dir, "race__staging"))
    finally:
        converge(Desired("race", pin_dir, state="absent"))
