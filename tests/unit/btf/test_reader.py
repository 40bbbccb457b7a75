# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the BTF reader against the running kernel's BTF (checked with
bpftool), hand-built blobs (split, big endian) and malformed input, which
must always give BTFError. BTF of a freshly compiled object:
tests/integration/test_btf_objects.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import mmap
import os
import random
import re
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import types as T
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.strings import StringTable
from unit.btf.bpftool import BPFTOOL, bpftool_dump, bpftool_style, needs_bpftool

VMLINUX = "/sys/kernel/btf/vmlinux"

needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                   reason="no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)


# -- hand-built BTF ---------------------------------------------------------

class Blob:
    """Builds a BTF blob record by record (for split BTF pass the base)."""

    def __init__(self, order="<", base=None):
        self.order = order
        self.base_strlen = len(base.strings) if base is not None else 0
        self.next_id = base.count if base is not None else 1
        # Split string sections need not start with NUL.
        self.strtab = bytearray(b"" if base is not None else b"\0")
        self.types = bytearray()

    def s(self, text):
        if not text:
            return 0
        off = self.base_strlen + len(self.strtab)
        self.strtab += (text if isinstance(text, bytes) else text.encode()) + b"\0"
        return off

    def u32(self, *values):
        return struct.pack(self.order + "%dI" % len(values), *values)

    def t(self, kind, name="", size_or_type=0, vlen=0, kflag=0, extra=b"", name_off=None):
        if name_off is None:
            name_off = self.s(name)
        self.types += self.u32(name_off, L.make_info(kind, vlen, kflag), size_or_type) + extra
        self.next_id += 1
        return self.next_id - 1

    def build(self, magic=L.BTF_MAGIC, version=1, flags=0, hdr_len=24, type_off=0,
              str_off=None, type_len=None, str_len=None):
        if str_off is None:
            str_off = type_off + len(self.types)
        hdr = struct.pack(self.order + "HBBIIIII", magic, version, flags, hdr_len, type_off,
                          len(self.types) if type_len is None else type_len, str_off,
                          len(self.strtab) if str_len is None else str_len)
        body = bytearray(max(type_off + len(self.types), str_off + len(self.strtab)))
        body[type_off:type_off + len(self.types)] = self.types
        body[str_off:str_off + len(self.strtab)] = self.strtab
        return hdr + b"\0" * (hdr_len - 24) + bytes(body)


