# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run real playbooks against localhost and collect each task's result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import threading

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
BIN = os.path.dirname(sys.executable)


def ansible_env():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, PATH=BIN + os.pathsep + env.get("PATH", ""))
    return env


def run_playbook(tmp_path, tasks, check=False, diff=False, extra_args=(), interpreter=None, timeout=600):
    """Run ``tasks`` (a list of task dicts) in one play on localhost.

    Each task is registered as r<N>; returns (CompletedProcess, [results])
    with the results in task order (None for a task that did not run).
    """
    tasks = [dict(t, register="r%d" % i, ignore_errors=True) for i, t in enumerate(tasks)]
    out = os.path.join(str(tmp_path), "results.json")
    collect = "{{ [%s] | to_json }}" % ", ".join("r%d | default(None)" % i for i in range(len(tasks)))
    tasks.append({"name": "collect results", "ansible.builtin.copy": {"content": collect, "dest": out},
                  "check_mode": False, "diff": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    if interpreter:
        play[0]["vars"] = {"ansible_python_interpreter": interpreter}
    path = os.path.join(str(tmp_path), "playbook.yml")
    with open(path, "w") as f:
        yaml.safe_dump(play, f, sort_keys=False)
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd.extend(extra_args)
    proc = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    results = None
    if os.path.exists(out):
        with open(out) as f:
            results = json.load(f)
        os.unlink(out)
    if results is None:
        raise AssertionError("playbook did not finish:\n%s" % proc.stdout[-4000:])
    return proc, results


def playbooks_at_once(tmp_path, plays):
    """Run the playbooks ``plays`` ({label: tasks}) at the same time, each
    from its own directory tmp_path/<label>; {label: run_playbook's result}."""
    results = {}

    def play(label, tasks):
        d = tmp_path / label
        d.mkdir()
        results[label] = run_playbook(d, tasks)

    threads = [threading.Thread(target=play, args=item) for item in plays.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_role(tmp_path, pin_dir, collections, budget, check=False, state="present"):
    """ansible-playbook of the bpf_deploy role on localhost with these
    collections and host budget; the CompletedProcess (stdout and stderr
    together)."""
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"bpf_deploy_collections": collections, "bpf_deploy_pin_root": pin_dir,
                      "bpf_deploy_memlock_budget": budget, "bpf_deploy_state": state, "bpf_deploy_end_run": False},
             "roles": ["ebpf.deploy.bpf_deploy"]}]
    path = tmp_path / "role.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600, check=False)
