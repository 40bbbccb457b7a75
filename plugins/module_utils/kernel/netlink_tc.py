# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tc programs through netlink (clsact qdisc + direct-action bpf filter),
for kernels without tcx links (before 6.6). Needs pyroute2 on the host.

Our filters are named ``ebpf_deploy:<program>@<program id>``, which is how
we recognise them (and what they run) later: another tool's filter at the
same priority and handle is never replaced or removed, and the clsact
qdisc is removed only once no filter at all is left on it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import traceback

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

PARENTS = {"ingress": 0xfffffff2, "egress": 0xfffffff3}
NAME_PREFIX = "ebpf_deploy:"


class MissingPyroute2(LoaderError):
    """pyroute2 is needed on the host for netlink attachments."""


def filter_name(program, prog_id):
    return "%s%s@%d" % (NAME_PREFIX, program, prog_id)


def _ipr():
    if not HAS_PYROUTE2:
        raise MissingPyroute2("tc through netlink needs the Python library pyroute2 on the host",
                              hint="install python3-pyroute2 (or pip install pyroute2); the ebpf.deploy.bpf_host "
                                   "role does this")
    return IPRoute()


def _index(ipr, interface):
    found = ipr.link_lookup(ifname=interface)
    if not found:
        raise LoaderError("interface '%s' does not exist on this host (in this network namespace)" % interface)
    return found[0]


def _filters(ipr, index, direction):
    out = []
    for f in ipr.get_filters(index, parent=PARENTS[direction]):
        opts = f.get_attr("TCA_OPTIONS")
        if f.get_attr("TCA_KIND") == "bpf" and opts is not None and f.get("handle"):
            out.append((f.get("info") >> 16, f.get("handle"), opts.get_attr("TCA_BPF_NAME") or ""))
    return out


def _any_filters(ipr, index):
    # Filters of every kind (u32, flower, ...), not only ours.
    return any(f.get("handle") for parent in PARENTS.values() for f in ipr.get_filters(index, parent=parent))


def current(interface, direction, priority, handle):
    """The name of the bpf filter at (priority, handle), or None."""
    with _ipr() as ipr:
        index = _index(ipr, interface)
        for prio, h, name in _filters(ipr, index, direction):
            if prio == priority and h == handle:
                return name
    return None


def attach(interface, direction, prog_fd, name, priority, handle, what):
    """Add (or atomically replace our own) filter running ``prog_fd``."""
    with _ipr() as ipr:
        index = _index(ipr, interface)
        try:
            ipr.tc("add", "clsact", index)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise LoaderError("%s: cannot add a clsact qdisc on %s: %s" % (what, interface, e)) from e
        existing = [n for p, h, n in _filters(ipr, index, direction) if p == priority and h == handle]
        if existing and not existing[0].startswith(NAME_PREFIX):
            raise LoaderError("%s: %s %s already has a filter '%s' at priority %d handle %d that ebpf.deploy did "
                              "not attach; refusing to replace it" % (what, interface, direction, existing[0],
                                                                      priority, handle),
                              hint="choose another priority, or remove that filter first")
        command = "replace-filter" if existing else "add-filter"
        try:
            ipr.tc(command, "bpf", index, handle, fd=prog_fd, name=name, parent=PARENTS[direction],
                   direct_action=True, prio=priority, classid=1)
        except NetlinkError as e:
            raise LoaderError("%s: tc %s on %s: %s" % (what, command, interface, e)) from e


def detach(interface, direction, priority, handle, what):
    """Remove our filter; then the clsact qdisc if nothing else uses it."""
    with _ipr() as ipr:
        index = _index(ipr, interface)
        for prio, h, name in _filters(ipr, index, direction):
            if prio == priority and h == handle:
                if not name.startswith(NAME_PREFIX):
                    raise LoaderError("%s: the filter at priority %d handle %d is '%s', not ours" % (
                        what, priority, handle, name))
                ipr.tc("del-filter", "bpf", index, handle, parent=PARENTS[direction], prio=priority)
        if not _any_filters(ipr, index):
            try:
                ipr.tc("del", "clsact", index)
            except NetlinkError:
                pass
