# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the loader does with input it must refuse.

Every case must raise a LoaderError subclass (never another exception),
and afterwards nothing may be pinned in the pin directory and no map or
program of ours may be left in the kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import random
import shutil
import struct
import subprocess
import traceback

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    ELFError, LoaderError, SpecError, SyscallError, VerifierError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load_file import load_file
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object_bytes

from kernel_helpers import (
    TEST_OBJECTS, XDP_PASS, Snapshot, assert_maps_pinned, assert_nothing_left, assert_pin_dir_empty, object_names, run)

HERE = os.path.dirname(os.path.abspath(__file__))
BPF_SRC = os.path.join(HERE, "..", "bpf")


@pytest.fixture(scope="module")
def all_names(bpf_build):
    """Kernel names of every map and program of the test objects: what a
    load of a damaged copy of one of them could create."""
    names = set()
    for name in TEST_OBJECTS:
        names |= object_names(bpf_build.path(name))
    return names


def refuse(path, pin_dir, names, exc_type=LoaderError, **kwargs):
    """load_file(path) must raise exc_type (a LoaderError) and leave
    nothing behind. Returns the exception."""
    before = Snapshot()
    error = None
    try:
        coll = load_file(path, pin_dir=pin_dir, **kwargs)
    except LoaderError as e:
        error = e
    except Exception as e:  # the point of this file: say exactly what escaped
        pytest.fail("%s escaped instead of a LoaderError: %s\n%s" % (
            type(e).__name__, e, "".join(traceback.format_exception(type(e), e, e.__traceback__))))
    else:
        coll.unpin()
        coll.close()
        pytest.fail("%s loaded, want %s" % (os.path.basename(path), exc_type.__name__))
    assert isinstance(error, exc_type), "%s: %s, want %s" % (type(error).__name__, error, exc_type.__name__)
    assert str(error), "empty error message"
    assert_pin_dir_empty(pin_dir)
    assert_nothing_left(before, names)
    return error


# ---------------------------------------------------------------- damaged files

TRUNCATED = [(obj, k) for obj in ("globals", "maps") for k in range(8)]


@pytest.mark.parametrize("obj,eighths", TRUNCATED, ids=["%s.o-first-%d-of-8" % c for c in TRUNCATED])
def test_truncated_object(bpf_build, tmp_path, pin_dir, all_names, obj, eighths):
    data = open(bpf_build.path(obj), "rb").read()
    path = tmp_path / ("%s.o" % obj)
    path.write_bytes(data[:len(data) * eighths // 8])
    err = refuse(str(path), pin_dir, all_names, ELFError)
    assert "truncated" in str(err)


def _garbage(seed, size, prefix=b""):
    rnd = random.Random(seed)
    return prefix + bytes(rnd.randrange(256) for _byte in range(size))


# ELF64 little-endian EM_BPF header fields for hand-made files.
def _elf_header(shoff=0, shnum=0, shstrndx=0, machine=247):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64, shnum, shstrndx)


GARBAGE = [
    ("empty-file", b""),
    ("random-16-bytes", _garbage(1, 16)),
    ("random-64-bytes", _garbage(2, 64)),
    ("random-4KiB", _garbage(3, 4096)),
    ("random-64KiB", _garbage(4, 65536)),
    ("elf-magic-then-random", _garbage(5, 4096, b"\x7fELF")),
    ("elf64-header-then-random", _garbage(6, 4096, b"\x7fELF\x02\x01\x01")),
    ("bpf-elf-header-only", _elf_header()),
    ("bpf-elf-section-headers-past-eof", _elf_header(shoff=64, shnum=5, shstrndx=1)),
    ("bpf-elf-random-section-headers", _elf_header(shoff=64, shnum=8, shstrndx=3) + _garbage(7, 8 * 64)),
    ("text-file", b"SEC(\"xdp\") int prog(void *ctx) { return 2; }\n" * 10),
]


@pytest.mark.parametrize("data", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage(tmp_path, pin_dir, all_names, data):
    path = tmp_path / "garbage.o"
    path.write_bytes(data)
    refuse(str(path), pin_dir, all_names, ELFError)


def test_non_bpf_elf(pin_dir, all_names):
    exe = "/bin/true"
    if not os.path.exists(exe):
        pytest.skip("no /bin/true")
    err = refuse(exe, pin_dir, all_names, ELFError)
    assert "e_machine" in str(err) and "true" in str(err)


def test_big_endian_object(tmp_path, pin_dir, all_names):
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    out = tmp_path / "globals-bpfeb.o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpfeb", "-I", BPF_SRC, "-c",
                    os.path.join(BPF_SRC, "globals.c"), "-o", str(out)], check=True)
    err = refuse(str(out), pin_dir, all_names, ELFError)
    assert "big-endian" in str(err) and "bpfel" in str(err)


