# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: deploying the packet counter to N simulated hosts over
SSH with ebpf.deploy, against the playbook one writes without it (copy the
object, `bpftool prog loadall`, `bpftool net attach xdpgeneric`).

The hosts come from molecule/fleet/fleet.py (own network and mount
namespace, own bpffs, own sshd each), under their own prefix and address
pool so that a molecule `fleet` run can go on beside this one.

For each side and each repetition, on hosts cleaned of both sides' pins
and attachments:
  deploy   the first run (everything changes)
  rerun    the same playbook again with nothing changed: a no-op for
           ebpf.deploy; the naive playbooks cannot tell, so they remove
           their pins and load and attach again (bpftool refuses to pin
           over existing pins)
Each run is one `ansible-playbook` process, timed from fork to exit, with
the peak RSS of the largest process of the controller's tree (wait4) and
its CPU time. Before the timed runs one ad hoc ping opens the SSH
connections (ControlPersist), so every timed run starts with them open.
Every run must end with failed=0; ours must report changed on the deploy
and nothing on the rerun, and after each run every host must have an XDP
program attached to its interface.

Sides:
  ours         bench/fleet_ours.yml: bpf_collection (src) + bpf_link
  naive        bench/fleet_naive.yml: copy, mkdir, rm pins, loadall, attach (one task each)
  naive_shell  bench/fleet_naive_shell.yml: copy + one shell task (rm; mkdir; loadall; attach)

Run as root from the project root:
  .venv/bin/python bench/fleet_vs_bpftool.py [--hosts 20] [--repeat 3] [--forks 5]
Results go to bench/results/fleet_vs_bpftool.json (--json to change).
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLEET = os.path.join(ROOT, "molecule", "fleet", "fleet.py")
VENV = os.path.join(ROOT, ".venv")
SIDES = {
    "ours": os.path.join(HERE, "fleet_ours.yml"),
    "naive": os.path.join(HERE, "fleet_naive.yml"),
    "naive_shell": os.path.join(HERE, "fleet_naive_shell.yml"),
}
BASELINES = ("naive", "naive_shell")
TARGETS = {"deploy": 1.2, "rerun": 0.8}
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def log(msg):
    sys.stderr.write("fleet_vs_bpftool: %s\n" % msg)
    sys.stderr.flush()


