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
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    LoaderError, NotSupportedError, SpecError, SyscallError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import attach, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    CollectionPins, LINKS_DIR, LINK_REQUESTS_DIR, PROGS_DIR, make_dirs)
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.sections import classify

TYPES = ("auto", "xdp", "tc", "cgroup", "tracepoint", "kprobe", "kretprobe", "raw_tracepoint", "fentry", "fexit",
         "fmod_ret", "lsm", "tp_btf")
_TRACING = ("fentry", "fexit", "fmod_ret", "lsm", "tp_btf")
# What bpf_link attach type each program type takes (the program's type must fit).
_PROG_TYPES = {
    "xdp": (uapi.BPF_PROG_TYPE_XDP,),
    "tc": (uapi.BPF_PROG_TYPE_SCHED_CLS,),
    "tracepoint": (uapi.BPF_PROG_TYPE_TRACEPOINT,),
    "kprobe": (uapi.BPF_PROG_TYPE_KPROBE,),
    "kretprobe": (uapi.BPF_PROG_TYPE_KPROBE,),
    "raw_tracepoint": (uapi.BPF_PROG_TYPE_RAW_TRACEPOINT, uapi.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
    "fentry": (uapi.BPF_PROG_TYPE_TRACING,), "fexit": (uapi.BPF_PROG_TYPE_TRACING,),
    "fmod_ret": (uapi.BPF_PROG_TYPE_TRACING,), "tp_btf": (uapi.BPF_PROG_TYPE_TRACING,),
    "lsm": (uapi.BPF_PROG_TYPE_LSM,),
}
_SECTION_KIND_TO_TYPE = {"xdp": "xdp", "tcx": "tc", "tc": "tc", "cgroup": "cgroup", "tracepoint": "tracepoint",
                         "kprobe": "kprobe", "kretprobe": "kretprobe", "raw_tracepoint": "raw_tracepoint",
                         "fentry": "fentry", "fexit": "fexit", "fmod_ret": "fmod_ret", "lsm": "lsm", "tp_btf": "tp_btf"}


class LinkRequest:
    """One desired attachment (the bpf_link module's options, checked)."""

    def __init__(self, pin_root, collection, program, link_type="auto", interface=None, direction=None,
                 mode="auto", cgroup=None, target=None, name=None, state="present", method="auto", priority=1,
                 handle=1):
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
        if method not in ("auto", "link", "netlink"):
            raise SpecError("method '%s': want auto, link or netlink" % method)
        self.method = method
        self.priority = priority
        self.handle = handle

    @classmethod
    def from_record(cls, pin_root, collection, record, program):
        """The request that makes again the link ``record`` describes, for
        ``program`` (the one the link runs: records written before 0.2 by a
        ``type: auto`` task without a program hold none)."""
        fields = ("link_type", "interface", "direction", "mode", "cgroup", "target", "name", "method",
                  "priority", "handle")
        return cls(pin_root, collection, program, **dict((k, record[k]) for k in fields if record.get(k) is not None))


class Program:
    """A pinned program of a collection, with what its section says."""

    def __init__(self, collection, version, name, record):
        self.name = name
        entry = (record or {}).get("programs", {}).get(name)
        if entry is None:
            raise SpecError("collection '%s' has no program '%s' (has: %s)" % (
                collection, name, ", ".join(sorted((record or {}).get("programs", {}))) or "none"))
        self.pin = os.path.join(version, PROGS_DIR, entry["pin"])
        self.section = entry.get("section", "")
        self.kind = classify(self.section) if self.section else None
        self.fd = syscalls.obj_get(self.pin)
        info = syscalls.fdinfo(self.fd)
        self.id = int(info["prog_id"])
        self.type = int(info["prog_type"])
        self.tag = info.get("prog_tag", "")

    def close(self):
        os.close(self.fd)


class Attachment:
    """One link, resolved for one program: ``type``, ``point`` (in words),
    ``name`` (its pin), ``make(prog_fd, what)`` (attaches, returns the link
    fd), ``expect`` (what an existing link must show to count as this one)
    and ``record`` (what is kept beside it to make it again)."""

    def __init__(self, link_type, point, name, make, expect, record):
        self.type = link_type
        self.point = point
        self.name = name
        self.make = make
        self.expect = expect
        self.record = record


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
    if link_type in ("xdp", "tc", "cgroup"):
        needs = "a cgroup" if link_type == "cgroup" else "an interface"
        return "%s needs %s, which no section names" % (link_type, needs)
    if link_type in ("tracepoint", "kprobe", "kretprobe", "raw_tracepoint") and not kind.attach_target:
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
    if link_type in ("kprobe", "kretprobe") and kind is not None and kind.expected_attach_type is not None:
        # A kprobe.multi/session program: the kernel takes it only through
        # a multi link, which a perf-event kprobe is not.
        raise NotSupportedError("program '%s' (section '%s'): a %s program attaches only through a multi link, "
                                "which bpf_link does not support yet" % (prog.name, prog.section, kind.attach_kind))
    target = req.target if req.target is not None else (kind.attach_target if kind else None)
    direction = None
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

            def make(fd, what):
                return attach.attach_tcx(fd, req.interface, direction, what)
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
        except ValueError:
            raise SpecError("program '%s': %s target '%s': offset is not a number" % (prog.name, link_type, target))
        point = "%s %s" % (link_type, target)
        label = target

        def make(fd, what):
            return attach.attach_kprobe(fd, function, offset, link_type == "kretprobe", what)
        expect = None
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
              "priority": req.priority, "handle": req.handle}
    return Attachment(link_type, point.rstrip(), name, make, expect, record)


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
        raise LoaderError("cgroup '%s': %s" % (path, e.strerror))


