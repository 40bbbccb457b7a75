# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the per-run BTF cache against the running kernel's BTF: a hit
answers exactly as a fresh parse; every damaged, foreign, wrong-version or
planted file is replaced, never trusted or written through; unusable
directories degrade to 'bypassed'; concurrent builders; run lifetime.
Directories of another user and read-only or full file systems need root:
tests/integration/test_btf_cache_root.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import multiprocessing
import os
import random
import shutil
import stat
import struct
import zlib

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import index_format as F
from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import BTFCache, make_cache
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.run_dir import DEFAULT_DIRECTORY, remove_run
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, LoaderError

VMLINUX = "/sys/kernel/btf/vmlinux"
RUN = "run-1"

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                reason="no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)


def small_btf(names):
    """A raw BTF blob of 4-byte INTs called ``names``."""
    strtab = bytearray(b"\0")
    types = bytearray()
    for name in names:
        types += struct.pack("<IIII", len(strtab), L.make_info(L.BTF_KIND_INT), 4, 32)
        strtab += name.encode() + b"\0"
    return struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab)) + \
        bytes(types) + bytes(strtab)


@pytest.fixture(scope="module")
def fresh():
    btf = BTF.from_file(VMLINUX)
    btf.ids_by_name("task_struct")
    return btf


@pytest.fixture(scope="module")
def golden(fresh):
    """A valid index file's bytes for vmlinux."""
    with open(VMLINUX, "rb") as f:
        data = f.read()
    return F.build_index(fresh, F.btf_identity(data), len(data))


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / "btf-cache")


def load(directory, run_id=RUN, source=VMLINUX, name="vmlinux"):
    cache = BTFCache(directory, run_id)
    return cache, cache.load(source, name)


def plant(directory, data, run_id=RUN, mode=0o600):
    """Write ``data`` where the cache keeps vmlinux's index; its path."""
    path = BTFCache(directory, run_id).index_path(VMLINUX, "vmlinux")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def assert_valid_file(directory, run_id=RUN):
    cache, btf = load(directory, run_id)
    assert cache.status == "hit", cache.reason
    assert btf.ids_by_name("task_struct")
    return cache


def sample_names(fresh, n=200):
    names = sorted(fresh._index_parts()[1])
    return random.Random(0).sample(names, n)


def crc_collisions(fresh):
    seen = {}
    out = []
    for name in fresh._index_parts()[1]:
        h = zlib.crc32(name.encode())
        if h in seen:
            out.extend((seen[h], name))
        seen[h] = name
    return out


# -- format --------------------------------------------------------------------

def test_header_layout():
    assert F.INDEX_HEADER.size == 84
    assert F.HEADER_SIZE % 8 == 0


def test_golden_index_opens(fresh, golden):
    with open(VMLINUX, "rb") as f:
        data = f.read()
    btf = F.open_index(golden, data, F.btf_identity(data), "vmlinux")
    assert btf.count == fresh.count
    assert btf.ids_by_name("task_struct") == fresh.ids_by_name("task_struct")


# -- build, then hit -----------------------------------------------------------------

@pytest.fixture(scope="module")
def built_and_hit(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("cache") / "btf-cache")
    first, _loaded = load(directory)
    assert first.status == "built", first.reason
    second, hit = load(directory)
    return directory, first, second, hit


def test_build_then_hit(built_and_hit):
    directory, first, second, _hit = built_and_hit
    assert second.status == "hit"
    assert second.reason is None and second.warnings == [] and first.warnings == []
    assert first.size == second.size == os.path.getsize(second.path) > 0
    assert first.path == second.path
    assert second.path.startswith(os.path.join(directory, RUN) + os.sep)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.dirname(second.path)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(second.path).st_mode) == 0o600
    assert os.listdir(os.path.dirname(second.path)) == [os.path.basename(second.path)]


