# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_facts: host, features, workload (checked against bpftool) and the
collections this tool manages."""

from __future__ import absolute_import, division, print_function

import json
import os
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.facts import (
    feature_facts, gather, pressure_warnings, select_subsets, workload_facts)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.memlock.accounting import accounting_mode
from playbook_runner import run_playbook


def bpftool(kind):
    out = subprocess.run(["bpftool", "-j", kind, "show"], check=True, capture_output=True, text=True).stdout
    return dict((o["id"], o) for o in json.loads(out or "[]"))


def test_workload_totals_equal_bpftool(bpf_build, pin_dir):
    converge(Desired("w", pin_dir, path=os.path.join(bpf_build.dir, "maps.o")))
    try:
        # Objects may be freed by the kernel between two listings: compare
        # snapshots whose id sets agree.
        for _attempt in range(20):
            ours = workload_facts()
            maps, progs = bpftool("map"), bpftool("prog")
            if set(m["id"] for m in ours["maps"]) == set(maps) and \
                    set(p["id"] for p in ours["programs"]) == set(progs):
                break
        else:
            pytest.fail("the set of loaded objects kept changing")
        assert ours["totals"]["maps_memlock"] == sum(m["bytes_memlock"] for m in maps.values())
        assert ours["totals"]["programs_memlock"] == sum(p["bytes_memlock"] for p in progs.values())
        by_id = dict((m["id"], m) for m in ours["maps"])
        for map_id, m in maps.items():
            assert by_id[map_id]["max_entries"] == m["max_entries"]
            assert by_id[map_id]["flags"] == m["flags"]
        assert any(p["name"] == "fill_maps" for p in ours["programs"])
        # Our estimate beside the kernel's figure: equal from 6.4 (within
        # 5% or 4 KiB) for every map and program of a known type.
        if accounting_mode() == "memcg-exact":
            for obj in ours["maps"] + ours["programs"]:
                if obj["memlock_estimate"] is not None:
                    assert abs(obj["memlock"] - obj["memlock_estimate"]) <= max(4096, obj["memlock"] // 20), obj
        assert ours["totals"]["memlock_estimate"] == \
            ours["totals"]["maps_memlock_estimate"] + ours["totals"]["programs_memlock_estimate"]
    finally:
        converge(Desired("w", pin_dir, state="absent"))


def test_features_probe_and_cache(tmp_path):
    first = feature_facts(cache_dir=str(tmp_path))
    second = feature_facts(cache_dir=str(tmp_path))
    assert not first["cached"] and second["cached"]
    assert first["map_types"] == second["map_types"]
    for needed in ("hash", "array", "lpm_trie", "ringbuf", "percpu_hash"):
        assert needed in first["map_types"]
    for needed in ("xdp", "sched_cls", "tracepoint", "socket_filter"):
        assert needed in first["program_types"]
    assert "xdp" in first["link_types"]
    assert oct(os.stat(str(tmp_path / os.listdir(str(tmp_path))[0])).st_mode & 0o777) == "0o600"


def test_collections_and_subsets(bpf_build, pin_dir):
    converge(Desired("c1", pin_dir, path=os.path.join(bpf_build.dir, "globals.o")))
    try:
        facts = gather(select_subsets(["collections", "host"]), pin_dir)
        assert set(facts) == {"collections", "shared_maps", "host", "pressure"}   # shared_maps: part of collections
        c1 = facts["collections"]["c1"]
        assert c1["programs"] == ["compute"] and c1["memlock"] > 0 and c1["object_sha256"]
        assert "/sys/fs/bpf" in facts["host"]["bpffs"] or any(m.startswith("/sys/fs/bpf")
                                                              for m in facts["host"]["bpffs"])
        assert set(gather(select_subsets(["all", "!features", "!workload"]), pin_dir)) == {
            "host", "collections", "pressure", "shared_maps"}
        with pytest.raises(ValueError):
            select_subsets(["nope"])
    finally:
        converge(Desired("c1", pin_dir, state="absent"))


def test_module(tmp_path, pin_dir):
    proc, (r,) = run_playbook(tmp_path, [{"ebpf.deploy.bpf_facts": {"gather_subset": ["host", "workload"],
                                                                    "pin_root": pin_dir}}], check=True)
    assert not r.get("failed") and r["changed"] is False, proc.stdout
    bpf = r["ansible_facts"]["bpf"]
    assert bpf["host"]["kernel"] == os.uname().release
    assert bpf["totals"]["memlock"] == bpf["totals"]["maps_memlock"] + bpf["totals"]["programs_memlock"]


def fill(pin_dir, collection, pin, n, key=lambda i: struct.pack("=I", i), value=bytes(8)):
    fd = syscalls.obj_get(os.path.join(pin_dir, collection, "maps", pin))
    try:
        for i in range(n):
            syscalls.map_update(fd, key(i), value)
    finally:
        os.close(fd)


def test_map_pressure_counts_entries_and_warns_at_the_threshold(bpf_build, pin_dir, tmp_path):
    """schema_v1's `config` (hash, 2048) filled to 1900 entries (92.8%), and
    maps.o's LPM trie (no batch lookups: counted key by key) with 3 of its
    entries; the array has no pressure."""
    converge(Desired("full", pin_dir, path=bpf_build.path("schema_v1")))
    converge(Desired("trie", pin_dir, path=bpf_build.path("maps")))
    try:
        fill(pin_dir, "full", "config", 1900)
        fill(pin_dir, "trie", "lpm", 3, key=lambda i: struct.pack("=II", 24, 0x0000000a | (i << 8)),
             value=struct.pack("=Q", 1))
        facts = gather(select_subsets(["collections"]), pin_dir)
        config = facts["collections"]["full"]["map_usage"]["config"]
        assert (config["type"], config["entries"], config["max_entries"], config["pressure"]) == (
            "hash", 1900, 2048, 0.9277)
        assert config["memlock"] > 0 and config["memlock_estimate"] > 0
        assert facts["collections"]["full"]["map_usage"]["sums"]["pressure"] is None   # an array
        lpm = facts["collections"]["trie"]["map_usage"]["lpm"]
        assert lpm["type"] == "lpm_trie" and lpm["entries"] == 3
        assert facts["pressure"] == {"threshold": 90.0, "high": [
            {"collection": "full", "map": "config", "entries": 1900, "max_entries": 2048, "pressure": 0.9277}]}
        assert pressure_warnings(facts["pressure"]) == [
            "collection 'full': map 'config' holds 1900 of 2048 entries (92.8%), at or above pressure_threshold "
            "90%; inserts fail when it is full (LRU maps evict)"]
        assert gather(select_subsets(["collections"]), pin_dir, 95)["pressure"]["high"] == []
        # Through the module: the warning reaches the play.
        proc, (r,) = run_playbook(tmp_path, [{"ebpf.deploy.bpf_facts": {"gather_subset": ["collections"],
                                                                        "pin_root": pin_dir,
                                                                        "pressure_threshold": 92.5}}])
        assert r["warnings"] == ["collection 'full': map 'config' holds 1900 of 2048 entries (92.8%), at or above "
                                 "pressure_threshold 92.5%; inserts fail when it is full (LRU maps evict)"], proc.stdout
    finally:
        converge(Desired("full", pin_dir, state="absent"))
        converge(Desired("trie", pin_dir, state="absent"))
