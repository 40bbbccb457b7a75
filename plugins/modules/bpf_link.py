#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_link
short_description: Attach programs of a deployed eBPF collection (XDP, tc, cgroup, tracing, uprobes, netfilter)
version_added: "0.1.0"
description:
  - Attaches a program of a collection deployed by M(ebpf.deploy.bpf_collection) and pins the resulting bpf_link in
    I(pin_root)/I(collection)/links, so the attachment outlives the task.
  - When M(ebpf.deploy.bpf_collection) later replaces the collection's programs, each link is re-pointed at the new
    program of the same name atomically with C(BPF_LINK_UPDATE), so every packet or event meets the old or the new
    program, never neither.
  - Idempotent. Already attached to the same program at the same point reports C(changed=false); a link that still
    runs an older program is updated in place.
  - Never replaces an XDP program that something else attached to the interface.
author:
  - ebpf.deploy contributors (@ebpf-deploy)
requirements:
  - pyroute2 on the host for tc through netlink (kernels before 6.6).
  - Linux 5.9 or later for XDP links, 6.6 or later for tc (tcx links), 5.15 or later for tracepoints, kprobes and
    uprobes (perf links), 5.7 or later for cgroup links, 6.4 or later for netfilter links (6.6 with I(defrag)).
attributes:
  check_mode:
    support: full
    description: Reports what would be attached, updated or detached and changes nothing.
  diff_mode:
    support: full
    description: Shows the link and the program id it runs before and after.
extends_documentation_fragment:
  - ebpf.deploy.pin_root
