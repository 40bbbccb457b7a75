# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bpf() system call through ctypes, one function per command we use.

Each function packs its ``union bpf_attr`` member with a precompiled
``struct.Struct`` (named after the member), passes exactly that many bytes
(older kernels accept a shorter attr, newer ones check that unknown tail
bytes are zero), and raises ``SyscallError`` carrying errno on failure.
File descriptors are plain ints owned by the caller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import os
import struct
import time

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import host, uapi

# __NR_bpf per architecture (asm/unistd*.h); the generic table serves the newer ports.
_NR_BPF = {
    "x86_64": 321, "i386": 357, "i686": 357, "aarch64": 280, "arm64": 280, "armv7l": 386,
    "armv6l": 386, "ppc64le": 361, "ppc64": 361, "s390x": 351, "riscv64": 280,
    "loongarch64": 280, "mips64": 5315,
}

# union bpf_attr members, as the kernel lays them out (include/uapi/linux/bpf.h)
MAP_CREATE_ATTR = struct.Struct("=7I16s5IQ")
MAP_ELEM_ATTR = struct.Struct("=I4xQQQ")
MAP_FREEZE_ATTR = struct.Struct("=I")
MAP_BATCH_ATTR = struct.Struct("=QQQQIIQQ")
PROG_LOAD_ATTR = struct.Struct("=IIQQIIQII16sIIIIQIIQIIIIQQII")
OBJ_PIN_ATTR = struct.Struct("=QII")
BTF_LOAD_ATTR = struct.Struct("=QQIIII")
INFO_BY_FD_ATTR = struct.Struct("=IIQ")
GET_ID_ATTR = struct.Struct("=III")
PROG_TEST_RUN_ATTR = struct.Struct("=IIIIQQIIIIQQIII4x")
# link_create: prog_fd, target fd/ifindex, attach_type, flags, then the
# per-type union as two u32 and one u64 (tcx relative_fd / expected_revision,
# tracing target_btf_id / cookie, perf_event bpf_cookie).
LINK_CREATE_ATTR = struct.Struct("=IIIIIIQ")
# link_create with its uprobe_multi member: path, offsets, ref_ctr_offsets,
# cookies (pointers), cnt, flags, pid.
LINK_CREATE_UPROBE_MULTI_ATTR = struct.Struct("=IIIIQQQQIII4x")
# link_create with its netfilter member: pf, hooknum, priority, flags.
LINK_CREATE_NETFILTER_ATTR = struct.Struct("=IIIIIIiI")
LINK_UPDATE_ATTR = struct.Struct("=IIII")
LINK_DETACH_ATTR = struct.Struct("=I")
ENABLE_STATS_ATTR = struct.Struct("=I")
RAW_TRACEPOINT_OPEN_ATTR = struct.Struct("=QI4xQ")
PROG_ATTACH_ATTR = struct.Struct("=IIIII")
# query: target fd/ifindex, attach_type, query_flags, attach_flags,
# prog_ids (ptr), count, pad, prog_attach_flags, link_ids, link_attach_flags
# (ptrs), revision.
PROG_QUERY_ATTR = struct.Struct("=IIIIQI4xQQQQ")
# struct bpf_btf_info: btf (ptr), btf_size, id, name (ptr), name_len, kernel_btf
BPF_BTF_INFO = struct.Struct("=QIIQII")
# struct bpf_link_info: type, id, prog_id, then a 32-byte union we decode per type.
BPF_LINK_INFO = struct.Struct("=III4x32s")

# struct bpf_map_info / bpf_prog_info: the leading fields we read.
BPF_MAP_INFO = struct.Struct("=6I16sIIQQIIIIQ")
BPF_PROG_INFO = struct.Struct("=II8sIIQQQIIQ16sIIQQIIQQIIQIIQQIIIIQQQQIII4x")

_libc = None
_nr_bpf = None


def _syscall():
    global _libc, _nr_bpf
    if _libc is None:
        machine = os.uname().machine
        if machine not in _NR_BPF:
            raise SyscallError("bpf(): unknown system call number on %s" % machine, errno.ENOSYS)
        _nr_bpf = _NR_BPF[machine]
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _libc = libc
    return _libc


