# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files sent from the controller digest-first (runs in action plugins).

The module gets the file's SHA-256 alone first: enough when nothing
changes, or when the host kept the file (or what it encodes) earlier. The
file goes over only when the module answers that it needs it, into a
temporary directory made then, and the module runs again with its path.
Used by bpf_collection (``src``) and bpf_map (``entries_src``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shipped import file_sha256


def run_digest_first(action, module_name, args, local, task_vars, digest_option, path_option, missing_flag):
    """Run ``module_name`` with ``args`` plus ``digest_option`` (the SHA-256
    of controller file ``local``); when its result says ``missing_flag``,
    send the file and run it again with ``path_option`` set to where the
    file is on the host. ``action`` is the ActionBase running the task.
    Returns the module's result without ``missing_flag``."""
    args[digest_option] = file_sha256(local)
    res = action._execute_module(module_name=module_name, module_args=args, task_vars=task_vars)
    if not res.pop(missing_flag, False):
        return res
    shell = action._connection._shell
    tmpdir = shell.tmpdir or action._make_tmp_path()
    remote = shell.join_path(tmpdir, os.path.basename(local))
    action._transfer_file(local, remote)
    action._fixup_perms2((tmpdir, remote))
    args[path_option] = remote
    res = action._execute_module(module_name=module_name, module_args=args, task_vars=task_vars)
    res.pop(missing_flag, None)
    return res
