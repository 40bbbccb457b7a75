# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Numbers of the kernel's bpf() ABI (``include/uapi/linux/bpf.h``).

Managed hosts have no kernel headers and no libbpf, so the loader carries
the values itself. They are part of the kernel's stable user-space ABI:
a value, once released, never changes; new kernels only append. The names
follow the header so a reader can grep the kernel for them.

Besides the raw numbers this module holds the short lower-case names that
bpftool and libbpf print (``hash``, ``sched_cls``, ``tcx_ingress``...), the
reverse look-ups from those names, and the kernel release that introduced
each map and program type, so errors can say "needs Linux 5.8".

Values were checked against the kernel header as synced into libbpf in
mid-2026 (Linux 7.1 plus what bpf-next had queued for 7.2).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _invert(mapping):
    """Reverse a one-to-one ``{int: name}`` table."""
    return dict((name, value) for value, name in mapping.items())


def _enum_names(first, last, prefix=None):
    """{value: name} of the constants defined above from ``first`` to
    ``last``, in file order: the header's full names, or with ``prefix``
    the short names bpftool prints (the rest of the name, lower-cased). A
    value keeps its first name; an alias defined after it (BPF_PROG_RUN)
    names nothing."""
    names = list(globals())
    out = {}
    for name in names[names.index(first):names.index(last) + 1]:
        value = globals()[name]
        if value in out or not isinstance(value, int):
            continue
        if prefix is None:
            out[value] = name
        elif name.startswith(prefix):
            out[value] = name[len(prefix):].lower()
    return out


# ---------------------------------------------------------------------------
# enum bpf_cmd: the first argument of bpf(2).
# ---------------------------------------------------------------------------
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_TEST_RUN = 10
BPF_PROG_RUN = BPF_PROG_TEST_RUN  # 5.10 renamed it; both names stay valid
BPF_PROG_GET_NEXT_ID = 11
BPF_MAP_GET_NEXT_ID = 12
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_BTF_LOAD = 18
BPF_BTF_GET_FD_BY_ID = 19
BPF_TASK_FD_QUERY = 20
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_FREEZE = 22
BPF_BTF_GET_NEXT_ID = 23
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
BPF_MAP_UPDATE_BATCH = 26
BPF_MAP_DELETE_BATCH = 27
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_GET_NEXT_ID = 31
BPF_ENABLE_STATS = 32
# enum bpf_stats_type: run_time_ns and run_cnt of every program (5.8+).
BPF_STATS_RUN_TIME = 0
BPF_ITER_CREATE = 33
BPF_LINK_DETACH = 34
BPF_PROG_BIND_MAP = 35
BPF_TOKEN_CREATE = 36
BPF_PROG_STREAM_READ_BY_FD = 37
BPF_PROG_ASSOC_STRUCT_OPS = 38

# Full header names, because syscall errors read best as "bpf(BPF_PROG_LOAD)".
CMD_NAMES = _enum_names("BPF_MAP_CREATE", "BPF_PROG_ASSOC_STRUCT_OPS")
CMD_BY_NAME = _invert(CMD_NAMES)


# ---------------------------------------------------------------------------
# enum bpf_map_type
# ---------------------------------------------------------------------------
BPF_MAP_TYPE_UNSPEC = 0
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_STACK_TRACE = 7
BPF_MAP_TYPE_CGROUP_ARRAY = 8
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_SOCKMAP = 15
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_SOCKHASH = 18
BPF_MAP_TYPE_CGROUP_STORAGE = 19  # 6.x headers: *_DEPRECATED, this name an alias (also 21)
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
BPF_MAP_TYPE_QUEUE = 22
BPF_MAP_TYPE_STACK = 23
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_INODE_STORAGE = 28
BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_MAP_TYPE_BLOOM_FILTER = 30
BPF_MAP_TYPE_USER_RINGBUF = 31
BPF_MAP_TYPE_CGRP_STORAGE = 32
BPF_MAP_TYPE_ARENA = 33
BPF_MAP_TYPE_INSN_ARRAY = 34
BPF_MAP_TYPE_RHASH = 35

# The names bpftool prints and accepts; also what users write in playbooks.
MAP_TYPE_NAMES = _enum_names("BPF_MAP_TYPE_UNSPEC", "BPF_MAP_TYPE_RHASH", "BPF_MAP_TYPE_")
MAP_TYPE_BY_NAME = _invert(MAP_TYPE_NAMES)

