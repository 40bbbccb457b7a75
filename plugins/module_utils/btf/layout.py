# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire layouts of BTF and .BTF.ext (include/uapi/linux/btf.h, bpf.h).

Constants mirror the kernel's names. Every record layout is a
``struct.Struct`` compiled once per byte order; pick the set with
``LAYOUTS[byte_order]`` where the byte order comes from ``byte_order_of()``
applied to the magic. Nothing here reads data by itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
BTF_EXT_VERSION = 1

# Kind numbers, with the kernel release that introduced each.
BTF_KIND_VOID = 0         # 4.18 (implicit id 0, never encoded)
BTF_KIND_INT = 1          # 4.18
BTF_KIND_PTR = 2          # 4.18
BTF_KIND_ARRAY = 3        # 4.18
BTF_KIND_STRUCT = 4       # 4.18
BTF_KIND_UNION = 5        # 4.18
BTF_KIND_ENUM = 6         # 4.18
BTF_KIND_FWD = 7          # 4.18
BTF_KIND_TYPEDEF = 8      # 4.18
BTF_KIND_VOLATILE = 9     # 4.18
BTF_KIND_CONST = 10       # 4.18
BTF_KIND_RESTRICT = 11    # 4.18
BTF_KIND_FUNC = 12        # 5.0
BTF_KIND_FUNC_PROTO = 13  # 5.0
BTF_KIND_VAR = 14         # 5.2
BTF_KIND_DATASEC = 15     # 5.2
BTF_KIND_FLOAT = 16       # 5.13
BTF_KIND_DECL_TAG = 17    # 5.16
BTF_KIND_TYPE_TAG = 18    # 5.17
BTF_KIND_ENUM64 = 19      # 6.0
BTF_KIND_MAX = BTF_KIND_ENUM64
# The widest kind number the info word can hold (7 bits since the 2026
# UAPI, which also widened vlen to 24 bits); kinds above BTF_KIND_MAX are
# ones this reader does not know, sized from the blob's layout section.
BTF_MAX_KIND = 0x7f
BTF_MAX_VLEN = 0xffffff

KIND_NAMES = {
    BTF_KIND_VOID: "VOID",
    BTF_KIND_INT: "INT",
    BTF_KIND_PTR: "PTR",
    BTF_KIND_ARRAY: "ARRAY",
    BTF_KIND_STRUCT: "STRUCT",
    BTF_KIND_UNION: "UNION",
    BTF_KIND_ENUM: "ENUM",
    BTF_KIND_FWD: "FWD",
    BTF_KIND_TYPEDEF: "TYPEDEF",
    BTF_KIND_VOLATILE: "VOLATILE",
    BTF_KIND_CONST: "CONST",
    BTF_KIND_RESTRICT: "RESTRICT",
    BTF_KIND_FUNC: "FUNC",
    BTF_KIND_FUNC_PROTO: "FUNC_PROTO",
    BTF_KIND_VAR: "VAR",
    BTF_KIND_DATASEC: "DATASEC",
    BTF_KIND_FLOAT: "FLOAT",
    BTF_KIND_DECL_TAG: "DECL_TAG",
    BTF_KIND_TYPE_TAG: "TYPE_TAG",
    BTF_KIND_ENUM64: "ENUM64",
}


def kind_name(kind):
    """Kernel name of a kind number, ``KIND#<n>`` if unknown."""
    return KIND_NAMES.get(kind, "KIND#%d" % kind)


# Kinds that only qualify or rename another type; resolve() skips them.
MODIFIER_KINDS = frozenset((
    BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT,
    BTF_KIND_TYPE_TAG))

# btf_type.info bits: vlen 0-23, kind 24-30, kind_flag 31. Older kernels
# used only vlen 0-15 and kind 24-28 and required the rest to be zero, so
# the wider masks read their BTF the same.
BTF_INFO_VLEN_MASK = BTF_MAX_VLEN
BTF_INFO_KIND_SHIFT = 24
BTF_INFO_KIND_MASK = BTF_MAX_KIND
BTF_INFO_KFLAG_SHIFT = 31


