# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects shipped from the controller: digest checked, kept privately for the run."""

from __future__ import absolute_import, division, print_function

import hashlib
import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shipped import shipped_object
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


def received(tmp_path, data=b"\x7fELF object"):
    path = tmp_path / "incoming.o"
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest()


def test_kept_then_found_by_digest(tmp_path):
    path, sha = received(tmp_path)
    cache = str(tmp_path / "cache")
    first = shipped_object("files/counter.o", sha, "run-1", received=path, directory=cache)
    assert first.kept and first.path.endswith("-counter.o") and first.path.startswith(cache)
    assert os.stat(first.path).st_mode & 0o777 == 0o600
    later = shipped_object("files/counter.o", sha, "run-1", directory=cache)
    assert later.path == first.path and later.kept
    assert shipped_object("files/counter.o", sha, "run-2", directory=cache).path is None


def test_damaged_transfer_is_refused(tmp_path):
    path, sha = received(tmp_path)
    with open(path, "ab") as f:
        f.write(b"!")
    with pytest.raises(LoaderError, match="arrived damaged"):
        shipped_object("counter.o", sha, "run-1", received=path, directory=str(tmp_path / "cache"))


def test_kept_copy_that_changed_or_is_a_symlink_is_not_used(tmp_path):
    path, sha = received(tmp_path)
    cache = str(tmp_path / "cache")
    kept = shipped_object("counter.o", sha, "run-1", received=path, directory=cache).path
    with open(kept, "ab") as f:
        f.write(b"tampered")
    assert shipped_object("counter.o", sha, "run-1", directory=cache).path is None
    os.unlink(kept) if os.path.exists(kept) else None
    os.symlink(path, kept)
    assert shipped_object("counter.o", sha, "run-1", directory=cache).path is None
    assert not os.path.lexists(kept)  # removed, never followed


def test_unusable_directory_degrades_with_a_warning(tmp_path):
    path, sha = received(tmp_path)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the directory should be")
    got = shipped_object("counter.o", sha, "run-1", received=path, directory=str(blocker))
    assert got.path == path and not got.kept and "cannot keep" in got.warnings[0]


def test_malformed_digest(tmp_path):
    with pytest.raises(LoaderError, match="64 lower-case hex"):
        shipped_object("counter.o", "../etc", "run-1", directory=str(tmp_path))
