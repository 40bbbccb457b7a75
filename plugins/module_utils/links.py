# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attachments of a collection's programs, kept as pinned bpf_links.

A link lives in ``pin_root/<collection>/links/<name>``, so it moves with
the collection: when bpf_collection replaces the programs it re-points
each link at the new program with BPF_LINK_UPDATE (atomic: every event or
packet meets the old or the new program), and removing the collection
detaches them. ``plan_link()`` decides from what is pinned; ``apply_link()``
changes the kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import struct

from ansible_collections.ebpf.deploy.plugins.module_utils import attach, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.pins import (
    LINK_REQUESTS_DIR, LINKS_DIR, PROGS_DIR, CollectionPins)
from ansible_collections.ebpf.deploy.plugins.module_utils.sections import classify
from ansible_collections.ebpf.deploy.plugins.module_utils.state import read_state

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

    def record(self, link_name):
        """What to keep beside the link to make it again (see LINK_REQUESTS_DIR)."""
        return {"program": self.program, "link_type": self.type, "interface": self.interface,
                "direction": self.direction, "mode": self.mode, "cgroup": self.cgroup, "target": self.target,
                "name": link_name, "method": self.method, "priority": self.priority, "handle": self.handle}

    @classmethod
    def from_record(cls, version, record):
        """The request of ``record`` for the collection whose live version is
        the directory ``version``."""
        fields = ("program", "link_type", "interface", "direction", "mode", "cgroup", "target", "name", "method",
                  "priority", "handle")
        return cls(os.path.dirname(version), os.path.basename(version),
                   **dict((k, record[k]) for k in fields if k in record))


class Program:
    """A pinned program of a collection, with what its section says."""

    def __init__(self, pins, name, record):
        self.name = name
        entry = (record or {}).get("programs", {}).get(name)
        if entry is None:
            raise SpecError("collection '%s' has no program '%s' (has: %s)" % (
                pins.name, name, ", ".join(sorted((record or {}).get("programs", {}))) or "none"))
        self.pin = os.path.join(pins.live, PROGS_DIR, entry["pin"])
        self.section = entry.get("section", "")
        self.kind = classify(self.section) if self.section else None
        self.fd = syscalls.obj_get(self.pin)
        info = syscalls.fdinfo(self.fd)
        self.id = int(info["prog_id"])
        self.type = int(info["prog_type"])
        self.tag = info.get("prog_tag", "")

    def close(self):
        os.close(self.fd)


def resolve(req, prog):
    """(type, attach point description, link name, attach callable, expected
    check) for one program, with every option checked. Raises SpecError
    naming the program and option."""
    link_type = req.type
    kind = prog.kind
    if link_type == "auto":
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
    target = req.target if req.target is not None else (kind.attach_target if kind else None)
    if link_type == "xdp":
        _need(req.interface, "interface", prog, link_type)
        if req.mode not in attach.XDP_MODES:
            raise SpecError("mode '%s': want one of %s" % (req.mode, ", ".join(sorted(attach.XDP_MODES))))
        point = "xdp on %s (%s)" % (req.interface, req.mode)
        label = req.interface

        def do(fd, what):
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

            def do(fd, what):
                raise AssertionError("netlink attachments go through _one_netlink")
        else:
            point = "tc %s on %s" % (direction, req.interface)

            def do(fd, what):
                return attach.attach_tcx(fd, req.interface, direction, what)
    elif link_type == "cgroup":
        _need(req.cgroup, "cgroup", prog, link_type)
        attach_type = kind.expected_attach_type if kind else None
        if attach_type is None:
            raise SpecError("program '%s' (section '%s'): not a cgroup program" % (prog.name, prog.section))
        point = "cgroup %s (%s)" % (req.cgroup, uapi.ATTACH_TYPE_NAMES.get(attach_type, attach_type))
        label = "%s_%s" % (os.path.basename(req.cgroup.rstrip("/")) or "root",
                           uapi.ATTACH_TYPE_NAMES.get(attach_type, attach_type))

        def do(fd, what):
            return attach.attach_cgroup(fd, req.cgroup, attach_type, what)
        expect = ("cgroup", _cgroup_id(req.cgroup))
    elif link_type == "tracepoint":
        _need(target, "target", prog, link_type)
        if target.count("/") != 1:
            raise SpecError("program '%s': tracepoint target '%s' is not category/name" % (prog.name, target))
        category, tp = target.split("/")
        point = "tracepoint %s" % target
        label = target

        def do(fd, what):
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

        def do(fd, what):
            return attach.attach_kprobe(fd, function, offset, link_type == "kretprobe", what)
        expect = None
    elif link_type == "raw_tracepoint":
        _need(target, "target", prog, link_type)
        point = "raw_tracepoint %s" % target
        label = target

        def do(fd, what):
            return attach.attach_raw_tracepoint(fd, target, what)
        expect = None
    else:
        point = "%s %s" % (link_type, (kind.attach_target if kind else "") or "")
        label = (kind.attach_target if kind else None) or "target"

        def do(fd, what):
            return attach.attach_tracing(fd, what)
        expect = None
    name = req.name or "%s__%s_%s" % (prog.name, link_type, label)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:200]
    return link_type, point, name, do, expect