def sample_blob(order="<"):
    """A blob with one record of every kind; returns (bytes, ids by label)."""
    b = Blob(order)
    ids = {}
    ids["int"] = b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32((L.BTF_INT_SIGNED << 24) | 32))
    ids["uchar"] = b.t(L.BTF_KIND_INT, "unsigned char", 1, extra=b.u32(8))
    ids["ptr"] = b.t(L.BTF_KIND_PTR, "", ids["int"])
    ids["arr"] = b.t(L.BTF_KIND_ARRAY, "", 0, extra=b.u32(ids["int"], ids["int"], 10))
    ids["struct"] = b.t(L.BTF_KIND_STRUCT, "pair", 16, vlen=2,
                        extra=b.u32(b.s("a"), ids["int"], 0) + b.u32(b.s("p"), ids["ptr"], 64))
    ids["bits"] = b.t(L.BTF_KIND_STRUCT, "bits", 4, vlen=2, kflag=1,
                      extra=b.u32(b.s("x"), ids["int"], (3 << 24) | 0) +
                      b.u32(b.s("y"), ids["int"], (5 << 24) | 3))
    ids["union"] = b.t(L.BTF_KIND_UNION, "u", 40, vlen=1, extra=b.u32(b.s("arr"), ids["arr"], 0))
    ids["enum"] = b.t(L.BTF_KIND_ENUM, "e", 4, vlen=2, kflag=1,
                      extra=b.u32(b.s("NEG"), 0xffffffff) + b.u32(b.s("POS"), 7))
    ids["fwd"] = b.t(L.BTF_KIND_FWD, "later", 0, kflag=1)
    ids["typedef"] = b.t(L.BTF_KIND_TYPEDEF, "myint", ids["int"])
    ids["volatile"] = b.t(L.BTF_KIND_VOLATILE, "", ids["typedef"])
    ids["const"] = b.t(L.BTF_KIND_CONST, "", ids["volatile"])
    ids["restrict"] = b.t(L.BTF_KIND_RESTRICT, "", ids["ptr"])
    ids["proto"] = b.t(L.BTF_KIND_FUNC_PROTO, "", ids["int"], vlen=2,
                       extra=b.u32(b.s("ctx"), ids["ptr"]) + b.u32(0, 0))
    ids["func"] = b.t(L.BTF_KIND_FUNC, "main", ids["proto"], vlen=L.BTF_FUNC_GLOBAL)
    ids["var"] = b.t(L.BTF_KIND_VAR, "counter", ids["int"], extra=b.u32(L.BTF_VAR_GLOBAL_ALLOCATED))
    ids["datasec"] = b.t(L.BTF_KIND_DATASEC, ".data", 8, vlen=1, extra=b.u32(ids["var"], 4, 4))
    ids["float"] = b.t(L.BTF_KIND_FLOAT, "double", 8)
    ids["decl_tag"] = b.t(L.BTF_KIND_DECL_TAG, "tag", ids["struct"], extra=struct.pack(order + "i", 1))
    ids["type_tag"] = b.t(L.BTF_KIND_TYPE_TAG, "user", ids["int"])
    ids["enum64"] = b.t(L.BTF_KIND_ENUM64, "e64", 8, vlen=2, kflag=1,
                        extra=b.u32(b.s("BIG"), 0xfffffffe, 0xffffffff) + b.u32(b.s("ONE"), 1, 0))
    ids["enum64u"] = b.t(L.BTF_KIND_ENUM64, "e64u", 8, vlen=1,
                         extra=b.u32(b.s("TOP"), 0, 0x80000000))
    return b.build(), ids


def _decoded(btf, label_ids):
    return dict((label, btf.type_by_id(i)) for label, i in label_ids.items())


EXPECTED_SAMPLE = {
    "int": lambda i: T.Int(i["int"], "int", 4, L.BTF_INT_SIGNED, 32, 0),
    "uchar": lambda i: T.Int(i["uchar"], "unsigned char", 1, 0, 8, 0),
    "ptr": lambda i: T.Pointer(i["ptr"], "", i["int"]),
    "arr": lambda i: T.Array(i["arr"], "", i["int"], i["int"], 10),
    "struct": lambda i: T.Struct(i["struct"], "pair", 16, (
        T.Member("a", i["int"], 0, 0), T.Member("p", i["ptr"], 64, 0))),
    "bits": lambda i: T.Struct(i["bits"], "bits", 4, (
        T.Member("x", i["int"], 0, 3), T.Member("y", i["int"], 3, 5))),
    "union": lambda i: T.Union(i["union"], "u", 40, (T.Member("arr", i["arr"], 0, 0),)),
    "enum": lambda i: T.Enum(i["enum"], "e", 4, (T.EnumValue("NEG", -1), T.EnumValue("POS", 7)), True),
    "fwd": lambda i: T.Fwd(i["fwd"], "later", True),
    "typedef": lambda i: T.Typedef(i["typedef"], "myint", i["int"]),
    "volatile": lambda i: T.Volatile(i["volatile"], "", i["typedef"]),
    "const": lambda i: T.Const(i["const"], "", i["volatile"]),
    "restrict": lambda i: T.Restrict(i["restrict"], "", i["ptr"]),
    "proto": lambda i: T.FuncProto(i["proto"], "", i["int"], (T.Param("ctx", i["ptr"]), T.Param("", 0))),
    "func": lambda i: T.Func(i["func"], "main", i["proto"], L.BTF_FUNC_GLOBAL),
    "var": lambda i: T.Var(i["var"], "counter", i["int"], L.BTF_VAR_GLOBAL_ALLOCATED),
    "datasec": lambda i: T.Datasec(i["datasec"], ".data", 8, (T.VarSecinfo(i["var"], 4, 4),)),
    "float": lambda i: T.Float(i["float"], "double", 8),
    "decl_tag": lambda i: T.DeclTag(i["decl_tag"], "tag", i["struct"], 1),
    "type_tag": lambda i: T.TypeTag(i["type_tag"], "user", i["int"]),
    "enum64": lambda i: T.Enum64(i["enum64"], "e64", 8, (T.EnumValue("BIG", -2), T.EnumValue("ONE", 1)), True),
    "enum64u": lambda i: T.Enum64(i["enum64u"], "e64u", 8, (T.EnumValue("TOP", 1 << 63),), False),
}


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("label", sorted(EXPECTED_SAMPLE))
def test_sample_blob_decodes_every_kind(order, label):
    data, ids = sample_blob(order)
    btf = BTF.from_bytes(data, name="sample")
    assert btf.byte_order == order
    assert btf.count == len(ids) + 1
    got = btf.type_by_id(ids[label])
    assert got == EXPECTED_SAMPLE[label](ids)
    assert btf.kind_of(ids[label]) == got.kind
    assert btf.name_of(ids[label]) == got.name
    assert btf.type_by_id(ids[label]) is got  # cached


