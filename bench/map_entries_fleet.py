# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/map_entries_playbook.py's comparison on the fleet scenario's
simulated hosts (molecule/fleet/fleet.py: each host its own network and
mount namespace, its own bpffs, reached over SSH with pipelining): one
playbook on every host at once with one ebpf.deploy.bpf_map task
(``entries_src`` on the controller, sent digest-first), first sync into an
empty map and the no-op re-run, against a ``copy`` of the batch file then
one ``command: bpftool batch file`` task, each above a one-ping playbook
on the same hosts. Every host's map is read back: exactly the file's
entries. Writes a markdown table to bench/results/.

    python bench/map_entries_fleet.py [--hosts 3] [--sizes 10000,100000,1000000] [--repeat 1]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from map_entries_playbook import OBJ, REPO, write_files  # noqa: E402

FLEET = os.path.join(REPO, "molecule", "fleet", "fleet.py")
BIN = os.path.dirname(sys.executable)
PIN_ROOT = "/sys/fs/bpf/ebpf_deploy_bench_fleet"
PIN = PIN_ROOT + "/bench/maps/blocklist"


class Fleet:
    """Simulated hosts for the run; removed by ``destroy``."""

    def __init__(self, hosts, workdir):
        self.run_dir = os.path.join(workdir, "fleet")
        self.env = dict(os.environ, FLEET_PREFIX="ebench", FLEET_NET="10.84.0.0/16", FLEET_NO_BTF="none",
                        FLEET_RUN_DIR=self.run_dir)
        subprocess.run([sys.executable, FLEET, "create", "--hosts", str(hosts)], env=self.env, check=True,
                       stdout=subprocess.PIPE)
        listing = json.loads(subprocess.run([sys.executable, FLEET, "--list"], env=self.env, check=True,
                                            stdout=subprocess.PIPE, universal_newlines=True).stdout)
        hostvars = listing["_meta"]["hostvars"]
        self.hosts = sorted(listing["fleet"]["hosts"])
        self.inventory = os.path.join(workdir, "inventory.json")
        with open(self.inventory, "w") as f:
            json.dump({"all": {"children": {"fleet": {"hosts": dict((n, hostvars[n]) for n in self.hosts),
                                                      "vars": listing["fleet"]["vars"]}}}}, f)

    def destroy(self):
        subprocess.run([sys.executable, FLEET, "destroy"], env=self.env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)


def play(fleet, workdir, tasks, name):
    """Seconds of one playbook of ``tasks`` on every host; the registered
    result of the last task per host."""
    out = os.path.join(workdir, "result-%s.json" % name)
    tasks = tasks[:-1] + [dict(tasks[-1], register="last")] + [{
        "ansible.builtin.copy": {"content": "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', "
                                            "hostvars, 'last'))) | to_json }}", "dest": out, "mode": "0600"},
        "delegate_to": "localhost", "run_once": True}]
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w") as f:
        json.dump([{"hosts": "fleet", "gather_facts": False, "tasks": tasks}], f)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".venv", "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_FORKS="20")
    t = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", fleet.inventory, path], cwd=workdir,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False)
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit("%s failed:\n%s" % (name, proc.stdout[-4000:]))
    with open(out) as f:
        return seconds, json.load(f)


def collection(state="present"):
    task = {"name": "bench", "pin_root": PIN_ROOT, "state": state}
    if state == "present":
        task["src"] = "files/blocklist.o"
    return {"ebpf.deploy.bpf_collection": task}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    # Not under /tmp, which every simulated host mounts its own of.
    workdir = tempfile.mkdtemp(prefix="map-entries-fleet-", dir="/var/tmp")
    os.mkdir(os.path.join(workdir, "files"))
    shutil.copy(OBJ, os.path.join(workdir, "files", "blocklist.o"))
    fleet = Fleet(args.hosts, workdir)
    rows = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            src, batch = write_files(workdir, n, PIN)
            ours = {"ebpf.deploy.bpf_map": {"map": "bench/blocklist", "pin_root": PIN_ROOT, "entries_src": src,
                                            "exclusive": True}}
            # Read back on each host by bpftool, an independent witness (not timed).
            count = {"ansible.builtin.shell": "bpftool -j map dump pinned %s | python3 -c "
                                              "'import json, sys; print(len(json.load(sys.stdin)))'" % PIN}
            runs = {"ping": [], "first": [], "noop": [], "bpftool": []}
            for _run in range(args.repeat):
                runs["ping"].append(play(fleet, workdir, [{"ansible.builtin.ping": {}}], "ping")[0])
                play(fleet, workdir, [collection("absent"), collection()], "fresh")
                seconds, first = play(fleet, workdir, [ours], "first")
                assert all(r["written"] == n for r in first.values()), first
                runs["first"].append(seconds)
                seconds, noop = play(fleet, workdir, [ours], "noop")
                assert all(r["changed"] is False and r["encoded_from"] == "kept" for r in noop.values()), noop
                runs["noop"].append(seconds)
                _s, queried = play(fleet, workdir, [count], "count")
                assert all(int(r["stdout"]) == n for r in queried.values()), queried
                play(fleet, workdir, [collection("absent"), collection(),
                                      {"ansible.builtin.copy": {"src": batch, "dest": "/tmp/ebench-batch.txt",
                                                                "mode": "0600"}}], "fresh-bpftool")
                runs["bpftool"].append(play(fleet, workdir, [{"ansible.builtin.command":
                                                              "bpftool batch file /tmp/ebench-batch.txt"}],
                                            "bpftool")[0])
            rows.append((n, dict((k, statistics.median(v)) for k, v in runs.items())))
        play(fleet, workdir, [collection("absent")], "cleanup")
    finally:
        fleet.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = ["Fleet scenario's simulated hosts: %d at once over SSH (pipelining), %s; medians of %d; seconds of "
             "the whole playbook, and above a one-ping playbook on the same hosts." % (
                 args.hosts, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args.repeat), "",
             "| entries | ping playbook | ours first sync (above ping) | ours no-op (above ping) | "
             "bpftool batch (above ping) |", "|---|---|---|---|---|"]
    for n, r in rows:
        lines.append("| %d | %.2f s | %.2f s (%.2f s) | %.2f s (%.2f s) | %.2f s (%.2f s) |" % (
            n, r["ping"], r["first"], r["first"] - r["ping"], r["noop"], r["noop"] - r["ping"], r["bpftool"],
            r["bpftool"] - r["ping"]))
    text = "\n".join(lines) + "\n"
    results = os.path.join(HERE, "results")
    if not os.path.isdir(results):
        os.mkdir(results)
    with open(os.path.join(results, "map_entries_fleet.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
