# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries from a file into a pinned hash map (u64 key, u32 value) at the
playbook level, on this host (local connection): one ebpf.deploy.bpf_map
task with ``entries_src`` on the controller (first sync into an empty map,
then the no-op re-run), against one ``command: bpftool batch file`` task
writing the same entries into an empty map, each measured above a playbook
with one ansible.builtin.ping task. Peak RSS of the controller (the
ansible-playbook process and its workers, polled) and of the host side
(every Python the task runs on the host, measured exactly through an
interpreter wrapper). Writes a markdown table to bench/results/.

    python bench/map_entries_playbook.py [--sizes 10000,100000,1000000] [--repeat 3]
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OBJ = os.path.join(REPO, "tests", "bpf", "build", "blocklist.o")
BIN = os.path.dirname(sys.executable)

WRAPPER = r"""#!%(python)s
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call([%(python)r] + sys.argv[1:])
with open(%(out)r, "a") as f:
    f.write("%%d %%.3f\n" %% (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t))
sys.exit(rc)
"""


class TreePeak(threading.Thread):
    """Polls the peak RSS (VmHWM) of ``pid`` and its descendants that are
    not host-side Python (the module under the interpreter wrapper)."""

    def __init__(self, pid, host_marker):
        super(TreePeak, self).__init__(daemon=True)
        self.pid = pid
        self.marker = host_marker
        self.peak = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for pid in self._tree():
                self.peak = max(self.peak, _hwm_kib(pid))
            time.sleep(0.02)

    def _tree(self):
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    children = [int(c) for c in f.read().split()]
            except (IOError, OSError, ValueError):
                continue
            if self.marker.encode() in cmd or b"AnsiballZ" in cmd or cmd.startswith(b"/bin/sh"):
                continue    # host side (measured by the wrapper), or a shell
            out.append(pid)
            todo.extend(children)
        return out


def _hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (IOError, OSError):
        pass
    return 0


class Bench:

    def __init__(self, tmp, pin_root):
        self.tmp = tmp
        self.pin_root = pin_root
        self.rss_file = os.path.join(tmp, "host-rss.txt")
        self.wrapper = os.path.join(tmp, "python-measured")
        with open(self.wrapper, "w") as f:
            f.write(WRAPPER % {"python": sys.executable, "out": self.rss_file})
        os.chmod(self.wrapper, 0o755)
        self.env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
                        ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
                        ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_STDOUT_CALLBACK="minimal", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))

    def play(self, task, name):
        """Run one playbook with ``task``: (seconds, controller peak MiB, host peak MiB, result)."""
        play = [{"hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_python_interpreter": self.wrapper}, "tasks": [task]}]
        path = os.path.join(self.tmp, "%s.yml" % name)
        with open(path, "w") as f:
            json.dump(play, f)
        if os.path.exists(self.rss_file):
            os.unlink(self.rss_file)
        t = time.perf_counter()
        proc = subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path],
                                env=self.env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        poll = TreePeak(proc.pid, self.wrapper)
        poll.start()
        stdout = proc.communicate()[0]
        dt = time.perf_counter() - t
        poll.done.set()
        poll.join()
        if proc.returncode:
            raise SystemExit("%s failed:\n%s" % (name, stdout[-3000:]))
        # The minimal callback prints "localhost | SUCCESS => {result}"
        # ("... | rc=0 >>" and the output for command).
        result = json.loads(stdout[stdout.index("{"):stdout.rindex("}") + 1]) if "=> {" in stdout else {}
        with open(self.rss_file) as f:
            runs = [line.split() for line in f if line.strip()]
        self.host_seconds = sum(float(t) for _rss, t in runs)
        return dt, poll.peak / 1024.0, max(int(rss) for rss, _t in runs) / 1024.0, result


