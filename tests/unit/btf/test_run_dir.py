# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's private directory on its own (no BTF): files kept for later
tasks of the run come back only while they stay private; atomic writes
leave no temporary file; the directory is made 0700 and purges other runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import run_dir as R
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


def test_keep_then_kept(tmp_path):
    run = R.RunDir(str(tmp_path / "runs"), "run-1")
    path = run.keep_file("obj.o", b"\x7fELF data")
    assert path == os.path.join(str(tmp_path / "runs"), "run-1", "obj.o") == os.path.join(run.path, "obj.o")
    assert stat.S_IMODE(os.stat(run.path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert R.RunDir(str(tmp_path / "runs"), "run-1").kept_file("obj.o") == (path, b"\x7fELF data")
    assert run.kept_file("other.o") is None
    assert os.listdir(run.path) == ["obj.o"]
    assert run.warnings == []


def test_kept_file_not_private_is_removed(tmp_path):
    run = R.RunDir(str(tmp_path / "runs"), "run-1")
    path = run.keep_file("obj.o", b"x")
    os.chmod(path, 0o644)
    assert run.kept_file("obj.o") is None
    assert not os.path.lexists(path)


@pytest.mark.parametrize("planted, reason", [("symlink", "is a symbolic link"), ("fifo", "not a regular file")])
def test_open_private_refuses(tmp_path, planted, reason):
    victim = tmp_path / "victim"
    victim.write_bytes(b"v")
    os.chmod(str(victim), 0o600)
    if planted == "symlink":
        os.symlink(str(victim), str(tmp_path / "f"))
    else:
        os.mkfifo(str(tmp_path / "f"), 0o600)
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        with pytest.raises(R.NotPrivate, match=reason):
            R.open_private(fd, "f")
        assert R.open_private(fd, "missing") is None
    finally:
        os.close(fd)


def test_write_atomic_replaces_a_symlink_and_leaves_no_temporary(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.symlink(str(victim), str(tmp_path / "f"))
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        R.write_atomic(fd, "f", b"new")
    finally:
        os.close(fd)
    assert stat.S_ISREG(os.lstat(str(tmp_path / "f")).st_mode)
    assert (tmp_path / "f").read_bytes() == b"new" and victim.read_bytes() == b"keep"
    assert sorted(os.listdir(str(tmp_path))) == ["f", "victim"]


def test_first_open_purges_other_runs(tmp_path):
    base = tmp_path / "runs"
    (base / "old-run").mkdir(parents=True)
    run = R.RunDir(str(base), "new-run")
    os.close(run.open())
    assert os.listdir(str(base)) == ["new-run"]
    (base / "concurrent").mkdir()
    os.close(run.open())
    assert sorted(os.listdir(str(base))) == ["concurrent", "new-run"]


def test_unusable_directory_is_a_warning_for_keep(tmp_path):
    parent = tmp_path / "file"
    parent.write_bytes(b"x")
    run = R.RunDir(str(parent / "runs"), "run-1")
    assert run.keep_file("obj.o", b"x") is None
    assert len(run.warnings) == 1 and "cannot keep obj.o" in run.warnings[0]
    with pytest.raises(R.Unusable):
        run.open()


def test_defaults_and_malformed_run_ids():
    assert R.RunDir(None, "r1").path == os.path.join(R.DEFAULT_DIRECTORY, "r1")
    with pytest.raises(LoaderError, match="run id"):
        R.RunDir(None, "../etc")
    with pytest.raises(LoaderError, match="malformed"):
        R.remove_run(None, "a/b")
