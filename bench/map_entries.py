# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries from a file into a pinned hash map (u64 key, u32 value), in
process (no Ansible; bench/map_entries_playbook.py runs playbooks): our
first sync and no-op re-run (from the encoded entries the first kept) against
``bpftool batch`` writing the same entries, at 10^4, 10^5 and 10^6 entries,
with each side's peak RSS (a child process per measurement).

    python bench/map_entries.py [--sizes 10000,100000,1000000]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OBJ = os.path.join(HERE, "..", "tests", "bpf", "build", "blocklist.o")

CHILD = r"""
import resource, sys, time
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries_src import converge_entries_src
t = time.perf_counter()
r = converge_entries_src(sys.argv[1], "bench/blocklist", sys.argv[2], exclusive=True)
print("%.3f %d %d %s" % (time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                         r["written"], r["syscalls"]))
"""


def ours(pin_root, path):
    out = subprocess.run([sys.executable, "-c", CHILD, pin_root, path], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.split()
    return float(out[0]), int(out[1]) // 1024, int(out[2]), out[3]


def forget(pin):
    """Remove the entries the host kept for map ``pin`` (a first sync parses the file)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy import entries_cache
    kept = os.path.join(entries_cache.CACHE_DIR, entries_cache.cache_name(pin))
    if os.path.exists(kept):
        os.unlink(kept)


def bpftool(pin, n, tmp):
    script = os.path.join(tmp, "batch.txt")
    with open(script, "w") as f:
        for k in range(n):
            key = k.to_bytes(8, "little")
            value = (k & 0xffffffff).to_bytes(4, "little")
            words = (" ".join(str(b) for b in key), " ".join(str(b) for b in value))
            f.write("map update pinned %s key %s value %s\n" % ((pin,) + words))
    t = time.perf_counter()
    subprocess.run(["bpftool", "batch", "file", script], check=True, stdout=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return dt, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
    tmp = tempfile.mkdtemp(prefix="map-entries-bench-")
    pin_root = "/sys/fs/bpf/ebpf-deploy-bench-%d" % os.getpid()
    rows = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            path = os.path.join(tmp, "rules-%d.csv" % n)
            with open(path, "w") as f:
                f.write("key,value\n")
                f.writelines("%d,%d\n" % (k, k & 0xffffffff) for k in range(n))
            converge(Desired("bench", pin_root, path=OBJ))
            forget(os.path.join(pin_root, "bench", "maps", "blocklist"))
            first = ours(pin_root, path)
            noop = ours(pin_root, path)
            assert noop[2] == 0, noop
            converge(Desired("bench", pin_root, state="absent"))
            converge(Desired("bench", pin_root, path=OBJ))
            tool = bpftool(os.path.join(pin_root, "bench", "maps", "blocklist"), n, tmp)
            converge(Desired("bench", pin_root, state="absent"))
            forget(os.path.join(pin_root, "bench", "maps", "blocklist"))
            rows.append((n, first, noop, tool))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pin_root, ignore_errors=True) if not os.path.exists(pin_root) else \
            subprocess.run(["rm", "-rf", pin_root], check=False)
    # bpftool's RSS is the peak over all children, ours included: an upper bound.
    print("| entries | ours first sync | ours no-op | ours peak RSS | syscalls | bpftool batch | children peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for n, first, noop, tool in rows:
        print("| %d | %.2f s | %.2f s | %d MiB | %s | %.2f s | %d MiB |" % (
            n, first[0], noop[0], max(first[1], noop[1]), first[3], tool[0], tool[1]))


if __name__ == "__main__":
    main()
