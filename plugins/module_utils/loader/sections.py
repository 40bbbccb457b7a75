# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ELF section names of eBPF programs, the way libbpf reads them.

``clang`` puts each ``SEC("...")`` function into an ELF section of that
name, and that name is the only place an object says what a program is:
its program type, the attach type the verifier must assume, sleepability,
XDP multi-buffer support and, for most tracing programs, where it attaches.
Objects in the wild are written for libbpf, so this module reproduces
libbpf's table (``section_defs`` in ``src/libbpf.c``) and its matching
rules, entry for entry and in the same order:

* ``name``   -- the section must be exactly ``name``;
* ``name+``  -- exactly ``name``, or ``name/<argument>``;
* ``name/``  -- ``name/`` followed by anything (the argument is required).

The first entry that matches wins, which is why ``xdp.frags/devmap`` comes
before ``xdp.frags`` and ``sk_reuseport/migrate`` before ``sk_reuseport``.
A leading ``?`` (libbpf: "do not load unless asked") is stripped first and
reported as ``autoload=False``.

``classify(name)`` returns a ProgramKind; unknown names raise SpecError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
from collections import namedtuple

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi


# How a table entry's pattern is compared with a section name.
MATCH_EXACT = "exact"
MATCH_OPTIONAL_ARG = "optional_arg"
MATCH_PREFIX = "prefix"

# Where the BTF id that some program types must carry at load
# (attach_btf_id) is looked up.
BTF_SOURCE_KERNEL = "kernel"          # vmlinux or module BTF, by name
BTF_SOURCE_PROGRAM = "program"        # BTF of the program being replaced
BTF_SOURCE_STRUCT_OPS = "struct_ops"  # the struct type of a .struct_ops map

# The kernel registers some BTF attach targets under a prefixed name, so
# "tp_btf/sched_switch" must be looked up as the typedef
# "btf_trace_sched_switch" and "lsm/file_open" as "bpf_lsm_file_open".
_BTF_NAME_RULES = {
    uapi.BPF_TRACE_RAW_TP: ("btf_trace_", "typedef"),
    uapi.BPF_LSM_MAC: ("bpf_lsm_", "func"),
    uapi.BPF_LSM_CGROUP: ("bpf_lsm_", "func"),
    uapi.BPF_TRACE_ITER: ("bpf_iter_", "func"),
}

# What the text after '/' means, per target kind: shown in error messages
# and documentation so users see the form libbpf expects.
TARGET_FORMS = {
    "kprobe": "<function>[+<offset>]",
    "kprobe_glob": "<pattern>",
    "uprobe": "<path>:<function>[+<offset>]",
    "uprobe_glob": "<path>:<pattern>",
    "syscall": "<syscall>",
    "usdt": "<path>:<provider>:<name>",
    "tracepoint": "<category>/<name>",
    "raw_tracepoint": "<tracepoint>",
    "btf_tracepoint": "<tracepoint>",
    "btf_func": "[<module>:]<function>",
    "btf_func_glob": "<pattern>",
    "prog_func": "<function>",
    "lsm_hook": "<hook>",
    "iter": "<target>",
    "struct_ops": "<name>",
}