# First mainline release that knows each map type, keyed by type number.
# Creating a newer type on an older kernel fails with EINVAL, which says
# nothing; this table lets the loader say which release is needed instead.
MAP_TYPE_MIN_KERNEL = {
    BPF_MAP_TYPE_HASH: "3.19",
    BPF_MAP_TYPE_ARRAY: "3.19",
    BPF_MAP_TYPE_PROG_ARRAY: "4.2",
    BPF_MAP_TYPE_PERF_EVENT_ARRAY: "4.3",
    BPF_MAP_TYPE_PERCPU_HASH: "4.6",
    BPF_MAP_TYPE_PERCPU_ARRAY: "4.6",
    BPF_MAP_TYPE_STACK_TRACE: "4.6",
    BPF_MAP_TYPE_CGROUP_ARRAY: "4.8",
    BPF_MAP_TYPE_LRU_HASH: "4.10",
    BPF_MAP_TYPE_LRU_PERCPU_HASH: "4.10",
    BPF_MAP_TYPE_LPM_TRIE: "4.11",
    BPF_MAP_TYPE_ARRAY_OF_MAPS: "4.12",
    BPF_MAP_TYPE_HASH_OF_MAPS: "4.12",
    BPF_MAP_TYPE_DEVMAP: "4.14",
    BPF_MAP_TYPE_SOCKMAP: "4.14",
    BPF_MAP_TYPE_CPUMAP: "4.15",
    BPF_MAP_TYPE_XSKMAP: "4.18",
    BPF_MAP_TYPE_SOCKHASH: "4.18",
    BPF_MAP_TYPE_CGROUP_STORAGE: "4.19",
    BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: "4.19",
    BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: "4.20",
    BPF_MAP_TYPE_QUEUE: "4.20",
    BPF_MAP_TYPE_STACK: "4.20",
    BPF_MAP_TYPE_SK_STORAGE: "5.2",
    BPF_MAP_TYPE_DEVMAP_HASH: "5.4",
    BPF_MAP_TYPE_STRUCT_OPS: "5.6",
    BPF_MAP_TYPE_RINGBUF: "5.8",
    BPF_MAP_TYPE_INODE_STORAGE: "5.10",
    BPF_MAP_TYPE_TASK_STORAGE: "5.11",
    BPF_MAP_TYPE_BLOOM_FILTER: "5.16",
    BPF_MAP_TYPE_USER_RINGBUF: "6.1",
    BPF_MAP_TYPE_CGRP_STORAGE: "6.2",
    BPF_MAP_TYPE_ARENA: "6.9",
    BPF_MAP_TYPE_INSN_ARRAY: "6.19",
    # Queued in bpf-next in June 2026, after the 7.1 merge window.
    BPF_MAP_TYPE_RHASH: "7.2",
}


# ---------------------------------------------------------------------------
# What a map type is: the questions callers ask of map types, answered here
# once (as cilium/ebpf's MapType methods) instead of in sets kept by each
# caller. The groups follow the kernel's own: one implementation file each
# where the kernel shares one.
# ---------------------------------------------------------------------------
# kernel/bpf/hashtab.c (hash of maps included: its values are inner maps).
_HASH_MAPS = frozenset((BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                        BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_HASH_OF_MAPS))
_LRU_MAPS = frozenset((BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH))
# kernel/bpf/arraymap.c: the data arrays, then the arrays of fds.
_ARRAYS = frozenset((BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY))
_FD_ARRAYS = frozenset((BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_CGROUP_ARRAY,
                        BPF_MAP_TYPE_ARRAY_OF_MAPS))
_MAPS_OF_MAPS = frozenset((BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS))
_DEVMAPS = frozenset((BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH))
# Values written from user space as fds (or ifindexes) of kernel objects:
# programs, maps, perf events, cgroups, devices, CPUs' queues, sockets.
_FD_MAPS = _FD_ARRAYS | _MAPS_OF_MAPS | _DEVMAPS | frozenset((
    BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP, BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH,
    BPF_MAP_TYPE_REUSEPORT_SOCKARRAY))
_PERCPU_MAPS = frozenset((BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH,
                          BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE))
