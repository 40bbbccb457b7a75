# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for plugins/module_utils/loader/sections.py.

The expectations restate libbpf's ``section_defs`` (src/libbpf.c) and
docs/program_types.rst; every table entry is exercised at least once
(test_every_entry_is_exercised keeps it that way).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi as u
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.sections import (
    SECTION_DEFS, classify, find_section_def, suggest_sections)

# One case a line: section name, prog type (BPF_PROG_TYPE_ dropped), expected
# attach type (BPF_ dropped), sleepable, attach target; "-" is None.
_CASE_TABLE = """
socket                SOCKET_FILTER  -                               no  -
sk_reuseport/migrate  SK_REUSEPORT   SK_REUSEPORT_SELECT_OR_MIGRATE  no  -
sk_reuseport          SK_REUSEPORT   SK_REUSEPORT_SELECT             no  -

kprobe/do_unlinkat                       KPROBE  -                     no   do_unlinkat
kprobe/tcp_v4_connect+0x10               KPROBE  -                     no   tcp_v4_connect+0x10
kprobe                                   KPROBE  -                     no   -
uprobe//usr/lib/libc.so.6:malloc         KPROBE  -                     no   /usr/lib/libc.so.6:malloc
uprobe                                   KPROBE  -                     no   -
uprobe.s/bin/bash:readline               KPROBE  -                     yes  bin/bash:readline
kretprobe/do_unlinkat                    KPROBE  -                     no   do_unlinkat
kretprobe                                KPROBE  -                     no   -
uretprobe//bin/bash:readline             KPROBE  -                     no   /bin/bash:readline
uretprobe.s//bin/bash:readline           KPROBE  -                     yes  /bin/bash:readline
kprobe.multi/tcp_*                       KPROBE  TRACE_KPROBE_MULTI    no   tcp_*
kprobe.multi                             KPROBE  TRACE_KPROBE_MULTI    no   -
kretprobe.multi/vfs_*                    KPROBE  TRACE_KPROBE_MULTI    no   vfs_*
kprobe.session/bpf_fentry_test?          KPROBE  TRACE_KPROBE_SESSION  no   bpf_fentry_test?
uprobe.multi//usr/lib/libc.so.6:str*     KPROBE  TRACE_UPROBE_MULTI    no   /usr/lib/libc.so.6:str*
uretprobe.multi//usr/lib/libc.so.6:str*  KPROBE  TRACE_UPROBE_MULTI    no   /usr/lib/libc.so.6:str*
uprobe.session//bin/true:main            KPROBE  TRACE_UPROBE_SESSION  no   /bin/true:main
uprobe.multi.s//bin/true:m*              KPROBE  TRACE_UPROBE_MULTI    yes  /bin/true:m*
uretprobe.multi.s//bin/true:m*           KPROBE  TRACE_UPROBE_MULTI    yes  /bin/true:m*
uprobe.session.s//bin/true:main          KPROBE  TRACE_UPROBE_SESSION  yes  /bin/true:main
ksyscall/openat                          KPROBE  -                     no   openat
kretsyscall/openat                       KPROBE  -                     no   openat

usdt//usr/lib/libc.so.6:libc:setjmp             KPROBE  -  no   /usr/lib/libc.so.6:libc:setjmp
usdt.s//usr/bin/python3:python:function__entry  KPROBE  -  yes  /usr/bin/python3:python:function__entry

tc/ingress      SCHED_CLS  TCX_INGRESS     no  -
tc/egress       SCHED_CLS  TCX_EGRESS      no  -
tcx/ingress     SCHED_CLS  TCX_INGRESS     no  -
tcx/egress      SCHED_CLS  TCX_EGRESS      no  -
tc              SCHED_CLS  -               no  -
classifier      SCHED_CLS  -               no  -
action          SCHED_ACT  -               no  -
netkit/primary  SCHED_CLS  NETKIT_PRIMARY  no  -
netkit/peer     SCHED_CLS  NETKIT_PEER     no  -

tracepoint/syscalls/sys_enter_openat    TRACEPOINT               -  no   syscalls/sys_enter_openat
tp/sched/sched_switch                   TRACEPOINT               -  no   sched/sched_switch
tracepoint.s/syscalls/sys_enter_openat  TRACEPOINT               -  yes  syscalls/sys_enter_openat
tp.s/syscalls/sys_enter_openat          TRACEPOINT               -  yes  syscalls/sys_enter_openat
raw_tracepoint/sched_switch             RAW_TRACEPOINT           -  no   sched_switch
raw_tp/sys_enter                        RAW_TRACEPOINT           -  no   sys_enter
raw_tracepoint.s/sys_enter              RAW_TRACEPOINT           -  yes  sys_enter
raw_tp.s/sys_enter                      RAW_TRACEPOINT           -  yes  sys_enter
raw_tracepoint.w/bpf_test_finish        RAW_TRACEPOINT_WRITABLE  -  no   bpf_test_finish
raw_tp.w/bpf_test_finish                RAW_TRACEPOINT_WRITABLE  -  no   bpf_test_finish

tp_btf/sched_switch                TRACING  TRACE_RAW_TP          no   sched_switch
tp_btf.s/sys_enter                 TRACING  TRACE_RAW_TP          yes  sys_enter
fentry/do_unlinkat                 TRACING  TRACE_FENTRY          no   do_unlinkat
fentry                             TRACING  TRACE_FENTRY          no   -
fmod_ret/security_file_open        TRACING  MODIFY_RETURN         no   security_file_open
fexit/do_unlinkat                  TRACING  TRACE_FEXIT           no   do_unlinkat
fentry.s/__x64_sys_openat          TRACING  TRACE_FENTRY          yes  __x64_sys_openat
fmod_ret.s/bpf_modify_return_test  TRACING  MODIFY_RETURN         yes  bpf_modify_return_test
fexit.s/__x64_sys_openat           TRACING  TRACE_FEXIT           yes  __x64_sys_openat
fsession/do_unlinkat               TRACING  TRACE_FSESSION        no   do_unlinkat
fsession.s/do_unlinkat             TRACING  TRACE_FSESSION        yes  do_unlinkat
fsession.multi/bpf_fentry_test*    TRACING  TRACE_FSESSION_MULTI  no   bpf_fentry_test*
fsession.multi.s/bpf_fentry_test*  TRACING  TRACE_FSESSION_MULTI  yes  bpf_fentry_test*
fentry.multi/vfs_*                 TRACING  TRACE_FENTRY_MULTI    no   vfs_*
fexit.multi/vfs_*                  TRACING  TRACE_FEXIT_MULTI     no   vfs_*
fentry.multi.s/vfs_*               TRACING  TRACE_FENTRY_MULTI    yes  vfs_*
fexit.multi.s/vfs_*                TRACING  TRACE_FEXIT_MULTI     yes  vfs_*
freplace/handle_packet             EXT      -                     no   handle_packet
lsm/file_open                      LSM      LSM_MAC               no   file_open
lsm.s/bprm_committed_creds         LSM      LSM_MAC               yes  bprm_committed_creds
lsm_cgroup/socket_bind             LSM      LSM_CGROUP            no   socket_bind
iter/task                          TRACING  TRACE_ITER            no   task
iter.s/task_vma                    TRACING  TRACE_ITER            yes  task_vma
syscall                            SYSCALL  -                     yes  -

xdp.frags/devmap       XDP             XDP_DEVMAP             no  -
xdp/devmap             XDP             XDP_DEVMAP             no  -
xdp.frags/cpumap       XDP             XDP_CPUMAP             no  -
xdp/cpumap             XDP             XDP_CPUMAP             no  -
xdp.frags              XDP             XDP                    no  -
xdp                    XDP             XDP                    no  -
perf_event             PERF_EVENT      -                      no  -
lwt_in                 LWT_IN          -                      no  -
lwt_out                LWT_OUT         -                      no  -
lwt_xmit               LWT_XMIT        -                      no  -
lwt_seg6local          LWT_SEG6LOCAL   -                      no  -
sockops                SOCK_OPS        CGROUP_SOCK_OPS        no  -
sk_skb/stream_parser   SK_SKB          SK_SKB_STREAM_PARSER   no  -
sk_skb/stream_verdict  SK_SKB          SK_SKB_STREAM_VERDICT  no  -
sk_skb/verdict         SK_SKB          SK_SKB_VERDICT         no  -
sk_skb                 SK_SKB          -                      no  -
sk_msg                 SK_MSG          SK_MSG_VERDICT         no  -
lirc_mode2             LIRC_MODE2      LIRC_MODE2             no  -
flow_dissector         FLOW_DISSECTOR  FLOW_DISSECTOR         no  -

cgroup_skb/ingress       CGROUP_SKB        CGROUP_INET_INGRESS       no   -
cgroup_skb/egress        CGROUP_SKB        CGROUP_INET_EGRESS        no   -
cgroup/skb               CGROUP_SKB        -                         no   -
cgroup/sock_create       CGROUP_SOCK       CGROUP_INET_SOCK_CREATE   no   -
cgroup/sock_release      CGROUP_SOCK       CGROUP_INET_SOCK_RELEASE  no   -
cgroup/sock              CGROUP_SOCK       CGROUP_INET_SOCK_CREATE   no   -
cgroup/post_bind4        CGROUP_SOCK       CGROUP_INET4_POST_BIND    no   -
cgroup/post_bind6        CGROUP_SOCK       CGROUP_INET6_POST_BIND    no   -
cgroup/bind4             CGROUP_SOCK_ADDR  CGROUP_INET4_BIND         no   -
cgroup/bind6             CGROUP_SOCK_ADDR  CGROUP_INET6_BIND         no   -
cgroup/connect4          CGROUP_SOCK_ADDR  CGROUP_INET4_CONNECT      no   -
cgroup/connect6          CGROUP_SOCK_ADDR  CGROUP_INET6_CONNECT      no   -
cgroup/connect_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_CONNECT       no   -
cgroup/sendmsg4          CGROUP_SOCK_ADDR  CGROUP_UDP4_SENDMSG       no   -
cgroup/sendmsg6          CGROUP_SOCK_ADDR  CGROUP_UDP6_SENDMSG       no   -
cgroup/sendmsg_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_SENDMSG       no   -
cgroup/recvmsg4          CGROUP_SOCK_ADDR  CGROUP_UDP4_RECVMSG       no   -
cgroup/recvmsg6          CGROUP_SOCK_ADDR  CGROUP_UDP6_RECVMSG       no   -
cgroup/recvmsg_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_RECVMSG       no   -
cgroup/getpeername4      CGROUP_SOCK_ADDR  CGROUP_INET4_GETPEERNAME  no   -
cgroup/getpeername6      CGROUP_SOCK_ADDR  CGROUP_INET6_GETPEERNAME  no   -
cgroup/getpeername_unix  CGROUP_SOCK_ADDR  CGROUP_UNIX_GETPEERNAME   no   -
cgroup/getsockname4      CGROUP_SOCK_ADDR  CGROUP_INET4_GETSOCKNAME  no   -
cgroup/getsockname6      CGROUP_SOCK_ADDR  CGROUP_INET6_GETSOCKNAME  no   -
cgroup/getsockname_unix  CGROUP_SOCK_ADDR  CGROUP_UNIX_GETSOCKNAME   no   -
cgroup/sysctl            CGROUP_SYSCTL     CGROUP_SYSCTL             no   -
cgroup/getsockopt        CGROUP_SOCKOPT    CGROUP_GETSOCKOPT         no   -
cgroup/setsockopt        CGROUP_SOCKOPT    CGROUP_SETSOCKOPT         no   -
cgroup/dev               CGROUP_DEVICE     CGROUP_DEVICE             no   -
struct_ops/tcp_init      STRUCT_OPS        -                         no   tcp_init
struct_ops               STRUCT_OPS        -                         no   -
struct_ops.s/init        STRUCT_OPS        -                         yes  init
sk_lookup                SK_LOOKUP         SK_LOOKUP                 no   -
netfilter                NETFILTER         NETFILTER                 no   -
"""