options:
  collection:
    description:
      - Name of the deployed collection (as given to M(ebpf.deploy.bpf_collection)).
      - Required unless I(program) names it as C(collection/program).
    type: str
  program:
    description:
      - Function name of the program in the collection, or C(collection/program) (the same shorthand as
        M(ebpf.deploy.bpf_map)'s I(map)).
      - Omit it with I(type=auto) to attach every program whose section names its target completely
        (tracepoints, kprobes, uprobes, raw tracepoints, fentry/fexit/lsm/tp_btf), as libbpf's auto-attach does.
        The others (a bare C(SEC("kprobe")) or C(SEC("uprobe")), XDP, tc and cgroup programs, kinds bpf_link does
        not attach yet such as kprobe.multi and uprobe.session) are left alone and listed in C(skipped).
      - Each link keeps a record of the one program and the resolved attach type and target it was made with.
        When M(ebpf.deploy.bpf_collection) replaces the collection, every link moves to the new program of the
        same name; a link that cannot (its program changed type) fails the upgrade before anything changes, and
        a failure while links move rolls the upgrade back. No version goes live with a link missing or on the
        wrong program.
    type: str
  type:
    description:
      - The attach type. C(auto) takes it, and the target, from the program's section name
        (C(kprobe/do_sys_openat2), C(tracepoint/syscalls/sys_enter_execve), C(uprobe/libc.so.6:malloc), C(xdp),
        C(tc/ingress), ...).
      - C(uprobe) and C(uretprobe) probe a function of a user-space executable or shared library (I(binary) with
        I(symbol) or I(offset)). Like the other perf-event links they cannot be re-pointed, so an upgrade of the
        collection makes them again, from their record, for the new program.
      - C(uprobe_multi) and C(uretprobe_multi) attach a program from a C(uprobe.multi) or C(uretprobe.multi)
        section to every function of I(binary) that the glob I(symbol) matches, through one uprobe_multi link
        (Linux 6.6+); the result's C(attach_point) names the functions. Such a program was loaded for that link
        type, so there is no single-uprobe fallback for it; on an older kernel the error says which release
        brought it. Give several single I(type=uprobe) links from a plain C(uprobe) program instead there.
      - C(netfilter) hooks a C(SEC("netfilter")) program into a netfilter hook (I(family), I(hook), I(priority)),
        in this network namespace or the one I(netns) names; the program's return value is the verdict
        (0 drop, 1 accept). The kernel can neither re-point such a link nor hold two BPF programs at one priority
        of a hook, so when the program changes (an upgrade of the collection, or this task naming another
        program) the hook is handed over. The new program goes in at a free neighbouring priority, the old link
        is detached, the new one goes in at I(priority), and the neighbour goes. Some packet may meet both
        programs meanwhile, none meets neither. This needs a free priority next to I(priority).
    type: str
    choices: [auto, xdp, tc, cgroup, tracepoint, kprobe, kretprobe, raw_tracepoint, fentry, fexit, fmod_ret, lsm,
              tp_btf, uprobe, uretprobe, uprobe_multi, uretprobe_multi, netfilter]
    default: auto
  interface:
    description: Network interface, for I(type=xdp) and I(type=tc).
    type: str
  direction:
    description: For I(type=tc); defaults to what the section says (C(tc/ingress)).
    type: str
    choices: [ingress, egress]
  mode:
    description: XDP mode; C(auto) lets the driver choose.
    type: str
    choices: [auto, skb, native, offload]
    default: auto
  cgroup:
    description: cgroup v2 directory, for I(type=cgroup); the hook is the program's expected attach type.
    type: path
  target:
    description:
      - Attach target where the section does not give one, or to override it. C(category/name) for tracepoints,
        C(function) or C(function+offset) for kprobes, the tracepoint name for raw tracepoints.
    type: str
  binary:
    description:
      - For I(type=uprobe) and I(type=uretprobe), the executable or shared library to probe. A path, or a name
        without C(/) looked up as libbpf does, a library (C(libc.so.6)) in C(LD_LIBRARY_PATH) and the library
        directories, a program in C(PATH).
      - Defaults to the C(BINARY) of a C(uprobe/BINARY:SYMBOL) section.
    type: str
  symbol:
    description:
      - For uprobes, the function to probe, looked up in the binary's C(.symtab) and C(.dynsym); its file offset
        comes from the executable segment that holds it (PIE, non-PIE and libraries alike). With I(offset) too,
        the probe goes that many bytes into the function.
      - For I(type=uprobe_multi) and I(type=uretprobe_multi), a name or a glob pattern (C(SSL_*)).
    type: str
  offset:
    description: For uprobes, the file offset to probe (without I(symbol)), or the offset into I(symbol).
    type: int
  pid:
    description:
      - For uprobes, count only this process's calls. The process must exist when the link is made, and when an
        upgrade of the collection makes the link again; once it has exited, that upgrade fails before the swap
        (detach the link first).
    type: int
  method:
    description:
      - How to attach tc programs. C(link) uses tcx links (Linux 6.6+); C(netlink) adds a clsact qdisc and a
        direct-action bpf filter (needs pyroute2 on the host); C(auto) takes tcx where the kernel has it.
      - A netlink filter is recorded beside the collection's links and is re-pointed (replaced atomically at the
        same priority and handle) when the collection is upgraded. Another tool's filter is never replaced, and
        the clsact qdisc is removed only when no filter is left on it.
    type: str
    choices: [auto, link, netlink]
    default: auto
  priority:
    description:
      - tc filter priority, for I(method=netlink).
      - For I(type=netfilter), the hook priority (netfilter's C(NF_IP_PRI_*) scale, lower runs first). Each
        priority of a hook holds one BPF program; C(-2147483648) and C(2147483647) are netfilter's own.
    type: int
    default: 1
  handle:
    description: tc filter handle, for I(method=netlink).
    type: int
    default: 1
  family:
    description: For I(type=netfilter), the protocol family whose hook the program joins.
    type: str
    choices: [ipv4, ipv6]
  hook:
    description: For I(type=netfilter), the hook (C(NF_INET_PRE_ROUTING) ... C(NF_INET_POST_ROUTING)).
    type: str
    choices: [prerouting, input, forward, output, postrouting]
  defrag:
    description: For I(type=netfilter), have the kernel reassemble IP fragments before the program runs (6.6+).
    type: bool
    default: false
  netns:
    description:
      - For I(type=netfilter), the network namespace whose hook it is, as a path (C(/run/netns/NAME) from
        C(ip netns), or C(/proc/PID/ns/net)); default the module's own. The link is made inside it, and made
        there again when an upgrade hands the hook over. The default link name then ends in the path's last part.
    type: path
  before:
    description:
      - For I(type=tc) as a tcx link (I(method=link), or I(method=auto) on Linux 6.6+), the place of the link in the
        chain of programs on I(interface) and I(direction), as libbpf's C(bpf_program__attach_tcx) options
        (C(BPF_F_BEFORE) with a relative link or program) give it. The programs of a chain run in turn while each
        returns C(TCX_NEXT); the first other verdict ends the chain.
      - C(first) puts the link at the head of the chain. Otherwise it names what the link goes before, a link
        (C(collection/link_name), or a link's pin path) or a program (C(collection/program), or a program's pin
        path) of any collection deployed under I(pin_root); a name without C(collection/) is one of this
        collection, a link name looked up before a program name. That link or program must be in the same chain.
      - A link anywhere before the one named is in place (C(changed=false)), as is one at the head for C(first).
        One out of place is moved, reported as C(action=move). A chain runs a program once and the kernel cannot
        move a link, so the link is detached and attached again where asked. Packets that arrive between the
        two system calls meet neither program. A failed attach puts the program back where it was.
      - The place is kept in the link's record. An upgrade of the collection re-points the link in place
        (C(BPF_LINK_UPDATE)), which keeps its place. The chain is read with C(BPF_PROG_QUERY), and a new link is
        attached only if the chain is still as read then (its revision).
      - Mutually exclusive with I(after). Refused for other types and with I(method=netlink), which orders
        filters by I(priority) instead, and on kernels before 6.6.
    type: str
  after:
    description:
      - As I(before), for the place after the link or program named, or C(last), the tail of the chain (where a
        link without I(before) or I(after) goes when attached). A link at the tail stops being C(last) when
        another is attached after it, and is moved back when this task runs again.
    type: str
  name:
    description: Name of the link's pin; default C(<program>__<type>_<target>).
    type: str
  state:
    description: C(present) attaches; C(absent) detaches.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: ebpf.deploy.bpf_collection
"""

EXAMPLES = r"""
- name: Count packets on eth0 with the example collection's XDP program
  ebpf.deploy.bpf_link:
    collection: counter
    program: count_packets
    type: xdp
    interface: eth0

- name: Attach every tracing program of a collection where its section says
  ebpf.deploy.bpf_link:
    collection: tracer
    type: auto

- name: Probe a function of a PIE executable, and its returns
  ebpf.deploy.bpf_link:
    collection: tracer
    program: "{{ item }}"
    type: "{{ 'uretprobe' if item.endswith('_return') else 'uprobe' }}"
    binary: /usr/sbin/nginx
    symbol: ngx_http_process_request
  loop: [on_request, on_request_return]

- name: One uprobe_multi link on every SSL_read* function of libssl (a uprobe.multi program)
  ebpf.deploy.bpf_link:
    collection: tls_tracer
    program: on_ssl_io
    type: uprobe_multi
    binary: libssl.so.3
    symbol: "SSL_read*"

- name: Probe a libc function by library name, for one process only
  ebpf.deploy.bpf_link:
    collection: tracer
    program: on_malloc
    type: uprobe
    binary: libc.so.6
    symbol: malloc
    pid: "{{ app_pid }}"

- name: Drop or accept each IPv4 packet a container receives (a netfilter program)
  ebpf.deploy.bpf_link:
    collection: firewall
    program: nf_filter
    type: netfilter
    family: ipv4
    hook: input
    priority: -100
    netns: /run/netns/web

- name: Count every packet eth0 receives before the firewall collection's tc program may drop it
  ebpf.deploy.bpf_link:
    collection: counter
    program: count_tc
    type: tc
    interface: eth0
    direction: ingress
    before: firewall/filter_in__tc_eth0_ingress

- name: Detach
  ebpf.deploy.bpf_link:
    collection: counter
    program: count_packets
    type: xdp
    interface: eth0
    state: absent
"""

RETURN = r"""
links:
  description: One entry per program attached (or detached).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The link's pin name.
      type: str
    pin:
      description: Path of the pinned link.
      type: str
    link_id:
      description: Kernel id of the link.
      type: int
    type:
      description: Attach type used.
      type: str
    attach_point:
      description: Where the program is attached, in words.
      type: str
    program:
      description: Program name.
      type: str
    program_id:
      description: Kernel id of the program the link runs.
      type: int
    program_tag:
      description: Tag of that program.
      type: str
    action:
      description: C(attach), C(update), C(replace), C(move) (a tcx link out of its I(before)/I(after) place),
        C(detach) or C(none).
      type: str
    warning:
      description:
        - Only for a C(detach) whose link another process still holds open (an fd of it), which keeps it running
          until that process lets go. Otherwise the task returns once the kernel has released the link.
      type: str
      returned: when it applies
  sample:
    - name: count_packets__xdp_eth0
      pin: /sys/fs/bpf/ebpf_deploy/counter/links/count_packets__xdp_eth0
      link_id: 12
      type: xdp
      attach_point: xdp on eth0 (auto)
      program: count_packets
      program_id: 240
      program_tag: f0436965e8747fa0
      action: attach
skipped:
  description: With I(type=auto) and no I(program), the programs left alone and why.
  returned: when some were skipped
  type: list
  elements: dict
  contains:
    program:
      description: Program name.
      type: str
    section:
      description: Its section name.
      type: str
    reason:
      description: Why auto does not attach it.
      type: str
  sample:
    - program: kp_bare
      section: kprobe
      reason: its section names no kprobe target
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import ARGUMENT_SPEC, LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.module_run import converge_and_exit
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.netlink_tc import (
    MissingPyroute2, PYROUTE2_IMPORT_ERROR)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def converge():
        try:
            return converge_link(LinkRequest.from_params(module.params), check_mode=module.check_mode)
        except MissingPyroute2:
            module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_IMPORT_ERROR)

    converge_and_exit(module, converge)


if __name__ == "__main__":
    main()
