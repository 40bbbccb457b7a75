# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of fix_datasecs: hand-built DATASECs, and a clang-built object
whose fixed BTF the kernel must accept (and whose raw BTF it refuses)."""

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
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import types as T
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import fix_datasecs

CLANG = shutil.which("clang")


# -- hand-built -------------------------------------------------------------

def build(order="<"):
    """int, three VARs, a '.data' DATASEC listing them out of order with
    zero offsets and size, and a '.kconfig' DATASEC."""
    strtab = bytearray(b"\0")

    def s(text):
        strtab.extend(text.encode() + b"\0")
        return len(strtab) - len(text) - 1

    def rec(*words):
        return struct.pack(order + "%dI" % len(words), *words)

    types = rec(s("int"), L.make_info(L.BTF_KIND_INT), 4, 32)                  # 1
    types += rec(s("a"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 2
    types += rec(s("b"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 3
    types += rec(s("c"), L.make_info(L.BTF_KIND_VAR), 1, 1)                   # 4
    types += rec(s(".data"), L.make_info(L.BTF_KIND_DATASEC, 3), 0,           # 5
                 2, 0, 4, 3, 0, 4, 4, 0, 4)
    types += rec(s(".kconfig"), L.make_info(L.BTF_KIND_DATASEC, 1), 0,        # 6
                 4, 0, 4)
    hdr = struct.pack(order + "HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab))
    return hdr + types + bytes(strtab)


def secinfos(data, type_id):
    return [(v.type, v.offset, v.size) for v in BTF.from_bytes(bytes(data)).type_by_id(type_id).vars]


@pytest.mark.parametrize("order", ["<", ">"])
def test_sizes_offsets_and_order(order):
    data = build(order)
    btf = BTF.from_bytes(data)
    out = fix_datasecs(btf, {".data": 12}, {(".data", "a"): 8, (".data", "b"): 0, (".data", "c"): 4})
    assert isinstance(out, bytearray)
    fixed = BTF.from_bytes(bytes(out))
    assert fixed.type_by_id(5) == T.Datasec(5, ".data", 12, (
        T.VarSecinfo(3, 0, 4), T.VarSecinfo(4, 4, 4), T.VarSecinfo(2, 8, 4)))
    # Untouched: no rule for .kconfig.
    assert fixed.type_by_id(6) == btf.type_by_id(6)
    # The input is not modified.
    assert bytes(data) == btf.raw_bytes()
    assert btf.type_by_id(5).size == 0


def test_nothing_to_do_is_identity():
    btf = BTF.from_bytes(build())
    assert fix_datasecs(btf, {}, {}) == bytearray(btf.raw_bytes())
    assert fix_datasecs(btf, {".rodata": 8}, {(".bss", "a"): 4}) == bytearray(btf.raw_bytes())


def test_size_only_keeps_stable_order():
    # All offsets stay 0: equal keys keep their original order.
    out = fix_datasecs(BTF.from_bytes(build()), {".data": 4}, {})
    assert secinfos(out, 5) == [(2, 0, 4), (3, 0, 4), (4, 0, 4)]
    assert BTF.from_bytes(bytes(out)).type_by_id(5).size == 4


def test_offsets_only():
    out = fix_datasecs(BTF.from_bytes(build()), {}, {(".data", "a"): 16})
    assert secinfos(out, 5) == [(3, 0, 4), (4, 0, 4), (2, 16, 4)]


def test_rules_for_extern_sections():
    out = fix_datasecs(BTF.from_bytes(build()), {".kconfig": 8}, {(".kconfig", "c"): 4})
    fixed = BTF.from_bytes(bytes(out))
    assert fixed.type_by_id(6).size == 8
    assert secinfos(out, 6) == [(4, 4, 4)]


@pytest.mark.parametrize("sizes,offsets,message", [
    ({".data": 8}, {(".data", "a"): 0, (".data", "b"): 4, (".data", "c"): 8},
     r"DATASEC '.data': var 'c': offset 8 \+ size 4 beyond section size 8"),
    ({".data": -1}, {}, "DATASEC '.data': section size -1 out of u32 range"),
    ({}, {(".data", "a"): 1 << 32}, "DATASEC '.data': var 'a': offset 4294967296 out of u32 range"),
])
def test_errors(sizes, offsets, message):
    with pytest.raises(BTFError, match=message):
        fix_datasecs(BTF.from_bytes(build()), sizes, offsets)


def test_bad_var_reference():
    data = bytearray(build())
    # Point .data's first secinfo at a type id that does not exist.
    btf = BTF.from_bytes(bytes(data))
    struct.pack_into("<I", data, btf.type_offset(5) + 12, 99)
    with pytest.raises(BTFError, match="type id 99 out of range"):
        fix_datasecs(BTF.from_bytes(bytes(data)), {".data": 12}, {})


# -- a real object and the kernel -------------------------------------------

SOURCE = """
struct {
\tint (*type)[2];
\tint (*max_entries)[16];
} counts __attribute__((section(".maps"), used));
int g_data = 3;
struct pair { long x; char y; } g_pair = {1, 2};
char g_flag = 1;
long g_bss;
int g_bss2;
const volatile int g_ro = 7;
const volatile char g_ro_name[5] = "abc";
__attribute__((section("xdp"), used)) int prog(void *ctx)
{
\tg_bss += g_data + g_pair.y + g_flag + g_ro + g_ro_name[1];
\tg_bss2++;
\treturn 2;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


def elf_layout(data):
    """({section name: (offset, size)}, {(section name, symbol name):
    value}) of a little-endian ELF64 relocatable object."""
    assert data[:6] == b"\x7fELF\x02\x01"
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]

    def cstr(at):
        return data[at:data.index(b"\0", at)].decode()

    names = [cstr(headers[shstrndx][4] + h[0]) for h in headers]
    sections = dict((names[i], (h[4], h[5])) for i, h in enumerate(headers))
    symbols = {}
    for h in headers:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        strtab = headers[h[6]][4]
        for pos in range(h[4], h[4] + h[5], 24):
            st_name, st_info, _other, shndx, value, _size = struct.unpack_from("<IBBHQQ", data, pos)
            if st_info & 0xf == 1 and 0 < shndx < len(names):  # STT_OBJECT
                symbols[(names[shndx], cstr(strtab + st_name))] = value
    return sections, symbols


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    if CLANG is None:
        pytest.skip("clang not installed")
    tmp = str(tmp_path_factory.mktemp("sanitize"))
    src = os.path.join(tmp, "d.c")
    with open(src, "w") as f:
        f.write(SOURCE)
    out = os.path.join(tmp, "d.o")
    subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-c", src, "-o", out], check=True)
    with open(out, "rb") as f:
        data = f.read()
    sections, symbols = elf_layout(data)
    off, size = sections[".BTF"]
    sizes = dict((name, sec[1]) for name, sec in sections.items())
    return BTF.from_bytes(data[off:off + size], name="d.o"), sizes, symbols


