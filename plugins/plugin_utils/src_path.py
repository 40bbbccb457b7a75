# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a relative ``src`` is on the controller.

With the collection's own playbooks (``ansible-playbook ebpf.deploy.deploy``)
Ansible's playbook directory is inside the installed collection, so its
usual search (role ``files/``, the playbook's ``files/``) never reaches the
user's project. The user's places come first: the inventory's directory,
the directory ansible-playbook was started in, and the playbook directory
when it is the user's; then Ansible's own search.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError

_COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def user_places(task_vars, cwd=None):
    """The user's directories to look in, in order, without repeats."""
    places = []
    for directory in (task_vars.get("inventory_dir"), cwd or os.getcwd(), task_vars.get("playbook_dir")):
        if not directory:
            continue
        directory = os.path.realpath(directory)
        if directory.startswith(_COLLECTION_ROOT + os.sep) or directory == _COLLECTION_ROOT:
            continue  # the collection's own playbooks: not the user's files
        if directory not in places:
            places.append(directory)
    return places


def find_src(src, task_vars, find_needle, option="src"):
    """The controller path of ``src``. ``find_needle(src)`` is Ansible's own
    search (ActionBase._find_needle('files', src)), tried last. Raises
    AnsibleError listing every place searched, the user's first; messages
    name the task's ``option``."""
    if os.path.isabs(src):
        if os.path.isfile(src):
            return src
        raise AnsibleError("%s '%s': no such file on the controller" % (option, src))
    searched = []
    for directory in user_places(task_vars):
        candidate = os.path.join(directory, src)
        if os.path.isfile(candidate):
            return candidate
        searched.append(candidate)
    try:
        return find_needle(src)
    except AnsibleError as e:
        raise AnsibleError("%s '%s': not found on the controller; searched %s, then Ansible's own search (%s)"
                           % (option, src, ", ".join(searched) or "no directory of yours", e)) from e
