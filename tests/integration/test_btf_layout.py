# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The 2026 BTF header on the real kernel: object BTF written with a layout section is cut down
to the old header for a kernel that refuses it (this 6.18 kernel does), and a CO-RE object
relocates against kernel BTF rewritten to the new header (btf_path) exactly as against the
kernel's own. The reader's side: tests/unit/btf/test_layout_section.py."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import drop_layout_section
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from unit.btf.newheader import with_layout_section

from test_core import PACKET, VMLINUX, obj  # the CO-RE tests' objects, packet and kernel BTF

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="kernel has no /sys/kernel/btf/vmlinux")


def kernel_takes_layout(raw):
    try:
        os.close(syscalls.btf_load(raw)[0])
        return True
    except SyscallError:
        return False


def test_object_btf_with_layout_section_loads_with_btf():
    spec = read_object(obj("globals.o"))
    plain = spec.btf.raw_bytes()
    spec.btf = BTF.from_bytes(with_layout_section(plain), name=spec.btf.name)
    assert spec.btf.kind_layouts is not None
    if kernel_takes_layout(spec.btf.raw_bytes()):
        pytest.skip("this kernel accepts the layout section; nothing to cut down")
    with load_collection(spec) as coll:
        assert coll.warnings == [], coll.warnings
        assert coll.btf_fd is not None
        for prog in coll.programs.values():
            assert syscalls.prog_info(prog.fd).btf_id, prog.name


@pytest.fixture
def rewritten_vmlinux(tmp_path):
    with open(VMLINUX, "rb") as f:
        raw = f.read()
    path = tmp_path / "vmlinux-layout"
    path.write_bytes(with_layout_section(raw))
    assert bytes(drop_layout_section(path.read_bytes())) == raw
    return str(path)


def test_core_against_rewritten_kernel_btf(rewritten_vmlinux):
    """Same object: relocated against the rewritten file and against the kernel's own BTF, the
    instructions the loader hands the kernel are the same, and the program runs the same."""
    results = []
    for kernel in (KernelBTF(), KernelBTF(btf_path=rewritten_vmlinux)):
        assert kernel.vmlinux.count > 1000
        spec = read_object(obj("core_kinds.o"))
        with load_collection(spec, kernel_btf=kernel) as coll:
            fd = coll.programs["core_kinds"].fd
            retval = syscalls.prog_test_run(fd, PACKET)[0]
            bss = coll.maps[".bss"]
            value = syscalls.map_lookup(bss.fd, b"\0" * 4, bss.value_size)
            results.append((retval, value, syscalls.prog_info(fd).tag))
    assert results[0] == results[1]
    assert results[0][0] == 2