def _cases(table):
    def none(cell):
        return None if cell == "-" else cell
    cases = []
    for line in table.splitlines():
        if line:
            name, prog_type, attach_type, sleepable, target = line.split()
            cases.append((name, getattr(u, "BPF_PROG_TYPE_" + prog_type),
                          none(attach_type) and getattr(u, "BPF_" + attach_type),
                          none(target), {"yes": True, "no": False}[sleepable]))
    return cases


# (section name, prog type, expected attach type, attach target, sleepable)
CASES = _cases(_CASE_TABLE)


@pytest.mark.parametrize("name, prog_type, attach_type, target, sleepable",
                         CASES, ids=[c[0] for c in CASES])
def test_classify(name, prog_type, attach_type, target, sleepable):
    kind = classify(name)
    assert kind.prog_type == prog_type
    assert kind.expected_attach_type == attach_type
    assert kind.attach_target == target
    assert kind.sleepable is sleepable
    assert kind.section_name == name
    assert kind.autoload is True
    assert (kind.prog_flags & u.BPF_F_SLEEPABLE != 0) is sleepable


def test_every_entry_is_exercised():
    matched = set(classify(case[0]).section_def for case in CASES)
    assert matched == set(d.pattern for d in SECTION_DEFS)


def test_patterns_are_unique():
    patterns = [d.pattern for d in SECTION_DEFS]
    assert len(patterns) == len(set(patterns))


