# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``__ksym`` externs resolved against the running kernel, as libbpf does.

- kfuncs (extern functions in ``.ksyms``): the FUNC of that name in the
  BTF of vmlinux, else of a module; the object's prototype must be
  compatible with the kernel's (bpf_core_types_are_compat: same number of
  arguments, compatible kinds past modifiers and typedefs). A call becomes
  BPF_PSEUDO_KFUNC_CALL with imm the kernel's BTF id and off the index in
  the program's fd_array of the module's BTF fd (0 for vmlinux).
- typed variables (``extern const struct rq runqueues __ksym``): the VAR of
  that name in kernel BTF, of a compatible type; its ld_imm64 becomes
  BPF_PSEUDO_BTF_ID with imm the VAR's id and the second imm the module's
  BTF fd (0 for vmlinux). A ld_imm64 of a kfunc (``bpf_ksym_exists()``)
  resolves the same way.
- untyped variables (``extern const void x __ksym``): the address
  /proc/kallsyms gives, as a plain 64-bit immediate.
- ``__weak`` externs the kernel lacks resolve to 0; a call of a missing
  weak kfunc becomes a call of helper POISON_KFUNC + index, which the
  verifier accepts only in dead code (a ``bpf_ksym_exists()`` guard).

Kernel BTF is read only when a typed extern needs it, /proc/kallsyms only
when an untyped one does; module BTF fds are opened on first use and
closed by close().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.core import TypeGraphError, types_are_compat
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import essential_name
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import (
    BTFError, LoaderError, NotSupportedError, RelocationError, SyscallError)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn as bpf_insn, syscalls, uapi

KALLSYMS = "/proc/kallsyms"
_S16_MAX = (1 << 15) - 1
_PREFIXES = {layout.BTF_KIND_STRUCT: "struct ", layout.BTF_KIND_UNION: "union ", layout.BTF_KIND_ENUM: "enum ",
             layout.BTF_KIND_ENUM64: "enum ", layout.BTF_KIND_FWD: "struct "}


class _Resolved:
    __slots__ = ("btf_id", "module", "addr")

    def __init__(self, btf_id=0, module=None, addr=0):
        self.btf_id = btf_id
        self.module = module
        self.addr = addr


