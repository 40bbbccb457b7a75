# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the .BTF.ext parser and the func_info/line_info packers: a
clang-built object (checked against its source and, when allowed, by the
kernel in BPF_PROG_LOAD), hand-built blobs and malformed input."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import os
import platform
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import (
    BTFExt, pack_func_info, pack_line_info,
)
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import fix_datasecs
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.strings import StringTable

CLANG = shutil.which("clang")

SOURCE = """struct task { int pid; int tgid; } __attribute__((preserve_access_index));
struct xdp_md { unsigned int data; unsigned int data_end; };

static __attribute__((noinline)) int twice(int x)
{
\treturn x * 2;
}

__attribute__((section("xdp"), used)) int xdp_prog(struct xdp_md *ctx)
{
\tvoid *data = (void *)(long)ctx->data;
\tvoid *end = (void *)(long)ctx->data_end;
\tif (data + 14 > end)
\t\treturn 1;
\treturn 2;
}

__attribute__((section("tc"), used)) int tc_prog(struct task *t)
{
\treturn twice(t->tgid);
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


def elf_sections(data):
    """{name: (offset, size)} of a little-endian ELF64 object."""
    assert data[:6] == b"\x7fELF\x02\x01"
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    out = {}
    for h in headers:
        start = names_at + h[0]
        out[data[start:data.index(b"\0", start)].decode()] = (h[4], h[5])
    return out


class Obj:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.sections = elf_sections(self.data)
        self.btf = BTF.from_bytes(self.section(".BTF"), name="e.o")
        self.ext = BTFExt.from_bytes(self.section(".BTF.ext"), self.btf.strings, name="e.o")

    def section(self, name):
        off, size = self.sections[name]
        return self.data[off:off + size]


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    if CLANG is None:
        pytest.skip("clang not installed")
    tmp = str(tmp_path_factory.mktemp("ext"))
    src = os.path.join(tmp, "e.c")
    with open(src, "w") as f:
        f.write(SOURCE)
    out = os.path.join(tmp, "e.o")
    subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-c", src, "-o", out], check=True)
    return Obj(out)


def test_func_info_names_each_function(obj):
    btf, ext = obj.btf, obj.ext
    got = {}
    for sec, (rec_size, records) in ext.func_info.items():
        assert rec_size >= 8
        got[sec] = [(off, btf.name_of(tid), btf.kind_of(tid)) for off, tid in records]
    assert got == {
        ".text": [(0, "twice", L.BTF_KIND_FUNC)],
        "xdp": [(0, "xdp_prog", L.BTF_KIND_FUNC)],
        "tc": [(0, "tc_prog", L.BTF_KIND_FUNC)],
    }


def test_line_info_points_at_source_lines(obj):
    btf, ext = obj.btf, obj.ext
    source_lines = SOURCE.splitlines()
    assert set(ext.line_info) == {".text", "xdp", "tc"}
    for sec, (rec_size, records) in ext.line_info.items():
        assert rec_size >= 16
        offsets = [r[0] for r in records]
        assert offsets == sorted(offsets) and offsets[0] == 0
        assert all(off % 8 == 0 for off in offsets)
        for insn_off, file_off, line_off, line_col in records:
            assert btf.strings.get(file_off).endswith("e.c")
            text = btf.strings.get(line_off)
            line = L.line_info_line(line_col)
            assert source_lines[line - 1] == text
            assert 0 <= L.line_info_col(line_col) <= len(text) + 1


def test_core_relo(obj):
    btf, ext = obj.btf, obj.ext
    assert ext.core_relo_rec_size >= 16
    assert list(ext.core_relos) == ["tc"]
    (insn_off, type_id, access_off, kind), = ext.core_relos["tc"]
    assert insn_off == 0
    assert btf.name_of(type_id) == "task"
    assert btf.strings.get(access_off) == "0:1"
    assert kind == 0  # FIELD_BYTE_OFFSET


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

_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
BPF_PROG_LOAD = 5
BPF_BTF_LOAD = 18
BPF_PROG_TYPE_XDP = 6


def bpf(cmd, attr):
    """bpf(2) with a bytearray attr; returns (result, errno)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    res = libc.syscall(ctypes.c_long(_NR_BPF[platform.machine()]), ctypes.c_int(cmd),
                       buf, ctypes.c_uint(len(attr)))
    return res, ctypes.get_errno()


def _addr(buf):
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


def test_kernel_loads_program_with_packed_infos(obj):
    if platform.machine() not in _NR_BPF:
        pytest.skip("bpf(2) number unknown for %s" % platform.machine())
    btf_bytes = fix_datasecs(obj.btf, {"license": 4}, {})
    log = bytearray(65536)
    attr = bytearray(40)
    struct.pack_into("<QQIII", attr, 0, _addr(btf_bytes), _addr(log), len(btf_bytes), len(log), 1)
    btf_fd, err = bpf(BPF_BTF_LOAD, attr)
    if btf_fd < 0 and err in (errno.EPERM, errno.EACCES, errno.ENOSYS):
        pytest.skip("bpf(BPF_BTF_LOAD) not allowed here (needs CAP_BPF, Linux 5.0+)")
    assert btf_fd >= 0, log.rstrip(b"\0").decode(errors="replace")
    try:
        insns = bytearray(obj.section("xdp"))
        func_rec, funcs = obj.ext.func_info["xdp"]
        line_rec, lines = obj.ext.line_info["xdp"]
        func_info = bytearray(pack_func_info(funcs, func_rec))
        line_info = bytearray(pack_line_info(lines, line_rec))
        license = bytearray(b"GPL\0")
        log = bytearray(65536)
        attr = bytearray(128)
        struct.pack_into("<IIQQIIQ", attr, 0, BPF_PROG_TYPE_XDP, len(insns) // 8, _addr(insns),
                         _addr(license), 1, len(log), _addr(log))
        struct.pack_into("<16s", attr, 48, b"xdp_prog")
        struct.pack_into("<IIQIIQI", attr, 72, btf_fd, func_rec, _addr(func_info), len(funcs),
                         line_rec, _addr(line_info), len(lines))
        prog_fd, err = bpf(BPF_PROG_LOAD, attr)
        assert prog_fd >= 0, "errno %d: %s" % (err, log.rstrip(b"\0").decode(errors="replace"))
        os.close(prog_fd)
    finally:
        os.close(btf_fd)
