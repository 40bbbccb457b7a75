# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite ``const volatile`` globals (``.rodata*``) by name before load,
type-checked against the object's BTF."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.encode import encode
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError


def data_variables(spec):
    """{name: (MapSpec, offset, type id)} of every global in the object's
    data maps, from their DATASEC (offsets from the ELF symbols)."""
    btf = spec.btf
    out = {}
    if btf is None:
        return out
    for m in spec.maps.values():
        if m.kind != "data" or not m.btf_value_type_id:
            continue
        for secinfo in btf.type_by_id(m.btf_value_type_id).vars:
            var = btf.type_by_id(secinfo.type)
            offset = spec.symbol_offsets.get((m.section, var.name), secinfo.offset)
            out[var.name] = (m, offset, var.type)
    return out


def set_constants(spec, constants):
    """Write ``constants`` ({name: value}) into the object's read-only data.

    Values are encoded through the variable's BTF type (see btf/encode.py).
    Raises SpecError, changing nothing, for an unknown name, a variable
    outside ``.rodata*``, or a value that does not fit.
    """
    if not constants:
        return
    if spec.btf is None:
        raise SpecError("object '%s': constants need the object's BTF (compile with clang -g)" % spec.name)
    variables = data_variables(spec)
    writes = []
    for name, value in constants.items():
        if name not in variables:
            known = sorted(n for n, v in variables.items() if v[0].section.startswith(".rodata"))
            raise SpecError("constant '%s': no such variable in the object's .rodata (have: %s)" % (
                name, ", ".join(known) or "none"))
        m, offset, type_id = variables[name]
        if not m.section.startswith(".rodata"):
            raise SpecError("constant '%s': it is in section '%s'; only 'const volatile' globals (.rodata) can be "
                            "set before load" % (name, m.section))
        data = encode(spec.btf, type_id, value, "constant '%s'" % name)
        writes.append((m, offset, data))
    for m, offset, data in writes:
        m.data[offset:offset + len(data)] = data
