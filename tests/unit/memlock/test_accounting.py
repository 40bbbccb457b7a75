# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Accounting modes and the RLIMIT_MEMLOCK shortfall message (kernels < 5.11)."""

from __future__ import absolute_import, division, print_function

import os
import resource

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import accounting_mode, memlock_shortfall
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.estimate import estimate_spec
from unit.committed import FIXTURES


@pytest.mark.parametrize("release, mode", [("4.19.0-27-amd64", "rlimit"), ("5.10.0-30-amd64", "rlimit"),
                                           ("5.11.0", "memcg-approximate"), ("6.1.0-47-amd64", "memcg-approximate"),
                                           ("6.3.13", "memcg-approximate"), ("6.4.0", "memcg-exact"),
                                           ("6.18.44-fc", "memcg-exact")])
def test_accounting_mode(release, mode):
    assert accounting_mode(release) == mode


@pytest.fixture
def low_memlock():
    old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, old[1]))
    yield 65536
    resource.setrlimit(resource.RLIMIT_MEMLOCK, old)


def test_shortfall_names_the_needed_figure_on_rlimit_kernels(low_memlock):
    spec = read_object(os.path.join(FIXTURES, "maps.o"))
    maps, progs = estimate_spec(spec, release="5.10.0")
    needed = sum(maps.values()) + sum(progs.values())
    assert needed > low_memlock
    err = memlock_shortfall(spec, "map 'hash_prealloc': create: EPERM (Operation not permitted)",
                            release="5.10.0")
    text = str(err)
    assert "map 'hash_prealloc'" in text and "RLIMIT_MEMLOCK, which is 65536 bytes" in text
    assert "needs about %d bytes" % needed in text and "hash_prealloc" in text.split("largest:")[1]
    assert "at least %d bytes" % needed in err.hint and "bpf_host_memlock" in err.hint


def test_no_shortfall_where_memory_is_not_charged_to_the_limit(low_memlock):
    spec = read_object(os.path.join(FIXTURES, "maps.o"))
    assert memlock_shortfall(spec, "x", release="5.11.0") is None
    assert memlock_shortfall(spec, "x", release="6.18.0") is None


def test_unlimited_limit_means_eperm_is_about_privileges(monkeypatch):
    # This sandbox cannot raise the hard limit (no CAP_SYS_RESOURCE): read it as unlimited.
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock import accounting as memlock
    monkeypatch.setattr(memlock, "rlimit_memlock", lambda: "unlimited")
    spec = read_object(os.path.join(FIXTURES, "maps.o"))
    assert memlock_shortfall(spec, "x", release="5.10.0") is None
