# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The .BTF.ext section of an eBPF object: func_info, line_info, CO-RE relos.

Each of the three blocks is a u32 record size followed by, per ELF section,
``sec_name_off`` (into the object's .BTF strings), ``num_info`` and that
many records. Records are read here as tuples of their known fields with
``insn_off`` still in BYTES from the start of the ELF section, as the
compiler wrote them; ``pack_func_info``/``pack_line_info`` turn records of
one program into the arrays BPF_PROG_LOAD takes (insn_off in instructions
from the program's first instruction).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BPF_CORE_RELO_MIN_SIZE, BPF_FUNC_INFO_MIN_SIZE, BPF_LINE_INFO_MIN_SIZE,
    BTF_EXT_HEADER_CORE_SIZE, BTF_EXT_HEADER_SIZE, BTF_EXT_VERSION,
    LAYOUTS, MAX_INFO_REC_SIZE, byte_view, unpack_header,
)
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.uapi import BPF_INSN_SIZE


class BTFExt:
    """Parsed .BTF.ext of one object.

    Attributes (all keyed by ELF section name):
      ``func_info``: name -> (rec_size, [(insn_off_bytes, type_id), ...])
      ``line_info``: name -> (rec_size, [(insn_off_bytes, file_name_off,
      line_off, line_col), ...])
      ``core_relos``: name -> [(insn_off_bytes, type_id, access_str_off,
      kind), ...]; ``core_relo_rec_size`` is the block's record size (0
      when absent).
    Read-only after construction.
    """

    def __init__(self, data, strings, name="<object>"):
        """Parse all of ``data``. ``strings`` is the object's .BTF
        StringTable (section names are offsets into it). Raises BTFError on
        any malformed header, block or record. Cost: one pass, every
        record unpacked (there are few)."""
        self.name = name
        self._strings = strings
        self._mv = byte_view(data, "BTF.ext '%s'" % name)
        self.func_info = {}
        self.line_info = {}
        self.core_relos = {}
        self.core_relo_rec_size = 0
        self._parse()

    @classmethod
    def from_bytes(cls, data, strings, name="<object>"):
        """See ``__init__``."""
        return cls(data, strings, name=name)

    def _fail(self, reason, cause=None):
        raise BTFError("BTF.ext '%s': %s" % (self.name, reason)) from cause

    def _parse(self):
        mv = self._mv
        layout, header = unpack_header(mv, "BTF_EXT_HEADER", BTF_EXT_VERSION, "BTF.ext '%s'" % self.name)
        self.byte_order = layout.byte_order
        (_magic, _version, _flags, hdr_len, func_off, func_len, line_off, line_len) = header
        size = len(mv)
        core_off = core_len = 0
        if hdr_len >= BTF_EXT_HEADER_CORE_SIZE:
            core_off, core_len = layout.BTF_EXT_HEADER_CORE.unpack_from(
                mv, BTF_EXT_HEADER_SIZE)
        blocks = (
            ("func_info", func_off, func_len, BPF_FUNC_INFO_MIN_SIZE,
             layout.BPF_FUNC_INFO),
            ("line_info", line_off, line_len, BPF_LINE_INFO_MIN_SIZE,
             layout.BPF_LINE_INFO),
            ("core_relo", core_off, core_len, BPF_CORE_RELO_MIN_SIZE,
             layout.BPF_CORE_RELO),
        )
        for what, off, length, min_size, rec in blocks:
            if not length:
                continue
            start = hdr_len + off
            if start + length > size:
                self._fail("%s block [%d, %d) beyond data of %d bytes"
                           % (what, start, start + length, size))
            rec_size, sections = self._parse_block(layout, what, start, length, min_size, rec)
            if what == "func_info":
                self.func_info = dict((k, (rec_size, v)) for k, v in sections.items())
            elif what == "line_info":
                self.line_info = dict((k, (rec_size, v)) for k, v in sections.items())
            else:
                self.core_relo_rec_size = rec_size
                self.core_relos = sections

    def _parse_block(self, layout, what, start, length, min_size, rec):
        mv = self._mv
        end = start + length
        if length < 4:
            self._fail("%s block of %d bytes has no record size" % (what, length))
        rec_size = layout.U32.unpack_from(mv, start)[0]
        if rec_size < min_size:
            self._fail("%s record size %d too small: want at least %d"
                       % (what, rec_size, min_size))
        if rec_size & 3:
            self._fail("%s record size %d not a multiple of 4" % (what, rec_size))
        sections = {}
        pos = start + 4
        index = 0
        while pos < end:
            if pos + 8 > end:
                self._fail("%s section #%d: header truncated: needs 8 bytes, block has %d left"
                           % (what, index, end - pos))
            name_off, num_info = layout.BTF_EXT_INFO_SEC.unpack_from(mv, pos)
            try:
                sec_name = self._strings.get(name_off)
            except BTFError as exc:
                self._fail("%s section #%d: name: %s"
                           % (what, index, exc.details.get("reason", exc.message)), exc)
            if num_info == 0:
                self._fail("%s section '%s': no records" % (what, sec_name))
            pos += 8
            need = num_info * rec_size
            if pos + need > end:
                self._fail("%s section '%s': %d records of %d bytes need %d bytes, "
                           "block has %d left"
                           % (what, sec_name, num_info, rec_size, need, end - pos))
            if sec_name in sections:
                self._fail("%s section '%s': listed twice" % (what, sec_name))
            unpack = rec.unpack_from
            try:
                sections[sec_name] = [unpack(mv, p) for p in range(pos, pos + need, rec_size)]
            except struct.error as exc:  # bounds were checked; kept as a guard
                self._fail("%s section '%s': %s" % (what, sec_name, exc), exc)
            pos += need
            index += 1
        return rec_size, sections


def _pack(records, rec_size, insn_base, min_size, layout, what):
    if rec_size < min_size or rec_size & 3 or rec_size > MAX_INFO_REC_SIZE:
        raise BTFError("%s: record size %d invalid: want a multiple of 4 in [%d, %d]"
                       % (what, rec_size, min_size, MAX_INFO_REC_SIZE))
    out = bytearray(rec_size * len(records))
    pack_into = layout.pack_into
    pos = 0
    for i, record in enumerate(records):
        delta = record[0] - insn_base
        if delta < 0 or delta % BPF_INSN_SIZE:
            raise BTFError("%s #%d: insn_off %d bytes is not an instruction at or after "
                           "the program start (%d bytes)" % (what, i, record[0], insn_base))
        try:
            pack_into(out, pos, delta // BPF_INSN_SIZE, *record[1:])
        except struct.error as exc:
            raise BTFError("%s #%d: cannot encode %r: %s" % (what, i, tuple(record), exc)) from exc
        pos += rec_size
    return bytes(out)


def pack_func_info(records, rec_size=BPF_FUNC_INFO_MIN_SIZE, insn_base=0, byte_order="<"):
    """bpf_func_info array for BPF_PROG_LOAD from ``records`` of
    (insn_off_bytes, type_id): insn_off becomes ``(insn_off - insn_base) //
    8``, where ``insn_base`` is the byte offset of the program's first
    instruction. Bytes past the known fields of a ``rec_size`` record are
    zero (the kernel requires that). Order is kept: the kernel wants
    strictly increasing insn_off starting at 0. Raises BTFError on
    misaligned or negative offsets, values out of u32 range, or a bad
    rec_size."""
    return _pack(records, rec_size, insn_base, BPF_FUNC_INFO_MIN_SIZE,
                 LAYOUTS[byte_order].BPF_FUNC_INFO, "func_info")


def pack_line_info(records, rec_size=BPF_LINE_INFO_MIN_SIZE, insn_base=0, byte_order="<"):
    """bpf_line_info array for BPF_PROG_LOAD from ``records`` of
    (insn_off_bytes, file_name_off, line_off, line_col); as
    ``pack_func_info`` otherwise."""
    return _pack(records, rec_size, insn_base, BPF_LINE_INFO_MIN_SIZE,
                 LAYOUTS[byte_order].BPF_LINE_INFO, "line_info")
