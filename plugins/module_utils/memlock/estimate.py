# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a map or program costs in kernel memory, by the 6.4+ rules.

From Linux 6.4 the ``memlock`` figure in /proc/<pid>/fdinfo/<fd> of a map
is exact per map type: syscall.c's bpf_map_memory_usage() asks the map
type's ``map_mem_usage`` callback. Older kernels report something else
(the RLIMIT_MEMLOCK charge before 5.11, a figure that ignores
preallocation on 5.11-6.3; see accounting.py), so on those hosts this module
computes what a 6.4+ kernel would report for the same map: the real
footprint, preallocated elements included.

``estimate_map()`` follows each callback (the comments name the kernel
function); ``estimate_program()`` follows what bpf_prog_show_fdinfo()
prints, ``prog->pages`` pages. The formulas were written from the kernel
source (kernel/bpf/{hashtab,arraymap,lpm_trie,ringbuf,queue_stack_maps,
bloom_filter,bpf_local_storage,local_storage,stackmap,devmap,cpumap,
reuseport_array,arena,core,syscall}.c, net/core/sock_map.c,
net/xdp/xskmap.c) and are checked against a 6.18 kernel's own figures in
tests/integration/test_memlock_estimate.py.

The formulas need the sizes of some kernel structs (struct bpf_htab,
struct bucket, struct htab_elem, ...), which depend on the kernel's
version and configuration. ``KernelLayout`` reads them from the running
kernel's BTF (/sys/kernel/btf/vmlinux) and falls back, struct by struct,
to ``FALLBACK_SIZES`` (x86_64, Linux 6.18) on hosts without BTF. The
per-element sizes (htab_elem, bucket, lpm_trie_node, llist_node) have not
changed since 5.x, so a fallback moves an estimate by at most the size of
one map header (a few hundred bytes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import (
    kernel_version, possible_cpus, value_buffer_size)

PAGE_SIZE = 4096
POINTER_SIZE = 8      # every BPF-capable 64-bit host; 32-bit hosts are not supported
U32_MAX = (1 << 32) - 1

# hashtab.c: HASHTAB_MAP_LOCK_COUNT per-CPU 'int' lock-depth counters.
# Linux 6.15 dropped the counters (bucket locks became rqspinlocks), but
# htab_map_mem_usage() still counts them (6.18 included).
HASHTAB_MAP_LOCK_COUNT = 8

# hashtab.c: from 6.16 a hash of maps preallocates no spare elements
# (htab_has_extra_elems() excludes fd hash maps).
FD_HTAB_NO_EXTRA_ELEMS = (6, 16)

# ringbuf.c: the consumer and producer position pages (RINGBUF_POS_PAGES).
RINGBUF_POS_PAGES = 2

# uapi struct bpf_lpm_trie_key(_u8): a __u32 prefixlen before the data.
LPM_KEY_PREFIX_SIZE = 4

# bloom_filter.c: hash functions when map_extra leaves it 0.
BLOOM_DEFAULT_HASH_FUNCS = 5

# sizeof() of the kernel structs the formulas use, on hosts without BTF:
# x86_64, Linux 6.18, no lock debugging. Structs that embed struct
# bpf_map (the map headers) differ by tens of bytes between versions.
FALLBACK_SIZES = {
    "bpf_htab": 832,
    "bucket": 16,
    "htab_elem": 48,
    "llist_node": 8,
    "bpf_array": 312,
    "lpm_trie_node": 24,
    "bpf_ringbuf_map": 304,
    "bpf_queue_stack": 312,
    "bpf_bloom_filter": 312,
    "bpf_local_storage_map": 448,
    "bpf_local_storage_map_bucket": 16,
    "bpf_cgroup_storage_map": 328,
    "bpf_stack_map": 320,
    "stack_map_bucket": 16,
    "bpf_dtab": 344,
    "bpf_dtab_netdev": 64,
    "bpf_cpu_map": 304,
    "xsk_map": 304,
    "xsk_map_node": 32,
    "bpf_stab": 376,
    "bpf_shtab": 384,
    "bpf_shtab_bucket": 16,
    "bpf_shtab_elem": 48,
    "reuseport_array": 296,
    "bpf_prog": 96,
}

# Byte offset of struct bpf_ringbuf's consumer_pos (page-aligned: the
# first page the ring buffer maps to user space), without BTF.
FALLBACK_RINGBUF_CONSUMER_POS = 4096

# Map types whose figure depends on how many elements the map holds now
# (``entries``): elements allocated on update and counted by the callback.
ENTRY_COUNTED_TYPES = frozenset((
    uapi.BPF_MAP_TYPE_LPM_TRIE, uapi.BPF_MAP_TYPE_DEVMAP, uapi.BPF_MAP_TYPE_DEVMAP_HASH,
    uapi.BPF_MAP_TYPE_XSKMAP, uapi.BPF_MAP_TYPE_SOCKHASH,
))

# Every map type estimate_map() has a rule for: all but these.
ESTIMATED_MAP_TYPES = frozenset(uapi.MAP_TYPE_NAMES) - frozenset((
    uapi.BPF_MAP_TYPE_UNSPEC, uapi.BPF_MAP_TYPE_STRUCT_OPS, uapi.BPF_MAP_TYPE_INSN_ARRAY, uapi.BPF_MAP_TYPE_RHASH))


def counts_entries(map_type, flags=0):
    """Whether the figure of such a map depends on its current element
    count: LPM tries, hash maps without preallocation (not LRU, which is
    always preallocated), and the device, XDP-socket and socket hash maps."""
    if map_type in ENTRY_COUNTED_TYPES:
        return True
    return (uapi.is_hash(map_type) and not uapi.is_lru(map_type)
            and bool(flags & uapi.BPF_F_NO_PREALLOC))


class KernelLayout:
    """Sizes of kernel structs, from BTF where there is some.

    ``KernelLayout(btf=None, sizes=None)``: ``btf`` is a parsed vmlinux
    BTF (btf/reader.py BTF) or None for fallbacks only; ``sizes`` maps
    struct names to sizes that win over both (tests, other hosts).
    ``sizeof(name)`` answers from ``sizes``, then the BTF struct of that
    name (when there is exactly one), then ``FALLBACK_SIZES``.
    ``fallbacks`` is the set of names answered from the fallback table
    so far (empty when BTF answered everything). Lookups are memoised.
    """

    def __init__(self, btf=None, sizes=None):
        self.btf = btf
        self._sizes = dict(sizes or {})
        self._memo = {}
        self.fallbacks = set()

    @classmethod
    def from_kernel(cls, kernel_btf=None):
        """A layout over the running kernel's BTF: ``kernel_btf`` is a
        btf/kernel.py KernelBTF (default: a new one over sysfs). Hosts
        without BTF, or whose BTF cannot be read, get the fallbacks."""
        btf = None
        try:
            from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
            if kernel_btf is None:
                kernel_btf = KernelBTF()
            if kernel_btf.available:
                btf = kernel_btf.vmlinux
        except Exception:  # no BTF, unreadable BTF: the fallbacks stand in
            btf = None
        return cls(btf)

    @property
    def source(self):
        """'btf', 'btf+fallbacks' or 'fallbacks': where the sizes came from."""
        if self.btf is None:
            return "fallbacks"
        return "btf+fallbacks" if self.fallbacks else "btf"

    def _struct(self, name):
        if self.btf is None:
            return None
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import BTF_KIND_STRUCT
        try:
            return self.btf.find(name, kind=BTF_KIND_STRUCT)
        except Exception:  # none, or more than one struct of that name
            return None

    def sizeof(self, name):
        """sizeof(struct ``name``) in bytes."""
        if name in self._sizes:
            return self._sizes[name]
        if name not in self._memo:
            t = self._struct(name)
            if t is not None:
                self._memo[name] = t.size
            else:
                if name not in FALLBACK_SIZES:
                    raise KeyError("no size known for struct %s" % name)
                self.fallbacks.add(name)
                self._memo[name] = FALLBACK_SIZES[name]
        return self._memo[name]

    def ringbuf_consumer_pos(self):
        """offsetof(struct bpf_ringbuf, consumer_pos) in bytes."""
        key = "bpf_ringbuf.consumer_pos"
        if key in self._sizes:
            return self._sizes[key]
        if key not in self._memo:
            t = self._struct("bpf_ringbuf")
            found = None
            for m in getattr(t, "members", ()) or ():
                if m.name == "consumer_pos":
                    found = m.bit_offset // 8
            if found is None:
                self.fallbacks.add(key)
                found = FALLBACK_RINGBUF_CONSUMER_POS
            self._memo[key] = found
        return self._memo[key]


_DEFAULT_LAYOUT = []


def kernel_layout():
    """The running kernel's KernelLayout, made once per process."""
    if not _DEFAULT_LAYOUT:
        _DEFAULT_LAYOUT.append(KernelLayout.from_kernel())
    return _DEFAULT_LAYOUT[0]


def _round_up(n, align):
    return (n + align - 1) // align * align


def _roundup_pow_of_two(n):
    # include/linux/log2.h roundup_pow_of_two(); 1 for n <= 1.
    return 1 << (n - 1).bit_length() if n > 1 else 1


def estimate_map(map_type, key_size, value_size, max_entries, flags=0, entries=None, ncpus=None,
                 page_size=PAGE_SIZE, inner=None, map_extra=0, layout=None, release=None):
    """Bytes a 6.4+ kernel reports as ``memlock`` for such a map.

    ``map_type`` is a BPF_MAP_TYPE_* number (or its name, as in
    uapi.MAP_TYPE_NAMES); ``flags`` the map_flags it was created with;
    ``map_extra`` the bloom filter's hash-function count (low 4 bits).
    ``entries`` is the number of elements it holds now, which matters
    where elements are allocated on update (``counts_entries()``): hash
    maps with BPF_F_NO_PREALLOC, LPM tries, devmaps, XSK maps, sockhash;
    None means full (max_entries), the most the map can cost. ``ncpus``
    is the number of possible CPUs (default: this host's). ``inner`` (the
    inner map of a map-in-map) is accepted for symmetry and not counted:
    the kernel reports each inner map as a map of its own. ``layout`` is a
    KernelLayout (default: this kernel's, ``kernel_layout()``).
    ``release`` is the kernel release whose rules to follow where they
    changed after 6.4 (default: this host's): hash of maps keeps spare
    elements before 6.16.

    Raises ValueError for a map type without a rule
    (``ESTIMATED_MAP_TYPES`` lists those with one: struct_ops, insn_array
    and the like are left out) or negative sizes.
    """
    if not isinstance(map_type, int):
        names = dict((v, k) for k, v in uapi.MAP_TYPE_NAMES.items())
        if map_type not in names:
            raise ValueError("unknown map type %r" % (map_type,))
        map_type = names[map_type]
    if min(key_size, value_size, max_entries) < 0 or (entries is not None and entries < 0):
        raise ValueError("map sizes and entries must not be negative")
    if ncpus is None:
        ncpus = possible_cpus()
    if layout is None:
        layout = kernel_layout()
    n = max_entries if entries is None else entries
    L = layout.sizeof

    if uapi.is_hash(map_type):
        return _htab_mem_usage(map_type, key_size, value_size, max_entries, flags, n, ncpus, L,
                               kernel_version(release))
    if uapi.is_array(map_type) or uapi.is_fd_array(map_type):
        return _array_map_mem_usage(map_type, value_size, max_entries, flags, ncpus, page_size, L)
    if map_type == uapi.BPF_MAP_TYPE_LPM_TRIE:
        # lpm_trie.c trie_mem_usage(): one node per element (prefix data
        # and value inline); the trie header and intermediate nodes are
        # not counted, so an empty trie reads 0.
        data_size = key_size - LPM_KEY_PREFIX_SIZE
        return (L("lpm_trie_node") + data_size + value_size) * n
    if uapi.is_ringbuf(map_type):
        # ringbuf.c ringbuf_map_mem_usage(): the pages (meta pages: the
        # header, consumer and producer pages; then max_entries of data)
        # and the page-pointer array that maps the data pages twice, back
        # to back, so records can wrap around.
        nr_meta = layout.ringbuf_consumer_pos() // page_size + RINGBUF_POS_PAGES
        nr_data = max_entries // page_size
        return (L("bpf_ringbuf_map") + (nr_meta + nr_data) * page_size
                + (nr_meta + 2 * nr_data) * POINTER_SIZE)
    if uapi.is_queue_stack(map_type):
        # queue_stack_maps.c queue_stack_map_mem_usage(): a ring of
        # max_entries + 1 slots (one always free to tell full from empty).
        return L("bpf_queue_stack") + (max_entries + 1) * value_size
    if map_type == uapi.BPF_MAP_TYPE_BLOOM_FILTER:
        return _bloom_map_mem_usage(max_entries, map_extra, L)
    if uapi.is_local_storage(map_type):
        # bpf_local_storage.c bpf_local_storage_map_mem_usage(): the map
        # and its bucket array, roundup_pow_of_two(possible CPUs) buckets,
        # at least 2 (bpf_local_storage_map_alloc()). The elements live
        # with their owners (sockets, inodes, tasks, cgroups) and are not
        # counted.
        nbuckets = max(2, _roundup_pow_of_two(ncpus))
        return L("bpf_local_storage_map") + L("bpf_local_storage_map_bucket") * nbuckets
    if uapi.is_cgroup_storage(map_type):
        # local_storage.c cgroup_storage_map_usage(): the map only; the
        # per-cgroup storages are not counted.
        return L("bpf_cgroup_storage_map")
    if map_type == uapi.BPF_MAP_TYPE_STACK_TRACE:
        # stackmap.c stack_map_mem_usage(): a pointer per bucket
        # (roundup_pow_of_two(max_entries) buckets, stack_map_alloc()) and
        # max_entries preallocated stack_map_bucket + value_size elements.
        n_buckets = _roundup_pow_of_two(max_entries)
        return (L("bpf_stack_map") + n_buckets * POINTER_SIZE
                + max_entries * (L("stack_map_bucket") + value_size))
    if uapi.is_devmap(map_type):
        # devmap.c dev_map_mem_usage(): a pointer per slot (devmap) or an
        # hlist_head per bucket (devmap_hash, roundup_pow_of_two buckets),
        # plus a bpf_dtab_netdev per device in the map.
        if map_type == uapi.BPF_MAP_TYPE_DEVMAP_HASH:
            slots = _roundup_pow_of_two(max_entries)
        else:
            slots = max_entries
        return L("bpf_dtab") + slots * POINTER_SIZE + n * L("bpf_dtab_netdev")
    if map_type == uapi.BPF_MAP_TYPE_CPUMAP:
        # cpumap.c cpu_map_mem_usage(): a pointer per CPU slot; the
        # per-CPU entries (kthread, queue) are not counted.
        return L("bpf_cpu_map") + max_entries * POINTER_SIZE
    if map_type == uapi.BPF_MAP_TYPE_XSKMAP:
        # xskmap.c xsk_map_mem_usage(): struct_size(xsk_map, xsk_map,
        # max_entries) plus an xsk_map_node per socket in the map.
        return L("xsk_map") + max_entries * POINTER_SIZE + n * L("xsk_map_node")
    if map_type == uapi.BPF_MAP_TYPE_SOCKMAP:
        # sock_map.c sock_map_mem_usage(): a socket pointer per slot.
        return L("bpf_stab") + max_entries * POINTER_SIZE
    if map_type == uapi.BPF_MAP_TYPE_SOCKHASH:
        # sock_map.c sock_hash_mem_usage(): roundup_pow_of_two(max_entries)
        # buckets and, per socket in the map, a bpf_shtab_elem with the
        # key rounded up to 8 bytes (sock_hash_alloc()).
        elem_size = L("bpf_shtab_elem") + _round_up(key_size, 8)
        return (L("bpf_shtab") + _roundup_pow_of_two(max_entries) * L("bpf_shtab_bucket")
                + n * elem_size)
    if map_type == uapi.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY:
        # reuseport_array.c reuseport_array_mem_usage():
        # struct_size(reuseport_array, ptrs, max_entries).
        return L("reuseport_array") + max_entries * POINTER_SIZE
    if map_type == uapi.BPF_MAP_TYPE_ARENA:
        # arena.c arena_map_mem_usage(): 0 (pages are charged as they are
        # faulted in or allocated, and not reported).
        return 0
    raise ValueError("no memory-usage rule for map type %s"
                     % uapi.MAP_TYPE_NAMES.get(map_type, map_type))


def _htab_mem_usage(map_type, key_size, value_size, max_entries, flags, entries, ncpus, L, version):
    # hashtab.c htab_map_mem_usage(), with elem_size and n_buckets as
    # htab_map_alloc() sets them. Also hash_of_maps (value: a map pointer
    # in an 8-byte slot).
    percpu = uapi.is_percpu(map_type)
    lru = uapi.is_lru(map_type)
    fd_htab = map_type == uapi.BPF_MAP_TYPE_HASH_OF_MAPS
    prealloc = lru or not flags & uapi.BPF_F_NO_PREALLOC   # LRU maps are always preallocated
    if lru and flags & uapi.BPF_F_NO_COMMON_LRU:
        # htab_map_alloc(): per-CPU LRU lists get max_entries rounded up to
        # a multiple of the CPU count (down if that overflows u32).
        rounded = _round_up(max_entries, ncpus)
        max_entries = rounded if rounded <= U32_MAX else max_entries // ncpus * ncpus
    value8 = _round_up(value_size, 8)
    elem_size = L("htab_elem") + _round_up(key_size, 8) + (POINTER_SIZE if percpu else value8)
    n_buckets = _roundup_pow_of_two(max_entries)

    usage = L("bpf_htab") + L("bucket") * n_buckets
    usage += 4 * ncpus * HASHTAB_MAP_LOCK_COUNT      # sizeof(int) per CPU per lock slot
    if prealloc:
        # prealloc_init(): all elements up front; plain hash maps keep one
        # spare element per CPU for updates that replace an element
        # (htab_has_extra_elems(): neither per-CPU nor LRU, and from 6.16
        # not a hash of maps, whose updates are in place).
        num = max_entries
        if not percpu and not lru and not (fd_htab and version >= FD_HTAB_NO_EXTRA_ELEMS):
            num += ncpus
        usage += elem_size * num
        if percpu:
            usage += value8 * ncpus * num            # each element's per-CPU value
        elif not lru:
            # The extra_elems per-CPU pointer (counted even for a hash of
            # maps, which has none from 6.16).
            usage += POINTER_SIZE * ncpus
    else:
        # bpf_mem_alloc'ed elements, each with an llist_node of allocator
        # overhead; per-CPU values come from a second allocator.
        llist = L("llist_node")
        usage += (elem_size + llist) * entries
        if percpu:
            usage += (llist + POINTER_SIZE) * entries
            usage += value8 * ncpus * entries
    return usage


def _array_map_mem_usage(map_type, value_size, max_entries, flags, ncpus, page_size, L):
    # arraymap.c array_map_mem_usage(), shared by the fd arrays (prog,
    # perf event, cgroup arrays, array of maps: each slot a pointer in an
    # 8-byte element). elem_size = round_up(value_size, 8).
    elem_size = _round_up(value_size, 8)
    usage = L("bpf_array")
    if map_type == uapi.BPF_MAP_TYPE_PERCPU_ARRAY:
        usage += max_entries * POINTER_SIZE             # pptrs[]
        usage += max_entries * elem_size * ncpus
    elif flags & uapi.BPF_F_MMAPABLE:
        # The header and the values each start on a page (the values are
        # what user space maps).
        usage = _round_up(usage, page_size) + _round_up(max_entries * elem_size, page_size)
    else:
        usage += max_entries * elem_size
    return usage


def _bloom_map_mem_usage(max_entries, map_extra, L):
    # bloom_filter.c bloom_map_mem_usage() with bitset_mask as
    # bloom_map_alloc() sets it: nr_bits = max_entries * hash functions
    # * 7 / 5 (about 1 / ln 2), a power of two of at least 64 bits; 2^32
    # bits when that overflows.
    nr_hash = map_extra & 0xF or BLOOM_DEFAULT_HASH_FUNCS
    nr_bits = max_entries * nr_hash
    if nr_bits > U32_MAX or nr_bits // 5 * 7 > U32_MAX or nr_bits // 5 * 7 > (1 << 31):
        bits = 1 << 32
    else:
        nr_bits = nr_bits // 5 * 7
        bits = 64 if nr_bits <= 64 else _roundup_pow_of_two(nr_bits)
    bitset_bytes = _round_up((bits + 7) // 8, POINTER_SIZE)
    return L("bpf_bloom_filter") + bitset_bytes


def estimate_program(jited_len, xlated_len, insn_cnt=None, page_size=PAGE_SIZE, layout=None,
                     include_jit=False):
    """Bytes a kernel reports as ``memlock`` for a program: syscall.c
    bpf_prog_show_fdinfo() prints ``prog->pages`` pages, and core.c sizes
    the program as bpf_prog_size(): struct bpf_prog followed by its
    instructions, rounded up to whole pages (bpf_prog_alloc_no_stats(),
    bpf_prog_realloc()). The same on every kernel since 4.x.

    ``xlated_len`` is bpf_prog_info's xlated_prog_len (bytes of the
    instructions after the verifier's rewrites); ``insn_cnt`` the number
    of instructions loaded, when known: the allocation only grows, so a
    program the verifier shrank (dead code removed) keeps the larger size.
    ``jited_len`` is the JIT image's size: the kernel's figure does not
    include it (JIT images are charged to the module memory limit), so it
    is added, rounded up to a page, only with ``include_jit``.
    """
    if layout is None:
        layout = kernel_layout()
    insns = max(xlated_len // 8, insn_cnt or 0)
    size = layout.sizeof("bpf_prog") + insns * 8
    usage = _round_up(size, page_size)
    if include_jit and jited_len:
        usage += _round_up(jited_len, page_size)
    return usage


def estimate_spec(spec, programs=None, layout=None, release=None):
    """({map: bytes}, {program: bytes}) that loading ``spec`` (the programs
    named in ``programs``, default all) would lock, before anything is
    loaded: maps full, programs at their loaded size (the verifier's
    rewrites are not known yet). Map types without a rule count 0."""
    if layout is None:
        layout = kernel_layout()
    maps = {}
    for m in spec.maps.values():
        try:
            maps[m.name] = estimate_map(m.type, m.key_size, m.value_size, m.kernel_max_entries(), m.flags,
                                        map_extra=m.map_extra, layout=layout, release=release)
        except ValueError:
            maps[m.name] = 0
    progs = dict((name, estimate_program(0, len(p.insns), layout=layout))
                 for name, p in spec.programs.items() if not programs or name in programs)
    return maps, progs


_FALLBACK_LAYOUT = []


def fallback_layout():
    """A KernelLayout of the fallback sizes only, made once per process.
    Facts use it: reading struct sizes from kernel BTF would cost a parse
    of vmlinux BTF on runs that need none, for at most the size of one map
    header of difference (docs/memlock.md)."""
    if not _FALLBACK_LAYOUT:
        _FALLBACK_LAYOUT.append(KernelLayout())
    return _FALLBACK_LAYOUT[0]


def estimate_live_map(fd, fdinfo, layout=None):
    """Estimate for the open map ``fd`` whose /proc fdinfo is ``fdinfo``
    (a syscalls.Fdinfo): counts its elements where the figure depends on
    them. None for a map type without a rule."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls

    map_type, flags = fdinfo.map_type, fdinfo.map_flags
    if map_type not in ESTIMATED_MAP_TYPES:
        return None
    entries = None
    if counts_entries(map_type, flags):
        entries = syscalls.map_count(fd, fdinfo.key_size, value_buffer_size(map_type, fdinfo.value_size))
    try:
        return estimate_map(map_type, fdinfo.key_size, fdinfo.value_size, fdinfo.max_entries, flags,
                            entries=entries, map_extra=fdinfo.map_extra, layout=layout or fallback_layout())
    except ValueError:
        return None


def estimate_live_program(fd, layout=None):
    """Estimate for the open program ``fd``, from its translated size."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls

    info = syscalls.prog_info(fd)
    return estimate_program(info.jited_prog_len, info.xlated_prog_len, layout=layout or fallback_layout())
