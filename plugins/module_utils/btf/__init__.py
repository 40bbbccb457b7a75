# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BTF layer: the BTF loader bundled with ebpf.deploy (runs on managed
hosts, standard library only; imports kernel/ and the shared elf.py).

- layout.py: wire layouts of BTF and .BTF.ext records, kind numbers
- strings.py: the string section, decoded one name at a time
- types.py: the decoded types, one class per kind
- reader.py: the public entry point: a lazy reader (one pass of offsets, decoding on demand, name indexes)
- ext.py: .BTF.ext: func_info, line_info, CO-RE relocation records
- sanitize.py: patches that make object BTF acceptable to BPF_BTF_LOAD
- encode.py: plain values (as YAML gives them) to and from the bytes of a type
- compare.py: whether two types have the same byte layout, member by member
- convert.py: the bytes of one type converted into another's, member by member by name
- core.py: CO-RE relocation with libbpf's rules
- kernel.py: where the running kernel's BTF comes from (sysfs, module BTF, btf_path)
- index_format.py: the on-disk index of kernel BTF types (offsets and name tables): encoded, checked, opened
- run_dir.py: the playbook run's private directory (created, validated, purged, removed; atomic writes)
- cache.py: the per-run cache of kernel BTF indexes: lookups (hit, build, rebuild, bypass) in the run's directory
"""