def test_hit_names_match_fresh_parse(fresh, built_and_hit):
    hit = built_and_hit[3]
    names = sample_names(fresh) + crc_collisions(fresh) + [
        "task_struct", "int", "", "no_such_type_anywhere", "t928096", "\udcff", "ünïcode"]
    for name in names:
        assert hit.ids_by_name(name) == fresh.ids_by_name(name), name
        assert hit.ids_by_essential_name(name) == fresh.ids_by_essential_name(name), name
    for name in fresh._flavored_index():
        assert hit.ids_by_essential_name(name) == fresh.ids_by_essential_name(name), name
    assert hit.find("task_struct", L.BTF_KIND_STRUCT) == fresh.find("task_struct", L.BTF_KIND_STRUCT)


def test_hit_types_match_fresh_parse(fresh, built_and_hit):
    hit = built_and_hit[3]
    assert (hit.count, hit.first_id, hit.byte_order, hit.name) == \
        (fresh.count, fresh.first_id, fresh.byte_order, fresh.name)
    assert list(hit.iter_ids()) == list(fresh.iter_ids())
    assert hit.raw_bytes() == fresh.raw_bytes()
    ids = random.Random(1).sample(range(1, fresh.count), 500) + [1, fresh.count - 1]
    for type_id in ids:
        assert hit.type_by_id(type_id) == fresh.type_by_id(type_id)
        assert hit.kind_of(type_id) == fresh.kind_of(type_id)
        assert hit.name_of(type_id) == fresh.name_of(type_id)
        assert hit.type_offset(type_id) == fresh.type_offset(type_id)
        assert hit.resolve(type_id) == fresh.resolve(type_id)
        try:
            want = fresh.sizeof(type_id)
        except BTFError as exc:
            with pytest.raises(BTFError) as info:
                hit.sizeof(type_id)
            assert str(info.value) == str(exc)
        else:
            assert hit.sizeof(type_id) == want
    for bad in (0, fresh.count, -1):
        with pytest.raises(BTFError):
            hit.type_offset(bad)
    with pytest.raises(BTFError, match="out of range"):
        hit.type_by_id(fresh.count)


