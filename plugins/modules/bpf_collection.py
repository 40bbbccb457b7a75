#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_collection
short_description: Load, replace or remove an eBPF collection (the programs and maps of one ELF object)
version_added: "0.1.0"
description:
  - Loads the programs and maps of an eBPF ELF object with a pure-Python loader that ships with this
    collection (no libbpf, bpftool or clang on the host) and pins them under I(pin_root)/I(name).
  - Idempotent. The object's checksum and the options that shape what is loaded are recorded beside the pins;
    a second run with the same object and options changes nothing and does not parse kernel BTF.
  - Sets each map's C(max_entries) and preallocation declaratively. Maps whose definition did not change keep
    their data when the programs are upgraded; a map whose size or flags change is migrated (entries copied),
    recreated empty, or refused, as I(on_incompatible_map) says.
  - Replacing is transactional. The new version is built beside the old one and the two are swapped
    atomically; a failure before the swap leaves the host as it was.
  - Links made with M(ebpf.deploy.bpf_link) follow the upgrade, each to the new program of the same name. Links
    the kernel re-points in place (XDP, tcx, cgroup) are moved after the swap; the others (tracepoints, raw and
    BTF tracepoints, kprobes, fentry/fexit/lsm) are made again for the new program before the swap, while the old
    link still runs, so no event goes unseen. A link that cannot be re-wired (its program changed type) fails the
    upgrade before the swap; a failure while links move after the swap puts every moved link back and the
    previous version live again. A link whose program the new version no longer has is detached, with a warning.
  - The version an upgrade replaces stays loaded but attached nowhere, in I(pin_root)/I(name)C(__kept) (see
    I(keep_versions)), sharing with the live version the maps it reused. I(state=rolled_back) makes it live again
    without its object (the controller may no longer have it), the same way an upgrade goes live (links made again
    or re-pointed atomically, a failure puts everything back); the live version's entries are copied back into the
    maps the two versions do not share, where their type, sizes and BTF layout match (otherwise the kept map keeps
    the entries it had when it was replaced, and a warning says so). The version rolled back from is removed.
  - Reports what the collection costs in locked kernel memory as the C(bpf_memlock) fact; the kept version's maps and
    programs that the live version does not share are counted too, named C(kept/<name>).
author:
  - ebpf.deploy contributors (@ebpf-deploy)
requirements:
  - Linux with bpffs mounted at (or above) I(pin_root), run as root (or with CAP_BPF and CAP_SYS_ADMIN).
  - Python 3.8 or later on the managed host.
attributes:
  check_mode:
    support: full
    description: Reports what would change (the plan) and changes nothing.
  diff_mode:
    support: full
    description: Shows map settings (type, max_entries, flags) and program tags before and after.
extends_documentation_fragment:
  - ebpf.deploy.pin_root