# Keys and values that are the user's own bytes, readable and writable
# from user space element by element.
_PLAIN_DATA_MAPS = (_HASH_MAPS - _MAPS_OF_MAPS) | _ARRAYS | frozenset((BPF_MAP_TYPE_LPM_TRIE,))
_RINGBUFS = frozenset((BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF))
_QUEUE_STACK = frozenset((BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK))
# kernel/bpf/bpf_local_storage.c users (storage owned by a socket, inode,
# task or cgroup), and the older per-attachment cgroup storage.
_LOCAL_STORAGE = frozenset((BPF_MAP_TYPE_SK_STORAGE, BPF_MAP_TYPE_INODE_STORAGE, BPF_MAP_TYPE_TASK_STORAGE,
                            BPF_MAP_TYPE_CGRP_STORAGE))
_CGROUP_STORAGE = frozenset((BPF_MAP_TYPE_CGROUP_STORAGE, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE))
# Map types created without BTF key/value type ids: libbpf drops them for
# the same set (plus arena), else the kernel answers ENOTSUPP or EINVAL.
_NO_BTF_MAPS = frozenset((
    BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_CGROUP_ARRAY, BPF_MAP_TYPE_STACK_TRACE,
    BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH,
    BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP, BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_STACK, BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_PROG_ARRAY,
))
# BPF_F_NO_PREALLOC: what map_create accepts of each type (prealloc_rule()).
NO_PREALLOC_ALLOWED = "allowed"
NO_PREALLOC_REQUIRED = "required"
NO_PREALLOC_REJECTED = "rejected"
_NO_PREALLOC_RULES = dict(
    [(t, NO_PREALLOC_ALLOWED) for t in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_HASH_OF_MAPS)]
    + [(t, NO_PREALLOC_REQUIRED) for t in _LOCAL_STORAGE | frozenset((BPF_MAP_TYPE_LPM_TRIE,))])


def is_hash(map_type):
    """A hash table (kernel/bpf/hashtab.c): hash, percpu_hash, the LRU
    hashes and hash_of_maps."""
    return map_type in _HASH_MAPS


def is_lru(map_type):
    """An LRU hash: always preallocated, evicts instead of failing when full."""
    return map_type in _LRU_MAPS


def is_array(map_type):
    """A data array (array, percpu_array): every index below max_entries
    exists from creation and holds zeros until written; a delete fails."""
    return map_type in _ARRAYS


def is_fd_array(map_type):
    """An array of fds (prog, perf event and cgroup arrays, array of maps):
    arraymap.c's layout, one 8-byte pointer slot per index."""
    return map_type in _FD_ARRAYS


def is_map_in_map(map_type):
    """array_of_maps or hash_of_maps: values are inner maps of one template."""
    return map_type in _MAPS_OF_MAPS


def is_devmap(map_type):
    """devmap or devmap_hash: XDP redirect targets by ifindex."""
    return map_type in _DEVMAPS


def is_percpu(map_type):
    """Values are per CPU: a lookup returns one 8-byte aligned slot per
    possible CPU (host.value_buffer_size())."""
    return map_type in _PERCPU_MAPS


def holds_fds(map_type):
    """Values are references to kernel objects, given as fds (ifindexes for
    devmaps): programs, maps, perf events, cgroups, devices, CPUs, sockets.
    What user space reads back is not what it wrote, so such entries cannot
    be copied or declared."""
    return map_type in _FD_MAPS


def holds_plain_data(map_type):
    """Keys and values are the user's own bytes, looked up, written and
    deleted element by element from user space: the hashes (not of maps),
    the data arrays and the LPM trie. Entries of these can be declared,
    read back and copied into another map."""
    return map_type in _PLAIN_DATA_MAPS


def is_ringbuf(map_type):
    """ringbuf or user_ringbuf: no keys or values, max_entries is the buffer
    size in bytes (a power of two, a multiple of the page size)."""
    return map_type in _RINGBUFS


def is_queue_stack(map_type):
    """queue or stack: values only, pushed and popped (key_size 0)."""
    return map_type in _QUEUE_STACK


def is_local_storage(map_type):
    """Storage owned by a socket, inode, task or cgroup (bpf_local_storage)."""
    return map_type in _LOCAL_STORAGE


def is_cgroup_storage(map_type):
    """cgroup_storage or percpu_cgroup_storage: one value per attachment."""
    return map_type in _CGROUP_STORAGE