def bpf(cmd, attr, what):
    """Run bpf(cmd, attr) where attr is a ctypes buffer; return the result.

    Raises SyscallError('<what>: ENAME (text)') on failure; EINTR and EAGAIN
    (which BPF_PROG_LOAD returns when the verifier was interrupted) are retried.
    """
    libc = _syscall()
    for _attempt in range(5):
        ret = libc.syscall(_nr_bpf, ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
        if ret >= 0:
            return ret
        err = ctypes.get_errno()
        if err not in (errno.EINTR, errno.EAGAIN):
            break
    raise SyscallError(what, err, hint=_hint(err))


def _hint(err):
    if err == errno.EPERM:
        if host.may_use_bpf():
            lockdown = host.lockdown_state()
            return ("this process holds CAP_BPF/CAP_SYS_ADMIN, so the kernel refused it for another reason: "
                    "kernel lockdown (%s), a security module, or, for fentry/fexit/fmod_ret/lsm programs, "
                    "tracing attach the kernel does not allow here (no ftrace direct calls); on kernels before "
                    "5.11 also RLIMIT_MEMLOCK ('ulimit -l')" % (
                        "mode %s" % lockdown if lockdown else "its state unreadable: securityfs not mounted "
                        "or no lockdown LSM"))
        return ("bpf() needs root or CAP_BPF (with CAP_PERFMON/CAP_NET_ADMIN for some program types); "
                "on kernels before 5.11 it may also mean RLIMIT_MEMLOCK is too low ('ulimit -l')")
    if err == errno.ENOSYS:
        return "this kernel was built without CONFIG_BPF_SYSCALL"
    if err == errno.EROFS:
        return "the bpf filesystem is mounted read-only: mount -o remount,rw it (e.g. /sys/fs/bpf)"
    return None


def _attr(layout, *values):
    buf = ctypes.create_string_buffer(layout.size)
    layout.pack_into(buf, 0, *values)
    return buf


def _ptr(buf):
    return ctypes.addressof(buf) if buf is not None else 0


def buffer(data):
    """A ctypes buffer holding ``data`` (bytes) or ``data`` zero bytes (int)."""
    if isinstance(data, int):
        return ctypes.create_string_buffer(data)
    return ctypes.create_string_buffer(bytes(data), len(data))


def _obj_name(name):
    return name.encode("ascii", "replace")[:15]


def map_create(map_type, key_size, value_size, max_entries, flags=0, name="", inner_map_fd=0,
               numa_node=0, btf_fd=0, btf_key_type_id=0, btf_value_type_id=0, map_extra=0, ifindex=0):
    attr = _attr(MAP_CREATE_ATTR, map_type, key_size, value_size, max_entries, flags, inner_map_fd,
                 numa_node, _obj_name(name), ifindex, btf_fd, btf_key_type_id, btf_value_type_id, 0,
                 map_extra)
    return bpf(uapi.BPF_MAP_CREATE, attr, "map '%s': create" % name)


def map_update(fd, key, value, flags=uapi.BPF_ANY, what="map"):
    kbuf, vbuf = buffer(key), buffer(value)
    bpf(uapi.BPF_MAP_UPDATE_ELEM, _attr(MAP_ELEM_ATTR, fd, _ptr(kbuf), _ptr(vbuf), flags), "%s: update element" % what)


def map_lookup(fd, key, value_size, what="map"):
    """The value at ``key`` as bytes, or None when the key is absent."""
    kbuf, vbuf = buffer(key), buffer(value_size)
    try:
        bpf(uapi.BPF_MAP_LOOKUP_ELEM, _attr(MAP_ELEM_ATTR, fd, _ptr(kbuf), _ptr(vbuf), 0), "%s: lookup element" % what)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            return None
        raise
    return vbuf.raw


def map_delete(fd, key, what="map"):
    """Delete ``key``; False when it was not there."""
    kbuf = buffer(key)
    try:
        bpf(uapi.BPF_MAP_DELETE_ELEM, _attr(MAP_ELEM_ATTR, fd, _ptr(kbuf), 0, 0), "%s: delete element" % what)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    return True


def map_keys(fd, key_size, what="map"):
    """Yield every key of the map (as bytes), in the kernel's order."""
    cur = None
    nbuf = buffer(key_size)
    while True:
        kbuf = buffer(cur) if cur is not None else None
        try:
            bpf(uapi.BPF_MAP_GET_NEXT_KEY, _attr(MAP_ELEM_ATTR, fd, _ptr(kbuf), _ptr(nbuf), 0), "%s: next key" % what)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                return
            raise
        cur = nbuf.raw
        yield cur


# Errors a batch command gives on a kernel (before 5.6) or map type
# without it: EINVAL for an unknown command, the kernel's ENOTSUPP (524)
# or EOPNOTSUPP for a map type whose ops lack the batch callback.
BATCH_UNSUPPORTED = (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, 524)


def _batch(cmd, fd, keys, values, count, in_batch=0, out_batch=0, elem_flags=0, what="map"):
    """Run one batch command; returns (attr, error): ``error`` is the
    SyscallError the kernel gave (None on success), since how many it did
    (the attr's ``count``) matters on failure too."""
    attr = _attr(MAP_BATCH_ATTR, in_batch, out_batch, _ptr(keys), _ptr(values), count, fd, elem_flags, 0)
    try:
        bpf(cmd, attr, what)
    except SyscallError as e:
        return attr, e
    return attr, None


def batch_done(attr):
    """The ``count`` field of a batch attr after the call: how many
    elements the kernel processed."""
    return MAP_BATCH_ATTR.unpack_from(attr)[4]


def map_lookup_batches(fd, key_size, value_size, batch=8192, what="map"):
    """Yield the map's elements as (keys, values, n): ``n`` packed keys and
    values (bytes) per chunk. ``value_size`` is what a lookup returns
    (per-CPU maps: the slot times the possible CPUs). Raises SyscallError
    with an errno in BATCH_UNSUPPORTED before yielding anything when the
    kernel or map type has no BPF_MAP_LOOKUP_BATCH (5.6+): the caller
    falls back to map_keys()."""
    token_in, token_out = buffer(max(key_size, 8)), buffer(max(key_size, 8))
    first = True
    while True:
        keys, values = buffer(key_size * batch), buffer(value_size * batch)
        attr, err = _batch(uapi.BPF_MAP_LOOKUP_BATCH, fd, keys, values, batch,
                           0 if first else ctypes.addressof(token_in), ctypes.addressof(token_out),
                           what="%s: lookup batch" % what)
        if err is not None and err.errno == errno.ENOSPC and batch < (1 << 20):
            batch *= 4      # one hash bucket holds more than a batch
            continue
        if err is not None and err.errno != errno.ENOENT:
            raise err
        n = batch_done(attr)
        if n:
            yield keys.raw[:n * key_size], values.raw[:n * value_size], n
        if err is not None:
            return
        ctypes.memmove(token_in, token_out, len(token_out.raw))
        first = False


def map_update_batch(fd, keys, values, count, elem_flags=uapi.BPF_ANY, what="map"):
    """Write ``count`` elements from packed ``keys`` and ``values`` (bytes)
    in one BPF_MAP_UPDATE_BATCH (5.6+). Returns None, or (done, error):
    how many the kernel wrote before it failed, and its SyscallError."""
    attr, err = _batch(uapi.BPF_MAP_UPDATE_BATCH, fd, buffer(keys), buffer(values), count,
                       elem_flags=elem_flags, what="%s: update batch" % what)
    return None if err is None else (batch_done(attr), err)


def map_delete_batch(fd, keys, count, what="map"):
    """Delete ``count`` packed ``keys`` in one BPF_MAP_DELETE_BATCH (5.6+,
    hash maps). Returns None, or (done, error) as map_update_batch."""
    attr, err = _batch(uapi.BPF_MAP_DELETE_BATCH, fd, buffer(keys), None, count,
                       what="%s: delete batch" % what)
    return None if err is None else (batch_done(attr), err)


def map_count(fd, key_size, value_size, what="map", batch=4096):
    """How many elements the map holds. Batched lookups (5.6+, hash maps)
    copy thousands of elements per call; map types or kernels without them
    fall back to walking the keys one call each. ``value_size`` is the
    size a lookup returns (per-CPU maps: rounded to 8 bytes, times CPUs)."""
    try:
        return sum(n for _k, _v, n in map_lookup_batches(fd, key_size, value_size, batch, what))
    except SyscallError as e:
        if e.errno not in BATCH_UNSUPPORTED:
            raise
    return sum(1 for _key in map_keys(fd, key_size, what))


def map_freeze(fd, what="map"):
    bpf(uapi.BPF_MAP_FREEZE, _attr(MAP_FREEZE_ATTR, fd), "%s: freeze" % what)


def prog_load(prog_type, insns, license, name="", expected_attach_type=0, prog_flags=0, kern_version=0,
              btf_fd=0, func_info=b"", func_info_rec_size=0, line_info=b"", line_info_rec_size=0,
              attach_btf_id=0, attach_btf_obj_fd=0, log_level=0, log_size=0, ifindex=0, fd_array=b""):
    """Load a program; returns (fd, log). ``insns`` is the raw instruction bytes;
    ``fd_array`` the packed int32 fds that kfunc calls into module BTF index.

    With log_level > 0 a log buffer of ``log_size`` bytes is passed and its
    contents are returned (also on failure, as ``SyscallError.log``).
    """
    ibuf = buffer(insns)
    lic = buffer(license.encode("ascii", "replace") + b"\0")
    fibuf = buffer(func_info) if func_info else None
    libuf = buffer(line_info) if line_info else None
    logbuf = buffer(log_size) if log_level else None
    fdbuf = buffer(fd_array) if fd_array else None
    attr = _attr(PROG_LOAD_ATTR, prog_type, len(insns) // 8, _ptr(ibuf), _ptr(lic), log_level,
                 log_size if log_level else 0, _ptr(logbuf), kern_version, prog_flags, _obj_name(name),
                 ifindex, expected_attach_type, btf_fd, func_info_rec_size if fibuf else 0, _ptr(fibuf),
                 len(func_info) // func_info_rec_size if fibuf else 0, line_info_rec_size if libuf else 0,
                 _ptr(libuf), len(line_info) // line_info_rec_size if libuf else 0, attach_btf_id,
                 attach_btf_obj_fd, 0, _ptr(fdbuf), 0, 0, 0)
    return _bpf_with_log(uapi.BPF_PROG_LOAD, attr, "program '%s': load" % name, logbuf)


def _bpf_with_log(cmd, attr, what, logbuf):
    """bpf() for a command that writes a log: (fd, log); the log rides on
    the SyscallError too, where the verifier says why."""
    try:
        fd = bpf(cmd, attr, what)
    except SyscallError as e:
        e.log = _log_text(logbuf)
        raise
    return fd, _log_text(logbuf)


def _log_text(logbuf):
    if logbuf is None:
        return ""
    return logbuf.value.decode("utf-8", "replace")


def btf_load(data, log_level=0, log_size=0, what="BTF"):
    """Load raw BTF; returns (fd, log)."""
    dbuf = buffer(data)
    logbuf = buffer(log_size) if log_level else None
    attr = _attr(BTF_LOAD_ATTR, _ptr(dbuf), _ptr(logbuf), len(data), log_size if log_level else 0,
                 log_level, 0)
    return _bpf_with_log(uapi.BPF_BTF_LOAD, attr, "%s: load" % what, logbuf)


def obj_pin(fd, path):
    pbuf = buffer(os.fsencode(path) + b"\0")
    bpf(uapi.BPF_OBJ_PIN, _attr(OBJ_PIN_ATTR, _ptr(pbuf), fd, 0), "pin '%s'" % path)


def obj_get(path, flags=0):
    """Open a pinned object; returns its fd. A symlink is refused (ELOOP):
    bpffs allows them, and following one planted among our pins would hand
    us another tool's map, program or link."""
    if os.path.islink(path):
        raise SyscallError("open pin '%s': a symbolic link, not a pin; refusing to follow it" % path, errno.ELOOP,
                           hint="remove the symlink; ebpf.deploy makes none")
    pbuf = buffer(os.fsencode(path) + b"\0")
    return bpf(uapi.BPF_OBJ_GET, _attr(OBJ_PIN_ATTR, _ptr(pbuf), 0, flags), "open pin '%s'" % path)


def _info(fd, size, what):
    ibuf = buffer(size)
    bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, _attr(INFO_BY_FD_ATTR, fd, size, _ptr(ibuf)), "%s: get info" % what)
    return ibuf.raw