class SectionDef(namedtuple("SectionDef", [
        "pattern", "prefix", "match", "prog_type", "expected_attach_type",
        "sleepable", "xdp_frags", "btf_source", "attach_type_optional",
        "attach_kind", "target_kind"])):
    """One row of the section table.

    ``pattern`` is libbpf's spelling (``kprobe+``), ``prefix`` the same
    without the match marker. ``expected_attach_type`` is None where libbpf
    leaves it 0 meaning "none" (0 is also BPF_CGROUP_INET_INGRESS, which
    ``cgroup_skb/ingress`` does mean). ``attach_type_optional`` marks types
    libbpf drops on kernels that predate expected_attach_type (4.17).
    ``attach_kind`` names the attach mechanism for the attach layer (None:
    the program is only loaded, e.g. used through a map or by hand);
    ``target_kind`` says what the text after '/' means (see TARGET_FORMS),
    None when the entry takes no argument.
    """

    __slots__ = ()

    @property
    def btf_attach(self):
        return self.btf_source is not None

    def matches(self, name):
        """libbpf's sec_def_matches() for this entry."""
        if self.match == MATCH_PREFIX:
            return name.startswith(self.pattern)
        if self.match == MATCH_OPTIONAL_ARG:
            if not name.startswith(self.prefix):
                return False
            rest = name[len(self.prefix):]
            return rest == "" or rest.startswith("/")
        return name == self.pattern

    def argument(self, name):
        """The attach argument carried by ``name`` (None if none or empty)."""
        if self.match == MATCH_EXACT:
            return None
        if self.match == MATCH_PREFIX:
            rest = name[len(self.pattern):]
        else:
            rest = name[len(self.prefix) + 1:]
        return rest or None

    def display(self):
        """The pattern written the way a user would write a section."""
        if self.match == MATCH_EXACT:
            return self.prefix
        form = TARGET_FORMS.get(self.target_kind, "<argument>")
        if self.match == MATCH_PREFIX:
            return "%s%s" % (self.pattern, form)
        return "%s[/%s]" % (self.prefix, form)


def _def(pattern, prog_type, attach_type, attach_kind, target=None,
         sleepable=False, frags=False, btf=None, optional=False):
    if pattern.endswith("+"):
        prefix, match = pattern[:-1], MATCH_OPTIONAL_ARG
    elif pattern.endswith("/"):
        prefix, match = pattern, MATCH_PREFIX
    else:
        prefix, match = pattern, MATCH_EXACT
    return SectionDef(pattern, prefix, match, prog_type, attach_type,
                      sleepable, frags, btf, optional, attach_kind, target)


def _rows(table):
    """SectionDefs of the table's lines (``#`` lines and blank ones skipped)."""
    def none(cell):
        return None if cell == "-" else cell
    defs = []
    for line in table.splitlines():
        if line and not line.startswith("#"):
            pattern, prog_type, attach_type, attach_kind, target, flags = line.split()
            flags = dict(f.partition("=")[::2] for f in flags.split(",") if f != "-")
            defs.append(_def(pattern, getattr(uapi, "BPF_PROG_TYPE_" + prog_type),
                             none(attach_type) and getattr(uapi, "BPF_" + attach_type), none(attach_kind),
                             none(target), sleepable="sleepable" in flags, frags="frags" in flags,
                             btf=flags.get("btf"), optional="optional" in flags))
    return tuple(defs)