def _matches(info, expect):
    if expect is None:
        return True
    what, value = expect
    if what == "ifindex":
        return struct.unpack_from("=I", info.raw)[0] == value
    if what == "cgroup":
        return struct.unpack_from("=Q", info.raw)[0] == value
    return True


def converge_link(req, check_mode=False):
    """Attach or detach; returns the module result (a dict)."""
    pins = req.pins
    pins.check()
    with collection_lock(pins):
        record = read_state(pins.live)
        if record is None and req.state == "present":
            raise SpecError("collection '%s' is not deployed under %s (deploy it with ebpf.deploy.bpf_collection "
                            "first)" % (pins.name, pins.pin_root))
        return _converge(req, pins.live, record, check_mode)


def _converge(req, version, record, check_mode):
    names = [req.program] if req.program else sorted((record or {}).get("programs", {}))
    links_dir = os.path.join(version, LINKS_DIR)
    programs, skipped = [], []
    try:
        # Every program is resolved before anything is attached, so a bad
        # option fails the task without attaching half of what it names.
        for name in names:
            if req.state == "absent" and (record is None or name not in record.get("programs", {})):
                continue
            prog = Program(req.pins.name, version, name, record)
            programs.append(prog)
            reason = auto_skip_reason(prog) if not req.program and req.type == "auto" else None
            if reason:
                skipped.append({"program": name, "section": prog.section, "reason": reason})
                prog.attachment = None
            else:
                prog.attachment = resolve(req, prog)
        results = []
        for prog in programs:
            att = prog.attachment
            if att is None:
                continue
            if att.expect and att.expect[0] == "netlink-tc":
                results.append(_one_netlink(req, prog, links_dir, att, check_mode))
            else:
                results.append(_one(req, prog, links_dir, att, check_mode))
    finally:
        for prog in programs:
            prog.close()
    result = {"changed": any(e["changed"] for e in results), "links": results}
    if skipped:
        result["skipped"] = skipped
    return result


def remake_link(pin_root, collection, version, state_record, link_record, program):
    """Make again, in version directory ``version``, the link
    ``link_record`` describes, for ``program`` (the program of that name in
    ``version``): a new link beside the old one, which goes with the old
    version. Returns its result entry; raises LoaderError."""
    req = LinkRequest.from_record(pin_root, collection, link_record, program)
    return _converge(req, version, state_record, False)["links"][0]


