# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the kernel tests: running programs, reading maps back,
bpftool as a witness, and checking that a failed load left nothing in
the kernel or in bpffs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object

# A zeroed 64-byte Ethernet frame: enough for XDP and socket filters.
PKT = bytes(64)

XDP_ABORTED, XDP_DROP, XDP_PASS = 0, 1, 2

# The objects of tests/bpf that load on their own (or fail to, as bad_verifier and no_license should).
TEST_OBJECTS = ["bad_verifier", "globals", "kconfig", "legacy", "mapinmap", "maps", "no_license", "subprog",
                "tailcall", "unknown_section"]


def u32(n):
    return struct.pack("=I", n)


def u64(n):
    return struct.pack("=Q", n)


def as_u32(raw, offset=0):
    return struct.unpack_from("=I", raw, offset)[0]


def as_u64(raw, offset=0):
    return struct.unpack_from("=Q", raw, offset)[0]


def run(prog, data=PKT):
    """Run a LoadedProgram once through BPF_PROG_TEST_RUN; its return value."""
    return syscalls.prog_test_run(prog.fd, data)[0]


def lookup(m, key):
    """The value at ``key`` of a LoadedMap (bytes), or None."""
    return syscalls.map_lookup(m.fd, key, m.value_size)


def value0(m):
    """The single value of a data map (.data, .bss, .rodata, .kconfig)."""
    raw = lookup(m, u32(0))
    assert raw is not None, "map '%s' has no element 0" % m.name
    return raw


def possible_cpus():
    """CPUs in /sys/devices/system/cpu/possible ("0-3,8-11"), counted apart
    from kernel/host.py so that tests of per-CPU strides have a witness."""
    with open("/sys/devices/system/cpu/possible") as f:
        ranges = re.findall(r"(\d+)(?:-(\d+))?", f.read())
    return sum(int(hi or lo) - int(lo) + 1 for lo, hi in ranges)


def percpu_values(m, key):
    """The per-CPU values at ``key``: the kernel returns value_size rounded
    up to 8 bytes for each possible CPU."""
    slot = (m.value_size + 7) // 8 * 8
    ncpu = possible_cpus()
    raw = syscalls.map_lookup(m.fd, key, slot * ncpu)
    if raw is None:
        return None
    return [raw[i * slot:i * slot + m.value_size] for i in range(ncpu)]


def map_peek(fd, value_size):
    """BPF_MAP_LOOKUP_ELEM with a NULL key (peek on a queue or stack):
    syscalls.map_lookup always passes a key pointer, which these maps
    refuse with EINVAL."""
    vbuf = ctypes.create_string_buffer(value_size)
    attr = ctypes.create_string_buffer(syscalls.MAP_ELEM_ATTR.size)
    syscalls.MAP_ELEM_ATTR.pack_into(attr, 0, fd, 0, ctypes.addressof(vbuf), 0)
    try:
        syscalls.bpf(uapi.BPF_MAP_LOOKUP_ELEM, attr, "peek")
    except SyscallError as e:
        if e.errno == errno.ENOENT:  # empty
            return None
        raise
    return vbuf.raw


def kernel_name(name):
    """The name the loader gives an object in the kernel: [A-Za-z0-9_.], 15 chars."""
    return "".join(c if (c.isalnum() and c.isascii()) or c in "_." else "_" for c in name)[:15]


# ---------------------------------------------------------------- bpftool

