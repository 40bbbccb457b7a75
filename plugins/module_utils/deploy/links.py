# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attachments of a collection's programs, kept as pinned bpf_links.

A link lives in ``pin_root/<collection>/links/<name>``, so it moves with
the collection: when bpf_collection replaces the programs it re-points
each link at the new program with BPF_LINK_UPDATE (atomic: every event or
packet meets the old or the new program), and removing the collection
detaches them. Links the kernel cannot re-point (perf events, raw and BTF
tracepoints) are made again for the new program from the request record
kept beside each link, which names the one program and the resolved attach
type and target it was made with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.lock import collection_lock
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.names import DEFAULT_PIN_ROOT, split_ref
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    LoaderError, NotSupportedError, SpecError, SyscallError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import attach, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    CollectionPins, LINKS_DIR, LINK_REQUESTS_DIR, PROGS_DIR, make_dirs)
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.sections import classify
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record, copy_fields

TYPES = ("auto", "xdp", "tc", "cgroup", "tracepoint", "kprobe", "kretprobe", "raw_tracepoint", "fentry", "fexit",
         "fmod_ret", "lsm", "tp_btf", "uprobe", "uretprobe", "uprobe_multi", "uretprobe_multi", "netfilter")
_TRACING = ("fentry", "fexit", "fmod_ret", "lsm", "tp_btf")
# What bpf_link attach type each program type takes (the program's type must fit).
_PROG_TYPES = {
    "xdp": (uapi.BPF_PROG_TYPE_XDP,),
    "tc": (uapi.BPF_PROG_TYPE_SCHED_CLS,),
    "tracepoint": (uapi.BPF_PROG_TYPE_TRACEPOINT,),
    "kprobe": (uapi.BPF_PROG_TYPE_KPROBE,),
    "kretprobe": (uapi.BPF_PROG_TYPE_KPROBE,),
    "uprobe": (uapi.BPF_PROG_TYPE_KPROBE,), "uretprobe": (uapi.BPF_PROG_TYPE_KPROBE,),
    "uprobe_multi": (uapi.BPF_PROG_TYPE_KPROBE,), "uretprobe_multi": (uapi.BPF_PROG_TYPE_KPROBE,),
    "raw_tracepoint": (uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, uapi.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
    "fentry": (uapi.BPF_PROG_TYPE_TRACING,), "fexit": (uapi.BPF_PROG_TYPE_TRACING,),
    "fmod_ret": (uapi.BPF_PROG_TYPE_TRACING,), "tp_btf": (uapi.BPF_PROG_TYPE_TRACING,),
    "lsm": (uapi.BPF_PROG_TYPE_LSM,),
    "netfilter": (uapi.BPF_PROG_TYPE_NETFILTER,),
}
_SECTION_KIND_TO_TYPE = {"xdp": "xdp", "tcx": "tc", "tc": "tc", "cgroup": "cgroup", "tracepoint": "tracepoint",
                         "kprobe": "kprobe", "kretprobe": "kretprobe", "raw_tracepoint": "raw_tracepoint",
                         "fentry": "fentry", "fexit": "fexit", "fmod_ret": "fmod_ret", "lsm": "lsm", "tp_btf": "tp_btf",
                         "uprobe": "uprobe", "uretprobe": "uretprobe", "uprobe_multi": "uprobe_multi",
                         "uretprobe_multi": "uretprobe_multi", "netfilter": "netfilter"}


METHODS = ("auto", "link", "netlink")
DIRECTIONS = ("ingress", "egress")
# bpf_link's options, declared once (the module passes this to AnsibleModule).
ARGUMENT_SPEC = dict(
    collection=dict(type="str"),
    program=dict(type="str"),
    type=dict(type="str", default="auto", choices=list(TYPES)),
    interface=dict(type="str"),
    direction=dict(type="str", choices=list(DIRECTIONS)),
    mode=dict(type="str", default="auto", choices=list(attach.XDP_MODES)),
    cgroup=dict(type="path"),
    target=dict(type="str"),
    name=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    pin_root=dict(type="path", default=DEFAULT_PIN_ROOT),
    method=dict(type="str", default="auto", choices=list(METHODS)),
    priority=dict(type="int", default=1),
    handle=dict(type="int", default=1),
    binary=dict(type="str"),
    symbol=dict(type="str"),
    offset=dict(type="int"),
    pid=dict(type="int"),
    family=dict(type="str", choices=sorted(attach.NETFILTER_FAMILIES)),
    hook=dict(type="str", choices=list(uapi.NF_INET_HOOKS)),
    defrag=dict(type="bool", default=False),
    netns=dict(type="path"),
    before=dict(type="str"),
    after=dict(type="str"),
)
# The words before/after take for the ends of a tcx chain.
CHAIN_ENDS = {"before": "first", "after": "last"}


class LinkRequest:
    """One desired attachment (the bpf_link module's options, checked)."""

    def __init__(self, pin_root, collection, program, link_type="auto", interface=None, direction=None,
                 mode="auto", cgroup=None, target=None, name=None, state="present", method="auto", priority=1,
                 handle=1, binary=None, symbol=None, offset=None, pid=None, family=None, hook=None, defrag=False,
                 netns=None, before=None, after=None):
        self.pins = CollectionPins(pin_root, collection)
        self.program = program
        self.type = link_type
        self.interface = interface
        self.direction = direction
        self.mode = mode
        self.cgroup = cgroup
        self.target = target
        self.name = name
        self.state = state
        if method not in METHODS:
            raise SpecError("method '%s': want one of %s" % (method, ", ".join(METHODS)))
        self.method = method
        self.priority = priority
        self.handle = handle
        self.binary = binary
        self.symbol = symbol
        self.offset = offset
        self.pid = pid
        self.family = family
        self.hook = hook
        self.defrag = defrag
        self.netns = netns
        if before is not None and after is not None:
            raise SpecError("before '%s' and after '%s': give one of them, not both" % (before, after))
        self.before = before
        self.after = after
        # The pin of the link this one is made to replace, in another
        # version (remake_link), where a hook cannot hold both at once.
        self.replaces = None

    @classmethod
    def from_params(cls, params):
        """From bpf_link's checked parameters (``program`` may be
        'collection/program')."""
        if params["name"] and not params["program"]:
            raise SpecError("name needs program: one link name cannot serve several programs")
        collection, program = split_ref(params["collection"], params["program"], "program")
        return cls(params["pin_root"], collection, program, params["type"], interface=params["interface"],
                   direction=params["direction"], mode=params["mode"], cgroup=params["cgroup"],
                   target=params["target"], name=params["name"], state=params["state"], method=params["method"],
                   priority=params["priority"], handle=params["handle"], binary=params["binary"],
                   symbol=params["symbol"], offset=params["offset"], pid=params["pid"], family=params["family"],
                   hook=params["hook"], defrag=params["defrag"], netns=params["netns"], before=params["before"],
                   after=params["after"])

    @classmethod
    def from_record(cls, pin_root, collection, record, program):
        """The request that makes again the link ``record`` describes, for
        ``program`` (the one the link runs: records written before 0.2 by a
        ``type: auto`` task without a program hold none)."""
        fields = ("link_type", "interface", "direction", "mode", "cgroup", "target", "name", "method",
                  "priority", "handle", "binary", "symbol", "offset", "pid", "family", "hook", "defrag", "netns",
                  "before", "after")
        return cls(pin_root, collection, program, **dict((k, record[k]) for k in fields if record.get(k) is not None))


class Program:
    """A pinned program of a collection, with what its section says (plain
    data: apply() opens it again by its pin)."""

    def __init__(self, collection, version, name, record):
        self.name = name
        entry = (record or {}).get("programs", {}).get(name)
        if entry is None:
            raise SpecError("collection '%s' has no program '%s' (has: %s)" % (
                collection, name, ", ".join(sorted((record or {}).get("programs", {}))) or "none"))
        self.pin = os.path.join(version, PROGS_DIR, entry["pin"])
        self.section = entry.get("section", "")
        self.kind = classify(self.section) if self.section else None
        fd = syscalls.obj_get(self.pin)
        try:
            info = syscalls.fdinfo(fd)
        finally:
            os.close(fd)
        copy_fields(self, info, id="prog_id", type="prog_type", tag="prog_tag")


class Attachment(Record):
    """One link, resolved for one program: ``type``, ``point`` (in words),
    ``name`` (its pin), ``make(prog_fd, what)`` (attaches, returns the link
    fd), ``expect`` (what an existing link must show to count as this
    one), ``record`` (what is kept beside it to make it again) and
    ``order`` (for a tcx link: ('before' or 'after', what), None for no
    place)."""

    __slots__ = ("type", "point", "name", "make", "expect", "record", "order")
    _DEFAULTS = (None,)


def unsupported_kind(kind):
    """Why bpf_link cannot attach a program of section kind ``kind`` (None
    when it can, or the section names no attach mechanism at all)."""
    if kind is None or kind.attach_kind is None or kind.attach_kind in _SECTION_KIND_TO_TYPE:
        return None
    return "its section names a %s attach point, which bpf_link does not support yet" % kind.attach_kind


def auto_skip_reason(prog):
    """Why ``type: auto`` without a program leaves ``prog`` alone (None: it
    attaches it): auto attaches only what a section names completely."""
    kind = prog.kind
    unsupported = unsupported_kind(kind)
    if unsupported:
        return unsupported
    link_type = _SECTION_KIND_TO_TYPE.get(kind.attach_kind) if kind else None
    if link_type is None:
        return "its section names no attach point"
    if link_type in ("xdp", "tc", "cgroup", "netfilter"):
        needs = {"cgroup": "a cgroup", "netfilter": "a family and a hook"}.get(link_type, "an interface")
        return "%s needs %s, which no section names" % (link_type, needs)
    if link_type in ("tracepoint", "kprobe", "kretprobe", "raw_tracepoint", "uprobe", "uretprobe", "uprobe_multi",
                     "uretprobe_multi") and not kind.attach_target:
        return "its section names no %s target" % link_type
    return None


def resolve(req, prog):
    """The Attachment ``req`` asks of ``prog``, every option checked.
    Raises SpecError naming the program and the option."""
    link_type = req.type
    kind = prog.kind
    if link_type == "auto":
        unsupported = unsupported_kind(kind)
        if unsupported:
            raise NotSupportedError("program '%s' (section '%s'): %s" % (prog.name, prog.section, unsupported))
        link_type = _SECTION_KIND_TO_TYPE.get(kind.attach_kind if kind else None)
        if link_type is None:
            raise SpecError("program '%s' (section '%s'): its section names no attach point; give type" % (
                prog.name, prog.section))
    if link_type not in _PROG_TYPES and link_type != "cgroup":
        raise SpecError("type '%s': want one of %s" % (link_type, ", ".join(TYPES)))
    if link_type != "cgroup" and prog.type not in _PROG_TYPES[link_type]:
        raise SpecError("program '%s' is a %s program; type %s needs %s" % (
            prog.name, uapi.PROG_TYPE_NAMES.get(prog.type, prog.type), link_type,
            " or ".join(uapi.PROG_TYPE_NAMES.get(t, str(t)) for t in _PROG_TYPES[link_type])))
    if link_type in ("kprobe", "kretprobe", "uprobe", "uretprobe") and kind is not None and \
            kind.expected_attach_type is not None:
        # A kprobe.multi/uprobe.multi/session program: the kernel takes it only through
        # a multi link, which a perf-event kprobe is not.
        raise NotSupportedError("program '%s' (section '%s'): a %s program attaches only through a multi link%s" % (
            prog.name, prog.section, kind.attach_kind,
            " (type uprobe_multi or uretprobe_multi)" if kind.expected_attach_type == uapi.BPF_TRACE_UPROBE_MULTI
            else ", which bpf_link does not support yet"))
    if link_type in ("uprobe_multi", "uretprobe_multi") and (
            kind is None or kind.expected_attach_type != uapi.BPF_TRACE_UPROBE_MULTI):
        raise SpecError("program '%s' (section '%s'): type %s needs a program loaded for uprobe_multi links "
                        "(section uprobe.multi or uretprobe.multi); give type uprobe for this one" % (
                            prog.name, prog.section, link_type))
    target = req.target if req.target is not None else (kind.attach_target if kind else None)
    direction = None
    order = _order(req, prog, link_type)
    if link_type == "xdp":
        _need(req.interface, "interface", prog, link_type)
        if req.mode not in attach.XDP_MODES:
            raise SpecError("mode '%s': want one of %s" % (req.mode, ", ".join(sorted(attach.XDP_MODES))))
        point = "xdp on %s (%s)" % (req.interface, req.mode)
        label = req.interface

        def make(fd, what):
            return attach.attach_xdp(fd, req.interface, req.mode, what)
        expect = ("ifindex", attach.ifindex(req.interface))
    elif link_type == "tc":
        _need(req.interface, "interface", prog, link_type)
        by_type = {uapi.BPF_TCX_INGRESS: "ingress", uapi.BPF_TCX_EGRESS: "egress"}
        direction = req.direction or by_type.get(kind.expected_attach_type if kind else None)
        if direction not in ("ingress", "egress"):
            raise SpecError("program '%s': tc needs direction: ingress or egress" % prog.name)
        label = "%s_%s" % (req.interface, direction)
        expect = ("ifindex", attach.ifindex(req.interface))
        if _tc_by_netlink(req):
            point = "tc %s on %s (clsact, priority %d, handle %d)" % (direction, req.interface, req.priority,
                                                                      req.handle)
            expect = ("netlink-tc", {"netlink": "tc", "interface": req.interface, "direction": direction,
                                     "priority": req.priority, "handle": req.handle})
            make = None  # netlink attachments go through _one_netlink
        else:
            point = "tc %s on %s" % (direction, req.interface)
            if order:
                point += " (%s %s)" % order

            def make(fd, what, placement=None):
                if placement is None:
                    return attach.attach_tcx(fd, req.interface, direction, what)
                return placement.attach(fd, req.interface, direction, what)
    elif link_type == "cgroup":
        _need(req.cgroup, "cgroup", prog, link_type)
        attach_type = kind.expected_attach_type if kind else None
        if attach_type is None:
            raise SpecError("program '%s' (section '%s'): not a cgroup program" % (prog.name, prog.section))
        point = "cgroup %s (%s)" % (req.cgroup, uapi.ATTACH_TYPE_NAMES.get(attach_type, attach_type))
        label = "%s_%s" % (os.path.basename(req.cgroup.rstrip("/")) or "root",
                           uapi.ATTACH_TYPE_NAMES.get(attach_type, attach_type))

        def make(fd, what):
            return attach.attach_cgroup(fd, req.cgroup, attach_type, what)
        expect = ("cgroup", _cgroup_id(req.cgroup))
    elif link_type == "tracepoint":
        _need(target, "target", prog, link_type)
        if target.count("/") != 1:
            raise SpecError("program '%s': tracepoint target '%s' is not category/name" % (prog.name, target))
        category, tp = target.split("/")
        point = "tracepoint %s" % target
        label = target

        def make(fd, what):
            return attach.attach_tracepoint(fd, category, tp, what)
        expect = None
    elif link_type in ("kprobe", "kretprobe"):
        _need(target, "target", prog, link_type)
        function, _sep, offset = target.partition("+")
        try:
            offset = int(offset, 0) if offset else 0
        except ValueError as e:
            raise SpecError("program '%s': %s target '%s': offset is not a number" % (
                prog.name, link_type, target)) from e
        point = "%s %s" % (link_type, target)
        label = target

        def make(fd, what):
            return attach.attach_kprobe(fd, function, offset, link_type == "kretprobe", what)
        expect = None
    elif link_type in ("uprobe", "uretprobe", "uprobe_multi", "uretprobe_multi"):
        multi = link_type.endswith("_multi")
        # One function's offset, or (multi) every matching function's offsets.
        path, where, point, label = (_uprobe_multi_point if multi else _uprobe_point)(req, prog, link_type, target)
        pid = req.pid

        def make(fd, what):
            from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uprobe
            attach_fn = uprobe.attach_uprobe_multi if multi else uprobe.attach_uprobe
            return attach_fn(fd, path, where, link_type.startswith("uret"), pid, what)
        expect = None
    elif link_type == "netfilter":
        point, label, make, expect = _netfilter_point(req, prog)
    elif link_type == "raw_tracepoint":
        _need(target, "target", prog, link_type)
        point = "raw_tracepoint %s" % target
        label = target

        def make(fd, what):
            return attach.attach_raw_tracepoint(fd, target, what)
        expect = None
    else:
        # The target of a BTF-typed program was fixed when it was loaded.
        target = kind.attach_target if kind else None
        point = "%s %s" % (link_type, target or "")
        label = target or "target"

        def make(fd, what):
            return attach.attach_tracing(fd, what)
        expect = None
    name = req.name or "%s__%s_%s" % (prog.name, link_type, label)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:200]
    record = {"program": prog.name, "link_type": link_type, "interface": req.interface, "direction": direction,
              "mode": req.mode, "cgroup": req.cgroup, "target": target, "name": name, "method": req.method,
              "priority": req.priority, "handle": req.handle, "binary": req.binary, "symbol": req.symbol,
              "offset": req.offset, "pid": req.pid, "family": req.family, "hook": req.hook,
              "defrag": req.defrag or None, "netns": req.netns, "before": req.before, "after": req.after}
    return Attachment(link_type, point.rstrip(), name, make, expect, record, order)


