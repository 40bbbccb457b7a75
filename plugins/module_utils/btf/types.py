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

from ansible_collections.ebpf.deploy.plugins.module_utils.btf import layout
from ansible_collections.ebpf.deploy.plugins.module_utils.values import Record


class _Value(Record):
    """Slots-based value object (a Record, so its ``__init__`` is
    generated): equality and repr over all slots."""

    __slots__ = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._FIELDS)

    def __ne__(self, other):
        result = self.__eq__(other)
        if result is NotImplemented:
            return result
        return not result

    def __hash__(self):
        return hash(tuple(_hashable(getattr(self, f)) for f in self._FIELDS))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in self._FIELDS))


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
        return layout.kind_name(self.kind)

    def describe(self):
        """Short label for messages: ``STRUCT 'task_struct' (#114)``."""
        return "%s '%s' (#%d)" % (self.kind_name, self.name or "(anon)", self.id)


class Void(Type):
    __slots__ = ()
    kind = layout.BTF_KIND_VOID
    _DEFAULTS = (0, "")


class Int(Type):
    """``encoding`` is a mask of BTF_INT_SIGNED/CHAR/BOOL; ``bits`` and
    ``offset`` are the value's width and bit offset within ``size`` bytes."""

    __slots__ = ("size", "encoding", "bits", "offset")
    kind = layout.BTF_KIND_INT

    @property
    def signed(self):
        return bool(self.encoding & layout.BTF_INT_SIGNED)

    @property
    def is_char(self):
        return bool(self.encoding & layout.BTF_INT_CHAR)

    @property
    def is_bool(self):
        return bool(self.encoding & layout.BTF_INT_BOOL)


class _Ref(Type):
    """A kind that only points at another type id (``type``)."""

    __slots__ = ("type",)


def _kind(name, base, kind):
    """A class ``name`` that is ``base`` with kind number ``kind`` and no
    field or method of its own (``isinstance`` tells it from its siblings)."""
    return type(name, (base,), {"__slots__": (), "kind": kind, "__module__": __name__})


class Pointer(_Ref):
    __slots__ = ()
    kind = layout.BTF_KIND_PTR

    @property
    def target(self):
        return self.type


Typedef = _kind("Typedef", _Ref, layout.BTF_KIND_TYPEDEF)
Volatile = _kind("Volatile", _Ref, layout.BTF_KIND_VOLATILE)
Const = _kind("Const", _Ref, layout.BTF_KIND_CONST)
Restrict = _kind("Restrict", _Ref, layout.BTF_KIND_RESTRICT)
TypeTag = _kind("TypeTag", _Ref, layout.BTF_KIND_TYPE_TAG)


class Array(Type):
    __slots__ = ("elem_type", "index_type", "nelems")
    kind = layout.BTF_KIND_ARRAY


class Member(_Value):
    """A struct/union member; ``bitfield_size`` is 0 for ordinary members."""

    __slots__ = ("name", "type", "bit_offset", "bitfield_size")
    _DEFAULTS = (0,)


class Composite(Type):
    """Common part of Struct and Union: ``size`` in bytes, ``members`` a
    tuple of Member."""

    __slots__ = ("size", "members")

    def member(self, name):
        """The member called ``name`` (direct members only), or None."""
        for m in self.members:
            if m.name == name:
                return m
        return None


Struct = _kind("Struct", Composite, layout.BTF_KIND_STRUCT)
Union = _kind("Union", Composite, layout.BTF_KIND_UNION)


class EnumValue(_Value):
    __slots__ = ("name", "value")


class Enum(Type):
    """``values`` is a tuple of EnumValue, already sign-interpreted per the
    kind_flag (``signed``)."""

    __slots__ = ("size", "values", "signed")
    kind = layout.BTF_KIND_ENUM

    def value_of(self, name):
        """The value of enumerator ``name``, or None."""
        for v in self.values:
            if v.name == name:
                return v.value
        return None


Enum64 = _kind("Enum64", Enum, layout.BTF_KIND_ENUM64)


class Fwd(Type):
    __slots__ = ("is_union",)
    kind = layout.BTF_KIND_FWD


class Func(Type):
    """``type`` is the FUNC_PROTO id; ``linkage`` a BTF_FUNC_* value."""

    __slots__ = ("type", "linkage")
    kind = layout.BTF_KIND_FUNC


class Param(_Value):
    """A FUNC_PROTO parameter; a trailing Param('', 0) marks varargs."""

    __slots__ = ("name", "type")


class FuncProto(Type):
    __slots__ = ("return_type", "params")
    kind = layout.BTF_KIND_FUNC_PROTO


class Var(Type):
    """``linkage`` is a BTF_VAR_* value."""

    __slots__ = ("type", "linkage")
    kind = layout.BTF_KIND_VAR


class VarSecinfo(_Value):
    """One variable of a DATASEC: ``type`` is the VAR (or FUNC for ksyms)
    id, ``offset`` and ``size`` in bytes within the section."""

    __slots__ = ("type", "offset", "size")


class Datasec(Type):
    __slots__ = ("size", "vars")
    kind = layout.BTF_KIND_DATASEC


class Float(Type):
    __slots__ = ("size",)
    kind = layout.BTF_KIND_FLOAT


class DeclTag(Type):
    """``component_idx`` is -1 for the tagged type itself, else the member
    or parameter index."""

    __slots__ = ("type", "component_idx")
    kind = layout.BTF_KIND_DECL_TAG


KIND_CLASSES = {
    cls.kind: cls for cls in (
        Void, Int, Pointer, Array, Struct, Union, Enum, Fwd, Typedef,
        Volatile, Const, Restrict, Func, FuncProto, Var, Datasec, Float,
        DeclTag, TypeTag, Enum64)
}


class Unknown(Type):
    """A kind this reader does not know (a number above BTF_KIND_MAX),
    kept so the ids after it stay right: the blob's layout section gave
    its record size. ``kind`` is the number from the info word; nothing
    matches it in CO-RE or in comparisons."""

    __slots__ = ("kind", "size_or_type", "vlen", "kflag")