class MapInfo:
    """What the kernel says of a map (struct bpf_map_info)."""

    __slots__ = ("type", "id", "key_size", "value_size", "max_entries", "flags", "name", "btf_id",
                 "btf_key_type_id", "btf_value_type_id", "map_extra")

    def __init__(self, raw):
        (self.type, self.id, self.key_size, self.value_size, self.max_entries, self.flags, name,
         _ifindex, _vmlinux_value, _netns_dev, _netns_ino, self.btf_id, self.btf_key_type_id,
         self.btf_value_type_id, _btf_vmlinux_id, self.map_extra) = BPF_MAP_INFO.unpack_from(raw)
        self.name = name.split(b"\0", 1)[0].decode("ascii", "replace")


class ProgInfo:
    """What the kernel says of a program (struct bpf_prog_info, leading fields)."""

    __slots__ = ("type", "id", "tag", "jited_prog_len", "xlated_prog_len", "name", "btf_id",
                 "verified_insns", "run_time_ns", "run_cnt")

    def __init__(self, raw):
        f = BPF_PROG_INFO.unpack_from(raw)
        self.type, self.id = f[0], f[1]
        self.tag = f[2].hex()
        self.jited_prog_len, self.xlated_prog_len = f[3], f[4]
        self.name = f[11].split(b"\0", 1)[0].decode("ascii", "replace")
        self.btf_id = f[20]
        self.run_time_ns, self.run_cnt = f[32], f[33]
        self.verified_insns = f[35]