def _order(req, prog, link_type):
    """('before' or 'after', what) for a tcx link given a place in its
    chain, None without one; SpecError where the link has no chain."""
    if req.before is None and req.after is None:
        return None
    option, value = ("before", req.before) if req.before is not None else ("after", req.after)
    if link_type != "tc":
        raise SpecError("program '%s': %s '%s': only tc links (tcx) have a place among others; type %s has none"
                        % (prog.name, option, value, link_type))
    if req.method == "netlink":
        raise SpecError("program '%s': %s '%s': method netlink orders tc filters by priority; before and after "
                        "place tcx links (method link or auto)" % (prog.name, option, value))
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import kernel_version
    if kernel_version() < (6, 6):
        raise NotSupportedError("program '%s': %s '%s': a place in the tc chain needs tcx links" % (
            prog.name, option, value), feature="tcx links", min_kernel="6.6")
    if not req.program:
        raise SpecError("%s '%s' places one link: give program" % (option, value))
    if not value:
        raise SpecError("program '%s': %s is empty: give %s, collection/link, collection/program or a pin path" % (
            prog.name, option, CHAIN_ENDS[option]))
    other = dict((v, k) for k, v in CHAIN_ENDS.items())
    if value in other and other[value] != option:
        raise SpecError("program '%s': %s '%s' means no place: the head of the chain is 'before: first', its "
                        "tail 'after: last'" % (prog.name, option, value))
    return option, value


