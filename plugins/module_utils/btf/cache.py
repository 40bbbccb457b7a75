# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-run cache of kernel BTF indexes (``btf_cache: run``).

Parsing vmlinux BTF costs two passes: the first records where each of
~127k type records starts, the second builds a name index (~80 ms and
~15 MB together). The first task of a playbook run on a host writes both
to a compact index file (btf/index_format.py); later tasks of the same
run map that file and build their ``BTF`` over it with
``BTF.from_index``, so neither pass runs again. The BTF itself is still
read from its source (the sysfs file or ``btf_path``), because the index
is keyed by the identity of those very bytes: the SHA-256 of the blob,
computed once per process (about 4 ms for 5.5 MB). A copy of the BTF in
the cache file would not spare that hash and would keep another 5.5 MB
per run in /run, which is RAM.

Files live in the run's private directory (btf/run_dir.py): created by
the run's first load, which removes other runs' directories, and removed
at the run's end by ``run_dir.remove_run``. A file that is truncated,
damaged, of another format version, built from other BTF or not private
to us is never trusted: it is replaced (status 'rebuilt'). When the
directory cannot be used at all (read-only, full, not ours) the load goes
on without cache (status 'bypassed') and says why in ``warnings``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import mmap
import os
import re

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.index_format import (
    InvalidIndex, btf_identity, build_index, check_file_size, open_index)
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF, map_file
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.run_dir import (
    NotPrivate, RunDir, Unusable, open_private, read_all, unlink_quietly, write_atomic)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, LoaderError

MODES = ("run", "none")
INDEX_SUFFIX = ".btfidx"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def make_cache(mode, run_id=None, directory=None):
    """The cache for ``btf_cache: <mode>``: None for 'none' (parse, use,
    discard), a BTFCache for 'run'. Raises LoaderError for another mode or
    a missing or malformed run id."""
    if mode == "none":
        return None
    if mode != "run":
        raise LoaderError("btf_cache '%s': unknown mode, want one of %s" % (mode, ", ".join(MODES)))
    if not run_id:
        raise LoaderError("btf_cache 'run': no run id; every task of a playbook run must pass the same one")
    return BTFCache(directory, run_id)


class BTFCache:
    """The per-run cache of kernel BTF indexes in ``directory/run_id``.

    ``BTFCache(directory, run_id)``: the run's directory is
    ``run_dir.RunDir(directory, run_id)`` (``directory`` None means
    run_dir.DEFAULT_DIRECTORY; a malformed ``run_id`` raises LoaderError).
    Nothing touches the disk before ``load``. For ``btf_cache: none`` use
    no cache at all (None; see ``make_cache``).

    After each ``load``: ``status`` ('hit', 'built', 'rebuilt' or
    'bypassed'), ``size`` (bytes of the index file, 0 when bypassed),
    ``path`` (of the index file), ``identity`` (hex SHA-256 of the BTF),
    ``reason`` (why the file was rebuilt or the cache bypassed, else
    None). ``warnings`` (the run directory's) collects one line per
    degraded load or failed purge, for the module's ``warnings``.

    One instance serves one process; several processes may share a
    directory concurrently.
    """

    def __init__(self, directory, run_id):
        self.run_dir = RunDir(directory, run_id)
        self.directory = self.run_dir.directory
        self.run_id = run_id
        self.run_directory = self.run_dir.path
        self.status = None
        self.size = 0
        self.path = None
        self.identity = None
        self.reason = None
        self.warnings = self.run_dir.warnings
        self._identities = {}

    def __repr__(self):
        return "<BTFCache %s status=%s>" % (self.run_directory, self.status)

    def index_path(self, source_path, name):
        """Where ``load(source_path, name)`` keeps its index: one file per
        name and source path in the run's directory."""
        digest = hashlib.sha256(os.path.abspath(source_path).encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.run_directory, "%s.%s%s" % (_SAFE_NAME.sub("_", name)[:64], digest[:12],
                                                             INDEX_SUFFIX))

    def load(self, source_path, name, data=None):
        """BTF of ``source_path`` (``data``: its BTF blob when already
        mapped, e.g. the .BTF section of an ELF file), named ``name``.

        Hit: the index file is mapped and checked, the BTF is built over it
        (no pass over the types). Miss: the BTF is parsed, its index built
        and written atomically. Raises BTFError only for BTF that cannot be
        read or parsed; cache trouble degrades to 'bypassed'.
        Cost: hit about 5 ms (mostly the SHA-256); miss a fresh parse plus
        the name index plus the write (about 150 ms for vmlinux).
        """
        self.status = None
        self.size = 0
        self.reason = None
        if data is None:
            data = map_file(source_path, name)
        identity = self._identity(source_path, data)
        self.identity = identity
        self.path = self.index_path(source_path, name)
        file_name = os.path.basename(self.path)
        try:
            dir_fd = self.run_dir.open()
        except Unusable as exc:
            return self._bypass(data, name, str(exc))
        try:
            try:
                btf = self._read(dir_fd, file_name, data, identity, name)
                if btf is not None:
                    self.status = "hit"
                    return btf
            except (InvalidIndex, NotPrivate) as exc:
                self.reason = "%s: %s" % (self.path, exc)
            fresh = BTF(data, name=name)
            try:
                blob = build_index(fresh, identity, len(data))
            except BTFError as exc:
                self._discard(dir_fd, file_name)
                return self._bypass(fresh, name, "cannot index %s: %s" % (source_path, exc))
            try:
                write_atomic(dir_fd, file_name, blob)
            except OSError as exc:
                self._discard(dir_fd, file_name)
                return self._bypass(fresh, name, "cannot write %s: %s" % (self.path, exc.strerror or exc))
            self.status = "rebuilt" if self.reason else "built"
            self.size = len(blob)
            return fresh
        finally:
            os.close(dir_fd)

    def _identity(self, source_path, data):
        try:
            st = os.stat(source_path)
            key = (source_path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, len(data))
        except OSError:
            key = None
        if key is not None and key in self._identities:
            return self._identities[key]
        identity = btf_identity(data)
        if key is not None:
            self._identities[key] = identity
        return identity

    def _bypass(self, data_or_btf, name, reason):
        self.status = "bypassed"
        self.size = 0
        self.reason = reason
        self.warnings.append("BTF cache not used (kernel BTF parsed for this task only): %s" % reason)
        if isinstance(data_or_btf, BTF):
            return data_or_btf
        return BTF(data_or_btf, name=name)

    def _read(self, dir_fd, file_name, data, identity, name):
        """BTF over a valid index file, None when there is none; raises
        InvalidIndex or NotPrivate for a file that must be replaced."""
        fd = open_private(dir_fd, file_name)
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size
            check_file_size(size)
            try:
                buf = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                buf = read_all(fd, size)
        finally:
            os.close(fd)
        btf = open_index(buf, data, identity, name)
        self.size = len(buf)
        return btf

    def _discard(self, dir_fd, file_name):
        # A file that failed validation and could not be replaced must not
        # stay behind for the next task.
        if self.reason is not None:
            unlink_quietly(dir_fd, file_name)
