# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""uprobes and uretprobes on a real kernel, by counted calls: a small user
program (tests/user, built non-PIE and PIE) runs N times and the programs'
counts must be exactly N; its return values reach the uretprobe; pid
filtering, a libc function, detaching, idempotence, check mode and an
upgrade that makes the link again for the new program."""

from __future__ import absolute_import, division, print_function

import os
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import ELFFile
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uprobe

USER_SRC = os.path.join(os.path.dirname(__file__), "..", "user")
SYMBOL = "uprobe_target_work"
PROGRAMS = ["on_work", "on_work_return", "on_getppid", "on_multi", "on_multi_return"]

pytestmark = pytest.mark.skipif(not os.path.exists("/sys/bus/event_source/devices/uprobe/type"),
                                reason="this kernel has no uprobe PMU")


@pytest.fixture(scope="module")
def targets():
    if not shutil.which("clang"):
        pytest.skip("clang builds the uprobe target program")
    subprocess.run(["make", "-s", "-C", USER_SRC], check=True)
    build = os.path.join(USER_SRC, "build")
    return {"nopie": os.path.realpath(os.path.join(build, "uprobe_target")),
            "pie": os.path.realpath(os.path.join(build, "uprobe_target_pie"))}


@pytest.fixture
def probes(bpf_build, pin_dir):
    converge(Desired("up", pin_dir, path=bpf_build.path("uprobe_counts"), programs=PROGRAMS))
    yield pin_dir
    converge(Desired("up", pin_dir, state="absent"))


def hits(pin_dir):
    fd = syscalls.obj_get(os.path.join(pin_dir, "up", "maps", "hits"))
    try:
        return [struct.unpack("=Q", syscalls.map_lookup(fd, struct.pack("=I", i), 8))[0] for i in range(8)]
    finally:
        os.close(fd)


def run(binary, n):
    out = subprocess.run([binary, str(n)], check=True, stdout=subprocess.PIPE, universal_newlines=True)
    return int(out.stdout)


def link(pin_dir, program, link_type="auto", **kw):
    return converge_link(LinkRequest(pin_dir, "up", program, link_type, **kw))


def _nm_offset(binary, symbol):
    """The file offset of ``symbol`` by nm and readelf, to check ours."""
    addr = None
    for line in subprocess.run(["nm", binary], check=True, stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.splitlines():
        fields = line.split()
        if fields[-1] == symbol:
            addr = int(fields[0], 16)
    out = subprocess.run(["readelf", "-lW", binary], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD" and "E" in fields[-2]:
            offset, vaddr, memsz = int(fields[1], 16), int(fields[2], 16), int(fields[5], 16)
            if vaddr <= addr < vaddr + memsz:
                return addr - vaddr + offset
    raise AssertionError("no segment")


@pytest.mark.parametrize("kind", ["nopie", "pie"])
def test_symbol_offsets_match_readelf(targets, kind):
    elf = uprobe.read_binary(targets[kind])
    assert uprobe.function_offset(elf, SYMBOL) == _nm_offset(targets[kind], SYMBOL)


def test_libc_symbol_from_dynsym():
    libc = uprobe.resolve_binary("libc.so.6")
    elf = uprobe.read_binary(libc)
    assert uprobe.function_offset(elf, "getppid") == elf.file_offset(
        [s for s in elf.function_symbols() if s.name.split("@")[0] == "getppid"][0].value)


@pytest.mark.parametrize("kind", ["nopie", "pie"])
def test_uprobe_and_uretprobe_count_exactly(probes, targets, kind):
    binary = targets[kind]
    first = link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL)
    assert first["changed"] and first["links"][0]["action"] == "attach"
    assert "file offset" in first["links"][0]["attach_point"]
    ret = link(probes, "on_work_return", "uretprobe", binary=binary, symbol=SYMBOL)
    assert ret["changed"]
    again = link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL)
    assert again["changed"] is False and again["links"][0]["action"] == "none"
    before = hits(probes)
    total = sum(run(binary, n) for n in (1, 5, 11))
    after = hits(probes)
    assert after[0] - before[0] == 17
    assert after[1] - before[1] == 17
    assert after[3] - before[3] == total  # what the function returned, added up by the uretprobe
    gone = link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL, state="absent")
    assert gone["changed"] and gone["links"][0]["action"] == "detach"
    run(binary, 4)
    final = hits(probes)
    assert final[0] == after[0] and final[1] - after[1] == 4
    assert link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL, state="absent")["changed"] is False


def test_check_mode_attaches_nothing(probes, targets):
    r = converge_link(LinkRequest(probes, "up", "on_work", "uprobe", binary=targets["nopie"], symbol=SYMBOL),
                      check_mode=True)
    assert r["changed"] and r["links"][0]["action"] == "attach"
    assert not os.path.exists(os.path.join(probes, "up", "links"))
    before = hits(probes)
    run(targets["nopie"], 3)
    assert hits(probes)[0] == before[0]


def test_offset_instead_of_symbol(probes, targets):
    binary = targets["pie"]
    offset = uprobe.function_offset(uprobe.read_binary(binary), SYMBOL)
    link(probes, "on_work", "uprobe", binary=binary, offset=offset)
    before = hits(probes)[0]
    run(binary, 6)
    assert hits(probes)[0] - before == 6


def _waiting(binary, n):
    return subprocess.Popen([binary, str(n), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            universal_newlines=True)


def test_pid_filter_and_libc_auto_section(probes, targets):
    """SEC("uprobe/libc.so.6:getppid") attaches by type auto; with pid only
    that process's calls count, though every process on the host calls
    libc. A second target run outside the filter changes nothing."""
    binary = targets["nopie"]
    proc = _waiting(binary, 9)
    try:
        r = link(probes, "on_getppid", pid=proc.pid)
        assert r["changed"] and "libc.so" in r["links"][0]["attach_point"]
        assert "pid %d" % proc.pid in r["links"][0]["attach_point"]
        before = hits(probes)[2]
        run(binary, 7)  # another process: not counted
        proc.communicate("go\n", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert hits(probes)[2] - before == 9


def test_upgrade_makes_the_link_again_on_the_new_program(bpf_build, probes, targets):
    binary = targets["pie"]
    link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL)
    r = converge(Desired("up", probes, path=bpf_build.path("uprobe_counts"), programs=PROGRAMS,
                         constants={"generation": 1000}))
    assert r["changed"] and not any("detached" in w for w in r["warnings"]), r["warnings"]
    new_id = [p for p in r["programs"] if p["name"] == "on_work"][0]["id"]
    links_dir = os.path.join(probes, "up", "links")
    pins = os.listdir(links_dir)
    assert len(pins) == 1
    fd = syscalls.obj_get(os.path.join(links_dir, pins[0]))
    try:
        assert syscalls.link_info(fd).prog_id == new_id
    finally:
        os.close(fd)
    before = hits(probes)[0]  # the new version's map
    run(binary, 3)
    assert hits(probes)[0] - before == 3000  # the new program (generation 1000) runs, exactly once a call
    assert link(probes, "on_work", "uprobe", binary=binary, symbol=SYMBOL)["changed"] is False


@pytest.mark.parametrize("kind", ["nopie", "pie"])
def test_uprobe_multi_on_a_pattern(probes, targets, kind):
    """One uprobe_multi link on the two uprobe_target_* functions, and one
    uretprobe_multi: every call of either counts, exactly."""
    binary = targets[kind]
    r = link(probes, "on_multi", "uprobe_multi", binary=binary, symbol="uprobe_target_*")
    assert r["changed"] and "2 functions: uprobe_target_more, uprobe_target_work" in r["links"][0]["attach_point"]
    link(probes, "on_multi_return", "uretprobe_multi", binary=binary, symbol="uprobe_target_*")
    fd = syscalls.obj_get(r["links"][0]["pin"])
    try:
        assert syscalls.link_info(fd).type == 12  # BPF_LINK_TYPE_UPROBE_MULTI: no single-uprobe fallback here
    finally:
        os.close(fd)
    assert link(probes, "on_multi", "uprobe_multi", binary=binary, symbol="uprobe_target_*")["changed"] is False
    before = hits(probes)
    run(binary, 8)
    after = hits(probes)
    assert (after[4] - before[4], after[5] - before[5]) == (16, 16)
    link(probes, "on_multi", "uprobe_multi", binary=binary, symbol="uprobe_target_*", state="absent")
    run(binary, 2)
    assert hits(probes)[4] == after[4] and hits(probes)[5] - after[5] == 4


def test_uprobe_multi_pid_filter_and_upgrade(bpf_build, probes, targets):
    """A pid-filtered uprobe_multi link is made again, for the same pid, on
    the new program: only that process's calls count, at the new program's
    generation."""
    binary = targets["pie"]
    proc = _waiting(binary, 5)
    try:
        link(probes, "on_multi", "uprobe_multi", binary=binary, symbol="uprobe_target_w*", pid=proc.pid)
        r = converge(Desired("up", probes, path=bpf_build.path("uprobe_counts"), programs=PROGRAMS,
                             constants={"generation": 100}))
        assert r["changed"] and not any("detached" in w for w in r["warnings"]), r["warnings"]
        new_id = [p for p in r["programs"] if p["name"] == "on_multi"][0]["id"]
        pins = os.listdir(os.path.join(probes, "up", "links"))
        assert len(pins) == 1
        fd = syscalls.obj_get(os.path.join(probes, "up", "links", pins[0]))
        try:
            assert syscalls.link_info(fd).prog_id == new_id
        finally:
            os.close(fd)
        before = hits(probes)[4]
        run(binary, 3)  # another process: not counted
        proc.communicate("go\n", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert hits(probes)[4] - before == 500


def test_pid_that_is_gone_fails_clearly(probes, targets):
    proc = _waiting(targets["nopie"], 1)
    proc.communicate("go\n", timeout=30)
    for link_type, symbol in (("uprobe", SYMBOL), ("uprobe_multi", "uprobe_target_*")):
        program = "on_work" if link_type == "uprobe" else "on_multi"
        with pytest.raises(LoaderError) as e:
            link(probes, program, link_type, binary=targets["nopie"], symbol=symbol, pid=proc.pid)
        assert "no process %d" % proc.pid in str(e.value)


def test_multi_types_need_a_multi_program(probes, targets):
    with pytest.raises(LoaderError) as e:
        link(probes, "on_work", "uprobe_multi", binary=targets["nopie"], symbol="uprobe_target_*")
    assert "needs a program loaded for uprobe_multi links" in str(e.value)
    with pytest.raises(LoaderError) as e:
        link(probes, "on_multi", "uprobe", binary=targets["nopie"], symbol=SYMBOL)
    assert "only through a multi link (type uprobe_multi or uretprobe_multi)" in str(e.value)
    with pytest.raises(LoaderError) as e:
        link(probes, "on_multi", "uprobe_multi", binary=targets["nopie"], symbol="nothing_like_this*")
    assert "no function matching 'nothing_like_this*'" in str(e.value)


@pytest.mark.parametrize("kw, words", [
    (dict(binary="/nonexistent/prog", symbol=SYMBOL), ["/nonexistent/prog", "does not exist"]),
    (dict(binary="libnope-ebpf.so.9", symbol="f"), ["libnope-ebpf.so.9", "no such library"]),
    (dict(binary="NOPIE", symbol="no_such_function"), ["no function 'no_such_function'", "uprobe_target"]),
    (dict(binary="/etc/hostname", symbol="f"), ["/etc/hostname", "not an ELF"]),
    (dict(binary="NOPIE"), ["needs symbol or offset"]),
    (dict(symbol=SYMBOL), ["needs binary"]),
])
def test_bad_requests_are_refused_clearly(probes, targets, kw, words):
    if kw.get("binary") == "NOPIE":
        kw["binary"] = targets["nopie"]
    with pytest.raises(LoaderError) as e:
        link(probes, "on_work", "uprobe", **kw)
    for w in words:
        assert w in str(e.value)
    assert not os.path.exists(os.path.join(probes, "up", "links"))


def test_elf_segments_of_an_object_are_empty(bpf_build):
    with open(bpf_build.path("uprobe_counts"), "rb") as f:
        assert ELFFile(f.read(), "uprobe_counts.o").segments == []
