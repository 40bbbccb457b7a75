# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ebpf.deploy.bpf_collection: ship ``src`` to the host
when it needs it, at most once per host and run (see
module_utils/deploy/shipped.py), and name the playbook run (for the per-run BTF
cache)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ebpf.deploy.plugins.plugin_utils.run_id import controller_run_id
from ansible_collections.ebpf.deploy.plugins.plugin_utils.ship import run_digest_first
from ansible_collections.ebpf.deploy.plugins.plugin_utils.src_path import find_src


class ActionModule(ActionBase):

    # The object goes over only when the host needs it, into a temporary
    # directory made then: a no-op run makes one round trip per task.
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args.copy()
        src = args.get("src")
        try:
            args["run_id"] = controller_run_id()
            if args.get("state") in ("absent", "rolled_back"):
                # Removing and rolling back need no object: the controller may no longer have it.
                args.pop("src", None)
                args.pop("path", None)
                src = None
            if src is None:
                result.update(self._execute_module(module_name="ebpf.deploy.bpf_collection", module_args=args,
                                                   task_vars=task_vars))
            else:
                if args.get("path"):
                    raise AnsibleError("src and path are mutually exclusive")
                result.update(self._run_with_src(src, args, task_vars))
        except AnsibleError as e:
            result.update(failed=True, msg=to_text(e))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_with_src(self, src, args, task_vars):
        """First the digest alone: enough when nothing changes or the host
        kept the object earlier in the run (plugin_utils/ship.py)."""
        local = find_src(src, task_vars, lambda name: self._find_needle("files", name))
        res = run_digest_first(self, "ebpf.deploy.bpf_collection", args, local, task_vars, "object_sha256", "path",
                               "object_missing")
        res.pop("object_kept", None)
        return res
