# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attach a loaded program, as a bpf_link that outlives this process once
pinned: XDP and tcx on interfaces, cgroups, tracepoints and kprobes
(through perf events), raw tracepoints, BTF-typed tracing programs, and
netfilter hooks (in this or another network namespace).

Each ``attach_*`` returns a link fd the caller pins (and closes). Errors
name the program, the attach point and, where the kernel is too old, the
release that brought the feature.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import errno
import os
import socket
import struct
import time

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, NotSupportedError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import host, syscalls, uapi

XDP_MODES = {"auto": 0, "skb": uapi.XDP_FLAGS_SKB_MODE, "native": uapi.XDP_FLAGS_DRV_MODE,
             "offload": uapi.XDP_FLAGS_HW_MODE}
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "arm64": 241, "riscv64": 241, "loongarch64": 241,
                       "s390x": 331, "ppc64le": 319, "ppc64": 319, "i386": 336, "i686": 336, "armv7l": 364}
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 1 << 3
# struct perf_event_attr up to PERF_ATTR_SIZE_VER5 (112 bytes): type, size,
# config, sample_period, sample_type, read_format, flags, wakeup_events,
# bp_type, config1, config2, then the rest zero.
PERF_EVENT_ATTR = struct.Struct("=IIQQQQQIIQQ40x")


def ifindex(interface):
    """The index of network interface ``interface``; LoaderError if missing."""
    try:
        return socket.if_nametoindex(interface)
    except OSError as e:
        raise LoaderError("interface '%s' does not exist on this host (in this network namespace)" % interface,
                          hint="ip link show lists the interfaces") from e


def _link(prog_fd, target, attach_type, what, flags=0, min_kernel=None, feature=None, **union):
    try:
        return syscalls.link_create(prog_fd, target, attach_type, flags, what=what, **union)
    except SyscallError as e:
        # The release hint only where this kernel predates it: on a newer
        # one EINVAL means something else, which the message alone tells.
        if e.errno in (errno.EINVAL, errno.ENOTSUP, 524) and min_kernel and host.kernel_older_than(min_kernel):
            raise NotSupportedError(str(e), feature=feature, min_kernel=min_kernel) from e
        raise


def attach_xdp(prog_fd, interface, mode="auto", what="xdp"):
    """XDP as a link (Linux 5.9+): the kernel refuses it, with EBUSY, when a
    program attached some other way (netlink) is already there."""
    index = ifindex(interface)
    try:
        return _link(prog_fd, index, uapi.BPF_XDP, what, flags=XDP_MODES[mode], min_kernel="5.9",
                     feature="XDP bpf_link")
    except SyscallError as e:
        if e.errno == errno.EBUSY:
            raise LoaderError("%s: interface '%s' already has an XDP program attached outside ebpf.deploy; "
                              "refusing to replace it" % (what, interface),
                              hint="detach it first (ip link set dev %s xdp off) if it may go" % interface) from e
        if e.errno == errno.EOPNOTSUPP and mode in ("native", "offload"):
            raise LoaderError("%s: interface '%s' does not support %s XDP" % (what, interface, mode),
                              hint="use mode: skb (generic XDP) or auto") from e
        raise


TCX_ATTACH_TYPES = {"ingress": uapi.BPF_TCX_INGRESS, "egress": uapi.BPF_TCX_EGRESS}


def attach_tcx(prog_fd, interface, direction, what="tcx", flags=0, relative_fd=0, expected_revision=0):
    """tc ingress/egress through tcx links (Linux 6.6+). ``flags``
    BPF_F_BEFORE or BPF_F_AFTER place the link before or after
    ``relative_fd`` (a link with BPF_F_LINK, else a program) in the chain,
    or with no relative object at its head or tail; a non-zero
    ``expected_revision`` makes the kernel refuse (ESTALE) a chain changed
    since it was read. Without flags the link goes at the tail."""
    try:
        return _link(prog_fd, ifindex(interface), TCX_ATTACH_TYPES[direction], what, flags=flags,
                     min_kernel="6.6", feature="tcx links", u1=relative_fd, u3=expected_revision)
    except SyscallError as e:
        if e.errno == errno.EEXIST:
            raise LoaderError("%s: the program is already attached to tc %s on %s (a tcx chain runs a "
                              "program once)" % (what, direction, interface)) from e
        if e.errno == errno.ENOENT and relative_fd:
            raise LoaderError("%s: what it should go %s is not attached to tc %s on %s" % (
                what, "before" if flags & uapi.BPF_F_BEFORE else "after", direction, interface)) from e
        if e.errno == errno.ESTALE:
            raise LoaderError("%s: the tc %s chain on %s changed while the link was being placed" % (
                what, direction, interface), hint="run the task again") from e
        raise


