# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lock per collection, taken by every writer (bpf_collection,
bpf_link, bpf_map): a bpf_link task beside an upgrade of the same
collection must not write into a version that is being swapped out."""

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
    try:
        os.makedirs(LOCK_DIR, 0o700)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise LoaderError("cannot create lock directory %s: %s" % (LOCK_DIR, e.strerror)) from e
    key = hashlib.sha256(pins.live.encode()).hexdigest()[:16]
    fd = os.open(os.path.join(LOCK_DIR, "%s-%s.lock" % (pins.name, key)),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
