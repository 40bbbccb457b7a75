# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lock per collection, taken by every writer (bpf_collection,
bpf_link, bpf_map): a bpf_link task beside an upgrade of the same
collection must not write into a version that is being swapped out.
``shared_lock`` is one more per pin root, for the maps collections share:
taken inside a collection's lock, never the other way round."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

LOCK_DIR = "/run/ebpf_deploy/locks"


@contextlib.contextmanager
def collection_lock(pins):
    """Hold the exclusive lock of collection ``pins`` (a CollectionPins) for
    the block. Not reentrant: take it once per run, at the top."""
    with _lock(pins.name, pins.live):
        yield


@contextlib.contextmanager
def shared_lock(pin_root):
    """Hold the lock of the shared maps under ``pin_root`` for the block
    (inside the collection's lock)."""
    with _lock("shared", os.path.join(pin_root, "shared")):
        yield


@contextlib.contextmanager
def _lock(label, path):
    try:
        os.makedirs(LOCK_DIR, 0o700)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise LoaderError("cannot create lock directory %s: %s" % (LOCK_DIR, e.strerror)) from e
    key = hashlib.sha256(path.encode()).hexdigest()[:16]
    fd = os.open(os.path.join(LOCK_DIR, "%s-%s.lock" % (label, key)),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
