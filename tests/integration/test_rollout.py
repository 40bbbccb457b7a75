# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rollout.yml on simulated hosts (the fleet scenario's): a good
version passes every batch's health gate; a bad one (its exec hooks add 0,
so the counter they keep never grows) fails the canary, which is rolled
back to the good version, and the rollout stops before the other hosts.
Execs run all through each playbook (the hooks are tracepoints, which see
every namespace's execs), so a good version's counter always grows."""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest
import yaml

from playbook_runner import BIN, REPO, ansible_env

FLEET = os.path.join(REPO, "molecule", "fleet", "fleet.py")
HOSTS = 3


@pytest.fixture
def fleet():
    run_dir = tempfile.mkdtemp(prefix="ebpf-deploy-rollout-", dir="/var/tmp")
    env = dict(os.environ, FLEET_PREFIX="rollout", FLEET_NET="10.83.0.0/16", FLEET_NO_BTF="none",
               FLEET_RUN_DIR=os.path.join(run_dir, "fleet"))
    create = subprocess.run([sys.executable, FLEET, "create", "--hosts", str(HOSTS)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, check=False)
    try:
        if create.returncode != 0:
            pytest.fail("fleet.py create failed:\n%s" % create.stderr[-3000:])
        yield json.loads(subprocess.run([sys.executable, FLEET, "--list"], env=env, stdout=subprocess.PIPE,
                                        universal_newlines=True, check=True).stdout)
    finally:
        subprocess.run([sys.executable, FLEET, "destroy"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


class Execs:
    """/bin/true over and over for as long as the block lasts."""

    def __enter__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            subprocess.run(["/bin/true"], check=True)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def project(tmp_path, listing, bpf_build):
    hostvars = listing["_meta"]["hostvars"]
    group_vars = dict(listing["fleet"]["vars"], bpf_host_pyroute2="skip", bpf_deploy_collections=[{
        "name": "hooks",
        "src": "files/exec_hooks.o",
        "constants": {"generation": "{{ hooks_generation | int }}"},
        "links": [{"program": "tp_exec", "type": "tracepoint"}],
        "health": {"window": 1, "programs": [], "maps": [{"map": "hits", "key": 2, "grows": True}]},
    }])
    inventory = {"all": {"children": {"edge": {"hosts": dict((n, hostvars[n]) for n in listing["fleet"]["hosts"]),
                                               "vars": group_vars}}}}
    (tmp_path / "inventory").write_text(yaml.safe_dump(inventory))
    (tmp_path / "files").mkdir()
    shutil.copy(bpf_build.path("exec_hooks"), str(tmp_path / "files" / "exec_hooks.o"))


def rollout(tmp_path, generation):
    summary = tmp_path / ("summary-%d.json" % generation)
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "inventory", os.path.join(REPO, "playbooks", "rollout.yml"),
           "-e", "hooks_generation=%d" % generation, "-e", "rollout_summary_dest=%s" % summary]
    with Execs():
        proc = subprocess.run(cmd, cwd=str(tmp_path), env=ansible_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=1200, check=False)
    assert summary.exists(), proc.stdout[-5000:]
    return proc, json.loads(summary.read_text())


def live_generations(tmp_path):
    """{host: the generation constant of its live version}, from bpf_facts."""
    proc = subprocess.run([os.path.join(BIN, "ansible"), "-i", "inventory", "edge", "-m", "ebpf.deploy.bpf_facts",
                           "-a", "gather_subset=collections", "-o"], cwd=str(tmp_path), env=ansible_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    out = {}
    for line in proc.stdout.splitlines():
        host, sep, rest = line.partition(" | SUCCESS => ")
        if sep:
            collection = json.loads(rest)["ansible_facts"]["bpf"]["collections"]["hooks"]
            out[host] = (int(collection["options"]["constants"]["generation"]), "kept" in collection)
    return out


def test_rollout_canary_fails_and_is_rolled_back(tmp_path, fleet, bpf_build):
    project(tmp_path, fleet, bpf_build)
    hosts = sorted(fleet["fleet"]["hosts"])

    proc, summary = rollout(tmp_path, 1)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert sorted(summary) == hosts
    assert all(r["healthy"] and r["deployed"] and not r["rolled_back"] for r in summary.values()), summary
    assert live_generations(tmp_path) == dict((h, (1, False)) for h in hosts)

    # The bad version: the canary takes it, fails its gate, goes back to 1.
    proc, summary = rollout(tmp_path, 0)
    assert proc.returncode != 0, proc.stdout[-5000:]
    canary, rest = hosts[0], hosts[1:]
    assert summary[canary]["healthy"] is False and summary[canary]["rolled_back"] == ["hooks"], summary
    assert "maps[0] (map 'hits'): the value at key 2 did not grow" in " ".join(summary[canary]["reasons"]), summary
    for host in rest:
        assert summary[host]["healthy"] is None and not summary[host]["deployed"], summary
    # Every host runs generation 1 again, and none keeps a version: v1 was
    # a first load, and the bad version went with the rollback.
    assert live_generations(tmp_path) == dict((h, (1, False)) for h in hosts)