def map_info(fd, what="map"):
    return MapInfo(_info(fd, BPF_MAP_INFO.size, what))


def prog_info(fd, what="program"):
    return ProgInfo(_info(fd, BPF_PROG_INFO.size, what))


def prog_test_run(fd, data=b"", repeat=1, data_size_out=0, ctx=None, what="program"):
    """Run a program once (or ``repeat`` times) on ``data``; returns (retval, data_out)."""
    din = buffer(data) if data else None
    dout = buffer(data_size_out) if data_size_out else None
    cin = buffer(ctx) if ctx else None
    attr = _attr(PROG_TEST_RUN_ATTR, fd, 0, len(data), data_size_out, _ptr(din), _ptr(dout), repeat, 0,
                 len(ctx) if ctx else 0, 0, _ptr(cin), 0, 0, 0, 0)
    bpf(uapi.BPF_PROG_TEST_RUN, attr, "%s: test run" % what)
    retval = struct.unpack_from("=I", attr, 4)[0]
    out_size = struct.unpack_from("=I", attr, 12)[0]
    return retval, (dout.raw[:out_size] if dout is not None else b"")


def enable_stats(stats_type=uapi.BPF_STATS_RUN_TIME, what="enable run-time statistics"):
    """BPF_ENABLE_STATS (5.8+): an fd that keeps the kernel counting every
    program's run_cnt and run_time_ns while it is open; closing it stops
    the count (unless kernel.bpf_stats_enabled holds it on), and the sysctl
    itself is never changed."""
    return bpf(uapi.BPF_ENABLE_STATS, _attr(ENABLE_STATS_ATTR, stats_type), what)


