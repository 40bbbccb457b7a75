# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the map-type predicates of plugins/module_utils/kernel/uapi.py
and for the one place that sizes a lookup's value buffer (kernel/host.py).

Each predicate is checked against the map types it must answer for, by
bpftool name, so a type moved between groups shows here by name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import host, uapi


def _names(predicate):
    return sorted(name for value, name in uapi.MAP_TYPE_NAMES.items() if predicate(value))


@pytest.mark.parametrize("predicate, names", [
    (uapi.is_hash, ["hash", "hash_of_maps", "lru_hash", "lru_percpu_hash", "percpu_hash"]),
    (uapi.is_lru, ["lru_hash", "lru_percpu_hash"]),
    (uapi.is_array, ["array", "percpu_array"]),
    (uapi.is_fd_array, ["array_of_maps", "cgroup_array", "perf_event_array", "prog_array"]),
    (uapi.is_map_in_map, ["array_of_maps", "hash_of_maps"]),
    (uapi.is_devmap, ["devmap", "devmap_hash"]),
    (uapi.is_percpu, ["lru_percpu_hash", "percpu_array", "percpu_cgroup_storage", "percpu_hash"]),
    (uapi.holds_fds, ["array_of_maps", "cgroup_array", "cpumap", "devmap", "devmap_hash", "hash_of_maps",
                      "perf_event_array", "prog_array", "reuseport_sockarray", "sockhash", "sockmap", "xskmap"]),
    (uapi.holds_plain_data, ["array", "hash", "lpm_trie", "lru_hash", "lru_percpu_hash", "percpu_array",
                             "percpu_hash"]),
    (uapi.is_ringbuf, ["ringbuf", "user_ringbuf"]),
    (uapi.is_queue_stack, ["queue", "stack"]),
    (uapi.is_local_storage, ["cgrp_storage", "inode_storage", "sk_storage", "task_storage"]),
    (uapi.is_cgroup_storage, ["cgroup_storage", "percpu_cgroup_storage"]),
], ids=lambda p: getattr(p, "__name__", ""))
def test_predicate_answers_for(predicate, names):
    assert _names(predicate) == names


def test_plain_data_and_fds_exclude_each_other():
    assert not set(_names(uapi.holds_plain_data)) & set(_names(uapi.holds_fds))


def test_maps_without_btf_key_value():
    # libbpf's list (without arena), plus ring buffers and prog arrays.
    assert _names(lambda t: not uapi.takes_btf(t)) == [
        "array_of_maps", "cgroup_array", "cpumap", "devmap", "devmap_hash", "hash_of_maps", "perf_event_array",
        "prog_array", "queue", "ringbuf", "sockhash", "sockmap", "stack", "stack_trace", "xskmap"]


@pytest.mark.parametrize("rule, names", [
    (uapi.NO_PREALLOC_ALLOWED, ["hash", "hash_of_maps", "percpu_hash"]),
    (uapi.NO_PREALLOC_REQUIRED, ["cgrp_storage", "inode_storage", "lpm_trie", "sk_storage", "task_storage"]),
])
def test_prealloc_rule(rule, names):
    assert _names(lambda t: uapi.prealloc_rule(t) == rule) == names


@pytest.mark.parametrize("name", ["lru_hash", "lru_percpu_hash", "array", "queue", "stack", "ringbuf"])
def test_prealloc_rejected(name):
    assert uapi.prealloc_rule(uapi.MAP_TYPE_BY_NAME[name]) == uapi.NO_PREALLOC_REJECTED


def test_link_types_that_update_in_place():
    updatable = sorted(n for t, n in uapi.LINK_TYPE_NAMES.items() if uapi.link_can_update(t))
    assert updatable == ["cgroup", "iter", "netkit", "netns", "tcx", "xdp"]


@pytest.mark.parametrize("name, value_size, slot", [
    ("hash", 4, 4), ("array", 12, 12), ("percpu_hash", 4, 8), ("percpu_array", 12, 16),
    ("lru_percpu_hash", 8, 8), ("percpu_cgroup_storage", 1, 8),
])
def test_value_buffer_size(name, value_size, slot):
    map_type = uapi.MAP_TYPE_BY_NAME[name]
    assert host.value_slot_size(map_type, value_size) == slot
    cpus = host.possible_cpus() if uapi.is_percpu(map_type) else 1
    assert host.value_buffer_size(map_type, value_size) == slot * cpus


def test_size_codes():
    assert uapi.BPF_SIZE_BYTES == {uapi.BPF_B: 1, uapi.BPF_H: 2, uapi.BPF_W: 4, uapi.BPF_DW: 8}


def test_link_min_kernel_names():
    assert sorted(uapi.LINK_TYPE_NAMES[t] for t in uapi.LINK_TYPE_MIN_KERNEL) == [
        "cgroup", "iter", "kprobe_multi", "netfilter", "netkit", "netns", "perf_event", "raw_tracepoint",
        "sockmap", "struct_ops", "tcx", "tracing", "uprobe_multi", "xdp"]