def test_missing_file(tmp_path, pin_dir, all_names):
    path = str(tmp_path / "does-not-exist.o")
    err = refuse(path, pin_dir, all_names)
    assert "does-not-exist.o" in str(err) and "cannot read" in str(err)


def test_directory_instead_of_file(tmp_path, pin_dir, all_names):
    err = refuse(str(tmp_path), pin_dir, all_names)
    assert "cannot read" in str(err)


# ---------------------------------------------------------------- objects the loader must refuse

def test_unknown_program_section(bpf_build, pin_dir):
    path = bpf_build.path("unknown_section")
    err = refuse(path, pin_dir, object_names(path), SpecError)
    assert "'not_a_program_type/foo'" in str(err) and "'mystery'" in str(err)


def test_unknown_program_section_other_programs_load(bpf_build, pin_dir):
    with load_file(bpf_build.path("unknown_section"), pin_dir=pin_dir, programs=["fine"]) as coll:
        try:
            assert list(coll.programs) == ["fine"]
            assert run(coll.programs["fine"]) == XDP_PASS
            assert os.path.exists(os.path.join(pin_dir, "progs", "fine"))
        finally:
            coll.unpin()
    assert_pin_dir_empty(pin_dir)


def test_unknown_program_name(bpf_build, pin_dir):
    path = bpf_build.path("subprog")
    err = refuse(path, pin_dir, object_names(path), SpecError, programs=["calls", "no_such_program"])
    assert "'no_such_program'" in str(err)
    assert "calls, calls_again" in str(err)  # what there is


def test_duplicate_program_name_leaves_nothing(bpf_build):
    path = bpf_build.path("subprog")
    before = Snapshot()
    try:
        coll = load_file(path, programs=["calls", "calls"])
    except SpecError as e:     # refusing the duplicate is fine too
        assert "'calls'" in str(e)
    else:
        assert list(coll.programs) == ["calls"]
        coll.close()
    assert_nothing_left(before, object_names(path))


def test_no_license(bpf_build, pin_dir):
    path = bpf_build.path("no_license")
    err = refuse(path, pin_dir, object_names(path), VerifierError)
    assert "printk_without_license" in err.message
    assert "GPL" in err.log
    assert err.hint and "license" in err.hint


def test_bad_verifier(bpf_build, pin_dir):
    path = bpf_build.path("bad_verifier")
    err = refuse(path, pin_dir, object_names(path), VerifierError)
    assert "'unchecked_packet_read'" in err.message
    assert err.log_tail.strip()
    assert "invalid access to packet" in err.log_tail
    assert "invalid access to packet" in str(err)  # shown to the operator


def test_pin_already_taken(bpf_build, pin_dir):
    """A pin in the way: the load fails after maps and programs were
    created and some pinned; they all go, and the pin in the way stays."""
    path = bpf_build.path("maps")
    first = load_file(bpf_build.path("legacy"))
    try:
        os.makedirs(os.path.join(pin_dir, "maps"))
        squatter = os.path.join(pin_dir, "maps", "typedefd")   # not the first map pinned
        syscalls.obj_pin(first.maps["legacy_array"].fd, squatter)
        before = Snapshot()
        with pytest.raises(SyscallError) as exc:
            load_file(path, pin_dir=pin_dir)
        assert exc.value.errno == errno.EEXIST
        assert squatter in str(exc.value)
        assert sorted(os.listdir(pin_dir)) == ["maps"]
        assert os.listdir(os.path.join(pin_dir, "maps")) == ["typedefd"]
        fd = syscalls.obj_get(squatter)
        try:
            assert syscalls.map_info(fd).id == first.maps["legacy_array"].id
        finally:
            os.close(fd)
        assert_nothing_left(before, object_names(path))
    finally:
        first.close()


