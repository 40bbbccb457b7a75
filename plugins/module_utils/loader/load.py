# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand a CollectionSpec to the kernel: BTF, maps, programs, pins.

``load_collection(spec, pin_dir=...)`` is all-or-nothing: on any error it
closes what it created and removes what it pinned, then raises. The
result, a LoadedCollection, owns the fds until ``close()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.ext import pack_func_info, pack_line_info
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_KIND_DATASEC, BTF_KIND_FUNC, BTF_KIND_TYPEDEF)
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.sanitize import (
    allocate_externs, allocate_ksyms, append_types, drop_layout_section, fix_datasecs)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    LoaderError, NotSupportedError, RelocationError, SpecError, SyscallError, VerifierError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn as bpf_insn, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import MAPS_DIR, PROGS_DIR, make_dirs, pin_name
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_kconfig import (
    KCONFIG_SECTION, KSYMS_SECTION, KernelConfig, kconfig_value)
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_map_options import check_sizes
from ansible_collections.ebpf.deploy.plugins.module_utils.values import copy_fields

# Verifier log buffer sizes tried in turn; 6.4+ kernels keep the tail when
# the buffer is too small, older ones the head, hence the larger retry.
_LOG_SIZES = (1 << 20, 16 << 20)

_KEY0 = (0).to_bytes(4, sys.byteorder)


class LoadedMap:
    """A map in the kernel: ``name``, ``id``, ``fd``, ``type`` (int),
    ``key_size``, ``value_size``, ``max_entries``, ``flags``, ``pin`` (path
    or None), ``memlock`` (bytes, as the kernel reports it)."""

    __slots__ = ("name", "id", "fd", "type", "key_size", "value_size", "max_entries", "flags", "pin", "memlock")

    def __init__(self, name, fd):
        self.name = name
        self.fd = fd
        copy_fields(self, syscalls.fdinfo(fd), "key_size", "value_size", "max_entries", "memlock",
                    id="map_id", type="map_type", flags="map_flags")
        self.pin = None

    def as_dict(self):
        return dict((k, getattr(self, k)) for k in self.__slots__ if k != "fd")


class LoadedProgram:
    """A program in the kernel: ``name``, ``id``, ``fd``, ``type`` (int),
    ``tag`` (hex), ``pin``, ``memlock``, ``section``."""

    __slots__ = ("name", "id", "fd", "type", "tag", "pin", "memlock", "section", "expected_attach_type")

    def __init__(self, name, fd, section, expected_attach_type):
        self.name = name
        self.fd = fd
        copy_fields(self, syscalls.fdinfo(fd), "memlock", id="prog_id", type="prog_type", tag="prog_tag")
        self.section = section
        self.expected_attach_type = expected_attach_type
        self.pin = None

    def as_dict(self):
        return dict((k, getattr(self, k)) for k in self.__slots__ if k != "fd")


