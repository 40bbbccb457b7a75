# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""eBPF instructions as the loader needs them: read and patch in place.

Instructions live in one ``bytearray`` per program; these helpers read and
write single fields at an instruction index, so relocation never builds a
Python object per instruction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import sys

INSN_SIZE = 8
BPF_INSN = struct.Struct("=BBhi")

BPF_LD = 0x00
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_IMM = 0x00
BPF_DW = 0x18
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_K = 0x00

LD_IMM64 = BPF_LD | BPF_IMM | BPF_DW  # 0x18, two instruction slots
CALL = BPF_JMP | BPF_CALL | BPF_K  # 0x85

BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

# The register byte packs dst and src nibbles in host bit-field order.
_LITTLE = sys.byteorder == "little"


def unpack(buf, idx):
    """(code, dst, src, off, imm) of instruction ``idx``."""
    code, regs, off, imm = BPF_INSN.unpack_from(buf, idx * INSN_SIZE)
    if _LITTLE:
        return code, regs & 0xf, regs >> 4, off, imm
    return code, regs >> 4, regs & 0xf, off, imm


def set_imm(buf, idx, imm):
    struct.pack_into("=i", buf, idx * INSN_SIZE + 4, imm)


def set_src(buf, idx, src):
    pos = idx * INSN_SIZE + 1
    regs = buf[pos]
    if _LITTLE:
        buf[pos] = (regs & 0x0f) | (src << 4)
    else:
        buf[pos] = (regs & 0xf0) | src


def is_pseudo_call(code, src):
    return code == CALL and src == BPF_PSEUDO_CALL


def set_ld_imm64(buf, idx, src, lo, hi=0):
    """Point a ld_imm64 pair at an object: src is BPF_PSEUDO_MAP_FD or
    BPF_PSEUDO_MAP_VALUE, lo the fd, hi the value offset."""
    set_src(buf, idx, src)
    set_imm(buf, idx, lo)
    set_imm(buf, idx + 1, hi)


# libbpf's poison: a call of this (nonexistent) helper id
POISON_HELPER = 0xbad2310


def poison(buf, idx):
    """Turn an instruction into a call of helper POISON_HELPER, as libbpf
    does, so the verifier rejects it only if reached."""
    BPF_INSN.pack_into(buf, idx * INSN_SIZE, CALL, 0, 0, POISON_HELPER)