def test_second_load_into_same_pin_dir(bpf_build, pin_dir):
    path = bpf_build.path("legacy")
    with load_file(path, pin_dir=pin_dir) as first:
        pins = sorted(first.pins)
        try:
            before = Snapshot()
            with pytest.raises(SyscallError) as exc:
                load_file(path, pin_dir=pin_dir)
            assert exc.value.errno == errno.EEXIST
            assert_nothing_left(before, object_names(path))
            # The first load's pins are untouched.
            assert_maps_pinned(pin_dir, first.maps)
            assert sorted(first.pins) == pins
        finally:
            first.unpin()
    assert_pin_dir_empty(pin_dir)


def test_pin_dir_with_a_dot(bpf_build, pin_dir):
    path = bpf_build.path("legacy")
    dotted = os.path.join(pin_dir, "v1.2")
    err = refuse(path, dotted, object_names(path))
    assert "'v1.2'" in str(err)
    assert_pin_dir_empty(pin_dir)


# ---------------------------------------------------------------- corrupted fields

def _section_headers(data):
    shoff, = struct.unpack_from("<Q", data, 40)
    shnum, shstrndx = struct.unpack_from("<HH", data, 60)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for i, h in enumerate(hdrs):
        end = data.index(b"\0", stroff + h[0])
        out[data[stroff + h[0]:end].decode()] = (i, shoff + i * 64, h)
    return out


# BTF record sizes after the 12-byte common header, by kind: fixed + per vlen entry.
_BTF_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0), 8: (0, 0),
              9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0), 15: (0, 12), 16: (0, 0),
              17: (4, 0), 18: (0, 0), 19: (0, 12)}


def _btf_types(data):
    """[(id, file offset, kind, name, vlen, size_or_type)] of the .BTF section."""
    sec = _section_headers(data)[".BTF"][2]
    base = sec[4]
    _magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data, base)
    types_at = base + hdr_len + type_off
    strs_at = base + hdr_len + str_off
    out = []
    pos, tid = types_at, 1
    while pos < types_at + type_len:
        name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x7f, info & 0xffffff
        name = data[strs_at + name_off:data.index(b"\0", strs_at + name_off)].decode()
        out.append((tid, pos, kind, name, vlen, size_or_type))
        fixed, per = _BTF_EXTRA[kind]
        pos += 12 + fixed + per * vlen
        tid += 1
    return out


def _patched(bpf_build, tmp_path, obj, patch):
    data = bytearray(open(bpf_build.path(obj), "rb").read())
    patch(data)
    path = tmp_path / ("%s-corrupt.o" % obj)
    path.write_bytes(bytes(data))
    return str(path)


def _bss_size(size):
    def patch(data):
        _i, at, _h = _section_headers(bytes(data))[".bss"]
        struct.pack_into("<Q", data, at + 32, size)
    return patch


def _kconfig_datasec_entry_void(data):
    for _tid, pos, kind, name, _vlen, _s in _btf_types(bytes(data)):
        if kind == 15 and name == ".kconfig":
            struct.pack_into("<I", data, pos + 12, 0)   # first VarSecinfo's type: void
            return
    raise AssertionError("no DATASEC .kconfig")


def _kconfig_int_size_zero(data):
    types = _btf_types(bytes(data))
    by_id = dict((t[0], t) for t in types)
    for _tid, _pos, kind, name, _vlen, target in types:
        if kind == 14 and name == "LINUX_KERNEL_VERSION":
            while by_id[target][2] != 1:          # follow typedefs to the INT
                target = by_id[target][5]
            struct.pack_into("<I", data, by_id[target][1] + 8, 0)
            return
    raise AssertionError("no VAR LINUX_KERNEL_VERSION")


CORRUPT = [
    ("globals", "bss-size-2^40", _bss_size(1 << 40),
     "maps_spec.py _parse_data_maps: bytearray(sec.size) for a SHT_NOBITS section of any size: MemoryError"),
    ("globals", "bss-size-2^64-1", _bss_size((1 << 64) - 1),
     "maps_spec.py _parse_data_maps: bytearray(sec.size) for a SHT_NOBITS section of any size: OverflowError"),
    ("kconfig", "kconfig-datasec-entry-not-a-var", _kconfig_datasec_entry_void,
     "kconfig.py parse_externs: a .kconfig DATASEC entry that is not a VAR: AttributeError "
     "('Void' object has no attribute 'type')"),
    ("kconfig", "kconfig-extern-int-of-size-0", _kconfig_int_size_zero,
     "kconfig.py parse_externs: an extern whose INT type has size 0 gets alignment 0: ZeroDivisionError"),
]