def _netfilter_point(req, prog):
    """(point, label, make, expect) of a netfilter hook. The label names
    the namespace when one is given, so the same hook in two namespaces is
    two links."""
    _need(req.family, "family", prog, "netfilter")
    _need(req.hook, "hook", prog, "netfilter")
    if req.family not in attach.NETFILTER_FAMILIES:
        raise SpecError("program '%s': family '%s': want one of %s" % (
            prog.name, req.family, ", ".join(sorted(attach.NETFILTER_FAMILIES))))
    if req.hook not in uapi.NF_INET_HOOKS:
        raise SpecError("program '%s': hook '%s': want one of %s" % (
            prog.name, req.hook, ", ".join(uapi.NF_INET_HOOKS)))
    if not -0x7fffffff <= req.priority <= 0x7ffffffe:
        raise SpecError("program '%s': priority %d: netfilter keeps the first and last places "
                        "(INT_MIN and INT_MAX) for itself" % (prog.name, req.priority))
    point = "netfilter %s %s (priority %d%s)%s" % (req.family, req.hook, req.priority, ", defrag" if req.defrag else "",
                                                   " in %s" % req.netns if req.netns else "")
    label = "%s_%s" % (req.family, req.hook) + ("_%s" % os.path.basename(req.netns.rstrip("/")) if req.netns else "")

    def make(fd, what, holder=None):
        if holder is None:
            return attach.attach_netfilter(fd, req.family, req.hook, req.priority, req.defrag, req.netns, what)
        held = syscalls.obj_get(holder)
        try:
            return attach.hand_over_netfilter(fd, held, req.family, req.hook, req.priority, req.defrag, req.netns,
                                              what)
        finally:
            os.close(held)
    flags = uapi.BPF_F_NETFILTER_IP_DEFRAG if req.defrag else 0
    expect = ("netfilter", (attach.NETFILTER_FAMILIES[req.family], uapi.NF_INET_HOOKS[req.hook], req.priority, flags))
    return point, label, make, expect