def _one(req, prog, links_dir, att, check_mode):
    link_name, expect = att.name, att.expect
    path = os.path.join(links_dir, link_name)
    entry = {"name": link_name, "type": att.type, "attach_point": att.point, "pin": path, "program": prog.name,
             "program_id": prog.id, "program_tag": prog.tag}
    existing = None
    if os.path.lexists(path):
        existing = syscalls.obj_get(path)
    try:
        info = syscalls.link_info(existing) if existing is not None else None
        before = {"link": link_name, "program_id": info.prog_id} if info else {}
        if req.state == "absent":
            entry.update(changed=existing is not None, action="detach" if existing is not None else "none",
                         diff={"before": before, "after": {}})
            if existing is not None and not check_mode:
                try:
                    syscalls.link_detach(existing, what="link '%s'" % link_name)
                except SyscallError:
                    pass  # kernels before 5.9 cannot detach; unpinning releases it
                os.unlink(path)
                _drop_request(links_dir, link_name)
            return entry
        after = {"link": link_name, "program_id": prog.id}
        if info is not None and info.prog_id == prog.id and _matches(info, expect):
            entry.update(changed=False, action="none", link_id=info.id, diff={"before": before, "after": after})
            return entry
        if info is not None and _matches(info, expect):
            action = "update"
        else:
            action = "attach" if info is None else "replace"
        entry.update(changed=True, action=action, diff={"before": before, "after": after})
        if check_mode:
            return entry
        what = "program '%s': %s" % (prog.name, att.point)
        if action == "update":
            try:
                syscalls.link_update(existing, prog.fd, what=what)
                entry["link_id"] = info.id
                _keep_request(att, links_dir)
                return entry
            except SyscallError as e:
                if e.errno not in syscalls.LINK_UPDATE_UNSUPPORTED:
                    raise
                # A link type the kernel cannot re-point: a new link goes in
                # beside it before the old one is unpinned, so no event is
                # missed (both programs may see the few in between).
                entry["action"] = "replace"
        fd = att.make(prog.fd, what)
        try:
            # Made only now: a failed attach leaves no empty links/ behind.
            make_dirs(links_dir)
            entry["link_id"] = syscalls.link_info(fd).id
            tmp = path + "__new"
            syscalls.obj_pin(fd, tmp)
            os.rename(tmp, path)
        finally:
            os.close(fd)
        _keep_request(att, links_dir)
        return entry
    finally:
        if existing is not None:
            os.close(existing)


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


def _one_netlink(req, prog, links_dir, att, check_mode):
    """A tc attachment made through netlink: the filter is the kernel's
    state, and a record map pinned at links/<name> says what it is, so it
    moves with the collection like a link."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map, read_record

    link_name, point, spec = att.name, att.point, att.expect[1]
    path = os.path.join(links_dir, link_name)
    entry = {"name": link_name, "type": att.type, "attach_point": point, "pin": path, "program": prog.name,
             "program_id": prog.id, "program_tag": prog.tag, "method": "netlink"}
    record = read_record(path) if os.path.lexists(path) else None
    args = (spec["interface"], spec["direction"], spec["priority"], spec["handle"])
    attached = netlink_tc.current(*args) if record is not None or req.state == "present" else None
    want = netlink_tc.filter_name(os.path.basename(prog.pin), prog.id)
    before = {"link": link_name, "filter": attached} if record is not None else {}
    if req.state == "absent":
        entry.update(changed=record is not None, action="detach" if record is not None else "none",
                     diff={"before": before, "after": {}})
        if record is not None and not check_mode:
            if attached is not None:
                netlink_tc.detach(*(args + ("program '%s': %s" % (prog.name, point),)))
            os.unlink(path)
        return entry
    after = {"link": link_name, "filter": want}
    if record is not None and attached == want:
        entry.update(changed=False, action="none", diff={"before": before, "after": after})
        return entry
    entry.update(changed=True, action="update" if attached else "attach", diff={"before": before, "after": after})
    if check_mode:
        return entry
    netlink_tc.attach(spec["interface"], spec["direction"], prog.fd, want, spec["priority"], spec["handle"],
                      "program '%s': %s" % (prog.name, point))
    if record is None:
        make_dirs(links_dir)
        fd = create_state_map(dict(spec, program=os.path.basename(prog.pin)))
        try:
            syscalls.obj_pin(fd, path)
        finally:
            os.close(fd)
    return entry