def test_split_btf_over_cached_base(fresh, built_and_hit):
    hit = built_and_hit[3]
    strtab = bytearray()
    types = bytearray()
    for name in ("mod_thing", "task_struct", "sk_buff___mine"):
        types += struct.pack("<IIII", len(fresh.strings) + len(strtab), L.make_info(L.BTF_KIND_INT), 4, 32)
        strtab += name.encode() + b"\0"
    blob = struct.pack("<HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab)) + \
        bytes(types) + bytes(strtab)
    over_hit = BTF.from_bytes(blob, name="mod", base=hit)
    over_fresh = BTF.from_bytes(blob, name="mod", base=fresh)
    for name in ("mod_thing", "task_struct", "sk_buff", "nf_conn", "int"):
        assert over_hit.ids_by_name(name) == over_fresh.ids_by_name(name)
        assert over_hit.ids_by_essential_name(name) == over_fresh.ids_by_essential_name(name)
    assert over_hit.ids_by_essential_name("sk_buff")[-1] == fresh.count + 2


def test_kernel_btf_through_cache(cache_dir):
    for want in ("built", "hit"):
        cache = BTFCache(cache_dir, RUN)
        kernel = KernelBTF(cache=cache)
        assert kernel.vmlinux.ids_by_name("task_struct")
        assert cache.status == want
        assert kernel.identity == cache.identity


def test_collisions_in_hand_built_btf(tmp_path):
    # crc32("t928096") == crc32("t11200040"): one hash, two names.
    assert zlib.crc32(b"t928096") == zlib.crc32(b"t11200040")
    path = str(tmp_path / "coll.btf")
    with open(path, "wb") as f:
        f.write(small_btf(["t928096", "x", "t11200040", "t928096", "y___v2", "y___v3", "y"]))
    directory = str(tmp_path / "cache")
    for want in ("built", "hit"):
        cache, btf = load(directory, source=path, name="coll")
        assert cache.status == want
        assert btf.ids_by_name("t928096") == (1, 4)
        assert btf.ids_by_name("t11200040") == (3,)
        assert btf.ids_by_essential_name("y") == (7, 5, 6)


# -- damaged, foreign, planted ---------------------------------------------------

def rebuilt(directory, reason):
    cache, btf = load(directory)
    assert cache.status == "rebuilt"
    assert reason in cache.reason
    assert cache.warnings == []
    assert btf.ids_by_name("task_struct")
    assert stat.S_IMODE(os.lstat(cache.path).st_mode) == 0o600
    assert_valid_file(directory)
    return cache


@pytest.mark.parametrize("length", [0, 1, 83, 127, 128, 129, 4096, "half", -8, -1])
def test_truncated_file_is_rebuilt(cache_dir, golden, length):
    if length == "half":
        length = len(golden) // 2
    plant(cache_dir, golden[:length])
    rebuilt(cache_dir, "truncated")


def test_trailing_data_is_rebuilt(cache_dir, golden):
    plant(cache_dir, golden + b"\0" * 8)
    rebuilt(cache_dir, "trailing data")


@pytest.mark.parametrize("where", ["identity", "header pad", "offsets", "names", "last byte"])
def test_flipped_byte_is_rebuilt(cache_dir, golden, where):
    pos = {"identity": 40, "header pad": 100, "offsets": 128 + 4000, "names": len(golden) // 2 + 3,
           "last byte": len(golden) - 1}[where]
    data = bytearray(golden)
    data[pos] ^= 0x10
    plant(cache_dir, bytes(data))
    rebuilt(cache_dir, "checksum mismatch")


def reseal(data):
    data = bytearray(data)
    checksum = zlib.crc32(bytes(data[84:]), zlib.crc32(bytes(data[:80])))
    struct.pack_into("=I", data, 80, checksum)
    return bytes(data)


@pytest.mark.parametrize("field, value, reason", [
    ("version", 0, "format version 0, want 1"),
    ("version", 2, "format version 2, want 1"),
    ("endian", 0x04030201, "another byte order"),
    ("magic", b"NOTBTFIX", "not a BTF index"),
    ("flags", 1, "flags 0x1"),
])
def test_wrong_version_or_format_is_rebuilt(cache_dir, golden, field, value, reason):
    data = bytearray(golden)
    if field == "magic":
        data[0:8] = value
    else:
        struct.pack_into("=I", data, {"version": 8, "endian": 12, "flags": 20}[field], value)
    plant(cache_dir, reseal(data))
    rebuilt(cache_dir, reason)


def test_foreign_index_is_rebuilt(cache_dir, golden):
    # A correctly sealed index of other BTF (another kernel).
    other = small_btf(["u32", "task_struct"])
    index = F.build_index(BTF.from_bytes(other), F.btf_identity(other), len(other))
    plant(cache_dir, index)
    rebuilt(cache_dir, "built from other BTF")
    # Same size, other identity.
    data = bytearray(golden)
    data[32] ^= 1
    plant(cache_dir, reseal(data))
    rebuilt(cache_dir, "built from other BTF")


def test_changed_source_file_is_rebuilt(tmp_path):
    # The same btf_path, rewritten with another kernel's BTF mid-run.
    path = str(tmp_path / "k.btf")
    directory = str(tmp_path / "cache")
    shutil.copyfile(VMLINUX, path)
    cache, _loaded = load(directory, source=path, name="k.btf")
    assert cache.status == "built"
    with open(path, "wb") as f:
        f.write(small_btf(["u32", "task_struct"]))
    cache, btf = load(directory, source=path, name="k.btf")
    assert cache.status == "rebuilt" and "built from other BTF" in cache.reason
    assert btf.ids_by_name("task_struct") == (2,)
    cache, btf = load(directory, source=path, name="k.btf")
    assert cache.status == "hit" and btf.count == 3


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o606])
def test_file_not_private_is_rebuilt(cache_dir, golden, mode):
    plant(cache_dir, golden, mode=mode)
    rebuilt(cache_dir, "not private")


