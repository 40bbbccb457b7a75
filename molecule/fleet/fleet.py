#!/usr/bin/env python
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated fleet on this machine: N hosts, each its own network and
mount namespace, reached over SSH.

    fleet.py create [--hosts N]   destroy what is left of an earlier fleet, then build N hosts
    fleet.py destroy              remove every host: sshd and its sessions, namespaces, veths, state
    fleet.py status               one line per host; exit 1 when a host is not usable
    fleet.py --list               the fleet as an Ansible dynamic inventory (empty when there is none)

Each host ``<prefix>-hNN`` is
- a network namespace with one veth pair to the root namespace, its own
  /30 (root side .1, host side .2, in FLEET_NET), the host end named eth0;
- a mount namespace (``ip netns exec`` unshares one and mounts a fresh
  sysfs) with its own bpffs on /sys/fs/bpf, its own tmpfs on /run and
  /tmp, cgroup2 and tracefs; one host (FLEET_NO_BTF) also has an empty
  read-only tmpfs over /sys/kernel/btf, so it has no kernel BTF;
- an sshd listening on the host's address only, with host keys generated
  for this run and root login with one generated client key.
The mount namespace lives as long as the host's sshd and its sessions:
destroy kills every process in the host's network namespace, which frees
the namespace, its bpffs and everything pinned in it.

Settings (environment, or options of ``create``):
    FLEET_HOSTS    number of hosts (default 4)
    FLEET_PREFIX   name prefix of namespaces, veths and inventory hosts (default "fleet")
    FLEET_NET      address pool, carved into /30s (default 10.77.0.0/16)
    FLEET_NO_BTF   1-based index of the host without kernel BTF; "last" (default) or "none"
    FLEET_RUN_DIR  state (keys, configs, pid files, logs, inventory); default
                   $MOLECULE_EPHEMERAL_DIRECTORY/fleet under molecule, else /var/tmp/ebpf-deploy-<prefix>
                   (not under /tmp or /run: the hosts' sshd reads it, and they have their own)
Python 3 standard library only; run as root.
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
HOST_INTERFACE = "eth0"
PYTHON = "/usr/bin/python3"  # the managed hosts' interpreter: the machine's python3
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]


def log(msg):
    sys.stderr.write("fleet: %s\n" % msg)
    sys.stderr.flush()


def run(cmd, check=True, **kwargs):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()))
    return proc


def settings(args=None):
    env = os.environ
    prefix = getattr(args, "prefix", None) or env.get("FLEET_PREFIX", "fleet")
    if not re.match(r"^[a-z][a-z0-9]{0,9}$", prefix):
        raise SystemExit("fleet: prefix %r: want 1-10 lower-case letters and digits, starting with a letter" % prefix)
    run_dir = getattr(args, "run_dir", None) or env.get("FLEET_RUN_DIR")
    if not run_dir:
        if env.get("MOLECULE_EPHEMERAL_DIRECTORY"):
            run_dir = os.path.join(env["MOLECULE_EPHEMERAL_DIRECTORY"], "fleet")
        else:
            run_dir = "/var/tmp/ebpf-deploy-%s" % prefix
    run_dir = os.path.abspath(run_dir)
    for private in ("/tmp", "/run"):
        if run_dir == private or run_dir.startswith(private + "/"):
            raise SystemExit("fleet: run directory %s: not under %s, which every host mounts its own of"
                             % (run_dir, private))
    return prefix, run_dir


def host_name(prefix, index):
    return "%s-h%02d" % (prefix, index)


