# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's share of a task: the AnsiballZ payload of a module run
directly, N times, interleaved with the others, no controller.

Payloads are the files Ansible itself builds (ANSIBLE_KEEP_REMOTE_FILES)
for: ansible.builtin.ping; bpf_collection on an already loaded object (the
no-op, summary facts) and loading it (each run a new name, removed after);
each bpf_collection one with the collection's bytecode cache of
module_utils and without it (EBPF_DEPLOY_BYTECODE_CACHE=off). Reports the
minimum and median wall ms of each, the median CPU ms (user + system, which
another process's load changes less than wall time), and each above ping.
Run as root: .venv/bin/python bench/module_host.py [--runs N] [--programs 100 2]
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
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

PIN_ROOT = "/sys/fs/bpf/ebpf_deploy_bench_host"
BIN = os.path.dirname(sys.executable)


def ansible_env(**extra):
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"), ANSIBLE_NOCOLOR="1",
                **extra)


def play(tasks, workdir, **env):
    path = os.path.join(workdir, "pb.yml")
    with open(path, "w") as f:
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                         "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}], f)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path],
                          env=ansible_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if proc.returncode != 0:
        sys.exit("bench: playbook failed:\n%s" % proc.stdout[-3000:])


def payload(task, workdir, name):
    """The AnsiballZ file Ansible builds for ``task``, copied to workdir/name.py."""
    remote = tempfile.mkdtemp(prefix="remote-", dir=workdir)
    play([task], workdir, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=remote)
    found = glob.glob(os.path.join(remote, "ansible-tmp-*", "AnsiballZ_*.py"))
    if len(found) != 1:
        sys.exit("bench: want one AnsiballZ payload for %s, found %s" % (name, found))
    dest = os.path.join(workdir, name + ".py")
    shutil.copy(found[0], dest)
    shutil.rmtree(remote)
    return dest


def collection(name, obj, **options):
    return {"ebpf.deploy.bpf_collection": dict(name=name, path=obj, pin_root=PIN_ROOT, **options)}


def timed(path, env):
    """(wall, CPU) seconds of one run of the payload at ``path``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, path], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or b'"failed": true' in proc.stdout:
        sys.exit("bench: %s failed: %s %s" % (path, proc.stdout[-2000:], proc.stderr[-2000:]))
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def measure(obj, runs, workdir):
    play([collection("noop", obj)], workdir)
    ping = payload({"ansible.builtin.ping": {}}, workdir, "ping")
    noop = payload(collection("noop", obj), workdir, "noop")
    load = payload(collection("fresh", obj), workdir, "load")
    absent = payload({"ebpf.deploy.bpf_collection": {"name": "fresh", "pin_root": PIN_ROOT, "state": "absent"}},
                     workdir, "absent")
    on = dict(os.environ, EBPF_DEPLOY_BYTECODE_CACHE="on")
    off = dict(os.environ, EBPF_DEPLOY_BYTECODE_CACHE="off")
    cases = [("ping", ping, on), ("no-op", noop, on), ("no-op, no bytecode cache", noop, off),
             ("load", load, on), ("load, no bytecode cache", load, off)]
    times = dict((label, []) for label, _p, _e in cases)
    timed(noop, on)  # fills the bytecode cache, as the run's first task does
    for _run in range(runs):
        for label, path, env in cases:
            times[label].append(timed(path, env))
            if path == load:
                timed(absent, on)
    play([{"ebpf.deploy.bpf_collection": {"name": n, "pin_root": PIN_ROOT, "state": "absent"}}
          for n in ("noop", "fresh")], workdir)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--programs", type=int, nargs="+", default=[100, 2])
    args = parser.parse_args()
    for count in args.programs:
        obj = build(count, os.path.join(HERE, "build"))
        with tempfile.TemporaryDirectory() as workdir:
            times = measure(obj, args.runs, workdir)
        figures = dict((label, (min(w for w, _c in t), statistics.median(w for w, _c in t),
                                statistics.median(c for _w, c in t))) for label, t in times.items())
        ping = figures["ping"]
        print("\n%d-program CO-RE object: the module alone on the host, %d interleaved runs (ms)"
              % (count, args.runs))
        print("  %-26s %9s %11s %10s %11s %12s %10s" % (
            "", "wall min", "wall median", "CPU median", "min - ping", "median - ping", "CPU - ping"))
        for label, (low, mid, cpu) in figures.items():
            print("  %-26s %9.1f %11.1f %10.1f %+11.1f %+12.1f %+10.1f" % (
                label, low * 1e3, mid * 1e3, cpu * 1e3, (low - ping[0]) * 1e3, (mid - ping[1]) * 1e3,
                (cpu - ping[2]) * 1e3))
    shutil.rmtree(PIN_ROOT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
