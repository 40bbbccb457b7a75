# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check mode predicts what a deploy will lock before anything is created:
checked against what the kernel (6.4+: exact per map type) then reports."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import kernel_version


@pytest.mark.parametrize("obj, kw", [
    ("maps", {}),
    ("maps", {"prealloc": False}),
    ("config_maps", {}),
    ("globals", {}),
])
def test_check_mode_predicts_the_kernels_figures(bpf_build, pin_dir, obj, kw):
    path = bpf_build.path(obj)
    check = converge(Desired("p", pin_dir, path=path, **kw), check_mode=True)
    assert check["changed"] and not os.path.exists(pin_dir)   # nothing created
    predicted = check["bpf_memlock"]
    assert predicted["predicted"] and predicted["after"] > 0 and predicted["delta"] == predicted["after"]
    real = converge(Desired("p", pin_dir, path=path, **kw))["bpf_memlock"]
    try:
        if kernel_version() >= (6, 4):
            # Maps: exact on 6.4+. Programs: the loaded size before the
            # verifier's rewrites, so a page either way.
            for name, figures in real["maps"].items():
                assert predicted["maps"][name]["after"] == figures["after"], (name, predicted["maps"][name], figures)
            for name, figures in real["programs"].items():
                assert abs(predicted["programs"][name]["after"] - figures["after"]) <= 4096, name
        assert "predicted" not in real
    finally:
        converge(Desired("p", pin_dir, state="absent"))


def test_check_mode_of_a_resize_predicts_the_new_size(bpf_build, pin_dir):
    path = bpf_build.path("maps")
    converge(Desired("p", pin_dir, path=path))
    try:
        check = converge(Desired("p", pin_dir, path=path, maps={"hash_prealloc": {"max_entries": 65536}}),
                         check_mode=True)["bpf_memlock"]
        real = converge(Desired("p", pin_dir, path=path, maps={"hash_prealloc": {"max_entries": 65536}}))
        figures = real["bpf_memlock"]["maps"]["hash_prealloc"]
        assert check["maps"]["hash_prealloc"]["after"] == figures["after"] > figures["before"]
        assert check["maps"]["hash_prealloc"]["before"] == figures["before"]
    finally:
        converge(Desired("p", pin_dir, state="absent"))
