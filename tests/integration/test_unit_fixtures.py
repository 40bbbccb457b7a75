# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compiled objects committed in tests/unit/fixtures/ (so that unit tests need no clang) still
declare what their sources in tests/bpf/ declare: the same maps and programs as a fresh build.
Refresh them with ``make -C tests/bpf fixtures``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from unit.committed import FIXTURES


def declared(path):
    spec = read_object(path)
    maps = dict((m.name, (m.type, m.key_size, m.value_size, m.max_entries, m.flags)) for m in spec.maps.values())
    progs = dict((p.name, (p.section, p.kind)) for p in spec.programs.values())
    return maps, progs, spec.license


@pytest.mark.parametrize("name", sorted(os.listdir(FIXTURES)))
def test_fixture_matches_its_source(bpf_build, name):
    assert declared(os.path.join(FIXTURES, name)) == declared(bpf_build.path(name)), (
        "tests/unit/fixtures/%s is out of date: make -C tests/bpf fixtures" % name)