def test_hard_linked_file_is_rebuilt(cache_dir, golden, tmp_path):
    path = plant(cache_dir, golden)
    other = str(tmp_path / "other-link")
    os.link(path, other)
    rebuilt(cache_dir, "2 links")
    with open(other, "rb") as f:
        assert f.read() == golden


def test_planted_symlink_is_replaced_not_followed(cache_dir, golden, tmp_path):
    # Even a symlink to a perfectly valid index is not trusted: the entry
    # is replaced by a regular file and the target is never written.
    victim = str(tmp_path / "victim")
    with open(victim, "wb") as f:
        f.write(golden)
    os.chmod(victim, 0o600)
    path = plant(cache_dir, b"")
    os.unlink(path)
    os.symlink(victim, path)
    rebuilt(cache_dir, "symbolic link")
    assert stat.S_ISREG(os.lstat(path).st_mode)
    with open(victim, "rb") as f:
        assert f.read() == golden


def test_planted_fifo_is_replaced(cache_dir):
    path = plant(cache_dir, b"")
    os.unlink(path)
    os.mkfifo(path, 0o600)
    rebuilt(cache_dir, "not a regular file")


def test_planted_directory_is_bypassed(cache_dir):
    # A directory at the file's name cannot be replaced by rename: the
    # load goes on without cache and says so.
    path = plant(cache_dir, b"")
    os.unlink(path)
    os.mkdir(path, 0o700)
    cache, btf = load(cache_dir)
    assert cache.status == "bypassed"
    assert btf.ids_by_name("task_struct")
    assert len(cache.warnings) == 1


# -- unusable directories ---------------------------------------------------------

def bypassed(directory, fresh, reason, run_id=RUN):
    cache, btf = load(directory, run_id)
    assert cache.status == "bypassed"
    assert cache.size == 0
    assert reason in cache.reason
    assert len(cache.warnings) == 1 and reason in cache.warnings[0]
    for name in sample_names(fresh, 20):
        assert btf.ids_by_name(name) == fresh.ids_by_name(name)
    return cache


def test_parent_is_a_file(tmp_path, fresh):
    parent = tmp_path / "file"
    parent.write_bytes(b"x")
    bypassed(str(parent / "btf-cache"), fresh, "Not a directory")


def test_directory_is_a_symlink(tmp_path, fresh):
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(str(target), str(tmp_path / "btf-cache"))
    bypassed(str(tmp_path / "btf-cache"), fresh, "is a symbolic link")
    assert os.listdir(str(target)) == []


def test_run_directory_is_a_symlink(tmp_path, fresh):
    target = tmp_path / "elsewhere"
    target.mkdir()
    base = tmp_path / "btf-cache"
    base.mkdir(mode=0o700)
    os.symlink(str(target), str(base / RUN))
    bypassed(str(base), fresh, "is a symbolic link")
    assert os.listdir(str(target)) == []


def test_loose_directory_mode_is_tightened(tmp_path):
    base = tmp_path / "btf-cache"
    base.mkdir(mode=0o755)
    os.chmod(str(base), 0o777)
    cache, _loaded = load(str(base))
    assert cache.status == "built"
    assert stat.S_IMODE(os.stat(str(base)).st_mode) == 0o700


# -- concurrency -------------------------------------------------------------------

def _concurrent_load(directory, barrier, results):
    barrier.wait()
    cache, btf = load(directory)
    results.put((cache.status, btf.ids_by_name("task_struct"), cache.reason))


