# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to name a collection's objects in every module: ``collection``
plus the object's name (``map``, ``program``), with ``collection/name``
accepted as shorthand in the object's option."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError

# Where collections live unless a task says otherwise (bpffs refuses '.').
DEFAULT_PIN_ROOT = "/sys/fs/bpf/ebpf_deploy"


def split_ref(collection, name, option):
    """(collection, name) from the ``collection`` option and option
    ``option`` (its value ``name``, maybe 'collection/name'). Either may be
    None when the other gives it; a name with no collection is an error."""
    if name is not None and "/" in name and not name.startswith("/"):
        given, _sep, rest = name.partition("/")
        if not given or not rest or "/" in rest:
            raise SpecError("%s %r: want a name, or collection/name" % (option, name))
        if collection is not None and collection != given:
            raise SpecError("%s %r names collection '%s' but collection is '%s'" % (option, name, given, collection))
        return given, rest
    if collection is None:
        raise SpecError("collection is required (or give %s as collection/%s)" % (option, option))
    return collection, name
