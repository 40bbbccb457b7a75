# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model of decoded BTF types.

One class per kind, built by ``BTF.type_by_id`` only when asked for. Every
type has ``id``, ``kind`` (a ``BTF_KIND_*`` number) and ``name`` ('' when
anonymous). References to other types are type ids (ints), never objects,
so decoding one type never decodes another; follow them with
``BTF.type_by_id`` / ``BTF.resolve``. Objects are plain values: treat them
as read-only, they are shared through the reader's cache.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.btf.layout import (
    BTF_KIND_ARRAY, BTF_KIND_CONST, BTF_KIND_DATASEC, BTF_KIND_DECL_TAG,
    BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO, BTF_KIND_FWD, BTF_KIND_INT, BTF_KIND_PTR,
    BTF_KIND_RESTRICT, BTF_KIND_STRUCT, BTF_KIND_TYPE_TAG, BTF_KIND_TYPEDEF,
    BTF_KIND_UNION, BTF_KIND_VAR, BTF_KIND_VOID, BTF_KIND_VOLATILE,
    BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, kind_name,
)


class _Value:
    """Slots-based value object: equality and repr over all slots."""

    __slots__ = ()

    def _fields(self):
        names = []
        for cls in reversed(type(self).__mro__):
            names.extend(getattr(cls, "__slots__", ()))
        return names

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields())

    def __ne__(self, other):
        result = self.__eq__(other)
        if result is NotImplemented:
            return result
        return not result

    def __hash__(self):
        return hash(tuple(_hashable(getattr(self, f)) for f in self._fields()))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in self._fields()))


def _hashable(value):
    if isinstance(value, list):
        return tuple(value)
    return value


class Type(_Value):
    """Base of all decoded types."""

    __slots__ = ("id", "name")
    kind = -1

    @property
    def kind_name(self):
        return kind_name(self.kind)

    def describe(self):
        """Short label for messages: ``STRUCT 'task_struct' (#114)``."""
        return "%s '%s' (#%d)" % (self.kind_name, self.name or "(anon)", self.id)


class Void(Type):
    __slots__ = ()
    kind = BTF_KIND_VOID

    def __init__(self):
        self.id = 0
        self.name = ""


class Int(Type):
    """``encoding`` is a mask of BTF_INT_SIGNED/CHAR/BOOL; ``bits`` and
    ``offset`` are the value's width and bit offset within ``size`` bytes."""

    __slots__ = ("size", "encoding", "bits", "offset")
    kind = BTF_KIND_INT

    def __init__(self, id, name, size, encoding, bits, offset):
        self.id = id
        self.name = name
        self.size = size
        self.encoding = encoding
        self.bits = bits
        self.offset = offset

    @property
    def signed(self):
        return bool(self.encoding & BTF_INT_SIGNED)

    @property
    def is_char(self):
        return bool(self.encoding & BTF_INT_CHAR)

    @property
    def is_bool(self):
        return bool(self.encoding & BTF_INT_BOOL)


class _Ref(Type):
    """A kind that only points at another type id (``type``)."""

    __slots__ = ("type",)

    def __init__(self, id, name, type):
        self.id = id
        self.name = name
        self.type = type


class Pointer(_Ref):
    __slots__ = ()
    kind = BTF_KIND_PTR

    @property
    def target(self):
        return self.type


class Typedef(_Ref):
    __slots__ = ()
    kind = BTF_KIND_TYPEDEF


class Volatile(_Ref):
    __slots__ = ()
    kind = BTF_KIND_VOLATILE


class Const(_Ref):
    __slots__ = ()
    kind = BTF_KIND_CONST


class Restrict(_Ref):
    __slots__ = ()
    kind = BTF_KIND_RESTRICT


class TypeTag(_Ref):
    __slots__ = ()
    kind = BTF_KIND_TYPE_TAG


class Array(Type):
    __slots__ = ("elem_type", "index_type", "nelems")
    kind = BTF_KIND_ARRAY

    def __init__(self, id, name, elem_type, index_type, nelems):
        self.id = id
        self.name = name
        self.elem_type = elem_type
        self.index_type = index_type
        self.nelems = nelems


