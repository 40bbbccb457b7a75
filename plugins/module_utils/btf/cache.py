# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-run cache of kernel BTF indexes (``btf_cache: run``).

Parsing vmlinux BTF costs two passes: the first records where each of
~127k type records starts, the second builds a name index (~80 ms and
~15 MB together). The first task of a playbook run on a host writes both
to a compact index file; later tasks of the same run map that file and
build their ``BTF`` over it with ``BTF.from_index``, so neither pass runs
again. The BTF itself is still read from its source (the sysfs file or
``btf_path``), because the index is keyed by the identity of those very
bytes: the SHA-256 of the blob, computed once per process (about 4 ms for
5.5 MB). A copy of the BTF in the cache file would not spare that hash and
would keep another 5.5 MB per run in /run, which is RAM.

Files live in ``<directory>/<run_id>/``; the run that creates its
directory first removes the directories of other runs, and
``BTFCache.remove_run`` removes a run's directory at its end. Directories
are 0700 and files 0600, owned by the effective user; nothing is opened
through a symlink. Writers are atomic (a private temporary file in the
same directory, fsync, rename), so concurrent builders and readers only
ever see complete files. A file that is truncated, damaged, of another
format version or built from other BTF is never trusted: it is replaced
(status 'rebuilt'). When the directory cannot be used at all (read-only,
full, not ours) the load goes on without cache (status 'bypassed') and
says why in ``warnings``.

Index file format, version 1 (native byte order and alignment; the file
never leaves the host that wrote it)::

    header, 128 bytes
      0  magic        8s   b"EBPFBTFI"
      8  version      u32  1
     12  endian       u32  0x01020304 as written (another order: foreign)
     16  header_size  u32  128
     20  flags        u32  0
     24  source_size  u64  length of the BTF blob the index was built from
     32  identity     32s  SHA-256 of that blob
     64  type_count   u32  entries in the offsets table
     68  name_count   u32  entries in the name table
     72  flavor_count u32  entries in the flavour table
     76  reserved     u32  0
     80  checksum     u32  CRC-32 of the file with these 4 bytes left out
     84  zero padding up to 128
    payload
      offsets    u32[type_count]   record offset of each own type, by id
      (zero padding to a multiple of 8)
      names      u64[name_count]   (crc32(utf-8 name) << 32 | type id),
                                   ascending, one entry per named type
      flavors    u64[flavor_count] (crc32(essential name) << 32 | type id),
                                   ascending, one per flavoured type
                                   ('x___v2' has essential name 'x')

A lookup hashes the name, bisects the memoryview of the mapped table for
the hash's range and keeps the candidates whose name in the BTF really is
the one asked for (CRC-32 collides among 70k names about once), so it
returns exactly what a fresh parse returns, in the same (id) order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import mmap
import os
import re
import stat
import struct
import zlib
from array import array
from bisect import bisect_left

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, LoaderError

DEFAULT_DIRECTORY = "/run/ebpf_deploy/btf-cache"
MODES = ("run", "none")

FORMAT_VERSION = 1
INDEX_MAGIC = b"EBPFBTFI"
INDEX_SUFFIX = ".btfidx"
_ENDIAN_TAG = 0x01020304
HEADER_SIZE = 128

# magic, version, endian, header_size, flags, source_size, identity,
# type_count, name_count, flavor_count, reserved, checksum
INDEX_HEADER = struct.Struct("=8sIIIIQ32sIIIII")
_CHECKSUM_OFF = 80
_CHECKSUM_END = 84
_VERSION_OFF = 8

# No kernel BTF index comes near this; a larger file is damaged.
MAX_INDEX_SIZE = 1 << 28

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC


def btf_identity(data):
    """The identity of a BTF blob: the hex SHA-256 of its bytes. Cost:
    one pass over the data (about 4 ms for vmlinux's 5.5 MB here)."""
    return hashlib.sha256(data).hexdigest()


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


class _Unusable(Exception):
    """The cache directory cannot be used; the load goes on without it."""


class _Invalid(Exception):
    """The index file at hand must not be trusted."""


