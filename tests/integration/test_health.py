# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_health against the kernel: programs that run during the window pass
and one that never runs fails naming it; map conditions pass and fail; a
link re-pointed at a program outside the live version fails; the stats
sysctl is as it was afterwards."""

from __future__ import absolute_import, division, print_function

import os
import secrets
import subprocess
import threading

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.health import STATS_SYSCTL, check_health
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from playbook_runner import run_playbook


def sysctl():
    with open(STATS_SYSCTL) as f:
        return f.read().strip()


class Execs:
    """Runs /bin/true over and over in a thread for as long as the block
    lasts, so every exec hook runs within any window inside it."""

    def __enter__(self):
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            subprocess.run(["/bin/true"], check=True)
            self.count += 1

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.fixture
def hooks(bpf_build, pin_dir):
    converge(Desired("hooks", pin_dir, path=bpf_build.path("exec_hooks")))
    try:
        converge_link(LinkRequest(pin_dir, "hooks", None))
    except LoaderError as e:
        converge(Desired("hooks", pin_dir, state="absent"))
        if getattr(e, "errno", None) == 1:
            pytest.skip("the kernel refuses one of the exec hooks here (EPERM): %s" % e)
        raise
    yield pin_dir
    converge(Desired("hooks", pin_dir, state="absent"))


@pytest.fixture
def cgroup():
    root = None
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                root = fields[1]
                break
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    path = os.path.join(root, "ebpf_deploy_health_%s" % secrets.token_hex(3))
    os.mkdir(path)
    yield path
    os.rmdir(path)


def test_programs_that_run_pass_and_map_conditions(hooks):
    before = sysctl()
    with Execs() as execs:
        r = check_health("hooks", hooks, window=0.5, min_runs=1, maps=[
            {"map": "hits", "key": 0, "grows": True},
            {"map": "hits", "key": 1},
        ])
    assert execs.count > 0
    assert r["healthy"] is True, r["reasons"]
    runs = dict((c["program"], c["runs"]) for c in r["checks"] if c["check"] == "runs")
    assert sorted(runs) == ["rawtp_exec", "tp_exec", "tpbtf_exec"] and min(runs.values()) >= 1, runs
    links = [c for c in r["checks"] if c["check"] == "link"]
    assert len(links) == 3 and all(c["ok"] for c in links)
    grew = [c for c in r["checks"] if c["check"] == "map" and c["key"] == 0][0]
    assert grew["after"] > grew["before"], grew
    assert sysctl() == before


def test_map_conditions_that_fail(hooks):
    # Slot 3 is never written; index 9 is past the array's 4 slots.
    r = check_health("hooks", hooks, window=0, programs=[], maps=[
        {"map": "hits", "key": 3, "grows": True},
        {"map": "hits", "key": 9},
        {"map": "hits", "key": 2, "exists": False},
    ])
    assert r["healthy"] is False
    assert r["reasons"] == [
        "maps[0] (map 'hits'): the value at key 3 did not grow (0 -> 0)",
        "maps[1] (map 'hits'): the entry at key 9 does not exist",
        "maps[2] (map 'hits'): the entry at key 2 exists",
    ], r["reasons"]


def test_a_program_that_never_runs_fails_naming_it(bpf_build, pin_dir, cgroup):
    """cg_egress on a new, empty cgroup (no process sends from it) never
    runs; on_exec_raw runs on every exec."""
    before = sysctl()
    path = bpf_build.path("attach_targets")
    converge(Desired("t", pin_dir, path=path, programs=["cg_egress", "on_exec_raw", "xdp_count"]))
    try:
        converge_link(LinkRequest(pin_dir, "t", "cg_egress", "cgroup", cgroup=cgroup))
        converge_link(LinkRequest(pin_dir, "t", "on_exec_raw"))
        with Execs():
            r = check_health("t", pin_dir, window=0.3)
        assert r["healthy"] is False
        assert r["reasons"] == ["program 'cg_egress' ran 0 times in 0.3s, fewer than 1"], r["reasons"]
        assert [c["ok"] for c in r["checks"] if c["check"] == "runs" and c["program"] == "on_exec_raw"] == [True]
        # A program named but not attached fails as such.
        r = check_health("t", pin_dir, window=0, programs=["xdp_count"])
        assert r["reasons"] == ["program 'xdp_count' is not attached (no link of the live version runs it)"]
        with pytest.raises(SpecError) as e:
            check_health("t", pin_dir, window=0, programs=["nope"])
        assert "programs: 'nope' is not a program of collection 't'" in str(e.value)
        with pytest.raises(LoaderError) as e:
            check_health("t", pin_dir, window=0, maps=[{"map": "nope", "key": 0}])
        assert "maps[0] (map 'nope')" in str(e.value)
    finally:
        converge(Desired("t", pin_dir, state="absent"))
    assert sysctl() == before


def test_a_link_on_a_program_outside_the_live_version_fails(bpf_build, pin_dir):
    path = bpf_build.path("attach_targets")
    converge(Desired("t", pin_dir, path=path, programs=["xdp_count"]))
    converge(Desired("other", pin_dir, path=path, programs=["xdp_count"]))
    try:
        converge_link(LinkRequest(pin_dir, "t", "xdp_count", "xdp", interface="lo", mode="skb"))
        assert check_health("t", pin_dir, window=0, programs=[])["healthy"] is True
        link = os.path.join(pin_dir, "t", "links", "xdp_count__xdp_lo")
        fds = [syscalls.obj_get(p) for p in (link, os.path.join(pin_dir, "other", "progs", "xdp_count"))]
        try:
            syscalls.link_update(fds[0], fds[1])
            other_id = syscalls.prog_info(fds[1]).id
        finally:
            for fd in fds:
                os.close(fd)
        r = check_health("t", pin_dir, window=0, programs=[])
        assert r["reasons"] == ["link 'xdp_count__xdp_lo' runs program id %d, which is not a program of the live "
                                "version" % other_id], r
    finally:
        converge(Desired("t", pin_dir, state="absent"))
        converge(Desired("other", pin_dir, state="absent"))


def test_not_deployed_is_unhealthy(pin_dir):
    os.makedirs(pin_dir)
    r = check_health("ghost", pin_dir, window=0)
    assert r["healthy"] is False and r["reasons"] == ["collection 'ghost' is not deployed in %s" % pin_dir]


def test_module_in_check_mode(tmp_path, hooks):
    before = sysctl()
    with Execs():
        proc, (r,) = run_playbook(tmp_path, [{"ebpf.deploy.bpf_health": {
            "name": "hooks", "pin_root": hooks, "window": 0.5, "maps": [{"map": "hits", "key": 0, "grows": True}]}}],
            check=True)
    assert not r.get("failed"), proc.stdout
    assert r["changed"] is False and r["healthy"] is True, r
    assert r["ansible_facts"]["bpf_health"] == {"collection": "hooks", "healthy": True, "reasons": []}
    assert sysctl() == before
