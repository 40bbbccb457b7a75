# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ELF64 reader for eBPF objects.

Reads only what a BPF loader needs (section headers, the symbol table and
SHT_REL relocations) straight from one ``bytes`` buffer with precompiled
``struct.Struct`` layouts; section contents are ``memoryview`` slices, never
copies. Every inconsistency is an ``ELFError`` naming the file and the part.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import ELFError
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record

EM_BPF = 247
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11

PT_LOAD = 1
PF_X = 0x1

ET_EXEC = 2
ET_DYN = 3

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

SHN_UNDEF = 0
SHN_LORESERVE = 0xff00
SHN_ABS = 0xfff1
SHN_COMMON = 0xfff2

STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4

STV_DEFAULT = 0
STV_HIDDEN = 2

# BPF relocation types (llvm's ELF/BPF.def)
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10

_IDENT = struct.Struct("4sBBBBB7x")


class _Layouts:
    """The ELF64 structures for one byte order, compiled once."""

    def __init__(self, order):
        self.ehdr = struct.Struct(order + "16sHHIQQQIHHHHHH")
        self.shdr = struct.Struct(order + "IIQQQQIIQQ")
        self.sym = struct.Struct(order + "IBBHQQ")
        self.rel = struct.Struct(order + "QQ")
        self.phdr = struct.Struct(order + "IIQQQQQQ")


_LAYOUTS = {"<": _Layouts("<"), ">": _Layouts(">")}


class Section(Record):
    """One section header; ``data`` is a zero-copy view of its contents
    (empty for SHT_NOBITS, whose ``size`` still says how large it is)."""

    __slots__ = ("index", "name", "type", "flags", "offset", "size", "link", "info",
                 "addralign", "entsize", "data")

    @property
    def executable(self):
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    def __repr__(self):
        return "Section(%d, %r, type=%d, size=%d)" % (self.index, self.name, self.type, self.size)


class Symbol:
    __slots__ = ("index", "name", "bind", "type", "visibility", "shndx", "value", "size")

    def __init__(self, index, name, info, other, shndx, value, size):
        self.index = index
        self.name = name
        self.bind = info >> 4
        self.type = info & 0xf
        self.visibility = other & 0x3
        self.shndx = shndx
        self.value = value
        self.size = size

    def __repr__(self):
        return "Symbol(%d, %r, shndx=%d, value=%d)" % (self.index, self.name, self.shndx, self.value)


class Relocation(Record):
    __slots__ = ("offset", "symbol", "type")


class Segment(Record):
    """One program header (only what a uprobe needs: type, flags, where its
    bytes are in the file and where they go in memory)."""

    __slots__ = ("type", "flags", "offset", "vaddr", "filesz", "memsz")