class Member(_Value):
    """A struct/union member; ``bitfield_size`` is 0 for ordinary members."""

    __slots__ = ("name", "type", "bit_offset", "bitfield_size")

    def __init__(self, name, type, bit_offset, bitfield_size=0):
        self.name = name
        self.type = type
        self.bit_offset = bit_offset
        self.bitfield_size = bitfield_size


class Composite(Type):
    """Common part of Struct and Union: ``size`` in bytes, ``members`` a
    tuple of Member."""

    __slots__ = ("size", "members")

    def __init__(self, id, name, size, members):
        self.id = id
        self.name = name
        self.size = size
        self.members = members

    def member(self, name):
        """The member called ``name`` (direct members only), or None."""
        for m in self.members:
            if m.name == name:
                return m
        return None


class Struct(Composite):
    __slots__ = ()
    kind = BTF_KIND_STRUCT


class Union(Composite):
    __slots__ = ()
    kind = BTF_KIND_UNION


class EnumValue(_Value):
    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name = name
        self.value = value


class Enum(Type):
    """``values`` is a tuple of EnumValue, already sign-interpreted per the
    kind_flag (``signed``)."""

    __slots__ = ("size", "values", "signed")
    kind = BTF_KIND_ENUM

    def __init__(self, id, name, size, values, signed):
        self.id = id
        self.name = name
        self.size = size
        self.values = values
        self.signed = signed

    def value_of(self, name):
        """The value of enumerator ``name``, or None."""
        for v in self.values:
            if v.name == name:
                return v.value
        return None


class Enum64(Enum):
    __slots__ = ()
    kind = BTF_KIND_ENUM64


class Fwd(Type):
    __slots__ = ("is_union",)
    kind = BTF_KIND_FWD

    def __init__(self, id, name, is_union):
        self.id = id
        self.name = name
        self.is_union = is_union


class Func(Type):
    """``type`` is the FUNC_PROTO id; ``linkage`` a BTF_FUNC_* value."""

    __slots__ = ("type", "linkage")
    kind = BTF_KIND_FUNC

    def __init__(self, id, name, type, linkage):
        self.id = id
        self.name = name
        self.type = type
        self.linkage = linkage


class Param(_Value):
    """A FUNC_PROTO parameter; a trailing Param('', 0) marks varargs."""

    __slots__ = ("name", "type")

    def __init__(self, name, type):
        self.name = name
        self.type = type


class FuncProto(Type):
    __slots__ = ("return_type", "params")
    kind = BTF_KIND_FUNC_PROTO

    def __init__(self, id, name, return_type, params):
        self.id = id
        self.name = name
        self.return_type = return_type
        self.params = params


class Var(Type):
    """``linkage`` is a BTF_VAR_* value."""

    __slots__ = ("type", "linkage")
    kind = BTF_KIND_VAR

    def __init__(self, id, name, type, linkage):
        self.id = id
        self.name = name
        self.type = type
        self.linkage = linkage


class VarSecinfo(_Value):
    """One variable of a DATASEC: ``type`` is the VAR (or FUNC for ksyms)
    id, ``offset`` and ``size`` in bytes within the section."""

    __slots__ = ("type", "offset", "size")

    def __init__(self, type, offset, size):
        self.type = type
        self.offset = offset
        self.size = size


class Datasec(Type):
    __slots__ = ("size", "vars")
    kind = BTF_KIND_DATASEC

    def __init__(self, id, name, size, vars):
        self.id = id
        self.name = name
        self.size = size
        self.vars = vars


class Float(Type):
    __slots__ = ("size",)
    kind = BTF_KIND_FLOAT

    def __init__(self, id, name, size):
        self.id = id
        self.name = name
        self.size = size


class DeclTag(Type):
    """``component_idx`` is -1 for the tagged type itself, else the member
    or parameter index."""

    __slots__ = ("type", "component_idx")
    kind = BTF_KIND_DECL_TAG

    def __init__(self, id, name, type, component_idx):
        self.id = id
        self.name = name
        self.type = type
        self.component_idx = component_idx


KIND_CLASSES = {
    cls.kind: cls for cls in (
        Void, Int, Pointer, Array, Struct, Union, Enum, Fwd, Typedef,
        Volatile, Const, Restrict, Func, FuncProto, Var, Datasec, Float,
        DeclTag, TypeTag, Enum64)
}