def value_size_is_free(map_type):
    """Whether the value size is the user's choice (so user space may set
    it when the object leaves it to it): the plain-data maps, stack_trace
    (8 bytes per frame), queue, stack and bloom_filter. Other types have a
    value the kernel defines (fds, ifindexes, none for ring buffers) or
    take it from BTF."""
    return holds_plain_data(map_type) or map_type in (
        BPF_MAP_TYPE_STACK_TRACE, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK, BPF_MAP_TYPE_BLOOM_FILTER)


def max_entries_may_be_zero(map_type):
    """Whether a map of this type is created with max_entries 0 as it
    stands: the local and cgroup storages (the kernel requires 0),
    struct_ops (the loader's business) and perf_event_array (one slot per
    possible CPU, as libbpf does)."""
    return is_local_storage(map_type) or is_cgroup_storage(map_type) or map_type in (
        BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_STRUCT_OPS)


def takes_btf(map_type):
    """Whether the kernel takes BTF key/value type ids for such a map."""
    return map_type not in _NO_BTF_MAPS


def prealloc_rule(map_type):
    """What BPF_F_NO_PREALLOC may be for such a map: NO_PREALLOC_ALLOWED
    (hash, percpu_hash, hash_of_maps), NO_PREALLOC_REQUIRED (LPM trie and
    the local storages: they allocate on update) or NO_PREALLOC_REJECTED
    (every other type, always preallocated, LRU hashes included)."""
    return _NO_PREALLOC_RULES.get(map_type, NO_PREALLOC_REJECTED)


# ---------------------------------------------------------------------------
# enum bpf_prog_type
# ---------------------------------------------------------------------------
BPF_PROG_TYPE_UNSPEC = 0
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_SCHED_ACT = 4
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_XDP = 6
BPF_PROG_TYPE_PERF_EVENT = 7
BPF_PROG_TYPE_CGROUP_SKB = 8
BPF_PROG_TYPE_CGROUP_SOCK = 9
BPF_PROG_TYPE_LWT_IN = 10
BPF_PROG_TYPE_LWT_OUT = 11
BPF_PROG_TYPE_LWT_XMIT = 12
BPF_PROG_TYPE_SOCK_OPS = 13
BPF_PROG_TYPE_SK_SKB = 14
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_PROG_TYPE_SK_MSG = 16
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 18
BPF_PROG_TYPE_LWT_SEG6LOCAL = 19
BPF_PROG_TYPE_LIRC_MODE2 = 20
BPF_PROG_TYPE_SK_REUSEPORT = 21
BPF_PROG_TYPE_FLOW_DISSECTOR = 22
BPF_PROG_TYPE_CGROUP_SYSCTL = 23
BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE = 24
BPF_PROG_TYPE_CGROUP_SOCKOPT = 25
BPF_PROG_TYPE_TRACING = 26
BPF_PROG_TYPE_STRUCT_OPS = 27
BPF_PROG_TYPE_EXT = 28
BPF_PROG_TYPE_LSM = 29
BPF_PROG_TYPE_SK_LOOKUP = 30
BPF_PROG_TYPE_SYSCALL = 31
BPF_PROG_TYPE_NETFILTER = 32

# The names bpftool prints for `prog show`.
PROG_TYPE_NAMES = _enum_names("BPF_PROG_TYPE_UNSPEC", "BPF_PROG_TYPE_NETFILTER", "BPF_PROG_TYPE_")
PROG_TYPE_BY_NAME = _invert(PROG_TYPE_NAMES)