def link_create(prog_fd, target, attach_type, flags=0, u1=0, u2=0, u3=0, what="link"):
    """BPF_LINK_CREATE; ``target`` is an fd or ifindex by attach type,
    u1/u2/u3 fill the per-type union (see LINK_CREATE_ATTR)."""
    attr = _attr(LINK_CREATE_ATTR, prog_fd, target, attach_type, flags, u1, u2, u3)
    return bpf(uapi.BPF_LINK_CREATE, attr, "%s: create" % what)


def link_create_uprobe_multi(prog_fd, path, offsets, retprobe=False, pid=None, what="uprobe_multi"):
    """BPF_LINK_CREATE of a BPF_TRACE_UPROBE_MULTI link (Linux 6.6+): one
    link probing every file offset in ``offsets`` of ``path``."""
    path_buf = ctypes.create_string_buffer(path.encode() + b"\0")
    offs = (ctypes.c_uint64 * len(offsets))(*offsets)
    attr = _attr(LINK_CREATE_UPROBE_MULTI_ATTR, prog_fd, 0, uapi.BPF_TRACE_UPROBE_MULTI, 0, _ptr(path_buf),
                 ctypes.addressof(offs), 0, 0, len(offsets), uapi.BPF_F_UPROBE_MULTI_RETURN if retprobe else 0,
                 pid or 0)
    return bpf(uapi.BPF_LINK_CREATE, attr, "%s: create" % what)