class Bench:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ)
        self.env.update({
            "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": args.collections_path,
            "PYTHONPATH": args.collections_path,
            "FLEET_PREFIX": args.prefix,
            "FLEET_RUN_DIR": args.run_dir,
            "ANSIBLE_FORKS": str(args.forks),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            # Ansible's own ssh_args, with the master connections kept through the whole benchmark.
            "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=900s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(args.run_dir, "cp"),
        })
        self.env.pop("MOLECULE_EPHEMERAL_DIRECTORY", None)
        self.state = None
        self.log_dir = os.path.join(args.run_dir, "logs")

    def fleet(self, *argv):
        subprocess.run([sys.executable, FLEET] + list(argv), env=self.env, check=True, stdout=subprocess.DEVNULL)

    def create(self):
        self.fleet("create", "--hosts", str(self.args.hosts), "--net", self.args.net, "--no-btf", "none")
        with open(os.path.join(self.args.run_dir, "state.json")) as f:
            self.state = json.load(f)
        os.makedirs(self.log_dir, exist_ok=True)
        for host in self.state["hosts"]:
            with open(os.path.join(host["dir"], "sshd.pid")) as f:
                host["pid"] = int(f.read().strip())

    def destroy(self):
        self.fleet("destroy")

    def ansible(self, argv, name):
        """Runs ansible/ansible-playbook; returns (seconds, peak RSS bytes, CPU seconds, output)."""
        out_path = os.path.join(self.log_dir, name + ".log")
        with open(out_path, "w") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
        with open(out_path) as f:
            output = f.read()
        code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        if code != 0:
            raise RuntimeError("%s failed (exit %d); log %s:\n%s" % (name, code, out_path, output[-3000:]))
        return seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, output

    def playbook(self, side, name):
        argv = ["ansible-playbook", "-i", FLEET, "--forks", str(self.args.forks),
                "-e", "fleet_bench_object=%s" % self.args.object, SIDES[side]]
        seconds, rss, cpu, output = self.ansible(argv, name)
        recap = RECAP.findall(output)
        hosts = set(h["name"] for h in self.state["hosts"])
        seen = dict((r[0], r) for r in recap if r[0] in hosts)
        if set(seen) != hosts:
            raise RuntimeError("%s: recap lists %d of %d hosts" % (name, len(seen), len(hosts)))
        bad = [h for h, r in seen.items() if int(r[3]) or int(r[4])]
        if bad:
            raise RuntimeError("%s: unreachable or failed on %s" % (name, ", ".join(sorted(bad))))
        changed = sum(int(r[2]) for r in seen.values())
        return {"seconds": seconds, "peak_rss": rss, "cpu_seconds": cpu, "changed": changed}

    def in_host(self, host, command):
        return subprocess.run(["nsenter", "-t", str(host["pid"]), "-m", "-n", "sh", "-c", command],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)

    def xdp_program(self, host):
        """Name of the XDP program attached to the host's interface, or None."""
        proc = subprocess.run(["ip", "-n", host["netns"], "-j", "-d", "link", "show", "dev", host["interface"]],
                              stdout=subprocess.PIPE, universal_newlines=True, check=True)
        xdp = json.loads(proc.stdout)[0].get("xdp") or {}
        prog = xdp.get("prog") or {}
        if not prog and xdp.get("attached"):
            prog = (xdp["attached"][0].get("prog") or {})
        return prog.get("name") or (str(prog.get("id")) if prog else None)

    def check_attached(self, name):
        missing = [h["name"] for h in self.state["hosts"] if self.xdp_program(h) != "count_packets"]
        if missing:
            raise RuntimeError("%s: no count_packets attached on %s" % (name, ", ".join(missing)))

    def clean(self):
        """Both sides' pins, the naive side's attachment and object, on every host (untimed)."""
        for host in self.state["hosts"]:
            self.in_host(host, "rm -rf /sys/fs/bpf/ebpf_deploy /sys/fs/bpf/naive /tmp/packet_counter.o; "
                               "ip link set dev %s xdpgeneric off 2>/dev/null; true" % host["interface"])
        deadline = time.monotonic() + 5
        while True:
            left = [h["name"] for h in self.state["hosts"] if self.xdp_program(h)]
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("XDP still attached after cleaning on %s" % ", ".join(left))
            time.sleep(0.05)

    def run(self):
        results = dict((side, {"deploy": [], "rerun": []}) for side in self.args.sides)
        self.ansible(["ansible", "-i", FLEET, "--forks", str(self.args.forks), "fleet", "-m", "ansible.builtin.ping"],
                     "warmup")
        sides = list(self.args.sides)
        for rep in range(self.args.repeat):
            order = sides[rep % len(sides):] + sides[:rep % len(sides)]
            for side in order:
                self.clean()
                for phase in ("deploy", "rerun"):
                    name = "%s-%s-%d" % (side, phase, rep)
                    r = self.playbook(side, name)
                    self.check_attached(name)
                    if side == "ours":
                        want = 2 * len(self.state["hosts"]) if phase == "deploy" else 0
                        if r["changed"] != want:
                            raise RuntimeError("%s: %d changed, want %d" % (name, r["changed"], want))
                    results[side][phase].append(r)
                    log("%-22s %6.2f s  changed=%-3d peak RSS %5.1f MiB  controller CPU %5.2f s" % (
                        name, r["seconds"], r["changed"], r["peak_rss"] / 2.0 ** 20, r["cpu_seconds"]))
        self.clean()
        return results


