# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the per-run BTF cache saves: kernel BTF (vmlinux) opened by a fresh
parse, by a cache build and by a cache hit, each in a fresh process (as an
Ansible task is).

Every scenario ends with a first by-name lookup, because that is what the
loader needs (CO-RE candidates, attach targets) and what builds the name
index on a fresh parse. Times are measured in the child around the work
itself (imports excluded); the RSS delta is the child's peak RSS
(getrusage) after the work minus before it; the process peak and wall
time come from wait4(). Medians of --repeat runs.

Run: .venv/bin/python bench/btf_cache.py [--btf /sys/kernel/btf/vmlinux]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, resource, sys, time
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF, map_file
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import BTFCache, btf_identity
mode, path, directory = sys.argv[1:4]
NAMES = ("task_struct", "sk_buff", "bpf_map", "file", "net_device", "cgroup", "pt_regs",
         "xdp_md", "__sk_buff", "inode")

def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

out = {}
rss0 = rss_kb()
t0 = time.perf_counter()
if mode == "fresh":
    btf = BTF.from_file(path, name="vmlinux")
    out["first_pass_ms"] = (time.perf_counter() - t0) * 1e3
elif mode == "identity":
    data = map_file(path)
    btf_identity(data)
    btf = None
else:
    cache = BTFCache(directory, "bench")
    btf = cache.load(path, "vmlinux")
    out["status"] = cache.status
    out["size"] = cache.size
t1 = time.perf_counter()
if btf is not None:
    btf.ids_by_name("task_struct")
t2 = time.perf_counter()
out["total_ms"] = (t2 - t0) * 1e3
out["first_lookup_ms"] = (t2 - t1) * 1e3
out["rss_delta_kb"] = rss_kb() - rss0
if btf is not None:
    t3 = time.perf_counter()
    for _ in range(10):
        for name in NAMES:
            btf.ids_by_name(name)
    out["lookup_us"] = (time.perf_counter() - t3) * 1e6 / (10 * len(NAMES))
print(json.dumps(out))
"""


def child_wait4(mode, path, directory):
    # fork/exec ourselves so that wait4() gives the child's rusage (peak
    # RSS of the whole process).
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, ".venv", "collections")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    rfd, wfd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.dup2(wfd, 1)
        try:
            os.execve(sys.executable, [sys.executable, "-c", CHILD, mode, path, directory], env)
        finally:
            os._exit(127)
    os.close(wfd)
    chunks = []
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError("child %s failed with status %d" % (mode, status))
    result = json.loads(b"".join(chunks).decode())
    result["wall_ms"] = wall * 1e3
    result["peak_rss_kb"] = usage.ru_maxrss
    return result


def median(results, key):
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="btf-cache-bench-")
    try:
        rows = {}
        rows["fresh parse"] = [child_wait4("fresh", args.btf, directory) for _run in range(args.repeat)]
        builds = []
        for _run in range(args.repeat):
            shutil.rmtree(os.path.join(directory, "bench"), ignore_errors=True)
            builds.append(child_wait4("cache", args.btf, directory))
        rows["cache build"] = builds
        rows["cache hit"] = [child_wait4("cache", args.btf, directory) for _run in range(args.repeat)]
        rows["identity only (sha256)"] = [child_wait4("identity", args.btf, directory)
                                          for _run in range(args.repeat)]
        for name in ("cache build", "cache hit"):
            statuses = sorted(set(r["status"] for r in rows[name]))
            want = ["built"] if name == "cache build" else ["hit"]
            if statuses != want:
                raise RuntimeError("%s: statuses %s, want %s" % (name, statuses, want))

        print("kernel BTF: %s, %d bytes; Python %s; %d runs each, medians"
              % (args.btf, os.path.getsize(args.btf), sys.version.split()[0], args.repeat))
        header = "%-24s %10s %10s %10s %12s %10s %12s %10s" % (
            "scenario", "work ms", "1st pass", "1st name", "RSS delta", "process", "process", "lookup")
        print(header)
        print("%-24s %10s %10s %10s %12s %10s %12s %10s" % (
            "", "", "ms", "lookup ms", "KiB", "wall ms", "peak KiB", "us"))
        for name, results in rows.items():
            print("%-24s %10.1f %10s %10.2f %12d %10.1f %12d %10s" % (
                name, median(results, "total_ms"),
                "%.1f" % median(results, "first_pass_ms") if "first_pass_ms" in results[0] else "-",
                median(results, "first_lookup_ms"), median(results, "rss_delta_kb"),
                median(results, "wall_ms"), median(results, "peak_rss_kb"),
                "%.1f" % median(results, "lookup_us") if "lookup_us" in results[0] else "-"))
        print("cache file: %d bytes" % rows["cache hit"][0]["size"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