@pytest.mark.parametrize("sec_def", SECTION_DEFS,
                         ids=[d.pattern for d in SECTION_DEFS])
def test_no_entry_is_shadowed(sec_def):
    # The bare name of each entry must land on that entry, not on an
    # earlier, looser one.
    bare = sec_def.prefix if sec_def.match != "prefix" else sec_def.pattern + "x"
    assert find_section_def(bare) is sec_def


@pytest.mark.parametrize("name, section_def", [
    ("xdp.frags/devmap", "xdp.frags/devmap"),
    ("xdp.frags", "xdp.frags"),
    ("xdp/devmap", "xdp/devmap"),
    ("sk_reuseport/migrate", "sk_reuseport/migrate"),
    ("kprobe.multi/x", "kprobe.multi+"),
    ("kprobe/x", "kprobe+"),
    ("uprobe.multi.s//bin/x:y", "uprobe.multi.s+"),
    ("fentry.multi.s/x", "fentry.multi.s+"),
    ("raw_tp.w/x", "raw_tp.w+"),
    ("lsm_cgroup/x", "lsm_cgroup+"),
    ("cgroup/sock_create", "cgroup/sock_create"),
    ("cgroup/sock", "cgroup/sock"),
])
def test_matched_pattern(name, section_def):
    assert classify(name).section_def == section_def


