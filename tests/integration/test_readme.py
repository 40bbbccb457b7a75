# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README, run as written: its two set-up commands are the ones CI and
a newcomer use, and "Using it on a fleet" (every YAML file and every shell
line, in order) deploys, re-runs with changed=0, reports, removes and runs
ad hoc from an empty project directory, against simulated hosts (the fleet
scenario's, whose interface is eth0) in the group the snippet names, from a
shell without ./dev's environment."""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from playbook_runner import REPO

FLEET = os.path.join(REPO, "molecule", "fleet", "fleet.py")
COUNTER = os.path.join(REPO, "examples", "bpf", "build", "packet_counter.o")


def readme_section(title):
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index("\n## %s\n" % title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def code_blocks(text, lang):
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    first = code_blocks(text, "sh")[0]
    commands = [line.split("#")[0].strip() for line in first.strip().splitlines()]
    assert commands == ["sudo ./dev demo", "sudo ./dev test"]
    with open(os.path.join(REPO, ".ci", "run")) as f:
        assert [line for line in f.read().splitlines() if line and not line.startswith(("#", "set ", "cd "))] == \
            ["./dev test"]


@pytest.fixture
def fleet(tmp_path):
    """Two simulated hosts (own network and mount namespaces, bpffs, sshd),
    named readme-hNN, put into the group `edge` of an inventory."""
    # Not under /tmp: every simulated host mounts its own, and its sshd reads the run directory.
    run_dir = tempfile.mkdtemp(prefix="ebpf-deploy-readme-", dir="/var/tmp")
    env = dict(os.environ, FLEET_PREFIX="readme", FLEET_NET="10.79.0.0/16", FLEET_NO_BTF="none",
               FLEET_RUN_DIR=os.path.join(run_dir, "fleet"))
    create = subprocess.run([sys.executable, FLEET, "create", "--hosts", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, check=False)
    try:
        if create.returncode != 0:
            pytest.fail("fleet.py create failed:\n%s" % create.stderr[-3000:])
        listing = json.loads(subprocess.run([sys.executable, FLEET, "--list"], env=env, stdout=subprocess.PIPE,
                                            universal_newlines=True, check=True).stdout)
        yield listing
    finally:
        subprocess.run([sys.executable, FLEET, "destroy"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


def write_project(project, listing):
    """The README's files, as written, plus what it says the reader brings:
    an inventory (the simulated hosts in group edge) and the object."""
    yaml_block = code_blocks(readme_section("Using it on a fleet"), "yaml")[0]
    files = re.split(r"^# (group_vars/\S+)\n", yaml_block, flags=re.M)
    assert files[0].strip() == "" and len(files) == 5, files
    for name, content in zip(files[1::2], files[2::2]):
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    hostvars = listing["_meta"]["hostvars"]
    group_vars = dict(listing["fleet"]["vars"])
    # The simulated hosts share this machine's packages: bpf_host installs none.
    group_vars["bpf_host_pyroute2"] = "skip"
    inventory = {"all": {"children": {"edge": {"hosts": dict((n, hostvars[n]) for n in listing["fleet"]["hosts"]),
                                               "vars": group_vars}}}}
    (project / "inventory").write_text(yaml.safe_dump(inventory))
    (project / "files").mkdir()
    shutil.copy(COUNTER, str(project / "files" / "packet_counter.o"))


def sh(project, line):
    """One README shell line, in the project directory, from a clean shell."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "PWD": str(project), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(shlex.split(line, comments=True), cwd=str(project), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)


def recap(output):
    """{host: {ok, changed, failed, ...}} from a PLAY RECAP."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        out[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counts))
    return out


def test_fleet_section_runs_as_written(tmp_path, fleet):
    if not os.path.exists("/usr/local/bin/ansible-playbook"):
        pytest.fail("./dev setup did not put ansible-playbook on the default PATH")
    project = tmp_path / "project"
    project.mkdir()
    write_project(project, fleet)
    hosts = sorted(fleet["fleet"]["hosts"])
    lines = [line for line in code_blocks(readme_section("Using it on a fleet"), "sh")[0].splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("ansible-playbook -i inventory ebpf.deploy.deploy")
    for i, line in enumerate(lines):
        proc = sh(project, line)
        assert proc.returncode == 0, (line, proc.stdout[-4000:])
        counts = recap(proc.stdout)
        if "ebpf.deploy.deploy" in line:
            assert sorted(counts) == hosts and all(c["failed"] == 0 for c in counts.values()), proc.stdout[-3000:]
            again = sh(project, line)
            assert again.returncode == 0, again.stdout[-4000:]
            assert all(c["changed"] == 0 for c in recap(again.stdout).values()), again.stdout[-3000:]
            state = sh(project, "ansible -i inventory edge -m ebpf.deploy.bpf_facts -a gather_subset=collections")
            assert state.stdout.count('"count_packets__xdp_eth0"') == len(hosts), state.stdout[-3000:]
        elif "memlock_report" in line:
            with open(str(project / "memlock-report" / "memlock.json")) as f:
                report = json.load(f)
            assert sorted(row["host"] for row in report["rows"]) == hosts
        elif "ebpf.deploy.remove" in line:
            gone = sh(project, "ansible -i inventory edge -m ansible.builtin.stat -a path=/sys/fs/bpf/ebpf_deploy")
            assert gone.stdout.count('"exists": false') == len(hosts), gone.stdout[-3000:]
        elif line.startswith("ansible "):
            # Ad hoc: created, then removed, on every host of the group.
            assert proc.stdout.count(" | CHANGED => ") == len(hosts), proc.stdout[-3000:]
            action = "remove" if "state=absent" in line else "create"
            assert proc.stdout.count('\n    "action": "%s"' % action) == len(hosts), proc.stdout[-3000:]
    assert i == len(lines) - 1