# First mainline release that can load each program type (see
# MAP_TYPE_MIN_KERNEL for why).
PROG_TYPE_MIN_KERNEL = {
    BPF_PROG_TYPE_SOCKET_FILTER: "3.19",
    BPF_PROG_TYPE_KPROBE: "4.1",
    BPF_PROG_TYPE_SCHED_CLS: "4.1",
    BPF_PROG_TYPE_SCHED_ACT: "4.1",
    BPF_PROG_TYPE_TRACEPOINT: "4.7",
    BPF_PROG_TYPE_XDP: "4.8",
    BPF_PROG_TYPE_PERF_EVENT: "4.9",
    BPF_PROG_TYPE_CGROUP_SKB: "4.10",
    BPF_PROG_TYPE_CGROUP_SOCK: "4.10",
    BPF_PROG_TYPE_LWT_IN: "4.10",
    BPF_PROG_TYPE_LWT_OUT: "4.10",
    BPF_PROG_TYPE_LWT_XMIT: "4.10",
    BPF_PROG_TYPE_SOCK_OPS: "4.13",
    BPF_PROG_TYPE_SK_SKB: "4.14",
    BPF_PROG_TYPE_CGROUP_DEVICE: "4.15",
    BPF_PROG_TYPE_SK_MSG: "4.17",
    BPF_PROG_TYPE_RAW_TRACEPOINT: "4.17",
    BPF_PROG_TYPE_CGROUP_SOCK_ADDR: "4.17",
    BPF_PROG_TYPE_LWT_SEG6LOCAL: "4.18",
    BPF_PROG_TYPE_LIRC_MODE2: "4.18",
    BPF_PROG_TYPE_SK_REUSEPORT: "4.19",
    BPF_PROG_TYPE_FLOW_DISSECTOR: "4.20",
    BPF_PROG_TYPE_CGROUP_SYSCTL: "5.2",
    BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: "5.2",
    BPF_PROG_TYPE_CGROUP_SOCKOPT: "5.3",
    BPF_PROG_TYPE_TRACING: "5.5",
    BPF_PROG_TYPE_STRUCT_OPS: "5.6",
    BPF_PROG_TYPE_EXT: "5.6",
    BPF_PROG_TYPE_LSM: "5.7",
    BPF_PROG_TYPE_SK_LOOKUP: "5.9",
    BPF_PROG_TYPE_SYSCALL: "5.14",
    BPF_PROG_TYPE_NETFILTER: "6.4",
}


# ---------------------------------------------------------------------------
# enum bpf_attach_type: expected_attach_type at load, attach_type at attach.
# ---------------------------------------------------------------------------
BPF_CGROUP_INET_INGRESS = 0
BPF_CGROUP_INET_EGRESS = 1
BPF_CGROUP_INET_SOCK_CREATE = 2
BPF_CGROUP_SOCK_OPS = 3
BPF_SK_SKB_STREAM_PARSER = 4
BPF_SK_SKB_STREAM_VERDICT = 5
BPF_CGROUP_DEVICE = 6
BPF_SK_MSG_VERDICT = 7
BPF_CGROUP_INET4_BIND = 8
BPF_CGROUP_INET6_BIND = 9
BPF_CGROUP_INET4_CONNECT = 10
BPF_CGROUP_INET6_CONNECT = 11
BPF_CGROUP_INET4_POST_BIND = 12
BPF_CGROUP_INET6_POST_BIND = 13
BPF_CGROUP_UDP4_SENDMSG = 14
BPF_CGROUP_UDP6_SENDMSG = 15
BPF_LIRC_MODE2 = 16
BPF_FLOW_DISSECTOR = 17
BPF_CGROUP_SYSCTL = 18
BPF_CGROUP_UDP4_RECVMSG = 19
BPF_CGROUP_UDP6_RECVMSG = 20
BPF_CGROUP_GETSOCKOPT = 21
BPF_CGROUP_SETSOCKOPT = 22
BPF_TRACE_RAW_TP = 23
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_MODIFY_RETURN = 26
BPF_LSM_MAC = 27
BPF_TRACE_ITER = 28
BPF_CGROUP_INET4_GETPEERNAME = 29
BPF_CGROUP_INET6_GETPEERNAME = 30
BPF_CGROUP_INET4_GETSOCKNAME = 31
BPF_CGROUP_INET6_GETSOCKNAME = 32
BPF_XDP_DEVMAP = 33
BPF_CGROUP_INET_SOCK_RELEASE = 34
BPF_XDP_CPUMAP = 35
BPF_SK_LOOKUP = 36
BPF_XDP = 37
BPF_SK_SKB_VERDICT = 38
BPF_SK_REUSEPORT_SELECT = 39
BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 40
BPF_PERF_EVENT = 41
BPF_TRACE_KPROBE_MULTI = 42
BPF_LSM_CGROUP = 43
BPF_STRUCT_OPS = 44
BPF_NETFILTER = 45
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_TRACE_UPROBE_MULTI = 48
# link_create.uprobe_multi.flags: the programs run on return (uretprobe.multi)
BPF_F_UPROBE_MULTI_RETURN = 1
BPF_CGROUP_UNIX_CONNECT = 49
BPF_CGROUP_UNIX_SENDMSG = 50
BPF_CGROUP_UNIX_RECVMSG = 51
BPF_CGROUP_UNIX_GETPEERNAME = 52
BPF_CGROUP_UNIX_GETSOCKNAME = 53
BPF_NETKIT_PRIMARY = 54
BPF_NETKIT_PEER = 55
BPF_TRACE_KPROBE_SESSION = 56
BPF_TRACE_UPROBE_SESSION = 57
BPF_TRACE_FSESSION = 58
BPF_TRACE_FENTRY_MULTI = 59
BPF_TRACE_FEXIT_MULTI = 60
BPF_TRACE_FSESSION_MULTI = 61