def _uprobe_point(req, prog, link_type, target):
    """(path, file offset, point, label) of a uprobe: from binary and symbol
    or offset, else from the section's BINARY:SYMBOL[+OFFSET] target."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uprobe

    binary, symbol, offset = req.binary, req.symbol, req.offset
    if binary is None and target:
        binary, sep, func = target.rpartition(":")
        if not sep or not binary or not func:
            raise SpecError("program '%s': %s target '%s' is not BINARY:SYMBOL[+OFFSET]" % (
                prog.name, link_type, target))
        symbol, _sep, extra = func.partition("+")
        try:
            offset = int(extra, 0) if extra else None
        except ValueError as e:
            raise SpecError("program '%s': %s target '%s': offset is not a number" % (
                prog.name, link_type, target)) from e
        if symbol.startswith("0x") and not extra:
            symbol, offset = None, int(symbol, 16)
    _need(binary, "binary", prog, link_type)
    if symbol is None and offset is None:
        raise SpecError("program '%s': type %s needs symbol or offset in binary '%s'" % (prog.name, link_type, binary))
    path = uprobe.resolve_binary(binary)
    where = symbol or ""
    file_offset = offset or 0
    if symbol:
        file_offset += uprobe.function_offset(uprobe.read_binary(path), symbol)
        if offset:
            where += "+%#x" % offset
    else:
        uprobe.read_binary(path)  # refuse what is not an ELF file before attaching
        where = "%#x" % offset
    point = "%s %s:%s (file offset %#x%s)" % (link_type, path, where, file_offset,
                                              ", pid %d" % req.pid if req.pid is not None else "")
    label = "%s_%s" % (os.path.basename(path), where)
    return path, file_offset, point, label


def _uprobe_multi_point(req, prog, link_type, target):
    """(path, file offsets, point, label) of a uprobe_multi link: the
    functions of binary matching the glob symbol, or the section's
    BINARY:PATTERN."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uprobe

    binary, pattern = req.binary, req.symbol
    if binary is None and target:
        binary, sep, pattern = target.rpartition(":")
        if not sep or not binary or not pattern:
            raise SpecError("program '%s': %s target '%s' is not BINARY:PATTERN" % (prog.name, link_type, target))
    _need(binary, "binary", prog, link_type)
    _need(pattern, "symbol (a name or glob pattern)", prog, link_type)
    path = uprobe.resolve_binary(binary)
    found = uprobe.function_offsets(uprobe.read_binary(path), pattern)
    point = "%s %s:%s (%d functions: %s%s)" % (
        link_type, path, pattern, len(found), ", ".join(name for name, _off in found[:8]),
        ", ..." if len(found) > 8 else "") + (" pid %d" % req.pid if req.pid is not None else "")
    return path, [off for _name, off in found], point, "%s_%s" % (os.path.basename(path), pattern)


