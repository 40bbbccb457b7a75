# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A version's links when the collection is replaced or removed.

Before the swap, every link of the live version is checked against the new
one and the links the kernel cannot re-point (perf events, raw and BTF
tracepoints) are made again for the new program of the same name, new
before old (``remake_links``). After the swap the others are re-pointed in
place with BPF_LINK_UPDATE, atomically per link (``carry_links``), each
step recorded so that a failure puts every moved link back. tc filters
attached through netlink are replaced the same way, and detached when a
version is removed (they would outlive its pins).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import create_state_map, read_state
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import (
    KEPT_SUFFIX, LINKS_DIR, LINK_REQUESTS_DIR, PROGS_DIR, STAGING_SUFFIX, make_dirs)


class LinkRewireError(LoaderError):
    """A link of the live version cannot be wired to the new one."""


def _pinned_links(version):
    """The names in ``version``'s links/ (symlinks left out: never ours)."""
    if os.path.islink(os.path.join(version, LINKS_DIR)):
        return []
    try:
        names = sorted(os.listdir(os.path.join(version, LINKS_DIR)))
    except OSError:
        return []
    return [n for n in names if not os.path.islink(os.path.join(version, LINKS_DIR, n))]


def _program_by_id(record):
    return dict((e["id"], (name, e["pin"])) for name, e in (record or {}).get("programs", {}).items())


def _prog_type(path):
    fd = syscalls.obj_get(path)
    try:
        return syscalls.fdinfo(fd).prog_type
    finally:
        os.close(fd)


def remake_links(pins, old_record, new_record):
    """Before the swap: every link of the live version is checked against
    the staging one, and the links the kernel cannot re-point are made
    again there, each for the program of the same name (new before old: the
    old link goes with the old version). A link that cannot be re-wired
    fails the upgrade here, while the live version is untouched. Returns
    warnings (links whose program the new version no longer has)."""
    old, new = pins.live, pins.staging
    by_id = _program_by_id(old_record)
    warnings = []
    for name in _pinned_links(old):
        lfd = syscalls.obj_get(os.path.join(old, LINKS_DIR, name))
        try:
            if syscalls.fdinfo(lfd).kind == "map":
                continue  # the record of a netlink attachment: replaced after the swap
            info = syscalls.link_info(lfd)
        finally:
            os.close(lfd)
        program, pin = by_id.get(info.prog_id, (None, None))
        if program is None:
            raise LinkRewireError("link '%s' runs program id %d, which is not in the live version's record" % (
                name, info.prog_id))
        new_entry = new_record["programs"].get(program)
        if new_entry is None:
            warnings.append("link '%s': its program '%s' is not in the new version; the link is detached" % (
                name, program))
            continue
        old_type = _prog_type(os.path.join(old, PROGS_DIR, pin))
        new_type = _prog_type(os.path.join(new, PROGS_DIR, new_entry["pin"]))
        if old_type != new_type:
            raise LinkRewireError("link '%s': program '%s' was a %s program and is a %s program in the new "
                                  "version, which the link cannot run" % (
                                      name, program, uapi.PROG_TYPE_NAMES.get(old_type, old_type),
                                      uapi.PROG_TYPE_NAMES.get(new_type, new_type)))
        if uapi.link_can_update(info.type):
            continue
        _remake_link(old, new, new_record, name, program)
    return warnings


def carry_links(src, src_record, dst):
    """Move the links pinned in version ``src`` to version ``dst``: each is
    pointed at ``dst``'s program of the same name (BPF_LINK_UPDATE, atomic
    per link, and only if it still runs ``src``'s program) and pinned in
    ``dst``. Links ``dst`` already has are left alone. Returns (warnings,
    undo): warnings for links whose program ``dst`` lacks (they go when
    ``src`` is removed), and the steps that put each moved link back.
    On an error the links moved so far are put back before it is raised."""
    dst_links = os.path.join(dst, LINKS_DIR)
    by_id = _program_by_id(src_record)
    dst_record = read_state(dst)
    warnings, undo = [], []
    try:
        for name in _pinned_links(src):
            if os.path.lexists(os.path.join(dst_links, name)):
                continue
            lfd = syscalls.obj_get(os.path.join(src, LINKS_DIR, name))
            try:
                if syscalls.fdinfo(lfd).kind == "map":
                    # Not a link: the record of a netlink attachment.
                    warnings.extend(_carry_netlink(src, dst, name, lfd, undo))
                    continue
                info = syscalls.link_info(lfd)
                program, pin = by_id.get(info.prog_id, (None, None))
                if pin is None or not os.path.lexists(os.path.join(dst, PROGS_DIR, pin)):
                    warnings.append("link '%s': its program is not in the new version; the link is detached" %
                                    name)
                    continue
                if not uapi.link_can_update(info.type):
                    _remake_link(src, dst, dst_record, name, program)
                    continue
                new_fd = syscalls.obj_get(os.path.join(dst, PROGS_DIR, pin))
                old_fd = syscalls.obj_get(os.path.join(src, PROGS_DIR, pin))
                try:
                    syscalls.link_update(lfd, new_fd, old_prog_fd=old_fd, what="link '%s'" % name)
                    undo.append(_LinkBack(os.path.join(src, LINKS_DIR, name), os.path.join(src, PROGS_DIR, pin),
                                          os.path.join(dst, PROGS_DIR, pin), os.path.join(dst_links, name)))
                finally:
                    os.close(new_fd)
                    os.close(old_fd)
                make_dirs(dst_links)
                syscalls.obj_pin(lfd, os.path.join(dst_links, name))
                _carry_request(src, dst, name, program)
            finally:
                os.close(lfd)
    except BaseException:
        undo_links(undo)
        raise
    return warnings, undo


