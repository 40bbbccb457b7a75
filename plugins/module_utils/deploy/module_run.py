# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end every plan/apply module shares: run the converge, turn a
LoaderError into a failed task, drop the diff unless asked for, exit.

The module passes its AnsibleModule in; nothing here imports Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError


def converge_and_exit(module, converge):
    """Exit ``module`` (an AnsibleModule) with the result dict
    ``converge()`` returns: ``diff`` is left out unless the task runs with
    ``--diff``. A LoaderError fails the task with its message and
    ``hint``. Never returns."""
    try:
        result = converge()
    except LoaderError as e:
        module.fail_json(msg=str(e), hint=e.hint)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)
