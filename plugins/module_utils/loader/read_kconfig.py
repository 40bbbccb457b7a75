# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``.kconfig`` externs: LINUX_KERNEL_VERSION, LINUX_HAS_* and CONFIG_*.

parse_externs() lays the externs out in a read-only ``.kconfig`` map at
spec time (and lists ``.ksyms`` externs, which resolve_ksyms.py resolves
at load time); kconfig_value() fills that map from the running kernel at load
time (/proc/config.gz or /boot/config-<release>, as libbpf reads them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.elf import SHN_UNDEF, STB_GLOBAL, STB_WEAK
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.spec import Ksym, MapSpec
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record

KCONFIG_SECTION = ".kconfig"
# Kconfig values are integers, tristates and strings: no real one is
# anywhere near this.
MAX_EXTERN_SIZE = 4096
KSYMS_SECTION = ".ksyms"

# enum libbpf_tristate
TRI_NO, TRI_YES, TRI_MODULE = 0, 1, 2


class Extern(Record):
    """One ``.kconfig`` extern: name, BTF type id, byte offset in the map,
    size, and whether it is weak (missing -> zero instead of an error)."""

    __slots__ = ("name", "type_id", "offset", "size", "weak")


def parse_externs(spec):
    """Sort the object's undefined symbols: ``.kconfig`` externs are laid out
    in a read-only ``.kconfig`` MapSpec added to ``spec.maps``; anything else
    goes to ``spec.unresolved`` (name -> reason), which fails only the
    programs that use it, at load time."""
    undef = [s for s in spec.elf.symbols
             if s.shndx == SHN_UNDEF and s.name and s.bind in (STB_GLOBAL, STB_WEAK)]
    if not undef:
        return
    btf = spec.btf
    kconfig_vars = {}
    ksyms = {}
    datasec_id = 0
    if btf is not None:
        for name, kind in ((KCONFIG_SECTION, "kconfig"), (KSYMS_SECTION, "ksyms")):
            for type_id in btf.ids_by_name(name):
                if btf.kind_of(type_id) != layout.BTF_KIND_DATASEC:
                    continue
                for secinfo in btf.type_by_id(type_id).vars:
                    if btf.kind_of(secinfo.type) not in (layout.BTF_KIND_VAR, layout.BTF_KIND_FUNC):
                        raise SpecError("object '%s': DATASEC '%s' entry type #%d is a %s, not a VAR" % (
                            spec.name, name, secinfo.type,
                            layout.KIND_NAMES.get(btf.kind_of(secinfo.type), "?")))
                    if kind == "ksyms":
                        ksyms[btf.name_of(secinfo.type)] = secinfo.type
                    else:
                        datasec_id = type_id
                        kconfig_vars[btf.name_of(secinfo.type)] = btf.type_by_id(secinfo.type).type
    offset = 0
    for sym in undef:
        if sym.name in ksyms:
            spec.ksyms[sym.name] = _ksym(btf, sym, ksyms[sym.name])
            continue
        if sym.name not in kconfig_vars:
            spec.unresolved[sym.name] = "undefined symbol: neither a .kconfig nor a .ksyms extern"
            continue
        type_id = kconfig_vars[sym.name]
        size = btf.sizeof(type_id)
        align = _alignment(btf, type_id)
        if size <= 0 or align <= 0 or size > MAX_EXTERN_SIZE:
            raise SpecError("extern '%s': its type has size %d (want 1 to %d)" % (sym.name, size, MAX_EXTERN_SIZE))
        offset = (offset + align - 1) // align * align
        spec.externs.append(Extern(sym.name, type_id, offset, size, sym.bind == STB_WEAK))
        offset += size
    if not spec.externs:
        return
    total = max((offset + 7) // 8 * 8, 8)
    m = MapSpec(KCONFIG_SECTION, uapi.BPF_MAP_TYPE_ARRAY, 4, total, 1, uapi.BPF_F_RDONLY_PROG,
                kind="kconfig", section=KCONFIG_SECTION)
    m.freeze = True
    m.btf_value_type_id = datasec_id
    m.data = bytearray(total)
    spec.maps[KCONFIG_SECTION] = m
    spec.section_sizes[KCONFIG_SECTION] = total
    for ext in spec.externs:
        spec.symbol_offsets[(KCONFIG_SECTION, ext.name)] = ext.offset


def _ksym(btf, sym, btf_id):
    """A Ksym for ELF symbol ``sym``, declared by FUNC or VAR ``btf_id``."""
    t = btf.type_by_id(btf_id)
    if t.kind == layout.BTF_KIND_FUNC:
        return Ksym(sym.name, "func", btf_id, t.type, sym.bind == STB_WEAK)
    type_id = btf.resolve(t.type)
    return Ksym(sym.name, "var", btf_id, type_id, sym.bind == STB_WEAK)


def _alignment(btf, type_id):
    t = btf.type_by_id(btf.resolve(type_id))
    if t.kind == layout.BTF_KIND_ARRAY:
        return _alignment(btf, t.elem_type)
    if t.kind in (layout.BTF_KIND_INT, layout.BTF_KIND_ENUM, layout.BTF_KIND_ENUM64, layout.BTF_KIND_PTR):
        return min(btf.sizeof(type_id), 8)
    return 1


class KernelConfig:
    """The running kernel's release and build config, read once on demand."""

    def __init__(self, release=None, config_paths=None):
        self.release = release or os.uname().release
        self._paths = config_paths or ("/proc/config.gz", "/boot/config-%s" % self.release)
        self._config = None

    @property
    def version_code(self):
        """KERNEL_VERSION(a, b, c) of the release, sublevel capped at 255."""
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", self.release)
        if not m:
            raise LoaderError("kernel release '%s' has no version number" % self.release)
        a, b, c = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        return (a << 16) + (b << 8) + min(c, 255)

    def config(self):
        """dict CONFIG_X -> raw value string ('y', 'm', 'n', '42', '"s"')."""
        if self._config is None:
            self._config = self._read_config()
        return self._config

    def _read_config(self):
        for path in self._paths:
            try:
                if path.endswith(".gz"):
                    import gzip  # only hosts with CONFIG_* externs need it
                    with gzip.open(path, "rt") as f:
                        text = f.read()
                else:
                    with open(path) as f:
                        text = f.read()
            except (IOError, OSError):
                continue
            out = {}
            for line in text.splitlines():
                if line.startswith("CONFIG_"):
                    key, _sep, value = line.partition("=")
                    out[key] = value
                elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                    out[line[2:-len(" is not set")]] = "n"
            return out
        raise LoaderError("kernel config not found (tried %s); CONFIG_* externs need one of them" % (
            ", ".join(self._paths)))

    def has_syscall_wrapper(self):
        prefixes = ("__x64_sys_bpf", "__arm64_sys_bpf", "__s390x_sys_bpf", "__riscv_sys_bpf",
                    "__powerpc_sys_bpf")
        try:
            with open("/proc/kallsyms") as f:
                for line in f:
                    if line.rstrip().endswith(prefixes):
                        return True
        except (IOError, OSError):
            pass
        return False


def kconfig_value(spec, kernel, warnings):
    """The bytes of the ``.kconfig`` map for ``spec`` on ``kernel``
    (a KernelConfig); what was adjusted (a string truncated to its array,
    as libbpf does) is appended to ``warnings``. Raises SpecError for a
    strong extern the kernel does not define or a value that does not fit
    its declared type."""
    m = spec.maps[KCONFIG_SECTION]
    buf = bytearray(m.value_size)
    for ext in spec.externs:
        raw = _raw_value(ext, kernel)
        if raw is None:
            if not ext.weak:
                raise SpecError("extern '%s': not defined by the running kernel (%s); declare it __weak "
                                "to default to 0" % (ext.name, kernel.release))
            continue
        buf[ext.offset:ext.offset + ext.size] = _encode(spec.btf, ext, raw, warnings)
    return bytes(buf)


def _raw_value(ext, kernel):
    if ext.name == "LINUX_KERNEL_VERSION":
        return str(kernel.version_code)
    if ext.name == "LINUX_HAS_SYSCALL_WRAPPER":
        return "y" if kernel.has_syscall_wrapper() else "n"
    if ext.name == "LINUX_HAS_BPF_COOKIE":
        return "y" if kernel.version_code >= (5 << 16) + (15 << 8) else "n"
    if ext.name.startswith("CONFIG_"):
        return kernel.config().get(ext.name)
    return None


def _encode(btf, ext, raw, warnings):
    t = btf.type_by_id(btf.resolve(ext.type_id))
    what = "extern '%s'" % ext.name
    if t.kind in (layout.BTF_KIND_ENUM, layout.BTF_KIND_ENUM64):
        # enum libbpf_tristate
        tri = {"y": TRI_YES, "m": TRI_MODULE, "n": TRI_NO}.get(raw)
        if tri is None:
            raise SpecError("%s: value %r is not y/m/n" % (what, raw))
        return tri.to_bytes(ext.size, sys.byteorder)
    if t.kind == layout.BTF_KIND_INT and t.encoding & layout.BTF_INT_BOOL:
        if raw not in ("y", "n"):
            raise SpecError("%s: value %r does not fit a bool (want y or n)" % (what, raw))
        return (1 if raw == "y" else 0).to_bytes(ext.size, sys.byteorder)
    if t.kind == layout.BTF_KIND_INT and ext.size == 1 and t.encoding & layout.BTF_INT_CHAR and raw in "ymn":
        return raw.encode("ascii")
    if t.kind == layout.BTF_KIND_ARRAY:
        if not (raw.startswith('"') and raw.endswith('"')):
            raise SpecError("%s: value %r is not a string" % (what, raw))
        text = raw[1:-1].encode("utf-8")
        if len(text) >= ext.size:
            warnings.append("%s: string %s (%d bytes) truncated to %d bytes to fit char[%d]" % (
                what, raw, len(text), ext.size - 1, ext.size))
            text = text[:ext.size - 1]
        return text + b"\0" * (ext.size - len(text))
    if t.kind == layout.BTF_KIND_INT:
        if raw in ("y", "m", "n"):
            number = {"y": 1, "m": 2, "n": 0}[raw]
        else:
            try:
                number = int(raw, 0)
            except ValueError as e:
                raise SpecError("%s: value %r is not a number" % (what, raw)) from e
        signed = bool(t.encoding & layout.BTF_INT_SIGNED)
        try:
            return number.to_bytes(ext.size, sys.byteorder, signed=signed)
        except OverflowError as e:
            raise SpecError("%s: value %d does not fit %d-byte %s integer" % (
                what, number, ext.size, "signed" if signed else "unsigned")) from e
    raise SpecError("%s: unsupported type %s" % (what, layout.KIND_NAMES.get(t.kind, t.kind)))
