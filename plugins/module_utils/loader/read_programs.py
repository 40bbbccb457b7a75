# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Programs of an ELF object, linked the way libbpf links them.

Every function in an executable section whose name gives a program type
is a program; functions in ``.text`` are subprograms. Functions in other
sections (cilium/ebpf allows such library sections) are subprograms when
a program calls them; if nothing does, they are listed as programs whose
section name is unknown, so loading them gives a clear error instead of
silently dropping a program with a mistyped section name. A program's
instructions are followed by each subprogram it reaches (calls and
callback addresses), appended once, with call offsets fixed. Map and
global-data references become Fixups that the loader resolves to fds,
kfunc calls and ``__ksym`` references ksym_refs it resolves against the
kernel;
func_info, line_info and CO-RE records move with their instructions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect

from ansible_collections.ebpf.deploy.plugins.module_utils.elf import SHN_UNDEF, STT_FUNC, STT_SECTION
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import RelocationError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn as bpf_insn, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_maps import is_data_section
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.sections import classify
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.spec import Fixup, ProgramSpec

TEXT = ".text"
INSN = uapi.BPF_INSN_SIZE


def link_programs(spec):
    """Fill ``spec.programs``. Raises SpecError / RelocationError naming the
    program and instruction."""
    elf = spec.elf
    secs = elf.sections
    funcs = {}
    for sym in elf.symbols:
        if sym.type == STT_FUNC and 0 < sym.shndx < len(secs) and secs[sym.shndx].executable:
            funcs.setdefault(sym.shndx, []).append(sym)
    for syms in funcs.values():
        syms.sort(key=lambda s: s.value)
    linker = _Linker(spec, funcs)
    unknown = []
    for sec in secs:
        if not sec.executable or sec.name == TEXT or sec.size == 0:
            continue
        if sec.size % INSN:
            raise SpecError("object '%s': section '%s': %d bytes is not a whole number of instructions" % (
                spec.name, sec.name, sec.size))
        if sec.index not in funcs:
            raise SpecError("object '%s': section '%s' holds code but no function symbol" % (spec.name, sec.name))
        try:
            kind = classify(sec.name)
        except SpecError as e:
            unknown.append((sec, e))
            continue
        for sym in funcs[sec.index]:
            _add_program(spec, linker.link(sec, sym, kind, None))
    for sec, error in unknown:
        for sym in funcs[sec.index]:
            if (sec.index, sym.value) not in linker.called:
                _add_program(spec, ProgramSpec(sym.name, sec.name, None, error, bytearray()))


def _add_program(spec, prog):
    if prog.name in spec.programs:
        raise SpecError("object '%s': program '%s' defined twice" % (spec.name, prog.name))
    spec.programs[prog.name] = prog