class _LinkBack:
    """Puts one re-pointed link back on its old program."""

    def __init__(self, link, old_prog, new_prog, new_pin):
        self.link, self.old_prog, self.new_prog, self.new_pin = link, old_prog, new_prog, new_pin

    def __call__(self):
        fds = [syscalls.obj_get(p) for p in (self.link, self.old_prog, self.new_prog)]
        try:
            syscalls.link_update(fds[0], fds[1], old_prog_fd=fds[2], what="link '%s'" % os.path.basename(self.link))
        finally:
            for fd in fds:
                os.close(fd)
        if os.path.lexists(self.new_pin):
            os.unlink(self.new_pin)


def undo_links(undo):
    """Run undo steps newest first; returns what could not be undone."""
    failed = []
    for step in reversed(undo):
        try:
            step()
        except (LoaderError, OSError) as e:
            failed.append(str(e))
    return failed


def _remake_link(src, dst, dst_record, name, program):
    """Make link ``name`` of version ``src`` again in ``dst`` for its
    program ``program`` from the request record kept beside it; the old one
    stays attached until ``src`` is removed, so no event is missed."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import remake_link
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    record = read_record(os.path.join(src, LINK_REQUESTS_DIR, name))
    if not record:
        raise LinkRewireError("link '%s': its kernel type cannot be re-pointed and it has no request record" % name)
    if record.get("program") not in (None, program):
        raise LinkRewireError("link '%s' runs program '%s' but its request record names '%s'" % (
            name, program, record["program"]))
    # Either version may be the staging (or kept) one: the collection is named by the live one.
    pin_root, collection = os.path.split(dst)
    for suffix in (STAGING_SUFFIX, KEPT_SUFFIX):
        if collection.endswith(suffix):
            collection = collection[:-len(suffix)]
    try:
        remake_link(pin_root, collection, dst, dst_record, dict(record, name=name), program,
                    replaces=os.path.join(src, LINKS_DIR, name))
    except LoaderError as e:
        raise LinkRewireError("link '%s': %s" % (name, e), hint=e.hint) from e


def _carry_request(src, dst, name, program):
    """The request record of a moved link goes with it, naming its program
    (records of ``type: auto`` tasks before 0.2 named none)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    path = os.path.join(src, LINK_REQUESTS_DIR, name)
    if not os.path.lexists(path) or os.path.islink(path):
        return
    record = read_record(path)
    if record is not None and record.get("program") is None:
        record.pop("version", None)
        fd = create_state_map(dict(record, program=program))
    else:
        fd = syscalls.obj_get(path)
    try:
        requests = os.path.join(dst, LINK_REQUESTS_DIR)
        make_dirs(requests)
        syscalls.obj_pin(fd, os.path.join(requests, name))
    finally:
        os.close(fd)


def detach_netlink(version):
    """Remove the tc filters a version attached through netlink: unlike
    links, they would outlive its pins."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    if os.path.islink(os.path.join(version, LINKS_DIR)):
        return
    try:
        names = os.listdir(os.path.join(version, LINKS_DIR))
    except OSError:
        return
    for name in names:
        if os.path.islink(os.path.join(version, LINKS_DIR, name)):
            continue
        record = read_record(os.path.join(version, LINKS_DIR, name))
        if record and record.get("netlink") == "tc":
            netlink_tc.detach(record["interface"], record["direction"], record["priority"], record["handle"],
                              "link '%s'" % name)


def _carry_netlink(src, dst, name, record_fd, undo):
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    record = read_record(os.path.join(src, LINKS_DIR, name))
    if not record or record.get("netlink") != "tc":
        return ["links/%s: neither a link nor an attachment record; left with the old version" % name]
    pin = record["program"]
    if not os.path.lexists(os.path.join(dst, PROGS_DIR, pin)):
        netlink_tc.detach(record["interface"], record["direction"], record["priority"], record["handle"],
                          "link '%s'" % name)
        return ["link '%s': its program is not in the new version; the tc filter is removed" % name]
    _replace_filter(record, os.path.join(dst, PROGS_DIR, pin), name)
    undo.append(lambda: _replace_filter(record, os.path.join(src, PROGS_DIR, pin), name))
    dst_links = os.path.join(dst, LINKS_DIR)
    make_dirs(dst_links)
    syscalls.obj_pin(record_fd, os.path.join(dst_links, name))
    return []


def _replace_filter(record, prog_pin, name):
    """Point a netlink tc filter at the program pinned at ``prog_pin``:
    replacing a filter at the same priority and handle is atomic."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import netlink_tc

    fd = syscalls.obj_get(prog_pin)
    try:
        prog_id = syscalls.fdinfo(fd).prog_id
        netlink_tc.attach(record["interface"], record["direction"], fd,
                          netlink_tc.filter_name(os.path.basename(prog_pin), prog_id), record["priority"],
                          record["handle"], "link '%s'" % name)
    finally:
        os.close(fd)