def _tc_by_netlink(req):
    """tc goes through netlink when asked, or (method auto) before tcx (6.6)."""
    if req.method != "auto":
        return req.method == "netlink"
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock import kernel_version
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
    record = read_state(pins.live)
    if record is None and req.state == "present":
        raise SpecError("collection '%s' is not deployed under %s (deploy it with ebpf.deploy.bpf_collection "
                        "first)" % (pins.name, pins.pin_root))
    names = [req.program] if req.program else sorted((record or {}).get("programs", {}))
    links_dir = os.path.join(pins.live, LINKS_DIR)
    results = []
    changed = False
    for name in names:
        if req.state == "absent" and (record is None or name not in record.get("programs", {})):
            continue
        prog = Program(pins, name, record)
        try:
            if not req.program and req.type == "auto":
                if prog.kind is None or _SECTION_KIND_TO_TYPE.get(prog.kind.attach_kind) in (None, "xdp", "tc",
                                                                                             "cgroup"):
                    # Only targets a section fully names are attached by auto.
                    continue
            link_type, point, link_name, do, expect = resolve(req, prog)
            if expect and expect[0] == "netlink-tc":
                entry = _one_netlink(req, prog, links_dir, link_type, point, link_name, expect[1], check_mode)
            else:
                entry = _one(req, prog, links_dir, link_type, point, link_name, do, expect, check_mode)
        finally:
            prog.close()
        changed = changed or entry["changed"]
        results.append(entry)
    return {"changed": changed, "links": results}


def _one(req, prog, links_dir, link_type, point, link_name, do, expect, check_mode):
    path = os.path.join(links_dir, link_name)
    entry = {"name": link_name, "type": link_type, "attach_point": point, "pin": path, "program": prog.name,
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
        what = "program '%s': %s" % (prog.name, point)
        if action == "update":
            try:
                syscalls.link_update(existing, prog.fd, what=what)
                entry["link_id"] = info.id
                _keep_request(req, links_dir, link_name)
                return entry
            except SyscallError as e:
                if e.errno not in syscalls.LINK_UPDATE_UNSUPPORTED:
                    raise
                # A link type the kernel cannot re-point: a new link goes in
                # beside it before the old one is unpinned, so no event is
                # missed (both programs may see the few in between).
                entry["action"] = "replace"
        if not os.path.isdir(links_dir):
            os.mkdir(links_dir, 0o700)
        fd = do(prog.fd, what)
        try:
            entry["link_id"] = syscalls.link_info(fd).id
            tmp = path + "__new"
            syscalls.obj_pin(fd, tmp)
            os.rename(tmp, path)
        finally:
            os.close(fd)
        _keep_request(req, links_dir, link_name)
        return entry
    finally:
        if existing is not None:
            os.close(existing)


def _keep_request(req, links_dir, link_name):
    from ansible_collections.ebpf.deploy.plugins.module_utils.state import create_state_map

    requests = os.path.join(os.path.dirname(links_dir), LINK_REQUESTS_DIR)
    if not os.path.isdir(requests):
        os.mkdir(requests, 0o700)
    fd = create_state_map(req.record(link_name))
    try:
        tmp = os.path.join(requests, link_name + "__new")
        syscalls.obj_pin(fd, tmp)
        os.rename(tmp, os.path.join(requests, link_name))
    finally:
        os.close(fd)


def _drop_request(links_dir, link_name):
    try:
        os.unlink(os.path.join(os.path.dirname(links_dir), LINK_REQUESTS_DIR, link_name))
    except OSError:
        pass


def _one_netlink(req, prog, links_dir, link_type, point, link_name, spec, check_mode):
    """A tc attachment made through netlink: the filter is the kernel's
    state, and a record map pinned at links/<name> says what it is, so it
    moves with the collection like a link."""
    from ansible_collections.ebpf.deploy.plugins.module_utils import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.state import create_state_map, read_record

    path = os.path.join(links_dir, link_name)
    entry = {"name": link_name, "type": link_type, "attach_point": point, "pin": path, "program": prog.name,
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
        if not os.path.isdir(links_dir):
            os.mkdir(links_dir, 0o700)
        fd = create_state_map(dict(spec, program=os.path.basename(prog.pin)))
        try:
            syscalls.obj_pin(fd, path)
        finally:
            os.close(fd)
    return entry
