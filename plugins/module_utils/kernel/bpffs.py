# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a collection lives in bpffs, and the moves that replace it.

A collection ``name`` under ``pin_root`` owns ``pin_root/name`` (the live
version), ``pin_root/name__staging`` (a version being built, or the old
one right after a swap) and ``pin_root/name__kept`` (the previous version,
loaded but unattached, that a rollback makes live again). Names are checked so that nothing can escape
pin_root: no path separators, no '..', no dots at all (bpffs refuses them),
and no symlinks on the way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import os
import re
import stat

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import host, syscalls

BPF_FS_MAGIC = 0xcafe4a11
STAGING_SUFFIX = "__staging"
KEPT_SUFFIX = "__kept"
# pin_root/shared holds the maps collections share (pinned by name): no
# collection may be called so.
SHARED_DIR = "shared"
# Inside a version: maps/<map>, progs/<program>, links/<link>, state.
MAPS_DIR = "maps"
PROGS_DIR = "progs"
LINKS_DIR = "links"
# What each link was asked for (a record map per link, same name): links
# whose kernel type cannot be re-pointed (perf events, raw and BTF
# tracepoints) are made again from it when the collection is replaced.
LINK_REQUESTS_DIR = "link_requests"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

# renameat2(2) numbers; RENAME_EXCHANGE swaps two directories atomically.
_NR_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "arm64": 276, "riscv64": 276, "loongarch64": 276,
                 "s390x": 347, "ppc64le": 357, "ppc64": 357, "i386": 353, "i686": 353, "armv7l": 382}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def pin_name(name):
    """The file name an object called ``name`` gets in bpffs, which refuses
    '.' in names (libbpf makes the same substitution)."""
    return name.replace(".", "_")


def check_name(what, name):
    """Raise LoaderError unless ``name`` is a safe single bpffs path component."""
    if (not isinstance(name, str) or not _NAME.match(name) or name.endswith(STAGING_SUFFIX)
            or name.endswith(KEPT_SUFFIX)):
        raise LoaderError("%s %r: use 1-200 letters, digits, '_' or '-' (no '/', '.', or '%s' or '%s' suffix)" % (
            what, name, STAGING_SUFFIX, KEPT_SUFFIX))
    return name


def check_collection_name(name):
    """check_name() for a collection, which may not take the name of the
    shared maps' directory either."""
    check_name("collection name", name)
    if name == SHARED_DIR:
        raise LoaderError("collection name %r: reserved (pin_root/%s holds the maps collections share)" % (
            name, SHARED_DIR))
    return name


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 120)]