def plan(prefix, run_dir, count, net, no_btf):
    pool = ipaddress.ip_network(net)
    if pool.version != 4 or pool.prefixlen > 28:
        raise SystemExit("fleet: FLEET_NET %s: want an IPv4 network of /28 or larger" % net)
    if not 1 <= count <= 999:
        raise SystemExit("fleet: %d hosts: want 1 to 999" % count)
    if (count + 1) * 4 > pool.num_addresses:
        raise SystemExit("fleet: %s holds %d hosts, not %d" % (net, pool.num_addresses // 4 - 1, count))
    if no_btf == "last":
        no_btf_index = count
    elif no_btf == "none":
        no_btf_index = 0
    else:
        no_btf_index = int(no_btf)
        if not 0 <= no_btf_index <= count:
            raise SystemExit("fleet: FLEET_NO_BTF %s: want 1..%d, last or none" % (no_btf, count))
    hosts = []
    for index in range(1, count + 1):
        base = pool.network_address + 4 * index  # block 0 stays unused
        name = host_name(prefix, index)
        hosts.append({
            "name": name,
            "index": index,
            "netns": name,
            "veth": name,
            "interface": HOST_INTERFACE,
            "root_address": str(base + 1),
            "address": str(base + 2),
            "kernel_btf": index != no_btf_index,
            "dir": os.path.join(run_dir, "hosts", name),
        })
    return {"prefix": prefix, "run_dir": run_dir, "net": str(pool), "key": os.path.join(run_dir, "id_ed25519"),
            "hosts": hosts}


def state_path(run_dir):
    return os.path.join(run_dir, "state.json")


def load_state(run_dir):
    try:
        with open(state_path(run_dir)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)


SSHD_CONFIG = """\
# sshd of simulated host {name} (generated by molecule/fleet/fleet.py)
ListenAddress {address}:22
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp {sftp}
"""

# Runs inside the host's new mount namespace (ip netns exec made it, with
# a fresh sysfs on /sys, and made every mount a slave: nothing propagates
# back to the root namespace), then becomes the host's sshd.
BOOT = """\
set -e
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/sshd
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
if [ "$FLEET_NO_BTF" = 1 ]; then mount -t tmpfs -o ro,mode=0555 tmpfs /sys/kernel/btf; fi
exec "$@"
"""


def ip(*args, check=True):
    return run(["ip"] + list(args), check=check)


def start_host(state, host):
    os.makedirs(host["dir"], exist_ok=True)
    ip("netns", "add", host["netns"])
    ip("link", "add", host["veth"], "type", "veth", "peer", "name", host["interface"], "netns", host["netns"])
    ip("addr", "add", host["root_address"] + "/30", "dev", host["veth"])
    ip("link", "set", host["veth"], "up")
    ip("-n", host["netns"], "link", "set", "lo", "up")
    ip("-n", host["netns"], "addr", "add", host["address"] + "/30", "dev", host["interface"])
    ip("-n", host["netns"], "link", "set", host["interface"], "up")
    key = os.path.join(host["dir"], "ssh_host_ed25519_key")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host["name"], "-f", key])
    config = os.path.join(host["dir"], "sshd_config")
    with open(config, "w") as f:
        f.write(SSHD_CONFIG.format(name=host["name"], address=host["address"], dir=host["dir"],
                                   authorized_keys=os.path.join(state["run_dir"], "authorized_keys"),
                                   sftp=SFTP_SERVER))
    env = dict(os.environ, FLEET_NO_BTF="0" if host["kernel_btf"] else "1")
    # sshd daemonizes (its pid goes to PidFile); -E keeps its log in the host's directory.
    run(["ip", "netns", "exec", host["netns"], "/bin/sh", "-c", BOOT, "fleet-boot",
         SSHD, "-f", config, "-E", os.path.join(host["dir"], "sshd.log")],
        env=env, stdin=subprocess.DEVNULL)