class LoadedCollection:
    """What load_collection() created. Owns every fd until ``close()``
    (also a context manager). ``warnings`` lists what was degraded, e.g.
    BTF the kernel refused."""

    def __init__(self, name):
        self.name = name
        self.maps = {}
        self.programs = {}
        self.btf_fd = None
        self.warnings = []
        self.pins = []

    def close(self):
        for obj in list(self.maps.values()) + list(self.programs.values()):
            if obj.fd is not None:
                os.close(obj.fd)
                obj.fd = None
        if self.btf_fd is not None:
            os.close(self.btf_fd)
            self.btf_fd = None

    def unpin(self):
        """Remove every pin this load created (and the directories it made)."""
        for path in reversed(self.pins):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
            except OSError:
                pass
        self.pins = []

    @property
    def memlock(self):
        return sum(m.memlock for m in self.maps.values()) + sum(p.memlock for p in self.programs.values())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_collection(spec, pin_dir=None, programs=None, kernel=None, kernel_btf=None, reuse_maps=None):
    """Load ``spec`` (a CollectionSpec) into the kernel.

    pin_dir: a directory on bpffs; maps go to ``pin_dir/maps/<name>`` and
    programs to ``pin_dir/progs/<name>`` ('.' in names becomes '_': bpffs
    refuses dots); it must not hold them yet.
    programs: names to load (default all); unknown names raise SpecError.
    kernel: a KernelConfig (for .kconfig externs); default the running one.
    kernel_btf: a KernelBTF (btf/kernel.py), used only if a program has
    CO-RE relocations or a BTF attach target; default the running kernel's.
    reuse_maps: {map name: fd} of existing maps to use instead of creating
    them (their contents are kept); the caller keeps its fds.

    Returns a LoadedCollection. Raises LoaderError subclasses; on error
    nothing created by this call stays in the kernel or in bpffs.
    """
    selected = _select_programs(spec, programs)
    check_sizes(spec, skip=reuse_maps or ())
    targets = _KernelTargets(spec, kernel_btf, kernel)
    loaded = LoadedCollection(spec.name)
    try:
        _load_btf(spec, loaded)
        for m in spec.maps.values():
            if reuse_maps and m.name in reuse_maps:
                loaded.maps[m.name] = LoadedMap(m.name, os.dup(reuse_maps[m.name]))
            else:
                loaded.maps[m.name] = _create_map(spec, m, loaded, kernel)
        for prog in selected:
            loaded.programs[prog.name] = _load_program(spec, prog, loaded, targets)
        _fill_init_slots(spec, loaded, reuse_maps or {})
        if pin_dir is not None:
            _pin_all(loaded, pin_dir)
    except BaseException:
        loaded.unpin()
        loaded.close()
        raise
    finally:
        targets.close()
    return loaded


def _select_programs(spec, names):
    if names is None:
        selected = list(spec.programs.values())
    else:
        dup = sorted(set(n for n in names if list(names).count(n) > 1))
        if dup:
            raise SpecError("programs: %s listed more than once" % ", ".join("'%s'" % n for n in dup))
        selected = [spec.program(name) for name in names]
    for prog in selected:
        if prog.kind is None:
            raise SpecError("program '%s': %s" % (prog.name, prog.kind_error))
        if prog.kind.btf_attach and prog.kind.btf_source != "kernel":
            raise NotSupportedError("program '%s' (section '%s'): %s programs are not supported by this loader "
                                    "version" % (prog.name, prog.section, prog.kind.section_def))
        if prog.kind.btf_attach and not prog.kind.btf_name:
            raise SpecError("program '%s': section '%s' names no attach target (e.g. '%s/<function>')" % (
                prog.name, prog.section, prog.kind.section_def.rstrip("+/")))
        if prog.unresolved:
            raise RelocationError("program '%s': %s" % (prog.name, "; ".join(prog.unresolved)))
        if prog.core_relos and spec.btf is None:
            raise RelocationError("program '%s': CO-RE relocations without the object's BTF" % prog.name)
    return selected


def needs_kernel_btf(spec, programs=None):
    """Whether loading ``programs`` (default all) of ``spec`` reads kernel
    BTF: a CO-RE relocation, a BTF attach target, a kfunc call or a typed
    ``__ksym`` variable. Raises as load_collection does for unknown program
    names."""
    return any(prog.core_relos or prog.kind.btf_attach or any(
        spec.ksyms[name].kind == "func" or spec.ksyms[name].type_id for _insn, name in prog.ksym_refs)
        for prog in _select_programs(spec, programs))