options:
  name:
    description:
      - Name of the collection on the host; its pins live in I(pin_root)/I(name).
      - Letters, digits, C(_) and C(-) only (bpffs refuses dots).
    type: str
    required: true
  path:
    description:
      - Path of the ELF object on the managed host.
      - Required with I(state=present) unless I(src) is given.
    type: path
  src:
    description:
      - Path of the ELF object on the controller. The action plugin first sends only its SHA-256, which is
        enough when the collection is deployed from that object already (a no-op costs no transfer) or when the
        host kept the object earlier in the run. Otherwise it sends the object, at most once per host and run;
        the host checks the digest and keeps the object for the rest of the run in the run's private directory
        (C(/run/ebpf_deploy/btf-cache/<run>/), removed with the run's BTF cache).
      - A relative path is looked for in the inventory's directory, then the directory C(ansible-playbook) runs
        in, then the playbook's directory (unless it is this collection's own), then where Ansible looks (a
        role's C(files/), the playbook's C(files/)); when it is nowhere, the error lists every place searched.
      - Mutually exclusive with I(path).
    type: path
  state:
    description:
      - C(present) loads the collection, or replaces it when the object or options changed.
      - C(absent) removes everything the collection owns (the kept version too).
      - C(rolled_back) makes the kept version live again, without the object (I(path) and I(src) are not used). A
        second identical task changes nothing, as the live version then records that it is the one a rollback made.
        With no kept version the task fails and changes nothing.
    type: str
    choices: [present, absent, rolled_back]
    default: present
  keep_versions:
    description:
      - How many replaced versions stay loaded, unattached, for I(state=rolled_back) - C(1) (the previous version) or
        C(0) (none; an upgrade removes the old version, and a run that finds a kept version removes it).
      - A kept version costs its programs and the maps the live version does not reuse (resized or recreated ones,
        data sections, program arrays); see C(kept/<name>) in C(bpf_memlock).
    type: int
    default: 1
    version_added: "0.3.0"
  maps:
    description:
      - Per-map settings, by map name. An unknown map name is an error.
      - C(max_entries) sets the map's size.
      - C(value_size) sets the value size in bytes of a map whose value is the user's choice (hash, array,
        lpm_trie, stack_trace in multiples of 8, queue, stack, bloom_filter) and that does not type its value in
        BTF; elsewhere it is refused.
      - A map the object leaves at C(max_entries) 0 or C(value_size) 0 (stack-trace maps sized by stack depth, ring
        buffers sized by the operator) must get them here; otherwise the task fails naming the map and the option,
        before anything is loaded.
      - C(prealloc=false) sets C(BPF_F_NO_PREALLOC). The kernel accepts it for hash, percpu_hash and
        hash_of_maps maps, requires it for lpm_trie and local-storage maps, and rejects it for every other type;
        a request a map cannot take fails before anything is loaded.
      - C(defaults) gives values, by member name (C(hdr.flags) for a nested one), for the value members that an
        upgrade adds to the map's value type; the live entries are converted (see I(on_incompatible_map)) and
        get these instead of zero. A member the value type does not have, or a value that does not fit it, fails
        before anything is loaded.
    type: dict
    default: {}
  prealloc:
    description:
      - Collection-wide preallocation default, with per-map exceptions in I(maps).
      - Applied where the map type can take it; maps that cannot are left as they are and named in the
        warnings.
      - Unset keeps what the object declares.
    type: bool
  constants:
    description:
      - New values for C(const volatile) globals (C(.rodata)), by name, encoded through the object's BTF
        (integers, enumerator names, strings for char arrays, lists, dicts of struct members).
    type: dict
    default: {}
  programs:
    description:
      - Load only these programs (by function name). Default all programs of the object.
    type: list
    elements: str
  btf_path:
    description:
      - Kernel BTF for hosts whose kernel does not expose C(/sys/kernel/btf/vmlinux), as a raw BTF file or an ELF
        file with a C(.BTF) section (e.g. from BTFHub). Used only for objects with CO-RE relocations or BTF
        attach targets. Kfunc calls and typed C(__ksym) variables always resolve against the running kernel's
        own BTF, whose type ids are the ones its verifier checks.
    type: path
  btf_cache:
    description:
      - C(run) keeps a compact index of the kernel's BTF for the rest of the playbook run, so later tasks on the
        host map it instead of parsing the kernel BTF again; the run's end (M(ebpf.deploy.bpf_btf_cache) with
        I(state=absent), which the C(bpf_deploy) role calls) or the next run's first load removes it.
      - C(none) parses, uses and discards.
      - Only objects with CO-RE relocations, BTF attach targets, kfunc calls or typed C(__ksym) variables read
        kernel BTF at all.
    type: str
    choices: [run, none]
    default: run
  facts:
    description:
      - How much a run that changes nothing returns. The controller processes and stores every task's result, on
        every host and every run, so by default such a run returns a summary whose size does not grow with the
        collection.
      - C(summary) returns, when nothing changed, the live version (RV(object_sha256)), how many maps and
        programs it has (RV(counts)) and the memlock totals (C(bpf_memlock) without its C(maps) and C(programs));
        a run that changes something (or would, in check mode) returns every map and program as C(full) does.
      - C(full) always returns RV(maps), RV(programs) and the per-map and per-program memlock figures.
    type: str
    choices: [summary, full]
    default: summary
  memlock_budget:
    description:
      - The most locked kernel memory the collection may take, in bytes, or with a unit as Ansible's
        C(human_to_bytes) filter takes it (C(64M), C(512K), C(1G); powers of 1024).
      - A load or an upgrade whose predicted figure (as in check mode, before anything is created) is above it
        fails and changes nothing, naming the largest maps; in check mode too. A run that changes nothing while
        the collection holds more than its budget warns.
      - The figure is the kernel's on 6.4 and later kernels, and our estimate of the real footprint before that
        (see C(bpf_memlock.footprint)). It counts the maps the collection shares with others (pinned by name)
        too, which its programs need as much (C(bpf_memlock.after) plus C(bpf_memlock.shared.after)).
    type: raw
  run_id:
    description:
      - Internal; set by the action plugin to name the playbook run. Leave it unset.
    type: str
  object_sha256:
    description:
      - Internal; set by the action plugin with I(src). Leave it unset.
    type: str
  on_incompatible_map:
    description:
      - What to do when a live map must change in a way the kernel cannot apply in place
        (C(max_entries), flags, or its key or value type).
      - C(migrate) creates the new map, copies every entry, checks the count and swaps it in; if the entries do
        not fit it fails and changes nothing.
      - C(recreate) starts the new map empty.
      - C(fail) refuses.
      - A live map is reused only when its entries mean the same to the new programs. Where the live map and the
        new object both have BTF, its key and value types are compared member by member (name, offset, size,
        signedness, enum values; typedef names and qualifiers do not count). Where either side has no BTF (legacy
        C(maps)), only sizes are compared, and a warning says so.
      - When the key or value type changed (same map name and type), C(migrate) converts every entry member by
        member by name into a new map. Integers and enums are widened, or narrowed when the value fits (an entry
        that does not fails the upgrade, naming the entry and the member, and nothing changes); enumerators are
        matched by name; moved, reordered and re-signed members keep their values; arrays are copied element by
        element; members the new type adds are zero or take the map's C(defaults); members it drops are dropped,
        with a warning naming each. A resize in the same upgrade is done in the same copy.
      - "A change that cannot be converted (a member that changed kind, such as an integer that became a struct; a
        key member removed, since two keys could become one; new sizes for a map without BTF; another map type)
        fails before anything changes, with a message that says what differs, for example
        C(value: struct cfg_val: size 8 → 16; + hits (u64 at 8)). C(fail) refuses every such change with the same
        words; C(recreate) starts the map empty. Check mode and diff show the conversion the run would make, and
        check mode converts every live entry without writing one, so an entry that does not fit fails the check
        too."
      - A map other collections share (pinned by name, see the notes) is never changed under them; an upgrade
        that would change it (C(max_entries), flags, layout) fails naming those collections, whatever this option
        says. A collection that is the only user of a shared map migrates, converts, recreates or refuses as for
        its own maps.
    type: str
    choices: [migrate, recreate, fail]
    default: migrate