def _datasecs(btf):
    return dict((btf.name_of(i), btf.type_by_id(i)) for i in btf.iter_ids()
                if btf.kind_of(i) == L.BTF_KIND_DATASEC)


def test_object_datasecs_fixed_from_elf(obj):
    btf, sizes, symbols = obj
    before = _datasecs(btf)
    assert set(before) == {".maps", ".data", ".bss", ".rodata", "license"}
    out = fix_datasecs(btf, dict((n, sizes[n]) for n in before), symbols)
    after = _datasecs(BTF.from_bytes(bytes(out)))
    for name, sec in after.items():
        assert sec.size == sizes[name]
        offsets = [v.offset for v in sec.vars]
        assert offsets == sorted(offsets)
        for v in sec.vars:
            var = btf.name_of(v.type)
            assert v.offset == symbols[(name, var)]
            assert v.offset + v.size <= sec.size
        assert sorted(btf.name_of(v.type) for v in sec.vars) == \
            sorted(btf.name_of(v.type) for v in before[name].vars)


_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
BPF_BTF_LOAD = 18


def btf_load(blob):
    """(fd or -1, errno, log) from bpf(BPF_BTF_LOAD)."""
    blob = bytearray(blob)
    log = bytearray(65536)
    attr = bytearray(40)
    address = ctypes.addressof
    struct.pack_into("<QQIII", attr, 0, address((ctypes.c_char * len(blob)).from_buffer(blob)),
                     address((ctypes.c_char * len(log)).from_buffer(log)), len(blob), len(log), 1)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(ctypes.c_long(_NR_BPF[platform.machine()]), ctypes.c_int(BPF_BTF_LOAD),
                      (ctypes.c_char * len(attr)).from_buffer(attr), ctypes.c_uint(len(attr)))
    return fd, ctypes.get_errno(), log.rstrip(b"\0").decode(errors="replace")


def test_kernel_accepts_fixed_btf(obj):
    if platform.machine() not in _NR_BPF:
        pytest.skip("bpf(2) number unknown for %s" % platform.machine())
    btf, sizes, symbols = obj
    fd, err, log = btf_load(btf.raw_bytes())
    if fd < 0 and err in (errno.EPERM, errno.EACCES, errno.ENOSYS):
        pytest.skip("bpf(BPF_BTF_LOAD) not allowed here (needs CAP_BPF, Linux 5.0+)")
    if fd >= 0:
        os.close(fd)
    # Why this module exists: the kernel refuses clang's DATASECs as written.
    assert fd < 0 and err == errno.EINVAL, log
    names = list(_datasecs(btf))
    fd, err, log = btf_load(fix_datasecs(btf, dict((n, sizes[n]) for n in names), symbols))
    assert fd >= 0, "errno %d: %s" % (err, log)
    os.close(fd)