class _HashIndex:
    """Candidate ids for a name from a sorted u64 table of
    (crc32(name) << 32 | id), searched in place (a memoryview over the
    mapped file: no per-entry Python objects)."""

    __slots__ = ("_keys",)

    def __init__(self, keys):
        self._keys = keys

    def __call__(self, name):
        try:
            key = zlib.crc32(name.encode("utf-8")) << 32
        except UnicodeEncodeError:
            return ()
        keys = self._keys
        lo = bisect_left(keys, key)
        hi = bisect_left(keys, key + (1 << 32), lo)
        return [keys[i] & 0xffffffff for i in range(lo, hi)]


def _hash_table(items):
    # items: (name, id or ascending tuple of ids); -> sorted array('Q').
    crc = zlib.crc32
    keys = []
    append = keys.append
    for name, ids in items:
        h = crc(name.encode("utf-8")) << 32
        if ids.__class__ is int:
            append(h | ids)
        else:
            for type_id in ids:
                append(h | type_id)
    keys.sort()
    return array("Q", keys)


def build_index(btf, identity, source_size):
    """The index file's bytes for ``btf`` (a fresh parse, no base) whose
    blob of ``source_size`` bytes has the hex SHA-256 ``identity``. Builds
    the name index if not built yet; raises BTFError as ``ids_by_name``
    would. Cost: about 40 ms for vmlinux after the name index."""
    offsets, names, flavored = btf._index_parts()
    offsets = array("I", offsets)
    name_keys = _hash_table(names.items())
    flavor_keys = _hash_table(flavored.items())
    body = offsets.tobytes()
    body += b"\0" * (-len(body) % 8) + name_keys.tobytes() + flavor_keys.tobytes()
    header = bytearray(INDEX_HEADER.pack(
        INDEX_MAGIC, FORMAT_VERSION, _ENDIAN_TAG, HEADER_SIZE, 0, source_size,
        bytes(bytearray.fromhex(identity)), len(offsets), len(name_keys), len(flavor_keys), 0, 0))
    header += b"\0" * (HEADER_SIZE - len(header))
    checksum = zlib.crc32(bytes(header[:_CHECKSUM_OFF]))
    checksum = zlib.crc32(body, zlib.crc32(bytes(header[_CHECKSUM_END:]), checksum))
    struct.pack_into("=I", header, _CHECKSUM_OFF, checksum)
    return bytes(header) + body


def _payload_layout(type_count, name_count, flavor_count):
    # (offsets_end, names_start, names_end, flavors_end)
    offsets_end = HEADER_SIZE + 4 * type_count
    names_start = offsets_end + (-offsets_end % 8)
    names_end = names_start + 8 * name_count
    return offsets_end, names_start, names_end, names_end + 8 * flavor_count


def open_index(buf, data, identity, name):
    """``BTF.from_index`` over ``data`` (the BTF blob, hex SHA-256
    ``identity``) with the index in ``buf`` (an mmap or bytes of a whole
    index file). Raises _Invalid with the reason when the index is
    truncated, damaged, of another format or byte order, or built from
    other BTF."""
    size = len(buf)
    if size < HEADER_SIZE:
        raise _Invalid("truncated: %d bytes, the header alone needs %d" % (size, HEADER_SIZE))
    (magic, version, endian, header_size, flags, source_size, ident, type_count, name_count,
     flavor_count, _reserved, checksum) = INDEX_HEADER.unpack_from(buf, 0)
    if magic != INDEX_MAGIC:
        raise _Invalid("not a BTF index (magic %r)" % magic)
    if endian != _ENDIAN_TAG:
        raise _Invalid("written in another byte order")
    if version != FORMAT_VERSION:
        raise _Invalid("format version %d, want %d" % (version, FORMAT_VERSION))
    if header_size != HEADER_SIZE or flags != 0:
        raise _Invalid("header size %d flags 0x%x, want %d and 0" % (header_size, flags, HEADER_SIZE))
    want_size = _payload_layout(type_count, name_count, flavor_count)[3]
    if size != want_size:
        raise _Invalid("%s: %d bytes, the header promises %d"
                       % ("truncated" if size < want_size else "trailing data", size, want_size))
    mv = memoryview(buf)
    actual = zlib.crc32(mv[_CHECKSUM_END:], zlib.crc32(mv[:_CHECKSUM_OFF]))
    if actual != checksum:
        raise _Invalid("checksum mismatch: got 0x%08x, header says 0x%08x" % (actual, checksum))
    if source_size != len(data) or ident != bytes(bytearray.fromhex(identity)):
        raise _Invalid("built from other BTF (identity %s, %d bytes; this BTF is %s, %d bytes)"
                       % (ident.hex()[:16], source_size, identity[:16], len(data)))
    offsets_end, names_start, names_end, flavors_end = _payload_layout(type_count, name_count, flavor_count)
    offsets = mv[HEADER_SIZE:offsets_end].cast("I")
    names = _HashIndex(mv[names_start:names_end].cast("Q"))
    flavors = _HashIndex(mv[names_end:flavors_end].cast("Q"))
    try:
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
        return BTF.from_index(data, offsets, names, flavors, name=name)
    except BTFError as exc:
        raise _Invalid("does not fit this BTF: %s" % exc)


