# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries from a file, synced with batch syscalls: checked by reading the
map back and by what a program that looks the keys up returns."""

from __future__ import absolute_import, division, print_function

import json
import os
import platform
import struct
import subprocess
import sys

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy import entries_cache
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries_src import converge_entries_src
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.shipped import file_sha256
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls

ABSENT = 0xffff


@pytest.fixture
def bl(bpf_build, pin_dir):
    converge(Desired("bl", pin_dir, path=os.path.join(bpf_build.dir, "blocklist.o")))
    prog = syscalls.obj_get(os.path.join(pin_dir, "bl", "progs", "lookup"))

    def verdict(key):
        return syscalls.prog_test_run(prog, b"\0" * 14 + struct.pack("=Q", key) + b"\0" * 40)[0]
    yield pin_dir, verdict
    os.close(prog)
    converge(Desired("bl", pin_dir, state="absent"))
    for name in ("blocklist", "slots", "flows"):
        kept = os.path.join(entries_cache.CACHE_DIR, entries_cache.cache_name(os.path.join(pin_dir, "bl", "maps",
                                                                                           name)))
        if os.path.exists(kept):
            os.unlink(kept)


def read_back(pin_dir, name="blocklist"):
    fd = syscalls.obj_get(os.path.join(pin_dir, "bl", "maps", name))
    try:
        out = {}
        for key in syscalls.map_keys(fd, 8):
            out[struct.unpack("=Q", key)[0]] = struct.unpack("=I", syscalls.map_lookup(fd, key, 4))[0]
        return out
    finally:
        os.close(fd)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def sync(pin_dir, path, **kw):
    return converge_entries_src(pin_dir, "bl/blocklist", path, **kw)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "yaml"])
def test_every_format_syncs_exactly(bl, tmp_path, fmt):
    pin_dir, verdict = bl
    items = [(k * 7919, k % 100) for k in range(1, 3001)]
    if fmt == "csv":
        text = "key,value\n" + "".join("%d,%d\n" % kv for kv in items)
    elif fmt == "jsonl":
        text = "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in items)
    elif fmt == "json":
        text = "[\n" + ",\n".join(json.dumps({"key": k, "value": v}) for k, v in items) + "\n]\n"
    else:
        pytest.importorskip("yaml")
        text = "".join("- key: %d\n  value: %d\n" % kv for kv in items)
    path = write(tmp_path, "rules." + fmt, text)
    r = sync(pin_dir, path)
    assert r["changed"] and r["counts"]["added"] == 3000 and r["syscalls"] == "batch"
    assert read_back(pin_dir) == dict(items)
    assert verdict(7919 * 5) == 5 and verdict(3) == ABSENT
    again = sync(pin_dir, path)
    assert not again["changed"] and again["written"] == 0 and again["counts"]["unchanged"] == 3000


def test_exclusive_removes_extras_and_check_mode_writes_nothing(bl, tmp_path):
    pin_dir, verdict = bl
    sync(pin_dir, write(tmp_path, "a.csv", "key,value\n1,10\n2,20\n3,30\n"))
    path = write(tmp_path, "b.csv", "key,value\n2,21\n4,40\n")
    check = sync(pin_dir, path, exclusive=True, check_mode=True)
    assert check["counts"] == {"added": 1, "changed": 1, "removed": 2, "unchanged": 0}
    assert read_back(pin_dir) == {1: 10, 2: 20, 3: 30}
    assert check["diff"]["before"]["entries"] == {"1": 10, "2": 20, "3": 30}
    assert check["diff"]["after"]["entries"] == {"2": 21, "4": 40}
    r = sync(pin_dir, path, exclusive=True)
    assert r["changed"] and r["entries"] == 2
    assert read_back(pin_dir) == {2: 21, 4: 40}
    assert [verdict(k) for k in (1, 2, 3, 4)] == [ABSENT, 21, ABSENT, 40]
    assert not sync(pin_dir, path, exclusive=True)["changed"]
    gone = sync(pin_dir, write(tmp_path, "c.csv", "key\n4\n9\n"), state="absent")
    assert gone["deleted"] == 1 and read_back(pin_dir) == {2: 21}


def test_large_set_and_bounded_diff(bl, tmp_path):
    pin_dir, verdict = bl
    path = write(tmp_path, "big.csv", "key,value\n" + "".join("%d,%d\n" % (k, k & 0xffff) for k in range(100000)))
    r = sync(pin_dir, path, check_mode=True)
    assert r["counts"]["added"] == 100000 and len(r["diff"]["after"]["entries"]) <= 30
    assert read_back(pin_dir) == {}
    sync(pin_dir, path)
    assert verdict(99999) == 99999 & 0xffff and verdict(100000) == ABSENT
    assert len(read_back(pin_dir)) == 100000


@pytest.mark.parametrize("name,text,message", [
    ("bad.csv", "key,value\n1,2\n2,-1\n", "bad.csv:3: value: -1 does not fit"),
    ("bad.jsonl", '{"key": 1, "value": 2}\n{"key": 1, "value": 3}\n', "bad.jsonl:2: key 1 is listed twice"),
    ("bad.json", '[{"key": 1, "value": 2},\n {"key": 2, "valu": 3}]', "bad.json:2: unknown field(s) valu"),
    ("bad.jsonl", '{"key": 1, "value": 2}\n{"key": 2, "value": 4294967296}\n', "bad.jsonl:2: value: 4294967296"),
])
def test_errors_name_file_and_line_and_write_nothing(bl, tmp_path, name, text, message):
    pin_dir, _verdict = bl
    with pytest.raises(SpecError) as e:
        sync(pin_dir, write(tmp_path, name, text))
    assert message in str(e.value)
    assert read_back(pin_dir) == {}


def test_struct_members_named_in_errors(bl, tmp_path):
    pin_dir, _verdict = bl
    path = write(tmp_path, "f.csv", "key.addr,key.port,key.proto,value.verdict,value.hits\n1,80,6,1,0\n2,70000,6,1,0\n")
    with pytest.raises(SpecError) as e:
        converge_entries_src(pin_dir, "bl/flows", path)
    assert "f.csv:3: key: member 'port'" in str(e.value)
    good = write(tmp_path, "g.csv", "key.addr,key.port,key.proto,value.verdict,value.hits\n1,80,6,1,5\n")
    r = converge_entries_src(pin_dir, "bl/flows", good)
    assert r["written"] == 1
    assert not converge_entries_src(pin_dir, "bl/flows", good)["changed"]


def test_oversize_set_fails_before_writing(bl, tmp_path):
    pin_dir, _verdict = bl
    path = write(tmp_path, "s.csv", "key,value\n" + "".join("%d,1\n" % k for k in range(64)))
    assert converge_entries_src(pin_dir, "bl/slots", path)["entries"] == 64
    with pytest.raises(SpecError) as e:
        converge_entries_src(pin_dir, "bl/slots", write(tmp_path, "t.csv", "key,value\n1,2\n64,1\n"))
    assert "t.csv:3: key 64: index beyond the array's 64 entries" in str(e.value)
    many = write(tmp_path, "m.csv", "key.addr,key.port,key.proto,value.verdict,value.hits\n" +
                 "".join("%d,1,1,1,1\n" % k for k in range(9)))
    with pytest.raises(LoaderError) as e:
        converge_entries_src(pin_dir, "bl/flows", many)
    assert "max_entries is 8" in str(e.value)
    assert converge_entries_src(pin_dir, "bl/flows", many, check_mode=True, state="absent")["deleted"] == 0


def test_module_check_apply_idempotent_and_refusals(bl, tmp_path):
    from playbook_runner import run_playbook
    pin_dir, verdict = bl
    path = write(tmp_path, "rules.jsonl", "".join('{"key": %d, "value": %d}\n' % (k, k + 1) for k in range(500)))
    t = {"ebpf.deploy.bpf_map": {"map": "bl/blocklist", "pin_root": pin_dir, "entries_src": path,
                                 "remote_src": True, "exclusive": True}}
    local = {"ebpf.deploy.bpf_map": {"map": "bl/blocklist", "pin_root": pin_dir, "entries_src": path}}
    both = {"ebpf.deploy.bpf_map": dict(t["ebpf.deploy.bpf_map"], entries=[{"key": 1, "value": 1}])}
    inner = {"ebpf.deploy.bpf_map": dict(t["ebpf.deploy.bpf_map"], entries_sha256="0" * 64)}
    proc, (check, real, again, controller, mixed, internal) = run_playbook(
        tmp_path, [dict(t, check_mode=True), t, t, local, both, inner], diff=True)
    assert check["changed"] and check["counts"]["added"] == 500, proc.stdout
    assert real["changed"] and real["syscalls"] == "batch" and real["written"] == 500
    assert again["changed"] is False and again["written"] == 0 and again["encoded_from"] == "kept"
    # The same file from the controller: the digest alone finds the kept entries.
    assert controller["changed"] is False and controller["entries_sent"] is False, proc.stdout
    assert mixed["failed"] and "instead of entries" in mixed["msg"]
    assert internal["failed"] and "leave them unset" in internal["msg"]
    assert verdict(499) == 500 and len(read_back(pin_dir)) == 500


def test_kept_entries_serve_the_next_run_and_are_never_trusted_blindly(bl, tmp_path):
    pin_dir, verdict = bl
    cache = str(tmp_path / "kept")
    path = write(tmp_path, "k.csv", "key,value\n" + "".join("%d,%d\n" % (k, k % 7) for k in range(5000)))
    first = sync(pin_dir, path, exclusive=True, cache_dir=cache)
    assert first["encoded_from"] == "file" and first["written"] == 5000 and not first["warnings"]
    kept = os.path.join(cache, entries_cache.cache_name(os.path.join(pin_dir, "bl", "maps", "blocklist")))
    assert os.stat(kept).st_mode & 0o777 == 0o600 and os.stat(cache).st_mode & 0o777 == 0o700
    again = sync(pin_dir, path, exclusive=True, cache_dir=cache)
    assert again["encoded_from"] == "kept" and not again["changed"] and again["counts"]["unchanged"] == 5000
    # Only the digest (the controller's first call): the kept entries serve.
    digest = file_sha256(path)
    assert not sync(pin_dir, None, exclusive=True, cache_dir=cache, digest=digest, source="k.csv")["changed"]
    # Another writer changed the map: the kept entries (not the file) restore it.
    fd = syscalls.obj_get(os.path.join(pin_dir, "bl", "maps", "blocklist"))
    try:
        syscalls.map_delete(fd, struct.pack("=Q", 12))
        syscalls.map_update(fd, struct.pack("=Q", 13), struct.pack("=I", 99))
        syscalls.map_update(fd, struct.pack("=Q", 77777), struct.pack("=I", 1))
    finally:
        os.close(fd)
    fixed = sync(pin_dir, None, exclusive=True, cache_dir=cache, digest=digest, source="k.csv")
    assert fixed["encoded_from"] == "kept" and fixed["counts"] == {"added": 1, "changed": 1, "removed": 1,
                                                                   "unchanged": 4998}
    assert read_back(pin_dir) == dict((k, k % 7) for k in range(5000))
    assert verdict(12) == 5 and verdict(13) == 6 and verdict(77777) == ABSENT
    # A damaged cache file is removed and the file parsed; so is one that is not private.
    with open(kept, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    damaged = sync(pin_dir, path, exclusive=True, cache_dir=cache)
    assert damaged["encoded_from"] == "file" and not damaged["changed"]
    os.chmod(kept, 0o644)
    assert sync(pin_dir, path, exclusive=True, cache_dir=cache)["encoded_from"] == "file"
    with pytest.raises(SpecError) as e:
        sync(pin_dir, None, exclusive=True, cache_dir=cache, digest="0" * 64, source="k.csv")
    assert "not kept on this host" in str(e.value)
    # Another file (or another format of the same map) is parsed, never served from the kept copy.
    other = write(tmp_path, "o.csv", "key,value\n1,1\n")
    assert sync(pin_dir, other, exclusive=True, cache_dir=cache)["encoded_from"] == "file"
    assert read_back(pin_dir) == {1: 1}
    # Check mode keeps nothing.
    os.unlink(kept)
    assert sync(pin_dir, path, cache_dir=cache, check_mode=True)["changed"] and not os.path.exists(kept)


def test_kept_entries_of_a_shared_map_leave_other_entries(bl, tmp_path):
    pin_dir, _verdict = bl
    cache = str(tmp_path / "kept")
    sync(pin_dir, write(tmp_path, "x.csv", "key,value\n100,1\n101,2\n"), cache_dir=cache)
    path = write(tmp_path, "y.csv", "key,value\n1,10\n2,20\n")
    assert sync(pin_dir, path, cache_dir=cache)["written"] == 2
    again = sync(pin_dir, path, cache_dir=cache)
    assert again["encoded_from"] == "kept" and not again["changed"] and again["counts"]["unchanged"] == 2
    assert read_back(pin_dir) == {100: 1, 101: 2, 1: 10, 2: 20}
    wiped = sync(pin_dir, path, exclusive=True, cache_dir=cache)
    assert wiped["encoded_from"] == "kept" and wiped["deleted"] == 2 and read_back(pin_dir) == {1: 10, 2: 20}


def test_controller_file_sent_digest_first_once_per_host_and_run(bl, tmp_path, pin_dir):
    from playbook_runner import run_playbook
    pin_dir, verdict = bl
    converge(Desired("bl2", pin_dir, path=os.path.join(os.path.dirname(__file__), "..", "bpf", "build",
                                                       "blocklist.o")))
    try:
        items = dict((k * 3, k % 1000) for k in range(20000))
        (tmp_path / "files").mkdir()
        (tmp_path / "files" / "rules.csv").write_text("key,value\n" + "".join("%d,%d\n" % kv for kv in items.items()))

        def task(ref, **kw):
            return {"ebpf.deploy.bpf_map": dict({"map": ref, "pin_root": pin_dir, "entries_src": "rules.csv",
                                                 "exclusive": True}, **kw)}
        proc, (check, first, again, other, missing, wrong) = run_playbook(tmp_path, [
            dict(task("bl/blocklist"), check_mode=True), task("bl/blocklist"), task("bl/blocklist"),
            task("bl2/blocklist"), task("bl/blocklist", entries_src="nowhere.csv"),
            task("bl/flows")], diff=True)
        assert check["changed"] and check["entries_sent"] is True and check["counts"]["added"] == 20000, proc.stdout
        # The run kept the file: the next task (and another map) need no copy.
        assert first["changed"] and first["entries_sent"] is False and first["written"] == 20000, proc.stdout
        assert first["counts"]["added"] == 20000  # check mode wrote nothing
        assert again["changed"] is False and again["entries_sent"] is False and again["encoded_from"] == "kept"
        assert other["changed"] and other["entries_sent"] is False and other["encoded_from"] == "file"
        assert missing["failed"] and "entries_src 'nowhere.csv': not found on the controller; searched " in \
            missing["msg"] and str(tmp_path) in missing["msg"]
        assert wrong["failed"] and "rules.csv:2: " in wrong["msg"] and "/run/" not in wrong["msg"], wrong["msg"]
        assert read_back(pin_dir) == items and verdict(2999 * 3) == 999 and verdict(1) == ABSENT
        fd = syscalls.obj_get(os.path.join(pin_dir, "bl2", "maps", "blocklist"))
        try:
            assert syscalls.map_count(fd, 8, 4) == 20000
        finally:
            os.close(fd)
        # Another run: the digest alone, nothing sent, nothing written.
        proc, (later,) = run_playbook(tmp_path, [task("bl/blocklist")])
        assert later["changed"] is False and later["entries_sent"] is False and later["written"] == 0, proc.stdout
        assert later["counts"]["unchanged"] == 20000
    finally:
        converge(Desired("bl2", pin_dir, state="absent"))
        kept = os.path.join(entries_cache.CACHE_DIR, entries_cache.cache_name(os.path.join(pin_dir, "bl2", "maps",
                                                                                           "blocklist")))
        if os.path.exists(kept):
            os.unlink(kept)


# A child that cannot use the batch commands, as on a kernel before 5.6:
# a seccomp filter answers EINVAL (an unknown command) to bpf() with
# BPF_MAP_LOOKUP_BATCH (24), BPF_MAP_UPDATE_BATCH (26) or
# BPF_MAP_DELETE_BATCH (27); every other call reaches the kernel.
NO_BATCH_CHILD = r"""
import ctypes, json, sys
class Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]
LD, JEQ, RET = 0x20, 0x15, 0x06
insns = [(LD, 0, 0, 4), (JEQ, 0, 7, 0xC000003E), (LD, 0, 0, 0), (JEQ, 0, 5, 321), (LD, 0, 0, 16),
         (JEQ, 2, 0, 24), (JEQ, 1, 0, 26), (JEQ, 0, 1, 27), (RET, 0, 0, 0x00050000 | 22), (RET, 0, 0, 0x7fff0000)]