def test_void_is_id_zero():
    data, _ids = sample_blob()
    btf = BTF.from_bytes(data)
    assert btf.type_by_id(0) == T.Void()
    assert btf.kind_of(0) == L.BTF_KIND_VOID
    assert btf.name_of(0) == ""
    assert btf.resolve(0) == 0


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, "mmap"])
def test_from_bytes_accepts_buffers(wrap, tmp_path):
    data, ids = sample_blob()
    if wrap == "mmap":
        path = tmp_path / "blob"
        path.write_bytes(data)
        with open(str(path), "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        btf = BTF.from_bytes(buf)
    else:
        btf = BTF.from_bytes(wrap(data))
    assert btf.find("pair").members[1].name == "p"
    assert btf.raw_bytes() == data


def test_from_file_names_after_file(tmp_path):
    data, _ids = sample_blob()
    path = tmp_path / "obj.btf"
    path.write_bytes(data)
    btf = BTF.from_file(str(path))
    assert btf.name == "obj.btf"
    assert btf.find("main", L.BTF_KIND_FUNC).linkage == L.BTF_FUNC_GLOBAL


def test_from_file_missing_gives_btferror(tmp_path):
    with pytest.raises(BTFError, match="cannot open"):
        BTF.from_file(str(tmp_path / "absent"))


@pytest.mark.parametrize("label,size", [
    ("int", 4), ("uchar", 1), ("ptr", 8), ("arr", 40), ("struct", 16), ("bits", 4),
    ("union", 40), ("enum", 4), ("typedef", 4), ("volatile", 4), ("const", 4),
    ("restrict", 8), ("var", 4), ("datasec", 8), ("float", 8), ("type_tag", 4),
    ("enum64", 8),
])
def test_sizeof(label, size):
    data, ids = sample_blob()
    assert BTF.from_bytes(data).sizeof(ids[label]) == size


@pytest.mark.parametrize("label", ["fwd", "proto", "func", "decl_tag"])
def test_sizeof_unsized_kinds(label):
    data, ids = sample_blob()
    with pytest.raises(BTFError, match="has no size"):
        BTF.from_bytes(data).sizeof(ids[label])


def test_sizeof_void_raises():
    data, _ids = sample_blob()
    with pytest.raises(BTFError, match="void"):
        BTF.from_bytes(data).sizeof(0)


@pytest.mark.parametrize("start,skip,want", [
    ("const", L.MODIFIER_KINDS, "int"),
    ("volatile", L.MODIFIER_KINDS, "int"),
    ("const", frozenset([L.BTF_KIND_CONST]), "volatile"),
    ("restrict", L.MODIFIER_KINDS, "ptr"),
    ("type_tag", L.MODIFIER_KINDS, "int"),
    ("int", L.MODIFIER_KINDS, "int"),
])
def test_resolve(start, skip, want):
    data, ids = sample_blob()
    assert BTF.from_bytes(data).resolve(ids[start], skip) == ids[want]


def test_lookup_by_name():
    data, ids = sample_blob()
    btf = BTF.from_bytes(data)
    assert btf.ids_by_name("pair") == (ids["struct"],)
    assert btf.ids_by_name("nothing") == ()
    assert btf.find("myint").type == ids["int"]
    assert btf.find("main", kind=L.BTF_KIND_FUNC).id == ids["func"]
    with pytest.raises(BTFError, match="no STRUCT 'main'"):
        btf.find("main", kind=L.BTF_KIND_STRUCT)
    with pytest.raises(BTFError, match="no type 'nothing'"):
        btf.find("nothing")


def test_find_ambiguous():
    b = Blob()
    i = b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32(32))
    b.t(L.BTF_KIND_STRUCT, "dup", 0)
    b.t(L.BTF_KIND_FWD, "dup")
    b.t(L.BTF_KIND_TYPEDEF, "dup", i)
    btf = BTF.from_bytes(b.build())
    assert btf.ids_by_name("dup") == (2, 3, 4)
    with pytest.raises(BTFError, match="ambiguous: 3 types"):
        btf.find("dup")
    assert btf.find("dup", L.BTF_KIND_FWD).id == 3


