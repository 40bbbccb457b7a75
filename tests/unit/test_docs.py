# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc renders every module, the roles' argument specs and the filters' docs."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("kind, name, words", [
    ("role", "ebpf.deploy.bpf_host", ["bpf_host_btf_dir", "bpf_host_memlock", "bpf_host_sysctls"]),
    ("role", "ebpf.deploy.bpf_deploy", ["bpf_deploy_collections", "bpf_deploy_map_preset", "presets"]),
    ("filter", "ebpf.deploy.bpf_deploy_maps", ["preset"]),
    ("filter", "ebpf.deploy.bpf_deploy_links", ["bpf_link"]),
    ("filter", "ebpf.deploy.bpf_deploy_entries", ["bpf_map"]),
    ("filter", "ebpf.deploy.bpf_memlock_report", ["approximate"]),
    ("filter", "ebpf.deploy.bpf_memlock_footprints", ["footprint"]),
] + [("module", "ebpf.deploy." + name[:-3], ["EXAMPLES", "RETURN VALUES"])
     for name in sorted(os.listdir(os.path.join(REPO, "plugins", "modules"))) if name.endswith(".py")])
def test_ansible_doc_renders(kind, name, words):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".venv", "collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind, name], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and "ERROR" not in proc.stdout and "WARNING" not in proc.stdout, proc.stdout
    for word in words:
        assert word in proc.stdout, proc.stdout