notes:
  - Pins are C(pin_root/name/maps/<map>) and C(pin_root/name/progs/<program>); a C(.) in a name becomes C(_).
  - Maps the object pins by name (C(__uint(pinning, LIBBPF_PIN_BY_NAME)) in C(.maps), or iproute2's
    C(PIN_GLOBAL_NS)) are shared between the collections of one I(pin_root), as libbpf shares them between
    objects. The first collection that declares one creates it at C(pin_root/shared/<map>) (also pinned in its
    own C(maps/)); a later collection that declares a map of that name reuses it when its type, key and value
    sizes, C(max_entries), flags and BTF key and value layouts are the same, and fails otherwise, naming the
    collections that share it and each difference, changing nothing. C(pin_root/shared/<map>__users) records
    which collections use it; removing one leaves the map to the others, and the last one out removes it
    (its programs are cleared from the slots of a shared prog array first). No collection may be called
    C(shared).
  - libbpf pins such maps at C(<pin_root_path>/<map>) (C(pin_root_path) defaults to C(/sys/fs/bpf)); a program
    loaded by libbpf with C(pin_root_path) set to C(pin_root/shared) uses the same maps as the collections.
  - Global data (C(.data), C(.bss), C(.rodata), C(.kconfig)) is recreated from the object with each new version.
  - The memlock figures are the kernel's own (C(memlock) in C(/proc/<pid>/fdinfo)); see I(accounting) in the
    returned fact for how exact they are on this kernel.
seealso:
  - module: ebpf.deploy.bpf_link
"""

EXAMPLES = r"""
- name: Load a collection shipped from the controller, with a smaller, non-preallocated hash map
  ebpf.deploy.bpf_collection:
    name: counter
    src: files/packet_counter.bpf.o
    prealloc: false
    maps:
      packets_by_protocol:
        max_entries: 128

- name: Load an object already on the host and set a constant (drop UDP)
  ebpf.deploy.bpf_collection:
    name: counter
    path: /usr/local/lib/bpf/packet_counter.bpf.o
    constants:
      drop_protocol: 17

