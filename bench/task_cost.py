# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a fleet pays per host and task, measured through ansible-playbook:
bpf_collection loads and no-op re-runs against Ansible's own per-task cost
(ansible.builtin.ping) and against a command: task that runs current
libbpf's loader (lbload, ../shared/tools/libbpf-ref) on the same object,
with the host's bytecode cache of module_utils and without it.

Objects: bench/gen_core_object.py's CO-RE objects of 100 and 2 kprobe
programs. Each figure is a playbook of N identical tasks (localhost, local
connection) timed whole, minus an empty playbook, divided by N; medians of
R runs. CPU is the playbook's process tree (controller and module: on
localhost they share the machine); result bytes are the JSON of one task's
result as the controller registers it, which Ansible then
processes and stores on every host and run.
Run as root: .venv/bin/python bench/task_cost.py [--tasks N] [--repeat R]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from gen_core_object import build  # noqa: E402
from libbpf_ref import lbload_path  # noqa: E402

PIN_ROOT = "/sys/fs/bpf/ebpf_deploy_bench_task"
LB_ROOT = "/sys/fs/bpf/ebpf_deploy_bench_lbload"


def env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"), ANSIBLE_NOCOLOR="1")


def playbook(tasks, path):
    with open(path, "w") as f:
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                         "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}], f)


def ansible_playbook(tasks, workdir):
    """(wall seconds, CPU seconds of the process tree, stdout)."""
    path = os.path.join(workdir, "pb.yml")
    playbook(tasks, path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", path], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit("bench: playbook failed:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout


def collection(name, obj, **options):
    return {"ebpf.deploy.bpf_collection": dict(name=name, path=obj, pin_root=PIN_ROOT, **options)}


def uncached(task):
    """``task`` with the host's bytecode cache of module_utils turned off:
    every import compiled from source, as before the cache."""
    return dict(task, environment={"EBPF_DEPLOY_BYTECODE_CACHE": "off"})


def absent(name):
    return {"ebpf.deploy.bpf_collection": {"name": name, "pin_root": PIN_ROOT, "state": "absent"}}


def lbload_task(lbload, obj, i):
    # The loader pins under its own directory; the shell removes it after,
    # as a playbook that loads by hand has to.
    pin = os.path.join(LB_ROOT, "t%d" % i)
    return {"ansible.builtin.shell": "%s %s %s && rm -r %s" % (lbload, obj, pin, pin)}


def per_task(scenario, n, repeat, workdir, empty):
    """Median (wall, cpu) per task of playbooks made by ``scenario()``:
    (setup tasks, timed tasks, cleanup tasks)."""
    walls, cpus = [], []
    for _run in range(repeat):
        setup, timed, cleanup = scenario()
        if setup:
            ansible_playbook(setup, workdir)
        wall, cpu, _out = ansible_playbook(timed, workdir)
        if cleanup:
            ansible_playbook(cleanup, workdir)
        walls.append((wall - empty[0]) / n)
        cpus.append((cpu - empty[1]) / n)
    return statistics.median(walls), statistics.median(cpus)


def result_sizes(obj, workdir):
    """Bytes of one load's, one no-op's and one facts=full no-op's result,
    as the controller registers them."""
    tasks = [dict(collection("sized", obj), register="r0"), dict(collection("sized", obj), register="r1"),
             dict(collection("sized", obj, facts="full"), register="r2"),
             {"ansible.builtin.copy": {"content": "{{ [r0, r1, r2] | to_json }}",
                                       "dest": os.path.join(workdir, "results.json"), "mode": "0600"}},
             absent("sized")]
    ansible_playbook(tasks, workdir)
    with open(os.path.join(workdir, "results.json")) as f:
        return [len(json.dumps(r, sort_keys=True)) for r in json.load(f)]


def measure(obj, lbload, n, repeat, workdir):
    empty = tuple(statistics.median(x) for x in zip(*[ansible_playbook([], workdir)[:2] for _run in range(repeat)]))
    os.makedirs(LB_ROOT, exist_ok=True)
    rows = {}
    rows["ping"] = per_task(lambda: ([], [{"ansible.builtin.ping": {}}] * n, []), n, repeat, workdir, empty)
    rows["shell: lbload"] = per_task(lambda: ([], [lbload_task(lbload, obj, i) for i in range(n)], []),
                                     n, repeat, workdir, empty)
    rows["load"] = per_task(lambda: ([], [collection("load%d" % i, obj) for i in range(n)],
                                     [absent("load%d" % i) for i in range(n)]), n, repeat, workdir, empty)
    rows["no-op"] = per_task(lambda: ([collection("noop", obj)], [collection("noop", obj)] * n, [absent("noop")]),
                             n, repeat, workdir, empty)
    rows["load, no bytecode cache"] = per_task(
        lambda: ([], [uncached(collection("load%d" % i, obj)) for i in range(n)],
                 [absent("load%d" % i) for i in range(n)]), n, repeat, workdir, empty)
    rows["no-op, no bytecode cache"] = per_task(
        lambda: ([collection("noop", obj)], [uncached(collection("noop", obj))] * n, [absent("noop")]),
        n, repeat, workdir, empty)
    rows["no-op, facts: full"] = per_task(
        lambda: ([collection("noop", obj)], [collection("noop", obj, facts="full")] * n, [absent("noop")]),
        n, repeat, workdir, empty)
    # The lbload baseline is a shell task: compare it with a shell task that does nothing.
    rows["shell: true"] = per_task(lambda: ([], [{"ansible.builtin.shell": "true"}] * n, []),
                                   n, repeat, workdir, empty)
    os.rmdir(LB_ROOT)
    return rows, result_sizes(obj, workdir)


def report(label, rows, sizes):
    ping_wall, ping_cpu = rows["ping"]
    print("\n%s: per task (wall ms, CPU ms of controller+module; above ping)" % label)
    for name, (wall, cpu) in rows.items():
        print("  %-22s %7.1f ms  %+7.1f   cpu %6.1f ms  %+7.1f" % (
            name, wall * 1000, (wall - ping_wall) * 1000, cpu * 1000, (cpu - ping_cpu) * 1000))
    load, lb = rows["load"][0], rows["shell: lbload"][0]
    print("  load / shell: lbload          %.2fx   (target <= 1.3; %.2fx without the bytecode cache)"
          % (load / lb, rows["load, no bytecode cache"][0] / lb))
    print("  no-op above ping              %.1f ms (target <= 15)" % ((rows["no-op"][0] - ping_wall) * 1000))
    print("  result bytes: load %d, no-op %d, no-op with facts: full %d" % tuple(sizes))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--programs", type=int, nargs="+", default=[100, 2])
    args = parser.parse_args()
    lbload = lbload_path()
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.programs:
            obj = build(count, os.path.join(HERE, "build"))
            rows, sizes = measure(obj, lbload, args.tasks, args.repeat, tmp)
            report("%d-program CO-RE object, %d tasks a playbook, median of %d" % (count, args.tasks, args.repeat),
                   rows, sizes)
    for d in (PIN_ROOT, LB_ROOT):
        if os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
