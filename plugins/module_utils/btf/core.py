# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CO-RE: rewrite field offsets, sizes, existence checks, type ids and enum
values for the running kernel, with libbpf's rules (tools/lib/bpf/relo_core.c,
whose logic this ports: spec parsing, candidate matching, value
calculation, instruction patching and poisoning).

A relocation's local spec comes from the object's BTF (root type id plus
an access string such as "0:1:2"); candidates are kernel types whose
name, flavour suffix ``___x`` stripped, equals the local one. All matching
candidates must agree, else the relocation is ambiguous. A relocation
that no candidate satisfies poisons its instruction, so code guarded by
an existence check still loads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout as L
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.reader import essential_name
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import BTFError, RelocationError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import insn as bpf_insn, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record

# enum bpf_core_relo_kind, with libbpf's names for messages
FIELD_BYTE_OFFSET = 0
FIELD_BYTE_SIZE = 1
FIELD_EXISTS = 2
FIELD_SIGNED = 3
FIELD_LSHIFT_U64 = 4
FIELD_RSHIFT_U64 = 5
TYPE_ID_LOCAL = 6
TYPE_ID_TARGET = 7
TYPE_EXISTS = 8
TYPE_SIZE = 9
ENUMVAL_EXISTS = 10
ENUMVAL_VALUE = 11
TYPE_MATCHES = 12

KIND_NAMES = {
    FIELD_BYTE_OFFSET: "byte_off", FIELD_BYTE_SIZE: "byte_sz", FIELD_EXISTS: "field_exists",
    FIELD_SIGNED: "signed", FIELD_LSHIFT_U64: "lshift_u64", FIELD_RSHIFT_U64: "rshift_u64",
    TYPE_ID_LOCAL: "local_type_id", TYPE_ID_TARGET: "target_type_id", TYPE_EXISTS: "type_exists",
    TYPE_SIZE: "type_size", ENUMVAL_EXISTS: "enumval_exists", ENUMVAL_VALUE: "enumval_value",
    TYPE_MATCHES: "type_matches",
}

_FIELD_KINDS = frozenset((FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64,
                          FIELD_RSHIFT_U64))
_TYPE_KINDS = frozenset((TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES))
_ENUM_KINDS = frozenset((ENUMVAL_EXISTS, ENUMVAL_VALUE))

SPEC_MAX_LEN = 64
_MAX_DEPTH = 32
_U64 = (1 << 64) - 1
_S16_MAX = (1 << 15) - 1  # the widest offset a load or store encodes
_SIZE_CODES = dict((nbytes, code) for code, nbytes in uapi.BPF_SIZE_BYTES.items())

_COMPOSITE = (L.BTF_KIND_STRUCT, L.BTF_KIND_UNION)
_ENUMS = (L.BTF_KIND_ENUM, L.BTF_KIND_ENUM64)


class _Invalid(Exception):
    """A relocation record or type graph libbpf would refuse (-EINVAL)."""


# What types_are_compat() raises for a type graph too deep to compare.
TypeGraphError = _Invalid


class _Poison(Exception):
    """The relocation cannot be satisfied: poison the instruction."""


def _kind_compat(a, b):
    return a == b or (a in _ENUMS and b in _ENUMS)


class _Accessor(Record):
    __slots__ = ("type_id", "idx", "name")


