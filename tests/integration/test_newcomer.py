# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""After `./dev setup` (which both README commands run first), a user's own
shell, without ./dev's environment, finds ansible, ansible-playbook and
ansible-doc and the collection, as the README's commands call them."""

from __future__ import absolute_import, division, print_function

import os
import subprocess

import pytest

CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def run(*cmd):
    return subprocess.run(list(cmd), env=CLEAN_ENV, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)


@pytest.fixture(scope="module", autouse=True)
def set_up():
    if not os.path.exists("/usr/local/bin/ansible-doc"):
        pytest.fail("./dev setup did not put ansible-doc on the default PATH (/usr/local/bin)")


@pytest.mark.parametrize("cmd, words", [
    (("ansible-doc", "-t", "role", "ebpf.deploy.bpf_host"), "ROLE: ebpf.deploy.bpf_host"),
    (("ansible-doc", "-t", "role", "ebpf.deploy.bpf_deploy"), "ROLE: ebpf.deploy.bpf_deploy"),
    (("ansible-doc", "ebpf.deploy.bpf_collection"), "MODULE ebpf.deploy.bpf_collection"),
    (("ansible-playbook", "-i", "localhost,", "--syntax-check", "ebpf.deploy.deploy"), "playbooks/deploy.yml"),
    (("ansible", "localhost", "-m", "ebpf.deploy.bpf_facts", "-a", "gather_subset=host"), "SUCCESS"),
])
def test_readme_commands_find_the_collection_from_a_clean_shell(cmd, words):
    proc = run(*cmd)
    text = proc.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")
    assert proc.returncode == 0 and words in text, (cmd, proc.stdout[-2000:])
