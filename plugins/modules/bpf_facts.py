#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_facts
short_description: What a host can do with eBPF and what it runs
version_added: "0.1.0"
description:
  - Sets C(ansible_facts.bpf) with the host's kernel, BTF availability, bpffs mounts, JIT and BPF sysctls, memlock
    accounting mode and C(RLIMIT_MEMLOCK) (C(host)); the map, program and link types the kernel supports, probed
    once per kernel build and cached in C(/run/ebpf_deploy) (C(features)); every loaded map and program with its
    memlock and host-wide totals (C(workload)); and the collections ebpf.deploy manages, with the maps they share
    (C(collections)).
author:
  - ebpf.deploy contributors (@ebpf-deploy)
attributes:
  check_mode:
    support: full
    description: Read-only (feature probes create and at once close tiny maps and programs).
  diff_mode:
    support: none
    description: Nothing changes.
  facts:
    support: full
    description: Returns C(ansible_facts.bpf).
extends_documentation_fragment:
  - ebpf.deploy.pin_root
options:
  gather_subset:
    description:
      - Which parts to gather. C(all), or any of C(host), C(features), C(workload), C(collections); C(!name)
        leaves one out.
    type: list
    elements: str
    default: [all]
  pressure_threshold:
    description:
      - How full, in percent of C(max_entries), a hash-like map of a managed collection may be before the module
        warns, naming the collection, the map and its count (C(collections) subset). Hash maps refuse inserts when
        full; LRU maps evict entries.
      - The maps at or above it are listed in C(pressure.high).
    type: float
    default: 90
"""

EXAMPLES = r"""
- name: Everything
  ebpf.deploy.bpf_facts:

- name: Only what runs, for a memlock report
  ebpf.deploy.bpf_facts:
    gather_subset: [workload, collections]

- name: How full the managed collections' maps are; warn at 75%
  ebpf.deploy.bpf_facts:
    gather_subset: [collections]
    pressure_threshold: 75

- name: Show the host-wide locked memory of BPF objects
  ansible.builtin.debug:
    msg: "{{ ansible_facts.bpf.totals.memlock }} bytes in {{ ansible_facts.bpf.totals.maps }} maps"
"""

RETURN = r"""
ansible_facts:
  description: Facts about eBPF on the host.
  returned: always
  type: dict
  contains:
    bpf:
      description:
        - One key per subset gathered (C(maps), C(programs) and C(totals) for C(workload)).
        - Every C(memlock) is the kernel's figure (fdinfo); C(memlock_estimate) beside it is our estimate of the
          real footprint by the 6.4+ kernel's rules (null for a map type without a rule). On 5.11 to 6.3
          (C(host.memlock.accounting=memcg-approximate)) the kernel's figure ignores preallocation and only the
          estimate shows it; C(host.memlock.footprint) names the figure that shows the real cost on this host.
        - C(collections.<name>.links) gives each pinned link and the program it runs (C(program) is null when
          the link runs a program outside the collection's live version; C(method=netlink) for tc filters).
        - C(collections.<name>.kept) names the kept version (C(path), C(object_sha256)) when a replaced version is
          kept for a rollback.
        - C(collections.<name>.map_usage) gives each pinned map's type, C(max_entries), memlock (kernel's and
          estimate) and, for hash-like maps (hash, LRU and per-CPU hashes, hash of maps, LPM trie), C(entries) and
          C(pressure) (entries / max_entries), counted with batch lookups where the kernel has them (5.6+), else one
          key at a time; null for other map types.
        - C(pressure) (with C(collections)) gives C(threshold) and C(high), the maps at or above it, fullest first.
        - C(shared_maps) (with C(collections)) gives each map collections share under I(pin_root) (pinned by
          name, at C(pin_root/shared/<map>)) with the collections that use it (C(users)) and its memlock, counted
          once; C(collections.<name>.shared_maps) names those a collection uses, and its C(memlock) leaves them
          out.
      type: dict
      sample:
        host:
          kernel: 6.18.44
          btf: {vmlinux: true, modules: 0}
          bpffs: [/sys/fs/bpf]
          sysctl: {bpf_jit_enable: 1, bpf_jit_harden: 0, unprivileged_bpf_disabled: 2}
          memlock: {accounting: memcg-exact, rlimit: 8388608, footprint: kernel}
          python: {executable: /usr/bin/python3, version: 3.11.2, pyroute2: true}
        features: {map_types: [array, hash], program_types: [xdp], link_types: [xdp], cached: true}
        maps: [{id: 12, name: counts, type: hash, max_entries: 1024, flags: 0, memlock: 89088,
                memlock_estimate: 89088}]
        programs: [{id: 40, name: count_packets, type: xdp, tag: f0436965e8747fa0, memlock: 4096,
                    memlock_estimate: 4096}]
        totals: {maps: 1, programs: 1, maps_memlock: 89088, programs_memlock: 4096, memlock: 93184,
                 maps_memlock_estimate: 89088, programs_memlock_estimate: 4096, memlock_estimate: 93184}
        collections:
          counter: {path: /sys/fs/bpf/ebpf_deploy/counter, maps: [counts], programs: [count_packets],
                    links: {count_packets__xdp_eth0: {program: count_packets, program_id: 40}},
                    memlock: 93184, memlock_estimate: 93184, shared_maps: [shared_counts],
                    map_usage: {counts: {type: hash, max_entries: 1024, entries: 950, pressure: 0.9277,
                                         memlock: 89088, memlock_estimate: 89088}}}
        pressure:
          threshold: 90
          high: [{collection: counter, map: counts, entries: 950, max_entries: 1024, pressure: 0.9277}]
        shared_maps:
          shared_counts: {id: 14, path: /sys/fs/bpf/ebpf_deploy/shared/shared_counts, type: array, key_size: 4,
                          value_size: 8, max_entries: 4, flags: 0, memlock: 344, memlock_estimate: 344,
                          users: [counter, reader]}
"""

from ansible.module_utils.basic import AnsibleModule

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.facts import (
    ARGUMENT_SPEC, gather, pressure_warnings, select_subsets)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        subsets = select_subsets(module.params["gather_subset"])
        facts = gather(subsets, module.params["pin_root"], module.params["pressure_threshold"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    except LoaderError as e:
        module.fail_json(msg=str(e), hint=e.hint)
    if "pressure" in facts:
        for warning in pressure_warnings(facts["pressure"]):
            module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"bpf": facts})


if __name__ == "__main__":
    main()