filters = (Filter * len(insns))(*[Filter(*i) for i in insns])
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0                      # PR_SET_NO_NEW_PRIVS
prog = Prog(len(insns), filters)
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0     # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries_src import converge_entries_src
r = converge_entries_src(sys.argv[1], "bl/blocklist", sys.argv[2], exclusive=True, cache_dir=sys.argv[3])
print(json.dumps({k: r[k] for k in ("changed", "counts", "syscalls", "encoded_from", "warnings")}))
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the seccomp filter is written for x86_64")
def test_per_entry_fallback_where_the_kernel_has_no_batch_commands(bl, tmp_path):
    pin_dir, verdict = bl
    cache = str(tmp_path / "kept")
    sync(pin_dir, write(tmp_path, "a.csv", "key,value\n" + "".join("%d,%d\n" % (k, k) for k in range(300))))
    want = dict((k, k % 5) for k in range(100, 500))
    path = write(tmp_path, "b.csv", "key,value\n" + "".join("%d,%d\n" % kv for kv in want.items()))

    def child():
        proc = subprocess.run([sys.executable, "-c", NO_BATCH_CHILD, pin_dir, path, cache], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    r = child()
    assert r["syscalls"] == "per-entry" and r["changed"] and not r["warnings"]
    assert r["counts"] == {"added": 200, "changed": 200, "removed": 100, "unchanged": 0}
    assert read_back(pin_dir) == want
    assert [verdict(k) for k in (99, 100, 104, 499, 500)] == [ABSENT, 0, 4, 4, ABSENT]
    again = child()
    assert again["syscalls"] == "per-entry" and not again["changed"] and again["encoded_from"] == "kept"


@pytest.fixture
def swap(bpf_build, pin_dir):
    converge(Desired("sw", pin_dir, path=os.path.join(bpf_build.dir, "swap_slot.o")))
    prog = syscalls.obj_get(os.path.join(pin_dir, "sw", "progs", "lookup"))

    def verdict(key):
        return syscalls.prog_test_run(prog, b"\0" * 14 + struct.pack("=Q", key) + b"\0" * 40)[0]
    yield pin_dir, verdict
    os.close(prog)
    converge(Desired("sw", pin_dir, state="absent"))
    for name in ("rulesets[0]", "rules_a"):
        kept = os.path.join(entries_cache.CACHE_DIR, entries_cache.cache_name(os.path.join(pin_dir, "sw", "maps",
                                                                                           name)))
        if os.path.exists(kept):
            os.unlink(kept)


def slot_map(pin_dir):
    """(id, {key: value}) of the map slot 0 of sw/rulesets holds."""
    fd = syscalls.obj_get(os.path.join(pin_dir, "sw", "maps", "rulesets"))
    try:
        inner_id = struct.unpack("=I", syscalls.map_lookup(fd, struct.pack("=I", 0), 4))[0]
    finally:
        os.close(fd)
    fd = syscalls.get_fd_by_id("map", inner_id)
    try:
        return inner_id, dict((struct.unpack("=Q", k)[0], struct.unpack("=I", syscalls.map_lookup(fd, k, 4))[0])
                              for k in syscalls.map_keys(fd, 8))
    finally:
        os.close(fd)


def test_atomic_fills_a_fresh_map_and_swaps_it_into_the_slot(swap, tmp_path):
    pin_dir, verdict = swap
    first_id, before = slot_map(pin_dir)
    assert before == {} and verdict(5) == ABSENT
    one = write(tmp_path, "one.csv", "key,value\n" + "".join("%d,%d\n" % (k, k + 1) for k in range(1000)))

    def atomic(path, **kw):
        return converge_entries_src(pin_dir, "sw/rulesets", path, atomic=True, slot=0, exclusive=True, **kw)
    check = atomic(one, check_mode=True)
    assert check["changed"] and check["counts"]["added"] == 1000 and slot_map(pin_dir) == (first_id, {})
    r = atomic(one)
    new_id, held = slot_map(pin_dir)
    assert r["changed"] and r["inner_map_id"] == new_id != first_id and r["written"] == 1000
    assert held == dict((k, k + 1) for k in range(1000))
    assert verdict(5) == 6 and verdict(999) == 1000 and verdict(1000) == ABSENT
    # The old map is left as it was: the collection still pins it, empty.
    fd = syscalls.obj_get(os.path.join(pin_dir, "sw", "maps", "rules_a"))
    try:
        assert syscalls.map_info(fd).id == first_id and syscalls.map_count(fd, 8, 4) == 0
    finally:
        os.close(fd)
    again = atomic(one)
    assert not again["changed"] and again["encoded_from"] == "kept" and slot_map(pin_dir)[0] == new_id
    two = write(tmp_path, "two.csv", "key,value\n7,70\n2000,1\n")
    r = atomic(two)
    third_id, held = slot_map(pin_dir)
    assert r["counts"] == {"added": 1, "changed": 1, "removed": 999, "unchanged": 0} and third_id != new_id
    assert held == {7: 70, 2000: 1} and [verdict(k) for k in (5, 7, 2000)] == [ABSENT, 70, 1]
    # Not exclusive: the entries the file does not list come along.
    r = converge_entries_src(pin_dir, "sw/rulesets", one, atomic=True, slot=0)
    assert r["changed"] and slot_map(pin_dir)[1] == dict([(k, k + 1) for k in range(1000)] + [(2000, 1)])


@pytest.mark.parametrize("ref,kw,message", [
    ("sw/rules_a", dict(atomic=True, slot=0), "is a hash map; atomic: true replaces the map held in a slot"),
    ("sw/rulesets", dict(atomic=True, slot=1), "sw/maps/rulesets' holds no map"),
    ("sw/rulesets", dict(atomic=True, slot=1 << 32), "slot: 4294967296 does not fit the outer map's 4-byte key"),
    ("sw/rulesets", dict(atomic=True), "atomic: true needs slot"),
    ("sw/rulesets", dict(slot=0), "set atomic: true"),
    ("sw/rulesets", dict(atomic=True, slot=0, state="absent"), "it takes state=present"),
])
def test_atomic_refusals_name_the_map_and_change_nothing(swap, tmp_path, ref, kw, message):
    pin_dir, _verdict = swap
    before = slot_map(pin_dir)
    with pytest.raises((SpecError, LoaderError)) as e:
        converge_entries_src(pin_dir, ref, write(tmp_path, "r.csv", "key,value\n1,1\n"), **kw)
    assert message in str(e.value)
    assert slot_map(pin_dir) == before


def test_module_atomic_from_the_controller(swap, tmp_path):
    from playbook_runner import run_playbook
    pin_dir, verdict = swap
    (tmp_path / "rules.csv").write_text("key,value\n" + "".join("%d,%d\n" % (k, k % 9) for k in range(300)))
    t = {"ebpf.deploy.bpf_map": {"map": "sw/rulesets", "slot": 0, "atomic": True, "pin_root": pin_dir,
                                 "entries_src": "rules.csv", "exclusive": True}}
    inline = {"ebpf.deploy.bpf_map": {"map": "sw/rulesets", "slot": 0, "atomic": True, "pin_root": pin_dir,
                                      "entries": [{"key": 1, "value": 1}]}}
    proc, (check, real, again, refused) = run_playbook(tmp_path, [dict(t, check_mode=True), t, t, inline],
                                                       diff=True)
    assert check["changed"] and "inner_map_id" not in check, proc.stdout
    assert real["changed"] and real["inner_map_id"] == slot_map(pin_dir)[0] and real["written"] == 300
    assert again["changed"] is False and again["encoded_from"] == "kept"
    assert refused["failed"] and "give entries_src" in refused["msg"]
    assert verdict(299) == 299 % 9 and verdict(300) == ABSENT
