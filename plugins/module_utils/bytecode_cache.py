# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host-side cache of this collection's compiled module_utils, for tasks
run through AnsiballZ.

AnsiballZ runs a module from a zip (zipimport), and zipimport never keeps
the bytecode it compiles, so every task on every host compiled the
thousands of lines of module_utils it imports again (38 ms for a no-op,
over 100 ms for a CO-RE load, on a 2-CPU host). Importing this module
(each module does so first, before the rest of module_utils) adds an
import hook for this package's modules that come from a zip: their code is
kept in ``DIRECTORY``, one file per module and source digest, and loaded
from there by later tasks.

What is trusted, and when nothing is:

- Only root's tasks use it (effective uid 0): the directory and every file
  must be owned by root and reachable by nobody else (0700/0600), and are
  opened without following symlinks; anything else is ignored, and the
  module is compiled as if there were no cache.
- A file is used only when its header carries the exact version of the
  interpreter and the SHA-256 of the very source being imported: a new version of
  the collection, or another Python, never runs old code.
- Any failure (read-only /run, a full disk, a corrupt file) falls back to
  compiling, silently: the cache can make a task faster, never fail it.
- ``EBPF_DEPLOY_BYTECODE_CACHE=off`` in the module's environment turns it
  off (the benchmarks use it to measure what it saves).

Files are written atomically (a private temporary file, then rename), and
a module's files of older digests are removed when a new one is written, so
the directory holds about one file per module and interpreter. It lives in
/run (tmpfs on systemd hosts): a reboot empties it.

Imports outside a zip (tests, a checkout on sys.path) are left to Python's
own bytecode cache. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import marshal
import os
import stat
import struct
import sys
import zipimport

DIRECTORY = "/run/ebpf_deploy/bytecode"
PACKAGE = __name__.rsplit(".", 1)[0]
SWITCH = "EBPF_DEPLOY_BYTECODE_CACHE"

_HEADER = b"ebpf.deploy bytecode\n"
# The interpreter that wrote a file (its exact version: bytecode is only
# ever valid for the interpreter that compiled it).
_INTERPRETER = struct.pack("=I", sys.hexversion)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class CachedLoader:
    """Loads one module of PACKAGE from a zip through the cache: the
    zipimporter ``inner`` gives the source, the cache the code."""

    def __init__(self, inner, directory):
        self.inner = inner
        self.directory = directory

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        name = module.__spec__.name
        source = self.inner.get_source(name).encode("utf-8")
        exec(code_for(name, source, self.directory), module.__dict__)  # pylint: disable=exec-used

    def get_source(self, name):
        return self.inner.get_source(name)

    def is_package(self, name):
        return self.inner.is_package(name)


class CacheFinder:
    """The meta path hook: PACKAGE's modules found in a zip get a
    CachedLoader; everything else is left to the finders after it."""

    def __init__(self, directory, path_finder):
        self.directory = directory
        self.path_finder = path_finder

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(PACKAGE + "."):
            return None
        spec = self.path_finder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, zipimport.zipimporter):
            return None
        spec.loader = CachedLoader(spec.loader, self.directory)
        return spec

    def invalidate_caches(self):
        pass


def code_for(name, source, directory):
    """The code object of module ``name`` with ``source`` (bytes): from
    the cache when a trusted file of this digest is there, else compiled
    (and kept for the next task when ``directory`` can be used)."""
    digest = hashlib.sha256(source).digest()
    file_name = "%s.%s.%s" % (name[len(PACKAGE) + 1:], sys.implementation.cache_tag, digest.hex()[:32])
    header = _HEADER + _INTERPRETER + digest
    data = _read_trusted(directory, file_name)
    if data is not None and data.startswith(header):
        try:
            return marshal.loads(data[len(header):])
        except (EOFError, ValueError, TypeError):
            pass
    # The file name inside the package, not the zip's temporary path:
    # the same code, wherever a later task's zip is.
    code = compile(source, name.replace(".", "/") + ".py", "exec", dont_inherit=True)
    _write_quietly(directory, file_name, header + marshal.dumps(code))
    return code


def _private_dir_fd(directory, create):
    """fd of ``directory`` when it is a real directory owned by us that
    nobody else may write or read (created 0700 when ``create``), else None."""
    parent = os.path.dirname(directory)
    for path in (parent, directory):
        if create:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    st = os.fstat(fd)
    parent_st = os.lstat(parent)
    if (st.st_uid != os.geteuid() or st.st_mode & 0o077 or not stat.S_ISDIR(parent_st.st_mode)
            or parent_st.st_uid != os.geteuid() or parent_st.st_mode & 0o022):
        os.close(fd)
        return None
    return fd


def _read_trusted(directory, file_name):
    try:
        dir_fd = _private_dir_fd(directory, create=False)
    except OSError:
        return None
    if dir_fd is None:
        return None
    try:
        fd = os.open(file_name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_quietly(directory, file_name, data):
    try:
        dir_fd = _private_dir_fd(directory, create=True)
    except OSError:
        return
    if dir_fd is None:
        return
    tmp = ".%s.%d" % (file_name, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
        finally:
            os.close(fd)
        os.rename(tmp, file_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        stale = file_name.rsplit(".", 1)[0] + "."
        for entry in os.listdir(dir_fd):
            if entry.startswith(stale) and entry != file_name:
                os.unlink(entry, dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        os.close(dir_fd)


def install(directory=DIRECTORY):
    """Put the hook on ``sys.meta_path`` (once per process), for
    root, unless SWITCH is "off". Returns the hook, or None."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "false", "no"):
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    for hook in sys.meta_path:
        if isinstance(hook, CacheFinder):
            return hook
    # Just before the path finder (the one in sys.meta_path: no import
    # machinery is imported for it), which would find the zip's modules
    # itself; the finders before it (built-in, frozen, a test harness's)
    # keep their places.
    at = next((i for i, finder in enumerate(sys.meta_path) if getattr(finder, "__name__", "") == "PathFinder"),
              None)
    if at is None:
        return None
    hook = CacheFinder(directory, sys.meta_path[at])
    sys.meta_path.insert(at, hook)
    return hook


install()
