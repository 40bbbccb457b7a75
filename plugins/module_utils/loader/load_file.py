# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loader's front door: one call from an object file to a loaded,
pinned collection. Modules call this; they never touch the stages."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_constants import set_constants


def load_file(path, pin_dir=None, programs=None, constants=None, kernel=None):
    """Read the ELF object at ``path``, apply ``constants`` ({name: value}
    for ``const volatile`` globals), and load it; see
    loader.load_collection for ``pin_dir``, ``programs`` and ``kernel``.

    Returns a LoadedCollection (close it, or use ``with``). Raises
    LoaderError subclasses; on error nothing stays loaded or pinned.
    """
    spec = read_object(path)
    set_constants(spec, constants)
    return load_collection(spec, pin_dir=pin_dir, programs=programs, kernel=kernel)
