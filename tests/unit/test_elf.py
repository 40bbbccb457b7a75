# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for plugins/module_utils/elf.py.

Sections, symbols and relocations of real objects are checked against
binutils' ``readelf -W -S -s -r``; malformed headers, built by patching a
small hand-made eBPF object, must each raise an ELFError saying what is
wrong.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import struct
import subprocess
import sys

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils import elf as E
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import ELFError, LoaderError
from unit.committed import FIXTURES

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus"))
READELF = shutil.which("readelf")

LITTLE = sys.byteorder == "little"
needs_little_endian = pytest.mark.skipif(not LITTLE, reason="the hand-made object is little-endian")


# ---------------------------------------------------------------- a hand-made object

INSNS = (
    struct.pack("<BBhi", 0x18, 0x01, 0, 0) + struct.pack("<BBhi", 0, 0, 0, 0)   # r1 = &var ll
    + struct.pack("<BBhi", 0xb7, 0x00, 0, 2)                                   # r0 = 2
    + struct.pack("<BBhi", 0x95, 0x00, 0, 0)                                   # exit
)


class Made:
    """A minimal valid eBPF object: sections NULL, .strtab, xdp, .data,
    .relxdp, .symtab; symbols null, section xdp, FUNC prog, OBJECT var;
    one R_BPF_64_64 relocation of xdp+0 against var. ``at`` holds the file
    offsets of the parts the tests patch."""

    NAMES = ["", ".strtab", "xdp", ".data", ".relxdp", ".symtab"]

    def __init__(self):
        strtab = bytearray(b"\0")
        name_off = {}
        for name in self.NAMES[1:] + ["prog", "var"]:
            name_off[name] = len(strtab)
            strtab += name.encode() + b"\0"
        sym = struct.Struct("<IBBHQQ")
        symtab = (sym.pack(0, 0, 0, 0, 0, 0)
                  + sym.pack(0, (E.STB_LOCAL << 4) | E.STT_SECTION, 0, 2, 0, 0)
                  + sym.pack(name_off["prog"], (E.STB_GLOBAL << 4) | E.STT_FUNC, 0, 2, 0, len(INSNS))
                  + sym.pack(name_off["var"], (E.STB_GLOBAL << 4) | E.STT_OBJECT, 0, 3, 0, 4))
        rel = struct.pack("<QQ", 0, (3 << 32) | E.R_BPF_64_64)
        data = struct.pack("<I", 7)
        # (name, type, flags, contents, link, info, align, entsize)
        secs = [
            ("", E.SHT_NULL, 0, b"", 0, 0, 0, 0),
            (".strtab", E.SHT_STRTAB, 0, bytes(strtab), 0, 0, 1, 0),
            ("xdp", E.SHT_PROGBITS, E.SHF_ALLOC | E.SHF_EXECINSTR, INSNS, 0, 0, 8, 0),
            (".data", E.SHT_PROGBITS, E.SHF_ALLOC | E.SHF_WRITE, data, 0, 0, 4, 0),
            (".relxdp", E.SHT_REL, 0, rel, 5, 2, 8, 16),
            (".symtab", E.SHT_SYMTAB, 0, symtab, 1, 2, 8, 24),
        ]
        body = bytearray(64)
        offsets = []
        for _n, _t, _f, contents, _l, _i, align, _e in secs:
            while align > 1 and len(body) % align:
                body += b"\0"
            offsets.append(len(body) if contents else 0)
            body += contents
        while len(body) % 8:
            body += b"\0"
        shoff = len(body)
        self.at = {"shoff": shoff}
        for i, (name, sh_type, flags, contents, link, info, align, entsize) in enumerate(secs):
            self.at["sh:" + (name or "null")] = len(body)
            body += struct.pack("<IIQQQQIIQQ", name_off.get(name, 0), sh_type, flags, 0, offsets[i],
                                len(contents), link, info, align, entsize)
        ident = b"\x7fELF" + bytes([E.ELFCLASS64, E.ELFDATA2LSB, 1, 0]) + bytes(8)
        body[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 1, E.EM_BPF, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                                         len(secs), 1)
        self.at["symtab"] = offsets[5]
        self.at["rel"] = offsets[4]
        self.data = body

    def sym_at(self, index):
        return self.at["symtab"] + 24 * index

    def patch(self, fmt, offset, *values):
        struct.pack_into("<" + fmt, self.data, offset, *values)
        return self


