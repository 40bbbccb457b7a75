# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_collection through Ansible: what a no-op re-run costs next to a load
of the same object, with Ansible's own per-task overhead measured apart
(ansible.builtin.ping). Each figure is one playbook of N identical tasks,
timed whole, minus an empty playbook, divided by N.
Run as root: .venv/bin/python bench/module_noop.py
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PIN_ROOT = "/sys/fs/bpf/ebpf_deploy_bench_noop"


def playbook(tasks, path):
    with open(path, "w") as f:
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                         "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}], f)


def timed(tasks, workdir):
    path = os.path.join(workdir, "pb.yml")
    playbook(tasks, path)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"))
    start = time.perf_counter()
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                    "-c", "local", path], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--object", default=os.path.join(ROOT, "tests", "bpf", "build", "maps.o"))
    args = parser.parse_args()
    n = args.tasks
    load = {"ebpf.deploy.bpf_collection": {"name": "bench", "path": args.object, "pin_root": PIN_ROOT}}
    load_src = {"ebpf.deploy.bpf_collection": {"name": "bench", "src": args.object, "pin_root": PIN_ROOT}}
    absent = {"ebpf.deploy.bpf_collection": {"name": "bench", "pin_root": PIN_ROOT, "state": "absent"}}
    ping = {"ansible.builtin.ping": {}}
    with tempfile.TemporaryDirectory() as tmp:
        empty = timed([], tmp)
        t_ping = (timed([ping] * n, tmp) - empty) / n
        t_absent = (timed([load, absent] * 1, tmp) - empty)  # warm up, leaves nothing
        t_pairs = (timed([load, absent] * n, tmp) - empty) / n
        timed([load], tmp)
        t_noop = (timed([load] * n, tmp) - empty) / n
        t_noop_src = (timed([load_src] * n, tmp) - empty) / n
        timed([absent], tmp)
        t_absent_only = (timed([load] + [absent] * n, tmp) - empty - t_pairs / 2) / n
    t_load = t_pairs - t_absent_only
    print("per task, %d tasks per playbook, object %s:" % (n, os.path.relpath(args.object, ROOT)))
    print("  ansible.builtin.ping (Ansible's own overhead)  %7.1f ms" % (t_ping * 1000))
    print("  bpf_collection load (changed)                  %7.1f ms   (%.1f ms above ping)" % (
        t_load * 1000, (t_load - t_ping) * 1000))
    print("  bpf_collection no-op re-run (ok)               %7.1f ms   (%.1f ms above ping)" % (
        t_noop * 1000, (t_noop - t_ping) * 1000))
    print("  bpf_collection no-op re-run with src (digest)  %7.1f ms   (%.1f ms above ping)" % (
        t_noop_src * 1000, (t_noop_src - t_ping) * 1000))
    print("  no-op / load: %.2f whole task, %.2f above Ansible's overhead (target <= 0.25)" % (
        t_noop / t_load, (t_noop - t_ping) / max(t_load - t_ping, 1e-9)))
    del t_absent
    try:
        os.rmdir(PIN_ROOT)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
