# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects shipped from the controller (``src``), sent once per host and run.

The action plugin sends an object with its SHA-256 the first time a run
needs it on a host; the module checks the digest and keeps the object in
the run's private directory (beside the run's BTF cache, and removed with
it). Later tasks of the run send only the digest and the module finds the
object there; when it is gone (another run purged it, /run was cleared)
the module says so and the action plugin sends it again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.run_dir import RunDir
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ShippedObject:
    """``path`` of the object to load (None when the run has not kept it
    on this host yet), ``kept`` (True when later tasks of the run will find
    it) and ``warnings``."""

    def __init__(self, path, kept, warnings):
        self.path = path
        self.kept = kept
        self.warnings = warnings


def file_sha256(path):
    """SHA-256 (hex) of the file ``path``, read in 1 MiB chunks (controller
    and host alike). Raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kept_name(src, sha256):
    # The source's base name stays in the name: the loader's messages quote it.
    return "%s-%s" % (sha256[:16], _UNSAFE.sub("_", os.path.basename(src))[:64] or "object")


def shipped_object(src, sha256, run_id, received=None, directory=None, what="object"):
    """The object ``src`` whose SHA-256 is ``sha256``: ``received`` is where
    this task's transfer put it (None when the controller sent only the
    digest). ``what`` is what messages call it (``object``, ``entries``).
    Raises LoaderError when a received object does not match."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise LoaderError("%s_sha256 %r: want 64 lower-case hex digits" % (what, sha256))
    run = RunDir(directory, run_id)
    name = kept_name(src, sha256)
    if received is None:
        kept = run.kept_file(name)
        if kept is None or hashlib.sha256(kept[1]).hexdigest() != sha256:
            return ShippedObject(None, False, run.warnings)
        return ShippedObject(kept[0], True, run.warnings)
    try:
        with open(received, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        raise LoaderError("%s '%s' (sent from the controller as %s): cannot read: %s"
                          % (what, received, src, e.strerror or e)) from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise LoaderError("%s '%s' arrived damaged: SHA-256 %s on the host, %s on the controller"
                          % (what, src, digest, sha256), hint="send it again; check the connection and the host's disk")
    path = run.keep_file(name, data)
    return ShippedObject(path or received, path is not None, run.warnings)