# Same rows, same order as libbpf's section_defs. One entry a line: the
# pattern (a trailing '+': an optional '/argument'; a trailing '/': a
# required one), the prog type (BPF_PROG_TYPE_ dropped), the expected
# attach type (BPF_ dropped), the attach kind, the target kind, and flags:
# sleepable, frags, optional, btf=<BTF_SOURCE_* value>. "-" is none.
SECTION_DEFS = _rows("""
socket                SOCKET_FILTER  -                               socket        -  -
sk_reuseport/migrate  SK_REUSEPORT   SK_REUSEPORT_SELECT_OR_MIGRATE  sk_reuseport  -  -
sk_reuseport          SK_REUSEPORT   SK_REUSEPORT_SELECT             sk_reuseport  -  -

# Probes. The program type is plain KPROBE; entry vs return and single
# vs multi are decided at attach time, except for the multi/session
# links whose attach type the verifier must know at load.
kprobe+             KPROBE  -                     kprobe           kprobe       -
uprobe+             KPROBE  -                     uprobe           uprobe       -
uprobe.s+           KPROBE  -                     uprobe           uprobe       sleepable
kretprobe+          KPROBE  -                     kretprobe        kprobe       -
uretprobe+          KPROBE  -                     uretprobe        uprobe       -
uretprobe.s+        KPROBE  -                     uretprobe        uprobe       sleepable
kprobe.multi+       KPROBE  TRACE_KPROBE_MULTI    kprobe_multi     kprobe_glob  -
kretprobe.multi+    KPROBE  TRACE_KPROBE_MULTI    kretprobe_multi  kprobe_glob  -
kprobe.session+     KPROBE  TRACE_KPROBE_SESSION  kprobe_session   kprobe_glob  -
uprobe.multi+       KPROBE  TRACE_UPROBE_MULTI    uprobe_multi     uprobe_glob  -
uretprobe.multi+    KPROBE  TRACE_UPROBE_MULTI    uretprobe_multi  uprobe_glob  -
uprobe.session+     KPROBE  TRACE_UPROBE_SESSION  uprobe_session   uprobe_glob  -
uprobe.multi.s+     KPROBE  TRACE_UPROBE_MULTI    uprobe_multi     uprobe_glob  sleepable
uretprobe.multi.s+  KPROBE  TRACE_UPROBE_MULTI    uretprobe_multi  uprobe_glob  sleepable
uprobe.session.s+   KPROBE  TRACE_UPROBE_SESSION  uprobe_session   uprobe_glob  sleepable
ksyscall+           KPROBE  -                     ksyscall         syscall      -
kretsyscall+        KPROBE  -                     kretsyscall      syscall      -
# libbpf switches USDT programs to BPF_TRACE_UPROBE_MULTI at load when
# the kernel has uprobe_multi links (6.6); the loader must do the same
# for attach_kind 'usdt', since the table cannot know the kernel.
usdt+    KPROBE  -  usdt  usdt  -
usdt.s+  KPROBE  -  usdt  usdt  sleepable

# Traffic control. "tc/ingress" and "tc/egress" are aliases of tcx;
# plain "tc", "classifier" and "action" are the netlink (clsact) era.
tc/ingress   SCHED_CLS  TCX_INGRESS  tcx  -  -
tc/egress    SCHED_CLS  TCX_EGRESS   tcx  -  -
tcx/ingress  SCHED_CLS  TCX_INGRESS  tcx  -  -
tcx/egress   SCHED_CLS  TCX_EGRESS   tcx  -  -
tc           SCHED_CLS  -            tc   -  -
classifier   SCHED_CLS  -            tc   -  -
# tc actions are installed by the tc tool, never by attaching a prog fd.
action          SCHED_ACT  -               -       -  -
netkit/primary  SCHED_CLS  NETKIT_PRIMARY  netkit  -  -
netkit/peer     SCHED_CLS  NETKIT_PEER     netkit  -  -

# Tracepoints.
tracepoint+        TRACEPOINT               -  tracepoint      tracepoint      -
tp+                TRACEPOINT               -  tracepoint      tracepoint      -
tracepoint.s+      TRACEPOINT               -  tracepoint      tracepoint      sleepable
tp.s+              TRACEPOINT               -  tracepoint      tracepoint      sleepable
raw_tracepoint+    RAW_TRACEPOINT           -  raw_tracepoint  raw_tracepoint  -
raw_tp+            RAW_TRACEPOINT           -  raw_tracepoint  raw_tracepoint  -
raw_tracepoint.s+  RAW_TRACEPOINT           -  raw_tracepoint  raw_tracepoint  sleepable
raw_tp.s+          RAW_TRACEPOINT           -  raw_tracepoint  raw_tracepoint  sleepable
raw_tracepoint.w+  RAW_TRACEPOINT_WRITABLE  -  raw_tracepoint  raw_tracepoint  -
raw_tp.w+          RAW_TRACEPOINT_WRITABLE  -  raw_tracepoint  raw_tracepoint  -

# BTF-typed tracing: the verifier needs the target's BTF id at load.
tp_btf+      TRACING  TRACE_RAW_TP    tp_btf    btf_tracepoint  btf=kernel
tp_btf.s+    TRACING  TRACE_RAW_TP    tp_btf    btf_tracepoint  sleepable,btf=kernel
fentry+      TRACING  TRACE_FENTRY    fentry    btf_func        btf=kernel
fmod_ret+    TRACING  MODIFY_RETURN   fmod_ret  btf_func        btf=kernel
fexit+       TRACING  TRACE_FEXIT     fexit     btf_func        btf=kernel
fentry.s+    TRACING  TRACE_FENTRY    fentry    btf_func        sleepable,btf=kernel
fmod_ret.s+  TRACING  MODIFY_RETURN   fmod_ret  btf_func        sleepable,btf=kernel
fexit.s+     TRACING  TRACE_FEXIT     fexit     btf_func        sleepable,btf=kernel
fsession+    TRACING  TRACE_FSESSION  fsession  btf_func        btf=kernel
fsession.s+  TRACING  TRACE_FSESSION  fsession  btf_func        sleepable,btf=kernel
# The multi forms take a pattern resolved at attach time, not at load.
fsession.multi+    TRACING  TRACE_FSESSION_MULTI  fsession_multi  btf_func_glob  -
fsession.multi.s+  TRACING  TRACE_FSESSION_MULTI  fsession_multi  btf_func_glob  sleepable
fentry.multi+      TRACING  TRACE_FENTRY_MULTI    fentry_multi    btf_func_glob  -
fexit.multi+       TRACING  TRACE_FEXIT_MULTI     fexit_multi     btf_func_glob  -
fentry.multi.s+    TRACING  TRACE_FENTRY_MULTI    fentry_multi    btf_func_glob  sleepable
fexit.multi.s+     TRACING  TRACE_FEXIT_MULTI     fexit_multi     btf_func_glob  sleepable
freplace+          EXT      -                     freplace        prog_func      btf=program
lsm+               LSM      LSM_MAC               lsm             lsm_hook       btf=kernel
lsm.s+             LSM      LSM_MAC               lsm             lsm_hook       sleepable,btf=kernel
# An LSM hook scoped to one cgroup: attached like any cgroup program.
lsm_cgroup+  LSM      LSM_CGROUP  cgroup  lsm_hook  btf=kernel
iter+        TRACING  TRACE_ITER  iter    iter      btf=kernel
iter.s+      TRACING  TRACE_ITER  iter    iter      sleepable,btf=kernel
# Run on demand through BPF_PROG_RUN, never attached.
syscall  SYSCALL  -  -  -  sleepable

# XDP. devmap/cpumap programs run when a redirect reaches a map entry
# holding their fd, so there is nothing to attach them to.
xdp.frags/devmap  XDP  XDP_DEVMAP  -    -  frags
xdp/devmap        XDP  XDP_DEVMAP  -    -  -
xdp.frags/cpumap  XDP  XDP_CPUMAP  -    -  frags
xdp/cpumap        XDP  XDP_CPUMAP  -    -  -
xdp.frags         XDP  XDP         xdp  -  frags
xdp               XDP  XDP         xdp  -  optional

perf_event  PERF_EVENT  -  perf_event  -  -
# Lightweight tunnels are bound by `ip route ... encap bpf`, not bpf().
lwt_in         LWT_IN         -  -  -  -
lwt_out        LWT_OUT        -  -  -  -
lwt_xmit       LWT_XMIT       -  -  -  -
lwt_seg6local  LWT_SEG6LOCAL  -  -  -  -

# Sockets.
sockops                SOCK_OPS  CGROUP_SOCK_OPS        cgroup  -  optional
sk_skb/stream_parser   SK_SKB    SK_SKB_STREAM_PARSER   sk_skb  -  optional
sk_skb/stream_verdict  SK_SKB    SK_SKB_STREAM_VERDICT  sk_skb  -  optional
sk_skb/verdict         SK_SKB    SK_SKB_VERDICT         sk_skb  -  optional
# Without a hook in the name the attach type is the user's choice.
sk_skb          SK_SKB          -               -           -  -
sk_msg          SK_MSG          SK_MSG_VERDICT  sk_msg      -  optional
lirc_mode2      LIRC_MODE2      LIRC_MODE2      lirc_mode2  -  optional
flow_dissector  FLOW_DISSECTOR  FLOW_DISSECTOR  netns       -  optional

# Cgroups.
cgroup_skb/ingress  CGROUP_SKB  CGROUP_INET_INGRESS  cgroup  -  optional
cgroup_skb/egress   CGROUP_SKB  CGROUP_INET_EGRESS   cgroup  -  optional
# Direction left to the user, who must then name the attach type.
cgroup/skb               CGROUP_SKB        -                         cgroup  -  -
cgroup/sock_create       CGROUP_SOCK       CGROUP_INET_SOCK_CREATE   cgroup  -  -
cgroup/sock_release      CGROUP_SOCK       CGROUP_INET_SOCK_RELEASE  cgroup  -  -
cgroup/sock              CGROUP_SOCK       CGROUP_INET_SOCK_CREATE   cgroup  -  optional
cgroup/post_bind4        CGROUP_SOCK       CGROUP_INET4_POST_BIND    cgroup  -  -
cgroup/post_bind6        CGROUP_SOCK       CGROUP_INET6_POST_BIND    cgroup  -  -
cgroup/bind4             CGROUP_SOCK_ADDR  CGROUP_INET4_BIND         cgroup  -  -
cgroup/bind6             CGROUP_SOCK_ADDR  CGROUP_INET6_BIND         cgroup  -  -
cgroup/connect4          CGROUP_SOCK_ADDR  CGROUP_INET4_CONNECT      cgroup  -  -
cgroup/connect6          CGROUP_SOCK_ADDR  CGROUP_INET6_CONNECT      cgroup  -  -
cgroup/connect_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_CONNECT       cgroup  -  -
cgroup/sendmsg4          CGROUP_SOCK_ADDR  CGROUP_UDP4_SENDMSG       cgroup  -  -
cgroup/sendmsg6          CGROUP_SOCK_ADDR  CGROUP_UDP6_SENDMSG       cgroup  -  -
cgroup/sendmsg_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_SENDMSG       cgroup  -  -
cgroup/recvmsg4          CGROUP_SOCK_ADDR  CGROUP_UDP4_RECVMSG       cgroup  -  -
cgroup/recvmsg6          CGROUP_SOCK_ADDR  CGROUP_UDP6_RECVMSG       cgroup  -  -
cgroup/recvmsg_unix      CGROUP_SOCK_ADDR  CGROUP_UNIX_RECVMSG       cgroup  -  -
cgroup/getpeername4      CGROUP_SOCK_ADDR  CGROUP_INET4_GETPEERNAME  cgroup  -  -
cgroup/getpeername6      CGROUP_SOCK_ADDR  CGROUP_INET6_GETPEERNAME  cgroup  -  -
cgroup/getpeername_unix  CGROUP_SOCK_ADDR  CGROUP_UNIX_GETPEERNAME   cgroup  -  -
cgroup/getsockname4      CGROUP_SOCK_ADDR  CGROUP_INET4_GETSOCKNAME  cgroup  -  -
cgroup/getsockname6      CGROUP_SOCK_ADDR  CGROUP_INET6_GETSOCKNAME  cgroup  -  -
cgroup/getsockname_unix  CGROUP_SOCK_ADDR  CGROUP_UNIX_GETSOCKNAME   cgroup  -  -
cgroup/sysctl            CGROUP_SYSCTL     CGROUP_SYSCTL             cgroup  -  -
cgroup/getsockopt        CGROUP_SOCKOPT    CGROUP_GETSOCKOPT         cgroup  -  -
cgroup/setsockopt        CGROUP_SOCKOPT    CGROUP_SETSOCKOPT         cgroup  -  -
cgroup/dev               CGROUP_DEVICE     CGROUP_DEVICE             cgroup  -  optional

# struct_ops programs get their BTF id and attach type (the member
# index) from the .struct_ops map that references them; the name after
# '/' is ignored, and the map, not the program, is what gets attached.
struct_ops+    STRUCT_OPS  -          -          struct_ops  btf=struct_ops
struct_ops.s+  STRUCT_OPS  -          -          struct_ops  sleepable,btf=struct_ops
sk_lookup      SK_LOOKUP   SK_LOOKUP  netns      -           -
netfilter      NETFILTER   NETFILTER  netfilter  -           -
""")


