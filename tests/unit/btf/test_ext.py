# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the .BTF.ext parser and the func_info/line_info packers on
hand-built blobs and malformed input. A clang-built object (checked against
its source and by the kernel in BPF_PROG_LOAD): tests/integration/test_btf_objects.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import (
    BTFExt, pack_func_info, pack_line_info,
)
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.strings import StringTable


# -- hand-built blobs -------------------------------------------------------

STRINGS = b"\0xdp\0tc\0file.c\0line\0"
XDP, TC, FILE, LINE = 1, 5, 8, 15


def strings():
    return StringTable(STRINGS, 0, len(STRINGS), name="hand")


def block(order, rec_size, sections, fields):
    """A func/line/core block: rec_size, then per section its records,
    each padded to rec_size."""
    out = struct.pack(order + "I", rec_size)
    for name_off, records in sections:
        out += struct.pack(order + "II", name_off, len(records))
        for r in records:
            packed = struct.pack(order + "%dI" % fields, *r)
            out += packed + b"\0" * (rec_size - len(packed))
    return out


def ext_blob(order="<", func=None, line=None, core=None, hdr_len=32, magic=L.BTF_MAGIC,
             version=1, flags=0, lengths=None):
    parts = [func or b"", line or b"", core or b""]
    offs = []
    pos = 0
    for p in parts:
        offs.append(pos)
        pos += len(p)
    lens = lengths or [len(p) for p in parts]
    hdr = struct.pack(order + "HBBIIIII", magic, version, flags, hdr_len,
                      offs[0], lens[0], offs[1], lens[1])
    if hdr_len >= 32:
        hdr += struct.pack(order + "II", offs[2], lens[2]) + b"\0" * (hdr_len - 32)
    else:
        hdr += b"\0" * (hdr_len - 24)
    return hdr + b"".join(parts)


def good_blob(order="<", func_rec=8, line_rec=16, core_rec=16, hdr_len=32):
    func = block(order, func_rec, [(XDP, [(0, 3), (40, 4)]), (TC, [(0, 5)])], 2)
    line = block(order, line_rec, [(XDP, [(0, FILE, LINE, (7 << 10) | 2), (16, FILE, LINE, 9 << 10)])], 4)
    core = block(order, core_rec, [(TC, [(8, 6, LINE, 0)])], 4) if hdr_len >= 32 else None
    return ext_blob(order, func, line, core, hdr_len=hdr_len)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("func_rec,line_rec,core_rec", [(8, 16, 16), (12, 20, 24)])
def test_hand_blob(order, func_rec, line_rec, core_rec):
    ext = BTFExt.from_bytes(good_blob(order, func_rec, line_rec, core_rec), strings(), "hand")
    assert ext.byte_order == order
    assert ext.func_info == {"xdp": (func_rec, [(0, 3), (40, 4)]), "tc": (func_rec, [(0, 5)])}
    assert ext.line_info == {"xdp": (line_rec, [(0, FILE, LINE, (7 << 10) | 2), (16, FILE, LINE, 9 << 10)])}
    assert ext.core_relos == {"tc": [(8, 6, LINE, 0)]}
    assert ext.core_relo_rec_size == core_rec


def test_header_without_core_fields():
    ext = BTFExt.from_bytes(good_blob(hdr_len=24), strings(), "hand")
    assert ext.core_relos == {} and ext.core_relo_rec_size == 0
    assert list(ext.func_info) == ["xdp", "tc"]


def test_empty_blocks():
    ext = BTFExt.from_bytes(ext_blob(), strings(), "hand")
    assert (ext.func_info, ext.line_info, ext.core_relos) == ({}, {}, {})


def test_truncated_at_every_byte():
    data = good_blob()
    for n in range(len(data)):
        with pytest.raises(BTFError):
            BTFExt.from_bytes(data[:n], strings(), "hand")


def _dup_section():
    func = block("<", 8, [(XDP, [(0, 3)]), (XDP, [(8, 4)])], 2)
    return ext_blob(func=func)