class _KernelTargets:
    """Kernel BTF for CO-RE and BTF attach targets, opened on first need:
    a collection that needs neither never reads kernel BTF, nor imports
    the modules that do."""

    def __init__(self, spec, kernel_btf, kernel=None):
        self.spec = spec
        self.kernel_btf = kernel_btf
        self.kernel = kernel
        self._relocator = None
        self._ksyms = None

    def close(self):
        if self._ksyms is not None:
            self._ksyms.close()

    def _kernel(self):
        if self.kernel_btf is None:
            from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF

            self.kernel_btf = KernelBTF()
        return self.kernel_btf

    def _btfs(self):
        kernel = self._kernel()
        yield kernel.vmlinux
        for name in kernel.module_names():
            yield kernel.module(name)

    def relocator(self):
        if self._relocator is None:
            from ansible_collections.ebpf.deploy.plugins.module_utils.btf.core import CoreRelocator

            self._relocator = CoreRelocator(self.spec.btf, self._btfs)
        return self._relocator

    def ksyms(self):
        """The KsymResolver of this load: kfuncs and __ksym variables
        resolve against the running kernel's own BTF (its ids are what
        the verifier checks), never a btf_path."""
        if self._ksyms is None:
            from ansible_collections.ebpf.deploy.plugins.module_utils.loader.resolve_ksyms import KsymResolver

            kernel_btf = self.kernel_btf
            if kernel_btf is None or kernel_btf.btf_path is not None:
                from ansible_collections.ebpf.deploy.plugins.module_utils.btf.kernel import KernelBTF

                kernel_btf = KernelBTF(cache=kernel_btf.cache if kernel_btf is not None else None)
                if self.kernel_btf is None:
                    self.kernel_btf = kernel_btf
            release = self.kernel.release if self.kernel is not None else os.uname().release
            self._ksyms = KsymResolver(self.spec, kernel_btf, release)
        return self._ksyms

    def attach_btf_id(self, prog):
        kind = prog.kind
        want = BTF_KIND_FUNC if kind.btf_kind == "func" else BTF_KIND_TYPEDEF
        kernel = self._kernel()
        if kind.btf_module is None:
            vmlinux = kernel.vmlinux
            for type_id in vmlinux.ids_by_name(kind.btf_name):
                if vmlinux.kind_of(type_id) == want:
                    return type_id
        for name in kernel.module_names():
            if kind.btf_module in (None, name):
                btf = kernel.module(name)
                for type_id in btf.ids_by_name(kind.btf_name):
                    if btf.kind_of(type_id) == want:
                        raise NotSupportedError("program '%s': attach target '%s' is in kernel module '%s'; "
                                                "module attach targets are not supported by this loader "
                                                "version" % (prog.name, kind.btf_name, name))
        raise SpecError("program '%s' (section '%s'): the kernel has no %s '%s' to attach to (%s)" % (
            prog.name, prog.section, kind.btf_kind, kind.btf_name, kernel.source))


def _load_btf(spec, loaded):
    if spec.btf is None:
        return
    raw = fix_datasecs(spec.btf, spec.section_sizes, spec.symbol_offsets)
    if spec.externs:
        allocate_externs(raw, spec.btf, KCONFIG_SECTION)
    extra = (b"", b"")
    if any(spec.btf.kind_of(i) == BTF_KIND_DATASEC for i in spec.btf.ids_by_name(KSYMS_SECTION)):
        extra = allocate_ksyms(raw, spec.btf, KSYMS_SECTION)
    # Last: the patches above address records by their offset in the blob.
    raw = append_types(drop_layout_section(raw), *extra)
    try:
        loaded.btf_fd = syscalls.btf_load(bytes(raw), what="object '%s': BTF" % spec.name)[0]
    except SyscallError as first:
        try:
            syscalls.btf_load(bytes(raw), log_level=1, log_size=1 << 20)
        except SyscallError as e:
            log_tail = " | ".join(e.log.strip().splitlines()[-3:])
            first = "%s%s" % (first, (": " + log_tail) if log_tail else "")
        loaded.warnings.append("%s; loading maps and programs without BTF" % first)


def _create_map(spec, m, loaded, kernel):
    inner_fd = _map_fd(spec, m.inner, loaded) if m.inner is not None else 0
    try:
        fd = _map_fd(spec, m, loaded, inner_fd)
    finally:
        if inner_fd:
            # The outer map keeps its own reference to the template.
            os.close(inner_fd)
    lm = LoadedMap(m.name, fd)
    loaded.maps[m.name] = lm
    what = "map '%s'" % m.name
    if m.kind == "kconfig":
        syscalls.map_update(fd, _KEY0, kconfig_value(spec, kernel or KernelConfig(), loaded.warnings), what=what)
    elif m.data is not None:
        syscalls.map_update(fd, _KEY0, bytes(m.data), what=what)
    if m.freeze:
        # Before any program loads: the verifier treats values read from a
        # frozen read-only map as known constants (dead-code elimination).
        syscalls.map_freeze(fd, what=what)
    return lm