def info_vlen(info):
    return info & BTF_INFO_VLEN_MASK


def info_kind(info):
    return (info >> BTF_INFO_KIND_SHIFT) & BTF_INFO_KIND_MASK


def info_kflag(info):
    return info >> BTF_INFO_KFLAG_SHIFT


def make_info(kind, vlen=0, kflag=0):
    """Inverse of the three accessors, for writers of BTF."""
    return ((kflag & 1) << BTF_INFO_KFLAG_SHIFT) | \
        ((kind & BTF_INFO_KIND_MASK) << BTF_INFO_KIND_SHIFT) | \
        (vlen & BTF_INFO_VLEN_MASK)


# The u32 after an INT's btf_type.
BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2


def int_encoding(word):
    return (word >> 24) & 0x0f


def int_offset(word):
    return (word >> 16) & 0xff


def int_bits(word):
    return word & 0xff


# Member offset when the struct/union has kind_flag set (bitfields).
def member_bitfield_size(offset):
    return offset >> 24


def member_bit_offset(offset):
    return offset & 0xffffff


# btf_var.linkage
BTF_VAR_STATIC = 0
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2

# FUNC linkage, kept in the vlen bits of a FUNC's info.
BTF_FUNC_STATIC = 0
BTF_FUNC_GLOBAL = 1
BTF_FUNC_EXTERN = 2

# bpf_line_info.line_col packs the line above a 10-bit column.
BPF_LINE_INFO_LINE_SHIFT = 10
BPF_LINE_INFO_COL_MASK = 0x3ff


def line_info_line(line_col):
    return line_col >> BPF_LINE_INFO_LINE_SHIFT


def line_info_col(line_col):
    return line_col & BPF_LINE_INFO_COL_MASK


# Minimum record sizes a .BTF.ext block may declare (newer compilers may
# append fields; readers take the prefix they know).
BPF_FUNC_INFO_MIN_SIZE = 8
BPF_LINE_INFO_MIN_SIZE = 16
BPF_CORE_RELO_MIN_SIZE = 16

# The kernel's own limit on a func_info/line_info record size.
MAX_INFO_REC_SIZE = 252


class Layout:
    """The compiled record layouts for one byte order ('<' or '>')."""

    __slots__ = (
        "byte_order", "U16", "U32", "S32",
        "BTF_HEADER", "BTF_HEADER_LAYOUT", "BTF_LAYOUT", "BTF_TYPE", "BTF_TYPE_NAME_INFO", "BTF_TYPE_INFO",
        "BTF_INT", "BTF_ARRAY", "BTF_MEMBER", "BTF_PARAM", "BTF_ENUM",
        "BTF_ENUM_SIGNED", "BTF_ENUM64", "BTF_VAR", "BTF_VAR_SECINFO",
        "BTF_DECL_TAG", "BTF_EXT_HEADER", "BTF_EXT_HEADER_CORE",
        "BTF_EXT_INFO_SEC", "BPF_FUNC_INFO", "BPF_LINE_INFO",
        "BPF_CORE_RELO",
    )

    def __init__(self, byte_order):
        def s(fmt):
            return struct.Struct(byte_order + fmt)

        self.byte_order = byte_order
        self.U16 = s("H")
        self.U32 = s("I")
        self.S32 = s("i")
        # magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
        self.BTF_HEADER = s("HBBIIIII")
        # layout_off, layout_len: after str_len when hdr_len >= 32 (2026)
        self.BTF_HEADER_LAYOUT = s("II")
        # struct btf_layout: info_sz, elem_sz, flags (one per kind)
        self.BTF_LAYOUT = s("BBH")
        # name_off, info, size_or_type
        self.BTF_TYPE = s("III")
        # The first pass needs only these; unpacking fewer fields is faster.
        self.BTF_TYPE_NAME_INFO = s("II")
        self.BTF_TYPE_INFO = s("4xI")
        # The u32 after an INT.
        self.BTF_INT = s("I")
        # type, index_type, nelems
        self.BTF_ARRAY = s("III")
        # name_off, type, offset
        self.BTF_MEMBER = s("III")
        # name_off, type
        self.BTF_PARAM = s("II")
        # name_off, val (read unsigned or signed per kind_flag)
        self.BTF_ENUM = s("II")
        self.BTF_ENUM_SIGNED = s("Ii")
        # name_off, val_lo32, val_hi32
        self.BTF_ENUM64 = s("III")
        # linkage
        self.BTF_VAR = s("I")
        # type, offset, size
        self.BTF_VAR_SECINFO = s("III")
        # component_idx (-1 means the type itself)
        self.BTF_DECL_TAG = s("i")
        # magic, version, flags, hdr_len, func_info_off, func_info_len,
        # line_info_off, line_info_len
        self.BTF_EXT_HEADER = s("HBBIIIII")
        # core_relo_off, core_relo_len: present when hdr_len >= 32
        self.BTF_EXT_HEADER_CORE = s("II")
        # sec_name_off, num_info
        self.BTF_EXT_INFO_SEC = s("II")
        # insn_off, type_id
        self.BPF_FUNC_INFO = s("II")
        # insn_off, file_name_off, line_off, line_col
        self.BPF_LINE_INFO = s("IIII")
        # insn_off, type_id, access_str_off, kind
        self.BPF_CORE_RELO = s("IIII")


