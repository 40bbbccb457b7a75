# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of kernel BTF sources: laziness, sysfs (the real vmlinux and a
fake sysfs with module split BTF), btf_path as raw BTF (both byte orders)
and the errors for missing or foreign files. btf_path as ELF (a compiled
BPF object, and vmlinux's BTF put into a host object with llvm-objcopy):
tests/integration/test_btf_objects.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import platform
import shutil
import struct
import subprocess
import sys

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.cache import BTFCache
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, NotSupportedError

VMLINUX = "/sys/kernel/btf/vmlinux"
STRACE = shutil.which("strace")

needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                   reason="no %s (kernel built without CONFIG_DEBUG_INFO_BTF, Linux 5.4+)" % VMLINUX)


def make_btf(names, order="<", base=None):
    """A BTF blob of 4-byte INTs called ``names`` and a struct 'pair' of
    two of them; split over ``base`` (a BTF) when given."""
    first = base.count if base is not None else 1
    strtab = bytearray(b"" if base is not None else b"\0")
    base_len = len(base.strings) if base is not None else 0

    def s(text):
        off = base_len + len(strtab)
        strtab.extend(text.encode() + b"\0")
        return off

    types = bytearray()
    for name in names:
        types += struct.pack(order + "IIII", s(name), L.make_info(L.BTF_KIND_INT), 4, 32)
    types += struct.pack(order + "III", s("pair"), L.make_info(L.BTF_KIND_STRUCT, 2), 8)
    types += struct.pack(order + "III", s("a"), first, 0)
    types += struct.pack(order + "III", s("b"), first, 32)
    hdr = struct.pack(order + "HBBIIIII", L.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strtab))
    return hdr + bytes(types) + bytes(strtab)


def write(path, data, mode=0o644):
    with open(str(path), "wb") as f:
        f.write(data)
    os.chmod(str(path), mode)
    return str(path)


# -- laziness ----------------------------------------------------------------

@pytest.fixture
def opened(monkeypatch):
    """Paths passed to os.open and open() while the test runs."""
    seen = []
    real_os_open = os.open
    real_open = open

    def os_open(path, *args, **kwargs):
        seen.append(str(path))
        return real_os_open(path, *args, **kwargs)

    def py_open(path, *args, **kwargs):
        seen.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr("builtins.open", py_open)
    return seen


def test_construction_reads_nothing(tmp_path, opened):
    sysfs = tmp_path / "btf"
    sysfs.mkdir()
    write(sysfs / "vmlinux", b"this is not BTF at all, not at all")
    write(sysfs / "mod_a", b"nor this")
    del opened[:]
    kernel = KernelBTF(sysfs=str(sysfs), cache=BTFCache(str(tmp_path / "cache"), "run1"))
    assert kernel.source == "sysfs"
    assert kernel.available
    assert kernel.module_names() == ["mod_a"]
    repr(kernel)
    assert opened == []
    assert not (tmp_path / "cache").exists()
    # The first use is what reads (and here fails on) the file.
    with pytest.raises(BTFError, match="bad magic"):
        kernel.vmlinux
    assert opened[0] == str(sysfs / "vmlinux")


@pytest.mark.skipif(STRACE is None, reason="strace not installed")
def test_import_opens_no_kernel_btf():
    code = ("from ansible_collections.ebpf.deploy.plugins.module_utils.btf import kernel, cache; "
            "k = kernel.KernelBTF(cache=cache.BTFCache(None, 'r')); k.source; k.module_names()")
    log = subprocess.run([STRACE, "-f", "-e", "trace=open,openat,openat2", sys.executable, "-c", code],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=False)
    if log.returncode != 0 and "ptrace" in log.stderr.lower():
        pytest.skip("strace cannot trace here: %s" % log.stderr.strip().splitlines()[-1])
    assert log.returncode == 0, log.stderr[-2000:]
    assert "/sys/kernel/btf/vmlinux" not in log.stderr
    assert "btf-cache" not in log.stderr


# -- sysfs ---------------------------------------------------------------------

@needs_vmlinux
def test_real_sysfs():
    kernel = KernelBTF()
    assert kernel.source == "sysfs"
    assert kernel.module_names() == sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux")
    vmlinux = kernel.vmlinux
    assert kernel.vmlinux is vmlinux
    assert vmlinux.name == "vmlinux"
    assert vmlinux.find("task_struct", L.BTF_KIND_STRUCT).size > 0
    with open(VMLINUX, "rb") as f:
        assert kernel.identity == hashlib.sha256(f.read()).hexdigest()