def tcx_chain(interface, direction, what="tcx"):
    """The tc ``direction`` chain of ``interface``, as BPF_PROG_QUERY tells
    it: ([(prog id, link id)] in the order they run, revision)."""
    try:
        progs, links, revision = syscalls.prog_query(ifindex(interface), TCX_ATTACH_TYPES[direction],
                                                     what="%s: tc %s on %s" % (what, direction, interface))
    except SyscallError as e:
        if e.errno == errno.EINVAL and host.kernel_older_than("6.6"):
            raise NotSupportedError(str(e), feature="tcx links", min_kernel="6.6") from e
        raise
    return list(zip(progs, links)), revision


def attach_cgroup(prog_fd, cgroup, attach_type, what="cgroup"):
    """A cgroup v2 hook as a link (Linux 5.7+); ``cgroup`` is its directory."""
    try:
        cg_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise LoaderError("%s: cgroup '%s': %s" % (what, cgroup, e.strerror),
                          hint="give the cgroup v2 directory, e.g. /sys/fs/cgroup/system.slice") from e
    try:
        return _link(prog_fd, cg_fd, attach_type, what, min_kernel="5.7", feature="cgroup bpf_link")
    finally:
        os.close(cg_fd)


def attach_raw_tracepoint(prog_fd, name, what="raw_tracepoint"):
    try:
        return syscalls.raw_tracepoint_open(prog_fd, name, what=what)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            raise LoaderError("%s: the kernel has no tracepoint '%s'" % (what, name)) from e
        raise


CLONE_NEWNET = 0x40000000
NETFILTER_FAMILIES = {"ipv4": uapi.NFPROTO_IPV4, "ipv6": uapi.NFPROTO_IPV6}


def attach_netfilter(prog_fd, family, hook, priority, defrag=False, netns=None, what="netfilter"):
    """A netfilter hook as a link (Linux 6.4+; ``defrag`` 6.6+): ``family``
    ipv4 or ipv6, ``hook`` one of NF_INET_HOOKS, in the network namespace
    ``netns`` (a path such as /run/netns/NAME or /proc/PID/ns/net; None:
    this process's). The kernel refuses a priority of INT_MIN or INT_MAX
    (the hook's first and last places are netfilter's own)."""
    flags = uapi.BPF_F_NETFILTER_IP_DEFRAG if defrag else 0
    args = (prog_fd, NETFILTER_FAMILIES[family], uapi.NF_INET_HOOKS[hook], priority, flags)
    try:
        if netns is None:
            return syscalls.link_create_netfilter(*args, what=what)
        with in_netns(netns, what):
            return syscalls.link_create_netfilter(*args, what=what)
    except SyscallError as e:
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP) and host.kernel_older_than("6.6" if defrag else "6.4"):
            raise NotSupportedError(str(e), feature="netfilter defrag" if defrag else "netfilter links",
                                    min_kernel="6.6" if defrag else "6.4") from e
        if e.errno in (errno.EBUSY, errno.EEXIST):
            raise LoaderError("%s: the %s %s hook already has a program at priority %d" % (what, family, hook, priority),
                              hint="give another priority") from e
        raise


def hand_over_netfilter(prog_fd, held_fd, family, hook, priority, defrag=False, netns=None, what="netfilter"):
    """Attach ``prog_fd`` where the netfilter link ``held_fd`` runs now, at
    the same priority, with no moment when the hook runs neither program.

    A hook takes one BPF program per priority and a netfilter link cannot
    be re-pointed, so the new program first goes in at a free neighbouring
    priority (a bridge), the held link is detached, the new one goes in at
    ``priority``, and the bridge goes. Between the steps both programs may
    see a packet, as when a perf-event link is made again. Returns the new
    link's fd."""
    bridge = None
    for step in (1, -1, 2, -2):
        try:
            bridge = attach_netfilter(prog_fd, family, hook, priority + step, defrag, netns, what + " (bridge)")
            break
        except LoaderError:
            continue
    if bridge is None:
        raise LoaderError("%s: no free priority next to %d for the hand-over from the link that holds it"
                          % (what, priority), hint="leave a priority free on each side of a netfilter hook")
    try:
        syscalls.link_detach(held_fd, what=what + " (the link it replaces)")
        return attach_netfilter(prog_fd, family, hook, priority, defrag, netns, what)
    finally:
        try:
            syscalls.link_detach(bridge, what=what + " (bridge)")
        finally:
            os.close(bridge)


@contextlib.contextmanager
def in_netns(path, what):
    """Run the ``with`` body in the network namespace at ``path`` (this
    thread only), then come back to the one it left, whatever happens."""
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise LoaderError("%s: network namespace '%s': %s" % (what, path, e.strerror),
                          hint="give /run/netns/NAME (ip netns) or /proc/PID/ns/net") from e
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target, "%s: enter network namespace '%s'" % (what, path))
        except BaseException:
            os.close(home)
            raise
    finally:
        os.close(target)
    try:
        yield
    finally:
        try:
            _setns(home, "%s: back to this process's network namespace" % what)
        finally:
            os.close(home)