def _tc_by_netlink(req):
    """tc goes through netlink when asked, or (method auto) before tcx (6.6)."""
    if req.method != "auto":
        return req.method == "netlink"
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import kernel_version
    return kernel_version() < (6, 6)


def _need(value, option, prog, link_type):
    if not value:
        raise SpecError("program '%s': type %s needs %s" % (prog.name, link_type, option))


def _cgroup_id(path):
    try:
        return os.stat(path).st_ino
    except OSError as e:
        raise LoaderError("cgroup '%s': %s" % (path, e.strerror)) from e


def _matches(info, expect):
    if expect is None:
        return True
    what, value = expect
    if what == "ifindex":
        return struct.unpack_from("=I", info.raw)[0] == value
    if what == "cgroup":
        return struct.unpack_from("=Q", info.raw)[0] == value
    if what == "netfilter":
        # struct bpf_link_info.netfilter: pf, hooknum, priority, flags.
        return struct.unpack_from("=IIiI", info.raw) == value
    return True


def converge_link(req, check_mode=False):
    """Attach or detach under the collection's lock: observe, plan, and
    unless in check mode apply. Returns the module result (a dict)."""
    pins = req.pins
    pins.check()
    with collection_lock(pins):
        record = read_state(pins.live)
        if record is None and req.state == "present":
            raise SpecError("collection '%s' is not deployed under %s (deploy it with ebpf.deploy.bpf_collection "
                            "first)" % (pins.name, pins.pin_root))
        return _converge(req, pins.live, record, check_mode)


def _converge(req, version, record, check_mode):
    steps, skipped = plan_links(req, observe_links(req, version, record))
    results = [step.entry() for step in steps]
    if not check_mode:
        results = [apply_step(step) for step in steps]
    result = {"changed": any(step.changed for step in steps), "links": results,
              "diff": {"before": {"links": dict((s.att.name, s.before) for s in steps if s.before)},
                       "after": {"links": dict((s.att.name, s.after) for s in steps if s.after)}}}
    if skipped:
        result["skipped"] = skipped
    return result


def remake_link(pin_root, collection, version, state_record, link_record, program, replaces=None):
    """Make again, in version directory ``version``, the link
    ``link_record`` describes, for ``program`` (the program of that name in
    ``version``): a new link beside the old one (pinned at ``replaces``),
    which goes with the old version; a netfilter hook, which cannot hold
    both, is handed over from the old one. Returns its result entry;
    raises LoaderError."""
    req = LinkRequest.from_record(pin_root, collection, link_record, program)
    req.replaces = replaces
    return _converge(req, version, state_record, False)["links"][0]


# ---------------------------------------------------------------- observe

class Observation:
    """One program the request names, as found: ``prog`` (Program),
    ``att`` (its Attachment, None when auto skips it: ``skip`` says why),
    ``links_dir`` and ``existing`` (what is pinned at the link's name:
    {'link_id', 'prog_id', 'matches'} for a link, {'record', 'filter'} for
    a netlink attachment, None when nothing is)."""

    def __init__(self, prog, att, links_dir, existing, skip=None, placement=None):
        self.prog = prog
        self.att = att
        self.links_dir = links_dir
        self.existing = existing
        self.skip = skip
        # A tcx link's asked place (Placement), None without one.
        self.placement = placement


