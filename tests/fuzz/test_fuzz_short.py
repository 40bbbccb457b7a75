# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A short, fixed-seed run of the parser fuzzer (tests/fuzz/harness.py):
a few thousand inputs over every target (ELF object pipeline, BTF, BTF.ext,
CO-RE relocation, kernel-BTF cache index), about a minute at most, must
find nothing; and every reproducer saved in tests/fuzz/regressions/ must
no longer reproduce. The long run is bench/fuzz_long.sh.

A failure names the finding (file:function:exception), the input index and
the seed: ``python3 tests/fuzz/harness.py --seed SEED --case INDEX --out DIR``
writes that input's files for a look."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_harness():
    name = "ebpf_deploy_fuzz_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "harness.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

SEED = 20250101
INPUTS = 12000
MAX_SECONDS = 55


def _describe(findings):
    return "\n".join("%s [%s] x%d, first input #%d (seed %d): %s\n%s" % (
        f["kind"], f["key"], f["count"], f["index"], SEED, f["message"], f.get("traceback", ""))
        for f in findings)


def test_short_fuzz_run_finds_nothing(bpf_build, tmp_path):
    if not bpf_build.objects():
        pytest.skip("no test objects in tests/bpf/build")
    opts = {
        "inputs": INPUTS, "seconds": MAX_SECONDS, "seed": SEED, "workers": 2, "targets": harness.TARGETS,
        "time_limit": 2.0, "mem_mb": 512, "min_budget": 5.0, "out": str(tmp_path), "extra_btf": [],
        "extra_objects": [], "report_every": 3600,
    }
    summary = harness.fuzz(opts, log=lambda *args: None)
    assert summary["inputs"] >= 1000, summary
    assert set(summary["per_target"]) == set(harness.TARGETS), summary["per_target"]
    assert not summary["failing"], _describe(summary["failing"])


REPRODUCERS = sorted(glob.glob(os.path.join(harness.REGRESSIONS, "*.json")))


@pytest.mark.skipif(not REPRODUCERS, reason="no saved reproducers in tests/fuzz/regressions/")
@pytest.mark.parametrize("path", REPRODUCERS, ids=[os.path.basename(p)[:-5] for p in REPRODUCERS])
def test_saved_reproducer_no_longer_reproduces(path):
    finding = harness.replay(path)
    assert finding is None, "%s: still %s [%s]: %s\n%s" % (
        os.path.relpath(path, HERE), finding.kind, finding.key, finding.message, finding.tb)