- name: Grow a map in place, keeping its entries
  ebpf.deploy.bpf_collection:
    name: counter
    path: /usr/local/lib/bpf/packet_counter.bpf.o
    constants:
      drop_protocol: 17
    maps:
      packets_by_protocol:
        max_entries: 1024
    on_incompatible_map: migrate

# An upgrade to an object whose map value type gained a member (struct cfg_val { __u32 action; __u16 weight;
# __u16 flags; } -> + __u64 hits): the live entries are converted and the new member starts at 1.
# - name: Upgrade the policy, converting the entries of its config map
#   ebpf.deploy.bpf_collection:
#     name: policy
#     path: /usr/local/lib/bpf/policy-v2.bpf.o
#     maps:
#       config:
#         defaults:
#           hits: 1

- name: Go back to the object's own settings, within 8 MiB of locked kernel memory, reporting every map and program
  ebpf.deploy.bpf_collection:
    name: counter
    path: /usr/local/lib/bpf/packet_counter.bpf.o
    memlock_budget: 8M   # refused before anything is created if the prediction is above it
    facts: full          # every map and program in the result, even when nothing changes
  register: counter      # counter.ansible_facts.bpf_memlock.maps.packets_by_protocol.after: its bytes

- name: Roll back to the version the last upgrade replaced (no object needed)
  ebpf.deploy.bpf_collection:
    name: counter
    state: rolled_back

- name: Remove the collection
  ebpf.deploy.bpf_collection:
    name: counter
    state: absent
"""

RETURN = r"""
action:
  description:
    - What the run did (or would do in check mode) - C(none), C(create), C(replace), C(remove), C(rollback) or
      C(prune) (the kept version removed, with I(keep_versions=0)).
  returned: always
  type: str
  sample: replace
reasons:
  description: Why the collection was (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: ["options changed"]
pin_path:
  description: Directory that holds the collection's pins.
  returned: always
  type: str
  sample: /sys/fs/bpf/ebpf_deploy/counter
object_sha256:
  description: SHA-256 of the object the live version was made from.
  returned: when nothing changed and I(facts=summary)
  type: str
  sample: 9f2c4e0b1a7d3c5e8f6a2b4d1c3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e
kept_object_sha256:
  description: SHA-256 of the object the kept version (the one a rollback would make live) was made from.
  returned: when nothing changed, I(facts=summary) and a version is kept
  type: str
  sample: 3c5e8f6a2b4d1c3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d89f2c4e0b1a7d
counts:
  description: How many maps and programs the live version has.
  returned: when nothing changed and I(facts=summary)
  type: dict
  sample: {maps: 1, programs: 1}
maps:
  description: The collection's maps as loaded (or as pinned, when nothing changed).
  returned: when something changed (or would, in check mode), or with I(facts=full)
  type: list
  elements: dict
  sample:
    - name: packets_by_protocol
      id: 42
      type: hash
      key_size: 1
      value_size: 8
      max_entries: 1024
      flags: 0
      memlock: 89088
      memlock_estimate: 89088
      pin: /sys/fs/bpf/ebpf_deploy/counter/maps/packets_by_protocol
      action: migrate
      migrated_entries: 3
diff:
  description:
    - Map settings and program tags before and after, by pin name.
    - "A map whose entries would be converted to a new key or value type says how, e.g. C(hash, max_entries 64,
      flags 0x0 (migrate, converting: value: struct cfg_val: size 8 → 16; + hits (u64 at 8)))."
  returned: with --diff, when something changed (or would, in check mode)
  type: dict
programs:
  description: The collection's programs as loaded (or as pinned, when nothing changed).
  returned: when something changed (or would, in check mode), or with I(facts=full)
  type: list
  elements: dict
  sample:
    - name: count_packets
      id: 17
      type: xdp
      tag: 4a3c1d2e5f607182
      memlock: 4096
      memlock_estimate: 4096
      pin: /sys/fs/bpf/ebpf_deploy/counter/progs/count_packets