def observe_links(req, version, record):
    """The Observations for ``req`` in version directory ``version``. Every
    program is resolved before anything is attached, so a bad option fails
    the task without attaching half of what it names."""
    names = [req.program] if req.program else sorted((record or {}).get("programs", {}))
    links_dir = os.path.join(version, LINKS_DIR)
    out = []
    for name in names:
        if req.state == "absent" and (record is None or name not in record.get("programs", {})):
            continue
        prog = Program(req.pins.name, version, name, record)
        skip = auto_skip_reason(prog) if not req.program and req.type == "auto" else None
        if skip:
            out.append(Observation(prog, None, links_dir, None, skip))
            continue
        att = resolve(req, prog)
        existing = _existing(req, att, os.path.join(links_dir, att.name))
        placement = (_placement(req, att, prog, existing)
                     if att.order and req.state == "present" and not _is_netlink(att) else None)
        out.append(Observation(prog, att, links_dir, existing, placement=placement))
    return out


class Placement:
    """Where a tcx link is asked to go in its chain, as observed:
    ``option`` before/after, ``value`` what it names, ``kind`` link,
    program or None (the head or tail), ``pin`` its pin, ``chain``
    [(prog id, link id)] and ``revision`` as BPF_PROG_QUERY gave them,
    ``index`` of the existing link in it (None: not there), ``in_place``."""

    def __init__(self, option, value, kind, pin, rel_id, chain, revision, link_id):
        self.option, self.value, self.kind, self.pin = option, value, kind, pin
        self.chain, self.revision = chain, revision
        ids = [lid for _pid, lid in chain]
        self.index = ids.index(link_id) if link_id in ids else None
        if kind is None:
            want = 0 if option == "before" else len(chain) - 1
            self.in_place = self.index == want
        else:
            pos = _chain_index(chain, kind, rel_id)
            self.in_place = self.index is not None and (
                self.index < pos if option == "before" else self.index > pos)

    @property
    def words(self):
        return "%s %s" % (self.option, self.value)

    def attach(self, prog_fd, interface, direction, what, revision=None):
        """A new tcx link of ``prog_fd`` at this place; ``revision`` the
        chain's expected one (default: as observed)."""
        flags = uapi.BPF_F_BEFORE if self.option == "before" else uapi.BPF_F_AFTER
        revision = self.revision if revision is None else revision
        if self.kind is None:
            return attach.attach_tcx(prog_fd, interface, direction, what, flags, 0, revision)
        if self.kind == "link":
            flags |= uapi.BPF_F_LINK
        rel = syscalls.obj_get(self.pin)
        try:
            return attach.attach_tcx(prog_fd, interface, direction, what, flags, rel, revision)
        finally:
            os.close(rel)


def _chain_index(chain, kind, rel_id):
    for i, (pid, lid) in enumerate(chain):
        if (lid if kind == "link" else pid) == rel_id:
            return i
    return None


def _placement(req, att, prog, existing):
    """The Placement of tcx attachment ``att``: what before/after names,
    found, and the chain it must be in. SpecError naming the option when
    it names nothing, this link itself, or something not in the chain."""
    option, value = att.order
    direction = att.record["direction"]
    chain, revision = attach.tcx_chain(req.interface, direction, "program '%s'" % prog.name)
    link_id = existing["link_id"] if existing and existing.get("matches") else None
    where = "tc %s on %s" % (direction, req.interface)
    if value == CHAIN_ENDS[option]:
        return Placement(option, value, None, None, None, chain, revision, link_id)
    kind, pin = _relative(req, option, value)
    fd = syscalls.obj_get(pin)
    try:
        rel_id = syscalls.link_info(fd).id if kind == "link" else syscalls.fdinfo(fd).prog_id
    finally:
        os.close(fd)
    if (kind == "link" and rel_id == link_id) or (kind == "program" and rel_id == prog.id):
        raise SpecError("program '%s': %s '%s' names this link itself%s" % (
            prog.name, option, value, "" if kind == "link" else " (the program it runs)"))
    if _chain_index(chain, kind, rel_id) is None:
        raise SpecError("program '%s': %s '%s': that %s (id %d) is not attached to %s" % (
            prog.name, option, value, kind, rel_id, where))
    return Placement(option, value, kind, pin, rel_id, chain, revision, link_id)


def _relative(req, option, value):
    """('link' or 'program', pin) of what before/after ``value`` names: a
    pin path, or [collection/]link or [collection/]program (a link name
    first) of a deployed collection under the same pin root."""
    if value.startswith("/"):
        if not os.path.lexists(value):
            raise SpecError("%s '%s': nothing is pinned there" % (option, value))
        fd = syscalls.obj_get(value)
        try:
            kind = syscalls.fdinfo(fd).kind
        finally:
            os.close(fd)
        if kind not in ("link", "prog"):
            raise SpecError("%s '%s': a %s, not a link or a program" % (option, value, kind or "file"))
        return ("link" if kind == "link" else "program"), value
    collection, _sep, name = value.rpartition("/")
    if not name or (_sep and not collection) or "/" in collection:
        raise SpecError("%s '%s': want %s, [collection/]link, [collection/]program or a pin path" % (
            option, value, CHAIN_ENDS[option]))
    collection = collection or req.pins.name
    pins = CollectionPins(req.pins.pin_root, collection)
    record = read_state(pins.live)
    if record is None:
        raise SpecError("%s '%s': collection '%s' is not deployed under %s" % (
            option, value, collection, pins.pin_root))
    path = os.path.join(pins.live, LINKS_DIR, name)
    if os.path.lexists(path) and not os.path.islink(path):
        fd = syscalls.obj_get(path)
        try:
            is_link = syscalls.fdinfo(fd).kind == "link"
        finally:
            os.close(fd)
        if is_link:
            return "link", path
    entry = record.get("programs", {}).get(name)
    if entry is not None:
        return "program", os.path.join(pins.live, PROGS_DIR, entry["pin"])
    raise SpecError("%s '%s': collection '%s' has no link or program '%s'" % (option, value, collection, name))