class ProgramKind(namedtuple("ProgramKind", [
        "section_name", "section_def", "prog_type", "expected_attach_type",
        "attach_target", "sleepable", "xdp_frags", "btf_attach",
        "btf_source", "btf_name", "btf_module", "btf_kind", "attach_kind",
        "target_kind", "attach_type_optional", "autoload"])):
    """What a program section says about the program in it.

    ``section_name`` is the name without a leading '?', ``section_def`` the
    matched pattern in libbpf's spelling (e.g. ``fentry.s+``).
    ``attach_target`` is the text after the pattern's '/', or None.
    ``btf_attach`` means BPF_PROG_LOAD needs attach_btf_id; ``btf_source``
    says where to find it. For kernel targets ``btf_name`` and ``btf_kind``
    ('func' or 'typedef') give the exact BTF type to look up, ``btf_module``
    the module whose BTF holds it (None: vmlinux first, then all modules).
    ``btf_name`` is None when the section names no target, in which case
    the caller must supply one.
    """

    __slots__ = ()

    @property
    def prog_flags(self):
        """BPF_PROG_LOAD prog_flags implied by the section name."""
        flags = 0
        if self.sleepable:
            flags |= uapi.BPF_F_SLEEPABLE
        if self.xdp_frags:
            flags |= uapi.BPF_F_XDP_HAS_FRAGS
        return flags

    @property
    def prog_type_name(self):
        return uapi.PROG_TYPE_NAMES.get(self.prog_type, str(self.prog_type))

    @property
    def attach_type_name(self):
        if self.expected_attach_type is None:
            return None
        return uapi.ATTACH_TYPE_NAMES.get(self.expected_attach_type,
                                          str(self.expected_attach_type))


