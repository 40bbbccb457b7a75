# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kfuncs and __ksym externs on the running kernel (tests/bpf/ksyms*.c):
programs run with BPF_PROG_TEST_RUN, their instructions compared with
libbpf's, the kernel's ids and addresses read independently of our loader
(bpftool's BTF dump, /proc/kallsyms), and every refusal word for word."""

from __future__ import absolute_import, division, print_function

import os
import re
import shutil
import struct
import subprocess
import uuid

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    LoaderError, RelocationError, SyscallError, VerifierError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn as bpf_insn, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.resolve_ksyms import KsymResolver, module_btf_fd

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "bpf", "build")
VMLINUX = "/sys/kernel/btf/vmlinux"
RELEASE = os.uname().release
LBLOAD = os.environ.get("LBLOAD", "/var/tmp/libbpf-ref/lbload")

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="kernel has no /sys/kernel/btf/vmlinux")


def obj(name):
    return os.path.join(BUILD, name)


@pytest.fixture
def bpffs_dir():
    path = "/sys/fs/bpf/ebpf_deploy_test_ksyms_%s" % uuid.uuid4().hex[:8]
    os.mkdir(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


_DUMP = []


def vmlinux_ids(kind):
    """{name: id} of the vmlinux BTF types of ``kind`` ('FUNC', 'VAR'), from bpftool."""
    if not _DUMP:
        _DUMP.append(subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX], check=True, capture_output=True,
                                    text=True).stdout)
    return dict((m.group(2), int(m.group(1))) for m in re.finditer(r"^\[(\d+)\] %s '([^']+)'" % kind, _DUMP[0], re.M))


def kallsyms(name):
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if parts[2] == name:
                return int(parts[0], 16)
    return None


def first_line(error):
    """The message of a VerifierError without the log the text carries."""
    return str(error).split("\n", 1)[0]


def run(coll, prog):
    retval, _out = syscalls.prog_test_run(coll.programs[prog].fd, repeat=0)
    return retval


def bss(spec, coll):
    """{variable: u64 value} of the .bss after a run."""
    m = coll.maps[".bss"]
    value = syscalls.map_lookup(m.fd, b"\0" * 4, m.value_size)
    return dict((name, struct.unpack_from("=Q", value, off)[0])
                for (sec, name), off in spec.symbol_offsets.items() if sec == ".bss")


def test_kfuncs_run():
    """bpf_task_from_pid/release, cpumask kfuncs, rcu lock: called and their
    results seen; a missing weak kfunc takes bpf_ksym_exists()'s fallback."""
    spec = read_object(obj("ksyms.o"))
    with load_collection(spec, programs=["kfuncs"]) as coll:
        assert coll.warnings == []  # the object's BTF, .ksyms included, was loaded
        assert coll.btf_fd is not None
        assert run(coll, "kfuncs") == 0
        out = bss(spec, coll)
    assert out["task_pid"] == os.getpid()
    assert (out["cpumask_has_1"], out["cpumask_has_0"]) == (11, 10)
    assert out["rcu_done"] == 7
    assert out["weak_missing"] == 1
    assert out["weak_present"] == 1


def test_ksym_variables_run():
    """Untyped ksyms get /proc/kallsyms' address; weak missing ones 0."""
    spec = read_object(obj("ksyms.o"))
    with load_collection(spec, programs=["other_vars"]) as coll:
        assert run(coll, "other_vars") == 0
        out = bss(spec, coll)
    assert out["prog_put_addr"] == kallsyms("bpf_prog_put") != 0
    assert out["untyped_weak_addr"] == 0
    assert out["typed_weak_missing"] == 1


def relocated(objname, progname):
    spec = read_object(obj(objname))
    prog = spec.programs[progname]
    insns = bytearray(prog.insns)
    resolver = KsymResolver(spec, KernelBTF(), RELEASE)
    try:
        poisoned = resolver.relocate(prog, insns)
        fd_array = resolver.fd_array_bytes()
    finally:
        resolver.close()
    return spec, prog, insns, poisoned, fd_array


