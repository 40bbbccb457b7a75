# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each module's DOCUMENTATION (literal YAML) lists the same choices, in the
same order, as the argument spec the library builds (kernel names such as
XDP modes and tc directions come from the library, never typed twice)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

import pytest
import yaml

MODULES = ["bpf_collection", "bpf_link", "bpf_map", "bpf_facts", "bpf_health"]


@pytest.mark.parametrize("name", MODULES)
def test_documented_choices_match_argument_spec(name):
    module = importlib.import_module("ansible_collections.ebpf.deploy.plugins.modules." + name)
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    checked = 0
    for option, spec in module.ARGUMENT_SPEC.items():
        if "choices" not in spec:
            continue
        assert documented[option].get("choices") == list(spec["choices"]), option
        checked += 1
    for option, doc in documented.items():
        if "choices" in doc:
            assert list(module.ARGUMENT_SPEC[option].get("choices", ())) == doc["choices"], option
    assert checked or name in ("bpf_facts", "bpf_health")
