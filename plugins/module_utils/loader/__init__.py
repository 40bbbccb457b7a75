# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loader layer: ELF object -> CollectionSpec -> kernel, one file per
stage, in data-flow order (imports kernel/, btf/ and the shared elf.py).

- sections.py: libbpf's section-name conventions: program type, attach type and target
- spec.py: MapSpec, ProgramSpec, CollectionSpec: what an object declares
- read_object.py: ELF object -> CollectionSpec (license, BTF, data sections, then the readers below)
- read_maps.py: map definitions: BTF-defined .maps, legacy and iproute2 maps, data sections
- read_kconfig.py: .kconfig externs and the values the running kernel gives them
- read_programs.py: program sections, bpf-to-bpf calls and callbacks, relocation records
- set_constants.py: rewrite const volatile globals in .rodata by name, through BTF
- set_map_options.py: the caller's max_entries and prealloc, checked per map type
- resolve_ksyms.py: kfuncs and __ksym variables against the running kernel's BTF and kallsyms (load time)
- load.py: CollectionSpec -> kernel: BTF, maps, relocations (maps, data, calls, CO-RE), programs, pins
- load_file.py: the front door: one call from an object file to a loaded, pinned collection
"""