def is_bpffs(path):
    """True if ``path`` is on a bpf filesystem."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = _Statfs()
    if libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return False
    return (buf.f_type & 0xffffffff) == BPF_FS_MAGIC


class CollectionPins:
    """Paths of one collection; ``check()`` validates the pin root."""

    def __init__(self, pin_root, name):
        self.pin_root = pin_root
        self.name = check_collection_name(name)
        self.live = os.path.join(pin_root, name)
        self.staging = self.live + STAGING_SUFFIX
        self.kept = self.live + KEPT_SUFFIX

    def check(self):
        """Raise LoaderError if pin_root is not a real directory on bpffs
        (missing bpffs, a symlink, a dot in a component, not absolute)."""
        check_privileges()
        root = self.pin_root
        if not os.path.isabs(root):
            raise LoaderError("pin_root '%s' is not an absolute path" % root)
        for part in root.split(os.sep):
            if part in (".", ".."):
                raise LoaderError("pin_root '%s' contains '%s'" % (root, part))
            if "." in part:
                raise LoaderError("pin_root '%s': component '%s' contains '.', which bpffs refuses" % (root, part),
                                  hint="use '_' instead of '.'")
        probe = root
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not is_bpffs(probe):
            raise LoaderError("pin_root '%s' is not on a bpf filesystem (%s is not bpffs)" % (root, probe),
                              hint="mount it: mount -t bpf bpf /sys/fs/bpf (the ebpf.deploy.bpf_host role "
                                   "does this and keeps it across reboots)")
        path = root
        while path and path != os.sep:
            if os.path.islink(path):
                raise LoaderError("pin_root '%s': '%s' is a symlink; refusing to follow it" % (root, path))
            path = os.path.dirname(path)
        for path in (self.live, self.staging, self.kept):
            if os.path.islink(path):
                raise LoaderError("'%s' is a symlink; refusing to follow it" % path)


def make_dirs(directory, created=None):
    """Create ``directory`` and its missing parents (0700); returns the
    directories created, outermost first (appended to ``created`` as they
    are made, so a caller can clean up after a failure half-way). Raises
    LoaderError saying why."""
    missing = []
    path = directory
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    created = [] if created is None else created
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError as e:
            # Another collection's run made it just now (the lock is per
            # collection); fine when it is a directory, not a symlink.
            if os.path.isdir(path) and not os.path.islink(path):
                continue
            raise LoaderError("cannot create pin directory '%s': something else is there" % path) from e
        except OSError as e:
            raise LoaderError("cannot create pin directory '%s': %s" % (path, e.strerror or e),
                              hint=_write_hint(e.errno)) from e
        created.append(path)
    return created


def exchange(a, b):
    """Atomically swap directories ``a`` and ``b`` (renameat2 with
    RENAME_EXCHANGE); where the kernel lacks it, two renames through a
    third name (a crash in between leaves both versions, which the next
    run sorts out)."""
    nr = _NR_RENAMEAT2.get(os.uname().machine)
    if nr is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        ret = libc.syscall(nr, _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if ret == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise SyscallError("swap '%s' and '%s'" % (a, b), err)
    middle = a + "__swap"
    os.rename(a, middle)
    os.rename(b, a)
    os.rename(middle, b)


def remove_tree(path):
    """Unlink every pin below ``path`` and remove its directories; never
    follows symlinks. Missing paths are fine."""
    try:
        st = os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    for entry in os.listdir(path):
        remove_tree(os.path.join(path, entry))
    os.rmdir(path)


def check_privileges():
    """Raise LoaderError unless this process may use bpf() for loading:
    root's capabilities, or CAP_BPF (5.8+) or CAP_SYS_ADMIN in its
    effective set. Checked first so that a non-root run says so instead of
    failing later on some EPERM."""
    if host.may_use_bpf() is not False:
        return  # allowed, or no procfs: let bpf() itself answer
    raise LoaderError("loading eBPF needs root (or CAP_BPF or CAP_SYS_ADMIN); this runs as uid %d without them"
                      % os.geteuid(), hint="run the task with become: true")


def _write_hint(err):
    if err == errno.ENOENT:
        return "is bpffs mounted? mount -t bpf bpf /sys/fs/bpf"
    if err == errno.EROFS:
        return "the bpf filesystem is mounted read-only: mount -o remount,rw it (e.g. /sys/fs/bpf)"
    if err in (errno.EACCES, errno.EPERM):
        return "not allowed to write there: run as root (become: true)"
    return None


def list_dir(directory):
    """The names in ``directory``, sorted; none when it cannot be read."""
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def planted_symlinks(version):
    """Symlinks in a collection's version directory (its subdirectories and
    pins, not below a symlinked directory): ebpf.deploy makes none."""
    found = []
    for path in [version] + [os.path.join(version, d) for d in (MAPS_DIR, PROGS_DIR, LINKS_DIR,
                                                                LINK_REQUESTS_DIR)]:
        if os.path.islink(path):
            found.append(path)
            continue
        found.extend(os.path.join(path, n) for n in list_dir(path) if os.path.islink(os.path.join(path, n)))
    return found


def open_pinned(directory, kind):
    """{pin name: {fd, path, id, memlock, type, ...}} of the maps ('map'),
    programs ('prog') or links ('link': links, and the record maps of
    netlink attachments) pinned in ``directory``; the caller closes the
    fds. Symlinks (and a symlinked ``directory``) are not followed."""
    out = {}
    if os.path.islink(directory):
        return out
    for name in list_dir(directory):
        path = os.path.join(directory, name)
        try:
            fd = syscalls.obj_get(path)
        except SyscallError:
            continue
        info = syscalls.fdinfo(fd)
        key = {"map": "map_id", "prog": "prog_id"}.get(kind) or ("link_id" if "link_id" in info else "map_id")
        if key not in info:
            os.close(fd)
            continue
        entry = {"fd": fd, "path": path, "id": int(info[key]), "memlock": info.memlock, "fdinfo": info}
        if kind == "map":
            entry.update(type=info.map_type, key_size=info.key_size, value_size=info.value_size,
                         max_entries=info.max_entries, flags=info.map_flags)
        elif kind == "prog":
            entry.update(type=info.prog_type, tag=info.prog_tag)
        out[name] = entry
    return out
