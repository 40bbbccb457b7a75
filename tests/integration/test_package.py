# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tarball `ansible-galaxy collection build` makes of this tree: its
MANIFEST.json says what galaxy.yml says, its FILES.json lists exactly what
the tarball holds with the right checksums, every module, plugin and role is
in it, and nothing built by tests or tools (objects, caches, .pyc, venvs,
reports, the docs site) is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What must never ship: build output, caches, local state (committed test
# inputs such as tests/unit/fixtures/*.o do ship: they are git's).
NOT_SHIPPED = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.venv|\.cache|build|results|memlock-report)(/|$)|"
                         r"\.pyc$|^changelogs/\.plugin-cache\.yaml$")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    galaxy = shutil.which("ansible-galaxy")
    if galaxy is None:
        pytest.skip("ansible-galaxy is not on PATH (./dev setup)")
    out = str(tmp_path_factory.mktemp("package"))
    subprocess.run([galaxy, "collection", "build", "--force", "--output-path", out, TOP], check=True,
                   stdout=subprocess.PIPE)
    (path,) = glob.glob(os.path.join(out, "*.tar.gz"))
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        dirs = {m.name for m in tar.getmembers() if m.isdir()}
    return members, dirs


def test_manifest_says_what_galaxy_yml_says(tarball):
    members, _dirs = tarball
    with open(os.path.join(TOP, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)
    info = json.loads(members["MANIFEST.json"])["collection_info"]
    for key in ("namespace", "name", "version", "license", "authors", "description", "tags"):
        assert info[key] == galaxy[key], key
    for key in ("repository", "documentation", "issues", "homepage"):
        assert info.get(key) == galaxy.get(key), key
        assert "example." not in (info.get(key) or ""), "%s is a made-up address" % key


def test_files_json_lists_exactly_the_tarball(tarball):
    members, dirs = tarball
    listed = json.loads(members["FILES.json"])["files"]
    files = {e["name"]: e for e in listed if e["ftype"] == "file"}
    assert set(files) == set(members) - {"MANIFEST.json", "FILES.json"}
    for name, entry in files.items():
        assert hashlib.sha256(members[name]).hexdigest() == entry["chksum_sha256"], name
    assert {e["name"] for e in listed if e["ftype"] == "dir"} - {"."} <= dirs


def test_every_plugin_and_role_ships_and_nothing_built_does(tarball):
    members, _dirs = tarball
    tracked = subprocess.run(["git", "ls-files", "plugins", "roles", "playbooks", "meta"], cwd=TOP, check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    missing = [path for path in tracked if path not in members]
    assert not missing, "tracked files not in the tarball: %s" % missing
    for needed in ("meta/runtime.yml", "README.md", "CHANGELOG.rst", "changelogs/changelog.yaml"):
        assert needed in members, needed
    ours = set(subprocess.run(["git", "ls-files"], cwd=TOP, check=True, stdout=subprocess.PIPE,
                              universal_newlines=True).stdout.split()) | {"MANIFEST.json", "FILES.json"}
    shipped_junk = sorted(name for name in members if NOT_SHIPPED.search(name) or name not in ours)
    assert not shipped_junk, "built or cached files in the tarball: %s" % shipped_junk[:20]