def _setns(fd, what):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise LoaderError("%s: %s" % (what, os.strerror(err)),
                          hint="the path must be a network namespace (nsfs), and setns needs CAP_SYS_ADMIN")


def attach_tracing(prog_fd, what="tracing"):
    """fentry/fexit/fmod_ret/lsm/tp_btf: the target was fixed at load."""
    return syscalls.raw_tracepoint_open(prog_fd, None, what=what)


# How often attach_tracepoint retries EEXIST, 10 ms apart.
_EEXIST_RETRIES = 100


def perf_event_open(attr, what, pid=-1, cpu=0):
    nr = _NR_PERF_EVENT_OPEN.get(os.uname().machine)
    if nr is None:
        raise NotSupportedError("%s: perf_event_open: unknown system call number on %s" % (what, os.uname().machine))
    buf = ctypes.create_string_buffer(attr, len(attr))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(nr, buf, ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(-1),
                      ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        raise SyscallError("%s: perf_event_open" % what, ctypes.get_errno())
    return fd


def perf_link(prog_fd, pfd, what):
    """A bpf_link running ``prog_fd`` on perf event ``pfd`` (Linux 5.15+)."""
    return _link(prog_fd, pfd, uapi.BPF_PERF_EVENT, what, min_kernel="5.15", feature="perf_event bpf_link")


def tracepoint_id(category, name):
    """The id tracefs gives tracepoint category/name (mounting tracefs on
    /sys/kernel/tracing if needed)."""
    for root in TRACEFS:
        path = os.path.join(root, "events", category, name, "id")
        try:
            with open(path) as f:
                return int(f.read())
        except (IOError, OSError):
            continue
    if not os.path.exists(os.path.join(TRACEFS[0], "events")):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"tracefs", TRACEFS[0].encode(), b"tracefs", 0, None) == 0:
            return tracepoint_id(category, name)
    raise LoaderError("tracepoint '%s/%s' does not exist (or tracefs is not available)" % (category, name),
                      hint="ls /sys/kernel/tracing/events/%s lists that category's tracepoints" % category)


def attach_tracepoint(prog_fd, category, name, what="tracepoint"):
    """A tracepoint through a perf event and a perf link (Linux 5.15+).

    A tracepoint runs a program at most once: the kernel refuses it again
    (EEXIST) while an earlier link of the same program is still attached,
    which includes the moment after its last pin went, as the kernel frees
    links in a deferred work item. That is retried for up to a second (a
    rollback re-attaches the very program an upgrade detached)."""
    attr = PERF_EVENT_ATTR.pack(PERF_TYPE_TRACEPOINT, PERF_EVENT_ATTR.size, tracepoint_id(category, name),
                                0, 0, 0, 0, 0, 0, 0, 0)
    for attempt in range(_EEXIST_RETRIES + 1):
        pfd = perf_event_open(attr, what)
        try:
            return perf_link(prog_fd, pfd, what)
        except SyscallError as e:
            if e.errno != errno.EEXIST or attempt == _EEXIST_RETRIES:
                raise
        finally:
            os.close(pfd)
        time.sleep(0.01)
    raise AssertionError("unreachable")


def pmu_type(pmu):
    try:
        with open("/sys/bus/event_source/devices/%s/type" % pmu) as f:
            return int(f.read())
    except (IOError, OSError):
        return None


def retprobe_bit(pmu):
    try:
        with open("/sys/bus/event_source/devices/%s/format/retprobe" % pmu) as f:
            return 1 << int(f.read().strip().split(":")[1])
    except (IOError, OSError, IndexError, ValueError):
        return 1


def attach_kprobe(prog_fd, function, offset=0, retprobe=False, what="kprobe"):
    """A kprobe or kretprobe through the kprobe PMU and a perf link."""
    pmu = pmu_type("kprobe")
    if pmu is None:
        raise NotSupportedError("%s: this kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was "
                                "built without CONFIG_KPROBES" % what, feature="kprobe PMU")
    name = ctypes.create_string_buffer(function.encode() + b"\0")
    attr = PERF_EVENT_ATTR.pack(pmu, PERF_EVENT_ATTR.size, retprobe_bit("kprobe") if retprobe else 0, 0, 0, 0, 0,
                                0, 0, ctypes.addressof(name), offset)
    try:
        pfd = perf_event_open(attr, what)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            raise LoaderError("%s: no kernel function '%s' to probe" % (what, function)) from e
        raise
    try:
        return perf_link(prog_fd, pfd, what)
    finally:
        os.close(pfd)
