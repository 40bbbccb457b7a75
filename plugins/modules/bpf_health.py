#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_health
short_description: Check that a deployed eBPF collection works (its programs run, its maps fill, its links are live)
version_added: "0.3.0"
description:
  - Verifies a collection deployed with M(ebpf.deploy.bpf_collection) and returns the verdict as facts a playbook can
    gate on (RV(healthy), one result per check with its reason). It only reads; it never changes the collection.
  - C(links) checks that every pinned link of the live version runs a program of the live version (not one of the
    kept version, nor a stray one).
  - C(runs) checks that every attached program (or those in I(programs)) ran at least I(min_runs) times within
    I(window) seconds. The counts are the kernel's (C(run_cnt)), which it keeps only while run-time statistics are
    on; the module turns them on for the window with C(BPF_ENABLE_STATS) (Linux 5.8+), which holds them on only as
    long as the module keeps its file descriptor open, so C(kernel.bpf_stats_enabled) is left as it was.
  - C(map) checks, one per item of I(maps), that an entry exists at a key (or does not), and optionally that its
    value grows over the window (a counter the programs keep).
  - A failed check is a result, not a failure of the task; fail the task on RV(healthy) in the playbook when that is
    what you want (see the examples). Bad options (an unknown program or map, a key that does not encode) fail the
    task before the window starts.
author:
  - ebpf.deploy contributors (@ebpf-deploy)
requirements:
  - Linux with bpffs, run as root (or with CAP_BPF and CAP_SYS_ADMIN); run counts need Linux 5.8 or later, or
    C(kernel.bpf_stats_enabled=1).
  - Python 3.8 or later on the managed host.
attributes:
  check_mode:
    support: full
    description: Runs every check (it only reads) and reports the same result.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
extends_documentation_fragment:
  - ebpf.deploy.pin_root
options:
  name:
    description:
      - Name of the collection, as given to M(ebpf.deploy.bpf_collection).
    type: str
    required: true
  window:
    description:
      - Seconds to watch the programs and maps for. C(0) checks links and entries only (no program can run in it).
    type: float
    default: 5.0
  min_runs:
    description:
      - How many times each checked program must have run within I(window).
    type: int
    default: 1
  programs:
    description:
      - The programs whose runs are checked, by name. A program named here that no link runs fails its check.
      - Default every program a link of the live version runs (none when I(window) is C(0)); C([]) checks no
        program's runs.
    type: list
    elements: str
  links:
    description:
      - Whether to check that every pinned link runs a program of the live version.
    type: bool
    default: true
  maps:
    description:
      - Map conditions, each checked at the end of I(window).
    type: list
    elements: dict
    default: []
    suboptions:
      map:
        description:
          - The map, by its name in the collection (or a pinned path).
        type: str
        required: true
      key:
        description:
          - The key, encoded through the map's BTF as M(ebpf.deploy.bpf_map) encodes it (integers, enumerator names,
            dicts of struct members, strings for char arrays).
        type: raw
        required: true
      exists:
        description:
          - Whether an entry must exist at I(key) (C(true)) or must not (C(false)).
        type: bool
        default: true
      grows:
        description:
          - Whether the value at I(key) must be larger at the end of the window than at its start (per-CPU values
            are summed).
        type: bool
        default: false
      field:
        description:
          - With I(grows), the member of a struct value to compare.
        type: str
notes:
  - Results of every check are in RV(checks); RV(reasons) lists those that failed.
seealso:
  - module: ebpf.deploy.bpf_collection
  - module: ebpf.deploy.bpf_link
"""

EXAMPLES = r"""
- name: Every attached program ran within 10 seconds, and the packet counter grew
  ebpf.deploy.bpf_health:
    name: counter
    window: 10
    maps:
      - map: packets_by_protocol
        key: 6            # TCP
        grows: true
  register: health

- name: Roll back the hosts where it did not
  ebpf.deploy.bpf_collection:
    name: counter
    state: rolled_back
  when: not health.healthy

- name: Gate a batch of a rollout on it
  ansible.builtin.assert:
    that: health.healthy
    fail_msg: "{{ health.reasons | join('; ') }}"
"""

RETURN = r"""
healthy:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: false
reasons:
  description: Why each failed check failed.
  returned: always
  type: list
  elements: str
  sample: ["program 'count_packets' ran 0 times in 5s, fewer than 1"]
checks:
  description:
    - One entry per check, with C(check) (C(link), C(runs), C(map) or C(deployed)), C(ok) and C(reason) (null when
      it passed), and what it measured (C(runs) for a program, C(before) and C(after) for a growing value).
  returned: always
  type: list
  elements: dict
  sample:
    - {check: link, link: count_packets__xdp_eth0, program: count_packets, program_id: 40, ok: true, reason: null}
    - {check: runs, program: count_packets, runs: 0, min_runs: 1, ok: false,
       reason: "program 'count_packets' ran 0 times in 5s, fewer than 1"}
    - {check: map, map: packets_by_protocol, key: 6, before: 10, after: 52, ok: true, reason: null}
window:
  description: The window, in seconds.
  returned: always
  type: float
  sample: 5.0
ansible_facts:
  description: Facts set by the module.
  returned: always
  type: dict
  contains:
    bpf_health:
      description: The verdict for the collection (C(collection), C(healthy), C(reasons)).
      type: dict
      sample: {collection: counter, healthy: false, reasons: ["program 'count_packets' ran 0 times in 5s, fewer than 1"]}
hint:
  description: How to fix the failure, when the module failed and knows.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.health import ARGUMENT_SPEC, check_health
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        result = check_health(p["name"], p["pin_root"], window=p["window"], min_runs=p["min_runs"],
                              programs=p["programs"], links=p["links"], maps=p["maps"])
    except LoaderError as e:
        module.fail_json(msg=str(e), hint=e.hint)
    result["ansible_facts"] = {"bpf_health": {"collection": result.pop("collection"), "healthy": result["healthy"],
                                              "reasons": result["reasons"]}}
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
