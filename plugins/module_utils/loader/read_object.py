# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read an eBPF ELF object into a CollectionSpec.

The pipeline is license -> BTF -> data layout -> maps (read_maps.py) ->
programs (read_programs.py); each stage names the object and its part in errors.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import BTFExt
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import ELFFile, STT_OBJECT
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, ELFError, LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_maps import parse_maps
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_programs import link_programs
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.spec import CollectionSpec


def read_object(path):
    """Parse the object at ``path`` into a CollectionSpec.

    Raises LoaderError subclasses (ELFError, BTFError, SpecError,
    RelocationError) naming the file and the part. Cost: one read of the
    file; BTF types are decoded only where maps and programs need them.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        raise LoaderError("object '%s': cannot read: %s" % (path, e.strerror or e)) from e
    return read_object_bytes(data, os.path.basename(path))


def read_object_bytes(data, name="<object>"):
    """Like read_object, from the object's bytes; ``name`` is used in messages."""
    elf = ELFFile(data, name)
    spec = CollectionSpec(elf, hashlib.sha256(data).hexdigest(), name)
    _read_license(spec)
    _read_btf(spec)
    _collect_data_layout(spec)
    parse_maps(spec)
    link_programs(spec)
    return spec


def _read_license(spec):
    sec = spec.elf.section("license")
    if sec is not None:
        spec.license = bytes(sec.data).split(b"\0", 1)[0].decode("ascii", "replace")
    sec = spec.elf.section("version")
    if sec is not None:
        if sec.size != 4:
            raise ELFError("ELF '%s': section 'version': size %d, want 4" % (spec.name, sec.size))
        spec.kern_version = int.from_bytes(bytes(sec.data), "little" if spec.elf.byteorder == "<" else "big")


def _read_btf(spec):
    sec = spec.elf.section(".BTF")
    if sec is None:
        return
    try:
        spec.btf = BTF.from_bytes(sec.data, name=spec.name)
        ext = spec.elf.section(".BTF.ext")
        if ext is not None:
            spec.btf_ext = BTFExt.from_bytes(ext.data, spec.btf.strings, name=spec.name)
    except BTFError as e:
        raise BTFError("object '%s': %s" % (spec.name, e)) from e


def _collect_data_layout(spec):
    secs = spec.elf.sections
    for sec in secs:
        if sec.name:
            spec.section_sizes[sec.name] = sec.size
    for sym in spec.elf.symbols:
        if sym.type == STT_OBJECT and 0 < sym.shndx < len(secs):
            spec.symbol_offsets[(secs[sym.shndx].name, sym.name)] = sym.value