ansible_facts:
  description: Facts set by the module.
  returned: always
  type: dict
  contains:
    bpf_memlock:
      description:
        - Locked kernel memory of the collection before and after the run, in bytes, with per-map and
          per-program figures (C(maps), C(programs)) when something changed or with I(facts=full); a run that
          changed nothing under I(facts=summary) has the totals only.
        - C(before), C(after) and C(delta) (top level, per map, per program) are the kernel's figures (the
          C(memlock) line of fdinfo). C(estimate) holds ours in the same shape, computed by the 6.4+ kernel's
          per-map-type rules (elements counted where the cost depends on them), so a prealloc or max_entries
          saving shows on every kernel.
        - C(accounting) is C(rlimit) (before 5.11, the RLIMIT_MEMLOCK charge), C(memcg-approximate) (5.11 to
          6.3, preallocation not counted) or C(memcg-exact) (6.4 and later). C(footprint) names the figure that
          shows the real cost on this kernel, C(kernel) or C(estimate).
        - In check mode, when the collection would change, C(after) is a prediction made before anything is
          created, and C(predicted=true) says so. Maps it reuses keep their figures; new and resized maps and
          every program are estimated from the object (new maps empty where their cost grows with their entries,
          migrated ones full, an upper bound). Both columns hold the prediction, since the kernel's own figure
          exists only once the objects do; on 6.4+ kernels the maps' figures are exact, programs within a page.
        - Maps shared with other collections (pinned by name) are left out of the collection's figures and
          counted once per host under C(shared_maps) (per map, its figures before and after the run and its
          C(users)) and C(shared) (their totals). The run that creates a shared map shows its cost there, one that
          joins an existing one a C(delta) of 0, the last one out a negative one.
      type: dict
      sample:
        collection: counter
        before: 26256
        after: 93824
        delta: 67568
        estimate: {before: 26256, after: 93824, delta: 67568}
        accounting: memcg-exact
        footprint: kernel
        kernel: 6.18.44
        rlimit_memlock: unlimited
        maps:
          packets_by_protocol: {before: 21520, after: 89088, delta: 67568,
                                estimate: {before: 21520, after: 89088, delta: 67568}}
        programs:
          count_packets: {before: 4096, after: 4096, delta: 0, estimate: {before: 4096, after: 4096, delta: 0}}
        shared_maps:
          shared_counts: {before: 0, after: 344, delta: 344, estimate: {before: 0, after: 344, delta: 344},
                          users: [counter]}
        shared: {before: 0, after: 344, delta: 344, estimate: {before: 0, after: 344, delta: 344}}
src_sent:
  description:
    - Whether this task sent I(src) to the host; C(false) when nothing changed or an earlier task of the run had
      sent the same object.
  returned: when I(src) is given
  type: bool
  sample: false
btf_cache:
  description: What the per-run kernel BTF cache did, when kernel BTF was needed.
  returned: when the object needed kernel BTF
  type: dict
  sample: {status: hit, size: 1077544, path: /run/ebpf_deploy/btf-cache/4242-10/vmlinux.5f1c2a9e0b7d.btfidx}
hint:
  description: How to fix the failure, when the module failed and knows.
  returned: failure
  type: str
verifier_log:
  description: The tail of the kernel verifier's log, when the verifier rejected a program.
  returned: failure
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import ARGUMENT_SPEC, Desired, ObjectNeeded
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shipped import shipped_object
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, VerifierError


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=[("state", "present", ("path", "src"), True)],
                           supports_check_mode=True)
    if module.params["state"] == "rolled_back":
        module.params["path"] = module.params["src"] = None   # the kept version needs no object
    p = module.params
    run_id = p["run_id"] or "adhoc-%d" % os.getpid()
    path = p["path"]
    shipped = None
    if p["src"]:
        if not p["object_sha256"]:
            module.fail_json(msg="src needs the ebpf.deploy.bpf_collection action plugin (run it as a task, not "
                                 "with a raw module call); on the host, use path")
        try:
            shipped = shipped_object(p["src"], p["object_sha256"], run_id, received=path)
        except LoaderError as e:
            module.fail_json(msg=str(e), hint=e.hint)
        path = shipped.path
    elif p["object_sha256"]:
        module.fail_json(msg="object_sha256 is internal to src; leave it unset")
    try:
        result = converge(Desired.from_params(p, path, run_id), check_mode=module.check_mode)
    except ObjectNeeded:
        # Only the digest came and the collection must change: nothing was
        # done; the action plugin sends the object and runs the task again.
        module.exit_json(changed=False, object_missing=True)
    except VerifierError as e:
        module.fail_json(msg=str(e.message), hint=e.hint, verifier_log=e.log_tail)
    except LoaderError as e:
        module.fail_json(msg=str(e), hint=e.hint)
    if shipped is not None:
        result["src_sent"] = p["path"] is not None
        result["warnings"] = shipped.warnings + result["warnings"]
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["ansible_facts"] = {"bpf_memlock": result.pop("bpf_memlock")}
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