class _Linker:
    def __init__(self, spec, funcs):
        self.spec = spec
        self.funcs = funcs
        self.elf = spec.elf
        self.relocs = {}
        self.ext_index = {}
        # (section index, offset) of every function some program calls.
        self.called = set()
        self.map_at = {}
        for m in spec.maps.values():
            if m.kind in ("btf", "legacy"):
                self.map_at[(m.section, m.offset)] = m.name

    def _relocs(self, shndx):
        if shndx not in self.relocs:
            self.relocs[shndx] = dict((r.offset, r) for r in self.elf.relocations(shndx))
        return self.relocs[shndx]

    def _check_func(self, sec, sym):
        if sym.value % INSN or sym.size % INSN or sym.size == 0 or sym.value + sym.size > sec.size:
            raise SpecError("object '%s': function '%s' in '%s': offset %d size %d is not whole instructions "
                            "inside the section" % (self.spec.name, sym.name, sec.name, sym.value, sym.size))

    def link(self, sec, sym, kind, kind_error):
        self._check_func(sec, sym)
        insns = bytearray(sec.data[sym.value:sym.value + sym.size])
        prog = ProgramSpec(sym.name, sec.name, kind, kind_error, insns)
        prog.license = self.spec.license
        prog.kern_version = self.spec.kern_version
        placed = {(sec.index, sym.value): 0}
        chunks = [(sec, sym, 0)]
        i = 0
        while i < len(chunks):
            self._relocate_chunk(prog, chunks, placed, *chunks[i])
            i += 1
        for csec, csym, start in chunks:
            self._move_ext_info(prog, csec, csym, start)
        return prog

    def _place(self, prog, chunks, placed, shndx, target_off, what):
        """Final instruction index of offset ``target_off`` in section
        ``shndx``, appending the function that holds it on first use."""
        sec = self.elf.sections[shndx]
        func = None
        for f in self.funcs.get(shndx, ()):
            if f.value <= target_off < f.value + f.size:
                func = f
                break
        if func is None:
            raise RelocationError("program '%s': %s: no function at offset %d of section '%s'" % (
                prog.name, what, target_off, sec.name))
        key = (shndx, func.value)
        self.called.add(key)
        if key not in placed:
            self._check_func(sec, func)
            placed[key] = len(prog.insns) // INSN
            prog.insns += sec.data[func.value:func.value + func.size]
            chunks.append((sec, func, placed[key]))
        return placed[key] + (target_off - func.value) // INSN

    def _relocate_chunk(self, prog, chunks, placed, sec, func, start):
        relocs = self._relocs(sec.index)
        syms = self.elf.symbols
        secs = self.elf.sections
        buf = prog.insns
        count = func.size // INSN
        j = 0
        while j < count:
            idx = start + j
            sec_off = func.value + j * INSN
            rel = relocs.get(sec_off)
            code, _dst, src, _off, imm = bpf_insn.unpack(buf, idx)
            what = "insn #%d" % idx
            if code == bpf_insn.CALL and src == uapi.BPF_PSEUDO_CALL:
                if rel is not None:
                    sym = syms[rel.symbol]
                    if sym.shndx == SHN_UNDEF and sym.name in self.spec.ksyms:
                        # A kfunc: load.py points it at the kernel's BTF.
                        prog.ksym_refs.append((idx, sym.name))
                        j += 1
                        continue
                    if not (0 < sym.shndx < len(secs) and secs[sym.shndx].executable):
                        raise RelocationError("program '%s': %s: call to '%s', which is not code" % (
                            prog.name, what, sym.name or "#%d" % sym.index))
                    target_sec, target = sym.shndx, sym.value + (imm + 1) * INSN
                else:
                    target_sec, target = sec.index, sec_off + (imm + 1) * INSN
                if target_sec != sec.index or not func.value <= target < func.value + func.size:
                    sub = self._place(prog, chunks, placed, target_sec, target, what)
                    bpf_insn.set_imm(buf, idx, sub - (idx + 1))
            elif code == bpf_insn.LD_IMM64:
                if j + 1 >= count:
                    raise RelocationError("program '%s': %s: ld_imm64 is cut off at the end" % (prog.name, what))
                if rel is not None:
                    self._relocate_ld_imm64(prog, chunks, placed, idx, syms[rel.symbol], imm, secs)
                j += 1
            elif rel is not None:
                raise RelocationError("program '%s': %s: relocation against '%s' on an instruction that is "
                                      "neither ld_imm64 nor call (opcode %#x)" % (
                                          prog.name, what, syms[rel.symbol].name, code))
            j += 1

    def _relocate_ld_imm64(self, prog, chunks, placed, idx, sym, imm, secs):
        what = "insn #%d" % idx
        buf = prog.insns
        if sym.shndx == SHN_UNDEF:
            if sym.name in self.spec.ksyms:
                prog.ksym_refs.append((idx, sym.name))
                return
            for ext in self.spec.externs:
                if ext.name == sym.name:
                    prog.fixups.append(Fixup(idx, ".kconfig", ext.offset))
                    return
            reason = self.spec.unresolved.get(sym.name, "undefined symbol")
            prog.unresolved.append("%s: '%s': %s" % (what, sym.name, reason))
            return
        if not 0 < sym.shndx < len(secs):
            raise RelocationError("program '%s': %s: symbol '%s' in section #%d" % (
                prog.name, what, sym.name, sym.shndx))
        target = secs[sym.shndx]
        if target.name in ("maps", ".maps"):
            offset = sym.value + (imm if sym.type == STT_SECTION else 0)
            name = self.map_at.get((target.name, offset))
            if name is None:
                raise RelocationError("program '%s': %s: no map at offset %d of '%s' (symbol '%s')" % (
                    prog.name, what, offset, target.name, sym.name))
            prog.fixups.append(Fixup(idx, name))
        elif target.executable:
            sub = self._place(prog, chunks, placed, sym.shndx, sym.value + imm, what)
            bpf_insn.set_src(buf, idx, uapi.BPF_PSEUDO_FUNC)
            bpf_insn.set_imm(buf, idx, sub - (idx + 1))
            bpf_insn.set_imm(buf, idx + 1, 0)
        elif is_data_section(target.name):
            if target.name not in self.spec.maps:
                raise RelocationError("program '%s': %s: '%s' refers to empty section '%s'" % (
                    prog.name, what, sym.name, target.name))
            prog.fixups.append(Fixup(idx, target.name, sym.value + imm))
        else:
            raise RelocationError("program '%s': %s: reference to '%s' in section '%s', which is neither maps, "
                                  "data nor code" % (prog.name, what, sym.name, target.name))

    def _ext_records(self, kind, sec_name):
        """(sorted insn offsets, records) of one .BTF.ext table for a section,
        built once: a section may hold hundreds of programs."""
        key = (kind, sec_name)
        if key not in self.ext_index:
            table = getattr(self.spec.btf_ext, kind).get(sec_name)
            if table is None:
                records = []
            else:
                records = sorted(table if kind == "core_relos" else table[1], key=lambda r: r[0])
            self.ext_index[key] = ([r[0] for r in records], records)
        return self.ext_index[key]

    def _move_ext_info(self, prog, sec, func, start):
        ext = self.spec.btf_ext
        if ext is None:
            return
        lo, hi = func.value, func.value + func.size
        for kind, out in (("func_info", prog.func_info), ("line_info", prog.line_info),
                          ("core_relos", prog.core_relos)):
            offsets, records = self._ext_records(kind, sec.name)
            first, last = bisect.bisect_left(offsets, lo), bisect.bisect_left(offsets, hi)
            out.extend((start + (r[0] - lo) // INSN,) + tuple(r[1:]) for r in records[first:last])
            if kind != "core_relos" and first < last:
                rec_size = getattr(ext, kind)[sec.name][0]
                if kind == "func_info":
                    prog.func_info_rec_size = rec_size
                else:
                    prog.line_info_rec_size = rec_size
