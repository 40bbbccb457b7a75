# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CO-RE loads: our loader cold (no BTF cache), warm (per-run cache hit),
current libbpf's loader (lbload, ../shared/tools/libbpf-ref) and `bpftool
prog loadall` (libbpf 1.1) on the same generated objects, same run.

Our loader runs twice over: with module_utils on the file system and its
.pyc kept (an installed library), and from a zip as a module under
AnsiballZ does, with the collection's host bytecode cache (warm) and
without it (every import compiled, as before that cache).

Objects: 100 kprobe programs each reading task->nsproxy->mnt_ns->ns.inum
(bench/gen_core_object.py), and a 2-program one. Reports wall time, peak
RSS, time inside bpf(), and the ratios the CO-RE issue sets as targets:
warm <= 2x bpftool, cold <= 10x, RSS <= 2x, and outside-bpf() <= inside
when warm. Run as root: ./dev bench-core
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gen_core_object import build  # noqa: E402
from libbpf_ref import lbload_path  # noqa: E402
from measure import (PIN_BASE, ansiballz_env, bpftool_loadall, child_script, module_utils_zip, run,  # noqa: E402
                     unpin, write_results)

# One load in a child process (after measure.TIMED_BPF).
CHILD = r"""
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import make_cache
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
t0 = time.perf_counter()
cache = make_cache(sys.argv[3], run_id="bench", directory=sys.argv[4]) if sys.argv[3] != "none" else None
coll = load_collection(read_object(sys.argv[1]), pin_dir=sys.argv[2], kernel_btf=KernelBTF(cache=cache))
load = time.perf_counter() - t0
coll.close()
print(json.dumps({"bpf_seconds": inside[0], "load_seconds": load,
                  "cache": cache.status if cache is not None else "none"}))
"""


# label: (BTF cache mode, how module_utils are imported)
OURS = (("cold", "none", "pyc"), ("warm", "run", "pyc"),
        ("cold, as under Ansible", "none", "zip+cache"), ("warm, as under Ansible", "run", "zip+cache"),
        ("warm, Ansible, no bytecode cache", "run", "zip"))


def measure(obj, repeat, cache_dir, lbload, zip_path):
    rows = {}
    envs = {"pyc": None, "zip+cache": ansiballz_env(zip_path, True), "zip": ansiballz_env(zip_path, False)}
    with child_script(CHILD) as ours_load:
        # Prime the per-run cache and the bytecode cache once, as a run's first task would.
        ours_load(obj, os.path.join(PIN_BASE, "prime"), "run", cache_dir, env=envs["zip+cache"])
        for label, mode, imports in OURS:
            walls, rss, inside, loads, statuses = [], [], [], [], set()
            for _run in range(repeat):
                wall, peak, info = ours_load(obj, os.path.join(PIN_BASE, "ours"), mode, cache_dir, env=envs[imports])
                walls.append(wall)
                rss.append(peak)
                inside.append(info["bpf_seconds"])
                loads.append(info["load_seconds"])
                statuses.add(info["cache"])
            rows[label] = {"wall_ms": statistics.median(walls) * 1000, "peak_rss_mib": max(rss) / 2 ** 20,
                           "bpf_ms": statistics.median(inside) * 1000, "load_call_ms": statistics.median(loads) * 1000,
                           "cache": sorted(statuses)}
        walls, rss = [], []
        for _run in range(repeat):
            wall, peak = bpftool_loadall(obj)
            walls.append(wall)
            rss.append(peak)
        rows["bpftool"] = {"wall_ms": statistics.median(walls) * 1000, "peak_rss_mib": max(rss) / 2 ** 20}
        walls, rss = [], []
        pin = os.path.join(PIN_BASE, "lbload")
        for _run in range(repeat):
            wall, peak, _out = run([lbload, obj, pin])
            unpin(pin)
            walls.append(wall)
            rss.append(peak)
        rows["libbpf"] = {"wall_ms": statistics.median(walls) * 1000, "peak_rss_mib": max(rss) / 2 ** 20}
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--programs", type=int, nargs="*", default=[100, 2])
    parser.add_argument("--json")
    args = parser.parse_args()
    os.makedirs(PIN_BASE, exist_ok=True)
    cache_dir = tempfile.mkdtemp(prefix="ebpf-deploy-bench-cache-")
    # Not in cache_dir: the per-run cache removes what is not its runs' there.
    zip_dir = tempfile.mkdtemp(prefix="ebpf-deploy-bench-zip-")
    zip_path = module_utils_zip(os.path.join(zip_dir, "payload.zip"))
    lbload = lbload_path()
    out = {}
    try:
        for count in args.programs:
            obj = build(count, os.path.join(HERE, "build"))
            out[count] = rows = measure(obj, args.repeat, cache_dir, lbload, zip_path)
            lb, bt = rows["libbpf"], rows["bpftool"]
            print("\nCO-RE object with %d programs (median of %d fresh processes):" % (count, args.repeat))
            print("  %-33s %8s %9s %8s %8s %9s %9s %7s" % (
                "", "wall ms", "load_file", "in bpf()", "RSS MiB", "x libbpf", "x bpftool", "RSS x lb"))
            for label, _mode, _imports in OURS:
                r = rows[label]
                print("  %-33s %8.1f %9.1f %8.1f %8.1f %9.2f %9.2f %7.2f" % (
                    label, r["wall_ms"], r["load_call_ms"], r["bpf_ms"], r["peak_rss_mib"], r["wall_ms"] / lb["wall_ms"],
                    r["wall_ms"] / bt["wall_ms"], r["peak_rss_mib"] / lb["peak_rss_mib"]))
            for label, r in (("libbpf (lbload, current)", lb), ("bpftool (libbpf 1.1)", bt)):
                print("  %-33s %8.1f %9s %8s %8.1f %9.2f %9.2f" % (
                    label, r["wall_ms"], "", "", r["peak_rss_mib"], r["wall_ms"] / lb["wall_ms"],
                    r["wall_ms"] / bt["wall_ms"]))
            warm, cold = rows["warm, as under Ansible"], rows["cold, as under Ansible"]
            print("  issue 18 targets, as under Ansible: warm %.2fx libbpf (<= 3), cold %.2fx (<= 5), peak RSS "
                  "%.2fx (<= 1.5), warm outside bpf() %.1f ms vs inside %.1f ms (outside <= inside)" % (
                      warm["wall_ms"] / lb["wall_ms"], cold["wall_ms"] / lb["wall_ms"],
                      max(cold["peak_rss_mib"], warm["peak_rss_mib"]) / lb["peak_rss_mib"],
                      warm["load_call_ms"] - warm["bpf_ms"], warm["bpf_ms"]))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(zip_dir, ignore_errors=True)
        unpin(PIN_BASE)
    write_results(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