def test_kfunc_calls_point_at_vmlinux_ids():
    """Each kfunc call: BPF_PSEUDO_KFUNC_CALL, imm the FUNC's id in vmlinux
    BTF (as bpftool reads it), off 0; the missing weak one is libbpf's poison
    (helper 2002000000 + its extern index), its ld_imm64 a plain 0."""
    spec, prog, insns, poisoned, fd_array = relocated("ksyms.o", "kfuncs")
    funcs = vmlinux_ids("FUNC")
    order = list(spec.ksyms)
    assert fd_array == b""
    calls = 0
    for idx, name in prog.ksym_refs:
        code, _dst, src, off, imm = bpf_insn.unpack(insns, idx)
        if code == bpf_insn.CALL and name == "bpf_no_such_kfunc":
            assert (src, off, imm) == (0, 0, bpf_insn.POISON_KFUNC + order.index(name))
            assert poisoned[idx] == "insn #%d calls weak kfunc 'bpf_no_such_kfunc', which kernel %s lacks" % (
                idx, RELEASE)
        elif code == bpf_insn.CALL:
            assert (src, off, imm) == (uapi.BPF_PSEUDO_KFUNC_CALL, 0, funcs[name]), name
            calls += 1
        elif name == "bpf_no_such_kfunc":
            assert (src, imm, bpf_insn.unpack(insns, idx + 1)[4]) == (0, 0, 0)
        else:  # bpf_ksym_exists(bpf_task_acquire): the FUNC by BTF id
            assert (src, imm, bpf_insn.unpack(insns, idx + 1)[4]) == (uapi.BPF_PSEUDO_BTF_ID, funcs[name], 0)
    assert calls == 9


def test_typed_variables():
    """A typed ksym is a BPF_PSEUDO_BTF_ID ld_imm64 of the VAR's vmlinux id.
    The verifier then finds the variable in kallsyms: where the kernel lists
    variables there (CONFIG_KALLSYMS_ALL) the program runs; elsewhere, as
    here, the refusal says why."""
    _spec, prog, insns, _poisoned, _fd_array = relocated("ksyms_typed.o", "typed_vars")
    var_ids = vmlinux_ids("VAR")
    for idx, name in prog.ksym_refs:
        _code, _dst, src, _off, imm = bpf_insn.unpack(insns, idx)
        assert (src, imm, bpf_insn.unpack(insns, idx + 1)[4]) == (uapi.BPF_PSEUDO_BTF_ID, var_ids[name], 0)
    assert sorted(name for _i, name in prog.ksym_refs) == ["cpu_number", "runqueues"]
    spec = read_object(obj("ksyms_typed.o"))
    if kallsyms("cpu_number") is None:
        with pytest.raises(VerifierError) as e:
            load_collection(spec)
        assert first_line(e.value) == ("object 'ksyms_typed.o': program 'typed_vars' (section 'syscall'): "
                                       "rejected by the verifier: ENOENT (No such file or directory)")
        assert e.value.hint == ("the kernel finds typed __ksym variables through kallsyms, which lists variables "
                                "only when built with CONFIG_KALLSYMS_ALL")
        assert "ldimm64 failed to find the address for kernel symbol 'cpu_number'" in e.value.log
        return
    with load_collection(spec) as coll:
        assert run(coll, "typed_vars") == 0
        out = bss(spec, coll)
    assert out == {"cpu_number_match": 1, "rq0_cpu": 100}


