# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""BTF and BTF.ext of objects clang builds here, read by the bundled reader and checked against
their C source, bpftool and (when allowed) the kernel: .BTF.ext func_info/line_info/CO-RE records,
object BTF, fix_datasecs on clang's DATASECs, and btf_path pointing at an ELF. The hand-built
blobs of the same modules are in tests/unit/btf/."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import hashlib
import os
import platform
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import kernel as K
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import types as T
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import BTFCache
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import BTFExt, pack_func_info, pack_line_info
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import fix_datasecs
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from unit.btf.bpftool import bpftool_dump, bpftool_style, needs_bpftool

VMLINUX = "/sys/kernel/btf/vmlinux"
CLANG = shutil.which("clang")
OBJCOPY = shutil.which("llvm-objcopy")

needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                   reason="no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang not installed")
needs_objcopy = pytest.mark.skipif(CLANG is None or OBJCOPY is None, reason="clang or llvm-objcopy not installed")


# -- building and reading objects ------------------------------------------------

def compile_bpf(tmpdir, source, name):
    """Compile ``source`` with clang -O2 -g -target bpf; the object's path."""
    if CLANG is None:
        pytest.skip("clang not installed")
    src = os.path.join(str(tmpdir), name + ".c")
    obj = os.path.join(str(tmpdir), name + ".o")
    with open(src, "w") as f:
        f.write(source)
    subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-c", src, "-o", obj], check=True)
    return obj


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


def read_object(path):
    """(bytes, {section name: (offset, size)}, {(section, symbol): value}) of an object."""
    with open(path, "rb") as f:
        data = f.read()
    sections, symbols = elf_layout(data)
    return data, sections, symbols


def write(path, data, mode=0o644):
    with open(str(path), "wb") as f:
        f.write(data)
    os.chmod(str(path), mode)
    return str(path)


_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
BPF_PROG_LOAD = 5
BPF_BTF_LOAD = 18
BPF_PROG_TYPE_XDP = 6