def link_create_netfilter(prog_fd, family, hook, priority, flags=0, what="netfilter"):
    """BPF_LINK_CREATE of a netfilter hook (Linux 6.4+) in the calling
    thread's network namespace."""
    attr = _attr(LINK_CREATE_NETFILTER_ATTR, prog_fd, 0, uapi.BPF_NETFILTER, 0, family, hook, priority, flags)
    return bpf(uapi.BPF_LINK_CREATE, attr, "%s: create" % what)


# What BPF_LINK_UPDATE answers for link types without update_prog (perf
# events, raw and BTF tracepoints): such a link must be made again.
LINK_UPDATE_UNSUPPORTED = (errno.EINVAL, errno.EOPNOTSUPP)


def link_update(link_fd, new_prog_fd, old_prog_fd=None, what="link"):
    """Point a link at another program; with ``old_prog_fd`` only if it
    still runs that one (BPF_F_REPLACE), so a concurrent change is not lost."""
    flags = uapi.BPF_F_REPLACE if old_prog_fd is not None else 0
    attr = _attr(LINK_UPDATE_ATTR, link_fd, new_prog_fd, flags, old_prog_fd or 0)
    bpf(uapi.BPF_LINK_UPDATE, attr, "%s: update" % what)


def prog_query(target, attach_type, what="query", room=64):
    """BPF_PROG_QUERY of ``target`` (an fd or, for tcx, an ifindex) and
    ``attach_type``: (prog ids, link ids, revision), the ids in the order
    the programs run; a link id is 0 where the program is attached without
    a link. A tcx chain holds at most 64, so ``room`` is enough; ENOSPC
    (more there) asks again with the count the kernel gave."""
    while True:
        progs, links = (ctypes.c_uint32 * room)(), (ctypes.c_uint32 * room)()
        attr = _attr(PROG_QUERY_ATTR, target, attach_type, 0, 0, ctypes.addressof(progs), room, 0,
                     ctypes.addressof(links), 0, 0)
        try:
            bpf(uapi.BPF_PROG_QUERY, attr, "%s: query" % what)
        except SyscallError as e:
            count = PROG_QUERY_ATTR.unpack_from(attr)[5]
            if e.errno == errno.ENOSPC and count > room:
                room = count
                continue
            raise
        fields = PROG_QUERY_ATTR.unpack_from(attr)
        count = min(fields[5], room)
        return list(progs[:count]), list(links[:count]), fields[9]


def link_detach(link_fd, what="link"):
    bpf(uapi.BPF_LINK_DETACH, _attr(LINK_DETACH_ATTR, link_fd), "%s: detach" % what)


class LinkInfo:
    """struct bpf_link_info: ``type``, ``id``, ``prog_id`` and ``raw`` (the
    per-type union, 32 bytes)."""

    __slots__ = ("type", "id", "prog_id", "raw")

    def __init__(self, raw):
        self.type, self.id, self.prog_id, self.raw = BPF_LINK_INFO.unpack_from(raw)


def link_info(fd, what="link"):
    return LinkInfo(_info(fd, BPF_LINK_INFO.size, what))


def raw_tracepoint_open(prog_fd, name, what="raw tracepoint"):
    """BPF_RAW_TRACEPOINT_OPEN: returns a link fd. ``name`` None for
    tp_btf/fentry/fexit/lsm programs (the target is in the program)."""
    nbuf = buffer(name.encode() + b"\0") if name else None
    return bpf(uapi.BPF_RAW_TRACEPOINT_OPEN, _attr(RAW_TRACEPOINT_OPEN_ATTR, _ptr(nbuf), prog_fd, 0), what)


def btf_raw_by_id(btf_id, what="BTF"):
    """The raw bytes of kernel BTF object ``btf_id`` (e.g. a map's BTF)."""
    fd = bpf(uapi.BPF_BTF_GET_FD_BY_ID, _attr(GET_ID_ATTR, btf_id, 0, 0), "%s id %d: open" % (what, btf_id))
    try:
        info = buffer(BPF_BTF_INFO.size)
        bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, _attr(INFO_BY_FD_ATTR, fd, BPF_BTF_INFO.size, _ptr(info)), "%s: info" % what)
        size = BPF_BTF_INFO.unpack_from(info.raw)[1]
        data = buffer(size)
        BPF_BTF_INFO.pack_into(info, 0, _ptr(data), size, 0, 0, 0, 0)
        bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, _attr(INFO_BY_FD_ATTR, fd, BPF_BTF_INFO.size, _ptr(info)), "%s: info" % what)
        return data.raw[:size]
    finally:
        os.close(fd)