def _check_owned_dir(fd, path):
    # A directory we opened without following symlinks: ours and private.
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise _Unusable("%s is not a directory" % path)
    if st.st_uid != os.geteuid():
        raise _Unusable("%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, os.geteuid()))
    if st.st_mode & 0o077:
        os.fchmod(fd, 0o700)


def _open_dir(path, create):
    """fd of directory ``path``, created 0700 (with missing parents) when
    ``create``; raises _Unusable, or FileNotFoundError when it is missing
    and not to be created."""
    try:
        if create and not os.path.isdir(path):
            missing = []
            head = os.path.abspath(path)
            while head and not os.path.lexists(head):
                missing.append(head)
                head = os.path.dirname(head)
            for component in reversed(missing):
                try:
                    os.mkdir(component, 0o700)
                except FileExistsError:
                    pass
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        if create:
            raise _Unusable("%s: cannot be created" % path)
        raise
    except OSError as exc:
        raise _Unusable(_open_dir_error(path, exc, path))
    try:
        _check_owned_dir(fd, path)
    except (OSError, _Unusable) as exc:
        os.close(fd)
        if isinstance(exc, _Unusable):
            raise
        raise _Unusable("%s: %s" % (path, exc.strerror or exc))
    return fd


def _open_dir_error(path, exc, name, dir_fd=None):
    # Why opening directory ``path`` (``name`` relative to ``dir_fd``)
    # with O_NOFOLLOW | O_DIRECTORY failed: a symlink gives ENOTDIR/ELOOP.
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                return "%s is a symbolic link" % path
        except OSError:
            pass
    return "%s: %s" % (path, exc.strerror or exc)


def _open_private(dir_fd, file_name):
    """Read-only fd of regular file ``file_name`` in ``dir_fd`` that only we
    can have written (ours, mode 0600 or stricter, one link, not reached
    through a symlink); None when missing; raises _Invalid otherwise."""
    try:
        fd = os.open(file_name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Invalid("is a symbolic link")
        raise _Invalid("cannot open: %s" % (exc.strerror or exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Invalid("not a regular file")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or st.st_nlink != 1:
            raise _Invalid("not private to this user (uid %d, mode %04o, %d links)"
                           % (st.st_uid, stat.S_IMODE(st.st_mode), st.st_nlink))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_at(parent_fd, name, depth=0):
    # Remove entry ``name`` of the directory ``parent_fd``; directories
    # recursively, symlinks themselves, never what they point to.
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
        if depth > 4:
            raise OSError(errno.ELOOP, "directories nested too deep", name)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            for child in os.listdir(fd):
                _remove_at(fd, child, depth + 1)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        # Removed by a concurrent purge: fine.
        pass


class BTFCache:
    """The per-run cache of kernel BTF indexes in ``directory/run_id``.

    ``BTFCache(directory, run_id)``; ``directory`` None means
    DEFAULT_DIRECTORY. ``run_id`` names the playbook run (letters,
    digits, '.', '_', '-'; at most 128). Nothing touches the disk before
    ``load``. For ``btf_cache: none`` use no cache at all (None; see
    ``make_cache``).

    After each ``load``: ``status`` ('hit', 'built', 'rebuilt' or
    'bypassed'), ``size`` (bytes of the index file, 0 when bypassed),
    ``path`` (of the index file), ``identity`` (hex SHA-256 of the BTF),
    ``reason`` (why the file was rebuilt or the cache bypassed, else
    None). ``warnings`` collects one line per degraded load or failed
    purge, for the module's ``warnings``.

    One instance serves one process; several processes may share a
    directory concurrently.
    """

    def __init__(self, directory, run_id):
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise LoaderError("btf_cache: run id %r: want 1-128 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit" % (run_id,))
        self.directory = directory or DEFAULT_DIRECTORY
        self.run_id = run_id
        self.status = None
        self.size = 0
        self.path = None
        self.identity = None
        self.reason = None
        self.warnings = []
        self._identities = {}

    @property
    def run_directory(self):
        return os.path.join(self.directory, self.run_id)

    def __repr__(self):
        return "<BTFCache %s status=%s>" % (self.run_directory, self.status)

    def index_path(self, source_path, name):
        """Where ``load(source_path, name)`` keeps its index: one file per
        name and source path in the run's directory."""
        digest = hashlib.sha256(os.path.abspath(source_path).encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.run_directory, "%s.%s%s" % (_SAFE_NAME.sub("_", name)[:64], digest[:12],
                                                             INDEX_SUFFIX))

    # -- loading ------------------------------------------------------------

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
        # The reader is imported only here: tasks that use the run's
        # directory for shipped objects alone never parse BTF.
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF, map_file

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
            dir_fd, created = self._open_run_dir()
        except _Unusable as exc:
            return self._bypass(data, name, str(exc))
        try:
            if created:
                self.purge_other_runs()
            try:
                btf = self._read(dir_fd, file_name, data, identity, name)
                if btf is not None:
                    self.status = "hit"
                    return btf
            except _Invalid as exc:
                self.reason = "%s: %s" % (self.path, exc)
            fresh = BTF(data, name=name)
            try:
                blob = build_index(fresh, identity, len(data))
            except BTFError as exc:
                self._discard(dir_fd, file_name)
                return self._bypass(fresh, name, "cannot index %s: %s" % (source_path, exc))
            try:
                self._write(dir_fd, file_name, blob)
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
        from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
        if isinstance(data_or_btf, BTF):
            return data_or_btf
        return BTF(data_or_btf, name=name)

    def _open_run_dir(self):
        base_fd = _open_dir(self.directory, create=True)
        try:
            created = False
            try:
                os.mkdir(self.run_id, 0o700, dir_fd=base_fd)
                created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise _Unusable("%s: %s" % (self.run_directory, exc.strerror or exc))
            try:
                fd = os.open(self.run_id, _DIR_FLAGS, dir_fd=base_fd)
            except OSError as exc:
                raise _Unusable(_open_dir_error(self.run_directory, exc, self.run_id, base_fd))
        finally:
            os.close(base_fd)
        try:
            _check_owned_dir(fd, self.run_directory)
        except (OSError, _Unusable) as exc:
            os.close(fd)
            if isinstance(exc, _Unusable):
                raise
            raise _Unusable("%s: %s" % (self.run_directory, exc.strerror or exc))
        return fd, created

    def _read(self, dir_fd, file_name, data, identity, name):
        """BTF over a valid index file, None when there is none; raises
        _Invalid for a file that must be replaced."""
        fd = _open_private(dir_fd, file_name)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            if st.st_size > MAX_INDEX_SIZE:
                raise _Invalid("%d bytes, larger than any index" % st.st_size)
            if st.st_size < HEADER_SIZE:
                raise _Invalid("truncated: %d bytes, the header alone needs %d" % (st.st_size, HEADER_SIZE))
            try:
                buf = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                buf = _read_all(fd, st.st_size)
        finally:
            os.close(fd)
        btf = open_index(buf, data, identity, name)
        self.size = len(buf)
        return btf

    def _write(self, dir_fd, file_name, blob):
        tmp = ".%s.%d.%s.tmp" % (file_name, os.getpid(), os.urandom(6).hex())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(blob)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            # rename() replaces the entry itself: a symlink planted at the
            # final name is replaced, never written through.
            os.rename(tmp, file_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        try:
            os.fsync(dir_fd)
        except OSError:
            pass

    def _discard(self, dir_fd, file_name):
        # A file that failed validation and could not be replaced must not
        # stay behind for the next task.
        if self.reason is None:
            return
        try:
            os.unlink(file_name, dir_fd=dir_fd)
        except OSError:
            pass

    # -- other files of the run ---------------------------------------------

    def keep_file(self, file_name, data):
        """Keep ``data`` as ``file_name`` in the run's directory for later
        tasks of the run (e.g. an object shipped from the controller).
        Returns its path, or None with a line in ``warnings`` when the
        directory cannot be used."""
        try:
            dir_fd, created = self._open_run_dir()
        except _Unusable as exc:
            self.warnings.append("cannot keep %s for this run: %s" % (file_name, exc))
            return None
        try:
            if created:
                self.purge_other_runs()
            self._write(dir_fd, file_name, data)
            return os.path.join(self.run_directory, file_name)
        except OSError as exc:
            self.warnings.append("cannot keep %s for this run: %s" % (file_name, exc.strerror or exc))
            return None
        finally:
            os.close(dir_fd)

    def kept_file(self, file_name):
        """(path, bytes) of a file ``keep_file`` wrote in this run, or None
        when there is none or it is not private to us (then it is removed)."""
        try:
            dir_fd = os.open(self.run_directory, _DIR_FLAGS)
        except OSError:
            return None
        try:
            _check_owned_dir(dir_fd, self.run_directory)
            fd = _open_private(dir_fd, file_name)
            if fd is None:
                return None
            try:
                data = _read_all(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            return os.path.join(self.run_directory, file_name), data
        except _Invalid:
            try:
                os.unlink(file_name, dir_fd=dir_fd)
            except OSError:
                pass
            return None
        except (OSError, _Unusable):
            return None
        finally:
            os.close(dir_fd)

    # -- lifetime -----------------------------------------------------------

    def purge_other_runs(self):
        """Remove the directories of runs other than this one (the first
        load of a run calls it). Returns the run ids removed; failures are
        added to ``warnings``. Never follows symlinks."""
        try:
            base_fd = _open_dir(self.directory, create=False)
        except FileNotFoundError:
            return []
        except _Unusable as exc:
            self.warnings.append("BTF cache: cannot purge old runs: %s" % exc)
            return []
        removed = []
        try:
            for entry in sorted(os.listdir(base_fd)):
                if entry == self.run_id or not _RUN_ID.match(entry):
                    continue
                try:
                    _remove_at(base_fd, entry)
                    removed.append(entry)
                except OSError as exc:
                    self.warnings.append("BTF cache: cannot remove %s: %s"
                                         % (os.path.join(self.directory, entry), exc.strerror or exc))
        finally:
            os.close(base_fd)
        return removed

    @staticmethod
    def remove_run(directory, run_id):
        """Remove ``directory/run_id`` (the end of a run). Returns True when
        it existed. Raises LoaderError for a malformed run id, or when the
        directory is not usable or the removal fails."""
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise LoaderError("btf_cache: run id %r is malformed" % (run_id,))
        directory = directory or DEFAULT_DIRECTORY
        try:
            base_fd = _open_dir(directory, create=False)
        except FileNotFoundError:
            return False
        except _Unusable as exc:
            raise LoaderError("btf_cache: cannot remove run %s: %s" % (run_id, exc))
        try:
            try:
                os.stat(run_id, dir_fd=base_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            _remove_at(base_fd, run_id)
            return True
        except OSError as exc:
            raise LoaderError("btf_cache: cannot remove %s: %s"
                              % (os.path.join(directory, run_id), exc.strerror or exc))
        finally:
            os.close(base_fd)


def _read_all(fd, size):
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