@pytest.mark.parametrize("obj,patch", [pytest.param(c[0], c[2], id=c[1]) for c in CORRUPT])
def test_corrupted_field(bpf_build, tmp_path, pin_dir, all_names, obj, patch):
    refuse(_patched(bpf_build, tmp_path, obj, patch), pin_dir, all_names)


# ---------------------------------------------------------------- fuzz

# Bugs with their own (xfail) cases above: (file, function, exception type).
KNOWN_BUGS = set()


def _small_maps(spec):
    """A damaged max_entries or size could make the kernel allocate
    gigabytes: fuzzed specs with large maps are only parsed, not loaded."""
    maps = list(spec.maps.values()) + [m.inner for m in spec.maps.values() if m.inner is not None]
    return all(m.max_entries <= 1 << 20 and (m.key_size + m.value_size) * max(m.max_entries, 1) <= 16 << 20
               for m in maps)


def _bug_signature(e):
    frame = traceback.extract_tb(e.__traceback__)[-1]
    return (os.path.basename(frame.filename), frame.name, type(e).__name__)


@pytest.mark.parametrize("obj", TEST_OBJECTS)
def test_fuzzed_object(bpf_build, pin_dir, all_names, obj):
    """200 copies with 1-6 random bytes changed (fixed seed): each is
    refused with a LoaderError or loads (then it is unpinned and closed)."""
    data = open(bpf_build.path(obj), "rb").read()
    rnd = random.Random("ebpf-deploy:" + obj)
    before = Snapshot()
    escaped = {}
    for i in range(200):
        buf = bytearray(data)
        for _flip in range(rnd.randint(1, 6)):
            pos = rnd.randrange(len(buf))
            buf[pos] = rnd.choice((rnd.randrange(256), 0, 0xff, buf[pos] ^ 1))
        try:
            spec = read_object_bytes(bytes(buf), "%s-fuzz-%d" % (obj, i))
            if not _small_maps(spec):
                continue
            coll = load_collection(spec, pin_dir=pin_dir)
        except LoaderError:
            continue
        except Exception as e:
            sig = _bug_signature(e)
            if sig not in KNOWN_BUGS:
                escaped.setdefault(sig, (i, str(e)))
            continue
        coll.unpin()
        coll.close()
    assert not escaped, "non-LoaderError exceptions (file, function, type) -> (case, message): %s" % escaped
    assert_pin_dir_empty(pin_dir)
    assert_nothing_left(before, all_names)


def test_memlock_shortfall_on_rlimit_kernels_names_the_figure_and_keeps_the_old_version(bpf_build, pin_dir,
                                                                                        monkeypatch):
    """This kernel charges memcg, so the kernel's EPERM for a full
    RLIMIT_MEMLOCK (kernels < 5.11) is simulated at the map-create call and
    the accounting mode read as 'rlimit'; the reconcile path around it is
    real: the message, and the live version left as it was."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.memlock import accounting as memlock
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired

    obj = os.path.join(bpf_build.dir, "maps.o")
    converge(Desired("m", pin_dir, path=obj))
    before = sorted(os.listdir(os.path.join(pin_dir, "m", "maps")))

    def refuse(*args, **kwargs):
        raise SyscallError("map 'hash_prealloc': create", errno.EPERM)

    monkeypatch.setattr(syscalls, "map_create", refuse)
    monkeypatch.setattr(memlock, "accounting_mode", lambda release=None: "rlimit")
    monkeypatch.setattr(memlock, "rlimit_memlock", lambda: 65536)
    with pytest.raises(LoaderError) as info:
        converge(Desired("m", pin_dir, path=obj, maps={"hash_prealloc": {"max_entries": 4096}}))
    text = str(info.value)
    assert "map 'hash_prealloc': create" in text and "EPERM" in text and "RLIMIT_MEMLOCK, which is 65536 bytes" in text
    assert "needs about" in text and "bpf_host_memlock" in info.value.hint
    monkeypatch.undo()
    assert sorted(os.listdir(os.path.join(pin_dir, "m", "maps"))) == before
    assert not os.path.exists(os.path.join(pin_dir, "m__staging"))
    assert converge(Desired("m", pin_dir, path=obj))["changed"] is False
    converge(Desired("m", pin_dir, state="absent"))
