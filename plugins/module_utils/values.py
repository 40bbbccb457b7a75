# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain value objects, for every layer: ``Record``, a slots-based class
whose ``__init__`` only stores its arguments and is generated from its
fields, and ``copy_fields``, which fills an object from another's
attributes (a kernel info struct, say)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Record:
    """Base of slots-based objects built from their fields in order.

    A subclass lists its fields in ``__slots__`` and gets an ``__init__``
    taking them in order (those of the base classes first), generated once
    when the class is made, as ``collections.namedtuple`` does: no
    per-instance cost over a hand-written one. ``_DEFAULTS`` gives the
    values of the last fields a caller may leave out. A subclass with a
    ``_check`` method has it called last, to refuse or normalise what was
    given. A subclass that writes its own ``__init__`` keeps it.
    ``_FIELDS`` is the field order.
    """

    __slots__ = ()
    _FIELDS = ()
    _DEFAULTS = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields = []
        for klass in reversed(cls.__mro__):
            fields.extend(klass.__dict__.get("__slots__", ()))
        cls._FIELDS = tuple(fields)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _make_init(cls.__name__, cls._FIELDS, cls._DEFAULTS, hasattr(cls, "_check"))


def _make_init(class_name, fields, defaults, check=False):
    # def __init__(self, a, b, c=<default>): self.a = a; ...; [self._check()]
    params = list(fields)
    for i, value in enumerate(defaults):
        params[len(fields) - len(defaults) + i] += "=_d%d" % i
    body = ["    self.%s = %s\n" % (f, f) for f in fields] + (["    self._check()\n"] if check else [])
    source = "def __init__(self%s):\n%s" % ("".join(", " + p for p in params), "".join(body) or "    pass\n")
    namespace = dict(("_d%d" % i, value) for i, value in enumerate(defaults))
    exec(source, namespace)  # pylint: disable=exec-used
    init = namespace["__init__"]
    init.__qualname__ = "%s.__init__" % class_name
    return init


def copy_fields(obj, source, *same, **renamed):
    """Set ``obj.<name>`` to ``source.<name>`` for each name in ``same``, and
    ``obj.<name>`` to ``source.<attr>`` for each ``name="attr"`` in
    ``renamed``. Returns None; raises AttributeError for a missing one."""
    for name in same:
        setattr(obj, name, getattr(source, name))
    for name, attr in renamed.items():
        setattr(obj, name, getattr(source, attr))