def btf_name(fd, what="BTF"):
    """(name, kernel_btf) of a BTF object: 'vmlinux' or the module's name
    for kernel BTF (kernel_btf True), '' for BTF a program loaded."""
    name = buffer(64)
    info = buffer(BPF_BTF_INFO.size)
    BPF_BTF_INFO.pack_into(info, 0, 0, 0, 0, _ptr(name), 64, 0)
    bpf(uapi.BPF_OBJ_GET_INFO_BY_FD, _attr(INFO_BY_FD_ATTR, fd, BPF_BTF_INFO.size, _ptr(info)), "%s: info" % what)
    return name.value.decode("ascii", "replace"), bool(BPF_BTF_INFO.unpack_from(info.raw)[5])


_GET_FD_BY_ID = {"map": uapi.BPF_MAP_GET_FD_BY_ID, "prog": uapi.BPF_PROG_GET_FD_BY_ID,
                 "link": uapi.BPF_LINK_GET_FD_BY_ID, "btf": uapi.BPF_BTF_GET_FD_BY_ID}
_GET_NEXT_ID = {"map": uapi.BPF_MAP_GET_NEXT_ID, "prog": uapi.BPF_PROG_GET_NEXT_ID,
                "link": uapi.BPF_LINK_GET_NEXT_ID, "btf": uapi.BPF_BTF_GET_NEXT_ID}


def get_fd_by_id(kind, obj_id):
    return bpf(_GET_FD_BY_ID[kind], _attr(GET_ID_ATTR, obj_id, 0, 0), "%s id %d: open" % (kind, obj_id))


def next_id(kind, start):
    """The next map/prog/link/btf id after ``start``, or None at the end."""
    cmd = _GET_NEXT_ID[kind]
    attr = _attr(GET_ID_ATTR, start, 0, 0)
    try:
        bpf(cmd, attr, "%s: next id" % kind)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            return None
        raise
    return struct.unpack_from("=I", attr, 4)[0]


def wait_released(kind, obj_id, timeout=2.0):
    """Wait until the kernel has freed map/prog/link ``obj_id``: the last
    reference to a pinned object goes when bpffs frees the inode, after an
    RCU grace period and in deferred work, so an unpinned link may still
    run for a moment. True once it is gone, False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = get_fd_by_id(kind, obj_id)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                return True
            raise
        os.close(fd)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _fdinfo_field(key, base=10):
    return property(lambda self: int(self.get(key, "0"), base),
                    doc="%s as an int (0 where the kernel does not print it)" % key)


class Fdinfo(dict):
    """/proc/self/fdinfo/<fd> of a bpf object: the lines as the kernel
    prints them (a dict of str -> str), and the fields the loader reads as
    ints (a field this kind of object does not print reads 0). Flags and
    map_extra are hex."""

    map_id = _fdinfo_field("map_id")
    map_type = _fdinfo_field("map_type")
    key_size = _fdinfo_field("key_size")
    value_size = _fdinfo_field("value_size")
    max_entries = _fdinfo_field("max_entries")
    map_flags = _fdinfo_field("map_flags", 16)
    map_extra = _fdinfo_field("map_extra", 16)
    prog_id = _fdinfo_field("prog_id")
    prog_type = _fdinfo_field("prog_type")
    memlock = _fdinfo_field("memlock")

    @property
    def prog_tag(self):
        return self.get("prog_tag", "")

    @property
    def kind(self):
        """'link', 'map' or 'prog' (None: not a bpf object). A link's
        fdinfo names its program too, so links are told apart first."""
        for kind, key in (("link", "link_id"), ("map", "map_type"), ("prog", "prog_type")):
            if key in self:
                return kind
        return None


def fdinfo(fd):
    """/proc/self/fdinfo/<fd> as an Fdinfo (memlock, map_id, prog_tag, ...)."""
    out = Fdinfo()
    with open("/proc/self/fdinfo/%d" % fd) as f:
        for line in f:
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
    return out
