# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load time and peak RSS of our loader against `bpftool prog loadall`
(libbpf) on the same objects, in the same run.

Each measurement is a fresh process (as an Ansible module is), timed from
fork to exit, with peak RSS from wait4(). Our side also reports the time
spent inside bpf() itself. Run as root: ./dev bench  (or
.venv/bin/python bench/load_vs_bpftool.py [objects...]).
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import PIN_BASE, ROOT, bpftool_loadall, child_script, unpin, write_results  # noqa: E402

# One load in a child process (after measure.TIMED_BPF); prints the seconds spent inside bpf().
CHILD = r"""
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load_file import load_file
t0 = time.perf_counter()
coll = load_file(sys.argv[1], pin_dir=sys.argv[2])
load_seconds = time.perf_counter() - t0
coll.close()
print(json.dumps({"bpf_seconds": inside[0], "load_seconds": load_seconds}))
"""


def measure(obj, repeat):
    ours, theirs, inside, in_process, ours_rss, theirs_rss = [], [], [], [], [], []
    try:
        with child_script(CHILD) as ours_load:
            for _run in range(repeat):
                wall, rss, info = ours_load(obj, os.path.join(PIN_BASE, "ours"))
                ours.append(wall)
                ours_rss.append(rss)
                inside.append(info["bpf_seconds"])
                in_process.append(info["load_seconds"])
                wall, rss = bpftool_loadall(obj)
                theirs.append(wall)
                theirs_rss.append(rss)
    finally:
        unpin(PIN_BASE)
    return {
        "object": os.path.relpath(obj, ROOT),
        "ours_wall_ms": statistics.median(ours) * 1000,
        "ours_bpf_ms": statistics.median(inside) * 1000,
        "ours_load_call_ms": statistics.median(in_process) * 1000,
        "ours_peak_rss_mib": max(ours_rss) / 2 ** 20,
        "bpftool_wall_ms": statistics.median(theirs) * 1000,
        "bpftool_peak_rss_mib": max(theirs_rss) / 2 ** 20,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("objects", nargs="*")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    # maps.o is left out: its pinned-by-name map makes libbpf pin outside
    # the bench directory.
    corpus = os.path.join(ROOT, "..", "shared", "corpus")
    objects = args.objects or [
        os.path.join(ROOT, "tests", "bpf", "build", n) for n in ("globals.o", "subprog.o", "tailcall.o", "mapinmap.o")
    ] + sorted(glob.glob(os.path.join(ROOT, "examples", "bpf", "build", "*.o"))) + [
        p for p in (os.path.join(corpus, n) for n in ("variables-el.elf",))
        if os.path.exists(p)]
    os.makedirs(PIN_BASE, exist_ok=True)
    rows = [measure(obj, args.repeat) for obj in objects]
    head = "%-36s %8s %9s %8s %8s %10s %8s %7s %6s" % (
        "object", "ours ms", "load_file", "in bpf()", "RSS MiB", "bpftool ms", "RSS MiB", "time x", "RSS x")
    print(head)
    print("-" * len(head))
    for r in rows:
        print("%-36s %8.1f %9.1f %8.1f %8.1f %10.1f %8.1f %7.1f %6.2f" % (
            r["object"], r["ours_wall_ms"], r["ours_load_call_ms"], r["ours_bpf_ms"], r["ours_peak_rss_mib"],
            r["bpftool_wall_ms"],
            r["bpftool_peak_rss_mib"], r["ours_wall_ms"] / r["bpftool_wall_ms"],
            r["ours_peak_rss_mib"] / r["bpftool_peak_rss_mib"]))
    print("(median of %d fresh processes each; 'ours ms' is the whole process including the Python interpreter's\n"
          " start, 'load_file' the load call inside it, 'in bpf()' the part of that spent in the kernel;\n"
          " peak RSS is the maximum)" % args.repeat)
    write_results(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
