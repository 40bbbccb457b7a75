#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_map
short_description: Declare the entries of a pinned eBPF map in YAML, encoded through the map's BTF
version_added: "0.1.0"
description:
  - Sets entries of a map that M(ebpf.deploy.bpf_collection) deployed (or any pinned map), typically the
    allow-lists, policy tables and tunables a program reads.
  - Keys and values are written as the map's BTF types say, from the BTF the kernel keeps for the map. Integers,
    enumerator names, structs as mappings by member name (nested, bitfields included), arrays as lists, char
    arrays as strings. Maps without BTF take integers, C(0x...) hex strings or lists of bytes of the exact size.
  - Where a plain integer is unnatural, I(key_format) and I(value_format) read addresses and network-order
    integers in their usual text form, and C(cidr) reads an LPM trie key C(10.0.0.0/8).
  - Idempotent. Entries equal to the kernel's copy are left alone; C(changed=false) when nothing differs.
author:
  - ebpf.deploy contributors (@ebpf-deploy)
attributes:
  check_mode:
    support: full
    description: Reports the entries that would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the entries that change, decoded through BTF (not hex).
extends_documentation_fragment:
  - ebpf.deploy.pin_root
options:
  collection:
    description:
      - Name of the deployed collection that holds the map (as given to M(ebpf.deploy.bpf_collection)).
      - Required unless I(map) names it as C(collection/map) or is an absolute pinned path.
    type: str
  map:
    description:
      - The map's name in the collection (as the object names it, e.g. C(.rodata) or C(allowed_networks)), or
        C(collection/map) (the same shorthand as M(ebpf.deploy.bpf_link)'s I(program)), or an absolute pinned path.
    type: str
    required: true
  entries:
    description:
      - List of C(key) and C(value) pairs. With I(state=absent) only the keys count.
      - For per-CPU maps a value is one value (the same on every CPU) or a list with one value per possible CPU.
    type: list
    elements: dict
    default: []
  entries_src:
    description:
      - A file of entries, for sets too large for I(entries) (10^5 to 10^6 entries). Mutually exclusive with
        I(entries).
      - A JSON list of C(key) and C(value) mappings, JSON lines (one such mapping a line), a YAML list, or CSV with
        a header of C(key) and C(value) (or C(key.<member>) and C(value.<member>) for flat structs).
      - Read as a stream on the host, diffed against the map read back in batches, and written with the kernel's
        batch commands where it has them (RV(syscalls)). Errors name the file, line and member.
      - By default a file on the controller. A relative path is searched as bpf_collection's I(src) is, the
        inventory's directory, the current directory and the playbook's directory first, then the C(files/)
        directories Ansible searches; the error lists every place searched.
      - The controller sends the file's SHA-256 first and the file only when the host needs it, at most once per
        host and playbook run.
      - After a sync the host keeps the file's encoded entries, private to root, under C(/run/ebpf_deploy/entries)
        (one file per map). A later run with the same file, formats and map layout parses nothing and does not
        need the file at all; it compares the map, read in batches, with the kept entries. Kept entries are
        checked (owner, mode, digest) and ignored when they do not match.
      - Each sync reads the map back and checks that it holds every entry of the file; a difference (another
        writer) is a warning and nothing is kept.
    type: path
  remote_src:
    description: I(entries_src) is a path on the managed host instead of the controller.
    type: bool
    default: false
  entries_format:
    description: Format of I(entries_src); by default the file's extension says (C(.json), C(.jsonl), C(.yaml),
      C(.csv)).
    type: str
    choices: [json, jsonl, yaml, csv]
  entries_sha256:
    description: Internal to I(entries_src) from the controller (the action plugin sets it); leave it unset.
    type: str
  entries_received:
    description: Internal to I(entries_src) from the controller (the action plugin sets it); leave it unset.
    type: path
  run_id:
    description: Internal to I(entries_src) from the controller (the action plugin names the playbook run);
      leave it unset.
    type: str
  atomic:
    description:
      - With I(entries_src), replace a rule set whole, so that no program ever sees it half written. I(map) names
        an outer map (C(array_of_maps) or C(hash_of_maps)) and I(slot) its key; programs reach the rule set
        through that slot.
      - When the entries differ, a fresh map with the layout of the one in the slot (type, sizes, flags, BTF) is
        filled with the whole set and put into the slot with one update. The old map is left as it was (a
        program that uses it directly, not through the slot, keeps seeing it).
      - Refused for a map that is not a map of maps, or a slot that holds no map. Takes I(state=present).
    type: bool
    default: false
  slot:
    description: With I(atomic=true), the outer map's key (an integer) whose map is replaced.
    type: int
  exclusive:
    description: Also delete every entry that is not listed (array slots are zeroed instead).
    type: bool
    default: false
  state:
    description:
      - C(present) writes the entries; C(absent) deletes the listed keys.
      - C(query) changes nothing and returns the map's entries, decoded, in RV(contents); I(entries) must be empty.
    type: str
    choices: [present, absent, query]
    default: present
  key_format:
    description:
      - A textual form for the key, or a mapping of member path (e.g. C(addr), C(hdr.port)) to form.
      - C(ipv4), C(ipv6), C(mac), C(be16), C(be32), C(be64), or C(cidr) for an LPM trie key.
    type: raw
  value_format:
    description: As I(key_format), for the value.
    type: raw
seealso:
  - module: ebpf.deploy.bpf_collection