class _Spec:
    """High-level accessors (named members, array indices), the raw
    access path, and the bit offset they add up to, in one BTF."""

    __slots__ = ("btf", "root_type_id", "kind", "raw", "accessors", "bit_offset")

    def __init__(self, btf, root_type_id, kind):
        self.btf = btf
        self.root_type_id = root_type_id
        self.kind = kind
        self.raw = []
        self.accessors = []
        self.bit_offset = 0

    def copy(self):
        s = _Spec(self.btf, self.root_type_id, self.kind)
        s.raw = list(self.raw)
        s.accessors = [_Accessor(a.type_id, a.idx, a.name) for a in self.accessors]
        s.bit_offset = self.bit_offset
        return s

    def describe(self):
        btf = self.btf
        name = btf.name_of(self.root_type_id) or "<anon>"
        text = "[%d] %s %s + %s" % (self.root_type_id, L.KIND_NAMES.get(btf.kind_of(self.root_type_id), "?"),
                                    name, ":".join(str(i) for i in self.raw))
        if self.kind in _FIELD_KINDS:
            path = "".join(("." + a.name) if a.name else "[%d]" % a.idx for a in self.accessors[1:])
            text += " => %d.%d @ &x[%d]%s" % (self.bit_offset // 8, self.bit_offset % 8,
                                              self.accessors[0].idx if self.accessors else 0, path)
        return text


def _skip(btf, type_id):
    """(type, id) after modifiers and typedefs."""
    rid = btf.resolve(type_id)
    return btf.type_by_id(rid), rid


def _size(btf, type_id):
    try:
        return btf.sizeof(type_id)
    except BTFError as e:
        raise _Invalid(str(e)) from e


def _is_flex_array(btf, acc, arr):
    # A zero-length array that is a struct's last member (not an array
    # of the root) may be indexed past its declared bound.
    if acc is None or not acc.name or arr.nelems > 0:
        return False
    return acc.idx == len(btf.type_by_id(acc.type_id).members) - 1


def parse_local_spec(btf, type_id, access, kind):
    """The local spec of one relocation (libbpf's bpf_core_parse_spec)."""
    spec = _Spec(btf, type_id, kind)
    if not access or access.startswith(":"):
        raise _Invalid("empty access string")
    if kind in _TYPE_KINDS:
        if access != "0":
            raise _Invalid("type relocation with access string '%s', want '0'" % access)
        return spec
    for part in access.split(":"):
        if part == "":
            continue
        try:
            idx = int(part)
        except ValueError as e:
            raise _Invalid("access string '%s' is not colon-separated numbers" % access) from e
        if idx < 0:
            raise _Invalid("negative index in access string '%s'" % access)
        if len(spec.raw) == SPEC_MAX_LEN:
            raise _Invalid("access string '%s' too deep" % access)
        spec.raw.append(idx)
    if not spec.raw:
        raise _Invalid("empty access string")
    t, rid = _skip(btf, type_id)
    first = spec.raw[0]
    acc = _Accessor(rid, first, None)
    spec.accessors.append(acc)
    if kind in _ENUM_KINDS:
        if t.kind not in _ENUMS or len(spec.raw) > 1 or first >= len(t.values):
            raise _Invalid("enum relocation needs an enum and one enumerator index")
        acc.name = t.values[first].name
        return spec
    if kind not in _FIELD_KINDS:
        raise _Invalid("unknown relocation kind %d" % kind)
    spec.bit_offset = first * _size(btf, rid) * 8
    cur = rid
    for idx in spec.raw[1:]:
        t, cur = _skip(btf, cur)
        if t.kind in _COMPOSITE:
            if idx >= len(t.members):
                raise _Invalid("member index %d out of range for %s" % (idx, t.name or "<anon>"))
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(_Accessor(cur, idx, m.name))
            cur = m.type
        elif t.kind == L.BTF_KIND_ARRAY:
            prev = spec.accessors[-1]
            elem_t, elem_id = _skip(btf, t.elem_type)
            if not _is_flex_array(btf, prev, t) and idx >= t.nelems:
                raise _Invalid("array index %d out of range (%d elements)" % (idx, t.nelems))
            spec.accessors.append(_Accessor(elem_id, idx, None))
            spec.bit_offset += idx * _size(btf, elem_id) * 8
            cur = elem_id
        else:
            raise _Invalid("access path '%s' reaches a %s" % (access, L.KIND_NAMES.get(t.kind, t.kind)))
    return spec