@needs_little_endian
def test_made_object_reads_back():
    m = Made()
    f = E.ELFFile(bytes(m.data), "made.o")
    assert [s.name for s in f.sections] == Made.NAMES
    xdp = f.section("xdp")
    assert xdp.executable and bytes(xdp.data) == INSNS
    assert bytes(f.section(".data").data) == struct.pack("<I", 7)
    assert [(s.name, s.type, s.bind, s.shndx, s.size) for s in f.symbols[2:]] == [
        ("prog", E.STT_FUNC, E.STB_GLOBAL, 2, len(INSNS)), ("var", E.STT_OBJECT, E.STB_GLOBAL, 3, 4)]
    assert [(r.offset, r.symbol, r.type) for r in f.relocations(2)] == [(0, 3, E.R_BPF_64_64)]
    assert f.relocations(3) == []


def _hdr(fmt, offset, value):
    return lambda m: m.patch(fmt, offset, value)


def _sh(section, field_offset, fmt, value):
    return lambda m: m.patch(fmt, m.at["sh:" + section] + field_offset, value)


# Section header fields: name 0, type 4, flags 8, addr 16, offset 24, size 32,
# link 40, info 44, addralign 48, entsize 56.
MALFORMED = [
    # (id, patch, what to read, message part)
    ("truncated-header", lambda m: m.data.__delitem__(slice(40, None)), "headers",
     "truncated: 40 bytes, an ELF64 header needs 64"),
    ("bad-magic", lambda m: m.patch("4s", 0, b"\x7fELG"), "headers", "not an ELF file (bad magic"),
    ("32-bit-class", _hdr("B", 4, 1), "headers", "not a 64-bit ELF object (class 1)"),
    ("unknown-data-encoding", _hdr("B", 5, 3), "headers", "unknown data encoding 3"),
    ("big-endian-on-little-host", _hdr("B", 5, 2), "headers", "big-endian but this host is little-endian"),
    ("wrong-machine-x86_64", _hdr("H", 18, 62), "headers", "not an eBPF object (e_machine 62, want 247 EM_BPF)"),
    ("no-section-headers", _hdr("H", 60, 0), "headers", "no section headers"),
    ("section-header-size", _hdr("H", 58, 40), "headers", "section header size 40, want 64"),
    ("section-headers-beyond-file", lambda m: m.patch("Q", 40, len(m.data)), "headers",
     "truncated: section headers end at byte"),
    ("shstrndx-out-of-range", _hdr("H", 62, 9), "headers", "section name table index 9 out of range (6 sections)"),
    ("section-data-beyond-file", _sh("xdp", 24, "Q", 1 << 20), "headers", "section 'xdp' (#2): truncated"),
    ("section-name-out-of-range", _sh("xdp", 0, "I", 4096), "headers",
     "section #2 name: string offset 4096 out of range"),
    ("symbol-section-index-out-of-range", lambda m: m.patch("H", m.sym_at(2) + 6, 77), "symbols",
     "symbol 'prog' (#2): section index 77 out of range (6 sections)"),
    ("symbol-name-out-of-range", lambda m: m.patch("I", m.sym_at(3), 5000), "symbols",
     "symbol #3: string offset 5000 out of range"),
    ("symtab-links-to-non-strtab", _sh(".symtab", 40, "I", 2), "symbols",
     "symbol table links to section #2, which is not a string table"),
    ("symtab-entry-size", _sh(".symtab", 56, "Q", 16), "symbols", "symbol table: entry size 16"),
    ("relocation-symbol-out-of-range", lambda m: m.patch("Q", m.at["rel"] + 8, (9 << 32) | 1), "relocations",
     "relocation at offset 0 names symbol #9, out of range (4 symbols)"),
    ("relocation-offset-beyond-section", lambda m: m.patch("Q", m.at["rel"], 4096), "relocations",
     "relocation offset 4096 beyond section 'xdp' (32 bytes)"),
    ("relocation-target-out-of-range", _sh(".relxdp", 44, "I", 50), "relocations",
     "section '.relxdp': applies to section #50, out of range"),
    ("rela-section", _sh(".relxdp", 4, "I", E.SHT_RELA), "relocations", "RELA relocations are not used"),
]