"""

EXAMPLES = r"""
- name: Allow two networks (an LPM trie keyed by CIDR)
  ebpf.deploy.bpf_map:
    map: policy/allowed_networks
    key_format: cidr
    entries:
      - key: 10.0.0.0/8
        value: {action: allow, rate_limit: 1000}
      - key: 192.168.1.0/24
        value: {action: deny, rate_limit: 0}
    exclusive: true

- name: Tune a per-protocol table (hash map, u8 key, u64 value)
  ebpf.deploy.bpf_map:
    map: counter/packets_by_protocol
    entries:
      - key: 6
        value: 0

- name: Remove one entry
  ebpf.deploy.bpf_map:
    map: policy/allowed_networks
    key_format: cidr
    entries:
      - key: 192.168.1.0/24
    state: absent

- name: Sync a blocklist of a million entries from a CSV file beside the playbook (sent only when it changed)
  ebpf.deploy.bpf_map:
    map: filter/blocklist
    entries_src: files/blocklist.csv
    exclusive: true

- name: The same from a JSON lines file already on the host
  ebpf.deploy.bpf_map:
    map: filter/blocklist
    entries_src: /var/lib/rules/blocklist.jsonl
    remote_src: true
    exclusive: true

- name: Swap in a new rule set whole, through slot 0 of an array of maps the program reads it from
  ebpf.deploy.bpf_map:
    map: filter/rulesets
    slot: 0
    atomic: true
    entries_src: files/rules.csv
    exclusive: true

- name: Read a map back (decoded through its BTF)
  ebpf.deploy.bpf_map:
    map: counter/packets_by_protocol
    state: query
  register: counts
"""

RETURN = r"""
map:
  description: Path of the pinned map.
  returned: always
  type: str
  sample: /sys/fs/bpf/ebpf_deploy/policy/maps/allowed_networks
written:
  description: Entries written (added or changed).
  returned: always
  type: int
  sample: 2
deleted:
  description: Entries deleted (or array slots zeroed).
  returned: always
  type: int
  sample: 0
entries:
  description: Entries in the map afterwards (for arrays, its size).
  returned: always
  type: int
  sample: 2
counts:
  description: With I(entries_src), how many entries were added, changed, removed and left unchanged.
  returned: when I(entries_src) is set
  type: dict
  sample: {added: 1000, changed: 0, removed: 2, unchanged: 998000}
syscalls:
  description: With I(entries_src), C(batch) when the kernel's batch commands served, C(per-entry) otherwise.
  returned: when I(entries_src) is set
  type: str
  sample: batch
inner_map_id:
  description: With I(atomic=true), the id of the map the slot holds after a change.
  returned: when I(atomic=true) and the entries changed
  type: int
  sample: 4711
encoded_from:
  description:
    - With I(entries_src) and I(state=present), where the entries came from, C(file) (parsed) or C(kept) (the
      encoded entries an earlier run kept on the host).
  returned: when I(entries_src) is set
  type: str
  sample: kept
entries_sha256:
  description: With I(entries_src) and I(state=present), the file's SHA-256.
  returned: when I(entries_src) is set
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
entries_sent:
  description: With I(entries_src) on the controller, whether this task sent the file (false when the host had
    its entries kept, or the file from an earlier task of the run).
  returned: when I(entries_src) is on the controller
  type: bool
  sample: false
contents:
  description:
    - The map's entries as C(key) and C(value), decoded as I(entries) are written. Zeroed array slots are left out.
    - Per-CPU values are one value when every CPU holds the same, else a list with one value per CPU.
  returned: when I(state=query)
  type: list
  elements: dict
  sample: [{key: 17, value: 10}]
"""

from ansible.module_utils.basic import AnsibleModule

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import (
    ARGUMENT_SPEC, converge_entries, map_ref, read_entries)
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.module_run import converge_and_exit


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["state"] == "query" and p["entries"]:
        module.fail_json(msg="entries: must be empty with state=query (query reads the map, writes nothing)")
    if p["entries_src"] and (p["entries"] or p["state"] == "query"):
        module.fail_json(msg="entries_src: give it instead of entries, with state present or absent")
    if (p["atomic"] or p["slot"] is not None) and not p["entries_src"]:
        module.fail_json(msg="atomic, slot: they replace a map-in-map slot's map with the entries of entries_src; "
                             "give entries_src")

    def converge():
        ref = map_ref(p["collection"], p["map"])
        if p["state"] == "query":
            contents, path = read_entries(p["pin_root"], ref, key_format=p["key_format"],
                                          value_format=p["value_format"])
            module.exit_json(changed=False, map=path, contents=contents, entries=len(contents), written=0, deleted=0)
        if p["entries_src"]:
            # Only this path reads files (AnsiballZ compiles every import on every task).
            from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries_src import (
                EntriesNeeded, converge_from_params)
            try:
                return converge_from_params(ref, p, module.check_mode)
            except EntriesNeeded:
                # Only the digest came and the host has not kept the entries:
                # nothing was done; the action plugin sends the file.
                module.exit_json(changed=False, entries_missing=True)
        return converge_entries(p["pin_root"], ref, p["entries"], exclusive=p["exclusive"], state=p["state"],
                                key_format=p["key_format"], value_format=p["value_format"],
                                check_mode=module.check_mode)

    converge_and_exit(module, converge)


if __name__ == "__main__":
    main()