# libbpf's names (bpftool `prog show` / `cgroup show` print these).
ATTACH_TYPE_NAMES = _enum_names("BPF_CGROUP_INET_INGRESS", "BPF_TRACE_FSESSION_MULTI", "BPF_")
ATTACH_TYPE_BY_NAME = _invert(ATTACH_TYPE_NAMES)

# link_create.netfilter: the protocol family and hook (linux/netfilter.h),
# and its flags: defragment before the program runs (6.6+).
NFPROTO_IPV4 = 2
NFPROTO_IPV6 = 10
NF_INET_HOOKS = {"prerouting": 0, "input": 1, "forward": 2, "output": 3, "postrouting": 4}
BPF_F_NETFILTER_IP_DEFRAG = 1


# ---------------------------------------------------------------------------
# enum bpf_link_type: bpf_link_info.type, i.e. what kind of link an fd is.
# ---------------------------------------------------------------------------
BPF_LINK_TYPE_UNSPEC = 0
BPF_LINK_TYPE_RAW_TRACEPOINT = 1
BPF_LINK_TYPE_TRACING = 2
BPF_LINK_TYPE_CGROUP = 3
BPF_LINK_TYPE_ITER = 4
BPF_LINK_TYPE_NETNS = 5
BPF_LINK_TYPE_XDP = 6
BPF_LINK_TYPE_PERF_EVENT = 7
BPF_LINK_TYPE_KPROBE_MULTI = 8
BPF_LINK_TYPE_STRUCT_OPS = 9
BPF_LINK_TYPE_NETFILTER = 10
BPF_LINK_TYPE_TCX = 11
BPF_LINK_TYPE_UPROBE_MULTI = 12
BPF_LINK_TYPE_NETKIT = 13
BPF_LINK_TYPE_SOCKMAP = 14
BPF_LINK_TYPE_TRACING_MULTI = 15

LINK_TYPE_NAMES = _enum_names("BPF_LINK_TYPE_UNSPEC", "BPF_LINK_TYPE_TRACING_MULTI", "BPF_LINK_TYPE_")
LINK_TYPE_BY_NAME = _invert(LINK_TYPE_NAMES)

# First mainline release with each link type (see MAP_TYPE_MIN_KERNEL);
# link types cannot be probed without something to attach to.
LINK_TYPE_MIN_KERNEL = {
    BPF_LINK_TYPE_RAW_TRACEPOINT: "5.8",
    BPF_LINK_TYPE_TRACING: "5.8",
    BPF_LINK_TYPE_CGROUP: "5.7",
    BPF_LINK_TYPE_ITER: "5.8",
    BPF_LINK_TYPE_NETNS: "5.8",
    BPF_LINK_TYPE_XDP: "5.9",
    BPF_LINK_TYPE_PERF_EVENT: "5.15",
    BPF_LINK_TYPE_KPROBE_MULTI: "5.18",
    BPF_LINK_TYPE_STRUCT_OPS: "6.4",
    BPF_LINK_TYPE_NETFILTER: "6.4",
    BPF_LINK_TYPE_TCX: "6.6",
    BPF_LINK_TYPE_UPROBE_MULTI: "6.6",
    BPF_LINK_TYPE_NETKIT: "6.7",
    BPF_LINK_TYPE_SOCKMAP: "6.10",
}

# Link types whose program BPF_LINK_UPDATE replaces in place (their
# update_prog op); the others (perf events, raw and BTF tracepoints, multi
# links) answer EINVAL or EOPNOTSUPP and must be made again.
_UPDATABLE_LINKS = frozenset((BPF_LINK_TYPE_CGROUP, BPF_LINK_TYPE_ITER, BPF_LINK_TYPE_NETNS, BPF_LINK_TYPE_XDP,
                              BPF_LINK_TYPE_TCX, BPF_LINK_TYPE_NETKIT))


def link_can_update(link_type):
    """Whether BPF_LINK_UPDATE can point a link of this type at another program."""
    return link_type in _UPDATABLE_LINKS


