# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ebpf.deploy's pure-Python eBPF loader (runs on managed hosts).

Python 3.8+ standard library only; talks to the kernel through bpf()
with ctypes. No libbpf, bpftool or clang on the host.

Using it::

    from ansible_collections.ebpf.deploy.plugins.module_utils.collection import load_file

    with load_file("/opt/bpf/policy.bpf.o", pin_dir="/sys/fs/bpf/ebpf.deploy/policy",
                   constants={"debug": 1}) as coll:
        for m in coll.maps.values():      # LoadedMap
            print(m.name, m.id, m.type, m.max_entries, m.flags, m.pin, m.memlock)
        for p in coll.programs.values():  # LoadedProgram
            print(p.name, p.id, p.type, p.tag, p.pin, p.memlock)
        coll.warnings                     # what was degraded, e.g. BTF refused

``load_file`` raises ``errors.LoaderError`` subclasses (ELFError, BTFError,
SpecError, RelocationError, NotSupportedError, SyscallError, VerifierError),
each naming the object, the map or program, and the reason; ``hint`` says
how to fix it and VerifierError carries the log. On error nothing created
stays in the kernel or in bpffs. Pins live at ``pin_dir/maps/<map>`` and
``pin_dir/progs/<program>`` (with '.' made '_': bpffs refuses dots);
``LoadedCollection.unpin()`` removes them.

The stages, each usable alone (downstream imports only):

- elf.py: ELF64 sections, symbols, relocations
- btf/: lazy BTF reader (layout, strings, types, reader, ext), sanitize, encode
- sections.py, uapi.py: libbpf's section-name conventions, the bpf() ABI constants
- spec.py: MapSpec, ProgramSpec, CollectionSpec
- maps_spec.py, kconfig.py, linker.py, objfile.py: ELF object -> CollectionSpec
- constants.py: rewrite ``const volatile`` globals through BTF
- syscalls.py, insn.py: bpf() through ctypes, instruction patching
- loader.py: CollectionSpec -> kernel (BTF, maps, programs, pins)
"""