BAD_CASES = [
    ("short header", lambda: good_blob()[:20], "header truncated: got 20 bytes, want at least 24"),
    ("bad magic", lambda: ext_blob(magic=0xbeef), "bad magic 0xefbe"),
    ("version", lambda: ext_blob(version=3), "unsupported version 3"),
    ("flags", lambda: ext_blob(flags=2), "unsupported header flags 0x2"),
    ("hdr_len short", lambda: ext_blob(hdr_len=16)[:24], "hdr_len 16 shorter"),
    ("hdr_len beyond", lambda: ext_blob(hdr_len=64)[:40], "hdr_len 64 beyond data of 40 bytes"),
    ("block beyond", lambda: ext_blob(lengths=[100, 0, 0]), r"func_info block \[32, 132\) beyond data"),
    ("no rec size", lambda: ext_blob(func=b"\0\0"), "func_info block of 2 bytes has no record size"),
    ("func rec small", lambda: ext_blob(func=block("<", 4, [(XDP, [(0,)])], 1)),
     "func_info record size 4 too small: want at least 8"),
    ("line rec small", lambda: ext_blob(line=block("<", 8, [(XDP, [(0, 0)])], 2)),
     "line_info record size 8 too small: want at least 16"),
    ("core rec small", lambda: ext_blob(core=block("<", 12, [(TC, [(0, 0, 0)])], 3)),
     "core_relo record size 12 too small: want at least 16"),
    ("rec size unaligned", lambda: ext_blob(func=block("<", 10, [(XDP, [(0, 1)])], 2)),
     "record size 10 not a multiple of 4"),
    ("num_info zero", lambda: ext_blob(func=block("<", 8, [(XDP, [])], 2)),
     "func_info section 'xdp': no records"),
    ("records beyond", lambda: ext_blob(func=block("<", 8, [(XDP, [(0, 3)])], 2)[:-4]),
     "func_info section 'xdp': 1 records of 8 bytes need 8 bytes, block has 4 left"),
    ("section header cut", lambda: ext_blob(func=block("<", 8, [(XDP, [(0, 3)])], 2) + b"\1\0\0\0"),
     "func_info section #1: header truncated"),
    ("name out of range", lambda: ext_blob(func=block("<", 8, [(999, [(0, 3)])], 2)),
     "func_info section #0: name: string offset 999 out of range"),
    ("duplicate section", _dup_section, "func_info section 'xdp': listed twice"),
]


@pytest.mark.parametrize("label,make,message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_ext(label, make, message):
    with pytest.raises(BTFError, match=r"BTF.ext 'hand': .*" + message):
        BTFExt.from_bytes(make(), strings(), "hand")


# -- packing for the kernel -------------------------------------------------

@pytest.mark.parametrize("records,rec_size,base,want", [
    ([(0, 3), (40, 4)], 8, 0, struct.pack("<4I", 0, 3, 5, 4)),
    ([(80, 3), (120, 4)], 8, 80, struct.pack("<4I", 0, 3, 5, 4)),
    ([(0, 7)], 12, 0, struct.pack("<3I", 0, 7, 0)),
    ([], 8, 0, b""),
])
def test_pack_func_info(records, rec_size, base, want):
    assert pack_func_info(records, rec_size, insn_base=base) == want


def test_pack_line_info():
    records = [(16, FILE, LINE, 9 << 10), (24, FILE, LINE, 10 << 10)]
    assert pack_line_info(records, 16, insn_base=16) == struct.pack(
        "<8I", 0, FILE, LINE, 9 << 10, 1, FILE, LINE, 10 << 10)
    assert pack_line_info(records[:1], byte_order=">") == struct.pack(">4I", 2, FILE, LINE, 9 << 10)


@pytest.mark.parametrize("func,records,kwargs,message", [
    (pack_func_info, [(4, 1)], {}, "func_info #0: insn_off 4 bytes is not an instruction"),
    (pack_func_info, [(0, 1)], {"insn_base": 8}, r"func_info #0: insn_off 0 bytes .* \(8 bytes\)"),
    (pack_func_info, [(0, 1)], {"rec_size": 4}, "func_info: record size 4 invalid"),
    (pack_func_info, [(0, 1)], {"rec_size": 10}, "func_info: record size 10 invalid"),
    (pack_func_info, [(0, 1)], {"rec_size": 256}, "func_info: record size 256 invalid"),
    (pack_func_info, [(0, 1 << 32)], {}, "func_info #0: cannot encode"),
    (pack_func_info, [(0, 1, 2)], {}, "func_info #0: cannot encode"),
    (pack_line_info, [(0, 1, 2)], {}, "line_info #0: cannot encode"),
    (pack_line_info, [(0, 1, 2, 3)], {"rec_size": 8}, "line_info: record size 8 invalid"),
])
def test_pack_errors(func, records, kwargs, message):
    with pytest.raises(BTFError, match=message):
        func(records, **kwargs)


# -- the kernel accepts what we pack ----------------------------------------