class KsymResolver:
    """Resolves the ksym_refs of each program of ``spec``.

    ``kernel_btf``: a KernelBTF of the running kernel (its sysfs BTF: ids
    must be the running kernel's, so a btf_path is not used here).
    ``release``: the kernel release, for messages. Owns the module BTF fds
    it opens until close(). Not thread-safe.
    """

    def __init__(self, spec, kernel_btf, release, kallsyms=KALLSYMS):
        self.spec = spec
        self.kernel_btf = kernel_btf
        self.release = release
        self.kallsyms_path = kallsyms
        self._resolved = {}
        self._kallsyms = None
        # fd_array slot 0 stays empty: off 0 means vmlinux.
        self.fd_array = [0]
        self._module_slots = {}
        self._module_fds = {}
        self._order = dict((name, i) for i, name in enumerate(spec.ksyms))
        # Why a weak extern resolved to 0, when not because it is missing.
        self._weak_why = {}

    def close(self):
        for fd in self._module_fds.values():
            os.close(fd)
        self._module_fds = {}

    def fd_array_bytes(self):
        """The packed fd_array for BPF_PROG_LOAD, b'' while no kfunc is in a module."""
        if len(self.fd_array) == 1:
            return b""
        return struct.pack("=%di" % len(self.fd_array), *self.fd_array)

    def relocate(self, prog, insns):
        """Patch ``insns`` (a bytearray of ``prog``'s instructions) for its
        ksym_refs. Returns {insn: description} of poisoned calls (missing
        weak kfuncs). Raises RelocationError naming the program, the symbol
        and the kernel for a strong extern the kernel lacks or a kfunc or
        variable whose type does not match the kernel's."""
        poisoned = {}
        for idx, name in prog.ksym_refs:
            ksym = self.spec.ksyms[name]
            res = self._resolve(prog, ksym)
            code = bpf_insn.unpack(insns, idx)[0]
            if code == bpf_insn.CALL:
                if ksym.kind != "func":
                    raise RelocationError("program '%s': insn #%d: call to '%s', which is a kernel variable, "
                                          "not a kfunc" % (prog.name, idx, name))
                if res is None:
                    bpf_insn.BPF_INSN.pack_into(insns, idx * uapi.BPF_INSN_SIZE, bpf_insn.CALL, 0, 0,
                                                bpf_insn.POISON_KFUNC + self._order[name])
                    poisoned[idx] = "insn #%d calls weak kfunc '%s', which kernel %s %s" % (
                        idx, name, self.release, self._weak_why.get(name, "lacks"))
                    continue
                bpf_insn.set_src(insns, idx, uapi.BPF_PSEUDO_KFUNC_CALL)
                bpf_insn.set_imm(insns, idx, res.btf_id)
                bpf_insn.set_off(insns, idx, self._slot(res.module))
            elif code == bpf_insn.LD_IMM64:
                if res is not None and res.btf_id:
                    bpf_insn.set_ld_imm64(insns, idx, uapi.BPF_PSEUDO_BTF_ID, res.btf_id,
                                          self._module_fd(res.module) if res.module else 0)
                else:
                    addr = res.addr if res is not None else 0
                    bpf_insn.set_src(insns, idx, 0)
                    bpf_insn.set_imm_bits(insns, idx, addr)
                    bpf_insn.set_imm_bits(insns, idx + 1, addr >> 32)
            else:
                raise RelocationError("program '%s': insn #%d: reference to '%s' on an instruction that is "
                                      "neither ld_imm64 nor call (opcode %#x)" % (prog.name, idx, name, code))
        return poisoned

    # -- resolution -----------------------------------------------------------

    def _resolve(self, prog, ksym):
        """A _Resolved, or None for a weak extern the kernel lacks."""
        if ksym.name not in self._resolved:
            if ksym.kind == "var" and not ksym.type_id:
                res = self._from_kallsyms(prog, ksym)
            else:
                res = self._from_btf(prog, ksym)
            self._resolved[ksym.name] = res
        return self._resolved[ksym.name]

    def _what(self, prog, ksym):
        return "program '%s': %s '%s'" % (prog.name, "kfunc" if ksym.kind == "func" else "kernel variable",
                                          ksym.name)

    def _missing(self, prog, ksym, where):
        return RelocationError("%s: kernel %s has no such %s in %s; declare it __weak and guard its use with "
                               "bpf_ksym_exists() to load without it" % (
                                   self._what(prog, ksym), self.release,
                                   "function" if ksym.kind == "func" else "symbol", where))

    def _from_btf(self, prog, ksym):
        if ksym.kind == "func":
            # libbpf looks kfuncs up without a '___flavour' suffix.
            found = self._find(essential_name(ksym.name), layout.BTF_KIND_FUNC)
        else:
            found = self._find(ksym.name, layout.BTF_KIND_VAR)
        if found is None:
            if ksym.weak:
                return None
            modules = len(self.kernel_btf.module_names())
            raise self._missing(prog, ksym, "its BTF (vmlinux and %d module%s)" % (
                modules, "" if modules == 1 else "s"))
        kbtf, module, kid = found
        local = self.spec.btf
        target = kbtf.type_by_id(kid).type
        if ksym.kind == "var":
            target = kbtf.resolve(target)
        try:
            compatible = types_are_compat(local, ksym.type_id, kbtf, target)
        except (TypeGraphError, BTFError) as e:
            raise RelocationError("%s: cannot compare with the kernel's type: %s" % (
                self._what(prog, ksym), e)) from e
        if not compatible:
            if ksym.weak:
                self._weak_why[ksym.name] = "has with another %s" % (
                    "prototype" if ksym.kind == "func" else "type")
                return None
            raise RelocationError("%s: declared as %s, but kernel %s (%s) has %s" % (
                self._what(prog, ksym), _describe(local, ksym.type_id), self.release, module or "vmlinux",
                _describe(kbtf, target)))
        return _Resolved(kid, module)

    def _find(self, name, kind):
        """(btf, module name or None, type id) of the first ``kind`` named
        ``name`` in vmlinux, then in the modules (sorted by name)."""
        kernel = self.kernel_btf
        try:
            vmlinux = kernel.vmlinux
        except NotSupportedError as e:
            raise NotSupportedError("object '%s': kfuncs and typed __ksym externs need the running kernel's "
                                    "BTF: %s" % (self.spec.name, e), feature="kernel BTF",
                                    hint="btf_path cannot stand in here: the verifier checks the kernel's own "
                                         "type ids; build the kernel with CONFIG_DEBUG_INFO_BTF") from e
        for tid in vmlinux.ids_by_name(name):
            if vmlinux.kind_of(tid) == kind:
                return vmlinux, None, tid
        for module in kernel.module_names():
            try:
                btf = kernel.module(module)
            except BTFError:
                continue
            for tid in btf.ids_by_name(name):
                if tid >= btf.first_id and btf.kind_of(tid) == kind:
                    return btf, module, tid
        return None

    def _from_kallsyms(self, prog, ksym):
        table = self._read_kallsyms()
        addr = table.get(ksym.name)
        if addr is None:
            if ksym.weak:
                return None
            raise self._missing(prog, ksym, KALLSYMS)
        if isinstance(addr, tuple):
            raise RelocationError("%s: %s lists it at more than one address (%#x and %#x)" % (
                self._what(prog, ksym), KALLSYMS, addr[0], addr[1]))
        if addr == 0 and not ksym.weak:
            raise RelocationError("%s: %s shows its address as 0: kernel.kptr_restrict hides addresses from "
                                  "this process" % (self._what(prog, ksym), KALLSYMS),
                                  hint="run as root with CAP_SYSLOG, or set sysctl kernel.kptr_restrict=0")
        return _Resolved(addr=addr)

    def _read_kallsyms(self):
        """{name: address} of the untyped ksyms this object declares (a
        (first, other) tuple when kallsyms gives two addresses)."""
        if self._kallsyms is None:
            wanted = set(k.name for k in self.spec.ksyms.values() if k.kind == "var" and not k.type_id)
            table = {}
            try:
                with open(self.kallsyms_path) as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) < 3:
                            continue
                        name = parts[2]
                        if parts[1] in "dD" and ".llvm." in name:
                            # A static clang renamed with a suffix (libbpf's rule).
                            name = name.split(".llvm.", 1)[0]
                        if name not in wanted:
                            continue
                        addr = int(parts[0], 16)
                        seen = table.get(name)
                        if seen is None:
                            table[name] = addr
                        elif not isinstance(seen, tuple) and seen != addr:
                            table[name] = (seen, addr)
            except (IOError, OSError, ValueError) as e:
                raise LoaderError("object '%s': untyped __ksym externs: cannot read %s: %s" % (
                    self.spec.name, self.kallsyms_path, getattr(e, "strerror", None) or e)) from e
            self._kallsyms = table
        return self._kallsyms

    # -- module BTF fds ---------------------------------------------------------

    def _slot(self, module):
        """The fd_array index of ``module``'s BTF fd (0 for vmlinux)."""
        if module is None:
            return 0
        if module not in self._module_slots:
            if len(self.fd_array) > _S16_MAX:
                raise RelocationError("object '%s': more than %d kernel modules' kfuncs: the call's offset "
                                      "cannot index them" % (self.spec.name, _S16_MAX))
            self._module_slots[module] = len(self.fd_array)
            self.fd_array.append(self._module_fd(module))
        return self._module_slots[module]

    def _module_fd(self, module):
        if module not in self._module_fds:
            self._module_fds[module] = module_btf_fd(module)
        return self._module_fds[module]