def wait_listening(address, deadline):
    while True:
        try:
            socket.create_connection((address, 22), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("sshd on %s does not answer" % address)
            time.sleep(0.05)


def ssh(state, host, command, timeout=30):
    return run(["ssh", "-i", state["key"], "-o", "ConnectTimeout=10"] + SSH_OPTIONS
               + ["root@" + host["address"], command], check=False, timeout=timeout)


# What each host must look like from inside, over ssh.
PROBE = ("stat -f -c %T /sys/fs/bpf; stat -c %d /sys/fs/bpf; "
         "if [ -e /sys/kernel/btf/vmlinux ]; then echo btf; else echo no-btf; fi; "
         "readlink /proc/self/ns/net /proc/self/ns/mnt; ip -o -4 addr show dev " + HOST_INTERFACE)


def probe(state, host):
    """Log in over ssh and check the host is what it claims: its own bpffs,
    kernel BTF or not, its own namespaces and address. Returns problems."""
    proc = ssh(state, host, PROBE)
    if proc.returncode != 0:
        return ["ssh root@%s failed: %s" % (host["address"], proc.stderr.strip())], None
    lines = proc.stdout.splitlines()
    problems = []
    if len(lines) < 6:
        return ["unexpected probe output: %r" % proc.stdout], None
    fstype, dev, btf, netns, mntns, addr = lines[:6]
    if fstype != "bpf_fs":
        problems.append("/sys/fs/bpf is %s, not bpffs" % fstype)
    if (btf == "btf") != host["kernel_btf"]:
        problems.append("kernel BTF %s, want %s" % (btf, "btf" if host["kernel_btf"] else "no-btf"))
    if host["address"] + "/30" not in addr:
        problems.append("%s has no %s" % (HOST_INTERFACE, host["address"]))
    return problems, {"bpffs_dev": dev, "netns": netns, "mntns": mntns}


def check_fleet(state):
    """Probe every host in parallel; the root namespace's views must differ
    from every host's and the hosts' from each other's."""
    results = {}

    def one(host):
        try:
            results[host["name"]] = probe(state, host)
        except Exception as e:  # noqa: BLE001 - reported per host
            results[host["name"]] = (["probe failed: %s" % e], None)

    threads = [threading.Thread(target=one, args=(h,)) for h in state["hosts"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    root = {"bpffs_dev": str(os.stat("/sys/fs/bpf").st_dev) if os.path.ismount("/sys/fs/bpf") else None,
            "netns": os.readlink("/proc/self/ns/net"), "mntns": os.readlink("/proc/self/ns/mnt")}
    seen = {k: {v: "root namespace"} for k, v in root.items() if v}
    problems = {}
    for host in state["hosts"]:
        host_problems, ids = results[host["name"]]
        if ids:
            for k, v in ids.items():
                other = seen[k].get(v) if k in seen else None
                if other:
                    host_problems.append("%s %s is also %s's" % (k, v, other))
                seen.setdefault(k, {})[v] = host["name"]
        if host_problems:
            problems[host["name"]] = host_problems
    return problems


def create(args):
    prefix, run_dir = settings(args)
    destroy_fleet(prefix, run_dir)
    state = plan(prefix, run_dir, args.hosts, args.net, args.no_btf)
    os.makedirs(os.path.join(run_dir, "hosts"), mode=0o700)
    os.chmod(run_dir, 0o700)
    # The plan goes to disk first: a destroy after a failed create finds every host.
    state["created"] = False
    write_json(state_path(run_dir), state)
    start = time.monotonic()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ebpf-deploy-fleet", "-f", state["key"]])
    shutil.copyfile(state["key"] + ".pub", os.path.join(run_dir, "authorized_keys"))
    for host in state["hosts"]:
        start_host(state, host)
    deadline = time.monotonic() + 20
    for host in state["hosts"]:
        wait_listening(host["address"], deadline)
    problems = check_fleet(state)
    if problems:
        for name, items in sorted(problems.items()):
            log("%s: %s" % (name, "; ".join(items)))
        raise SystemExit("fleet: %d of %d hosts are not usable (state in %s)" % (len(problems), len(state["hosts"]), run_dir))
    state["created"] = True
    write_json(state_path(run_dir), state)
    write_json(os.path.join(run_dir, "inventory.yml"), static_inventory(state))
    log("%d hosts up in %.1f s (%s); inventory: %s" % (
        len(state["hosts"]), time.monotonic() - start,
        ", ".join("%s=%s%s" % (h["name"], h["address"], "" if h["kernel_btf"] else " (no BTF)")
                  for h in state["hosts"]),
        os.path.join(run_dir, "inventory.yml")))
    print(json.dumps({"changed": True, "hosts": [h["name"] for h in state["hosts"]], "run_dir": run_dir}))


def netns_list():
    proc = ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_all(pids):
    """SIGTERM, then SIGKILL after 3 s, the given processes; waits until they are gone."""
    pids = [p for p in pids if p != os.getpid() and alive(p)]
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [p for p in pids if alive(p) and not is_zombie(p)]
            if not pids:
                return
            time.sleep(0.05)
    if pids:
        raise RuntimeError("processes %s do not exit" % pids)


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def destroy_fleet(prefix, run_dir):
    """Remove every host of this prefix, whether the state file knows it
    (a half-done create) or not (a lost run directory). Idempotent."""
    state = load_state(run_dir) or {}
    pattern = re.compile(r"^%s-h\d{2,3}$" % re.escape(prefix))
    names = set(n for n in netns_list() if pattern.match(n))
    names.update(n for n in os.listdir("/sys/class/net") if pattern.match(n))
    dirs = {}
    for host in state.get("hosts", []):
        names.add(host["netns"])
        dirs[host["netns"]] = host["dir"]
    hosts_dir = os.path.join(run_dir, "hosts")
    if os.path.isdir(hosts_dir):
        for n in os.listdir(hosts_dir):
            if pattern.match(n):
                names.add(n)
                dirs.setdefault(n, os.path.join(hosts_dir, n))
    removed = 0
    for name in sorted(names):
        pids = set()
        if name in netns_list():
            out = ip("netns", "pids", name, check=False).stdout.split()
            pids.update(int(p) for p in out if p.isdigit())
        # An sshd whose namespace was deleted already: its pid file, if the
        # process really is this host's sshd (its command line names the config).
        host_dir = dirs.get(name)
        if host_dir:
            try:
                with open(os.path.join(host_dir, "sshd.pid")) as f:
                    pid = int(f.read().strip())
                if os.path.join(host_dir, "sshd_config") in cmdline(pid):
                    pids.add(pid)
            except (OSError, ValueError):
                pass
        kill_all(pids)
        if name in netns_list():
            ip("netns", "del", name)
        if link_exists(name):
            ip("link", "del", name, check=False)
        removed += 1
    if os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    return removed


def destroy(args):
    prefix, run_dir = settings(args)
    removed = destroy_fleet(prefix, run_dir)
    log("removed %d hosts of prefix %s" % (removed, prefix))
    print(json.dumps({"changed": removed > 0, "removed": removed}))


def status(args):
    prefix, run_dir = settings(args)
    state = load_state(run_dir)
    if not state:
        print("no fleet in %s" % run_dir)
        return 1
    problems = check_fleet(state)
    for host in state["hosts"]:
        print("%-12s %-15s %-7s %s" % (host["name"], host["address"], "btf" if host["kernel_btf"] else "no-btf",
                                       "; ".join(problems.get(host["name"], [])) or "ok"))
    return 1 if problems else 0


def inventory(state):
    """The fleet as the JSON of an Ansible dynamic inventory script."""
    if not state or not state.get("hosts"):
        # The groups exist while there are no hosts, so plays on them match nothing quietly.
        return {"_meta": {"hostvars": {}}, "all": {"children": ["fleet"]},
                "fleet": {"hosts": [], "children": ["fleet_btf", "fleet_no_btf"]},
                "fleet_btf": {"hosts": []}, "fleet_no_btf": {"hosts": []}}
    hostvars = {}
    for host in state["hosts"]:
        hostvars[host["name"]] = {
            "ansible_host": host["address"],
            "fleet_index": host["index"],
            "fleet_netns": host["netns"],
            "fleet_interface": host["interface"],
            "fleet_root_address": host["root_address"],
            "fleet_kernel_btf": host["kernel_btf"],
        }
    common = {
        "ansible_user": "root",
        "ansible_port": 22,
        "ansible_ssh_private_key_file": state["key"],
        "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
        "ansible_python_interpreter": PYTHON,
        "ansible_pipelining": True,
        "fleet_run_dir": state["run_dir"],
    }
    names = [h["name"] for h in state["hosts"]]
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["fleet"]},
        "fleet": {"hosts": names, "vars": common, "children": ["fleet_btf", "fleet_no_btf"]},
        "fleet_btf": {"hosts": [h["name"] for h in state["hosts"] if h["kernel_btf"]]},
        "fleet_no_btf": {"hosts": [h["name"] for h in state["hosts"] if not h["kernel_btf"]]},
    }


def static_inventory(state):
    """The same inventory for Ansible's yaml plugin (written as JSON, which is YAML)."""
    dyn = inventory(state)
    hostvars = dyn["_meta"]["hostvars"]
    return {"all": {"children": {"fleet": {
        "hosts": dict((n, hostvars[n]) for n in dyn["fleet"]["hosts"]),
        "vars": dyn["fleet"]["vars"],
        "children": dict((g, {"hosts": dict((n, {}) for n in dyn[g]["hosts"])})
                         for g in ("fleet_btf", "fleet_no_btf")),
    }}}}


def main(argv):
    if argv[:1] == ["--list"]:
        _prefix, run_dir = settings()
        state = load_state(run_dir)
        print(json.dumps(inventory(state if state and state.get("created") else None)))
        return 0
    if argv[:1] == ["--host"]:
        print("{}")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--prefix", help="overrides FLEET_PREFIX")
    parser.add_argument("--run-dir", help="overrides FLEET_RUN_DIR")
    sub = parser.add_subparsers(dest="command")
    sub.required = True
    c = sub.add_parser("create")
    c.add_argument("--hosts", type=int, default=int(os.environ.get("FLEET_HOSTS", "4")))
    c.add_argument("--net", default=os.environ.get("FLEET_NET", "10.77.0.0/16"))
    c.add_argument("--no-btf", default=os.environ.get("FLEET_NO_BTF", "last"))
    sub.add_parser("destroy")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("fleet: run as root (namespaces, mounts, sshd)")
    if args.command == "create":
        try:
            create(args)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            raise SystemExit("fleet: create failed: %s (run 'fleet.py destroy' to clean up)" % e)
        return 0
    if args.command == "destroy":
        destroy(args)
        return 0
    return status(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