def _existing(req, att, path):
    if _is_netlink(att):
        from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record
        from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc

        record = read_record(path) if os.path.lexists(path) else None
        spec = att.expect[1]
        attached = (netlink_tc.current(spec["interface"], spec["direction"], spec["priority"], spec["handle"])
                    if record is not None or req.state == "present" else None)
        return {"record": record, "filter": attached} if record is not None or attached is not None else None
    if not os.path.lexists(path):
        return None
    fd = syscalls.obj_get(path)
    try:
        info = syscalls.link_info(fd)
    finally:
        os.close(fd)
    return {"link_id": info.id, "prog_id": info.prog_id, "matches": _matches(info, att.expect)}


def _is_netlink(att):
    return bool(att.expect) and att.expect[0] == "netlink-tc"


# ---------------------------------------------------------------- plan

class LinkStep:
    """What one link needs: ``action`` none, attach, update, replace,
    move (a tcx link out of its asked place) or detach, with
    ``before``/``after`` for --diff."""

    def __init__(self, req, obs, action, before, after):
        self.req = req
        copy_fields(self, obs, "prog", "att", "links_dir", "existing", "placement")
        self.action = action
        self.before = before
        self.after = after

    @property
    def changed(self):
        return self.action != "none"

    def entry(self):
        """The result entry (before apply, or in check mode)."""
        entry = {"name": self.att.name, "type": self.att.type, "attach_point": self.att.point,
                 "pin": os.path.join(self.links_dir, self.att.name), "program": self.prog.name,
                 "program_id": self.prog.id, "program_tag": self.prog.tag, "action": self.action}
        if _is_netlink(self.att):
            entry["method"] = "netlink"
        elif self.existing is not None and self.action == "none":
            entry["link_id"] = self.existing["link_id"]
        return entry


def plan_links(req, observations):
    """(steps, skipped): pure."""
    steps, skipped = [], []
    for obs in observations:
        if obs.att is None:
            skipped.append({"program": obs.prog.name, "section": obs.prog.section, "reason": obs.skip})
        elif _is_netlink(obs.att):
            steps.append(_plan_netlink(req, obs))
        else:
            steps.append(_plan_link(req, obs))
    return steps, skipped


def _plan_link(req, obs):
    existing, name = obs.existing, obs.att.name
    before = {"link": name, "program_id": existing["prog_id"]} if existing else {}
    if req.state == "absent":
        return LinkStep(req, obs, "detach" if existing else "none", before, {})
    after = {"link": name, "program_id": obs.prog.id}
    if existing is None:
        action = "attach"
    elif not existing["matches"]:
        action = "replace"
    else:
        action = "none" if existing["prog_id"] == obs.prog.id else "update"
    placement = obs.placement
    if placement is not None:
        after["place"] = placement.words
        if placement.index is not None:
            before["place"] = "%d of %d in the chain" % (placement.index + 1, len(placement.chain))
        if action in ("none", "update") and not placement.in_place:
            action = "move"
    return LinkStep(req, obs, action, before, after)


def _plan_netlink(req, obs):
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc

    existing, name = obs.existing or {}, obs.att.name
    record, attached = existing.get("record"), existing.get("filter")
    before = {"link": name, "filter": attached} if record is not None else {}
    if req.state == "absent":
        return LinkStep(req, obs, "detach" if record is not None else "none", before, {})
    want = netlink_tc.filter_name(os.path.basename(obs.prog.pin), obs.prog.id)
    after = {"link": name, "filter": want}
    if record is not None and attached == want:
        return LinkStep(req, obs, "none", before, after)
    return LinkStep(req, obs, "update" if attached else "attach", before, after)


# ---------------------------------------------------------------- apply

def apply_step(step):
    """Carry out one LinkStep; returns its result entry."""
    entry = step.entry()
    if not step.changed:
        return entry
    if _is_netlink(step.att):
        _apply_netlink(step)
        return entry
    path = os.path.join(step.links_dir, step.att.name)
    if step.action == "detach":
        fd = syscalls.obj_get(path)
        try:
            syscalls.link_detach(fd, what="link '%s'" % step.att.name)
        except SyscallError:
            pass  # kernels before 5.9 cannot detach; unpinning releases it
        finally:
            os.close(fd)
        os.unlink(path)
        _drop_request(step.links_dir, step.att.name)
        # Perf-event links cannot be detached: only their release does it.
        # Detached means detached when the task returns.
        if not syscalls.wait_released("link", step.existing["link_id"]):
            entry["warning"] = "link %d still held by another process: it keeps running until that lets go" % (
                step.existing["link_id"])
        return entry
    if step.action == "move":
        return _move(step, path, entry)
    prog_fd = syscalls.obj_get(step.prog.pin)
    try:
        what = "program '%s': %s" % (step.prog.name, step.att.point)
        if step.action == "update":
            if _update(path, prog_fd, what):
                entry["link_id"] = step.existing["link_id"]
                _keep_request(step.att, step.links_dir)
                return entry
            # A link type the kernel cannot re-point: a new link goes in
            # beside it before the old one is unpinned, so no event is
            # missed (both programs may see the few in between).
            entry["action"] = "replace"
        holder = _hook_holder(step, path)
        if holder:
            fd = step.att.make(prog_fd, what, holder)
        elif step.placement is not None:
            fd = step.att.make(prog_fd, what, step.placement)
        else:
            fd = step.att.make(prog_fd, what)
    finally:
        os.close(prog_fd)
    _pin_new(step, fd, path, entry)
    return entry


