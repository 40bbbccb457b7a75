# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired-state record of a deployed collection, kept in bpffs itself.

bpffs holds only BPF objects, so the record (object checksum, normalised
options, the ids of what was loaded) is the value of a one-entry array
map pinned beside the collection's maps and programs: it lives exactly as
long as they do and moves with them on a swap. The map is frozen, so
nothing can change it behind our back without replacing it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi

STATE_PIN = "state"
STATE_VERSION = 1
_MAP_NAME = "ebpf_deploy_st"
_KEY0 = (0).to_bytes(4, sys.byteorder)
_LEN = struct.Struct("=I")


def create_state_map(record):
    """A new frozen map holding ``record`` (a JSON-able dict); returns its fd."""
    payload = json.dumps(dict(record, version=STATE_VERSION), sort_keys=True, separators=(",", ":")).encode()
    size = (len(payload) + _LEN.size + 7) // 8 * 8
    fd = syscalls.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, size, 1, name=_MAP_NAME)
    try:
        value = _LEN.pack(len(payload)) + payload
        syscalls.map_update(fd, _KEY0, value + b"\0" * (size - len(value)), what="state map")
        syscalls.map_freeze(fd, what="state map")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_state(directory):
    """The record pinned in ``directory``, or None when there is none or it
    is not ours (wrong map, damaged payload, other version)."""
    return read_record(os.path.join(directory, STATE_PIN))


def read_record(path):
    """The record held by the map pinned at ``path`` (see read_state)."""
    try:
        fd = syscalls.obj_get(path)
    except SyscallError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # ELOOP: a symlink, never ours
            return None
        raise
    try:
        info = syscalls.map_info(fd)
        if info.type != uapi.BPF_MAP_TYPE_ARRAY or info.key_size != 4 or info.max_entries != 1:
            return None
        value = syscalls.map_lookup(fd, _KEY0, info.value_size)
    except SyscallError:
        return None
    finally:
        os.close(fd)
    if value is None or len(value) < _LEN.size:
        return None
    length = _LEN.unpack_from(value)[0]
    if length > len(value) - _LEN.size:
        return None
    try:
        record = json.loads(value[_LEN.size:_LEN.size + length].decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("version") != STATE_VERSION:
        return None
    return record


def state_map_id(directory):
    """The id of the state map pinned in version ``directory`` (None when
    it cannot be read): it names one load of one version."""
    try:
        fd = syscalls.obj_get(os.path.join(directory, STATE_PIN))
    except SyscallError:
        return None
    try:
        return syscalls.map_info(fd).id
    finally:
        os.close(fd)
