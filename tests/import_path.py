# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.ebpf.deploy`` importable for the tests and the
fuzz harness (which also runs on its own, outside pytest).

``./dev test`` puts ``.venv/collections`` (which links
ansible_collections/ebpf/deploy to this tree) on PYTHONPATH; without it,
add that directory, and failing that, a temporary
ansible_collections/ebpf/deploy link to this tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.util
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "ansible_collections.ebpf.deploy.plugins.module_utils"


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def setup_import_path():
    if _importable(PKG):
        return
    venv_collections = os.path.join(REPO, ".venv", "collections")
    if os.path.isdir(venv_collections) and venv_collections not in sys.path:
        sys.path.insert(0, venv_collections)
        importlib.invalidate_caches()
        if _importable(PKG):
            return
        sys.path.remove(venv_collections)
    tmp = tempfile.mkdtemp(prefix="ebpf-deploy-collections-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "ebpf"))
    os.symlink(REPO, os.path.join(tmp, "ansible_collections", "ebpf", "deploy"))
    sys.path.insert(0, tmp)
    importlib.invalidate_caches()