def _fields_compat(lbtf, lid, tbtf, tid):
    for _hop in range(_MAX_DEPTH):
        lt, lid = _skip(lbtf, lid)
        tt, tid = _skip(tbtf, tid)
        if lt.kind in _COMPOSITE and tt.kind in _COMPOSITE:
            return True
        if not _kind_compat(lt.kind, tt.kind):
            return False
        if lt.kind in (L.BTF_KIND_PTR, L.BTF_KIND_FLOAT):
            return True
        if lt.kind in _ENUMS or lt.kind == L.BTF_KIND_FWD:
            ln, tn = essential_name(lt.name), essential_name(tt.name)
            return not ln or not tn or ln == tn
        if lt.kind == L.BTF_KIND_INT:
            return lt.offset == 0 and tt.offset == 0
        if lt.kind == L.BTF_KIND_ARRAY:
            lid, tid = lt.elem_type, tt.elem_type
            continue
        return False
    raise _Invalid("type chain too deep")


def _match_member(lbtf, lacc, tbtf, tid, spec):
    """libbpf's bpf_core_match_member: (found, next target id)."""
    tt, tid = _skip(tbtf, tid)
    if tt.kind not in _COMPOSITE:
        return False, None
    lmember = lbtf.type_by_id(lacc.type_id).members[lacc.idx]
    for i, m in enumerate(tt.members):
        if len(spec.raw) == SPEC_MAX_LEN:
            raise _Invalid("target access path too deep")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found, nxt = _match_member(lbtf, lacc, tbtf, m.type, spec)
            if found:
                return found, nxt
        elif m.name == lmember.name:
            spec.accessors.append(_Accessor(tid, i, m.name))
            if _fields_compat(lbtf, lmember.type, tbtf, m.type):
                return True, m.type
            spec.accessors.pop()
            return False, None
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return False, None


def _spec_match(local, tbtf, tid):
    """The target spec if candidate ``tid`` matches ``local``, else None."""
    spec = _Spec(tbtf, tid, local.kind)
    if local.kind in _TYPE_KINDS:
        if local.kind == TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, tbtf, tid)
        else:
            ok = types_are_compat(local.btf, local.root_type_id, tbtf, tid)
        return spec if ok else None
    lacc0 = local.accessors[0]
    if local.kind in _ENUM_KINDS:
        tt, tid = _skip(tbtf, tid)
        if tt.kind not in _ENUMS:
            return None
        want = essential_name(lacc0.name)
        for i, v in enumerate(tt.values):
            if essential_name(v.name) == want:
                spec.accessors.append(_Accessor(tid, i, v.name))
                spec.raw.append(i)
                return spec
        return None
    for i, lacc in enumerate(local.accessors):
        tt, tid = _skip(tbtf, tid)
        if lacc.name:
            found, nxt = _match_member(local.btf, lacc, tbtf, tid, spec)
            if not found:
                return None
            tid = nxt
            continue
        if i > 0:
            if tt.kind != L.BTF_KIND_ARRAY:
                return None
            prev = spec.accessors[-1] if spec.accessors else None
            if not _is_flex_array(tbtf, prev, tt) and lacc.idx >= tt.nelems:
                return None
            tid = tbtf.resolve(tt.elem_type)
        if len(spec.raw) == SPEC_MAX_LEN:
            raise _Invalid("target access path too deep")
        spec.accessors.append(_Accessor(tid, lacc.idx, None))
        spec.raw.append(lacc.idx)
        spec.bit_offset += lacc.idx * _size(tbtf, tid) * 8
    return spec