def find_section_def(section_name):
    """The first SECTION_DEFS entry matching ``section_name``, or None.

    A leading '?' is not accepted here; classify() strips it.
    """
    for sec_def in SECTION_DEFS:
        if sec_def.matches(section_name):
            return sec_def
    return None


def _legacy_section_def(name):
    """libbpf before 1.0 (and cilium/ebpf today) read 'xdp/foo',
    'socket/2' or 'sk_lookup/' as the exact-name type followed by a free
    label. Objects built for those loaders exist in the field, so accept
    the form as a fallback; the label is not an attach argument."""
    head, sep, _label = name.partition("/")
    if not sep:
        return None
    for sec_def in SECTION_DEFS:
        if sec_def.match == MATCH_EXACT and sec_def.pattern == head:
            return sec_def
    return None


def _kernel_btf_target(sec_def, target):
    """(name, module, kind) of the kernel BTF type a target refers to."""
    if target is None:
        return None, None, None
    prefix, kind = _BTF_NAME_RULES.get(sec_def.expected_attach_type,
                                       ("", "func"))
    module = None
    if ":" in target:
        # libbpf's "module:function" form pins the lookup to one module.
        module, target = target.split(":", 1)
    return prefix + target, module, kind


def classify(section_name):
    """Describe the program in ELF section ``section_name``.

    Returns a ProgramKind. Raises SpecError if no libbpf convention
    matches; the message names the closest known sections.
    """
    if isinstance(section_name, bytes):
        section_name = section_name.decode("utf-8", "replace")
    autoload = True
    name = section_name
    if name.startswith("?"):
        autoload = False
        name = name[1:]
    sec_def = find_section_def(name)
    if sec_def is None:
        sec_def = _legacy_section_def(name)
    if sec_def is None:
        raise _unknown_section(section_name, name)

    target = sec_def.argument(name)
    btf_name = btf_module = btf_kind = None
    if sec_def.btf_source == BTF_SOURCE_KERNEL:
        btf_name, btf_module, btf_kind = _kernel_btf_target(sec_def, target)
    elif sec_def.btf_source == BTF_SOURCE_PROGRAM and target is not None:
        btf_name, btf_kind = target, "func"

    return ProgramKind(
        section_name=name,
        section_def=sec_def.pattern,
        prog_type=sec_def.prog_type,
        expected_attach_type=sec_def.expected_attach_type,
        attach_target=target,
        sleepable=sec_def.sleepable,
        xdp_frags=sec_def.xdp_frags,
        btf_attach=sec_def.btf_attach,
        btf_source=sec_def.btf_source,
        btf_name=btf_name,
        btf_module=btf_module,
        btf_kind=btf_kind,
        attach_kind=sec_def.attach_kind,
        target_kind=sec_def.target_kind,
        attach_type_optional=sec_def.attach_type_optional,
        autoload=autoload,
    )