class ELFFile:
    """A parsed eBPF ELF object.

    ``ELFFile(data, name)`` validates the headers at once (cheap: a few
    hundred section headers at most) and raises ``ELFError``; symbols and
    relocations are decoded on first use. ``container=True`` reads an
    ELF64 of any machine and byte order only as a holder of sections (a
    vmlinux or BTFHub file carrying ``.BTF``); the eBPF checks are skipped.

    Attributes: ``name`` (for messages), ``byteorder`` ('<' or '>'),
    ``sections`` (list, by index), ``symbols`` (list, by index).
    """

    def __init__(self, data, name="<object>", container=False):
        self.name = name
        self._container = container
        self._buf = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        self._symbols = None
        self._relocations = None
        self._by_name = None
        self._parse_headers()

    def _fail(self, reason):
        raise ELFError("ELF '%s': %s" % (self.name, reason))

    def _parse_headers(self):
        buf = self._buf
        if len(buf) < 64:
            self._fail("truncated: %d bytes, an ELF64 header needs 64" % len(buf))
        magic, cls, data_enc, version, _osabi, _abiver = _IDENT.unpack_from(buf, 0)
        if magic != b"\x7fELF":
            self._fail("not an ELF file (bad magic %r)" % bytes(magic))
        if cls != ELFCLASS64:
            self._fail("not a 64-bit ELF object (class %d)" % cls)
        if data_enc == ELFDATA2LSB:
            order = "<"
        elif data_enc == ELFDATA2MSB:
            order = ">"
        else:
            self._fail("unknown data encoding %d" % data_enc)
        host = "<" if sys.byteorder == "little" else ">"
        if order != host and not self._container:
            self._fail("object is %s-endian but this host is %s-endian; build it with %s" % (
                "big" if order == ">" else "little", sys.byteorder,
                "-target bpfel" if host == "<" else "-target bpfeb"))
        self.byteorder = order
        self.layouts = lay = _LAYOUTS[order]
        (_ident, self.elf_type, machine, _ver, _entry, self._phoff, shoff, _flags, _ehsize, self._phentsize,
         self._phnum, shentsize, shnum, shstrndx) = lay.ehdr.unpack_from(buf, 0)
        self._segments = None
        if machine != EM_BPF and not self._container:
            self._fail("not an eBPF object (e_machine %d, want %d EM_BPF)" % (machine, EM_BPF))
        if shnum == 0 or shoff == 0:
            self._fail("no section headers")
        if shentsize != lay.shdr.size:
            self._fail("section header size %d, want %d" % (shentsize, lay.shdr.size))
        if shoff + shnum * shentsize > len(buf):
            self._fail("truncated: section headers end at byte %d, file has %d" % (
                shoff + shnum * shentsize, len(buf)))
        if shstrndx >= shnum:
            self._fail("section name table index %d out of range (%d sections)" % (shstrndx, shnum))
        raw = [lay.shdr.unpack_from(buf, shoff + i * shentsize) for i in range(shnum)]
        strtab = raw[shstrndx]
        names = self._section_bytes(shstrndx, strtab, "section name table")
        self.sections = []
        for index, (sh_name, sh_type, flags, _addr, offset, size, link, info, align, entsize) in enumerate(raw):
            name = self._cstring(names, sh_name, "section #%d name" % index)
            if sh_type == SHT_NOBITS or sh_type == SHT_NULL:
                data = buf[0:0]
            else:
                data = self._section_bytes(index, raw[index], name or "#%d" % index)
            self.sections.append(Section(index, name, sh_type, flags, offset, size, link, info,
                                         align, entsize, data))

    def _section_bytes(self, index, hdr, what):
        offset, size = hdr[4], hdr[5]
        if offset + size > len(self._buf):
            self._fail("section '%s' (#%d): truncated: ends at byte %d, file has %d" % (
                what, index, offset + size, len(self._buf)))
        return self._buf[offset:offset + size]

    def _cstring(self, table, offset, what):
        if offset >= len(table):
            if offset == 0:
                return ""
            self._fail("%s: string offset %d out of range (table has %d bytes)" % (what, offset, len(table)))
        end = bytes(table[offset:offset + 4096]).find(b"\0")
        if end < 0:
            # Names are short; a missing terminator means a damaged table.
            self._fail("%s: unterminated string at offset %d" % (what, offset))
        try:
            return bytes(table[offset:offset + end]).decode("utf-8")
        except UnicodeDecodeError:
            self._fail("%s: name at offset %d is not valid UTF-8" % (what, offset))

    def section(self, name):
        """The section called ``name``, or None."""
        if self._by_name is None:
            self._by_name = {}
            for sec in self.sections:
                self._by_name.setdefault(sec.name, sec)
        return self._by_name.get(name)

    @property
    def symbols(self):
        if self._symbols is None:
            self._symbols = self._parse_symbols()
        return self._symbols

    def _parse_symbols(self):
        symtabs = [s for s in self.sections if s.type == SHT_SYMTAB]
        if not symtabs:
            self._fail("no symbol table (was the object stripped?)")
        if len(symtabs) > 1:
            self._fail("%d symbol tables, want one" % len(symtabs))
        symtab = symtabs[0]
        if symtab.link >= len(self.sections) or self.sections[symtab.link].type != SHT_STRTAB:
            self._fail("symbol table links to section #%d, which is not a string table" % symtab.link)
        strings = self.sections[symtab.link].data
        lay = self.layouts.sym
        if symtab.entsize not in (0, lay.size) or symtab.size % lay.size:
            self._fail("symbol table: entry size %d / table size %d, want multiples of %d" % (
                symtab.entsize, symtab.size, lay.size))
        data = symtab.data
        nsec = len(self.sections)
        out = []
        for index, (st_name, info, other, shndx, value, size) in enumerate(lay.iter_unpack(data)):
            name = self._cstring(strings, st_name, "symbol #%d" % index)
            if nsec <= shndx < SHN_LORESERVE:
                self._fail("symbol '%s' (#%d): section index %d out of range (%d sections)" % (
                    name, index, shndx, nsec))
            out.append(Symbol(index, name, info, other, shndx, value, size))
        return out

    def function_symbols(self):
        """Defined function symbols of ``.symtab`` and ``.dynsym`` (an
        executable or shared library, read with ``container=True``): a
        list of Symbol in section order. Unlike ``symbols`` this reads
        both tables and accepts a file with either one."""
        out = []
        for sec in self.sections:
            if sec.type not in (SHT_SYMTAB, SHT_DYNSYM):
                continue
            if sec.link >= len(self.sections) or self.sections[sec.link].type != SHT_STRTAB:
                self._fail("section '%s' links to section #%d, which is not a string table" % (sec.name, sec.link))
            lay = self.layouts.sym
            if sec.size % lay.size:
                self._fail("section '%s': size %d is not a multiple of %d" % (sec.name, sec.size, lay.size))
            strings = self.sections[sec.link].data
            for index, (st_name, info, other, shndx, value, size) in enumerate(lay.iter_unpack(sec.data)):
                if info & 0xf != STT_FUNC or shndx == SHN_UNDEF or not st_name:
                    continue
                name = self._cstring(strings, st_name, "%s symbol #%d" % (sec.name, index))
                out.append(Symbol(index, name, info, other, shndx, value, size))
        return out

    @property
    def segments(self):
        """The program headers (a list of Segment; empty for an object)."""
        if self._segments is None:
            lay = self.layouts.phdr
            if self._phnum and self._phentsize != lay.size:
                self._fail("program header size %d, want %d" % (self._phentsize, lay.size))
            end = self._phoff + self._phnum * lay.size
            if self._phnum and end > len(self._buf):
                self._fail("truncated: program headers end at byte %d, file has %d" % (end, len(self._buf)))
            self._segments = [Segment(p_type, flags, offset, vaddr, filesz, memsz)
                              for p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align in
                              (lay.unpack_from(self._buf, self._phoff + i * lay.size)
                               for i in range(self._phnum))]
        return self._segments

    def file_offset(self, vaddr):
        """The file offset of virtual address ``vaddr`` (a function's
        st_value): where the executable PT_LOAD segment holding it puts it,
        as libbpf's elf_sym_offset does; None when no segment does."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.flags & PF_X and seg.vaddr <= vaddr < seg.vaddr + seg.memsz:
                return vaddr - seg.vaddr + seg.offset
        return None

    def relocations(self, section_index):
        """Relocations that apply to section ``section_index``: a list of
        ``Relocation`` sorted by offset (empty if none). Only the SHT_REL
        sections aimed at that section are decoded (objects carry large
        ones for DWARF and BTF that a loader never needs). SHT_RELA is
        refused: BPF toolchains emit SHT_REL only."""
        if self._relocations is None:
            for sec in self.sections:
                if sec.type == SHT_RELA:
                    self._fail("section '%s': RELA relocations are not used by BPF toolchains" % sec.name)
                if sec.type == SHT_REL and sec.info >= len(self.sections):
                    self._fail("section '%s': applies to section #%d, out of range" % (sec.name, sec.info))
            self._relocations = {}
        if section_index not in self._relocations:
            self._relocations[section_index] = self._parse_relocations(section_index)
        return self._relocations[section_index]

    def _parse_relocations(self, section_index):
        lay = self.layouts.rel
        nsyms = len(self.symbols)
        rels = []
        for sec in self.sections:
            if sec.type != SHT_REL or sec.info != section_index:
                continue
            if sec.size % lay.size:
                self._fail("section '%s': size %d is not a multiple of %d" % (sec.name, sec.size, lay.size))
            target = self.sections[sec.info]
            limit = max(target.size, 1)
            for offset, info in lay.iter_unpack(sec.data):
                sym = info >> 32
                if sym >= nsyms:
                    self._fail("section '%s': relocation at offset %d names symbol #%d, out of range (%d symbols)"
                               % (sec.name, offset, sym, nsyms))
                if offset >= limit:
                    self._fail("section '%s': relocation offset %d beyond section '%s' (%d bytes)" % (
                        sec.name, offset, target.name, target.size))
                rels.append(Relocation(offset, sym, info & 0xffffffff))
        rels.sort(key=lambda r: r.offset)
        return rels
