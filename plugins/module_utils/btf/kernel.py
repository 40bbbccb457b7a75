# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the running kernel's BTF comes from.

``/sys/kernel/btf/vmlinux`` and the modules' split BTF beside it, or a file
the caller names with ``btf_path`` for kernels that expose none: raw BTF,
or an ELF file holding a ``.BTF`` section (a BTFHub file, a debug
``vmlinux``). Nothing is opened at import or construction: the no-op path
of a deploy must not pay for kernel BTF.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.index_format import btf_identity
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import BTF, map_file
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import SHT_NOBITS, ELFFile
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, ELFError, NotSupportedError

SYSFS = "/sys/kernel/btf"
VMLINUX = "vmlinux"
_RAW_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")
_ELF_MAGIC = b"\x7fELF"

_EXTRACT_HINT = ("extract the raw BTF with 'llvm-objcopy --dump-section .BTF=vmlinux.btf <file>' "
                 "(or 'pahole --btf_encode_detached=vmlinux.btf <vmlinux>') and point btf_path at it")


class KernelBTF:
    """The kernel's BTF, for CO-RE relocations and BTF attach targets.

    ``KernelBTF(btf_path=None, cache=None, sysfs='/sys/kernel/btf')``:
    with ``btf_path`` that file is the kernel's BTF and no module BTF is
    used; otherwise ``sysfs/vmlinux`` and ``sysfs/<module>``. ``cache`` is
    a BTFCache (btf/cache.py) for vmlinux, or None to parse without one
    (``btf_cache: none``). Construction reads nothing; ``vmlinux`` parses
    (or maps from the cache) on first use and keeps it for the life of the
    instance, as ``module`` does per module. Not thread-safe on first use.
    """

    def __init__(self, btf_path=None, cache=None, sysfs=SYSFS):
        self.btf_path = btf_path
        self.cache = cache
        self.sysfs = sysfs
        self._data = self._identity = self._vmlinux = None  # each read on first use
        self._modules = {}

    def __repr__(self):
        return "<KernelBTF %s%s>" % (self.source, " (loaded)" if self._vmlinux is not None else "")

    @property
    def source(self):
        """'sysfs', or the btf_path, for messages."""
        return self.btf_path if self.btf_path is not None else "sysfs"

    @property
    def vmlinux_path(self):
        """The file the vmlinux BTF is read from."""
        return self.btf_path if self.btf_path is not None else os.path.join(self.sysfs, VMLINUX)

    @property
    def available(self):
        """Whether there is a BTF file to read (a stat, nothing parsed)."""
        return os.path.exists(self.vmlinux_path)

    @property
    def vmlinux(self):
        """The BTF of vmlinux, parsed (or built over the cache's index) on
        first use. Raises NotSupportedError when the kernel exposes no BTF
        and no btf_path was given; BTFError for a file that cannot be read
        or is not BTF."""
        if self._vmlinux is None:
            data = self._blob()
            name = VMLINUX if self.btf_path is None else os.path.basename(self.btf_path) or self.btf_path
            if self.cache is not None:
                self._vmlinux = self.cache.load(self.vmlinux_path, name, data=data)
                self._identity = self._identity or self.cache.identity
            else:
                self._vmlinux = BTF(data, name=name)
        return self._vmlinux

    @property
    def identity(self):
        """Hex SHA-256 of the vmlinux BTF blob: what the cache keys on.
        Maps the source on first use (no parse); same errors as
        ``vmlinux``. Cost: one hash of the blob (about 4 ms)."""
        if self._identity is None:
            self._identity = btf_identity(self._blob())
        return self._identity

    def module_names(self):
        """Names of the kernel modules that have BTF (the files in sysfs
        other than vmlinux), sorted; empty when there are none or when
        btf_path is set."""
        if self.btf_path is not None:
            return []
        try:
            return sorted(n for n in os.listdir(self.sysfs) if n != VMLINUX)
        except OSError:
            return []

    def module(self, name):
        """The split BTF of kernel module ``name`` over vmlinux, parsed on
        first use. Raises BTFError when the module has no BTF, when
        btf_path is set (module BTF is not used then), or as ``vmlinux``."""
        btf = self._modules.get(name)
        if btf is not None:
            return btf
        if self.btf_path is not None:
            raise BTFError("kernel module '%s': no module BTF is used with btf_path '%s'" % (name, self.btf_path))
        if not name or "/" in name or name in (".", "..", VMLINUX):
            raise BTFError("kernel module %r: not a module name" % (name,))
        btf = BTF.from_file(os.path.join(self.sysfs, name), base=self.vmlinux, name=name)
        self._modules[name] = btf
        return btf

    # -- reading the source ---------------------------------------------------

    def _blob(self):
        if self._data is None:
            if self.btf_path is not None:
                self._data = read_btf_file(self.btf_path)
            else:
                path = self.vmlinux_path
                if not os.path.exists(path):
                    raise _no_kernel_btf(path)
                self._data = map_file(path, VMLINUX)
        return self._data


def read_btf_file(path):
    """The BTF blob in ``path``: the whole file when it is raw BTF (magic
    0xEB9F at offset 0, either byte order), or the ``.BTF`` section of an
    ELF64 file of any machine. Mapped, not copied. Raises BTFError naming
    the file and what it holds otherwise."""
    data = map_file(path, os.path.basename(path) or path)
    head = bytes(data[:4])
    if head[:2] in _RAW_MAGICS:
        return data
    if head == _ELF_MAGIC:
        try:
            elf = ELFFile(data, path, container=True)
        except ELFError as exc:
            raise BTFError("btf_path '%s': ELF file not readable as a BTF container: %s" % (path, exc),
                           hint=_EXTRACT_HINT) from exc
        sec = elf.section(".BTF")
        if sec is None or sec.type == SHT_NOBITS or not len(sec.data):
            raise BTFError("btf_path '%s': ELF file without a .BTF section (built without BTF, or stripped)"
                           % path)
        return sec.data
    if not head:
        found = "an empty file"
    else:
        found = "first bytes %s" % " ".join("%02x" % b for b in bytearray(head))
    raise BTFError("btf_path '%s': neither raw BTF (magic 0xeb9f at offset 0) nor an ELF file with a .BTF "
                   "section: found %s" % (path, found))


def _no_kernel_btf(path):
    release = os.uname().release
    todo = ("set the btf_path option to this kernel's BTF: a raw BTF file or an ELF file with a .BTF "
            "section, e.g. BTFHub's file for release %s or /boot/vmlinux-%s" % (release, release))
    return NotSupportedError(
        "kernel %s exposes no BTF (%s is missing: built without CONFIG_DEBUG_INFO_BTF, which needs "
        "Linux 5.4 or later), and CO-RE relocations and BTF attach targets need it; %s"
        % (release, path, todo), feature="kernel BTF", hint=todo)
