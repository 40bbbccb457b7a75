# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading BTF as bpftool prints it (`bpftool btf dump file PATH format raw`), to check the reader
against it: on vmlinux in tests/unit, on clang-built objects in tests/integration."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L

BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)


needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed")


_ENC = {0: "(none)", L.BTF_INT_SIGNED: "SIGNED", L.BTF_INT_CHAR: "CHAR", L.BTF_INT_BOOL: "BOOL"}


_LINK = {0: "static", 1: "global", 2: "extern"}


def _q(name):
    return "'%s'" % (name or "(anon)")


def bpftool_style(btf, t):
    """Render a decoded type the way `bpftool btf dump ... format raw` does."""
    head = "[%d] %s %s" % (t.id, t.kind_name, _q(t.name))
    lines = []
    k = t.kind
    if k == L.BTF_KIND_INT:
        head += " size=%d bits_offset=%d nr_bits=%d encoding=%s" % (
            t.size, t.offset, t.bits, _ENC.get(t.encoding, "UNKN"))
    elif k in (L.BTF_KIND_PTR, L.BTF_KIND_TYPEDEF, L.BTF_KIND_VOLATILE, L.BTF_KIND_CONST,
               L.BTF_KIND_RESTRICT, L.BTF_KIND_TYPE_TAG):
        head += " type_id=%d" % t.type
    elif k == L.BTF_KIND_ARRAY:
        head += " type_id=%d index_type_id=%d nr_elems=%d" % (t.elem_type, t.index_type, t.nelems)
    elif k in (L.BTF_KIND_STRUCT, L.BTF_KIND_UNION):
        head += " size=%d vlen=%d" % (t.size, len(t.members))
        for m in t.members:
            line = "\t%s type_id=%d bits_offset=%d" % (_q(m.name), m.type, m.bit_offset)
            if m.bitfield_size:
                line += " bitfield_size=%d" % m.bitfield_size
            lines.append(line)
    elif k in (L.BTF_KIND_ENUM, L.BTF_KIND_ENUM64):
        head += " encoding=%s size=%d vlen=%d" % ("SIGNED" if t.signed else "UNSIGNED", t.size, len(t.values))
        suffix = ("LL" if t.signed else "ULL") if k == L.BTF_KIND_ENUM64 else ""
        lines.extend("\t%s val=%d%s" % (_q(v.name), v.value, suffix) for v in t.values)
    elif k == L.BTF_KIND_FWD:
        head += " fwd_kind=%s" % ("union" if t.is_union else "struct")
    elif k == L.BTF_KIND_FUNC:
        head += " type_id=%d linkage=%s" % (t.type, _LINK.get(t.linkage, "(unknown)"))
    elif k == L.BTF_KIND_FUNC_PROTO:
        head += " ret_type_id=%d vlen=%d" % (t.return_type, len(t.params))
        lines.extend("\t%s type_id=%d" % (_q(p.name), p.type) for p in t.params)
    elif k == L.BTF_KIND_VAR:
        head += " type_id=%d, linkage=%s" % (t.type, _LINK.get(t.linkage, "(unknown)"))
    elif k == L.BTF_KIND_DATASEC:
        head += " size=%d vlen=%d" % (t.size, len(t.vars))
        lines.extend("\ttype_id=%d offset=%d size=%d (%s %s)" % (
            v.type, v.offset, v.size, L.kind_name(btf.kind_of(v.type)), _q(btf.name_of(v.type)))
            for v in t.vars)
    elif k == L.BTF_KIND_FLOAT:
        head += " size=%d" % t.size
    elif k == L.BTF_KIND_DECL_TAG:
        head += " type_id=%d component_idx=%d" % (t.type, t.component_idx)
    return [head] + lines


def bpftool_dump(path):
    """{id: [header line, detail lines...]} from bpftool's raw dump."""
    out = subprocess.run([BPFTOOL, "btf", "dump", "file", path, "format", "raw"],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    blocks = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"\[(\d+)\] ", line)
        if m:
            current = [line]
            blocks[int(m.group(1))] = current
        elif line.strip():
            current.append(line)
    return blocks