def test_fake_sysfs_with_modules(tmp_path):
    sysfs = tmp_path / "btf"
    sysfs.mkdir()
    base_blob = make_btf(["u32", "task_struct___v1"])
    write(sysfs / "vmlinux", base_blob)
    base = BTF.from_bytes(base_blob)
    write(sysfs / "mod_b", make_btf(["mod_b_t", "u32"], base=base))
    write(sysfs / "mod_a", make_btf(["mod_a_t"], base=base))
    kernel = KernelBTF(sysfs=str(sysfs))
    assert kernel.module_names() == ["mod_a", "mod_b"]
    mod = kernel.module("mod_b")
    assert kernel.module("mod_b") is mod
    assert mod.base is kernel.vmlinux
    assert mod.first_id == kernel.vmlinux.count
    assert mod.ids_by_name("u32") == (1, mod.first_id + 1)
    assert mod.ids_by_essential_name("task_struct") == (2,)
    assert mod.type_by_id(mod.first_id).name == "mod_b_t"


@pytest.mark.parametrize("name, message", [
    ("missing_mod", "cannot open"),
    ("vmlinux", "not a module name"),
    ("../etc", "not a module name"),
    ("", "not a module name"),
])
def test_bad_module_names(tmp_path, name, message):
    sysfs = tmp_path / "btf"
    sysfs.mkdir()
    write(sysfs / "vmlinux", make_btf(["u32"]))
    with pytest.raises(BTFError, match=message):
        KernelBTF(sysfs=str(sysfs)).module(name)


def test_missing_kernel_btf_is_not_supported(tmp_path):
    kernel = KernelBTF(sysfs=str(tmp_path / "no-btf-here"))
    assert not kernel.available
    assert kernel.module_names() == []
    with pytest.raises(NotSupportedError) as info:
        kernel.vmlinux
    message = str(info.value)
    release = platform.release()
    for part in ("kernel %s exposes no BTF" % release, "btf_path", "raw BTF", ".BTF section", "BTFHub",
                 "/boot/vmlinux-%s" % release, "CONFIG_DEBUG_INFO_BTF"):
        assert part in message
    assert info.value.feature == "kernel BTF"
    assert "btf_path" in info.value.hint
    with pytest.raises(NotSupportedError):
        kernel.identity


# -- btf_path --------------------------------------------------------------------

@pytest.mark.parametrize("order", ["<", ">"])
def test_btf_path_raw(tmp_path, order):
    path = write(tmp_path / "k.btf", make_btf(["u32", "pid_t"], order=order))
    kernel = KernelBTF(btf_path=path, sysfs=str(tmp_path / "unused"))
    assert kernel.source == path
    assert kernel.module_names() == []
    btf = kernel.vmlinux
    assert btf.byte_order == order
    assert btf.name == "k.btf"
    assert btf.ids_by_name("pid_t") == (2,)
    assert btf.find("pair").members[1].bit_offset == 32
    with pytest.raises(BTFError, match="no module BTF is used with btf_path"):
        kernel.module("anything")


@needs_vmlinux
def test_btf_path_raw_vmlinux_copy(tmp_path):
    path = write(tmp_path / "vmlinux.btf", open(VMLINUX, "rb").read())
    btf = KernelBTF(btf_path=path).vmlinux
    fresh = BTF.from_file(VMLINUX)
    assert btf.count == fresh.count
    assert btf.ids_by_name("task_struct") == fresh.ids_by_name("task_struct")


@pytest.mark.parametrize("content, message", [
    (b"", "found an empty file"),
    (b"\x01\x02\x03\x04 garbage", "neither raw BTF .* found first bytes 01 02 03 04"),
    (b"#!/bin/sh\n", "found first bytes 23 21 2f 62"),
    (b"\x7fELF\x01\x01\x01" + b"\0" * 60, "not readable as a BTF container: .*64-bit"),
    (b"\x7fELF", "not readable as a BTF container: .*truncated"),
])
def test_btf_path_not_btf(tmp_path, content, message):
    path = write(tmp_path / "thing", content)
    with pytest.raises(BTFError, match=message) as info:
        KernelBTF(btf_path=path).vmlinux
    assert path in str(info.value)


def test_btf_path_missing(tmp_path):
    with pytest.raises(BTFError, match="cannot open"):
        KernelBTF(btf_path=str(tmp_path / "nope.btf")).vmlinux


def test_btf_path_raw_but_damaged(tmp_path):
    blob = bytearray(make_btf(["u32"]))
    blob[4:8] = struct.pack("<I", 99)  # hdr_len beyond the data
    path = write(tmp_path / "bad.btf", bytes(blob))
    with pytest.raises(BTFError, match="hdr_len 99"):
        KernelBTF(btf_path=path).vmlinux