@pytest.mark.parametrize("name, frags", [
    ("xdp", False), ("xdp.frags", True), ("xdp/devmap", False),
    ("xdp.frags/devmap", True), ("xdp/cpumap", False),
    ("xdp.frags/cpumap", True), ("tc", False),
])
def test_xdp_frags(name, frags):
    kind = classify(name)
    assert kind.xdp_frags is frags
    assert (kind.prog_flags & u.BPF_F_XDP_HAS_FRAGS != 0) is frags


@pytest.mark.parametrize(
    "name, source, btf_name, btf_module, btf_kind", [
        ("fentry/do_unlinkat", "kernel", "do_unlinkat", None, "func"),
        ("fexit.s/nf_conntrack:nf_ct_delete", "kernel", "nf_ct_delete",
         "nf_conntrack", "func"),
        ("fmod_ret/security_file_open", "kernel", "security_file_open", None,
         "func"),
        ("fsession/do_unlinkat", "kernel", "do_unlinkat", None, "func"),
        ("tp_btf/sched_switch", "kernel", "btf_trace_sched_switch", None,
         "typedef"),
        ("lsm/file_open", "kernel", "bpf_lsm_file_open", None, "func"),
        ("lsm.s/file_open", "kernel", "bpf_lsm_file_open", None, "func"),
        ("lsm_cgroup/socket_bind", "kernel", "bpf_lsm_socket_bind", None,
         "func"),
        ("iter/task", "kernel", "bpf_iter_task", None, "func"),
        ("iter.s/bpf_map_elem", "kernel", "bpf_iter_bpf_map_elem", None,
         "func"),
        ("fentry", "kernel", None, None, None),
        ("freplace/handle", "program", "handle", None, "func"),
        ("struct_ops/init", "struct_ops", None, None, None),
        ("struct_ops.s", "struct_ops", None, None, None),
    ])
def test_btf_attach(name, source, btf_name, btf_module, btf_kind):
    kind = classify(name)
    assert kind.btf_attach is True
    assert kind.btf_source == source
    assert kind.btf_name == btf_name
    assert kind.btf_module == btf_module
    assert kind.btf_kind == btf_kind