BAD = [
    ("missing_kfunc", "program 'missing_kfunc': kfunc 'bpf_no_such_kfunc': kernel %s has no such function in its "
     "BTF (vmlinux and %d modules); declare it __weak and guard its use with bpf_ksym_exists() to load without it"),
    ("wrong_proto", "program 'wrong_proto': kfunc 'bpf_task_from_pid': declared as a function of 2 arguments "
     "(int, int) returning struct task_struct *, but kernel %s (vmlinux) has a function of 1 argument (int) "
     "returning struct task_struct *"),
    ("missing_typed", "program 'missing_typed': kernel variable 'no_such_typed_ksym': kernel %s has no such symbol "
     "in its BTF (vmlinux and %d modules); declare it __weak and guard its use with bpf_ksym_exists() to load "
     "without it"),
    ("missing_untyped", "program 'missing_untyped': kernel variable 'no_such_untyped_ksym': kernel %s has no such "
     "symbol in /proc/kallsyms; declare it __weak and guard its use with bpf_ksym_exists() to load without it"),
    ("wrong_var_type", "program 'wrong_var_type': kernel variable 'cpu_number': declared as type struct rq, but "
     "kernel %s (vmlinux) has type int"),
]


@pytest.mark.parametrize("prog,message", BAD, ids=[b[0] for b in BAD])
def test_refused(prog, message, bpffs_dir):
    """Refused before anything is created: nothing pinned stays behind."""
    modules = len([n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux"])
    want = message % ((RELEASE, modules) if "%d" in message else (RELEASE,))
    with pytest.raises(RelocationError) as e:
        load_collection(read_object(obj("ksyms_bad.o")), programs=[prog], pin_dir=os.path.join(bpffs_dir, "c"))
    assert str(e.value) == want
    assert os.listdir(bpffs_dir) == []


def test_unguarded_weak_kfunc_reached():
    """A missing weak kfunc called where the verifier goes: its poison is
    named, not left as 'unknown#2002000000'."""
    with pytest.raises(VerifierError) as e:
        load_collection(read_object(obj("ksyms_bad.o")), programs=["unguarded_weak"])
    assert first_line(e.value) == (
        "object 'ksyms_bad.o': program 'unguarded_weak' (section 'syscall'): rejected by the verifier: it reaches "
        "a call of a weak kfunc this kernel lacks: insn #1 calls weak kfunc 'bpf_no_such_weak_kfunc', which kernel "
        "%s lacks: EINVAL (Invalid argument)" % RELEASE)
    assert e.value.hint == "guard the call with bpf_ksym_exists()"


def xlated(pin):
    data = bytearray(subprocess.run(["bpftool", "prog", "dump", "xlated", "pinned", pin, "file", "/dev/stdout"],
                                    check=True, capture_output=True).stdout)
    # Map references differ between two loads (ids); everything else must not.
    for i in range(len(data) // 8 - 1):
        if data[i * 8] == 0x18 and (data[i * 8 + 1] >> 4) in (1, 2):
            data[i * 8 + 4:i * 8 + 8] = b"\0\0\0\0"
    return bytes(data)


LOADERS = [("bpftool", lambda o, d: ["bpftool", "prog", "loadall", o, d], ""),
           ("lbload", lambda o, d: [LBLOAD, o, d], "progs")]


@pytest.mark.parametrize("name,command,sub", LOADERS, ids=[x[0] for x in LOADERS])
def test_same_instructions_as_libbpf(name, command, sub, bpffs_dir):
    """The kernel sees the same program from us as from libbpf: Debian's
    bpftool (libbpf 1.1), and current libbpf (lbload) where it is built."""
    if name == "lbload" and not os.access(LBLOAD, os.X_OK):
        pytest.skip("no lbload (../shared/tools/libbpf-ref/build.sh, or set LBLOAD)")
    theirs = os.path.join(bpffs_dir, "theirs")
    subprocess.run(command(obj("ksyms.o"), theirs), check=True, capture_output=True)
    with load_collection(read_object(obj("ksyms.o")), pin_dir=os.path.join(bpffs_dir, "ours")) as coll:
        try:
            for prog in ("kfuncs", "other_vars"):
                assert xlated(coll.programs[prog].pin) == xlated(os.path.join(theirs, sub, prog)), prog
        finally:
            coll.unpin()


class _OneModuleKernel:
    """Kernel BTF as a KsymResolver sees it, with a vmlinux that has no
    kfuncs (a test object's BTF) and the real vmlinux BTF standing in for
    a module named 'vmlinux': its kernel BTF object is found by name like
    a module's, so the fd_array path runs on real fds."""

    def __init__(self):
        with open(obj("maps.o"), "rb") as f:
            data = f.read()
        from ansible_collections.ebpf.deploy.plugins.module_utils.elf import ELFFile

        self.vmlinux = BTF.from_bytes(ELFFile(data, "maps.o").section(".BTF").data, name="maps.o")
        self._module = KernelBTF().vmlinux

    def module_names(self):
        return ["vmlinux"]

    def module(self, name):
        assert name == "vmlinux"
        return self._module


def test_module_kfuncs_index_fd_array():
    """A kfunc found in a module: off is its slot in fd_array (from 1),
    which holds that module's BTF fd; the kernel reads the slot. No module
    here has BTF, so vmlinux plays one, and the kernel, reading fd_array[1],
    says it is not a module's."""
    spec = read_object(obj("ksyms.o"))
    prog = spec.programs["kfuncs"]
    insns = bytearray(prog.insns)
    resolver = KsymResolver(spec, _OneModuleKernel(), RELEASE)
    try:
        resolver.relocate(prog, insns)
        fd_array = resolver.fd_array_bytes()
        slots = struct.unpack("=%di" % (len(fd_array) // 4), fd_array)
        assert len(slots) == 2 and slots[0] == 0
        assert syscalls.btf_name(slots[1]) == ("vmlinux", True)
        funcs = vmlinux_ids("FUNC")
        for idx, name in prog.ksym_refs:
            code, _dst, src, off, imm = bpf_insn.unpack(insns, idx)
            if code == bpf_insn.CALL and name != "bpf_no_such_kfunc":
                assert (src, off, imm) == (uapi.BPF_PSEUDO_KFUNC_CALL, 1, funcs[name])
            elif code == bpf_insn.LD_IMM64 and name == "bpf_task_acquire":
                # ld_imm64 of a module kfunc carries the fd itself.
                assert (src, imm, bpf_insn.unpack(insns, idx + 1)[4]) == (uapi.BPF_PSEUDO_BTF_ID, funcs[name],
                                                                          slots[1])
        with pytest.raises(SyscallError) as e:
            syscalls.prog_load(uapi.BPF_PROG_TYPE_SYSCALL, bytes(insns), "GPL", prog_flags=uapi.BPF_F_SLEEPABLE,
                               fd_array=fd_array, log_level=1, log_size=1 << 20)
        assert "BTF fd for kfunc is not a module BTF" in e.value.log
    finally:
        resolver.close()


def test_module_btf_fd_by_name():
    fd = module_btf_fd("vmlinux")
    try:
        assert syscalls.btf_name(fd) == ("vmlinux", True)
    finally:
        os.close(fd)
    with pytest.raises(LoaderError) as e:
        module_btf_fd("no_such_module_ebpf_deploy")
    assert str(e.value) == ("kernel module 'no_such_module_ebpf_deploy': its BTF object is not among the kernel's "
                            "BTF ids (module unloaded?)")


def test_ksyms_datasec_rewritten_as_libbpf_does():
    """What BPF_BTF_LOAD gets for .ksyms: every entry a 4-byte int VAR at
    offsets 0, 4, ...; kfuncs global FUNCs with named parameters, their
    entries the stand-in 'dummy_ksym'; and the kernel takes it."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
    from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import (
        allocate_ksyms, append_types, drop_layout_section, fix_datasecs)

    spec = read_object(obj("ksyms.o"))
    raw = fix_datasecs(spec.btf, spec.section_sizes, spec.symbol_offsets)
    types, strings = allocate_ksyms(raw, spec.btf, ".ksyms")
    out = BTF.from_bytes(bytes(append_types(drop_layout_section(raw), types, strings)), name="sanitized")
    assert out.count == spec.btf.count + 1  # the object has an int: only dummy_ksym is added
    dummy = out.type_by_id(out.count - 1)
    assert (dummy.kind, out.name_of(dummy.id), dummy.linkage) == (layout.BTF_KIND_VAR, "dummy_ksym",
                                                                  layout.BTF_VAR_GLOBAL_ALLOCATED)
    (sec_id,) = [i for i in out.ids_by_name(".ksyms") if out.kind_of(i) == layout.BTF_KIND_DATASEC]
    sec = out.type_by_id(sec_id)
    assert sec.size == 4 * len(sec.vars)
    for i, v in enumerate(sec.vars):
        assert (v.offset, v.size) == (4 * i, 4)
        t = out.type_by_id(v.type)
        assert t.kind == layout.BTF_KIND_VAR and t.linkage == layout.BTF_VAR_GLOBAL_ALLOCATED
        assert out.sizeof(t.type) == 4
    for name, ksym in spec.ksyms.items():
        t = out.type_by_id(ksym.btf_id)
        if ksym.kind == "func":
            assert t.linkage == layout.BTF_FUNC_GLOBAL, name
            assert all(p.name for p in out.type_by_id(t.type).params), name
    os.close(syscalls.btf_load(bytes(append_types(drop_layout_section(raw), types, strings)))[0])


def test_bpf_collection_deploys_kfunc_programs(tmp_path, pin_dir):
    """Through the module: a kfunc object deploys, a second run changes
    nothing, and a missing strong kfunc fails with its message and leaves
    nothing behind."""
    from playbook_runner import run_playbook

    module = "ebpf.deploy.bpf_collection"
    good = {module: dict(name="kf", path=obj("ksyms.o"), pin_root=pin_dir, programs=["kfuncs", "other_vars"])}
    bad = {module: dict(name="kf_bad", path=obj("ksyms_bad.o"), pin_root=pin_dir, programs=["missing_kfunc"])}
    proc, (first, second) = run_playbook(tmp_path, [good, good])
    assert first["changed"] and first["action"] == "create", proc.stdout
    assert second["changed"] is False and second["action"] == "none", second
    fd = syscalls.obj_get(os.path.join(pin_dir, "kf", "progs", "kfuncs"))
    try:
        assert syscalls.prog_test_run(fd, repeat=0)[0] == 0
    finally:
        os.close(fd)
    proc, (r,) = run_playbook(tmp_path, [bad])
    assert r.get("failed"), r
    modules = len([n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux"])
    assert r["msg"] == BAD[0][1] % (RELEASE, modules)
    assert "Traceback" not in proc.stdout
    assert not os.path.exists(os.path.join(pin_dir, "kf_bad"))


def test_kfuncs_without_kernel_btf(tmp_path):
    """A kernel that exposes no BTF: kfuncs cannot resolve, and the error says why."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.errors import NotSupportedError

    spec = read_object(obj("ksyms.o"))
    prog = spec.programs["kfuncs"]
    resolver = KsymResolver(spec, KernelBTF(sysfs=str(tmp_path)), RELEASE)
    with pytest.raises(NotSupportedError) as e:
        resolver.relocate(prog, bytearray(prog.insns))
    assert str(e.value).startswith("object 'ksyms.o': kfuncs and typed __ksym externs need the running kernel's "
                                   "BTF: kernel %s exposes no BTF (%s/vmlinux is missing" % (RELEASE, tmp_path))
    assert e.value.hint == ("btf_path cannot stand in here: the verifier checks the kernel's own type ids; build "
                            "the kernel with CONFIG_DEBUG_INFO_BTF")