def summarize(results, args):
    summary = {}
    for side, phases in results.items():
        summary[side] = {}
        for phase, runs in phases.items():
            summary[side][phase] = {
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "seconds": [round(r["seconds"], 3) for r in runs],
                "peak_rss": max(r["peak_rss"] for r in runs),
                "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            }
    ratios = {}
    if "ours" in summary:
        for base in BASELINES:
            if base not in summary:
                continue
            ratios[base] = {}
            for phase, target in TARGETS.items():
                ratio = summary["ours"][phase]["median_seconds"] / summary[base][phase]["median_seconds"]
                ratios[base][phase] = {"ratio": round(ratio, 3), "target": target, "met": ratio <= target}
    return summary, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forks", type=int, default=5, help="the same for every side (Ansible's default is 5)")
    parser.add_argument("--sides", default="ours,naive,naive_shell")
    parser.add_argument("--object", default=os.path.join(ROOT, "examples", "bpf", "build", "packet_counter.o"))
    parser.add_argument("--prefix", default="fbench", help="of the simulated hosts' names (not molecule's 'fleet')")
    parser.add_argument("--net", default="10.78.0.0/16", help="address pool (molecule's fleet uses 10.77.0.0/16)")
    parser.add_argument("--run-dir", default="/var/tmp/ebpf-deploy-fbench")
    parser.add_argument("--collections-path", default=os.path.join(VENV, "collections"),
                        help="where Ansible finds ansible_collections/ebpf/deploy (default: this tree, via .venv)")
    parser.add_argument("--keep", action="store_true", help="leave the hosts up afterwards")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "fleet_vs_bpftool.json"))
    args = parser.parse_args()
    args.sides = [s for s in args.sides.split(",") if s]
    unknown = set(args.sides) - set(SIDES)
    if unknown:
        parser.error("unknown sides %s (have %s)" % (sorted(unknown), sorted(SIDES)))
    if os.geteuid() != 0:
        parser.error("run as root (namespaces, sshd, bpf)")
    if not os.path.exists(args.object):
        subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "examples", "bpf")], check=True)

    bench = Bench(args)
    started = time.perf_counter()
    try:
        bench.create()
        log("%d hosts up; sides %s, %d repetitions, forks %d" % (args.hosts, ", ".join(args.sides), args.repeat,
                                                                 args.forks))
        results = bench.run()
    finally:
        if not args.keep:
            bench.destroy()
    summary, ratios = summarize(results, args)

    print("%d simulated hosts over SSH, forks %d, median of %d runs (seconds; peak RSS of the largest "
          "controller process)" % (args.hosts, args.forks, args.repeat))
    print("%-12s %9s %9s %12s" % ("side", "deploy", "rerun", "peak RSS"))
    for side in args.sides:
        s = summary[side]
        print("%-12s %9.2f %9.2f %9.1f MiB" % (side, s["deploy"]["median_seconds"], s["rerun"]["median_seconds"],
                                               max(s["deploy"]["peak_rss"], s["rerun"]["peak_rss"]) / 2.0 ** 20))
    for base, phases in ratios.items():
        print("ours / %-12s deploy %.2fx (target <= %.1fx: %s), rerun %.2fx (target <= %.1fx: %s)" % (
            base, phases["deploy"]["ratio"], phases["deploy"]["target"], "met" if phases["deploy"]["met"] else "NOT met",
            phases["rerun"]["ratio"], phases["rerun"]["target"], "met" if phases["rerun"]["met"] else "NOT met"))
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"hosts": args.hosts, "forks": args.forks, "repeat": args.repeat, "object": args.object,
                       "kernel": os.uname().release, "summary": summary, "ratios": ratios,
                       "runs": results, "wall_seconds": round(time.perf_counter() - started, 1)},
                      f, indent=1, sort_keys=True)
            f.write("\n")
        print("results: %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