def bpftool(*args):
    """``bpftool -j ARGS`` as parsed JSON; skips when bpftool is missing."""
    exe = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)
    if exe is None:
        pytest.skip("bpftool is not installed (apt-get install bpftool)")
    proc = subprocess.run([exe, "-j"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, "bpftool %s failed: %s%s" % (" ".join(args), proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def bpftool_type_is(reported, name, number):
    """bpftool names the types it knows and prints the number of the
    others (an older bpftool on a newer kernel)."""
    return reported in (name, number, str(number))


# ---------------------------------------------------------------- leak checks

def held_objects():
    """{(kind, id)} of the bpf objects this process holds an fd to."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/%s" % fd)
            if not target.startswith(("anon_inode:bpf", "anon_inode:btf")):
                continue
            info = syscalls.fdinfo(int(fd))
        except (OSError, ValueError):
            continue  # closed meanwhile (e.g. the listdir fd itself)
        for key, kind in (("map_id", "map"), ("prog_id", "prog"), ("btf_id", "btf"), ("link_id", "link")):
            if key in info:
                out.add((kind, int(info[key])))
                break
        else:
            out.add(("fd", target + ":" + fd))
    return out


def live_objects():
    """{(kind, id): name} of every map and program in the kernel."""
    out = {}
    for kind in ("map", "prog"):
        cur = 0
        while True:
            cur = syscalls.next_id(kind, cur)
            if cur is None:
                break
            try:
                fd = syscalls.get_fd_by_id(kind, cur)
            except SyscallError:
                continue  # freed meanwhile
            try:
                info = syscalls.map_info(fd) if kind == "map" else syscalls.prog_info(fd)
            finally:
                os.close(fd)
            out[(kind, cur)] = info.name
    return out


class Snapshot:
    """What exists before a load: kernel ids (with names) and our fds."""

    def __init__(self):
        self.objects = live_objects()
        self.held = held_objects()


def object_names(path):
    """Kernel names of the maps and programs of the object at ``path``
    (empty when it cannot be read: then nothing can have been created)."""
    try:
        spec = read_object(path)
    except LoaderError:
        return set()
    return set(kernel_name(n) for n in list(spec.maps) + list(spec.programs))


def new_objects(before, names):
    """{(kind, id): name} of the maps and programs named in ``names`` that
    appeared in the kernel since ``before`` (a Snapshot)."""
    names = set(names)
    return dict((k, v) for k, v in live_objects().items() if k not in before.objects and v in names)


def assert_nothing_left(before, names, grace=0.5):
    """Nothing created since ``before`` (a Snapshot) is left to us: this
    process holds no new bpf fd (map, program, BTF), so no new map or
    program named in ``names`` can stay alive through us.

    The id lists (BPF_*_GET_NEXT_ID) cannot be the judge on their own:
    other processes may create objects with the same names, and the
    kernel frees a program's maps lazily after the program goes (on 6.18
    a prog array whose program used it for a direct tail call has been
    seen to keep its id for over a minute after its last fd and program
    were gone). So new ids with our names are waited for briefly, and what
    remains must not be held by this process; a leak with no fd and no
    pin (pins are checked with assert_pin_dir_empty) cannot last.
    """
    held_new = held_objects() - before.held
    new = new_objects(before, names)
    deadline = time.monotonic() + grace
    while new and not held_new and time.monotonic() < deadline:
        time.sleep(0.02)
        new = new_objects(before, names)
    assert not held_new, "this process still holds new bpf objects %s (new objects with our names: %s)" % (
        sorted(held_new), new)
    ours = dict((k, v) for k, v in new.items() if k in held_objects())
    assert not ours, "objects left in the kernel: %s" % ours


def assert_maps_pinned(pin_dir, maps):
    """Each of ``maps`` ({name: loaded map}) is the map pin_dir/maps/<name> opens (the same id)."""
    for name, m in maps.items():
        fd = syscalls.obj_get(os.path.join(pin_dir, "maps", name))
        try:
            assert syscalls.map_info(fd).id == m.id, "maps/%s" % name
        finally:
            os.close(fd)


def assert_pin_dir_empty(pin_dir):
    """Nothing pinned: the directory is absent, or holds nothing but empty directories."""
    if not os.path.exists(pin_dir):
        return
    pins = []
    for top, _dirs, files in os.walk(pin_dir):
        pins.extend(os.path.join(top, f) for f in files)
    assert not pins, "pins left behind: %s" % pins
    assert not os.listdir(pin_dir), "directories left behind in %s: %s" % (pin_dir, os.listdir(pin_dir))


def links_running(pin_root, collection):
    """Which program each pinned link of a collection's live version runs:
    {link name: (program name, program tag)}, the name looked up in the
    live version's record by the id the kernel reports for the link; a link
    running a program outside the live version shows as ('id <n>', tag)."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record

    live = os.path.join(pin_root, collection)
    by_id = {}
    for name, entry in (read_record(os.path.join(live, "state")) or {}).get("programs", {}).items():
        by_id[entry["id"]] = name
    out = {}
    links = os.path.join(live, "links")
    for name in sorted(os.listdir(links)) if os.path.isdir(links) else []:
        fd = syscalls.obj_get(os.path.join(links, name))
        try:
            info = syscalls.fdinfo(fd)
            if "map_type" in info:
                continue  # a netlink attachment's record, not a link
            prog_id = syscalls.link_info(fd).prog_id
        finally:
            os.close(fd)
        pfd = syscalls.get_fd_by_id("prog", prog_id)
        try:
            tag = syscalls.fdinfo(pfd).get("prog_tag", "")
        finally:
            os.close(pfd)
        out[name] = (by_id.get(prog_id, "id %d" % prog_id), tag)
    return out


# ---------------------------------------------------------------- kill -9

# A child that runs one converge() and SIGKILLs itself on the Nth call of a
# function: a fault at an exact step, with no test hook in the loader.
_KILLED_CHILD = r"""
import os, signal, sys, json
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
target, nth, args = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
seen = [0]
def hook(frame, event, arg):
    if event == "call" and frame.f_code.co_name == target:
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
sys.setprofile(hook)
converge(Desired(**args))
sys.setprofile(None)
print("finished")
"""


def converge_killed(target, nth, args):
    """Run converge(Desired(**args)) in a child killed with SIGKILL at the
    ``nth`` call of function ``target``; asserts it was."""
    proc = subprocess.run([sys.executable, "-c", _KILLED_CHILD, target, str(nth), json.dumps(args)],
                          env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr[-2000:])