@pytest.mark.parametrize("name", [
    "kprobe/x", "kprobe.multi/x", "tracepoint/a/b", "raw_tp/x",
    "fentry.multi/x", "xdp", "tcx/ingress", "cgroup/connect4", "socket",
    "usdt//bin/x:p:n", "syscall",
])
def test_no_btf_attach(name):
    kind = classify(name)
    assert kind.btf_attach is False
    assert kind.btf_source is None
    assert kind.btf_name is None


@pytest.mark.parametrize("name, attach_kind", [
    ("xdp", "xdp"), ("xdp.frags", "xdp"), ("xdp/devmap", None),
    ("tc/ingress", "tcx"), ("tcx/egress", "tcx"), ("tc", "tc"),
    ("classifier", "tc"), ("action", None), ("netkit/peer", "netkit"),
    ("cgroup_skb/egress", "cgroup"), ("cgroup/connect4", "cgroup"),
    ("sockops", "cgroup"), ("lsm_cgroup/socket_bind", "cgroup"),
    ("tp/a/b", "tracepoint"), ("raw_tp/x", "raw_tracepoint"),
    ("raw_tp.w/x", "raw_tracepoint"),
    ("kprobe/x", "kprobe"), ("kretprobe/x", "kretprobe"),
    ("uprobe//bin/x:f", "uprobe"), ("uretprobe.s//bin/x:f", "uretprobe"),
    ("kprobe.multi/x", "kprobe_multi"), ("kretprobe.multi/x", "kretprobe_multi"),
    ("kprobe.session/x", "kprobe_session"),
    ("uprobe.multi//bin/x:f", "uprobe_multi"),
    ("uprobe.session//bin/x:f", "uprobe_session"),
    ("ksyscall/openat", "ksyscall"), ("kretsyscall/openat", "kretsyscall"),
    ("usdt//bin/x:p:n", "usdt"),
    ("fentry/f", "fentry"), ("fexit/f", "fexit"), ("fmod_ret/f", "fmod_ret"),
    ("fsession/f", "fsession"), ("fentry.multi/f*", "fentry_multi"),
    ("freplace/f", "freplace"), ("lsm/file_open", "lsm"),
    ("tp_btf/sched_switch", "tp_btf"), ("iter/task", "iter"),
    ("socket", "socket"), ("sk_reuseport", "sk_reuseport"),
    ("sk_skb/verdict", "sk_skb"), ("sk_skb", None), ("sk_msg", "sk_msg"),
    ("flow_dissector", "netns"), ("sk_lookup", "netns"),
    ("lirc_mode2", "lirc_mode2"), ("perf_event", "perf_event"),
    ("netfilter", "netfilter"), ("lwt_xmit", None), ("syscall", None),
    ("struct_ops/x", None),
])
def test_attach_kind(name, attach_kind):
    assert classify(name).attach_kind == attach_kind


@pytest.mark.parametrize("name, target_kind", [
    ("kprobe/x", "kprobe"), ("kprobe.multi/x", "kprobe_glob"),
    ("uprobe//b:f", "uprobe"), ("uprobe.multi//b:f", "uprobe_glob"),
    ("ksyscall/x", "syscall"), ("usdt//b:p:n", "usdt"),
    ("tp/a/b", "tracepoint"), ("raw_tp/x", "raw_tracepoint"),
    ("tp_btf/x", "btf_tracepoint"), ("fentry/x", "btf_func"),
    ("fexit.multi/x", "btf_func_glob"), ("freplace/x", "prog_func"),
    ("lsm/x", "lsm_hook"), ("iter/x", "iter"), ("struct_ops/x", "struct_ops"),
    ("xdp", None), ("cgroup/dev", None),
])
def test_target_kind(name, target_kind):
    assert classify(name).target_kind == target_kind


@pytest.mark.parametrize("name, optional", [
    ("xdp", True), ("xdp.frags", False), ("sockops", True),
    ("sk_skb/stream_parser", True), ("sk_msg", True), ("lirc_mode2", True),
    ("flow_dissector", True), ("cgroup_skb/ingress", True),
    ("cgroup/sock", True), ("cgroup/sock_create", False), ("cgroup/dev", True),
    ("cgroup/connect4", False), ("tcx/ingress", False),
])
def test_attach_type_optional(name, optional):
    assert classify(name).attach_type_optional is optional