def test_concurrent_builders(cache_dir, fresh):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    results = ctx.Queue()
    procs = [ctx.Process(target=_concurrent_load, args=(cache_dir, barrier, results)) for _worker in range(4)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _proc in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    want = fresh.ids_by_name("task_struct")
    for status, ids, reason in got:
        assert status in ("built", "hit"), reason
        assert ids == want
    cache = assert_valid_file(cache_dir)
    # No temporary files left behind.
    assert os.listdir(os.path.dirname(cache.path)) == [os.path.basename(cache.path)]


# -- lifetime -----------------------------------------------------------------------

def make_runs(base, names):
    os.makedirs(base, mode=0o700, exist_ok=True)
    for name in names:
        os.makedirs(os.path.join(base, name, "nested"), mode=0o700)
        with open(os.path.join(base, name, "vmlinux.x.btfidx"), "wb") as f:
            f.write(b"old")


def test_purge_other_runs(tmp_path):
    base = str(tmp_path / "btf-cache")
    make_runs(base, ["run-a", "run-b", RUN])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_bytes(b"keep")
    os.symlink(str(victim), os.path.join(base, "run-c"))
    os.mkdir(os.path.join(base, ".not-a-run"))
    cache = BTFCache(base, RUN)
    assert cache.run_dir.purge_other_runs() == ["run-a", "run-b", "run-c"]
    assert sorted(os.listdir(base)) == [".not-a-run", RUN]
    assert (victim / "keep").read_bytes() == b"keep"
    assert cache.warnings == []


def test_purge_without_directory(tmp_path):
    assert BTFCache(str(tmp_path / "none"), RUN).run_dir.purge_other_runs() == []


def test_first_load_of_a_run_purges_other_runs(tmp_path):
    base = str(tmp_path / "btf-cache")
    make_runs(base, ["old-run"])
    cache, _loaded = load(base, "new-run")
    assert cache.status == "built"
    assert os.listdir(base) == ["new-run"]
    # Later loads of the run do not purge (a concurrent run keeps its files).
    make_runs(base, ["concurrent-run"])
    cache, _loaded = load(base, "new-run")
    assert cache.status == "hit"
    assert sorted(os.listdir(base)) == ["concurrent-run", "new-run"]


def test_remove_run(tmp_path):
    base = str(tmp_path / "btf-cache")
    cache, _loaded = load(base, "run-x")
    make_runs(base, ["run-y"])
    assert remove_run(base, "run-x") is True
    assert os.listdir(base) == ["run-y"]
    assert remove_run(base, "run-x") is False
    assert remove_run(str(tmp_path / "missing"), "run-x") is False
    with pytest.raises(LoaderError, match="malformed"):
        remove_run(base, "../etc")


def test_remove_run_that_is_a_symlink(tmp_path):
    base = tmp_path / "btf-cache"
    base.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_bytes(b"keep")
    os.symlink(str(victim), str(base / RUN))
    assert remove_run(str(base), RUN) is True
    assert not os.path.lexists(str(base / RUN))
    assert (victim / "keep").read_bytes() == b"keep"


def test_mapped_index_survives_removal(tmp_path, fresh):
    base = str(tmp_path / "btf-cache")
    load(base)
    cache, btf = load(base)
    assert cache.status == "hit"
    remove_run(base, RUN)
    for name in sample_names(fresh, 20):
        assert btf.ids_by_name(name) == fresh.ids_by_name(name)


# -- options --------------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["", ".", "..", "a/b", "-x", "x" * 129, None, 7, "run 1"])
def test_malformed_run_ids(run_id):
    with pytest.raises(LoaderError, match="run id"):
        BTFCache(None, run_id)


def test_make_cache():
    assert make_cache("none", "r1") is None
    cache = make_cache("run", "r1")
    assert cache.directory == DEFAULT_DIRECTORY == "/run/ebpf_deploy/btf-cache"
    assert cache.run_directory == "/run/ebpf_deploy/btf-cache/r1"
    with pytest.raises(LoaderError, match="no run id"):
        make_cache("run")
    with pytest.raises(LoaderError, match="unknown mode"):
        make_cache("forever", "r1")


# -- from_index --------------------------------------------------------------------

def test_from_index_refuses_offsets_that_do_not_fit():
    blob = small_btf(["a", "b"])
    good = BTF.from_bytes(blob)
    offsets = good._index_parts()[0]

    def nothing(name):
        return ()
    assert BTF.from_index(blob, offsets, nothing, nothing).count == 3
    for bad in ([], [offsets[0] + 4, offsets[1]], [offsets[0], len(blob)]):
        with pytest.raises(BTFError, match="prebuilt index"):
            BTF.from_index(blob, bad, nothing, nothing)
