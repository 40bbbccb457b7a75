# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ebpf.deploy.bpf_btf_cache: name the playbook run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.ebpf.deploy.plugins.plugin_utils.run_id import controller_run_id


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args.copy()
        args["run_id"] = controller_run_id()
        result.update(self._execute_module(module_name="ebpf.deploy.bpf_btf_cache", module_args=args,
                                           task_vars=task_vars))
        return result
