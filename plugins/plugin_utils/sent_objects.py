# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which objects this run has already sent to which host (controller side).

Tasks run in worker processes forked from ansible-playbook, so memory is
not shared between them; the record is a marker file per (host, object) in
Ansible's local temporary directory, which belongs to the ansible-playbook
process and is removed when it exits: the record lives exactly as long as
the run. A marker only saves a transfer: when the host no longer has the
object the module says so and it is sent again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

from ansible import constants as C

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SentObjects:
    """Markers for one host: the inventory name and the address connected
    to (two inventory names for one address are two hosts to Ansible)."""

    def __init__(self, task_vars, remote_addr):
        host = "%s@%s" % (task_vars.get("inventory_hostname", ""), remote_addr or "")
        self.directory = os.path.join(C.DEFAULT_LOCAL_TMP, "ebpf_deploy_sent",
                                      _UNSAFE.sub("_", host)[:200] or "host")

    def has(self, sha256):
        return os.path.exists(os.path.join(self.directory, sha256))

    def add(self, sha256):
        try:
            os.makedirs(self.directory, 0o700, exist_ok=True)
            with open(os.path.join(self.directory, sha256), "w"):
                pass
        except OSError:
            pass  # Only costs a transfer next time.
