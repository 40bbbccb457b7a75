# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a relative src is found on the controller: the user's places
first (inventory directory, working directory, the user's playbook
directory), then Ansible's own search; a miss lists every place."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleError

from ansible_collections.ebpf.deploy.plugins.plugin_utils import src_path


def no_needle(name):
    raise AnsibleError("Could not find or access '%s'" % name)


def test_inventory_directory_first(tmp_path, monkeypatch):
    inv, play, cwd = (tmp_path / d for d in ("inv", "play", "cwd"))
    for d in (inv, play, cwd):
        (d / "files").mkdir(parents=True)
        (d / "files" / "x.o").write_bytes(b"x")
    monkeypatch.chdir(str(cwd))
    found = src_path.find_src("files/x.o", {"inventory_dir": str(inv), "playbook_dir": str(play)}, no_needle)
    assert found == os.path.join(os.path.realpath(str(inv)), "files", "x.o")
    os.unlink(found)
    assert src_path.find_src("files/x.o", {"inventory_dir": str(inv), "playbook_dir": str(play)},
                             no_needle).startswith(os.path.realpath(str(cwd)))


def test_the_collections_own_playbook_directory_is_not_the_users(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    collection_playbooks = os.path.join(src_path._COLLECTION_ROOT, "playbooks")
    assert src_path.user_places({"playbook_dir": collection_playbooks}) == [os.path.realpath(str(tmp_path))]


def test_a_miss_lists_the_users_places_first(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(AnsibleError) as e:
        src_path.find_src("files/none.o", {"inventory_dir": "/srv/inv"}, no_needle)
    message = str(e.value)
    assert message.startswith("src 'files/none.o': not found on the controller; searched /srv/inv/files/none.o, "
                              "%s/files/none.o, then Ansible's own search" % os.path.realpath(str(tmp_path)))
    assert "Could not find or access 'files/none.o'" in message


def test_absolute_src_must_exist(tmp_path):
    with pytest.raises(AnsibleError, match="no such file on the controller"):
        src_path.find_src(str(tmp_path / "nope.o"), {}, no_needle)