def fresh_map(pin_root, load=True):
    """An empty blocklist map (its kept entries removed); its pin."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy import entries_cache
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
    converge(Desired("bench", pin_root, state="absent"))
    if load:
        converge(Desired("bench", pin_root, path=OBJ))
    pin = os.path.join(pin_root, "bench", "maps", "blocklist")
    kept = os.path.join(entries_cache.CACHE_DIR, entries_cache.cache_name(pin))
    if os.path.exists(kept):
        os.unlink(kept)
    return pin


def count(pin):
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
    fd = syscalls.obj_get(pin)
    try:
        return syscalls.map_count(fd, 8, 4)
    finally:
        os.close(fd)


def write_files(tmp, n, pin):
    files = os.path.join(tmp, "files")
    if not os.path.isdir(files):
        os.mkdir(files)
    csv_path = os.path.join(files, "rules-%d.csv" % n)
    with open(csv_path, "w") as f:
        f.write("key,value\n")
        f.writelines("%d,%d\n" % (k, k & 0xffffffff) for k in range(n))
    batch = os.path.join(tmp, "batch-%d.txt" % n)
    with open(batch, "w") as f:
        for k in range(n):
            key = " ".join(str(b) for b in k.to_bytes(8, "little"))
            value = " ".join(str(b) for b in (k & 0xffffffff).to_bytes(4, "little"))
            f.write("map update pinned %s key %s value %s\n" % (pin, key, value))
    return os.path.basename(csv_path), batch


def median(runs):
    """(median seconds, peak controller MiB, peak host MiB) of runs."""
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), max(r[2] for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each playbook (the median is reported)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="map-entries-playbook-")
    pin_root = "/sys/fs/bpf/ebpf-deploy-pbench-%d" % os.getpid()
    b = Bench(tmp, pin_root)
    rows = []
    loads = []
    try:
        pin = fresh_map(pin_root)
        for n in [int(s) for s in args.sizes.split(",")]:
            src, batch = write_files(tmp, n, pin)
            ours = {"ebpf.deploy.bpf_map": {"map": "bench/blocklist", "pin_root": pin_root, "entries_src": src,
                                            "exclusive": True}}
            pings, firsts, noops, tools = [], [], [], []
            for _run in range(args.repeat):
                # Interleaved, so that the machine's load weighs on each alike.
                pings.append(b.play({"ansible.builtin.ping": {}}, "ping"))
                pin = fresh_map(pin_root)
                firsts.append(b.play(ours, "first"))
                assert firsts[-1][3]["written"] == n and count(pin) == n, firsts[-1][3]
                noops.append(b.play(ours, "noop"))
                assert noops[-1][3]["changed"] is False and noops[-1][3]["encoded_from"] == "kept" and \
                    not noops[-1][3]["entries_sent"], noops[-1][3]
                pin = fresh_map(pin_root)
                tools.append(b.play({"ansible.builtin.command": "bpftool batch file %s" % batch}, "bpftool"))
                assert count(pin) == n
                loads.append(os.getloadavg()[0])
            rows.append((n, median(pings), median(firsts), median(noops), median(tools)))
    finally:
        fresh_map(pin_root, load=False)
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.isdir(pin_root):
            subprocess.run(["rm", "-rf", pin_root], check=False)
    lines = ["Playbook level, this host (local connection, %d CPUs shared, load average %.1f-%.1f while it ran), %s. "
             "Medians of %d runs each; \"above ping\" subtracts the median of the one-ansible.builtin.ping "
             "playbook run beside them." % (os.cpu_count(), min(loads), max(loads),
                                            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args.repeat), "",
             "| entries | ping playbook | ours first sync | ours no-op | bpftool batch | first sync above ping | "
             "no-op above ping | bpftool above ping | bpftool / ours (first sync) | controller peak RSS (ours) | "
             "host peak RSS (ours) | host peak RSS (bpftool task) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, ping, first, noop, tool in rows:
        above = [x[0] - ping[0] for x in (first, noop, tool)]
        lines.append("| %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %s | %.0f MiB | %.0f MiB "
                     "| %.0f MiB |" % (n, ping[0], first[0], noop[0], tool[0], above[0], above[1], above[2],
                                       "%.1fx" % (above[2] / above[0]) if above[0] > 0 else "-",
                                       max(first[1], noop[1]), max(first[2], noop[2]), tool[2]))
    lines += ["", "Ping playbook peaks: controller %.0f MiB, host %.0f MiB. The bpftool task's host peak is the "
              "largest of the command module's Python and bpftool under it." % (rows[0][1][1], rows[0][1][2])]
    text = "\n".join(lines) + "\n"
    results = os.path.join(HERE, "results")
    if not os.path.isdir(results):
        os.mkdir(results)
    with open(os.path.join(results, "map_entries_playbook.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
