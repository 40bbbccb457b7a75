# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run that changes nothing returns data whose size does not grow with the
collection (the controller processes and stores every result, on every host
and run); ``facts: full`` and a run that changes something return every map
and program."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired

BPF_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bpf")

MAP = """struct {
\t__uint(type, BPF_MAP_TYPE_ARRAY);
\t__uint(max_entries, 64);
\t__type(key, __u32);
\t__type(value, __u64);
} seen_%(i)d SEC(".maps");
"""

PROGRAM = """SEC("socket")
int keep_%(i)d(void *skb)
{
\t__u32 key = %(i)d;
\treturn bpf_map_lookup_elem(&seen_%(i)d, &key) ? 1 : 0;
}
"""


def build(tmp_path, n):
    """An object of ``n`` socket filters, each with its own array map."""
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    src = tmp_path / ("many_%d.c" % n)
    src.write_text('#include "common.h"\n'
                   + "".join(MAP % {"i": i} for i in range(n)) + "".join(PROGRAM % {"i": i} for i in range(n))
                   + 'char LICENSE[] SEC("license") = "GPL";\n')
    obj = tmp_path / ("many_%d.o" % n)
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I", BPF_SRC, "-c", str(src), "-o", str(obj)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return str(obj)


def size(result):
    return len(json.dumps(result, sort_keys=True))


def test_noop_result_does_not_grow_with_the_collection(tmp_path, pin_dir):
    results = {}
    for n in (2, 40):
        path = build(tmp_path, n)
        name = "many%d" % n
        loaded = converge(Desired(name, pin_dir, path=path))
        try:
            noop = converge(Desired(name, pin_dir, path=path))
            full = converge(Desired(name, pin_dir, path=path, facts="full"))
        finally:
            converge(Desired(name, pin_dir, state="absent"))
        assert loaded["changed"] and len(loaded["programs"]) == n and len(loaded["maps"]) == n
        assert not noop["changed"] and not full["changed"]
        assert noop["counts"] == {"maps": n, "programs": n}
        assert noop["bpf_memlock"]["after"] == loaded["bpf_memlock"]["after"]
        assert len(full["programs"]) == n and len(full["bpf_memlock"]["maps"]) == n
        results[n] = (size(loaded), size(noop), size(full))
    (load2, noop2, full2), (load40, noop40, full40) = results[2], results[40]
    # The summary differs only in the digits of its figures and names.
    assert abs(noop40 - noop2) < 64, results
    assert full40 > full2 + 38 * 300 and load40 > load2 + 38 * 300, results
