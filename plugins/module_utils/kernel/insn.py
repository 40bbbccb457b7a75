# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""eBPF instructions as the loader needs them: read and patch in place.

Instructions live in one ``bytearray`` per program; these helpers read and
write single fields at an instruction index, so relocation never builds a
Python object per instruction. The opcode numbers are uapi.py's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi

BPF_INSN = struct.Struct("=BBhi")
_INSN = uapi.BPF_INSN_SIZE

LD_IMM64 = uapi.BPF_LD | uapi.BPF_IMM | uapi.BPF_DW  # 0x18, two instruction slots
CALL = uapi.BPF_JMP | uapi.BPF_CALL | uapi.BPF_K  # 0x85

# The register byte packs dst and src nibbles in host bit-field order.
_LITTLE = sys.byteorder == "little"


def unpack(buf, idx):
    """(code, dst, src, off, imm) of instruction ``idx``."""
    code, regs, off, imm = BPF_INSN.unpack_from(buf, idx * _INSN)
    if _LITTLE:
        return code, regs & 0xf, regs >> 4, off, imm
    return code, regs >> 4, regs & 0xf, off, imm


def encode(code, dst=0, src=0, off=0, imm=0):
    """The 8 bytes of one instruction."""
    regs = dst | src << 4 if _LITTLE else dst << 4 | src
    return BPF_INSN.pack(code, regs, off, imm)


def set_code(buf, idx, code):
    buf[idx * _INSN] = code


def set_off(buf, idx, off):
    struct.pack_into("=h", buf, idx * _INSN + 2, off)


def set_imm(buf, idx, imm):
    struct.pack_into("=i", buf, idx * _INSN + 4, imm)


def set_imm_bits(buf, idx, value):
    """Set imm to the low 32 bits of ``value`` (CO-RE results are unsigned)."""
    struct.pack_into("=I", buf, idx * _INSN + 4, value & 0xffffffff)


def set_src(buf, idx, src):
    pos = idx * _INSN + 1
    regs = buf[pos]
    if _LITTLE:
        buf[pos] = (regs & 0x0f) | (src << 4)
    else:
        buf[pos] = (regs & 0xf0) | src


def set_ld_imm64(buf, idx, src, lo, hi=0):
    """Point a ld_imm64 pair at an object: src is BPF_PSEUDO_MAP_FD or
    BPF_PSEUDO_MAP_VALUE, lo the fd, hi the value offset."""
    set_src(buf, idx, src)
    set_imm(buf, idx, lo)
    set_imm(buf, idx + 1, hi)


# libbpf's poison: a call of this (nonexistent) helper id
POISON_HELPER = 0xbad2310
# libbpf's POISON_CALL_KFUNC_BASE: a call of a missing weak kfunc becomes a
# call of helper POISON_KFUNC + the extern's index (verifier: 'unknown#<id>').
POISON_KFUNC = 2002000000


def poison(buf, idx):
    """Turn an instruction into a call of helper POISON_HELPER, as libbpf
    does, so the verifier rejects it only if reached."""
    BPF_INSN.pack_into(buf, idx * _INSN, CALL, 0, 0, POISON_HELPER)