def suggest_sections(name, limit=3):
    """Known section patterns closest to an unknown ``name``, best first."""
    by_prefix = {}
    for sec_def in SECTION_DEFS:
        by_prefix.setdefault(sec_def.prefix.rstrip("/"), sec_def)
    prefixes = list(by_prefix)
    head = name.split("/", 1)[0]

    # A name missing its hook ('tcx' -> 'tcx/ingress') and a known name the
    # unknown one starts with ('xdpfoo' -> 'xdp') are the likeliest
    # intents, ahead of mere spelling neighbours.
    picks = [p for p in prefixes if p.startswith(name + "/")]
    starts = [p for p in prefixes if p and name.startswith(p)]
    picks.extend(sorted(starts, key=len, reverse=True))
    picks.extend(difflib.get_close_matches(name, prefixes, n=limit,
                                           cutoff=0.6))
    if head != name:
        picks.extend(difflib.get_close_matches(head, prefixes, n=limit,
                                               cutoff=0.6))
    result = []
    for prefix in picks:
        shown = by_prefix[prefix].display()
        if shown not in result:
            result.append(shown)
    return result[:limit]


def _unknown_section(original, name):
    suggestions = suggest_sections(name) if name else []
    reason = "unknown program section name"
    if "/" in name:
        head = name.split("/", 1)[0]
        if any(d.match == MATCH_EXACT and d.pattern == head
               for d in SECTION_DEFS):
            # 'xdp/foo' was the libbpf 0.x way of naming XDP programs;
            # libbpf 1.0 made 'xdp' exact, which surprises people.
            reason = "'%s' takes no '/<argument>'" % head
            forms = [d.pattern for d in SECTION_DEFS
                     if d.match == MATCH_EXACT
                     and d.pattern.startswith(head + "/")]
            if forms:
                reason += "; its only '/' forms are %s" % ", ".join(forms)
    message = "section '%s': %s" % (original, reason)
    if suggestions:
        message += ": closest known: %s" % ", ".join(suggestions)
    return SpecError(
        message,
        hint=("name the program's section after libbpf's conventions, e.g. "
              "SEC(\"xdp\") or SEC(\"kprobe/<function>\"); see "
              "https://docs.kernel.org/bpf/libbpf/program_types.html"),
        details={"section": original, "suggestions": suggestions},
    )
