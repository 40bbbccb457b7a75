# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ebpf.deploy.bpf_map: an ``entries_src`` on the
controller (the default, ``remote_src: false``) goes digest-first, as
bpf_collection's ``src`` (plugin_utils/ship.py): the host answers from the
entries it kept, or from the file kept earlier in the run, and the file is
sent only when it has neither. Every other task runs the module as it is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.ebpf.deploy.plugins.plugin_utils.run_id import controller_run_id
from ansible_collections.ebpf.deploy.plugins.plugin_utils.ship import run_digest_first
from ansible_collections.ebpf.deploy.plugins.plugin_utils.src_path import find_src

MODULE = "ebpf.deploy.bpf_map"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args.copy()
        src = args.get("entries_src")
        try:
            if not src or self._boolean(args.get("remote_src", False)):
                result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            else:
                local = find_src(src, task_vars, lambda name: self._find_needle("files", name), option="entries_src")
                args["run_id"] = controller_run_id()
                result.update(run_digest_first(self, MODULE, args, local, task_vars, "entries_sha256",
                                               "entries_received", "entries_missing"))
        except AnsibleError as e:
            result.update(failed=True, msg=to_text(e))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    @staticmethod
    def _boolean(value):
        try:
            return boolean(value, strict=True)
        except TypeError as e:
            raise AnsibleError("remote_src: %s" % e) from e
