# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an eBPF ELF object asks for: its maps and programs, before any
kernel is involved.

read_object.py builds these from an ELF object; options change them
(max_entries, flags, constants); load.py hands them to the kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import possible_cpus


class MapSpec:
    """One map to create.

    ``kind`` says where it came from: 'btf' (``.maps``), 'legacy'
    (``maps``), 'data' (a ``.data*``/``.rodata*``/``.bss*`` section) or
    'kconfig'. ``data`` holds the initial value of a data map;
    ``init_slots`` the ``values`` initialisers of prog arrays and
    map-in-maps as (index, kind, name); ``inner`` the inner map template.
    """

    __slots__ = ("name", "type", "key_size", "value_size", "max_entries", "flags", "numa_node",
                 "map_extra", "pinning", "btf_key_type_id", "btf_value_type_id", "inner", "init_slots",
                 "data", "kind", "section", "freeze", "offset")

    def __init__(self, name, map_type, key_size, value_size, max_entries, flags=0, kind="btf",
                 section=None, offset=0):
        self.name = name
        self.type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.numa_node = 0
        self.map_extra = 0
        self.pinning = 0
        self.btf_key_type_id = 0
        self.btf_value_type_id = 0
        self.inner = None
        self.init_slots = []
        self.data = None
        self.kind = kind
        self.section = section
        self.freeze = False
        self.offset = offset

    def kernel_max_entries(self):
        """The max_entries the map is created with: a perf event array left
        at 0 gets one slot per possible CPU, as libbpf does."""
        if self.type == uapi.BPF_MAP_TYPE_PERF_EVENT_ARRAY and not self.max_entries:
            return possible_cpus()
        return self.max_entries

    @property
    def pinned_by_name(self):
        """Whether the object pins this map by name (LIBBPF_PIN_BY_NAME, or
        iproute2's PIN_GLOBAL_NS): one map shared by every object that
        declares it."""
        return self.pinning == uapi.LIBBPF_PIN_BY_NAME and self.kind in ("btf", "legacy")

    def __repr__(self):
        return "MapSpec(%r, type=%d, key=%d, value=%d, max_entries=%d, flags=%#x)" % (
            self.name, self.type, self.key_size, self.value_size, self.max_entries, self.flags)


class Fixup:
    """A ld_imm64 at ``insn`` that must point at map ``map_name``: its fd
    (``value_offset`` None) or the address ``value_offset`` bytes into its
    value (global data, kconfig)."""

    __slots__ = ("insn", "map_name", "value_offset")

    def __init__(self, insn, map_name, value_offset=None):
        self.insn = insn
        self.map_name = map_name
        self.value_offset = value_offset


class Ksym:
    """One ``.ksyms`` extern (``__ksym``): ``name``, ``kind`` ('func' for a
    kfunc, 'var' for a kernel variable), ``btf_id`` (its FUNC or VAR in the
    object's BTF), ``type_id`` (the FUNC_PROTO of a kfunc; a variable's type
    past modifiers and typedefs, 0 for an untyped ``const void`` one, whose
    address comes from /proc/kallsyms) and ``weak`` (a kernel without it
    gives 0 instead of an error)."""

    __slots__ = ("name", "kind", "btf_id", "type_id", "weak")

    def __init__(self, name, kind, btf_id, type_id, weak):
        self.name = name
        self.kind = kind
        self.btf_id = btf_id
        self.type_id = type_id
        self.weak = weak

    def __repr__(self):
        return "Ksym(%r, %s, type_id=%d%s)" % (self.name, self.kind, self.type_id, ", weak" if self.weak else "")


class ProgramSpec:
    """One program, linked: ``insns`` holds its instructions followed by
    every subprogram it calls, with call offsets already fixed. What only
    the kernel can supply (map fds) is listed in ``fixups``, the instructions
    that name a kernel symbol in ``ksym_refs`` as (insn, ksym name); ``func_info``,
    ``line_info`` and ``core_relos`` are indexed by final instruction."""

    __slots__ = ("name", "section", "kind", "kind_error", "insns", "fixups", "func_info", "line_info",
                 "core_relos", "func_info_rec_size", "line_info_rec_size", "license", "kern_version",
                 "unresolved", "ksym_refs")

    def __init__(self, name, section, kind, kind_error, insns):
        self.name = name
        self.section = section
        self.kind = kind
        self.kind_error = kind_error
        self.insns = insns
        self.fixups = []
        self.func_info = []
        self.line_info = []
        self.core_relos = []
        self.unresolved = []
        self.ksym_refs = []
        self.func_info_rec_size = 0
        self.line_info_rec_size = 0
        self.license = ""
        self.kern_version = 0

    def __repr__(self):
        return "ProgramSpec(%r, section=%r, insns=%d)" % (self.name, self.section, len(self.insns) // 8)


class CollectionSpec:
    """The programs and maps of one ELF object.

    Attributes: ``name``, ``sha256`` (of the file's bytes), ``license``,
    ``kern_version``, ``btf`` (BTF or None), ``btf_ext`` (BTFExt or None),
    ``maps`` and ``programs`` (dicts by name, in ELF order),
    ``section_sizes`` and ``symbol_offsets`` (what the kernel needs patched
    into the object's BTF), ``externs`` (kconfig externs, see read_kconfig.py),
    ``ksyms`` (``.ksyms`` externs by name: Ksym),
    ``unresolved`` (undefined symbols this loader cannot supply: name ->
    reason; only programs that use one fail).
    """

    def __init__(self, elf, sha256, name):
        self.name = name
        self.elf = elf
        self.sha256 = sha256
        self.license = ""
        self.kern_version = 0
        self.btf = None
        self.btf_ext = None
        self.maps = {}
        self.programs = {}
        self.section_sizes = {}
        self.symbol_offsets = {}
        self.externs = []
        self.ksyms = {}
        self.unresolved = {}

    def program(self, name):
        """The ProgramSpec called ``name``; SpecError listing the known ones."""
        return self._named("program", self.programs, name)

    def map(self, name):
        """The MapSpec called ``name``; SpecError listing the known ones."""
        return self._named("map", self.maps, name)

    def _named(self, what, specs, name):
        try:
            return specs[name]
        except KeyError:
            raise SpecError("object '%s': no %s '%s' (have: %s)" % (
                self.name, what, name, ", ".join(sorted(specs)) or "none")) from None