LAYOUTS = {"<": Layout("<"), ">": Layout(">")}

BTF_HEADER_SIZE = LAYOUTS["<"].BTF_HEADER.size        # 24
BTF_HEADER_LAYOUT_SIZE = BTF_HEADER_SIZE + 8          # 32, with layout_off/len
BTF_LAYOUT_SIZE = LAYOUTS["<"].BTF_LAYOUT.size        # 4
BTF_TYPE_SIZE = LAYOUTS["<"].BTF_TYPE.size            # 12
BTF_EXT_HEADER_SIZE = LAYOUTS["<"].BTF_EXT_HEADER.size  # 24
BTF_EXT_HEADER_CORE_SIZE = BTF_EXT_HEADER_SIZE + 8     # 32


def byte_order_of(data, offset=0):
    """'<' or '>' for the byte order the BTF magic at ``offset`` is written
    in, None when the two bytes are not the magic. Raises nothing; the caller
    checks the length first."""
    b0 = data[offset]
    b1 = data[offset + 1]
    if b0 == 0x9F and b1 == 0xEB:
        return "<"
    if b0 == 0xEB and b1 == 0x9F:
        return ">"
    return None


def byte_view(data, what):
    """A flat memoryview of bytes over ``data`` (bytes, bytearray, mmap or
    any contiguous buffer; not copied), the form the layouts here unpack
    from. ``what`` names the data in errors (``BTF 'vmlinux'``). Raises
    BTFError when ``data`` is not a contiguous buffer."""
    try:
        mv = memoryview(data)
    except TypeError as exc:
        raise BTFError("%s: data is not a buffer: %s" % (what, type(data).__name__)) from exc
    if mv.ndim != 1 or mv.itemsize != 1:
        try:
            mv = mv.cast("B")
        except TypeError as exc:
            raise BTFError("%s: data is not a contiguous byte buffer" % what) from exc
    return mv


