# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the running kernel's BTF comes from: /sys/kernel/btf (vmlinux and
module split BTF) or a file the caller names (raw BTF, or an ELF with a
.BTF section, as BTFHub ships them). Nothing is read until asked for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import platform

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import ELFFile
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, ELFError, NotSupportedError

SYSFS = "/sys/kernel/btf"
_RAW_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")


class KernelBTF:
    """The target BTF for CO-RE and BTF attach targets.

    ``KernelBTF(btf_path=None, cache=None, sysfs=SYSFS)``: with
    ``btf_path`` that file is the kernel's BTF (and no module BTF is used);
    otherwise ``sysfs/vmlinux`` and ``sysfs/<module>``. ``cache`` is a
    BTFCache (btf/cache.py) or None. Construction reads nothing.
    """

    def __init__(self, btf_path=None, cache=None, sysfs=SYSFS):
        self.btf_path = btf_path
        self.cache = cache
        self.sysfs = sysfs
        self._vmlinux = None
        self._modules = {}

    @property
    def source(self):
        return self.btf_path or os.path.join(self.sysfs, "vmlinux")

    @property
    def vmlinux(self):
        """The BTF of vmlinux (parsed, or mapped from the cache, on first use).

        Raises NotSupportedError when the kernel exposes no BTF and no
        btf_path was given; BTFError for a file that is not BTF."""
        if self._vmlinux is None:
            self._vmlinux = self._load_vmlinux()
        return self._vmlinux

    def _load_vmlinux(self):
        if self.btf_path is not None:
            return _load_file(self.btf_path)
        path = os.path.join(self.sysfs, "vmlinux")
        if not os.path.exists(path):
            raise NotSupportedError(
                "kernel %s exposes no BTF (%s is missing), which CO-RE relocations and BTF attach targets need"
                % (platform.release(), path), feature="kernel BTF", min_kernel="5.4 with CONFIG_DEBUG_INFO_BTF",
                hint="set btf_path to this kernel's BTF: a raw BTF file or an ELF with a .BTF section (BTFHub "
                     "publishes them per distribution kernel; /boot/vmlinux-%s works too)" % platform.release())
        if self.cache is not None:
            return self.cache.load(path, "vmlinux")
        return BTF.from_file(path, name="vmlinux")

    def module_names(self):
        """Names of the kernel modules with BTF (none with btf_path)."""
        if self.btf_path is not None:
            return []
        try:
            return sorted(n for n in os.listdir(self.sysfs) if n != "vmlinux")
        except OSError:
            return []

    def module(self, name):
        """The split BTF of kernel module ``name``, on top of vmlinux."""
        if name not in self._modules:
            self._modules[name] = BTF.from_file(os.path.join(self.sysfs, name), base=self.vmlinux, name=name)
        return self._modules[name]


def _load_file(path):
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except (IOError, OSError) as e:
        raise BTFError("btf_path '%s': cannot read: %s" % (path, e.strerror or e))
    if head[:2] in _RAW_MAGICS:
        return BTF.from_file(path)
    if head == b"\x7fELF":
        with open(path, "rb") as f:
            data = f.read()
        try:
            sec = ELFFile(data, path).section(".BTF")
        except ELFError as e:
            raise BTFError("btf_path '%s': %s" % (path, e))
        if sec is None:
            raise BTFError("btf_path '%s': ELF file without a .BTF section" % path)
        return BTF.from_bytes(bytes(sec.data), name=os.path.basename(path))
    raise BTFError("btf_path '%s': neither raw BTF (magic 0xeb9f) nor an ELF file (starts with %r)" % (path, head))
