# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mutation fuzzer for the loader's parsers (controller-side tooling).

Every parser entry point must answer bad input with a LoaderError subclass
(errors.py) and nothing else: no other exception, no hang, no memory
blow-up. Targets:

  elf    objfile.read_object_bytes (ELF reader, BTF, BTF.ext, maps, kconfig
         externs, linker), then kconfig_value and pack_func/line_info on
         what it returns
  btf    btf.reader.BTF.from_bytes (sometimes as split BTF over a valid
         base), then count, type_by_id/kind_of/name_of/resolve/sizeof over
         the ids, ids_by_name, ids_by_essential_name, find (bounded)
  ext    btf.ext.BTFExt.from_bytes with the strings of the object's BTF,
         then pack_func_info/pack_line_info
  core   read_object_bytes, then CoreRelocator.relocate of every program
         against the object's own (mutated) BTF, or the unmutated seed's
         BTF, or another object's: only RelocationError/BTFError allowed
  cache  btf.cache.BTFCache.load over a damaged index file in a private
         cache directory (also: mode 0644, symlink, hard link, missing): a
         changed file must never be a 'hit', a rebuilt file must be the
         fresh index, and the BTF returned must answer name lookups (and,
         on a hit, type_by_id) exactly like a fresh parse. Damage with the
         CRC-32 recomputed ("forged") may be a hit; what goes wrong then is
         reported as advisory (the index is trusted by design once its
         checksum and the BTF's SHA-256 match) and does not fail the run

Inputs come from seeds (tests/bpf/build/*.o, ../shared/corpus/*.elf, their
.BTF and .BTF.ext sections, index files built for their BTF), mutated by
byte flips, random and "interesting" values, truncation, insertion and
deletion, field-aware mutations (ELF header, section headers, symbols,
relocations, instructions, BTF header and type records, .BTF.ext records,
cache index header and tables) and structural rewrites (reference cycles,
long chains, self-containing structs, huge sizes and counts, bad strings,
new CO-RE relocation records with generated access strings).

Input ``i`` of a run is a pure function of (--seed, i) and the seed files,
so a run is reproducible and the parent can rebuild the input a killed
worker was on. Each input runs in one of the workers (default 2) under a
per-input time bound (SIGALRM) and an address-space cap (RLIMIT_AS); a
worker that does not come back is killed by the parent and replaced.

Findings are deduplicated by ``file:function:type`` (the innermost frame in
plugins/module_utils), minimised (recipe steps dropped, then changed bytes
reverted to the seed while the finding still reproduces) and written to
--out (default tests/fuzz/regressions/; advisory ones to its advisory/) as
``<id>.json`` plus the payload files it names. ``--replay FILE.json`` runs
one again (in a child under the same bounds); ``--case N`` rebuilds input N
of --seed. The exit status is 1 when anything but advisories was found.

    python3 tests/fuzz/harness.py --inputs 100000 --seed 1
    python3 tests/fuzz/harness.py --seconds 600
    python3 tests/fuzz/harness.py --replay tests/fuzz/regressions/<id>.json
"""

from __future__ import absolute_import, division, print_function

import argparse
import collections
import glob
import hashlib
import importlib
import json
import multiprocessing
import multiprocessing.connection
import operator
import os
import random
import resource
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.path.join(REPO, "tests", "bpf", "build")
CORPUS_DIR = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus"))
REGRESSIONS = os.path.join(HERE, "regressions")
PLUGIN_MARK = os.sep + os.path.join("plugins", "module_utils") + os.sep

TARGETS = ("elf", "btf", "ext", "core", "cache")
TARGET_WEIGHTS = {"elf": 30, "btf": 25, "ext": 12, "core": 20, "cache": 13}


# The harness also runs on its own: tests/ holds the import-path helper.
sys.path.insert(0, os.path.dirname(HERE))
from import_path import PKG, setup_import_path  # noqa: E402  pylint: disable=wrong-import-position


class _Modules:
    """The plugin modules, imported once."""

    def __init__(self):
        setup_import_path()
        imp = importlib.import_module
        self.errors = imp(PKG + ".errors")
        self.objfile = imp(PKG + ".loader.read_object")
        self.reader = imp(PKG + ".btf.reader")
        self.ext = imp(PKG + ".btf.ext")
        self.core = imp(PKG + ".btf.core")
        self.cache = imp(PKG + ".btf.cache")
        self.kconfig = imp(PKG + ".loader.read_kconfig")
        self.LoaderError = self.errors.LoaderError
        self.BTFError = self.errors.BTFError
        self.RelocationError = self.errors.RelocationError


_M = None


def mods():
    global _M
    if _M is None:
        _M = _Modules()
    return _M


# ---------------------------------------------------------------- byte helpers

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 31, 32, 33, 63, 64, 0x7f, 0x80, 0xff, 0x100,
               0x3ff, 0x400, 0xfff, 0x1000, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x10000, 0xfffff,
               0x100000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
               1 << 32, (1 << 32) + 1, 1 << 40, 1 << 62, 1 << 63, (1 << 64) - 1, (1 << 64) - 2)

MODIFIER_KINDS = (8, 9, 10, 11, 18)         # typedef volatile const restrict type_tag
REF_KINDS = frozenset((2, 8, 9, 10, 11, 12, 13, 14, 17, 18))   # size_or_type is a type id
KIND_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
KIND_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
BTF_HDR = struct.Struct("<HBBIIIII")
EXT_HDR = struct.Struct("<HBBIIIII")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")


def get_uint(buf, off, size):
    return int.from_bytes(bytes(buf[off:off + size]), "little")


def put_uint(buf, off, size, value):
    if off < 0 or off + size > len(buf):
        return
    buf[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def record_size(kind, vlen):
    return 12 + KIND_FIXED.get(kind, 0) + vlen * KIND_VLEN.get(kind, 0)


# Field tags (what a field holds, for choosing values):
#   u     any number             off   file offset (ELF)       size  a size/count
#   id    BTF type id            str   string offset           info  BTF info word
#   idx   ELF section index      sym   ELF symbol index        op    BPF opcode
#   regs  BPF register byte      kind  CO-RE relo kind         insn  insn_off in bytes
#   bitoff member offset word    boff  BTF record offset (cache index)
#   key   cache name-table entry (hash << 32 | id)
Field = collections.namedtuple("Field", "off size tag hi self")


def _field(off, size, tag, hi=0, self_id=0):
    return Field(off, size, tag, hi, self_id)


def _btf_style_header(layout, blob):
    """The fields of a BTF or BTF.ext header (``layout``) at the start of
    ``blob``, or None when it is too short or the magic is not 0xEB9F."""
    if len(blob) < layout.size:
        return None
    header = layout.unpack_from(blob, 0)
    return header if header[0] == 0xEB9F else None


def _walk_start(layout, words, blob, o, fields):
    """Where walk_btf and walk_ext begin: (fields, header). ``fields`` is a
    new list when None; ``header`` is _btf_style_header's answer, and when
    it is not None the header's fields (at ``o``: magic, version and flags,
    then ``words`` u32 lengths and offsets up to the blob's length) are
    added to ``fields``."""
    if fields is None:
        fields = []
    header = _btf_style_header(layout, blob)
    if header is not None:
        add = fields.append
        add(_field(o, 2, "u"))
        add(_field(o + 2, 1, "u"))
        add(_field(o + 3, 1, "u"))
        for k in range(words):
            add(_field(o + 4 + 4 * k, 4, "size", len(blob)))
    return fields, header


# ---------------------------------------------------------------- BTF walk

class BTFInfo:
    """What the field mutators and structural rewrites need of one valid
    BTF blob: record positions and kinds, string starts, counts."""

    __slots__ = ("hdr_len", "type_start", "type_len", "str_start", "str_len", "types", "count",
                 "str_starts", "names")

    def __init__(self):
        self.types = []        # (record offset, length, kind, vlen, kflag, name_off, size_or_type)
        self.str_starts = []
        self.names = {}        # name_off -> str (valid utf-8 only)


def walk_btf(blob, base_off=0, fields=None, cap_vlen=128, max_types=5000):
    """(fields, BTFInfo) for a BTF blob; fields are shifted by ``base_off``
    (the blob's offset in an ELF file). Tolerant: stops at the first record
    it does not understand."""
    fields, header = _walk_start(BTF_HDR, 6, blob, base_off, fields)
    if header is None:
        return fields, None
    _magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = header
    info = BTFInfo()
    info.hdr_len = hdr_len
    info.type_start = hdr_len + type_off
    info.type_len = type_len
    info.str_start = hdr_len + str_off
    info.str_len = str_len
    o = base_off
    add = fields.append
    pos, end = info.type_start, min(info.type_start + type_len, len(blob))
    while pos + 12 <= end:
        name_off, word, sot = struct.unpack_from("<III", blob, pos)
        kind, vlen = (word >> 24) & 0x7f, word & 0xffffff
        if not 1 <= kind <= 19:
            break
        length = record_size(kind, vlen)
        if pos + length > end:
            break
        info.types.append((pos, length, kind, vlen, word >> 31, name_off, sot))
        pos += length
    info.count = len(info.types) + 1
    strs = bytes(blob[info.str_start:info.str_start + str_len])
    start = 0
    while start < len(strs):
        nul = strs.find(b"\0", start)
        if nul < 0:
            break
        info.str_starts.append(start)
        try:
            info.names[start] = strs[start:nul].decode("utf-8")
        except UnicodeDecodeError:
            pass
        start = nul + 1
    count, slen = info.count, str_len
    # Large BTF (vmlinux): fields of an even sample of the types only.
    step = max(1, len(info.types) // max_types)
    for tid, (pos, _length, kind, vlen, _kflag, _n, _s) in enumerate(info.types, 1):
        if tid % step:
            continue
        p = o + pos
        add(_field(p, 4, "str", slen, tid))
        add(_field(p + 4, 4, "info", count, tid))
        add(_field(p + 8, 4, "id" if kind in REF_KINDS else "size", count, tid))
        body = p + 12
        if kind == 1:
            add(_field(body, 4, "u", 0, tid))
        elif kind == 3:
            add(_field(body, 4, "id", count, tid))
            add(_field(body + 4, 4, "id", count, tid))
            add(_field(body + 8, 4, "size", 0, tid))
        elif kind in (4, 5):
            for j in range(min(vlen, cap_vlen)):
                m = body + 12 * j
                add(_field(m, 4, "str", slen, tid))
                add(_field(m + 4, 4, "id", count, tid))
                add(_field(m + 8, 4, "bitoff", 0, tid))
        elif kind == 6:
            for j in range(min(vlen, cap_vlen)):
                add(_field(body + 8 * j, 4, "str", slen, tid))
                add(_field(body + 8 * j + 4, 4, "u", 0, tid))
        elif kind == 19:
            for j in range(min(vlen, cap_vlen)):
                add(_field(body + 12 * j, 4, "str", slen, tid))
                add(_field(body + 12 * j + 4, 4, "u", 0, tid))
                add(_field(body + 12 * j + 8, 4, "u", 0, tid))
        elif kind == 13:
            for j in range(min(vlen, cap_vlen)):
                add(_field(body + 8 * j, 4, "str", slen, tid))
                add(_field(body + 8 * j + 4, 4, "id", count, tid))
        elif kind in (14, 17):
            add(_field(body, 4, "u", 0, tid))
        elif kind == 15:
            for j in range(min(vlen, cap_vlen)):
                add(_field(body + 12 * j, 4, "id", count, tid))
                add(_field(body + 12 * j + 4, 4, "size", 0, tid))
                add(_field(body + 12 * j + 8, 4, "size", 0, tid))
    return fields, info


# ---------------------------------------------------------------- BTF.ext walk

class ExtInfo:
    __slots__ = ("hdr_len", "blocks")

    def __init__(self):
        self.hdr_len = 0
        # name -> (rec_size, [(sec_name_off, [record bytes, ...]), ...])
        self.blocks = {}


EXT_BLOCKS = ("func_info", "line_info", "core_relo")
EXT_MIN = {"func_info": 8, "line_info": 16, "core_relo": 16}


def walk_ext(blob, base_off=0, fields=None, str_len=0, count=0, cap=256):
    fields, header = _walk_start(EXT_HDR, 7, blob, base_off, fields)
    if header is None:
        return fields, None
    _magic, _v, _f, hdr_len, func_off, func_len, line_off, line_len = header
    core_off = core_len = 0
    if hdr_len >= 32 and len(blob) >= 32:
        core_off, core_len = struct.unpack_from("<II", blob, 24)
    info = ExtInfo()
    info.hdr_len = hdr_len
    o = base_off
    add = fields.append
    for name, off, length in (("func_info", func_off, func_len), ("line_info", line_off, line_len),
                              ("core_relo", core_off, core_len)):
        start = hdr_len + off
        end = start + length
        if not length or end > len(blob) or length < 4:
            continue
        rec_size = struct.unpack_from("<I", blob, start)[0]
        add(_field(o + start, 4, "size", 64))
        if rec_size < 4 or rec_size & 3:
            continue
        secs = []
        pos = start + 4
        while pos + 8 <= end:
            sec_name, num = struct.unpack_from("<II", blob, pos)
            add(_field(o + pos, 4, "str", str_len))
            add(_field(o + pos + 4, 4, "size", num))
            pos += 8
            if pos + num * rec_size > end:
                break
            recs = []
            for j in range(num):
                r = pos + j * rec_size
                recs.append(bytes(blob[r:r + rec_size]))
                if j >= cap:
                    continue
                add(_field(o + r, 4, "insn", 0))
                if name == "func_info":
                    add(_field(o + r + 4, 4, "id", count))
                elif name == "line_info":
                    add(_field(o + r + 4, 4, "str", str_len))
                    add(_field(o + r + 8, 4, "str", str_len))
                    add(_field(o + r + 12, 4, "u"))
                else:
                    add(_field(o + r + 4, 4, "id", count))
                    add(_field(o + r + 8, 4, "str", str_len))
                    add(_field(o + r + 12, 4, "kind"))
            secs.append((sec_name, recs))
            pos += num * rec_size
        info.blocks[name] = (rec_size, secs)
    return fields, info


def build_ext(blocks, hdr_len=32):
    """A .BTF.ext blob from ``blocks`` (ExtInfo.blocks form)."""
    body = bytearray()
    spans = {}
    for name in EXT_BLOCKS:
        if name not in blocks:
            spans[name] = (0, 0)
            continue
        rec_size, secs = blocks[name]
        start = len(body)
        body += struct.pack("<I", rec_size)
        for sec_name, recs in secs:
            body += struct.pack("<II", sec_name, len(recs))
            for r in recs:
                body += bytes(r[:rec_size]).ljust(rec_size, b"\0")
        spans[name] = (start, len(body) - start)
    hdr = EXT_HDR.pack(0xEB9F, 1, 0, hdr_len, spans["func_info"][0], spans["func_info"][1],
                       spans["line_info"][0], spans["line_info"][1])
    hdr += struct.pack("<II", *spans["core_relo"])
    return bytes(hdr.ljust(hdr_len, b"\0")) + bytes(body)


# ---------------------------------------------------------------- ELF walk

class ELFInfo:
    __slots__ = ("shoff", "shnum", "sections", "names", "symtab", "nsyms", "btf", "btf_info",
                 "ext", "ext_info", "code", "regions")

    def __init__(self):
        self.sections = []    # SHDR tuples
        self.names = []
        self.symtab = None
        self.nsyms = 0
        self.btf = self.ext = None
        self.btf_info = self.ext_info = None
        self.code = []        # section indexes of executable sections
        self.regions = []     # (start, end) of interesting bytes


DATA_NAMES = ("maps", ".maps", ".data", ".rodata", ".bss", ".kconfig", "license", "version")


def walk_elf(data):
    """(fields, ELFInfo) of a little-endian ELF64 file; best effort."""
    fields = []
    info = ELFInfo()
    add = fields.append
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return fields, info
    for off, size, tag in ((4, 1, "u"), (5, 1, "u"), (16, 2, "u"), (18, 2, "u"), (40, 8, "off"),
                           (32, 8, "off"), (52, 2, "u"), (58, 2, "u"), (60, 2, "idx"), (62, 2, "idx")):
        add(_field(off, size, tag))
    info.regions.append((0, 64))
    shoff = get_uint(data, 40, 8)
    shnum = get_uint(data, 60, 2)
    shstrndx = get_uint(data, 62, 2)
    if shoff + shnum * 64 > len(data) or shstrndx >= shnum:
        return fields, info
    info.shoff, info.shnum = shoff, shnum
    info.regions.append((shoff, shoff + shnum * 64))
    secs = [SHDR.unpack_from(data, shoff + 64 * i) for i in range(shnum)]
    info.sections = secs
    strtab = secs[shstrndx]
    names = bytes(data[strtab[4]:strtab[4] + strtab[5]])
    for s in secs:
        end = names.find(b"\0", s[0])
        info.names.append(names[s[0]:end].decode("utf-8", "replace") if end >= 0 else "")
    for i, s in enumerate(secs):
        h = shoff + 64 * i
        add(_field(h, 4, "str", strtab[5]))
        add(_field(h + 4, 4, "u"))
        add(_field(h + 8, 8, "u"))
        add(_field(h + 24, 8, "off", len(data)))
        add(_field(h + 32, 8, "size", len(data)))
        add(_field(h + 40, 4, "idx", shnum))
        add(_field(h + 44, 4, "idx", shnum))
        add(_field(h + 48, 8, "u"))
        add(_field(h + 56, 8, "u"))
    for i, s in enumerate(secs):
        name, stype, flags, off, size, link = info.names[i], s[1], s[2], s[4], s[5], s[6]
        if off + size > len(data) or stype == 8:
            continue
        if stype == 2:
            info.symtab = i
            info.nsyms = size // SYM.size
            strsize = secs[link][5] if link < shnum else 0
            info.regions.append((off, off + size))
            for j in range(min(info.nsyms, 512)):
                p = off + j * SYM.size
                add(_field(p, 4, "str", strsize))
                add(_field(p + 4, 1, "u"))
                add(_field(p + 5, 1, "u"))
                add(_field(p + 6, 2, "idx", shnum))
                add(_field(p + 8, 8, "size", 0))
                add(_field(p + 16, 8, "size", 0))
        elif stype == 1 and flags & 4:
            info.code.append(i)
            info.regions.append((off, off + size))
            for j in range(min(size // 8, 2048)):
                p = off + 8 * j
                add(_field(p, 1, "op"))
                add(_field(p + 1, 1, "regs"))
                add(_field(p + 2, 2, "u"))
                add(_field(p + 4, 4, "u"))
        elif name == ".BTF":
            info.btf = i
            info.regions.append((off, off + size))
            _f, info.btf_info = walk_btf(bytes(data[off:off + size]), off, fields)
        elif name in DATA_NAMES or name.startswith((".data.", ".rodata.")):
            info.regions.append((off, off + size))
            for j in range(min(size // 4, 256)):
                add(_field(off + 4 * j, 4, "u"))
    for i, s in enumerate(secs):
        if info.names[i] == ".BTF.ext" and s[4] + s[5] <= len(data):
            info.ext = i
            info.regions.append((s[4], s[4] + s[5]))
            bi = info.btf_info
            _f, info.ext_info = walk_ext(bytes(data[s[4]:s[4] + s[5]]), s[4], fields,
                                         bi.str_len if bi else 0, bi.count if bi else 0)
        elif s[1] == 9 and s[7] < shnum and secs[s[7]][2] & 4 and s[4] + s[5] <= len(data):
            target = secs[s[7]]
            info.regions.append((s[4], s[4] + s[5]))
            for j in range(min(s[5] // 16, 512)):
                p = s[4] + 16 * j
                add(_field(p, 8, "size", target[5]))
                add(_field(p + 8, 4, "u"))
                add(_field(p + 12, 4, "sym", info.nsyms))
    return fields, info


def elf_replace(data, replacements):
    """``data`` with the contents of sections {index: bytes} replaced: the
    new bytes are appended (8-aligned) and the headers pointed at them."""
    out = bytearray(data)
    shoff = get_uint(out, 40, 8)
    for index, blob in sorted(replacements.items()):
        out += b"\0" * (-len(out) % 8)
        h = shoff + 64 * index
        put_uint(out, h + 24, 8, len(out))
        put_uint(out, h + 32, 8, len(blob))
        out += blob
    return out


# ---------------------------------------------------------------- BTF model (structural rewrites)

class BTFModel:
    """A valid BTF blob as editable records plus strings; serialises to a
    blob with a 24-byte header, types, then strings."""

    def __init__(self, blob, info):
        self.records = [bytearray(blob[p:p + n]) for (p, n, _k, _v, _f, _no, _s) in info.types]
        self.strings = bytearray(blob[info.str_start:info.str_start + info.str_len])
        self.names = dict(info.names)
        self.base_count = info.count

    @property
    def count(self):
        return len(self.records) + 1

    def blob(self):
        types = b"".join(bytes(r) for r in self.records)
        return BTF_HDR.pack(0xEB9F, 1, 0, 24, 0, len(types), len(types), len(self.strings)) + \
            types + bytes(self.strings)

    def add_str(self, s):
        raw = s if isinstance(s, bytes) else s.encode("utf-8")
        off = len(self.strings)
        self.strings += raw + b"\0"
        try:
            self.names[off] = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        return off

    def find_str(self, s):
        for off, name in self.names.items():
            if name == s:
                return off
        return self.add_str(s)

    def add(self, kind, name_off=0, sot=0, vlen=0, kflag=0, body=b""):
        rec = bytearray(struct.pack("<III", name_off, (kflag << 31) | (kind << 24) | vlen, sot)) + body
        need = record_size(kind, vlen)
        rec = rec[:need] + b"\0" * (need - len(rec))
        self.records.append(rec)
        return self.count - 1

    # record accessors (tid >= 1)
    def rec(self, tid):
        return self.records[tid - 1]

    def kind(self, tid):
        if not 1 <= tid < self.count:
            return 0
        return (get_uint(self.rec(tid), 4, 4) >> 24) & 0x7f

    def vlen(self, tid):
        return get_uint(self.rec(tid), 4, 4) & 0xffffff

    def sot(self, tid):
        return get_uint(self.rec(tid), 8, 4)

    def name(self, tid):
        return self.names.get(get_uint(self.rec(tid), 0, 4), "")

    def ref_slots(self, tid):
        """Offsets in record ``tid`` that hold type ids."""
        kind, vlen = self.kind(tid), self.vlen(tid)
        slots = [8] if kind in REF_KINDS else []
        if kind == 3:
            slots += [12, 16]
        elif kind in (4, 5):
            slots += [12 + 12 * j + 4 for j in range(vlen)]
        elif kind == 13:
            slots += [12 + 8 * j + 4 for j in range(vlen)]
        elif kind == 15:
            slots += [12 + 12 * j for j in range(vlen)]
        return slots

    def set_ref(self, tid, slot, value):
        put_uint(self.rec(tid), slot, 4, value)

    def resolve(self, tid, hops=40):
        for _hop in range(hops):
            if self.kind(tid) in MODIFIER_KINDS:
                tid = self.sot(tid)
            else:
                return tid
        return tid

    def members(self, tid):
        r = self.rec(tid)
        return [struct.unpack_from("<III", r, 12 + 12 * j) for j in range(self.vlen(tid))]

    def ids_of_kind(self, kinds):
        return [t for t in range(1, self.count) if self.kind(t) in kinds]


def _random_ref(model, rng):
    """(tid, slot) of a random type-id slot among the records, or None."""
    for _attempt in range(20):
        tid = rng.randrange(1, model.count) if model.count > 1 else 0
        if not tid:
            return None
        slots = model.ref_slots(tid)
        if slots:
            return tid, rng.choice(slots)
    return None


WEIRD_STRINGS = (b"\xff\xfe", b"\xc3", b"a" * 70000, b"x___y", b"___", b"a___", b"a____b", b"task_struct",
                 b".maps", b".kconfig", b".ksyms", b"CONFIG_BPF", b"LINUX_KERNEL_VERSION", b"license",
                 b"\xe2\x82\xac\xe2\x82\xac", b"a" * 300, b"")

WEIRD_ACCESS = ("", ":", "0:", "0::1", "-1", "0:-1", "a", "0:" * 70 + "0", "9" * 30, "0:4294967296",
                "0x10", " 1", "1_0", "\u0663", "0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0", "1", "0:1000000",
                "00", "+0", "0:1:2:3", "65535")


def _struct_op(model, rng, op=None):
    """One structural rewrite of ``model``; returns its name."""
    ops = ("chain", "cycle", "selfref", "struct_self", "proto_self", "huge", "bitfield", "strings",
           "many", "kind_swap", "datasec", "decl_tag", "enum", "wide")
    op = op or rng.choice(ops)
    count = model.count
    if op == "chain":
        length = rng.choice((8, 31, 32, 33, 34, 64, 500))
        end = rng.randrange(count)
        head = end
        for _link in range(length):
            head = model.add(rng.choice(MODIFIER_KINDS + (2, 14)), sot=head)
        ref = _random_ref(model, rng)
        if ref:
            model.set_ref(ref[0], ref[1], head)
    elif op == "cycle":
        k = rng.randint(1, 4)
        first = model.count
        for j in range(k):
            model.add(rng.choice(MODIFIER_KINDS + (2, 3, 14)), sot=first + (j + 1) % k,
                      body=struct.pack("<III", first + (j + 1) % k, 1, rng.choice((1, 2, 0xffffffff))))
        ref = _random_ref(model, rng)
        if ref:
            model.set_ref(ref[0], ref[1], first)
    elif op == "selfref":
        for _edit in range(rng.randint(1, 4)):
            ref = _random_ref(model, rng)
            if ref:
                model.set_ref(ref[0], ref[1], ref[0])
    elif op == "struct_self":
        comps = model.ids_of_kind((4, 5))
        anon = rng.random() < 0.4
        if comps and rng.random() < 0.7:
            tid = rng.choice(comps)
        else:
            n = rng.randint(1, 4)
            body = b"".join(struct.pack("<III", 0 if anon else model.add_str("m%d" % j), 0, 0) for j in range(n))
            tid = model.add(rng.choice((4, 5)), name_off=model.add_str("fz_self"), sot=8, vlen=n, body=body)
        r = model.rec(tid)
        for j in range(model.vlen(tid)):
            put_uint(r, 12 + 12 * j + 4, 4, tid)
            if anon:
                put_uint(r, 12 + 12 * j, 4, 0)
    elif op == "proto_self":
        protos = model.ids_of_kind((13,))
        if protos and rng.random() < 0.6:
            tid = rng.choice(protos)
        else:
            n = rng.randint(1, 3)
            tid = model.add(13, sot=0, vlen=n, body=b"\0" * (8 * n))
        r = model.rec(tid)
        for j in range(model.vlen(tid)):
            put_uint(r, 12 + 8 * j + 4, 4, tid)
        if rng.random() < 0.5:
            put_uint(r, 8, 4, tid)
        model.add(12, name_off=model.add_str("fz_func"), sot=tid, vlen=rng.choice((0, 1, 2, 3, 0xffff)))
    elif op == "huge":
        for _edit in range(rng.randint(1, 3)):
            cands = model.ids_of_kind((1, 4, 5, 6, 15, 16, 19))
            if cands:
                put_uint(model.rec(rng.choice(cands)), 8, 4, rng.choice(INTERESTING))
        inner = rng.randrange(count)
        for _level in range(rng.randint(1, 6)):
            inner = model.add(3, body=struct.pack("<III", inner, 1, rng.choice((0, 1, 0xffffffff, 0x80000000))))
        ref = _random_ref(model, rng)
        if ref:
            model.set_ref(ref[0], ref[1], inner)
    elif op == "bitfield":
        comps = model.ids_of_kind((4, 5))
        if comps:
            tid = rng.choice(comps)
            r = model.rec(tid)
            put_uint(r, 4, 4, get_uint(r, 4, 4) | (1 << 31))
            for j in range(model.vlen(tid)):
                if rng.random() < 0.5:
                    put_uint(r, 12 + 12 * j + 8, 4, (rng.choice((1, 3, 8, 31, 33, 64, 65, 255)) << 24)
                             | rng.choice((0, 1, 7, 60, 0xffffff)))
                if rng.random() < 0.3:
                    put_uint(r, 12 + 12 * j + 4, 4, rng.randrange(model.count))
            zero = model.add(1, name_off=model.add_str("fz_int0"), sot=rng.choice((0, 3, 16, 0xffffffff)),
                             body=struct.pack("<I", rng.choice((0, 8, 32, 0x01000040))))
            if model.vlen(tid):
                put_uint(r, 12 + 12 * rng.randrange(model.vlen(tid)) + 4, 4, zero)
    elif op == "strings":
        for _edit in range(rng.randint(1, 4)):
            off = model.add_str(rng.choice(WEIRD_STRINGS))
            tid = rng.randrange(1, model.count) if model.count > 1 else 0
            if tid:
                r = model.rec(tid)
                slots = [0]
                if model.kind(tid) in (4, 5):
                    slots += [12 + 12 * j for j in range(model.vlen(tid))]
                put_uint(r, rng.choice(slots), 4, off)
    elif op == "many":
        n = rng.choice((1000, 5000, 20000, 70000))
        kind = rng.choice((1, 8, 2))
        name = model.add_str(rng.choice(("fz_many", "x___y", "")))
        for j in range(n):
            model.add(kind, name_off=name, sot=4 if kind == 1 else rng.randrange(1, model.count),
                      body=b"\x20\0\0\0")
    elif op == "kind_swap":
        tid = rng.randrange(1, model.count) if model.count > 1 else 0
        if tid:
            r = model.rec(tid)
            kind = rng.randint(1, 19)
            vlen = model.vlen(tid) if rng.random() < 0.7 else rng.choice((0, 1, 2, 100))
            need = record_size(kind, vlen)
            body = bytes(r[12:]) + bytes(rng.getrandbits(8) for _byte in range(max(0, need - len(r))))
            new = bytearray(struct.pack("<III", get_uint(r, 0, 4),
                                        (rng.getrandbits(1) << 31) | (kind << 24) | vlen,
                                        get_uint(r, 8, 4))) + body
            model.records[tid - 1] = new[:need]
    elif op == "datasec":
        secs = model.ids_of_kind((15,))
        vars_ = model.ids_of_kind((14,))
        if secs:
            tid = rng.choice(secs)
            r = model.rec(tid)
            for j in range(model.vlen(tid)):
                p = 12 + 12 * j
                choice = rng.random()
                if choice < 0.3:
                    put_uint(r, p, 4, rng.choice((tid, 0, rng.randrange(model.count), model.count)))
                elif choice < 0.6:
                    put_uint(r, p + 4, 4, rng.choice(INTERESTING))
                else:
                    put_uint(r, p + 8, 4, rng.choice(INTERESTING))
        if vars_:
            v = rng.choice(vars_)
            put_uint(model.rec(v), rng.choice((8, 12)), 4, rng.choice((v, 0, 0xffffffff, 2, rng.randrange(model.count))))
        name = model.find_str(rng.choice((".kconfig", ".maps", ".ksyms", ".data", ".rodata")))
        n = rng.randint(0, 3)
        body = b""
        for _var in range(n):
            var = model.add(14, name_off=model.add_str(rng.choice(("CONFIG_FZ", "LINUX_KERNEL_VERSION", "m"))),
                            sot=rng.randrange(model.count), body=struct.pack("<I", rng.choice((0, 1, 2, 7))))
            body += struct.pack("<III", var, rng.choice((0, 4, 8, 0xfffffff0)), rng.choice((0, 4, 8, 0xffffffff)))
        model.add(15, name_off=name, sot=rng.choice((0, 8, 64, 0xffffffff)), vlen=n, body=body)
    elif op == "decl_tag":
        for _tag in range(rng.randint(1, 3)):
            target = rng.choice((0, rng.randrange(model.count), model.count, 0xffffffff))
            model.add(17, name_off=model.add_str("tag"), sot=target,
                      body=struct.pack("<i", rng.choice((-1, -2, 0, 1, 1000, 0x7fffffff))))
    elif op == "enum":
        kind = rng.choice((6, 19))
        vlen = rng.choice((0, 1, 3))
        per = 8 if kind == 6 else 12
        body = b""
        for j in range(vlen):
            body += struct.pack("<I", model.add_str(rng.choice(("E_A", "E_A___x", "\xff", "E_B")))) + \
                bytes(rng.getrandbits(8) for _byte in range(per - 4))
        model.add(kind, name_off=model.add_str(rng.choice(("fz_enum", "fz_enum___v2"))),
                  sot=rng.choice((0, 1, 2, 3, 4, 8, 16, 0xffffffff)), vlen=vlen, kflag=rng.getrandbits(1), body=body)
    elif op == "wide":
        kind = rng.choice((4, 5, 6, 13, 15, 19))
        vlen = rng.choice((0xffff, 5000, 300))
        per = KIND_VLEN[kind]
        chunk = bytearray()
        for _entry in range(vlen):
            entry = bytearray(rng.getrandbits(8) for _byte in range(per))
            put_uint(entry, 0, 4, rng.choice((0, 1, rng.randrange(max(1, len(model.strings))))))
            if kind in (4, 5, 13):
                put_uint(entry, 4 if kind != 13 else 4, 4, rng.randrange(model.count + 1))
            chunk += entry
        model.add(kind, name_off=model.add_str("fz_wide"), sot=rng.choice((0, 8, 0xffffffff)), vlen=vlen,
                  body=bytes(chunk))
    return op


# ---------------------------------------------------------------- value choice

def choose_value(rng, f, orig, data_len, ctx):
    """A new value for field ``f`` (orig: its current value)."""
    tag, hi, width = f.tag, f.hi, f.size
    r = rng.random()
    if r < 0.12:
        return orig ^ (1 << rng.randrange(8 * width))
    if r < 0.22:
        return orig + rng.choice((-8, -4, -2, -1, 1, 2, 4, 8, 12, 16))
    if r < 0.32:
        return rng.choice(INTERESTING)
    if r < 0.38:
        return rng.getrandbits(8 * width)
    if tag == "id":
        return rng.choice((0, 1, f.self, f.self + 1, f.self - 1, hi - 1, hi, hi + 1, rng.randrange(max(1, hi + 2)),
                           0xffffffff, 0xfffff, 0x100000, 0x7fffffff))
    if tag == "str":
        starts = ctx.get("str_starts") or (0,)
        return rng.choice((0, hi - 1, hi, hi + 1, rng.randrange(max(1, hi + 1)), 0xffffffff,
                           rng.choice(starts), rng.choice(starts) + 1, rng.choice(starts) - 1))
    if tag == "info":
        kind, vlen, kflag = (orig >> 24) & 0x7f, orig & 0xffffff, orig >> 31
        c = rng.randrange(5)
        if c == 0:
            kind = rng.randrange(32)
        elif c == 1:
            vlen = rng.choice((0, 1, vlen + 1, vlen - 1 if vlen else 0, 0xffff, 0x8000, rng.randrange(0x10000)))
        elif c == 2:
            kflag ^= 1
        elif c == 3:
            return orig | rng.choice((0x00ff0000, 0x60000000, 0x20000000))
        else:
            kind = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 13, 14, 15, 19))
        return (kflag << 31) | ((orig >> 29 & 3) << 29 if rng.random() < 0.2 else 0) | (kind << 24) | vlen
    if tag == "off":
        return rng.choice((0, data_len, data_len - 1, data_len - 8, data_len + 1, orig + 1, orig - 1, 1 << 32,
                           1 << 63, (1 << 64) - 1, rng.randrange(max(1, data_len)), orig + 64))
    if tag == "size":
        return rng.choice((0, 1, orig + 1, orig - 1, orig * 2, orig + 4, orig + 8, orig - 4, hi, hi + 1,
                           0x7fffffff, 0xffffffff, 1 << 32, 1 << 63, orig * 0x10000))
    if tag == "idx":
        return rng.choice((0, 1, hi - 1, hi, hi + 1, 0xff00, 0xfff1, 0xfff2, 0xffff, rng.randrange(max(1, hi + 1))))
    if tag == "sym":
        return rng.choice((0, 1, hi - 1, hi, hi + 1, 0xffffffff, rng.randrange(max(1, hi))))
    if tag == "op":
        return rng.choice((0x18, 0x85, 0x95, 0x61, 0x69, 0x71, 0x79, 0x62, 0x63, 0x7b, 0x07, 0x04, 0x0f, 0xb7,
                           0x05, 0x00, 0x15, 0x8d, 0xbf, 0xff, 0x87))
    if tag == "regs":
        return rng.choice((0x10, 0x20, 0x30, 0x40, 0x11, 0x21, 0x01, 0xf0, 0x1f, rng.getrandbits(8)))
    if tag == "kind":
        return rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xffffffff, 0x80000000))
    if tag == "insn":
        return rng.choice((0, orig + 8, orig - 8, orig + 1, orig + 4, orig * 2, orig + 0x1000, 0xfffffff8,
                           0xffffffff, 8 * rng.randrange(64)))
    if tag == "bitoff":
        return rng.choice((0, 8, 32, 64, orig + 8, orig * 8, 0xffffff, (rng.randrange(1, 256) << 24) | (orig & 0xffffff),
                           0xffffffff, 1 << 24, 64 << 24))
    if tag == "boff":
        return rng.choice((0, orig + 4, orig - 4, orig + 12, orig - 12, hi, hi - 12, hi + 1, 0xffffffff, 24, 23))
    if tag == "key":
        low, high = orig & 0xffffffff, orig >> 32
        c = rng.randrange(4)
        if c == 0:
            low = rng.choice((0, hi, hi + 1, low + 1, low - 1, 0xffffffff))
        elif c == 1:
            high ^= 1 << rng.randrange(32)
        elif c == 2:
            return rng.getrandbits(64)
        else:
            high = rng.getrandbits(32)
        return (high << 32) | (low & 0xffffffff)
    return rng.choice(INTERESTING)


# ---------------------------------------------------------------- seeds

class Seed:
    """One seed input with its field map (computed on first use)."""

    def __init__(self, name, data, kind, aux=None):
        self.name = name
        self.data = bytes(data)
        self.kind = kind          # 'elf', 'btf', 'ext', 'index'
        self.aux = aux            # ext: BTF blob; index: BTF blob
        self._walk = None

    def walk(self):
        if self._walk is None:
            self._walk = walk_any(self.kind, self.data, self.aux)
        return self._walk


def walk_any(kind, data, aux=None):
    """(fields, info, regions, ctx) of ``data`` of seed kind ``kind``."""
    ctx = {}
    if kind == "elf":
        fields, info = walk_elf(data)
        regions = info.regions or [(0, len(data))]
        if info.btf_info is not None:
            ctx["str_starts"] = info.btf_info.str_starts
        return fields, info, regions, ctx
    if kind == "btf":
        fields, info = walk_btf(data)
        if info is not None:
            ctx["str_starts"] = info.str_starts
        return fields, info, [(0, len(data))], ctx
    if kind == "ext":
        _bf, binfo = walk_btf(aux)
        fields, info = walk_ext(data, 0, None, binfo.str_len if binfo else 0, binfo.count if binfo else 0)
        if binfo is not None:
            ctx["str_starts"] = binfo.str_starts
        return fields, info, [(0, len(data))], ctx
    if kind == "index":
        return walk_index(data, aux), None, [(0, len(data))], ctx
    raise ValueError(kind)


def walk_index(data, btf_blob):
    fields = []
    add = fields.append
    if len(data) < 128:
        return fields
    for off, size in ((0, 8), (8, 4), (12, 4), (16, 4), (20, 4), (24, 8), (64, 4), (68, 4), (72, 4), (76, 4),
                      (80, 4)):
        add(_field(off, size, "size" if off in (24, 64, 68, 72) else "u", len(btf_blob)))
    add(_field(32, 8, "u"))
    add(_field(56, 8, "u"))
    add(_field(100, 4, "u"))
    tcount, ncount, fcount = struct.unpack_from("=III", data, 64)
    pos = 128
    for j in range(min(tcount, 512)):
        add(_field(pos + 4 * j, 4, "boff", len(btf_blob)))
    pos = 128 + 4 * tcount
    pos += -pos % 8
    for j in range(min(ncount + fcount, 1024)):
        add(_field(pos + 8 * j, 8, "key", tcount))
    return fields


def find_objects(extra=()):
    paths = sorted(glob.glob(os.path.join(BUILD_DIR, "*.o")))
    if os.path.isdir(CORPUS_DIR):
        paths += sorted(glob.glob(os.path.join(CORPUS_DIR, "*.elf")))
    return paths + list(extra)


class Seeds:
    """All seeds of a run, grouped by target. Built identically in every
    process from the same files."""

    def __init__(self, paths, extra_btf=()):
        self.paths = list(paths)
        self.objects = []
        btfs = collections.OrderedDict()
        self.exts = []
        for path in self.paths:
            with open(path, "rb") as f:
                data = f.read()
            seed = Seed(os.path.basename(path), data, "elf")
            self.objects.append(seed)
            _fields, info, _r, _c = seed.walk()
            if info.btf is None:
                continue
            s = info.sections[info.btf]
            blob = data[s[4]:s[4] + s[5]]
            btfs.setdefault(hashlib.sha256(blob).hexdigest(), (seed.name + ":.BTF", blob))
            if info.ext is not None:
                e = info.sections[info.ext]
                self.exts.append(Seed(seed.name + ":.BTF.ext", data[e[4]:e[4] + e[5]], "ext", aux=blob))
        for path in extra_btf:
            with open(path, "rb") as f:
                blob = f.read()
            btfs.setdefault(hashlib.sha256(blob).hexdigest(), (os.path.basename(path), blob))
        self.btfs = [Seed(name, blob, "btf") for name, blob in btfs.values()]
        self.extra_btf = set(os.path.basename(p) for p in extra_btf)
        # Kernel-BTF cache: index files for the objects' BTF (small and
        # quick to rebuild); an extra (vmlinux) BTF is used for btf only.
        self.cache_btfs = [s for s in self.btfs if s.name not in self.extra_btf]
        self.core = [s for s in self.objects if s.walk()[1].ext is not None and s.walk()[1].btf is not None
                     and s.walk()[1].code]
        self._golden = {}

    def golden_index(self, k):
        """(index bytes, BTF blob) of cache seed ``k``."""
        if k not in self._golden:
            blob = self.cache_btfs[k].data
            C = mods().cache
            fresh = mods().reader.BTF.from_bytes(blob, name="fuzz")
            self._golden[k] = (C.build_index(fresh, C.btf_identity(blob), len(blob)), blob)
        return self._golden[k]

    def pool(self, target):
        return {"elf": self.objects, "btf": self.btfs, "ext": self.exts, "core": self.core,
                "cache": self.cache_btfs}[target]

    def describe(self):
        return "%d objects, %d BTF, %d BTF.ext, %d CO-RE objects, %d cache indexes" % (
            len(self.objects), len(self.btfs), len(self.exts), len(self.core), len(self.cache_btfs))


# ---------------------------------------------------------------- recipes and cases

Recipe = collections.namedtuple("Recipe", "target seed ops variant")
# ops: list of (name, subseed); variant: per target (btf: base seed index or -1;
# cache: file shape)

STRUCT_OPS = ("btf_struct", "relo_insert", "relo_mutate", "ext_struct", "swap")
SIZE_OPS = ("truncate", "insert", "delete", "append", "dup")
INPLACE_OPS = ("field", "field", "field", "flip", "byte", "word", "splice")

OP_WEIGHTS = {
    "elf": (("field", 40), ("flip", 8), ("byte", 6), ("word", 8), ("splice", 3), ("btf_struct", 8),
            ("relo_insert", 3), ("ext_struct", 3), ("truncate", 2), ("insert", 1), ("delete", 1), ("append", 1),
            ("dup", 1)),
    "core": (("field", 30), ("relo_insert", 25), ("relo_mutate", 20), ("btf_struct", 15), ("flip", 3),
             ("word", 3), ("byte", 2), ("truncate", 1)),
    "btf": (("field", 40), ("flip", 10), ("byte", 8), ("word", 10), ("splice", 3), ("btf_struct", 20), ("swap", 3),
            ("truncate", 3), ("insert", 2), ("delete", 2), ("append", 1), ("dup", 1)),
    "ext": (("field", 45), ("flip", 10), ("byte", 8), ("word", 10), ("splice", 3), ("ext_struct", 12), ("swap", 3),
            ("truncate", 4), ("insert", 3), ("delete", 3), ("append", 1), ("dup", 1)),
    "cache": (("field", 45), ("flip", 15), ("byte", 10), ("word", 10), ("splice", 4), ("truncate", 6),
              ("insert", 3), ("delete", 3), ("append", 2), ("dup", 2)),
}
CACHE_VARIANTS = (("raw", 62), ("forged", 28), ("mode", 3), ("symlink", 3), ("hardlink", 2), ("missing", 2))


def _weighted(rng, pairs):
    total = sum(w for _n, w in pairs)
    x = rng.random() * total
    for name, w in pairs:
        x -= w
        if x < 0:
            return name
    return pairs[-1][0]


# Structural rewrites that make an input larger than this are dropped
# (inputs stay a size where a blow-up is the parser's doing, not ours).
MAX_INPUT = 8 << 20


class Case:
    """One built input: target, payload bytes and what the target needs
    beside them."""

    __slots__ = ("recipe", "target", "data", "aux", "variant", "seed_name", "base")

    def __init__(self, recipe, target, data, aux=None, variant=None, seed_name="", base=None):
        self.recipe = recipe
        self.target = target
        self.data = bytes(data)
        self.aux = aux
        self.variant = variant
        self.seed_name = seed_name
        self.base = base     # bytes the in-place ops started from (for minimisation)


class Generator:
    def __init__(self, seeds, master_seed, targets=TARGETS):
        self.seeds = seeds
        self.master = master_seed
        self.targets = [(t, TARGET_WEIGHTS[t]) for t in targets if seeds.pool(t)]
        if not self.targets:
            raise SystemExit("fuzz: no seeds for targets %s" % ", ".join(targets))

    def recipe(self, i):
        rng = random.Random("%d:%d" % (self.master, i))
        target = _weighted(rng, self.targets)
        pool = self.seeds.pool(target)
        seed = rng.randrange(len(pool))
        if target == "btf" and pool[seed].name in self.seeds.extra_btf and rng.random() < 0.8:
            seed = rng.randrange(len(pool))     # keep a large extra BTF rare
        n = 1
        while n < 8 and rng.random() < 0.45:
            n += 1
        ops = [(_weighted(rng, OP_WEIGHTS[target]), rng.getrandbits(32)) for _op in range(n)]
        variant = None
        if target == "btf":
            variant = rng.randrange(len(pool)) if rng.random() < 0.15 else -1
        elif target == "cache":
            variant = _weighted(rng, CACHE_VARIANTS)
            if variant in ("mode", "symlink", "hardlink", "missing"):
                ops = []
        elif target == "core":
            # Relocate against: the object's own (mutated) BTF, the BTF of
            # the unmutated seed, or another object's BTF.
            r = rng.random()
            variant = -1 if r < 0.6 else (-2 if r < 0.85 else rng.randrange(len(self.seeds.btfs)))
        return Recipe(target, seed, ops, variant)

    def build(self, recipe):
        target = recipe.target
        seed = self.seeds.pool(target)[recipe.seed]
        aux = None
        if target == "cache":
            data, aux = self.seeds.golden_index(recipe.seed)
            kind = "index"
        else:
            data, kind = seed.data, seed.kind
            if kind == "ext":
                aux = seed.aux
        struct_ops = [op for op in recipe.ops if op[0] in STRUCT_OPS]
        walked = seed.walk() if kind != "index" else (walk_index(data, aux), None, [(0, len(data))], {})
        if struct_ops:
            limit = max(MAX_INPUT, 2 * len(data))
            for name, sub in struct_ops:
                new = apply_struct(name, random.Random(sub), kind, data, aux)
                if len(new) <= limit:
                    data = new
            walked = walk_any(kind, data, aux)
        base = bytes(data)
        buf = bytearray(data)
        fields, _info, regions, ctx = walked
        for name, sub in recipe.ops:
            if name in STRUCT_OPS or name in SIZE_OPS:
                continue
            apply_inplace(name, random.Random(sub), buf, fields, regions, ctx)
        for name, sub in recipe.ops:
            if name in SIZE_OPS:
                buf = apply_size(name, random.Random(sub), buf, regions)
        data = bytes(buf)
        if target == "cache" and recipe.variant == "forged":
            data = forge_checksum(data)
        if target == "btf" and recipe.variant is not None and recipe.variant >= 0:
            aux = self.seeds.btfs[recipe.variant].data
        if target == "core" and recipe.variant is not None and recipe.variant != -1:
            if recipe.variant >= 0:
                aux = self.seeds.btfs[recipe.variant].data
            else:
                info = seed.walk()[1]
                sh = info.sections[info.btf]
                aux = seed.data[sh[4]:sh[4] + sh[5]]
        return Case(recipe, target, data, aux=aux, variant=recipe.variant, seed_name=seed.name, base=base)

    def case(self, i):
        return self.build(self.recipe(i))


def forge_checksum(data):
    """The index bytes with the header checksum made to match (when the
    header is long enough to have one)."""
    if len(data) < 128:
        return data
    buf = bytearray(data)
    crc = zlib.crc32(bytes(buf[84:]), zlib.crc32(bytes(buf[:80])))
    struct.pack_into("=I", buf, 80, crc)
    return bytes(buf)


def apply_inplace(name, rng, buf, fields, regions, ctx):
    n = len(buf)
    if not n:
        return
    if name == "field" and fields:
        f = rng.choice(fields)
        if f.off + f.size > n:
            return
        orig = get_uint(buf, f.off, f.size)
        put_uint(buf, f.off, f.size, choose_value(rng, f, orig, n, ctx))
        return
    start, end = rng.choice(regions) if regions else (0, n)
    end = min(end, n)
    if end <= start:
        start, end = 0, n
    pos = rng.randrange(start, end)
    if name == "flip" or name == "field":
        buf[pos] ^= 1 << rng.randrange(8)
    elif name == "byte":
        buf[pos] = rng.choice((0, 1, 0x7f, 0x80, 0xff, rng.getrandbits(8)))
    elif name == "word":
        size = rng.choice((2, 4, 4, 8))
        if rng.random() < 0.7:
            pos -= pos % size
        put_uint(buf, pos, min(size, n - pos), rng.choice(INTERESTING))
    elif name == "splice":
        length = rng.randint(1, 64)
        src = rng.randrange(n)
        chunk = bytes(buf[src:src + length])
        buf[pos:pos + len(chunk)] = chunk[:n - pos]


def apply_size(name, rng, buf, regions):
    n = len(buf)
    if name == "truncate":
        if rng.random() < 0.5 and regions:
            start, end = rng.choice(regions)
            cut = rng.randint(start, max(start, min(end, n)))
        else:
            cut = rng.randrange(n + 1) if n else 0
        return buf[:cut]
    if name == "append":
        return buf + bytes(rng.getrandbits(8) for _byte in range(rng.choice((1, 4, 8, 64, 1000))))
    pos = rng.randrange(n + 1) if n else 0
    if name == "insert":
        k = rng.choice((1, 2, 4, 8, 12, 16, 100))
        return buf[:pos] + bytes(rng.getrandbits(8) for _byte in range(k)) + buf[pos:]
    if name == "delete":
        k = rng.choice((1, 2, 4, 8, 12, 16, 100))
        return buf[:pos] + buf[pos + k:]
    if name == "dup":
        k = rng.choice((4, 8, 12, 16, 64))
        return buf[:pos] + buf[pos:pos + k] + buf[pos:]
    return buf


# ---------------------------------------------------------------- structural ops

def apply_struct(name, rng, kind, data, aux):
    """Structural rewrite ``name`` of ``data`` (of seed kind ``kind``)."""
    if name == "swap":
        return byteswap_blob(data, kind)
    if kind == "btf":
        _f, info = walk_btf(data)
        if info is None or name != "btf_struct":
            return data
        model = BTFModel(data, info)
        _struct_op(model, rng)
        return model.blob()
    if kind == "ext":
        if name != "ext_struct":
            return data
        _bf, binfo = walk_btf(aux)
        _f, info = walk_ext(data, 0, None, binfo.str_len if binfo else 0, binfo.count if binfo else 0)
        if info is None:
            return data
        return build_ext(_ext_struct(info.blocks, rng, binfo), hdr_len=rng.choice((24, 32, 32, 32, 40)))
    if kind != "elf":
        return data
    _fields, info = walk_elf(data)
    if info.btf is None:
        return data
    s = info.sections[info.btf]
    btf_blob = bytes(data[s[4]:s[4] + s[5]])
    _bf, binfo = walk_btf(btf_blob)
    if binfo is None:
        return data
    model = BTFModel(btf_blob, binfo)
    ext_blocks = dict(info.ext_info.blocks) if info.ext_info is not None else None
    if name == "btf_struct":
        _struct_op(model, rng)
    elif name in ("relo_insert", "relo_mutate"):
        if ext_blocks is None or info.ext is None:
            return data
        _relo_op(name, rng, model, ext_blocks, info, data)
    elif name == "ext_struct":
        if ext_blocks is None or info.ext is None:
            return data
        ext_blocks = _ext_struct(ext_blocks, rng, binfo)
    repl = {info.btf: model.blob()}
    if info.ext is not None and ext_blocks is not None:
        repl[info.ext] = build_ext(ext_blocks)
    if name == "relo_insert" and rng.random() < 0.7:
        fixed = _fit_instructions(data, info, repl[info.btf], ext_blocks, model)
        repl.update(fixed)
    return bytes(elf_replace(data, repl))


def _fit_instructions(data, info, btf_blob, ext_blocks, model):
    """{section index: code} with each CO-RE-relocated instruction given
    the value its relocation expects from the local BTF (what a compiler
    emits), so relocation gets past the instruction checks to the later
    records. Uses the plugin's own spec parsing as a calculator; any
    trouble just leaves the code as it is."""
    M = mods()
    out = {}
    try:
        btf = M.reader.BTF.from_bytes(btf_blob, name="gen")
        by_name = dict((info.names[i], i) for i in info.code)
        for sec_off, recs in ext_blocks.get("core_relo", (16, []))[1]:
            shndx = by_name.get(model.names.get(sec_off))
            if shndx is None:
                continue
            sh = info.sections[shndx]
            code = bytearray(data[sh[4]:sh[4] + sh[5]])
            for r in recs:
                insn, tid, aoff, kind = struct.unpack_from("<IIII", r)
                if insn % 8 or insn + 8 > len(code):
                    continue
                try:
                    local = M.core.parse_local_spec(btf, tid, btf.strings.get(aoff), kind)
                    res = M.core._calc(local, local)
                except Exception:     # noqa: BLE001 - a calculator only
                    continue
                value = res.orig & 0xffffffffffffffff
                op = code[insn]
                cls = op & 7
                if cls in (4, 7) and not op & 8:
                    put_uint(code, insn + 4, 4, value)
                elif cls in (1, 2, 3) and value <= 0x7fff:
                    put_uint(code, insn + 2, 2, value)
                elif op == 0x18 and insn + 16 <= len(code):
                    put_uint(code, insn + 4, 4, value & 0xffffffff)
                    put_uint(code, insn + 12, 4, value >> 32)
            out[shndx] = bytes(code)
    except Exception:                 # noqa: BLE001
        return {}
    return out


def byteswap_blob(data, kind):
    """A little-endian BTF or .BTF.ext blob in big-endian byte order (every
    field after the magic is a u32; strings stay as they are)."""
    if kind not in ("btf", "ext") or len(data) < 24 or data[:2] != b"\x9f\xeb":
        return data
    buf = bytearray(data)
    buf[0:2] = b"\xeb\x9f"
    hdr_len = get_uint(data, 4, 4)
    words = [(4, hdr_len)]
    if kind == "btf":
        _m, _v, _f, hdr_len, type_off, type_len, _so, _sl = BTF_HDR.unpack_from(data, 0)
        words.append((hdr_len + type_off, hdr_len + type_off + type_len))
    else:
        _fields, info = walk_ext(data)
        words.append((hdr_len, len(data)))
    for start, end in words:
        end = min(end, len(data))
        for p in range(start, end - 3, 4):
            buf[p:p + 4] = data[p:p + 4][::-1]
    return bytes(buf)


def _ext_struct(blocks, rng, binfo):
    blocks = dict(blocks)
    names = [n for n in EXT_BLOCKS if n in blocks]
    op = rng.randrange(6)
    if not names:
        return blocks
    name = rng.choice(names)
    rec_size, secs = blocks[name]
    secs = [(s, list(r)) for s, r in secs]
    if op == 0 and secs:          # duplicate a section entry
        secs.append(rng.choice(secs))
    elif op == 1:                 # wider records (newer compiler)
        grow = rng.choice((4, 8, 252, 256, 1 << 12))
        if (rec_size + grow) * sum(len(r) for _s, r in secs) > MAX_INPUT:
            grow = 4
        rec_size += grow
        secs = [(s, [bytes(r) + bytes(grow) for r in recs]) for s, recs in secs]
    elif op == 2 and secs:        # many records
        s, recs = rng.choice(secs)
        times = rng.choice((2, 50, 2000))
        if recs and rec_size * len(recs) * times <= MAX_INPUT:
            secs.append((s, recs * times))
            secs.pop(0)
    elif op == 3 and secs:        # unsorted / shuffled records
        for _s, recs in secs:
            rng.shuffle(recs)
    elif op == 4 and secs:        # empty section entry
        secs.append((secs[0][0], []))
    elif op == 5:                 # drop a block
        del blocks[name]
        return blocks
    blocks[name] = (rec_size, secs)
    return blocks


def _code_sections(info):
    return [(i, info.names[i], info.sections[i]) for i in info.code if info.sections[i][5] >= 8]


def _gen_access(model, tid, rng, kind):
    if rng.random() < 0.1:
        return rng.choice(WEIRD_ACCESS)
    if kind in (6, 7, 8, 9, 12):
        return "0" if rng.random() < 0.9 else rng.choice(("1", "0:0", "0:1"))
    if kind in (10, 11):
        t = model.resolve(tid)
        vlen = model.vlen(t) if 1 <= t < model.count else 0
        return str(rng.randrange(vlen + 2))
    path = [rng.choice((0, 0, 0, 0, 1, 3))]
    cur = tid
    for _level in range(rng.randint(0, 6)):
        cur = model.resolve(cur)
        k = model.kind(cur)
        if k in (4, 5):
            vlen = model.vlen(cur)
            idx = rng.randrange(vlen + 1) if vlen else 0
            path.append(idx)
            if idx >= vlen:
                break
            cur = model.members(cur)[idx][1]
        elif k == 3:
            elem, _index, nelems = struct.unpack_from("<III", model.rec(cur), 12)
            path.append(rng.choice((0, 1, nelems - 1 if nelems else 0, nelems, nelems + 1)))
            cur = elem
        else:
            break
    return ":".join(str(p) for p in path)


def _relo_op(name, rng, model, blocks, info, data):
    """Insert or mutate CO-RE relocation records (and the BTF strings and
    types they name)."""
    rec_size, secs = blocks.get("core_relo", (16, []))
    secs = [(s, list(r)) for s, r in secs]
    named = [t for t in range(1, model.count) if model.name(t) and model.kind(t) in (1, 2, 4, 5, 6, 7, 8, 16, 19)]
    comps = [t for t in named if model.kind(t) in (4, 5, 6, 8, 19)]

    def pick_type():
        r = rng.random()
        if r < 0.6 and comps:
            return rng.choice(comps)
        if r < 0.8 and named:
            return rng.choice(named)
        if r < 0.9:
            # a fresh shape made for this relocation
            before = model.count
            _struct_op(model, rng, rng.choice(("struct_self", "proto_self", "enum", "bitfield", "cycle", "chain")))
            cands = [t for t in range(before, model.count) if model.kind(t) in (4, 5, 6, 13, 19, 12)]
            for t in cands:
                if not model.name(t):
                    put_uint(model.rec(t), 0, 4, model.add_str("fz_anon_named"))
            return rng.choice(cands) if cands else rng.randrange(model.count)
        return rng.choice((0, model.count, model.count + 5, 0xffffffff, rng.randrange(model.count)))

    def pick_kind():
        if rng.random() < 0.03:
            return rng.choice((13, 14, 0xffffffff))
        return rng.choice((0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 12))

    if name == "relo_insert" or not secs:
        code = _code_sections(info)
        if not code:
            return
        shndx, sec_name, sh = rng.choice(code)
        # the section name as a BTF string (func_info entries name it)
        sec_off = None
        for blk in ("func_info", "line_info", "core_relo"):
            for s, _r in blocks.get(blk, (0, []))[1]:
                if model.names.get(s) == sec_name:
                    sec_off = s
        if sec_off is None:
            sec_off = model.find_str(sec_name)
        ninsns = sh[5] // 8
        code_bytes = data[sh[4]:sh[4] + sh[5]]
        patchable = (0x61, 0x69, 0x71, 0x79, 0x07, 0x04, 0xb7, 0x18, 0xb4, 0x62, 0x7b)
        good = [j for j in range(ninsns) if code_bytes[8 * j] in patchable]
        new = []
        for _edit in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.75 and good:
                insn = 8 * rng.choice(good)
            elif r < 0.9:
                insn = 8 * rng.randrange(ninsns)
            else:
                insn = rng.choice((8 * ninsns, 8 * ninsns + 8, 4, 0xfffffff8, 1))
            tid = pick_type()
            kind = pick_kind()
            access = _gen_access(model, tid, rng, kind) if 0 < tid < model.count else rng.choice(("0", "0:1"))
            if rng.random() < 0.9:
                aoff = model.add_str(access)
            else:
                aoff = rng.choice((0, len(model.strings) + 3, 0xffffffff))
            new.append(struct.pack("<IIII", insn, tid, aoff, kind).ljust(rec_size, b"\0"))
        for k, (s, recs) in enumerate(secs):
            if s == sec_off:
                recs.extend(new)
                if rng.random() < 0.5:
                    recs.sort(key=lambda rr: struct.unpack_from("<I", rr)[0])
                break
        else:
            secs.append((sec_off, new))
    else:
        s, recs = rng.choice(secs)
        for _edit in range(rng.randint(1, 3)):
            if not recs:
                break
            j = rng.randrange(len(recs))
            insn, tid, aoff, kind = struct.unpack_from("<IIII", recs[j])
            c = rng.randrange(5)
            if c == 0:
                tid = pick_type()
            elif c == 1:
                aoff = model.add_str(_gen_access(model, tid, rng, kind) if 0 < tid < model.count else "0")
            elif c == 2:
                kind = pick_kind()
                if rng.random() < 0.5 and 0 < tid < model.count:
                    aoff = model.add_str(_gen_access(model, tid, rng, kind))
            elif c == 3:
                # point it at another type of the same shape, e.g. a self-containing one
                if 0 < tid < model.count and model.kind(tid) in (4, 5):
                    _self_contain(model, tid, rng)
            else:
                insn = rng.choice((insn + 8, insn - 8, insn + 1, 0, 0xfffffff8))
            recs[j] = struct.pack("<IIII", insn & 0xffffffff, tid & 0xffffffff, aoff & 0xffffffff,
                                  kind & 0xffffffff) + bytes(recs[j][16:])
    blocks["core_relo"] = (rec_size, secs)


def _self_contain(model, tid, rng):
    r = model.rec(tid)
    for j in range(model.vlen(tid)):
        if rng.random() < 0.6:
            put_uint(r, 12 + 12 * j + 4, 4, tid)
        if rng.random() < 0.2:
            put_uint(r, 12 + 12 * j, 4, 0)


# ---------------------------------------------------------------- execution

class Timeout(BaseException):
    """The per-input time bound ran out (raised from SIGALRM)."""


class Finding:
    """One problem with one input."""

    def __init__(self, kind, key, message, tb, advisory=False):
        self.kind = kind          # exception, hang, memory, wrong-error, cache, killed
        self.key = key
        self.message = message
        self.tb = tb
        self.advisory = advisory

    def as_dict(self):
        return {"kind": self.kind, "key": self.key, "message": self.message, "traceback": self.tb,
                "advisory": self.advisory}


def _frames(tb):
    return [(f.filename, f.name, f.lineno) for f in traceback.extract_tb(tb)]


def _plugin_rel(path):
    i = path.rfind(PLUGIN_MARK)
    return path[i + len(PLUGIN_MARK):] if i >= 0 else None


def location_key(tb, recursive=False):
    """'file:function' of the innermost plugins/module_utils frame (for
    hangs: the plugin function most often on the stack), else of the
    innermost frame."""
    frames = _frames(tb)
    plugin = [(_plugin_rel(f), n) for f, n, _l in frames if _plugin_rel(f)]
    if plugin:
        if recursive:
            counts = collections.Counter(plugin)
            best = max(counts.values())
            for loc in reversed(plugin):
                if counts[loc] == best:
                    return "%s:%s" % loc
        return "%s:%s" % plugin[-1]
    if frames:
        return "%s:%s" % (os.path.basename(frames[-1][0]), frames[-1][1])
    return "?:?"


def _finding_from_exc(exc, kind="exception", advisory=False, prefix=""):
    tb = exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, tb)[-14:])
    if isinstance(exc, Timeout):
        return Finding("hang", "%shang:%s" % (prefix, location_key(tb, True)), "no answer within the time bound",
                       text, advisory)
    if isinstance(exc, MemoryError):
        return Finding("memory", "%smemory:%s" % (prefix, location_key(tb)), "MemoryError under the address-space "
                       "cap", text, advisory)
    return Finding(kind, "%s%s:%s" % (prefix, location_key(tb), type(exc).__name__),
                   ("%s: %s" % (type(exc).__name__, exc))[:500], text, advisory)


class _AnyConfig:
    """A kernel config that defines (or not) every CONFIG_ name, with a
    value picked by the name's hash, so every extern gets some value."""

    VALUES = (None, "y", "m", "n", "250", "0", "-5", "0x7f", '"abc"', '""', '"', "x", "0x1ffffffffffffffff",
              '"' + "s" * 300 + '"', "-9223372036854775809", "1e3")

    def get(self, key, default=None):
        v = self.VALUES[zlib.crc32(key.encode("utf-8", "surrogateescape")) % len(self.VALUES)]
        return default if v is None else v


class _FakeKernel:
    """KernelConfig stand-in for kconfig_value: fixed release, any config,
    no /proc reads."""

    release = "6.18.0-fuzz"
    version_code = (6 << 16) + (18 << 8)
    _config = _AnyConfig()

    def config(self):
        return self._config

    def has_syscall_wrapper(self):
        return True


class Env:
    """Per-process execution state: parsed BTF for strings and bases,
    the cache directory and its per-seed files."""

    def __init__(self, workdir):
        self.workdir = workdir
        self._btf = {}
        self._cache_seed = {}
        self.cache_dir = os.path.join(workdir, "btf-cache")
        self.src_dir = os.path.join(workdir, "btf-src")
        os.makedirs(self.src_dir, exist_ok=True)
        self.run_id = "fuzz-%d" % os.getpid()
        self.accepted = False

    def btf(self, blob):
        key = hashlib.sha1(blob).digest()
        if key not in self._btf:
            self._btf[key] = mods().reader.BTF.from_bytes(blob, name="seed")
        return self._btf[key]

    def cache_seed(self, blob):
        """(source path, name, golden index bytes, answers) for a BTF blob."""
        key = hashlib.sha1(blob).hexdigest()
        if key not in self._cache_seed:
            M = mods()
            src = os.path.join(self.src_dir, key[:16] + ".btf")
            with open(src, "wb") as f:
                f.write(blob)
            fresh = M.reader.BTF.from_bytes(blob, name="fresh")
            golden = M.cache.build_index(fresh, M.cache.btf_identity(blob), len(blob))
            self._cache_seed[key] = (src, "fz" + key[:8], golden, answers_of(fresh))
        return self._cache_seed[key]


def answers_of(btf):
    """Everything a cache hit must answer exactly as this fresh parse."""
    names = set()
    types = {}
    for tid in range(1, btf.count):
        t = btf.type_by_id(tid)
        types[tid] = t
        names.add(t.name)
    M = mods()
    essentials = set(M.reader.essential_name(n) for n in names)
    probe = sorted(names | essentials | {"", "no_such_type", "x", "\udcff"})
    by_name = dict((n, btf.ids_by_name(n)) for n in probe)
    by_essential = dict((n, btf.ids_by_essential_name(n)) for n in probe)
    return {"count": btf.count, "types": types, "by_name": by_name, "by_essential": by_essential}


def compare_answers(btf, want, check_types):
    """None, or a reason why ``btf`` does not answer as ``want``."""
    if btf.count != want["count"]:
        return "count %d, fresh parse %d" % (btf.count, want["count"])
    for n, ids in want["by_name"].items():
        got = btf.ids_by_name(n)
        if tuple(got) != tuple(ids):
            return "ids_by_name(%r) = %r, fresh parse %r" % (n, got, ids)
    for n, ids in want["by_essential"].items():
        got = btf.ids_by_essential_name(n)
        if tuple(got) != tuple(ids):
            return "ids_by_essential_name(%r) = %r, fresh parse %r" % (n, got, ids)
    if check_types:
        for tid, t in want["types"].items():
            got = btf.type_by_id(tid)
            if got != t:
                return "type_by_id(%d) = %r, fresh parse %r" % (tid, got, t)
    return None


BTF_EXERCISE_CAP = 1500


def exercise_btf(btf, rng_seed=0):
    """Every query of the BTF API, each may raise only LoaderError; bounded."""
    LoaderError = mods().LoaderError
    essential = mods().reader.essential_name
    count = btf.count
    if count <= BTF_EXERCISE_CAP:
        ids = list(range(count))
    else:
        rng = random.Random(rng_seed)
        ids = [0, 1, count - 1] + [rng.randrange(count) for _sample in range(BTF_EXERCISE_CAP)]
    ids += [count, count + 1, -1]
    names = set()
    for tid in ids:
        for fn in (btf.type_by_id, btf.kind_of, btf.name_of, btf.resolve, btf.sizeof):
            try:
                r = fn(tid)
            except LoaderError:
                continue
            if fn == btf.type_by_id:
                names.add(r.name)
                _touch_type(r)
    probe = sorted(names)[:BTF_EXERCISE_CAP] + ["", "no_such_type", "x___y", "int"]
    for n in probe:
        try:
            btf.ids_by_name(n)
        except LoaderError:
            # The name index cannot be built: every by-name lookup makes
            # the same whole pass again and fails the same way (about 50 ms
            # on vmlinux each), so one is enough.
            break
        for fn in (btf.ids_by_essential_name, btf.find):
            try:
                fn(n)
            except LoaderError:
                pass
        try:
            btf.ids_by_essential_name(essential(n))
        except LoaderError:
            pass
    for tid in ids[:50]:
        try:
            btf.type_offset(tid)
        except LoaderError:
            pass
    list(btf.iter_ids())
    repr(btf)


def _touch_type(t):
    # Decoded values must be usable (repr/eq/hash) whatever they hold.
    repr(t)
    hash(t)
    operator.eq(t, t)


def _parsed(parse, *args, **kwargs):
    """parse(*args, **kwargs), or None when it refuses the input with a
    LoaderError (the answer a damaged input should get)."""
    try:
        return parse(*args, **kwargs)
    except mods().LoaderError:
        return None


def exec_case(case, env):
    """Run one case. Returns a Finding or None. May raise Timeout/MemoryError
    out of the parsers; the caller converts them."""
    M = mods()
    LoaderError = M.LoaderError
    target = case.target
    if target in ("btf", "ext", "elf"):
        if target == "btf":
            base = env.btf(case.aux) if case.aux is not None else None
            parsed = _parsed(M.reader.BTF.from_bytes, case.data, name="fuzz", base=base)
            exercise = exercise_btf
        elif target == "ext":
            parsed = _parsed(M.ext.BTFExt.from_bytes, case.data, env.btf(case.aux).strings, name="fuzz")
            exercise = _exercise_ext
        else:
            parsed = _parsed(M.objfile.read_object_bytes, case.data, "fuzz.o")
            exercise = _exercise_spec
        if parsed is not None:
            env.accepted = True
            exercise(parsed)
        return None
    if target == "core":
        spec = _parsed(M.objfile.read_object_bytes, case.data, "fuzz.o")
        if spec is None or spec.btf is None:
            return None
        target_btf = spec.btf if case.aux is None else env.btf(case.aux)
        relocator = M.core.CoreRelocator(spec.btf, lambda: [target_btf])
        for prog in spec.programs.values():
            if not prog.core_relos:
                continue
            try:
                relocator.relocate(prog.name, bytearray(prog.insns), prog.core_relos)
                env.accepted = True
            except (M.RelocationError, M.BTFError):
                pass
            except LoaderError as exc:
                f = _finding_from_exc(exc, "wrong-error")
                f.key = "wrong-error:" + f.key
                return f
        return None
    if target == "cache":
        return _exec_cache(case, env)
    raise ValueError(target)


def _exercise_ext(ext):
    M = mods()
    for table, pack in ((ext.func_info, M.ext.pack_func_info), (ext.line_info, M.ext.pack_line_info)):
        for _sec, (rec_size, recs) in table.items():
            base = min(r[0] for r in recs) if recs else 0
            try:
                pack(recs, rec_size, base)
            except M.LoaderError:
                pass


def _exercise_spec(spec):
    M = mods()
    LoaderError = M.LoaderError
    if spec.externs and ".kconfig" in spec.maps:
        try:
            M.kconfig.kconfig_value(spec, _FakeKernel(), [])
        except LoaderError:
            pass
    for prog in spec.programs.values():
        for recs, size, pack in ((prog.func_info, prog.func_info_rec_size, M.ext.pack_func_info),
                                 (prog.line_info, prog.line_info_rec_size, M.ext.pack_line_info)):
            if recs:
                try:
                    pack([(r[0] * 8,) + tuple(r[1:]) for r in recs], size)
                except LoaderError:
                    pass


def _place_index(env, path, case, golden):
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    variant = case.variant
    if variant == "missing":
        return
    if variant in ("symlink", "hardlink"):
        other = os.path.join(env.workdir, "planted.btfidx")
        if os.path.lexists(other):
            os.unlink(other)
        with open(other, "wb") as f:
            f.write(golden)
        os.chmod(other, 0o600)
        if variant == "symlink":
            os.symlink(other, path)
        else:
            os.link(other, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(case.data)
    os.chmod(path, 0o644 if variant == "mode" else 0o600)


def _exec_cache(case, env):
    M = mods()
    src, name, golden, want = env.cache_seed(case.aux)
    cache = M.cache.BTFCache(env.cache_dir, env.run_id)
    path = cache.index_path(src, name)
    variant = case.variant
    data = golden if variant in ("mode", "symlink", "hardlink", "missing") else case.data
    _place_index(env, path, case, golden)
    unchanged = variant in ("raw", "forged") and data == golden
    forged = variant == "forged" and not unchanged
    prefix = "cache-forged:" if forged else "cache:"
    try:
        btf = cache.load(src, name)
    except (Timeout, MemoryError):
        raise
    except Exception as exc:    # nothing may escape load() for a valid BTF
        return _finding_from_exc(exc, "cache", advisory=forged, prefix=prefix)
    status = cache.status
    env.accepted = status == "hit"
    if variant == "missing":
        expected = ("built",)
    elif unchanged:
        expected = ("hit",)
    elif forged:
        expected = ("rebuilt", "hit")
    else:
        expected = ("rebuilt",)
    if status not in expected:
        return Finding("cache", "%sstatus:%s:%s" % (prefix, variant, status),
                       "index file (%s, %s) gave status %r, want one of %s; reason %r" % (
                           variant, "unchanged" if unchanged else "changed", status, expected, cache.reason),
                       "", advisory=forged and status == "hit")
    try:
        why = compare_answers(btf, want, check_types=(status == "hit"))
    except (Timeout, MemoryError):
        raise
    except Exception as exc:
        return _finding_from_exc(exc, "cache", advisory=forged, prefix=prefix + "answers:")
    if why:
        return Finding("cache", "%sanswers:%s:%s" % (prefix, variant, status),
                       "BTF from a %s load answers differently from a fresh parse: %s" % (status, why), "",
                       advisory=forged)
    if status in ("built", "rebuilt"):
        st = os.lstat(path)
        with open(path, "rb") as f:
            on_disk = f.read()
        if not stat.S_ISREG(st.st_mode) or on_disk != golden or st.st_mode & 0o077:
            return Finding("cache", "cache:written:%s" % variant,
                           "after a %s load the index file is not the freshly built one" % status, "")
    return None


def run_case(case, env, time_limit):
    """exec_case under the time bound; a Finding or None."""
    def on_alarm(_sig, _frame):
        raise Timeout()

    env.accepted = False
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        try:
            return exec_case(case, env)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except Timeout as exc:
        return _finding_from_exc(exc)
    except MemoryError as exc:
        return _finding_from_exc(exc)
    except RecursionError as exc:
        return _finding_from_exc(exc)
    except Exception as exc:
        f = _finding_from_exc(exc)
        if case.target == "cache":
            f.key = "cache:" + f.key
        return f
    finally:
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- minimisation

def minimize(gen, case, finding, env, time_limit, budget_s, heartbeat=None):
    """A smaller case with the same finding key: recipe steps dropped,
    then bytes changed by in-place steps reverted (delta debugging)."""
    deadline = time.monotonic() + budget_s
    key = finding.key

    def same(c):
        if heartbeat:
            heartbeat()
        f = run_case(c, env, time_limit)
        # Where a MemoryError or the alarm lands varies from run to run.
        return f is not None and (f.key == key or f.kind == finding.kind and f.kind in ("memory", "hang"))

    best = case
    recipe = case.recipe
    ops = list(recipe.ops)
    i = 0
    while i < len(ops) and time.monotonic() < deadline:
        trial = ops[:i] + ops[i + 1:]
        c = gen.build(recipe._replace(ops=trial))
        if same(c):
            ops, best = trial, c
        else:
            i += 1
    base, data = best.base, best.data
    if base is not None and len(base) == len(data) and base != data:
        forged = best.target == "cache" and best.variant == "forged"
        diffs = [k for k in range(len(data)) if base[k] != data[k] and not (forged and 80 <= k < 84)]
        if len(diffs) > 1:
            keep = _ddmin(diffs, lambda subset: same(_with_bytes(best, base, data, subset)), deadline)
            best = _with_bytes(best, base, data, keep)
    return best


def _with_bytes(case, base, data, positions):
    buf = bytearray(base)
    for k in positions:
        buf[k] = data[k]
    out = bytes(buf)
    if case.target == "cache" and case.variant == "forged":
        out = forge_checksum(out)
    return Case(case.recipe, case.target, out, case.aux, case.variant, case.seed_name, case.base)


def _ddmin(items, test, deadline):
    """Smallest subset (1-minimal when time allows) for which test holds."""
    n = 2
    while len(items) >= 2 and time.monotonic() < deadline:
        chunk = max(1, len(items) // n)
        subsets = [items[k:k + chunk] for k in range(0, len(items), chunk)]
        reduced = False
        for k in range(len(subsets)):
            complement = [x for j, s in enumerate(subsets) if j != k for x in s]
            if complement and test(complement):
                items = complement
                n = max(n - 1, 2)
                reduced = True
                break
            if time.monotonic() >= deadline:
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


# ---------------------------------------------------------------- reproducers

def case_files(case):
    """{suffix: bytes} of the payload files of a case."""
    if case.target == "elf":
        return {".o": case.data}
    if case.target == "core":
        files = {".o": case.data}
        if case.aux is not None:
            files[".target.btf"] = case.aux
        return files
    if case.target == "btf":
        files = {".btf": case.data}
        if case.aux is not None:
            files[".base.btf"] = case.aux
        return files
    if case.target == "ext":
        return {".ext": case.data, ".strings.btf": case.aux}
    return {".btfidx": case.data, ".btf": case.aux}


def save_reproducer(out_dir, case, finding, index, master_seed):
    """Write the case's files and ``<id>.json`` to ``out_dir`` (advisory
    findings to ``out_dir/advisory``); the JSON's path."""
    if finding.advisory:
        out_dir = os.path.join(out_dir, "advisory")
    os.makedirs(out_dir, exist_ok=True)
    ident = "%s-%s-%s" % (case.target, finding.kind,
                          hashlib.sha1(finding.key.encode()).hexdigest()[:10])
    files = {}
    for suffix, blob in case_files(case).items():
        fname = ident + suffix
        _write_atomic(os.path.join(out_dir, fname), blob)
        files[suffix] = fname
    meta = {
        "id": ident, "target": case.target, "variant": case.variant, "seed_file": case.seed_name,
        "files": files, "finding": finding.as_dict(), "input_index": index, "master_seed": master_seed,
        "recipe_ops": [op[0] for op in case.recipe.ops] if case.recipe else [],
        "diff_from_seed": _diff(case),
        "replay": "tests/fuzz/harness.py --replay %s" % os.path.relpath(
            os.path.join(out_dir, ident + ".json"), REPO),
    }
    path = os.path.join(out_dir, ident + ".json")
    _write_atomic(path, (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
    return path


def _write_atomic(path, blob):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(blob)
    os.rename(tmp, path)


def _diff(case):
    base = case.base
    if base is None or len(base) != len(case.data):
        return None
    out = []
    for k in range(len(base)):
        if base[k] != case.data[k]:
            out.append("%#x: %02x -> %02x" % (k, base[k], case.data[k]))
            if len(out) >= 64:
                break
    return out


def load_reproducer(path):
    with open(path) as f:
        meta = json.load(f)
    d = os.path.dirname(os.path.abspath(path))

    def read(suffix):
        name = meta["files"].get(suffix)
        if name is None:
            return None
        with open(os.path.join(d, name), "rb") as f:
            return f.read()

    target = meta["target"]
    if target in ("elf", "core"):
        data, aux = read(".o"), read(".target.btf")
    elif target == "btf":
        data, aux = read(".btf"), read(".base.btf")
    elif target == "ext":
        data, aux = read(".ext"), read(".strings.btf")
    else:
        data, aux = read(".btfidx"), read(".btf")
    return meta, Case(None, target, data, aux, meta.get("variant"), meta.get("seed_file", ""))


def replay(path, time_limit=2.0, mem_mb=512):
    """Run one saved reproducer in a child process (under the time bound
    and the address-space cap); the Finding, or None when it is fixed."""
    _meta, case = load_reproducer(path)
    mods()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()

    def run():
        workdir = tempfile.mkdtemp(prefix="ebpf-fuzz-replay-")
        try:
            if mem_mb:
                cap = _vm_size() + mem_mb * 1024 * 1024
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            f = run_case(case, Env(workdir), time_limit)
            child.send(None if f is None else f.as_dict())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    proc = ctx.Process(target=run, daemon=True)
    proc.start()
    child.close()
    got = parent.poll(time_limit * 4 + 10)
    result = parent.recv() if got else "timeout"
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if result == "timeout":
        return Finding("hang", "hang:replay", "no answer from the replay child", "")
    if result is None:
        return None
    return Finding(result["kind"], result["key"], result["message"], result["traceback"], result["advisory"])


# ---------------------------------------------------------------- workers

def _vm_size():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (IOError, OSError, ValueError):
        pass
    return 0


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_main(wid, conn, cur, cur_t, processed, opts):
    """Worker loop: batches (start, end) in, results out."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        mods()
        seeds = Seeds(opts["paths"], opts["extra_btf"])
        gen = Generator(seeds, opts["seed"], opts["targets"])
        workdir = tempfile.mkdtemp(prefix="ebpf-fuzz-w%d-" % wid, dir=opts["tmp"])
        env = Env(workdir)
        # Warm up (golden indexes, parses) before the memory cap.
        for k in range(len(seeds.cache_btfs)):
            if "cache" in opts["targets"]:
                seeds.golden_index(k)
                env.cache_seed(seeds.cache_btfs[k].data)
        for s in seeds.btfs:
            env.btf(s.data)
        if opts["mem_mb"]:
            cap = _vm_size() + opts["mem_mb"] * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        known = set()

        def heartbeat():
            cur_t.value = time.monotonic()

        conn.send(("ready", wid))
        while True:
            msg = conn.recv()
            if msg is None:
                break
            start, end = msg
            per_target = collections.Counter()
            accepted = collections.Counter()
            gen_errors = []
            for i in range(start, end):
                cur.value = i
                cur_t.value = time.monotonic()
                with processed.get_lock():
                    processed.value += 1
                try:
                    case = gen.case(i)
                except Exception as exc:     # noqa: BLE001 - the generator's own trouble
                    gen_errors.append("input #%d: %s: %s" % (i, type(exc).__name__, exc))
                    continue
                per_target[case.target] += 1
                finding = run_case(case, env, opts["time_limit"])
                if env.accepted:
                    accepted[case.target] += 1
                if finding is None:
                    continue
                entry = {"index": i, "finding": finding.as_dict()}
                if finding.key not in known:
                    known.add(finding.key)
                    small = minimize(gen, case, finding, env, opts["time_limit"], opts["min_budget"], heartbeat)
                    entry["path"] = save_reproducer(opts["out"], small, finding, i, opts["seed"]) \
                        if opts["out"] else None
                    entry["size"] = len(small.data)
                # At once: a later input of the batch may kill the worker.
                conn.send(("finding", entry))
            cur.value = -1
            conn.send(("done", start, end, dict(per_target), dict(accepted), _peak_rss_mb(), gen_errors))
        shutil.rmtree(workdir, ignore_errors=True)
    except (EOFError, KeyboardInterrupt):
        pass


class _Worker:
    def __init__(self, ctx, wid, opts, processed):
        self.wid = wid
        self.cur = ctx.Value("q", -1, lock=False)
        self.cur_t = ctx.Value("d", 0.0, lock=False)
        self.processed = processed
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(wid, child, self.cur, self.cur_t, processed, opts),
                                daemon=True)
        self.proc.start()
        child.close()
        self.batch = None
        self.ready = False


def fuzz(opts, log=print):
    """Run the fuzzer with ``opts`` (see main). Returns the summary dict."""
    mods()
    paths = find_objects(opts.get("extra_objects", ()))
    opts.setdefault("paths", paths)
    seeds = Seeds(opts["paths"], opts["extra_btf"])
    gen = Generator(seeds, opts["seed"], opts["targets"])
    log("fuzz: seeds: %s; targets %s; seed %d; %d workers; %.1f s per input; %d MiB cap" % (
        seeds.describe(), ",".join(opts["targets"]), opts["seed"], opts["workers"], opts["time_limit"],
        opts["mem_mb"]))
    ctx = multiprocessing.get_context("fork")
    own_tmp = False
    if not opts.get("tmp"):
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        opts["tmp"] = tempfile.mkdtemp(prefix="ebpf-fuzz-", dir=base)
        own_tmp = True
    limit_inputs = opts.get("inputs")
    limit_seconds = opts.get("seconds")
    batch = opts.get("batch", 50)
    hard = opts["time_limit"] * 4 + 10
    processed = ctx.Value("q", 0)     # inputs started, all workers
    workers = [_Worker(ctx, w, opts, processed) for w in range(opts["workers"])]
    next_index = opts.get("start", 0)
    end_index = next_index + limit_inputs if limit_inputs else None
    pending = collections.deque()     # batches to redo after a worker died
    findings = collections.OrderedDict()
    per_target = collections.Counter()
    accepted = collections.Counter()
    generator_errors = []
    done = 0
    peak_rss = 0.0
    t0 = time.monotonic()
    last_report = t0
    stop = False

    def take_batch():
        nonlocal next_index
        if pending:
            return pending.popleft()
        if take_batch_peek(pending, stop, end_index, next_index, limit_seconds, t0):
            return None
        b = (next_index, min(next_index + batch, end_index) if end_index else next_index + batch)
        next_index = b[1]
        return b

    def record(entry):
        f = entry["finding"]
        key = f["key"]
        if key in findings:
            findings[key]["count"] += 1
            if not findings[key].get("path") and entry.get("path"):
                findings[key]["path"] = entry["path"]
            return
        findings[key] = dict(f, count=1, index=entry["index"], path=entry.get("path"), size=entry.get("size"))
        log("fuzz: NEW %s%s [%s] input #%d: %s%s" % (
            "(advisory) " if f.get("advisory") else "", f["kind"], key, entry["index"], f["message"][:200],
            (" -> %s" % os.path.relpath(entry["path"], REPO)) if entry.get("path") else ""))

    def dispatch(w):
        b = take_batch()
        w.batch = b
        if b is not None:
            w.conn.send(b)

    def replace(w, reason):
        i = w.cur.value
        try:
            w.proc.kill()
        except OSError:
            pass
        w.proc.join(5)
        if w.batch is not None and i >= 0:
            case = gen.case(i)
            kind = "hang" if reason == "timeout" else "killed"
            f = Finding(kind, "%s:worker-%s:%s" % (kind, reason, case.target),
                        "worker %s on input #%d (exit code %s)" % (reason, i, w.proc.exitcode), "")
            path = save_reproducer(opts["out"], case, f, i, opts["seed"]) if opts["out"] else None
            record({"index": i, "finding": f.as_dict(), "path": path, "size": len(case.data)})
            if i + 1 < w.batch[1]:
                pending.appendleft((i + 1, w.batch[1]))
        elif w.batch is not None:
            pending.appendleft(w.batch)
        nw = _Worker(ctx, w.wid, opts, processed)
        workers[workers.index(w)] = nw
        return nw

    try:
        while True:
            for w in workers:
                if w.ready and w.batch is None:
                    dispatch(w)
            if all(w.ready and w.batch is None for w in workers) and take_batch_peek(
                    pending, stop, end_index, next_index, limit_seconds, t0):
                break
            ready = multiprocessing.connection.wait([w.conn for w in workers], timeout=0.5)
            now = time.monotonic()
            for w in list(workers):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        replace(w, "died")
                        continue
                    if msg[0] == "ready":
                        w.ready = True
                    elif msg[0] == "finding":
                        record(msg[1])
                    elif msg[0] == "done":
                        _tag, s, e, counts, acc, rss, errs = msg
                        for err in errs:
                            log("fuzz: generator error (input skipped, not a finding): %s" % err)
                        generator_errors.extend(errs)
                        per_target.update(counts)
                        accepted.update(acc)
                        peak_rss = max(peak_rss, rss)
                        w.batch = None
                elif not w.proc.is_alive():
                    replace(w, "died")
                elif w.batch is not None and w.cur.value >= 0 and now - w.cur_t.value > hard:
                    replace(w, "timeout")
            done = processed.value
            if now - last_report >= opts.get("report_every", 30):
                last_report = now
                el = now - t0
                log("fuzz: %d inputs in %.0f s (%.0f/s), %d findings" % (done, el, done / el if el else 0,
                                                                         len(findings)))
    except KeyboardInterrupt:
        stop = True
        log("fuzz: interrupted")
    finally:
        for w in workers:
            try:
                w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for w in workers:
            w.proc.join(10)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
        if own_tmp:
            shutil.rmtree(opts["tmp"], ignore_errors=True)
    elapsed = time.monotonic() - t0
    done = processed.value
    children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    summary = {
        "inputs": done, "seconds": round(elapsed, 1), "inputs_per_second": round(done / elapsed, 1) if elapsed else 0,
        "generator_errors": generator_errors,
        "per_target": dict(per_target), "accepted": dict(accepted), "seed": opts["seed"], "workers": opts["workers"],
        "peak_rss_mb_worker": round(max(peak_rss, children_rss), 1), "peak_rss_mb_parent": round(_peak_rss_mb(), 1),
        "findings": list(findings.values()),
        "failing": [f for f in findings.values() if not f.get("advisory")],
    }
    return summary


def take_batch_peek(pending, stop, end_index, next_index, limit_seconds, t0):
    """True when no more work will be handed out."""
    if pending:
        return False
    if stop:
        return True
    if end_index is not None and next_index >= end_index:
        return True
    if limit_seconds and time.monotonic() - t0 >= limit_seconds:
        return True
    return False


# ---------------------------------------------------------------- CLI

def main(argv=None):
    p = argparse.ArgumentParser(description="Mutation fuzzer for the ebpf.deploy parsers.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--inputs", type=int, help="number of inputs to run")
    g.add_argument("--seconds", type=float, help="run for this long")
    p.add_argument("--seed", type=int, default=1, help="master seed (input i is a function of seed and i)")
    p.add_argument("--start", type=int, default=0, help="first input index (to resume or shard)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of %s" % ",".join(TARGETS))
    p.add_argument("--time-limit", type=float, default=2.0, help="seconds per input (SIGALRM)")
    p.add_argument("--mem-limit-mb", type=int, default=512, help="address space a worker may add (RLIMIT_AS)")
    p.add_argument("--min-budget", type=float, default=20.0, help="seconds to minimise each new finding")
    p.add_argument("--out", default=REGRESSIONS, help="where reproducers go ('' for nowhere)")
    p.add_argument("--extra-btf", action="append", default=[], help="another BTF seed for the btf target "
                   "(e.g. /sys/kernel/btf/vmlinux)")
    p.add_argument("--extra-object", action="append", default=[], help="another ELF object seed")
    p.add_argument("--summary", help="write the summary as JSON here")
    p.add_argument("--replay", nargs="+", metavar="JSON", help="run saved reproducers and report")
    p.add_argument("--case", type=int, help="build input INDEX of --seed and write its files to --out")
    a = p.parse_args(argv)
    if a.replay:
        bad = 0
        for path in a.replay:
            f = replay(path, a.time_limit)
            if f is None:
                print("%s: fixed (no finding)" % path)
            else:
                bad += 1
                print("%s: %s [%s]: %s\n%s" % (path, f.kind, f.key, f.message, f.tb))
        return 1 if bad else 0
    targets = tuple(t.strip() for t in a.targets.split(",") if t.strip())
    for t in targets:
        if t not in TARGETS:
            p.error("unknown target %s" % t)
    if a.inputs is None and a.seconds is None:
        a.inputs = 10000
    opts = {
        "inputs": a.inputs, "seconds": a.seconds, "seed": a.seed, "start": a.start, "workers": max(1, a.workers),
        "targets": targets, "time_limit": a.time_limit, "mem_mb": a.mem_limit_mb, "min_budget": a.min_budget,
        "out": a.out, "extra_btf": a.extra_btf, "extra_objects": a.extra_object,
    }
    if a.case is not None:
        mods()
        seeds = Seeds(find_objects(a.extra_object), a.extra_btf)
        case = Generator(seeds, a.seed, targets).case(a.case)
        workdir = tempfile.mkdtemp(prefix="ebpf-fuzz-case-")
        try:
            f = run_case(case, Env(workdir), a.time_limit)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("input #%d: target %s seed %s ops %s: %s" % (
            a.case, case.target, case.seed_name, [o[0] for o in case.recipe.ops],
            "no finding" if f is None else f.key))
        if a.out:
            print(save_reproducer(a.out, case, f or Finding("none", "none", "", ""), a.case, a.seed))
        return 0
    summary = fuzz(opts)
    print("fuzz: %d inputs in %.1f s (%.1f inputs/s), per target %s, accepted (parsed; core: relocated; cache: hit) %s; "
          "peak RSS %.1f MiB (worker), %.1f MiB (parent)"
          % (summary["inputs"], summary["seconds"], summary["inputs_per_second"], summary["per_target"],
             summary["accepted"],
             summary["peak_rss_mb_worker"], summary["peak_rss_mb_parent"]))
    if not summary["findings"]:
        print("fuzz: no findings")
    for f in summary["findings"]:
        print("fuzz: %s%s [%s] x%d, first input #%d: %s%s" % (
            "(advisory) " if f.get("advisory") else "", f["kind"], f["key"], f["count"], f["index"],
            f["message"][:300], ("\n      reproducer: %s" % os.path.relpath(f["path"], REPO)) if f.get("path") else ""))
    if a.summary:
        with open(a.summary, "w") as fh:
            json.dump(summary, fh, indent=1, default=str)
    return 1 if summary["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
