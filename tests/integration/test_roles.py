# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bpf_host and bpf_deploy roles on this host, inside a private mount
namespace that looks like a fresh machine: no bpffs mounted and no kernel
BTF in /sys/kernel/btf (the BTF-shipping path). A second run changes
nothing and stacks no second bpffs."""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from playbook_runner import BIN, ansible_env

ROLE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    bpf_host_btf_dir: %(btf_dir)s
    bpf_host_btf_dest: %(btf_dest)s
    bpf_host_pyroute2: skip
    bpf_deploy_collections:
      - name: core
        src: %(core)s
  roles:
    - ebpf.deploy.bpf_host
    - ebpf.deploy.bpf_deploy
  post_tasks:
    - name: Keep what the run saw
      ansible.builtin.copy:
        content: "{{ {'btf_path': bpf_host_btf_path, 'host': ansible_facts.bpf.host,
                      'memlock': bpf_deploy_memlock} | to_json }}"
        dest: %(out)s
        mode: "0600"
      changed_when: false  # the test's own record, not host state
"""

MOUNTS = """
import sys
print(sum(1 for line in open('/proc/self/mounts') if line.split()[1:3] == ['/sys/fs/bpf', 'bpf']))
"""


def in_fresh_namespace(tmp_path, script):
    """Run ``script`` (sh) in a private mount namespace without bpffs and
    without kernel BTF; returns the CompletedProcess."""
    prelude = ("set -e; umount /sys/fs/bpf 2>/dev/null || true; "
               "mount -t tmpfs -o size=1m none /sys/kernel/btf; ")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", prelude + script],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600, cwd=str(tmp_path), check=False)


@pytest.fixture
def play(tmp_path, bpf_build):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is missing")
    btf_dir = tmp_path / "btf"
    btf_dir.mkdir()
    paths = {"btf_dir": str(btf_dir), "btf_dest": str(tmp_path / "host-btf"),
             "core": bpf_build.path("core_kinds.o"), "out": str(tmp_path / "out.json")}
    (tmp_path / "play.yml").write_text(ROLE_PLAY % dict((k, json.dumps(v)) for k, v in paths.items()))
    return paths


def playbook(*extra):
    return " ".join([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "play.yml"] + list(extra))


def test_fresh_host_gets_bpffs_and_shipped_btf_and_reruns_clean(tmp_path, play):
    release = os.uname().release
    shutil.copyfile("/sys/kernel/btf/vmlinux", os.path.join(play["btf_dir"], release + ".btf"))
    py = os.path.join(BIN, "python")
    proc = in_fresh_namespace(tmp_path, "%s -c \"%s\" > mounts0; %s > run1.log; cp out.json out1.json; "
                                        "%s > run2.log; %s -c \"%s\" > mounts2"
                              % (py, MOUNTS, playbook(), playbook(), py, MOUNTS))
    logs = "".join((tmp_path / n).read_text() for n in ("run1.log", "run2.log") if (tmp_path / n).exists())
    assert proc.returncode == 0, proc.stdout + logs
    first = json.loads((tmp_path / "out1.json").read_text())
    assert (tmp_path / "mounts0").read_text().strip() == "0"      # a fresh host: no bpffs
    assert (tmp_path / "mounts2").read_text().strip() == "1"      # mounted once, not stacked by run 2
    assert first["host"]["btf"]["vmlinux"] is False
    assert first["btf_path"] == os.path.join(play["btf_dest"], release + ".btf")
    assert first["memlock"][0]["collection"] == "core" and first["memlock"][0]["after"] > 0
    run1 = (tmp_path / "run1.log").read_text()
    run2 = (tmp_path / "run2.log").read_text()
    assert "changed=0" not in run1.split("PLAY RECAP")[1]
    assert "changed=0" in run2.split("PLAY RECAP")[1] and "failed=0" in run2.split("PLAY RECAP")[1], run2


def test_missing_btf_fails_naming_host_kernel_and_file(tmp_path, play):
    proc = in_fresh_namespace(tmp_path, "%s" % playbook())
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    release = os.uname().release
    assert "No kernel BTF for localhost" in text, proc.stdout
    assert "%s/%s.btf" % (play["btf_dir"], release) in text
    assert "Hosts of this play missing BTF: localhost (kernel %s)" % release in text


def test_sysctls_set_only_when_different(tmp_path):
    path = "/proc/sys/kernel/bpf_stats_enabled"
    conf = "/etc/sysctl.d/60-ebpf-deploy.conf"
    conf_existed = os.path.exists(conf)
    original = open(path).read().strip()
    want = "0" if original == "1" else "1"
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", "bpf_host_pyroute2": "skip",
                      "bpf_host_sysctls": {"bpf_stats_enabled": int(want)}},
             "tasks": [{"ansible.builtin.include_role": {"name": "ebpf.deploy.bpf_host"}}]}]
    (tmp_path / "sysctl.yml").write_text(yaml.safe_dump(play))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(tmp_path / "sysctl.yml")]
    try:
        first = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=300, check=False)
        assert first.returncode == 0, first.stdout
        assert open(path).read().strip() == want
        second = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=300, check=False)
        assert "changed=0" in second.stdout.split("PLAY RECAP")[1], second.stdout
        play[0]["vars"]["bpf_host_sysctls_persist"] = True
        (tmp_path / "sysctl.yml").write_text(yaml.safe_dump(play))
        persisted = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, timeout=300, check=False)
        assert persisted.returncode == 0, persisted.stdout
        with open(conf) as f:
            assert "kernel.bpf_stats_enabled = %s" % want in f.read()
        del play[0]["vars"]["bpf_host_sysctls_persist"]
        play[0]["vars"]["bpf_host_sysctls"] = {"bpf_stats": 1}
        (tmp_path / "sysctl.yml").write_text(yaml.safe_dump(play))
        bad = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=300, check=False)
        assert bad.returncode != 0 and "unknown sysctl 'bpf_stats'" in bad.stdout
    finally:
        with open(path, "w") as f:
            f.write(original)
        if not conf_existed and os.path.exists(conf):
            os.unlink(conf)


def test_pyroute2_installed_with_pip_where_missing(tmp_path):
    """A Python without pyroute2 that is not the system's (a venv): the
    role installs it with that Python's pip, once."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import pyroute2"], check=False,
                          stderr=subprocess.DEVNULL).returncode != 0
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": python},
             "tasks": [{"ansible.builtin.include_role": {"name": "ebpf.deploy.bpf_host"}}]}]
    (tmp_path / "pyroute2.yml").write_text(yaml.safe_dump(play))
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(tmp_path / "pyroute2.yml")]
    first = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=600, check=False)
    assert first.returncode == 0, first.stdout
    assert "Install pyroute2 with pip" in first.stdout
    subprocess.run([python, "-c", "import pyroute2"], check=True)
    second = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=600, check=False)
    assert "changed=0" in second.stdout.split("PLAY RECAP")[1], second.stdout
