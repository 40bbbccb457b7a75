#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bpf_btf_cache
short_description: End a playbook run's kernel BTF cache on a host
version_added: "0.1.0"
description:
  - M(ebpf.deploy.bpf_collection) with C(btf_cache=run) keeps an index of the kernel's BTF for the rest of the
    playbook run. This module removes that run's index at the run's end, so nothing stays behind in C(/run).
  - The next run's first load removes what an interrupted run left, so calling this is tidiness, not a necessity.
author:
  - ebpf.deploy contributors (@ebpf-deploy)
attributes:
  check_mode:
    support: full
    description: Reports whether there is something to remove.
  diff_mode:
    support: none
    description: Nothing to show.
options:
  state:
    description: C(absent) removes this run's cache.
    type: str
    choices: [absent]
    default: absent
  directory:
    description: Where the caches live (as for M(ebpf.deploy.bpf_collection)).
    type: path
    default: /run/ebpf_deploy/btf-cache
  run_id:
    description:
      - Internal; set by the action plugin to name the playbook run. Leave it unset.
    type: str
seealso:
  - module: ebpf.deploy.bpf_collection
"""

EXAMPLES = r"""
- name: End of the deploy - drop this run's kernel BTF cache
  ebpf.deploy.bpf_btf_cache:
    state: absent
"""

RETURN = r"""
removed:
  description:
    - Whether the run had a cache on the host (kernel BTF indexes, objects sent with I(src)) that was removed.
    - The task never reports C(changed); the cache is scratch space of the run, not state of the host.
  returned: always
  type: bool
  sample: true
run_id:
  description: The playbook run whose cache was removed.
  returned: always
  type: str
  sample: 4242-1234567
"""

import os

from ansible.module_utils.basic import AnsibleModule

# First: the rest of module_utils is then compiled once per host, not per task.
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.run_dir import remove_run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="absent", choices=["absent"]),
            directory=dict(type="path", default="/run/ebpf_deploy/btf-cache"),
            run_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    run_id = module.params["run_id"]
    if not run_id:
        module.fail_json(msg="run_id is set by the ebpf.deploy.bpf_btf_cache action plugin; run this as a task")
    path = os.path.join(module.params["directory"], run_id)
    exists = os.path.isdir(path) and not os.path.islink(path)
    if exists and not module.check_mode:
        remove_run(module.params["directory"], run_id)
    # The cache is the run's scratch space, not host state: removing it is
    # reported as removed, never as a change (a converged host re-run stays
    # at changed=0).
    module.exit_json(changed=False, removed=exists, run_id=run_id)


if __name__ == "__main__":
    main()