@needs_little_endian
@pytest.mark.parametrize("patch,what,message", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed(patch, what, message):
    m = Made()
    patch(m)
    with pytest.raises(ELFError) as exc:
        f = E.ELFFile(bytes(m.data), "bad.o")
        if what == "symbols":
            f.symbols
        elif what == "relocations":
            f.relocations(2)
    text = str(exc.value)
    assert text.startswith("ELF 'bad.o': "), text
    assert message in text
    assert isinstance(exc.value, LoaderError)


# ---------------------------------------------------------------- against readelf

SH_TYPES = {"NULL": E.SHT_NULL, "PROGBITS": E.SHT_PROGBITS, "SYMTAB": E.SHT_SYMTAB, "STRTAB": E.SHT_STRTAB,
            "RELA": E.SHT_RELA, "NOBITS": E.SHT_NOBITS, "REL": E.SHT_REL, "LLVM_ADDRSIG": 0x6fff4c03}
SYM_TYPES = {"NOTYPE": E.STT_NOTYPE, "OBJECT": E.STT_OBJECT, "FUNC": E.STT_FUNC, "SECTION": E.STT_SECTION,
             "FILE": E.STT_FILE}
SYM_BINDS = {"LOCAL": E.STB_LOCAL, "GLOBAL": E.STB_GLOBAL, "WEAK": E.STB_WEAK}
SYM_VIS = {"DEFAULT": 0, "INTERNAL": 1, "HIDDEN": 2, "PROTECTED": 3}
SPECIAL_NDX = {"UND": E.SHN_UNDEF, "ABS": E.SHN_ABS, "COM": E.SHN_COMMON}

_SECTION_RE = re.compile(r"^\s*\[\s*(\d+)\]\s(.*?)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s+"
                         r"([0-9a-f]+)\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)$")
_SYMBOL_RE = re.compile(r"^\s*(\d+):\s+([0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$")
_RELSEC_RE = re.compile(r"^Relocation section '(.*)' at offset")
_REL_RE = re.compile(r"^([0-9a-f]{16})\s+([0-9a-f]{16})\s")


def _sh_type(text):
    if text in SH_TYPES:
        return SH_TYPES[text]
    m = re.match(r"LOOS\+0x([0-9a-f]+)$", text)
    if m:
        return 0x60000000 + int(m.group(1), 16)
    pytest.fail("readelf section type %r is not in this test's table" % text)


def _flag_bits(letters):
    return ((E.SHF_WRITE if "W" in letters else 0) | (E.SHF_ALLOC if "A" in letters else 0)
            | (E.SHF_EXECINSTR if "X" in letters else 0))


def readelf(path):
    """(sections, symbols, relocations by REL section name) as readelf -W sees them."""
    proc = subprocess.run([READELF, "-W", "-S", "-s", "-r", path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=True)
    sections, symbols, relocs = [], [], {}
    part = current = None
    for line in proc.stdout.splitlines():
        if line.startswith("Section Headers:"):
            part = "S"
            continue
        if line.startswith("Symbol table"):
            part = "s"
            continue
        m = _RELSEC_RE.match(line)
        if m:
            part, current = "r", m.group(1)
            relocs[current] = []
            continue
        if part == "S":
            m = _SECTION_RE.match(line)
            if m:
                g = m.groups()
                sections.append(dict(index=int(g[0]), name=g[1].strip(), type=_sh_type(g[2]),
                                     offset=int(g[4], 16), size=int(g[5], 16), entsize=int(g[6], 16),
                                     flags=_flag_bits(g[7]), link=int(g[8]), info=int(g[9]),
                                     addralign=int(g[10])))
        elif part == "s":
            m = _SYMBOL_RE.match(line)
            if m:
                g = m.groups()
                ndx = SPECIAL_NDX[g[6]] if g[6] in SPECIAL_NDX else int(g[6])
                symbols.append(dict(index=int(g[0]), value=int(g[1], 16), size=int(g[2], 0),
                                    type=SYM_TYPES[g[3]], bind=SYM_BINDS[g[4]], visibility=SYM_VIS[g[5]],
                                    shndx=ndx, name=g[7]))
        elif part == "r":
            m = _REL_RE.match(line)
            if m:
                info = int(m.group(2), 16)
                relocs[current].append((int(m.group(1), 16), info >> 32, info & 0xffffffff))
    return sections, symbols, relocs


def _test_objects():
    # tests/bpf's objects, built here by clang: tests/integration/test_elf_objects.py.
    params = [pytest.param(("fixture", f), id="fixture-%s" % f) for f in sorted(os.listdir(FIXTURES))]
    if os.path.isdir(CORPUS):
        params += [pytest.param(("corpus", f), id="corpus-%s" % f)
                   for f in sorted(os.listdir(CORPUS)) if f.endswith(".elf")]
    params.append(pytest.param(("made", None), id="hand-made"))
    return params


@pytest.fixture(params=_test_objects())
def object_path(request, tmp_path):
    where, name = request.param
    if where in ("fixture", "corpus"):
        return os.path.join(FIXTURES if where == "fixture" else CORPUS, name)
    if not LITTLE:
        pytest.skip("the hand-made object is little-endian")
    path = tmp_path / "made.o"
    path.write_bytes(bytes(Made().data))
    return str(path)


@pytest.fixture
def compared(object_path):
    if READELF is None:
        pytest.skip("readelf (binutils) is not installed")
    with open(object_path, "rb") as f:
        data = f.read()
    return E.ELFFile(data, os.path.basename(object_path)), readelf(object_path)


def test_sections_match_readelf(compared):
    f, (sections, _symbols, _relocs) = compared
    assert len(f.sections) == len(sections)
    for ours, theirs in zip(f.sections, sections):
        got = dict(index=ours.index, name=ours.name, type=ours.type, offset=ours.offset, size=ours.size,
                   entsize=ours.entsize, flags=ours.flags & (E.SHF_WRITE | E.SHF_ALLOC | E.SHF_EXECINSTR),
                   link=ours.link, info=ours.info, addralign=ours.addralign)
        assert got == theirs
        if ours.type not in (E.SHT_NOBITS, E.SHT_NULL):
            assert len(ours.data) == ours.size


def test_symbols_match_readelf(compared):
    f, (_sections, symbols, _relocs) = compared
    assert len(f.symbols) == len(symbols)
    for ours, theirs in zip(f.symbols, symbols):
        theirs = dict(theirs)
        if ours.type == E.STT_SECTION and not ours.name:
            # readelf shows a section symbol by its section's name
            assert theirs.pop("name") == f.sections[ours.shndx].name
            theirs["name"] = ""
        got = dict(index=ours.index, value=ours.value, size=ours.size, type=ours.type, bind=ours.bind,
                   visibility=ours.visibility, shndx=ours.shndx, name=ours.name)
        assert got == theirs


def test_relocations_match_readelf(compared):
    f, (_sections, _symbols, relocs) = compared
    by_target = {}
    for sec in f.sections:
        if sec.type == E.SHT_REL:
            by_target.setdefault(sec.info, []).extend(relocs.pop(sec.name))
    assert not relocs, "readelf lists relocation sections we do not see: %s" % sorted(relocs)
    for target, theirs in by_target.items():
        ours = [(r.offset, r.symbol, r.type) for r in f.relocations(target)]
        assert ours == sorted(theirs, key=lambda r: r[0])
    for sec in f.sections:
        if sec.index not in by_target:
            assert f.relocations(sec.index) == []