def bpf(cmd, attr):
    """bpf(2) straight through ctypes, not through the loader under test: (result, errno)."""
    if platform.machine() not in _NR_BPF:
        pytest.skip("bpf(2) number unknown for %s" % platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    res = libc.syscall(ctypes.c_long(_NR_BPF[platform.machine()]), ctypes.c_int(cmd),
                       buf, ctypes.c_uint(len(attr)))
    return res, ctypes.get_errno()


def _addr(buf):
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


def btf_load(blob):
    """(fd or -1, errno, log) from bpf(BPF_BTF_LOAD)."""
    blob = bytearray(blob)
    log = bytearray(65536)
    attr = bytearray(40)
    struct.pack_into("<QQIII", attr, 0, _addr(blob), _addr(log), len(blob), len(log), 1)
    fd, err = bpf(BPF_BTF_LOAD, attr)
    return fd, err, log.rstrip(b"\0").decode(errors="replace")


# -- .BTF.ext ----------------------------------------------------------------------

EXT_SOURCE = """struct task { int pid; int tgid; } __attribute__((preserve_access_index));
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


class Obj:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.sections = elf_layout(self.data)[0]
        self.btf = BTF.from_bytes(self.section(".BTF"), name="e.o")
        self.ext = BTFExt.from_bytes(self.section(".BTF.ext"), self.btf.strings, name="e.o")

    def section(self, name):
        off, size = self.sections[name]
        return self.data[off:off + size]


@pytest.fixture(scope="module")
def ext_obj(tmp_path_factory):
    return Obj(compile_bpf(tmp_path_factory.mktemp("ext"), EXT_SOURCE, "e"))


def test_func_info_names_each_function(ext_obj):
    btf, ext = ext_obj.btf, ext_obj.ext
    got = {}
    for sec, (rec_size, records) in ext.func_info.items():
        assert rec_size >= 8
        got[sec] = [(off, btf.name_of(tid), btf.kind_of(tid)) for off, tid in records]
    assert got == {
        ".text": [(0, "twice", L.BTF_KIND_FUNC)],
        "xdp": [(0, "xdp_prog", L.BTF_KIND_FUNC)],
        "tc": [(0, "tc_prog", L.BTF_KIND_FUNC)],
    }


def test_line_info_points_at_source_lines(ext_obj):
    btf, ext = ext_obj.btf, ext_obj.ext
    source_lines = EXT_SOURCE.splitlines()
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


def test_core_relo(ext_obj):
    btf, ext = ext_obj.btf, ext_obj.ext
    assert ext.core_relo_rec_size >= 16
    assert list(ext.core_relos) == ["tc"]
    (insn_off, type_id, access_off, kind), = ext.core_relos["tc"]
    assert insn_off == 0
    assert btf.name_of(type_id) == "task"
    assert btf.strings.get(access_off) == "0:1"
    assert kind == 0  # FIELD_BYTE_OFFSET


def test_kernel_loads_program_with_packed_infos(ext_obj):
    if platform.machine() not in _NR_BPF:
        pytest.skip("bpf(2) number unknown for %s" % platform.machine())
    btf_bytes = fix_datasecs(ext_obj.btf, {"license": 4}, {})
    log = bytearray(65536)
    attr = bytearray(40)
    struct.pack_into("<QQIII", attr, 0, _addr(btf_bytes), _addr(log), len(btf_bytes), len(log), 1)
    btf_fd, err = bpf(BPF_BTF_LOAD, attr)
    if btf_fd < 0 and err in (errno.EPERM, errno.EACCES, errno.ENOSYS):
        pytest.skip("bpf(BPF_BTF_LOAD) not allowed here (needs CAP_BPF, Linux 5.0+)")
    assert btf_fd >= 0, log.rstrip(b"\0").decode(errors="replace")
    try:
        insns = bytearray(ext_obj.section("xdp"))
        func_rec, funcs = ext_obj.ext.func_info["xdp"]
        line_rec, lines = ext_obj.ext.line_info["xdp"]
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


# -- object BTF ----------------------------------------------------------------------

OBJ_SOURCE = """
typedef unsigned int u32;
typedef unsigned long long u64;
struct {
\tint (*type)[2];
\tint (*max_entries)[16];
\tu32 *key;
\tu64 *value;
} counts __attribute__((section(".maps"), used));
struct bits { unsigned a:3, b:5; int c; };
enum color { RED, GREEN = 5, BLUE = -1 };
int g_data = 3;
long g_bss;
const volatile int g_ro = 7;
struct bits g_bits = {1, 2, 3};
enum color g_color = GREEN;
static __attribute__((noinline)) int helper(int x) { return x * g_ro + g_bits.b; }
__attribute__((section("xdp"), used)) int prog(void *ctx)
{
\tg_bss += helper(g_data);
\treturn g_color == BLUE ? 1 : 2;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


@pytest.fixture(scope="module")
def object_btf(tmp_path_factory):
    obj = compile_bpf(tmp_path_factory.mktemp("obj"), OBJ_SOURCE, "obj")
    data, sections, _symbols = read_object(obj)
    off, size = sections[".BTF"]
    return obj, BTF.from_bytes(memoryview(data)[off:off + size], name="obj.o")


@needs_clang
def test_object_btf_contents(object_btf):
    _obj, btf = object_btf
    bits = btf.find("bits", L.BTF_KIND_STRUCT)
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in bits.members] == [
        ("a", 0, 3), ("b", 3, 5), ("c", 32, 0)]
    color = btf.find("color")
    assert isinstance(color, T.Enum)
    values = dict((v.name, v.value) for v in color.values)
    assert values["GREEN"] == 5
    assert values["BLUE"] in (-1, 0xffffffff)
    datasecs = dict((btf.name_of(i), btf.type_by_id(i)) for i in btf.iter_ids()
                    if btf.kind_of(i) == L.BTF_KIND_DATASEC)
    assert {".bss", ".data", ".rodata", ".maps", "license"} <= set(datasecs)
    data_vars = [btf.name_of(v.type) for v in datasecs[".data"].vars]
    assert data_vars == ["g_data", "g_bits", "g_color"]
    assert btf.sizeof(btf.find("g_bits", L.BTF_KIND_VAR).id) == 8
    prog = btf.find("prog", L.BTF_KIND_FUNC)
    assert prog.linkage == L.BTF_FUNC_GLOBAL
    proto = btf.type_by_id(prog.type)
    assert [p.name for p in proto.params] == ["ctx"]
    assert btf.find("helper").linkage == L.BTF_FUNC_STATIC
    assert btf.find("g_ro", L.BTF_KIND_VAR).linkage == L.BTF_VAR_GLOBAL_ALLOCATED
    ro = btf.type_by_id(btf.find("g_ro", L.BTF_KIND_VAR).type)
    assert isinstance(ro, T.Const)
    assert btf.sizeof(btf.find("counts").id) == 32


@needs_clang
@needs_bpftool
def test_object_btf_matches_bpftool(object_btf):
    obj, btf = object_btf
    dump = bpftool_dump(obj)
    assert btf.count == len(dump) + 1
    for type_id, block in dump.items():
        assert bpftool_style(btf, btf.type_by_id(type_id)) == block


# -- fix_datasecs on clang's DATASECs ------------------------------------------------

DATASEC_SOURCE = """
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


@pytest.fixture(scope="module")
def datasec_obj(tmp_path_factory):
    data, sections, symbols = read_object(compile_bpf(tmp_path_factory.mktemp("sanitize"), DATASEC_SOURCE, "d"))
    off, size = sections[".BTF"]
    sizes = dict((name, sec[1]) for name, sec in sections.items())
    return BTF.from_bytes(data[off:off + size], name="d.o"), sizes, symbols


def _datasecs(btf):
    return dict((btf.name_of(i), btf.type_by_id(i)) for i in btf.iter_ids()
                if btf.kind_of(i) == L.BTF_KIND_DATASEC)


def test_object_datasecs_fixed_from_elf(datasec_obj):
    btf, sizes, symbols = datasec_obj
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


def test_kernel_accepts_fixed_btf(datasec_obj):
    if platform.machine() not in _NR_BPF:
        pytest.skip("bpf(2) number unknown for %s" % platform.machine())
    btf, sizes, symbols = datasec_obj
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


# -- btf_path: an ELF ------------------------------------------------------------------

@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Compiled objects: a BPF object with BTF, a host object without
    .BTF, and a host object carrying vmlinux's BTF as .BTF."""
    d = tmp_path_factory.mktemp("objs")
    out = {"bpf": compile_bpf(d, "struct tiny { int a; long b; };\nstruct tiny tiny_var;\n"
                                 "int answer(struct tiny *t) { return t->a; }\n", "tiny.bpf"),
           "host": str(d / "host.o")}
    subprocess.check_call([CLANG, "-c", "-x", "c", "/dev/null", "-o", out["host"]])
    if OBJCOPY is not None and os.path.exists(VMLINUX):
        raw = write(d / "vmlinux.btf", open(VMLINUX, "rb").read())
        out["host_btf"] = str(d / "host_btf.o")
        subprocess.check_call([OBJCOPY, "--add-section", ".BTF=%s" % raw, out["host"], out["host_btf"]])
    return out


@needs_clang
def test_btf_path_bpf_object(objects):
    btf = KernelBTF(btf_path=objects["bpf"]).vmlinux
    tiny = btf.find("tiny", L.BTF_KIND_STRUCT)
    assert [m.name for m in tiny.members] == ["a", "b"]
    assert btf.sizeof(tiny.id) == 16


@needs_vmlinux
@needs_objcopy
def test_btf_path_host_elf_with_vmlinux_btf(objects, tmp_path):
    # A non-BPF ELF (this host's machine) carrying .BTF, as BTFHub files
    # and debug vmlinux images are.
    kernel = KernelBTF(btf_path=objects["host_btf"])
    btf = kernel.vmlinux
    with open(VMLINUX, "rb") as f:
        raw = f.read()
    assert btf.raw_bytes() == raw
    assert kernel.identity == hashlib.sha256(raw).hexdigest()
    # Through the cache too: built, then hit.
    for want in ("built", "hit"):
        cache = BTFCache(str(tmp_path / "cache"), "run1")
        btf = KernelBTF(btf_path=objects["host_btf"], cache=cache).vmlinux
        assert cache.status == want
        assert btf.ids_by_name("task_struct") == BTF.from_bytes(raw).ids_by_name("task_struct")


@needs_clang
def test_btf_path_elf_without_btf(objects):
    with pytest.raises(BTFError, match="ELF file without a .BTF section") as info:
        KernelBTF(btf_path=objects["host"]).vmlinux
    assert objects["host"] in str(info.value)


def test_read_btf_file_elf_is_a_view(tmp_path, objects):
    data = K.read_btf_file(objects["bpf"])
    assert isinstance(data, memoryview)
    assert bytes(data[:2]) in (b"\x9f\xeb", b"\xeb\x9f")