def _pin_new(step, fd, path, entry, keep_request=True):
    """Pin the new link ``fd`` (closed here) at ``path``, over what is
    there, and (``keep_request``) the request it was made for beside it."""
    try:
        # Made only now: a failed attach leaves no empty links/ behind.
        make_dirs(step.links_dir)
        entry["link_id"] = syscalls.link_info(fd).id
        tmp = path + "__new"
        syscalls.obj_pin(fd, tmp)
        os.rename(tmp, path)
    finally:
        os.close(fd)
    if keep_request:
        _keep_request(step.att, step.links_dir)


def _move(step, path, entry):
    """A tcx link out of its asked place: a chain runs a program once and
    has no move, so the link is detached and made again where asked, for
    the program ``step`` names. Packets that come in between meet neither
    (a gap of one system call). A failed attach puts the program back
    where it was, before the one that followed it."""
    what = "program '%s': %s" % (step.prog.name, step.att.point)
    placement = step.placement
    old = syscalls.obj_get(path)
    prog_fd = syscalls.obj_get(step.prog.pin)
    try:
        syscalls.link_detach(old, what=what + " (leaving its place)")
        try:
            fd = placement.attach(prog_fd, step.req.interface, step.att.record["direction"], what,
                                  placement.revision + 1)
        except LoaderError as e:
            if not _put_back(step, prog_fd, path, entry, what):
                raise LoaderError("%s; putting the program back where it was failed too: the link is detached "
                                  "until the task runs again" % e, hint=e.hint) from e
            raise
    finally:
        os.close(prog_fd)
        os.close(old)
    _pin_new(step, fd, path, entry)
    return entry


def _put_back(step, prog_fd, path, entry, what):
    """The program back in the place it left (before what followed it, or
    at the tail), pinned at ``path`` again; False when it cannot be."""
    placement = step.placement
    chain, index = placement.chain, placement.index
    flags, rel = uapi.BPF_F_AFTER, 0
    if index is not None and index + 1 < len(chain):
        pid, lid = chain[index + 1]
        flags, rel = (uapi.BPF_F_BEFORE | uapi.BPF_F_ID | (uapi.BPF_F_LINK if lid else 0)), (lid or pid)
    try:
        fd = syscalls.link_create(prog_fd, attach.ifindex(step.req.interface),
                                  attach.TCX_ATTACH_TYPES[step.att.record["direction"]], flags, rel,
                                  what=what + " (back in its place)")
    except LoaderError:
        return False
    _pin_new(step, fd, path, entry, keep_request=False)
    return True


def _hook_holder(step, path):
    # A netfilter hook takes one program per priority: the link that holds
    # it now (this one being replaced, or the old version's) hands it over.
    if step.att.type != "netfilter":
        return None
    if os.path.lexists(path):
        return path
    return step.req.replaces if step.req.replaces and os.path.lexists(step.req.replaces) else None


def _update(path, prog_fd, what):
    """BPF_LINK_UPDATE of the link pinned at ``path``; False where the
    kernel cannot re-point that link type."""
    fd = syscalls.obj_get(path)
    try:
        syscalls.link_update(fd, prog_fd, what=what)
        return True
    except SyscallError as e:
        if e.errno not in syscalls.LINK_UPDATE_UNSUPPORTED:
            raise
        return False
    finally:
        os.close(fd)


def _keep_request(att, links_dir):
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map

    requests = os.path.join(os.path.dirname(links_dir), LINK_REQUESTS_DIR)
    make_dirs(requests)
    fd = create_state_map(att.record)
    try:
        tmp = os.path.join(requests, att.name + "__new")
        syscalls.obj_pin(fd, tmp)
        os.rename(tmp, os.path.join(requests, att.name))
    finally:
        os.close(fd)


def _drop_request(links_dir, link_name):
    try:
        os.unlink(os.path.join(os.path.dirname(links_dir), LINK_REQUESTS_DIR, link_name))
    except OSError:
        pass


def _apply_netlink(step):
    """A tc attachment made through netlink: the filter is the kernel's
    state, and a record map pinned at links/<name> says what it is, so it
    moves with the collection like a link."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc

    path = os.path.join(step.links_dir, step.att.name)
    spec = step.att.expect[1]
    args = (spec["interface"], spec["direction"], spec["priority"], spec["handle"])
    what = "program '%s': %s" % (step.prog.name, step.att.point)
    if step.action == "detach":
        if step.existing.get("filter") is not None:
            netlink_tc.detach(*(args + (what,)))
        os.unlink(path)
        return
    prog_fd = syscalls.obj_get(step.prog.pin)
    try:
        netlink_tc.attach(spec["interface"], spec["direction"], prog_fd, step.after["filter"], spec["priority"],
                          spec["handle"], what)
    finally:
        os.close(prog_fd)
    if (step.existing or {}).get("record") is None:
        make_dirs(step.links_dir)
        fd = create_state_map(dict(spec, program=os.path.basename(step.prog.pin)))
        try:
            syscalls.obj_pin(fd, path)
        finally:
            os.close(fd)