def test_iter_ids_and_type_offset():
    data, ids = sample_blob()
    btf = BTF.from_bytes(data)
    assert list(btf.iter_ids()) == list(range(1, btf.count))
    assert btf.type_offset(1) == 24
    # Record #2 follows INT's 12 + 4 bytes.
    assert btf.type_offset(2) == 24 + 16
    with pytest.raises(BTFError):
        btf.type_offset(0)
    with pytest.raises(BTFError):
        btf.type_offset(btf.count)


def test_string_table():
    data = b"\0abc\0de\0"
    st = StringTable(data, 0, len(data), name="t")
    assert len(st) == 8
    assert [st.get(0), st.get(1), st.get(2), st.get(5)] == ["", "abc", "bc", "de"]
    with pytest.raises(BTFError, match="string offset 8 out of range"):
        st.get(8)
    split = StringTable(memoryview(b"xy\0"), 0, 3, base=st, name="s")
    assert len(split) == 11
    assert [split.get(1), split.get(8), split.get(9)] == ["abc", "xy", "y"]
    with pytest.raises(BTFError, match="out of range"):
        split.get(11)


# -- split BTF over vmlinux --------------------------------------------------

@pytest.fixture(scope="module")
def vmlinux():
    if not os.path.exists(VMLINUX):
        pytest.skip("no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)
    return BTF.from_file(VMLINUX)


def _split_blob(base):
    b = Blob(base=base)
    pid_t = base.find("pid_t").id
    list_head = base.find("list_head", L.BTF_KIND_STRUCT).id
    # Reuse a base string for a name, as module BTF does.
    u32_name_off = L.LAYOUTS["<"].U32.unpack_from(base.raw_bytes(), base.type_offset(base.find("u32").id))[0]
    ids = {}
    ids["struct"] = b.t(L.BTF_KIND_STRUCT, "mod_thing", 32, vlen=3, extra=(
        b.u32(b.s("owner"), pid_t, 0) +
        b.u32(b.s("link"), list_head, 64) +
        b.u32(b.s("self"), base.count + 1, 192)))
    ids["ptr"] = b.t(L.BTF_KIND_PTR, "", ids["struct"])
    ids["typedef"] = b.t(L.BTF_KIND_TYPEDEF, name_off=u32_name_off, size_or_type=ids["ptr"])
    return b.build(), ids, pid_t, list_head


def test_split_btf_over_vmlinux(vmlinux):
    data, ids, pid_t, list_head = _split_blob(vmlinux)
    mod = BTF.from_bytes(data, name="mod", base=vmlinux)
    assert mod.first_id == vmlinux.count == ids["struct"]
    assert mod.count == vmlinux.count + 3
    st = mod.type_by_id(ids["struct"])
    assert st.name == "mod_thing"
    assert [(m.name, m.type, m.bit_offset) for m in st.members] == [
        ("owner", pid_t, 0), ("link", list_head, 64), ("self", ids["ptr"], 192)]
    # Base ids and names resolve through the split object.
    assert mod.type_by_id(pid_t) is vmlinux.type_by_id(pid_t)
    assert mod.name_of(list_head) == "list_head"
    assert mod.kind_of(list_head) == L.BTF_KIND_STRUCT
    assert mod.name_of(ids["typedef"]) == "u32"
    assert mod.ids_by_name("u32") == vmlinux.ids_by_name("u32") + (ids["typedef"],)
    assert mod.find("mod_thing").id == ids["struct"]
    assert mod.find("task_struct").id == vmlinux.find("task_struct").id
    assert mod.sizeof(ids["typedef"]) == 8
    assert mod.sizeof(ids["struct"]) == 32
    assert mod.type_by_id(mod.resolve(st.members[0].type)).name == "int"
    assert list(mod.iter_ids(include_base=False)) == sorted(ids.values())
    assert mod.type_offset(ids["struct"]) == 24
    with pytest.raises(BTFError):
        mod.type_offset(pid_t)
    with pytest.raises(BTFError, match="out of range"):
        mod.type_by_id(mod.count)


def test_split_btf_bad_reference(vmlinux):
    b = Blob(base=vmlinux)
    tid = b.t(L.BTF_KIND_PTR, "", vmlinux.count + 5)
    mod = BTF.from_bytes(b.build(), name="mod", base=vmlinux)
    with pytest.raises(BTFError, match="type #%d: referenced type id %d out of range"
                       % (tid, vmlinux.count + 5)):
        mod.type_by_id(tid)


# -- vmlinux against bpftool ------------------------------------------------

@pytest.fixture(scope="module")
def vmlinux_dump():
    if BPFTOOL is None or not os.path.exists(VMLINUX):
        pytest.skip("needs bpftool and %s" % VMLINUX)
    return bpftool_dump(VMLINUX)


@needs_vmlinux
@needs_bpftool
def test_vmlinux_count_matches_bpftool(vmlinux, vmlinux_dump):
    assert vmlinux.count == len(vmlinux_dump) + 1
    assert vmlinux.name == "vmlinux"


@needs_vmlinux
@needs_bpftool
@pytest.mark.parametrize("kind", sorted(set(L.KIND_NAMES) - {L.BTF_KIND_VOID}),
                         ids=L.kind_name)
def test_vmlinux_matches_bpftool_raw(vmlinux, vmlinux_dump, kind):
    # Every type of the kind, field by field (the header and member lines).
    seen = 0
    for type_id, block in vmlinux_dump.items():
        if block[0].split(" ", 2)[1] != L.kind_name(kind):
            continue
        t = vmlinux.type_by_id(type_id)
        assert bpftool_style(vmlinux, t) == block
        assert vmlinux.kind_of(type_id) == kind
        assert vmlinux.name_of(type_id) == t.name
        seen += 1
    if not seen:
        pytest.skip("this kernel's BTF has no %s" % L.kind_name(kind))


@needs_vmlinux
@needs_bpftool
def test_vmlinux_random_sample_matches_bpftool(vmlinux, vmlinux_dump):
    rng = random.Random(1234)
    # A fresh reader, so nothing comes from a cache other tests filled.
    fresh = BTF.from_file(VMLINUX)
    for type_id in rng.sample(sorted(vmlinux_dump), 300):
        assert bpftool_style(fresh, fresh.type_by_id(type_id)) == vmlinux_dump[type_id]


@needs_vmlinux
@needs_bpftool
def test_vmlinux_task_struct(vmlinux, vmlinux_dump):
    ts = vmlinux.find("task_struct")
    assert isinstance(ts, T.Struct)
    pid = ts.member("pid")
    assert pid is not None
    target = vmlinux.type_by_id(vmlinux.resolve(pid.type))
    assert isinstance(target, T.Int) and target.size == 4 and target.signed
    want = int(re.search(r" size=(\d+) ", vmlinux_dump[ts.id][0]).group(1))
    assert vmlinux.sizeof(ts.id) == want


@needs_vmlinux
@pytest.mark.parametrize("name,kind,cls", [
    ("u32", L.BTF_KIND_TYPEDEF, T.Typedef),
    ("bpf_map_type", L.BTF_KIND_ENUM, T.Enum),
    ("schedule", L.BTF_KIND_FUNC, T.Func),
    ("list_head", L.BTF_KIND_STRUCT, T.Struct),
])
def test_vmlinux_by_name(vmlinux, name, kind, cls):
    t = vmlinux.find(name, kind)
    assert isinstance(t, cls) and t.name == name and t.kind == kind
    assert t.id in vmlinux.ids_by_name(name)


@needs_vmlinux
def test_vmlinux_details(vmlinux):
    assert vmlinux.find("bpf_map_type").value_of("BPF_MAP_TYPE_HASH") == 1
    u32 = vmlinux.find("u32")
    assert vmlinux.sizeof(u32.id) == 4
    assert vmlinux.type_by_id(vmlinux.resolve(u32.id)).name == "unsigned int"
    sched = vmlinux.find("schedule", L.BTF_KIND_FUNC)
    assert isinstance(vmlinux.type_by_id(sched.type), T.FuncProto)
    with pytest.raises(BTFError, match="has no size"):
        vmlinux.sizeof(sched.id)
    assert vmlinux.sizeof(vmlinux.find("list_head", L.BTF_KIND_STRUCT).id) == 16


@needs_vmlinux
def test_vmlinux_sizeof_every_datasec_var(vmlinux):
    # Each variable's size in the DATASEC equals sizeof its type.
    for type_id in vmlinux.iter_ids():
        if vmlinux.kind_of(type_id) == L.BTF_KIND_DATASEC:
            for v in vmlinux.type_by_id(type_id).vars:
                assert vmlinux.sizeof(v.type) == v.size


# -- malformed input --------------------------------------------------------

def _exercise(data):
    """Everything a caller may do with a blob; only BTFError may escape."""
    btf = BTF.from_bytes(data, name="bad")
    for type_id in btf.iter_ids():
        for op in (btf.type_by_id, btf.kind_of, btf.name_of, btf.sizeof, btf.resolve):
            try:
                op(type_id)
            except BTFError:
                pass
    btf.ids_by_name("x")
    return btf


def test_truncated_at_every_byte():
    data, _ids = sample_blob()
    for n in range(len(data)):
        with pytest.raises(BTFError):
            _exercise(data[:n])
    _exercise(data)


def test_random_corruption_gives_only_btferror():
    data, _ids = sample_blob()
    rng = random.Random(7)
    for _trial in range(3000):
        blob = bytearray(data)
        for _j in range(rng.randint(1, 4)):
            pos = rng.randrange(len(blob))
            blob[pos] = rng.randrange(256) if rng.random() < 0.7 else blob[pos] ^ (1 << rng.randrange(8))
        try:
            _exercise(bytes(blob))
        except BTFError:
            pass


def _int_blob():
    b = Blob()
    b.t(L.BTF_KIND_INT, "int", 4, extra=b.u32(32))
    return b


HEADER_CASES = [
    ("empty", lambda: b"", "header truncated: got 0 bytes, want at least 24"),
    ("short", lambda: _int_blob().build()[:23], "header truncated"),
    ("bad magic", lambda: _int_blob().build(magic=0x1234), "bad magic 0x3412"),
    ("version", lambda: _int_blob().build(version=2), "unsupported version 2: want 1"),
    ("flags", lambda: _int_blob().build(flags=1), "unsupported header flags 0x1"),
    ("hdr_len short", lambda: _int_blob().build(hdr_len=20), "hdr_len 20 shorter"),
    ("hdr_len beyond", lambda: _int_blob().build()[:24].replace(b"\x18\0\0\0", b"\0\x10\0\0", 1),
     "hdr_len 4096 beyond data of 24 bytes"),
    ("type beyond", lambda: _int_blob().build(type_len=400), r"type section \[24, 424\) beyond data"),
    ("str beyond", lambda: _int_blob().build(str_len=100), r"string section \[\d+, \d+\) beyond data"),
    ("unaligned", lambda: _int_blob().build(type_off=2), "not 4-byte aligned"),
    ("overlap", lambda: _int_blob().build(str_off=4), "overlaps string section"),
    ("no leading nul", lambda: _bad_strings(b"x\0"), "must start with a NUL"),
    ("no trailing nul", lambda: _bad_strings(b"\0x"), "does not end with a NUL"),
    ("empty strings", lambda: _bad_strings(b""), "must start with a NUL"),
]


def _bad_strings(strtab):
    b = _int_blob()
    b.strtab = bytearray(strtab)
    b.types = bytearray(b.u32(0, L.make_info(L.BTF_KIND_INT), 4, 32))
    return b.build()


def _unknown_kind(kind):
    b = _int_blob()
    b.types += b.u32(0, kind << 24, 0)
    return b.build()


def _overlong_struct():
    b = _int_blob()
    b.t(L.BTF_KIND_STRUCT, "s", 8, vlen=3, extra=b.u32(0, 1, 0))
    return b.build()


def _half_record():
    b = _int_blob()
    b.types += b.u32(0, L.make_info(L.BTF_KIND_PTR))
    return b.build()


SCAN_CASES = [
    ("kind 20", lambda: _unknown_kind(20), "type #2: unknown kind 20"),
    ("kind 31", lambda: _unknown_kind(31), "type #2: unknown kind 31"),
    ("kind 0", lambda: _unknown_kind(0), "type #2: unknown kind 0"),
    ("struct vlen", _overlong_struct, r"type #2 \(STRUCT\) at offset \d+: record truncated: needs 48 bytes"),
    ("half record", _half_record, "type #2 at offset 40: record truncated: btf_type needs 12"),
]


# A bad header or a bad type section: the blob is refused as a whole.
@pytest.mark.parametrize("label,make,message", HEADER_CASES + SCAN_CASES,
                         ids=[c[0] for c in HEADER_CASES + SCAN_CASES])
def test_bad_blob(label, make, message):
    with pytest.raises(BTFError, match=message):
        BTF.from_bytes(make(), name="bad")


def _lazy_case(build):
    b = _int_blob()
    tid = build(b)
    return BTF.from_bytes(b.build(), name="bad"), tid


LAZY_CASES = [
    ("name offset", lambda b: b.t(L.BTF_KIND_PTR, name_off=999, size_or_type=1),
     "type_by_id", r"BTF 'bad': type #2: name: string offset 999 out of range"),
    ("name offset via name_of", lambda b: b.t(L.BTF_KIND_PTR, name_off=999, size_or_type=1),
     "name_of", "type #2: name: string offset 999"),
    ("name offset via index", lambda b: b.t(L.BTF_KIND_PTR, name_off=999, size_or_type=1),
     "ids_by_name", "type #2: name: string offset 999"),
    ("member name", lambda b: b.t(L.BTF_KIND_STRUCT, "s", 4, vlen=2,
                                  extra=b.u32(b.s("ok"), 1, 0) + b.u32(500, 1, 0)),
     "type_by_id", "type #2: member #1 name: string offset 500"),
    ("member type", lambda b: b.t(L.BTF_KIND_STRUCT, "s", 4, vlen=3,
                                  extra=b.u32(0, 1, 0) * 2 + b.u32(0, 99999, 0)),
     "type_by_id", r"BTF 'bad': type #2: member #2 type id 99999 out of range \(have 3 types\)"),
    ("ptr target", lambda b: b.t(L.BTF_KIND_PTR, "", 3),
     "type_by_id", "type #2: referenced type id 3 out of range"),
    ("array elem", lambda b: b.t(L.BTF_KIND_ARRAY, extra=b.u32(7, 1, 2)),
     "type_by_id", "type #2: element type id 7 out of range"),
    ("array elem sizeof", lambda b: b.t(L.BTF_KIND_ARRAY, extra=b.u32(7, 1, 2)),
     "sizeof", "type id 7 out of range"),
    ("param", lambda b: b.t(L.BTF_KIND_FUNC_PROTO, "", 1, vlen=1, extra=b.u32(0, 8)),
     "type_by_id", "type #2: param #0 type id 8 out of range"),
    ("return", lambda b: b.t(L.BTF_KIND_FUNC_PROTO, "", 8),
     "type_by_id", "type #2: return type id 8 out of range"),
    ("datasec var", lambda b: b.t(L.BTF_KIND_DATASEC, ".data", 4, vlen=1, extra=b.u32(9, 0, 4)),
     "type_by_id", "type #2: var #0 type id 9 out of range"),
    ("typedef resolve", lambda b: b.t(L.BTF_KIND_TYPEDEF, "t", 9),
     "resolve", "type #2: referenced type id 9 out of range"),
    ("bad utf-8", lambda b: b.t(L.BTF_KIND_TYPEDEF, name_off=b.s(b"\xff\xfe"), size_or_type=1),
     "type_by_id", "string at offset 5 is not valid UTF-8"),
]


@pytest.mark.parametrize("label,build,op,message", LAZY_CASES, ids=[c[0] for c in LAZY_CASES])
def test_bad_reference_found_on_use(label, build, op, message):
    btf, tid = _lazy_case(build)
    call = getattr(btf, op)
    with pytest.raises(BTFError, match=message):
        call("x") if op == "ids_by_name" else call(tid)


@pytest.mark.parametrize("id_", [-1, 2, 10 ** 6])
@pytest.mark.parametrize("op", ["type_by_id", "kind_of", "name_of", "sizeof", "resolve"])
def test_id_out_of_range(op, id_):
    btf = BTF.from_bytes(_int_blob().build(), name="bad")
    with pytest.raises(BTFError, match="type id %d out of range" % id_):
        getattr(btf, op)(id_)


def _cycle(kind_a, kind_b):
    b = _int_blob()
    a = b.next_id
    if kind_a == L.BTF_KIND_ARRAY:
        b.t(kind_a, extra=b.u32(a + 1, 1, 2))
    elif kind_a == L.BTF_KIND_VAR:
        b.t(kind_a, "A", a + 1, extra=b.u32(L.BTF_VAR_STATIC))
    else:
        b.t(kind_a, "A", a + 1)
    b.t(kind_b, "B", a)
    return BTF.from_bytes(b.build(), name="bad"), a


@pytest.mark.parametrize("kind_a,kind_b", [
    (L.BTF_KIND_TYPEDEF, L.BTF_KIND_TYPEDEF),
    (L.BTF_KIND_CONST, L.BTF_KIND_VOLATILE),
    (L.BTF_KIND_ARRAY, L.BTF_KIND_TYPEDEF),
    (L.BTF_KIND_VAR, L.BTF_KIND_TYPEDEF),
])
def test_reference_cycle_sizeof(kind_a, kind_b):
    btf, a = _cycle(kind_a, kind_b)
    with pytest.raises(BTFError, match="sizeof type #%d: reference chain longer than 32 hops" % a):
        btf.sizeof(a)


def test_reference_cycle_resolve():
    btf, a = _cycle(L.BTF_KIND_TYPEDEF, L.BTF_KIND_TYPEDEF)
    with pytest.raises(BTFError, match="resolve type #%d: reference chain longer" % a):
        btf.resolve(a)
    # A cycle is only a problem when followed: decoding one link is fine.
    assert btf.type_by_id(a).type == a + 1


def test_deep_chain_within_limit_resolves():
    b = _int_blob()
    prev = 1
    for _level in range(30):
        prev = b.t(L.BTF_KIND_TYPEDEF, "t", prev)
    btf = BTF.from_bytes(b.build())
    assert btf.resolve(prev) == 1
    assert btf.sizeof(prev) == 4


def test_not_a_buffer():
    with pytest.raises(BTFError, match="not a buffer"):
        BTF.from_bytes(12345)


def test_big_endian_matches_little_endian():
    le, ids = sample_blob("<")
    be, _ids = sample_blob(">")
    a = BTF.from_bytes(le)
    b = BTF.from_bytes(be)
    for type_id in a.iter_ids():
        assert a.type_by_id(type_id) == b.type_by_id(type_id)


def test_split_base_byte_order_mismatch():
    le, _ids = sample_blob("<")
    base = BTF.from_bytes(le)
    b = Blob(">", base=base)
    b.t(L.BTF_KIND_PTR, "", 1)
    with pytest.raises(BTFError, match="byte order > differs from base"):
        BTF.from_bytes(b.build(), base=base)