def _map_fd(spec, m, loaded, inner_fd=0):
    key_size, value_size, max_entries = m.key_size, m.value_size, m.kernel_max_entries()
    use_btf = loaded.btf_fd is not None and uapi.takes_btf(m.type) and m.btf_value_type_id
    try:
        return syscalls.map_create(m.type, key_size, value_size, max_entries, m.flags, name=_kernel_name(m.name),
                                   inner_map_fd=inner_fd, numa_node=m.numa_node,
                                   btf_fd=loaded.btf_fd if use_btf else 0,
                                   btf_key_type_id=m.btf_key_type_id if use_btf else 0,
                                   btf_value_type_id=m.btf_value_type_id if use_btf else 0,
                                   map_extra=m.map_extra)
    except SyscallError as e:
        raise SyscallError("object '%s': map '%s': create (%s, key %d, value %d, max_entries %d, flags %#x)" % (
            spec.name, m.name, uapi.MAP_TYPE_NAMES.get(m.type, m.type), key_size, value_size, max_entries,
            m.flags), e.errno, hint=e.hint or _map_hint(m, e.errno)) from e


def _map_hint(m, err):
    if err == errno.EINVAL and m.flags & uapi.BPF_F_NO_PREALLOC:
        return "map type %s may not accept BPF_F_NO_PREALLOC" % uapi.MAP_TYPE_NAMES.get(m.type, m.type)
    if err == errno.EINVAL and m.type not in uapi.MAP_TYPE_NAMES:
        return "unknown map type %d" % m.type
    if err in (errno.EINVAL, errno.ENOTSUP, 524):
        name = uapi.MAP_TYPE_NAMES.get(m.type)
        minimum = uapi.MAP_TYPE_MIN_KERNEL.get(m.type)
        if name and minimum:
            return "map type %s needs Linux %s or later" % (name, minimum)
    return None


def _kernel_name(name):
    # The kernel takes [A-Za-z0-9_.] and 15 characters.
    cleaned = "".join(c if (c.isalnum() and c.isascii()) or c in "_." else "_" for c in name)
    return cleaned[:15]


def _load_program(spec, prog, loaded, targets):
    insns = bytearray(prog.insns)
    poisoned = {}
    if prog.core_relos:
        poisoned = targets.relocator().relocate(prog.name, insns, prog.core_relos)
    fd_array = b""
    if prog.ksym_refs:
        resolver = targets.ksyms()
        poisoned.update(resolver.relocate(prog, insns))
        fd_array = resolver.fd_array_bytes()
    for fix in prog.fixups:
        lm = loaded.maps.get(fix.map_name)
        if lm is None:
            raise LoaderError("program '%s': insn #%d: map '%s' was not created" % (prog.name, fix.insn, fix.map_name))
        if fix.value_offset is None:
            bpf_insn.set_ld_imm64(insns, fix.insn, uapi.BPF_PSEUDO_MAP_FD, lm.fd)
        else:
            bpf_insn.set_ld_imm64(insns, fix.insn, uapi.BPF_PSEUDO_MAP_VALUE, lm.fd, fix.value_offset)
    kind = prog.kind
    args = dict(name=_kernel_name(prog.name), expected_attach_type=kind.expected_attach_type or 0,
                prog_flags=kind.prog_flags, kern_version=prog.kern_version)
    if kind.btf_attach:
        args["attach_btf_id"] = targets.attach_btf_id(prog)
    if fd_array:
        args["fd_array"] = fd_array
    if loaded.btf_fd is not None and prog.func_info:
        args.update(btf_fd=loaded.btf_fd,
                    func_info=pack_func_info(_in_bytes(prog.func_info), prog.func_info_rec_size),
                    func_info_rec_size=prog.func_info_rec_size)
        if prog.line_info:
            args.update(line_info=pack_line_info(_in_bytes(prog.line_info), prog.line_info_rec_size),
                        line_info_rec_size=prog.line_info_rec_size)
    what = "object '%s': program '%s' (section '%s')" % (spec.name, prog.name, prog.section)
    try:
        fd = syscalls.prog_load(kind.prog_type, bytes(insns), prog.license, **args)[0]
    except SyscallError as first:
        # ENOENT: the verifier did not find a typed __ksym's address.
        explained = (errno.EACCES, errno.EINVAL, errno.E2BIG, errno.ENOSPC) + (
            (errno.ENOENT,) if prog.ksym_refs else ())
        if first.errno not in explained:
            raise SyscallError("%s: load" % what, first.errno, hint=first.hint) from first
        raise _verifier_error(what, prog, insns, args, first, poisoned) from first
    return LoadedProgram(prog.name, fd, prog.section, kind.expected_attach_type or 0)


