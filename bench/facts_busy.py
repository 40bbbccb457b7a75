# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_facts on a busy host: this process holds N maps and N programs while a
fresh process gathers the workload facts (and, for comparison, bpftool
lists the same objects). Run as root: .venv/bin/python bench/facts_busy.py
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".venv", "collections"))

from ansible_collections.ebpf.deploy.plugins.module_utils import syscalls  # noqa: E402

CHILD = ("import time; t = time.perf_counter()\n"
         "from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.facts import workload_facts\n"
         "f = workload_facts(); print('%d %d %.1f' % (len(f['maps']), len(f['programs']), "
         "(time.perf_counter() - t) * 1000))\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    fds = []
    trivial = bytes.fromhex("b700000000000000" + "9500000000000000")  # r0 = 0; exit
    try:
        for i in range(args.objects):
            fds.append(syscalls.map_create(1, 4, 8, 64, name="busy%d" % i))
            fds.append(syscalls.prog_load(1, trivial, "GPL", name="busy%d" % i)[0])
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".venv", "collections"))
        runs = []
        for _run in range(5):
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True,
                                 text=True).stdout.split()
            runs.append(float(out[2]))
        start = time.perf_counter()
        subprocess.run(["bpftool", "-j", "map", "show"], check=True, capture_output=True)
        subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True)
        bt = (time.perf_counter() - start) * 1000
        print("workload facts with %s maps and %s programs loaded: median %.1f ms (import + gather, fresh "
              "process); bpftool map show + prog show: %.1f ms" % (out[0], out[1], sorted(runs)[2], bt))
    finally:
        for fd in fds:
            os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