# ---------------------------------------------------------------------------
# BPF_MAP_CREATE map_flags. Several are reused by other commands with the
# same bit (BPF_F_LINK as BPF_PROG_ATTACH flag, BPF_F_PATH_FD/BPF_F_TOKEN_FD
# on other commands). Only the flags ebpf.deploy uses are here.
# ---------------------------------------------------------------------------
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
BPF_F_INNER_MAP = 1 << 12
BPF_F_LINK = 1 << 13
BPF_F_PATH_FD = 1 << 14
BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15
BPF_F_TOKEN_FD = 1 << 16
BPF_F_SEGV_ON_FAULT = 1 << 17
BPF_F_NO_USER_CONV = 1 << 18


# ---------------------------------------------------------------------------
# BPF_PROG_LOAD prog_flags.
# ---------------------------------------------------------------------------
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
BPF_F_XDP_DEV_BOUND_ONLY = 1 << 6


# ---------------------------------------------------------------------------
# BPF_MAP_*_ELEM flags. The low bits are a mode, not a bit set: ANY,
# NOEXIST and EXIST (2) are mutually exclusive; F_LOCK combines.
# ---------------------------------------------------------------------------
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_F_LOCK = 4


# ---------------------------------------------------------------------------
# BPF_PROG_ATTACH / BPF_LINK_CREATE attach_flags. BPF_F_LINK (above) also
# belongs here: with BEFORE/AFTER it says the relative target is a link.
# ---------------------------------------------------------------------------
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5

# BPF_LINK_CREATE flags of an XDP link (XDP_FLAGS_* of linux/if_link.h):
# which driver hook runs the program; none lets the kernel choose.
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3


# ---------------------------------------------------------------------------
# Instruction encoding (struct bpf_insn.code = class | size/op | mode/src).
# ---------------------------------------------------------------------------
# Classes.
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

# Load/store sizes.
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18
# Bytes each size code moves.
BPF_SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}

# Load/store modes.
BPF_IMM = 0x00
BPF_MEMSX = 0x80
BPF_ATOMIC = 0xc0

# ALU operations.
BPF_MOV = 0xb0

# Jump operations.
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JSLE = 0xd0

# Operand source.
BPF_K = 0x00
BPF_X = 0x08

# Field masks: the opcode byte packs two or three fields; which ones
# depends on the class, so callers pick the accessor that fits.
BPF_CLASS_MASK = 0x07
BPF_SIZE_MASK = 0x18
BPF_MODE_MASK = 0xe0
BPF_OP_MASK = 0xf0
BPF_SRC_MASK = 0x08


def bpf_class(code):
    """Instruction class of an opcode byte."""
    return code & BPF_CLASS_MASK


def bpf_size(code):
    """Access size of a load/store opcode byte."""
    return code & BPF_SIZE_MASK


def bpf_mode(code):
    """Addressing mode of a load/store opcode byte."""
    return code & BPF_MODE_MASK


def bpf_op(code):
    """Operation of an ALU/JMP opcode byte."""
    return code & BPF_OP_MASK


def bpf_src(code):
    """Operand source (BPF_K or BPF_X) of an ALU/JMP opcode byte."""
    return code & BPF_SRC_MASK


# Registers: R0 holds the return value, R10 is the read-only frame pointer.
BPF_REG_0 = 0
BPF_REG_10 = 10

# Size of one struct bpf_insn; a 64-bit immediate load takes two of them.
BPF_INSN_SIZE = 8

# src_reg values of a BPF_LD | BPF_IMM | BPF_DW (ldimm64) instruction:
# they tell the verifier what the immediate really is.
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3  # ld_imm64 of a kernel variable or function by BTF id (5.10)
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6

# src_reg values of a BPF_JMP | BPF_CALL instruction (0 is a helper call).
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2


# ---------------------------------------------------------------------------
# libbpf map definition conventions (the ``pinning`` attribute of a BTF map
# definition); libbpf's, not the kernel's, but objects built for libbpf use
# them and the loader has to honour them.
# ---------------------------------------------------------------------------
LIBBPF_PIN_NONE = 0
LIBBPF_PIN_BY_NAME = 1


# ---------------------------------------------------------------------------
# Sizes.
# ---------------------------------------------------------------------------
# Map and program names are cut to this many bytes including the NUL.
BPF_OBJ_NAME_LEN = 16