def module_btf_fd(module):
    """An fd of the kernel BTF object of ``module``, found by walking the
    BTF ids (BPF_BTF_GET_NEXT_ID) and reading each one's name. The caller
    closes it. Raises LoaderError when no loaded BTF object has that name."""
    btf_id = 0
    while True:
        btf_id = syscalls.next_id("btf", btf_id)
        if btf_id is None:
            raise LoaderError("kernel module '%s': its BTF object is not among the kernel's BTF ids "
                              "(module unloaded?)" % module)
        try:
            fd = syscalls.get_fd_by_id("btf", btf_id)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                continue
            raise
        try:
            name, kernel_btf = syscalls.btf_name(fd, what="BTF id %d" % btf_id)
        except BaseException:
            os.close(fd)
            raise
        if kernel_btf and name == module:
            return fd
        os.close(fd)


def _describe(btf, type_id):
    """A short C-like rendering of a kfunc prototype or a variable type."""
    t = btf.type_by_id(btf.resolve(type_id)) if type_id else None
    if t is None:
        return "void"
    if hasattr(t, "params"):
        n = len(t.params)
        return "a function of %d argument%s (%s) returning %s" % (
            n, "" if n == 1 else "s", ", ".join(_type_name(btf, p.type) for p in t.params) or "void",
            _type_name(btf, t.return_type))
    return "type %s" % _type_name(btf, type_id)


def _type_name(btf, type_id):
    stars = ""
    for _hop in range(16):
        type_id = btf.resolve(type_id)
        if not type_id:
            return "void" + stars
        t = btf.type_by_id(type_id)
        if t.kind != layout.BTF_KIND_PTR:
            break
        stars += " *" if not stars else "*"
        type_id = t.type
    name = btf.name_of(type_id) or "(anon)"
    prefix = _PREFIXES.get(t.kind, "")
    return prefix + name + stars
