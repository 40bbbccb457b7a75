# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbook run's private directory on a host: ``<directory>/<run_id>/``.

The per-run BTF cache keeps its index files there and the shipped objects
of the run (``src``) are kept beside them. The run that creates its
directory first removes the directories of other runs, and ``remove_run``
removes a run's directory at its end. Directories are 0700 and files
0600, owned by the effective user; nothing is opened through a symlink.
Writers are atomic (a private temporary file in the same directory,
fsync, rename), so concurrent writers and readers only ever see complete
files. Standard library only; reads nothing at import or construction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

DEFAULT_DIRECTORY = "/run/ebpf_deploy/btf-cache"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC


class Unusable(Exception):
    """The directory cannot be used (read-only, full, not ours, a symlink);
    the message says why."""


class NotPrivate(Exception):
    """A file in the run's directory that only we could have written is
    not, or cannot be opened; the message says why."""


class RunDir:
    """The private directory ``directory/run_id`` of one playbook run.

    ``RunDir(directory, run_id)``; ``directory`` None means
    DEFAULT_DIRECTORY. ``run_id`` names the playbook run (letters, digits,
    '.', '_', '-'; at most 128; raises LoaderError otherwise). Nothing
    touches the disk before ``open``, ``keep_file`` or ``kept_file``.
    ``warnings`` collects one line per failed purge or keep, for the
    module's ``warnings``. One instance serves one process; several
    processes may share a directory concurrently.
    """

    def __init__(self, directory, run_id):
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise LoaderError("btf_cache: run id %r: want 1-128 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit" % (run_id,))
        self.directory = directory or DEFAULT_DIRECTORY
        self.run_id = run_id
        self.path = os.path.join(self.directory, run_id)
        self.warnings = []

    def __repr__(self):
        return "<RunDir %s>" % self.path

    def open(self):
        """fd of the run's directory, created (with ``directory``) when
        missing; the run that creates it first removes the other runs'
        directories (``purge_other_runs``). The caller closes the fd.
        Raises Unusable."""
        base_fd = _open_dir(self.directory, create=True)
        try:
            created = False
            try:
                os.mkdir(self.run_id, 0o700, dir_fd=base_fd)
                created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise Unusable("%s: %s" % (self.path, exc.strerror or exc)) from exc
            try:
                fd = os.open(self.run_id, _DIR_FLAGS, dir_fd=base_fd)
            except OSError as exc:
                raise Unusable(_open_dir_error(self.path, exc, self.run_id, base_fd)) from exc
        finally:
            os.close(base_fd)
        _check_owned_dir_or_close(fd, self.path)
        if created:
            try:
                self.purge_other_runs()
            except BaseException:
                os.close(fd)
                raise
        return fd

    def keep_file(self, file_name, data):
        """Keep ``data`` as ``file_name`` in the run's directory for later
        tasks of the run (e.g. an object shipped from the controller).
        Returns its path, or None with a line in ``warnings`` when the
        directory cannot be used."""
        try:
            dir_fd = self.open()
        except Unusable as exc:
            self.warnings.append("cannot keep %s for this run: %s" % (file_name, exc))
            return None
        except OSError as exc:
            self.warnings.append("cannot keep %s for this run: %s" % (file_name, exc.strerror or exc))
            return None
        try:
            write_atomic(dir_fd, file_name, data)
            return os.path.join(self.path, file_name)
        except OSError as exc:
            self.warnings.append("cannot keep %s for this run: %s" % (file_name, exc.strerror or exc))
            return None
        finally:
            os.close(dir_fd)

    def kept_file(self, file_name):
        """(path, bytes) of a file ``keep_file`` wrote in this run, or None
        when there is none or it is not private to us (then it is removed)."""
        try:
            dir_fd = os.open(self.path, _DIR_FLAGS)
        except OSError:
            return None
        try:
            _check_owned_dir(dir_fd, self.path)
            fd = open_private(dir_fd, file_name)
            if fd is None:
                return None
            try:
                data = read_all(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            return os.path.join(self.path, file_name), data
        except NotPrivate:
            unlink_quietly(dir_fd, file_name)
            return None
        except (OSError, Unusable):
            return None
        finally:
            os.close(dir_fd)

    def purge_other_runs(self):
        """Remove the directories of runs other than this one (the run's
        first ``open`` calls it). Returns the run ids removed; failures are
        added to ``warnings``. Never follows symlinks."""
        try:
            base_fd = _open_dir(self.directory, create=False)
        except FileNotFoundError:
            return []
        except Unusable as exc:
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


def remove_run(directory, run_id):
    """Remove ``directory/run_id`` (the end of a run; ``directory`` None
    means DEFAULT_DIRECTORY). Returns True when it existed. Raises
    LoaderError for a malformed run id, or when the directory is not usable
    or the removal fails. Never follows symlinks."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise LoaderError("btf_cache: run id %r is malformed" % (run_id,))
    directory = directory or DEFAULT_DIRECTORY
    try:
        base_fd = _open_dir(directory, create=False)
    except FileNotFoundError:
        return False
    except Unusable as exc:
        raise LoaderError("btf_cache: cannot remove run %s: %s" % (run_id, exc)) from exc
    try:
        try:
            os.stat(run_id, dir_fd=base_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        _remove_at(base_fd, run_id)
        return True
    except OSError as exc:
        raise LoaderError("btf_cache: cannot remove %s: %s"
                          % (os.path.join(directory, run_id), exc.strerror or exc)) from exc
    finally:
        os.close(base_fd)


def open_private(dir_fd, file_name):
    """Read-only fd of regular file ``file_name`` in ``dir_fd`` that only we
    can have written (ours, mode 0600 or stricter, one link, not reached
    through a symlink); None when missing; raises NotPrivate otherwise."""
    try:
        fd = os.open(file_name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotPrivate("is a symbolic link") from exc
        raise NotPrivate("cannot open: %s" % (exc.strerror or exc)) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotPrivate("not a regular file")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or st.st_nlink != 1:
            raise NotPrivate("not private to this user (uid %d, mode %04o, %d links)"
                             % (st.st_uid, stat.S_IMODE(st.st_mode), st.st_nlink))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_all(fd, size):
    """Up to ``size`` bytes of ``fd`` from where it stands, read in 1 MiB
    chunks (fewer when the file is shorter)."""
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_atomic(dir_fd, file_name, blob):
    """Write ``blob`` as ``file_name`` (mode 0600) in ``dir_fd``: a private
    temporary file, fsync, rename, fsync of the directory. Raises OSError;
    no temporary file stays behind."""
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
        unlink_quietly(dir_fd, tmp)
        raise
    try:
        os.fsync(dir_fd)
    except OSError:
        pass


def unlink_quietly(dir_fd, file_name):
    """Remove ``file_name`` from ``dir_fd`` if it can be removed: for files
    that must not stay behind, where a failure changes nothing for the
    caller (the next reader checks the file anyway)."""
    try:
        os.unlink(file_name, dir_fd=dir_fd)
    except OSError:
        pass


def _check_owned_dir(fd, path):
    # A directory we opened without following symlinks: ours and private.
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise Unusable("%s is not a directory" % path)
    if st.st_uid != os.geteuid():
        raise Unusable("%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, os.geteuid()))
    if st.st_mode & 0o077:
        os.fchmod(fd, 0o700)


def _check_owned_dir_or_close(fd, path):
    # _check_owned_dir for a fd the caller gets only when it passes.
    try:
        _check_owned_dir(fd, path)
    except (OSError, Unusable) as exc:
        os.close(fd)
        if isinstance(exc, Unusable):
            raise
        raise Unusable("%s: %s" % (path, exc.strerror or exc)) from exc


def _open_dir(path, create):
    """fd of directory ``path``, created 0700 (with missing parents) when
    ``create``; raises Unusable, or FileNotFoundError when it is missing
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
    except FileNotFoundError as exc:
        if create:
            raise Unusable("%s: cannot be created" % path) from exc
        raise
    except OSError as exc:
        raise Unusable(_open_dir_error(path, exc, path)) from exc
    _check_owned_dir_or_close(fd, path)
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