def types_are_compat(lbtf, lid, tbtf, tid, level=_MAX_DEPTH):
    """libbpf's bpf_core_types_are_compat (names were matched by the caller)."""
    if not _kind_compat(lbtf.kind_of(lid), tbtf.kind_of(tid)):
        return False
    for _hop in range(_MAX_DEPTH):
        lt, lid = _skip(lbtf, lid)
        tt, tid = _skip(tbtf, tid)
        if not _kind_compat(lt.kind, tt.kind):
            return False
        k = lt.kind
        if k in (L.BTF_KIND_VOID, L.BTF_KIND_STRUCT, L.BTF_KIND_UNION, L.BTF_KIND_FWD) or k in _ENUMS:
            return True
        if k == L.BTF_KIND_INT:
            return lt.offset == 0 and tt.offset == 0
        if k == L.BTF_KIND_PTR:
            lid, tid = lt.target, tt.target
        elif k == L.BTF_KIND_ARRAY:
            lid, tid = lt.elem_type, tt.elem_type
        elif k == L.BTF_KIND_FUNC_PROTO:
            if len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params):
                if level <= 0:
                    raise _Invalid("function prototypes nest too deep")
                if not types_are_compat(lbtf, lbtf.resolve(lp.type), tbtf, tbtf.resolve(tp.type), level - 1):
                    return False
            lid, tid = lt.return_type, tt.return_type
        else:
            return False
    raise _Invalid("type chain too deep")


def _names_match(lname, tname):
    if not tname:
        return not lname
    return essential_name(lname) == essential_name(tname)


def types_match(lbtf, lid, tbtf, tid, behind_ptr=False, level=_MAX_DEPTH):
    """libbpf's bpf_core_types_match (TYPE_MATCHES): a stricter, recursive
    comparison of names, kinds, sizes, members and enumerators."""
    if level <= 0:
        raise _Invalid("types nest too deep")
    for _hop in range(_MAX_DEPTH):
        lt, lid = _skip(lbtf, lid)
        tt, tid = _skip(tbtf, tid)
        if not _names_match(lt.name, tt.name):
            return False
        k, tk = lt.kind, tt.kind
        if k == L.BTF_KIND_VOID:
            return k == tk
        if k == L.BTF_KIND_FWD:
            if behind_ptr and tk != L.BTF_KIND_FWD:
                return (tk == L.BTF_KIND_STRUCT and not lt.is_union) or (tk == L.BTF_KIND_UNION and lt.is_union)
            return k == tk and lt.is_union == tt.is_union
        if k in _ENUMS:
            if tk not in _ENUMS or lt.size != tt.size or len(lt.values) > len(tt.values):
                return False
            return all(any(_names_match(v.name, w.name) for w in tt.values) for v in lt.values)
        if k in _COMPOSITE:
            if behind_ptr:
                if k == tk:
                    return True
                return tk == L.BTF_KIND_FWD and (k == L.BTF_KIND_UNION) == tt.is_union
            if k != tk or len(lt.members) > len(tt.members):
                return False
            for lm in lt.members:
                if not any(_names_match(lm.name, tm.name) and
                           types_match(lbtf, lm.type, tbtf, tm.type, behind_ptr, level - 1)
                           for tm in tt.members):
                    return False
            return True
        if k == L.BTF_KIND_INT:
            return (k == tk and lt.size == tt.size and
                    bool(lt.encoding & L.BTF_INT_SIGNED) == bool(tt.encoding & L.BTF_INT_SIGNED))
        if k == L.BTF_KIND_PTR:
            if k != tk:
                return False
            behind_ptr = True
            lid, tid = lt.target, tt.target
        elif k == L.BTF_KIND_ARRAY:
            if k != tk or lt.nelems != tt.nelems:
                return False
            lid, tid = lt.elem_type, tt.elem_type
        elif k == L.BTF_KIND_FUNC_PROTO:
            if k != tk or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params):
                if not types_match(lbtf, lp.type, tbtf, tp.type, behind_ptr, level - 1):
                    return False
            lid, tid = lt.return_type, tt.return_type
        else:
            return False
    raise _Invalid("type chain too deep")


class _Result:
    __slots__ = ("orig", "new", "poison", "validate", "orig_sz", "new_sz", "orig_type", "new_type",
                 "fail_memsz_adjust")

    def __init__(self):
        self.orig = self.new = 0
        self.poison = False
        self.validate = True
        self.orig_sz = self.new_sz = 0
        self.orig_type = self.new_type = 0
        self.fail_memsz_adjust = False