def unpack_header(mv, header, version, what):
    """(layout, fields) of the header at the start of ``mv`` (a
    ``byte_view``): the Layout of the blob's byte order and the header. BTF and .BTF.ext headers both begin with magic,
    version, flags and hdr_len: ``header`` names the layout
    ('BTF_HEADER' or 'BTF_EXT_HEADER'), ``version`` the one supported;
    ``fields`` is the whole header, unpacked. Raises BTFError naming
    ``what`` when the data is shorter than the header, the magic, version
    or flags are wrong, or hdr_len is shorter than the header or beyond the
    data."""
    size = len(mv)
    header_size = getattr(LAYOUTS["<"], header).size
    if size < header_size:
        raise BTFError("%s: header truncated: got %d bytes, want at least %d" % (what, size, header_size))
    order = byte_order_of(mv)
    if order is None:
        raise BTFError("%s: bad magic 0x%02x%02x: want 0x%04x in either byte order" % (what, mv[0], mv[1], BTF_MAGIC))
    layout = LAYOUTS[order]
    fields = getattr(layout, header).unpack_from(mv, 0)
    _magic, got_version, flags, hdr_len = fields[:4]
    if got_version != version:
        raise BTFError("%s: unsupported version %d: want %d" % (what, got_version, version))
    if flags != 0:
        raise BTFError("%s: unsupported header flags 0x%x: want 0" % (what, flags))
    if hdr_len < header_size:
        raise BTFError("%s: hdr_len %d shorter than the %d-byte header" % (what, hdr_len, header_size))
    if hdr_len > size:
        raise BTFError("%s: hdr_len %d beyond data of %d bytes" % (what, hdr_len, size))
    return layout, fields


def _kind_tables():
    # Size of a record after its btf_type: a fixed part plus vlen entries.
    # Unknown kinds get a size no section can hold, so the first pass needs
    # no per-record branch: such a record runs past the end and the slow
    # diagnosis path names the kind.
    impossible = 1 << 40
    fixed = [impossible] * (BTF_MAX_KIND + 1)
    per_vlen = [0] * (BTF_MAX_KIND + 1)
    for kind in range(1, BTF_KIND_MAX + 1):
        fixed[kind] = 0
    fixed[BTF_KIND_INT] = 4
    fixed[BTF_KIND_ARRAY] = 12
    fixed[BTF_KIND_VAR] = 4
    fixed[BTF_KIND_DECL_TAG] = 4
    per_vlen[BTF_KIND_STRUCT] = 12
    per_vlen[BTF_KIND_UNION] = 12
    per_vlen[BTF_KIND_ENUM] = 8
    per_vlen[BTF_KIND_FUNC_PROTO] = 8
    per_vlen[BTF_KIND_DATASEC] = 12
    per_vlen[BTF_KIND_ENUM64] = 12
    return tuple(fixed), tuple(per_vlen)


KIND_FIXED_SIZE, KIND_VLEN_SIZE = _kind_tables()


def kind_tables_with_layout(layout_records):
    """(fixed, per_vlen) like KIND_FIXED_SIZE/KIND_VLEN_SIZE, with each
    kind this reader does not know sized from ``layout_records`` (the
    blob's layout section: (info_sz, elem_sz, flags) per kind number).
    Known kinds keep our own sizes, as libbpf does. A layout record whose
    sizes are not multiples of 4 leaves its kind unsized, so such a record
    is refused by the first pass (libbpf refuses it too)."""
    fixed = list(KIND_FIXED_SIZE)
    per_vlen = list(KIND_VLEN_SIZE)
    for kind, (info_sz, elem_sz, _flags) in enumerate(layout_records):
        if kind > BTF_MAX_KIND or kind_is_known(kind) or kind == BTF_KIND_VOID:
            continue
        if info_sz % 4 or elem_sz % 4:
            continue
        fixed[kind] = info_sz
        per_vlen[kind] = elem_sz
    return tuple(fixed), tuple(per_vlen)


def kind_is_known(kind):
    return 1 <= kind <= BTF_KIND_MAX


def record_size(kind, vlen):
    """Bytes a type record of this kind and vlen occupies, btf_type included.
    Only meaningful for known kinds."""
    return BTF_TYPE_SIZE + KIND_FIXED_SIZE[kind] + vlen * KIND_VLEN_SIZE[kind]