def test_question_mark_means_no_autoload():
    kind = classify("?kprobe/do_unlinkat")
    assert kind.autoload is False
    assert kind.section_name == "kprobe/do_unlinkat"
    assert kind.attach_target == "do_unlinkat"
    assert kind.prog_type == u.BPF_PROG_TYPE_KPROBE


def test_bytes_name_is_accepted():
    assert classify(b"xdp").prog_type == u.BPF_PROG_TYPE_XDP


def test_empty_argument_is_no_target():
    # libbpf matches "kprobe/" via kprobe+ but has nothing to attach to.
    assert classify("kprobe/").attach_target is None


def test_target_keeps_later_slashes():
    assert classify("tp/net/netif_receive_skb").attach_target == \
        "net/netif_receive_skb"


def test_names():
    kind = classify("tcx/ingress")
    assert kind.prog_type_name == "sched_cls"
    assert kind.attach_type_name == "tcx_ingress"
    assert classify("kprobe/x").attach_type_name is None


@pytest.mark.parametrize("name", [
    "xdpfoo",            # no '/' separator after the 'xdp' prefix
    "foo/bar",
    "foo",
    "",
    "?",
    "socket_filter",
    "tcx",
    "tcx/ingressx",
    "kprobex",
    "kprobe.multix/x",
    "kprobe.multi.s/x",
    "fentry.ss/x",
    "tracepointx/a/b",
    "cgroup/connect4/x",
    "cgroup/skbx",
    "cgroup",
    "cgroup_skb",
    "lsm_cgroupx/x",
    "netkit",
    "XDP",
    " xdp",
    ".text",
    "license",
    ".maps",
])
def test_unknown_sections_raise(name):
    with pytest.raises(SpecError) as info:
        classify(name)
    assert "section '%s'" % name in str(info.value)
    assert info.value.hint
    assert info.value.details["section"] == name


@pytest.mark.parametrize("name, expected", [
    ("xdpfoo", "xdp"),
    ("kprob/x", "kprobe[/<function>[+<offset>]]"),
    ("fentr/x", "fentry[/[<module>:]<function>]"),
    ("cgroup/connect", "cgroup/connect4"),
    ("tcx", "tcx/ingress"),
])
def test_unknown_section_suggestions(name, expected):
    with pytest.raises(SpecError) as info:
        classify(name)
    assert expected in info.value.details["suggestions"]
    assert expected in str(info.value)
    assert expected in suggest_sections(name)


@pytest.mark.parametrize("name, prog_type", [
    ("xdp/foo", u.BPF_PROG_TYPE_XDP),
    ("xdp.frags/foo", u.BPF_PROG_TYPE_XDP),
    ("socket/2", u.BPF_PROG_TYPE_SOCKET_FILTER),
    ("tc/foo", u.BPF_PROG_TYPE_SCHED_CLS),
    ("sk_lookup/", u.BPF_PROG_TYPE_SK_LOOKUP),
    ("sk_skb/parser", u.BPF_PROG_TYPE_SK_SKB),
])
def test_legacy_label_after_exact_name(name, prog_type):
    # libbpf 0.x and cilium/ebpf read 'type/label' as 'type'; the label is
    # not an attach argument.
    kind = classify(name)
    assert kind.prog_type == prog_type
    assert kind.attach_target is None


def test_unrelated_name_has_no_suggestions():
    with pytest.raises(SpecError) as info:
        classify("zzzzzz")
    assert info.value.details["suggestions"] == []
    assert "closest known" not in str(info.value)


def test_required_argument_pattern():
    # libbpf's third form ("name/": argument required) has no row today but
    # custom handlers and older tables use it; keep the rule working.
    from ansible_collections.ebpf.deploy.plugins.module_utils.loader import sections

    sec_def = sections._def("custom/", u.BPF_PROG_TYPE_KPROBE, None, "kprobe",
                            "kprobe")
    assert sec_def.match == sections.MATCH_PREFIX
    assert sec_def.matches("custom/x")
    assert sec_def.argument("custom/x") == "x"
    assert sec_def.matches("custom/")
    assert sec_def.argument("custom/") is None
    assert not sec_def.matches("custom")
    assert not sec_def.matches("customx/y")
    assert sec_def.display() == "custom/<function>[+<offset>]"
