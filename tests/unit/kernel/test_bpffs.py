# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make_dirs when another collection's run creates the same directory."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import bpffs as pins


REAL_MKDIR = os.mkdir


def racing_mkdir(make):
    def mkdir(path, mode=0o777):
        make(path)                 # the other run wins the race
        REAL_MKDIR(path, mode)     # and ours finds it there: EEXIST
    return mkdir


def test_directory_made_by_a_concurrent_run_is_fine(tmp_path, monkeypatch):
    target = str(tmp_path / "root" / "collections")
    monkeypatch.setattr(pins.os, "mkdir", racing_mkdir(REAL_MKDIR))
    assert pins.make_dirs(target) == []
    assert os.path.isdir(target)


def test_something_else_in_the_way_is_an_error(tmp_path, monkeypatch):
    target = str(tmp_path / "root")
    monkeypatch.setattr(pins.os, "mkdir", racing_mkdir(lambda p: os.symlink("/", p)))
    with pytest.raises(LoaderError, match="something else is there"):
        pins.make_dirs(target)