def _in_bytes(records):
    # The spec indexes records by instruction; the packers take byte offsets.
    return [(r[0] * uapi.BPF_INSN_SIZE,) + tuple(r[1:]) for r in records]


def _verifier_error(what, prog, insns, args, first, poisoned):
    """Load again with the verifier log on, to explain the rejection."""
    log = ""
    err = first.errno
    for size in _LOG_SIZES:
        try:
            fd, _log = syscalls.prog_load(prog.kind.prog_type, bytes(insns), prog.license,
                                          log_level=1, log_size=size, **args)
        except SyscallError as e:
            log, err = getattr(e, "log", ""), e.errno
            if e.errno != errno.ENOSPC:
                break
            continue
        # Accepted with the log on: nothing to explain, only the first errno.
        os.close(fd)
        break
    hint = None
    message = "%s: rejected by the verifier" % what
    if poisoned and _reaches_kfunc_poison(log):
        message += ": it reaches a call of a weak kfunc this kernel lacks: %s" % "; ".join(
            poisoned[i] for i in sorted(poisoned) if "weak kfunc" in poisoned[i])
        hint = "guard the call with bpf_ksym_exists()"
    elif poisoned and str(bpf_insn.POISON_HELPER) in log:
        # Code the verifier reached calls the poison helper: a CO-RE
        # relocation the kernel could not satisfy, not a bug in the log.
        message += ": it reaches a CO-RE relocation this kernel cannot satisfy: %s" % "; ".join(
            poisoned[i] for i in sorted(poisoned))
        hint = "guard the access with bpf_core_field_exists()/bpf_core_type_exists(), or build for this kernel"
    elif "failed to find the address for kernel symbol" in log:
        hint = ("the kernel finds typed __ksym variables through kallsyms, which lists variables only when "
                "built with CONFIG_KALLSYMS_ALL")
    elif "GPL" in log and prog.license:
        hint = "the program's license '%s' is not GPL-compatible but it calls GPL-only helpers" % prog.license
    elif "GPL" in log:
        hint = "the object has no 'license' section; GPL-only helpers need SEC(\"license\") = \"GPL\""
    return VerifierError(message, err if err != errno.ENOSPC else first.errno, log, hint=hint)


def _reaches_kfunc_poison(log):
    for m in re.finditer(r"unknown#(\d+)", log):
        if bpf_insn.POISON_KFUNC <= int(m.group(1)) < bpf_insn.POISON_KFUNC + (1 << 16):
            return True
    return False


def _fill_init_slots(spec, loaded, reused):
    for m in spec.maps.values():
        for slot, kind, name in m.init_slots:
            if m.name in reused and kind == "map":
                continue
            what = "map '%s': slot %d" % (m.name, slot)
            if kind == "prog":
                target = loaded.programs.get(name)
                if target is None:
                    raise SpecError("%s: program '%s' is not among the programs loaded" % (what, name))
            else:
                target = loaded.maps[name]
            syscalls.map_update(loaded.maps[m.name].fd, slot.to_bytes(4, sys.byteorder),
                                target.fd.to_bytes(4, sys.byteorder), what=what)


def _pin_all(loaded, pin_dir):
    for part in pin_dir.split(os.sep):
        if "." in part:
            raise LoaderError("pin directory '%s': component '%s' contains '.', which bpffs refuses" % (
                pin_dir, part), hint="use '_' instead of '.' in pin paths")
    for sub, objs in ((MAPS_DIR, loaded.maps), (PROGS_DIR, loaded.programs)):
        directory = os.path.join(pin_dir, sub)
        make_dirs(directory, loaded.pins)
        taken = {}
        for obj in objs.values():
            fname = pin_name(obj.name)
            if fname in taken:
                raise LoaderError("%s '%s' and '%s' would share the pin '%s'" % (
                    sub[:-1], taken[fname], obj.name, os.path.join(directory, fname)))
            taken[fname] = obj.name
            path = os.path.join(directory, fname)
            syscalls.obj_pin(obj.fd, path)
            loaded.pins.append(path)
            obj.pin = path