def _field_value(kind, spec):
    """(value, memory size, type id, validate) of a field relocation, as
    libbpf's bpf_core_calc_field_relo; raises _Poison when unsatisfied."""
    if kind == FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0, True
    if spec is None:
        raise _Poison()
    btf = spec.btf
    acc = spec.accessors[-1]
    if not acc.name:
        if kind == FIELD_BYTE_OFFSET:
            t, elem = _skip(btf, acc.type_id)
            while t.kind == L.BTF_KIND_ARRAY:
                t, elem = _skip(btf, t.elem_type)
            return spec.bit_offset // 8, _size(btf, elem), acc.type_id, True
        if kind == FIELD_BYTE_SIZE:
            return _size(btf, acc.type_id), 0, 0, True
        raise _Invalid("relocation %s cannot apply to an array access" % KIND_NAMES[kind])
    t = btf.type_by_id(acc.type_id)
    m = t.members[acc.idx]
    mt, field_type = _skip(btf, m.type)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        if mt.kind not in (L.BTF_KIND_INT,) + _ENUMS or mt.size not in (1, 2, 4, 8):
            raise _Invalid("bitfield '%s' of a %s of size %s" % (m.name, L.KIND_NAMES.get(mt.kind, mt.kind),
                                                                 getattr(mt, "size", "?")))
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise _Invalid("bitfield cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(btf, field_type)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    mem_sz = type_id = 0
    if kind == FIELD_BYTE_OFFSET:
        value = byte_off
        if not bitfield:
            et, elem = mt, field_type
            while et.kind == L.BTF_KIND_ARRAY:
                et, elem = _skip(btf, et.elem_type)
            mem_sz, type_id = _size(btf, elem), field_type
    elif kind == FIELD_BYTE_SIZE:
        value = byte_sz
    elif kind == FIELD_SIGNED:
        value = int((mt.kind in _ENUMS and mt.signed) or
                    (mt.kind == L.BTF_KIND_INT and bool(mt.encoding & L.BTF_INT_SIGNED)))
        validate = True
    elif kind == FIELD_LSHIFT_U64:
        if struct.pack("=H", 1) == b"\x01\x00":
            value = 64 - (bit_off + bit_sz - byte_off * 8)
        else:
            value = (8 - byte_sz) * 8 + (bit_off - byte_off * 8)
    elif kind == FIELD_RSHIFT_U64:
        value = 64 - bit_sz
        validate = True
    else:
        raise _Invalid("unknown relocation kind %d" % kind)
    return value, mem_sz, type_id, validate


def _type_value(kind, spec):
    if spec is None:
        return 0, True
    if kind == TYPE_ID_TARGET:
        return spec.root_type_id, False
    if kind in (TYPE_EXISTS, TYPE_MATCHES):
        return 1, True
    if kind == TYPE_SIZE:
        return _size(spec.btf, spec.root_type_id), True
    raise _Invalid("unknown relocation kind %d" % kind)


def _enum_value(kind, spec):
    if kind == ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison()
    acc = spec.accessors[0]
    t = spec.btf.type_by_id(acc.type_id)
    value = t.values[acc.idx].value
    if t.kind == L.BTF_KIND_ENUM:
        # libbpf stores the 32-bit value through an s32, sign-extending it.
        value = value & 0xffffffff
        if value & 0x80000000:
            value -= 1 << 32
    return value & _U64


def _calc(local, target):
    """libbpf's bpf_core_calc_relo for one (local, target-or-None) pair."""
    res = _Result()
    kind = local.kind
    try:
        if kind in _FIELD_KINDS:
            res.orig, res.orig_sz, res.orig_type, res.validate = _field_value(kind, local)
            res.new, res.new_sz, res.new_type, _new_validate = _field_value(kind, target)
            if res.orig_sz != res.new_sz:
                ot = local.btf.type_by_id(res.orig_type)
                nt = target.btf.type_by_id(res.new_type)
                safe = ((ot.kind == L.BTF_KIND_PTR and nt.kind == L.BTF_KIND_PTR) or
                        (ot.kind == L.BTF_KIND_INT and nt.kind == L.BTF_KIND_INT and
                         ot.encoding != L.BTF_INT_SIGNED and nt.encoding != L.BTF_INT_SIGNED))
                res.fail_memsz_adjust = not safe
        elif kind in _TYPE_KINDS:
            res.orig, res.validate = _type_value(kind, local)
            res.new, _new_validate = _type_value(kind, target)
        else:
            res.orig = _enum_value(kind, local)
            res.new = _enum_value(kind, target)
    except _Poison:
        res.poison = True
    res.orig &= _U64
    res.new &= _U64
    return res


class CoreRelocator:
    """Applies CO-RE relocations of one object against target BTFs.

    ``local_btf`` is the object's BTF; ``targets`` a callable returning an
    iterable of target BTFs in lookup order (vmlinux, then modules), used
    only when a relocation needs one (TYPE_ID_LOCAL needs none) and only as
    far as needed. Candidates are cached
    per local type id, so every program of the object shares them.
    """

    def __init__(self, local_btf, targets):
        self.local = local_btf
        self._targets = targets
        self._pending = None
        self._loaded = []
        self._cands = {}
        # Programs of one object repeat the same relocations (same type,
        # access string and kind): the answer depends on nothing else.
        self._resolved = {}

    def _target_btfs(self):
        # Module BTF is parsed only when vmlinux had no candidate.
        yield from self._loaded
        if self._pending is None:
            self._pending = iter(self._targets())
        for btf in self._pending:
            self._loaded.append(btf)
            yield btf

    def candidates(self, local_id):
        """[(target BTF, type id)] for local type ``local_id``: vmlinux
        first; modules only when vmlinux has none (as libbpf)."""
        if local_id in self._cands:
            return self._cands[local_id]
        lname = self.local.name_of(local_id)
        lkind = self.local.kind_of(local_id)
        want = essential_name(lname)
        found = []
        for btf in self._target_btfs():
            for tid in btf.ids_by_essential_name(want):
                if _kind_compat(btf.kind_of(tid), lkind):
                    found.append((btf, tid))
            if found:
                break
        self._cands[local_id] = found
        return found

    def relocate(self, prog_name, insns, relos):
        """Patch ``insns`` (bytearray) for ``relos`` [(insn index, local
        type id, access string offset, kind)]. Returns the descriptions of
        poisoned relocations (by insn index), for explaining a verifier
        rejection. Raises RelocationError naming the program, relocation
        and instruction for malformed records and ambiguous candidates."""
        poisoned = {}
        for n, (idx, type_id, access_off, kind) in enumerate(relos):
            where = "program '%s': relo #%d (%s) at insn #%d" % (prog_name, n, KIND_NAMES.get(kind, kind), idx)
            try:
                key = (type_id, access_off, kind)
                if key not in self._resolved:
                    self._resolved[key] = self._resolve(type_id, access_off, kind, where)
                res, text = self._resolved[key]
                _patch(insns, idx, res, where)
            except _Invalid as e:
                raise RelocationError("%s: %s" % (where, e)) from e
            except BTFError as e:
                raise RelocationError("%s: %s" % (where, e)) from e
            if res.poison:
                poisoned[idx] = "relo #%d (%s) at insn #%d: %s: no matching kernel type or field" % (
                    n, KIND_NAMES.get(kind, kind), idx, text)
        return poisoned

    def _resolve(self, type_id, access_off, kind, where):
        access = self.local.strings.get(access_off)
        local = parse_local_spec(self.local, type_id, access, kind)
        text = local.describe()
        if kind == TYPE_ID_LOCAL:
            res = _Result()
            res.orig = res.new = type_id
            res.validate = False
            return res, text
        if not self.local.name_of(type_id):
            raise _Invalid("relocation against anonymous type [%d]" % type_id)
        chosen = chosen_spec = None
        for btf, tid in self.candidates(type_id):
            cand = _spec_match(local, btf, tid)
            if cand is None:
                continue
            res = _calc(local, cand)
            if chosen is None:
                chosen, chosen_spec = res, cand
                continue
            if cand.bit_offset != chosen_spec.bit_offset:
                raise RelocationError("%s: %s: ambiguous relocation: candidates [%d] and [%d] put the field at "
                                      "bit %d and %d" % (where, text, chosen_spec.root_type_id, tid,
                                                         chosen_spec.bit_offset, cand.bit_offset))
            if res.poison != chosen.poison or res.new != chosen.new:
                raise RelocationError("%s: %s: ambiguous relocation: candidates [%d] and [%d] give %s and %s" % (
                    where, text, chosen_spec.root_type_id, tid,
                    "failure" if chosen.poison else chosen.new, "failure" if res.poison else res.new))
        if chosen is None:
            chosen = _calc(local, None)
        return chosen, text


def _patch(insns, idx, res, where):
    """libbpf's bpf_core_patch_insn."""
    if (idx + 1) * uapi.BPF_INSN_SIZE > len(insns):
        raise _Invalid("instruction index out of range")
    code, _dst, src, off, imm = bpf_insn.unpack(insns, idx)
    cls = uapi.bpf_class(code)
    if res.poison:
        _poison(insns, idx, code)
        return
    orig, new = res.orig, res.new
    if cls in (uapi.BPF_ALU, uapi.BPF_ALU64):
        if uapi.bpf_src(code) == uapi.BPF_X:
            raise _Invalid("ALU instruction does not take an immediate")
        if res.validate and (imm & _U64) != orig:
            raise _Invalid("unexpected ALU value: got %d, want %d -> %d" % (imm, orig, new))
        bpf_insn.set_imm_bits(insns, idx, new)
    elif cls in (uapi.BPF_LDX, uapi.BPF_ST, uapi.BPF_STX):
        if res.validate and (off & _U64) != orig:
            raise _Invalid("unexpected LDX/ST/STX offset: got %d, want %d -> %d" % (off, orig, new))
        if new > _S16_MAX:
            raise _Invalid("LDX/ST/STX offset %d too big" % new)
        if res.fail_memsz_adjust:
            # The field changed size and is neither a pointer nor unsigned:
            # reading it with another width would give wrong values.
            _poison(insns, idx, code)
            return
        bpf_insn.set_off(insns, idx, new)
        if res.new_sz != res.orig_sz:
            size = uapi.BPF_SIZE_BYTES[uapi.bpf_size(code)]
            if size != res.orig_sz:
                raise _Invalid("unexpected memory size %s, want %d" % (size, res.orig_sz))
            if res.new_sz not in _SIZE_CODES:
                raise _Invalid("invalid new memory size %d" % res.new_sz)
            bpf_insn.set_code(insns, idx, (code & ~uapi.BPF_SIZE_MASK & 0xff) | _SIZE_CODES[res.new_sz])
    elif code == bpf_insn.LD_IMM64:
        if (idx + 2) * uapi.BPF_INSN_SIZE > len(insns):
            raise _Invalid("ld_imm64 is cut off")
        code2, dst2, src2, off2, imm2 = bpf_insn.unpack(insns, idx + 1)
        if src != 0 or off != 0 or code2 or dst2 or src2 or off2:
            raise _Invalid("ld_imm64 has an unexpected form")
        value = (imm & 0xffffffff) | ((imm2 & 0xffffffff) << 32)
        if res.validate and value != orig:
            raise _Invalid("unexpected ld_imm64 value: got %d, want %d -> %d" % (value, orig, new))
        bpf_insn.set_imm_bits(insns, idx, new)
        bpf_insn.set_imm_bits(insns, idx + 1, new >> 32)
    else:
        raise _Invalid("cannot relocate instruction with opcode %#x" % code)


def _poison(insns, idx, code):
    if code == bpf_insn.LD_IMM64 and (idx + 2) * uapi.BPF_INSN_SIZE <= len(insns):
        bpf_insn.poison(insns, idx + 1)
    bpf_insn.poison(insns, idx)
