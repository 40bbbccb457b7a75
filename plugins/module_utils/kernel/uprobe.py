# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""User-space probes: where a function is in an executable or shared
library (file offset, as the uprobe PMU wants it), and attaching a program
there through a perf event and a perf link.

Ported from libbpf's logic (resolve_full_path, elf_find_func_offset): a
library name without '/' is looked for in LD_LIBRARY_PATH and the usual
library directories, a program name in PATH; a symbol is looked up in
``.symtab`` and ``.dynsym`` and turned into a file offset through the
executable PT_LOAD segment that holds it, which is right for PIE and
non-PIE executables and shared libraries alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import fnmatch
import os

from ansible_collections.ebpf.deploy.plugins.module_utils.elf import STB_GLOBAL, STB_WEAK, ELFFile
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import ELFError, LoaderError, NotSupportedError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import attach, host, syscalls

LIBRARY_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


def _multiarch_dirs():
    machine = os.uname().machine
    triple = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "s390x": "s390x-linux-gnu",
              "ppc64le": "powerpc64le-linux-gnu", "riscv64": "riscv64-linux-gnu"}.get(machine)
    return ("/lib/%s" % triple, "/usr/lib/%s" % triple) if triple else ()


def resolve_binary(binary):
    """The path of ``binary``: as given when it has a '/', else a library
    (``libc.so.6``) from LD_LIBRARY_PATH and the library directories, or a
    program from PATH. LoaderError naming it when there is none."""
    if "/" in binary:
        if not os.path.isfile(binary):
            raise LoaderError("uprobe binary '%s' does not exist" % binary)
        return os.path.realpath(binary)
    if ".so" in binary:
        dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        dirs += list(_multiarch_dirs()) + list(LIBRARY_DIRS)
        what = "library"
    else:
        dirs = [d for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":") if d]
        what = "program"
    for d in dirs:
        path = os.path.join(d, binary)
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise LoaderError("uprobe binary '%s': no such %s in %s" % (binary, what, ":".join(dirs)),
                      hint="give the binary's full path")


def read_binary(path):
    """The ELFFile of executable or library ``path``; LoaderError if it is
    not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        raise LoaderError("uprobe binary '%s': %s" % (path, e.strerror)) from e
    try:
        return ELFFile(data, path, container=True)
    except ELFError as e:
        raise LoaderError("uprobe binary '%s' is not an ELF executable or library: %s" % (path, e)) from e


def function_offset(elf, symbol):
    """The file offset of function ``symbol`` in ``elf``. A global or weak
    definition wins over local ones; two different definitions of the same
    binding are ambiguous (libbpf refuses them too)."""
    found = {}
    for sym in elf.function_symbols():
        name = sym.name.split("@", 1)[0]
        if name == symbol:
            rank = 0 if sym.bind in (STB_GLOBAL, STB_WEAK) else 1
            found.setdefault(rank, set()).add(sym.value)
    if not found:
        raise LoaderError("uprobe binary '%s' has no function '%s' (in .symtab or .dynsym)" % (elf.name, symbol),
                          hint="nm -D %s / nm %s list its functions" % (elf.name, elf.name))
    values = found[min(found)]
    if len(values) > 1:
        raise LoaderError("uprobe binary '%s': function '%s' is defined %d times at different addresses" % (
            elf.name, symbol, len(values)), hint="give offset instead of symbol")
    vaddr = values.pop()
    offset = elf.file_offset(vaddr)
    if offset is None:
        raise LoaderError("uprobe binary '%s': function '%s' (address %#x) is in no executable segment" % (
            elf.name, symbol, vaddr))
    return offset


def function_offsets(elf, pattern):
    """[(name, file offset)] of the functions of ``elf`` matching glob
    ``pattern`` (libbpf's uprobe.multi/BINARY:PATTERN), sorted by name, one
    entry per name. LoaderError naming the binary when none matches."""
    names = sorted(set(s.name.split("@", 1)[0] for s in elf.function_symbols()
                       if fnmatch.fnmatchcase(s.name.split("@", 1)[0], pattern)))
    if not names:
        raise LoaderError("uprobe binary '%s' has no function matching '%s' (in .symtab or .dynsym)" % (
            elf.name, pattern), hint="nm -D %s / nm %s list its functions" % (elf.name, elf.name))
    return [(name, function_offset(elf, name)) for name in names]


def attach_uprobe_multi(prog_fd, path, offsets, retprobe=False, pid=None, what="uprobe_multi"):
    """One uprobe_multi link (Linux 6.6+) on every offset of ``path``."""
    try:
        return syscalls.link_create_uprobe_multi(prog_fd, path, offsets, retprobe, pid, what)
    except LoaderError as e:
        if getattr(e, "errno", None) == errno.ESRCH:
            raise LoaderError("%s: no process %s" % (what, pid)) from e
        if getattr(e, "errno", None) in (errno.EINVAL, errno.EOPNOTSUPP, 524) and host.kernel_older_than("6.6"):
            raise NotSupportedError(str(e), feature="uprobe_multi links", min_kernel="6.6") from e
        raise


def attach_uprobe(prog_fd, path, offset, retprobe=False, pid=None, what="uprobe"):
    """A uprobe or uretprobe at file offset ``offset`` of ``path`` (for
    process ``pid`` only, when given) through the uprobe PMU and a perf
    link (Linux 5.15+)."""
    pmu = attach.pmu_type("uprobe")
    if pmu is None:
        raise NotSupportedError("%s: this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe); it was "
                                "built without CONFIG_UPROBE_EVENTS" % what, feature="uprobe PMU")
    name = ctypes.create_string_buffer(path.encode() + b"\0")
    attr = attach.PERF_EVENT_ATTR.pack(pmu, attach.PERF_EVENT_ATTR.size,
                                       attach.retprobe_bit("uprobe") if retprobe else 0, 0, 0, 0, 0, 0, 0,
                                       ctypes.addressof(name), offset)
    try:
        # Any process: pid -1 on cpu 0 (a uprobe fires on every CPU);
        # one process: that pid on any CPU (libbpf does the same).
        pfd = attach.perf_event_open(attr, what, pid=-1 if pid is None else pid, cpu=0 if pid is None else -1)
    except LoaderError as e:
        if getattr(e, "errno", None) == errno.ESRCH:
            raise LoaderError("%s: no process %s" % (what, pid)) from e
        raise
    try:
        return attach.perf_link(prog_fd, pfd, what)
    finally:
        os.close(pfd)
