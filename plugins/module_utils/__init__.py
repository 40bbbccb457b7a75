# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ebpf.deploy's code for managed hosts: a pure-Python eBPF loader and the
deploy logic the modules run (Python 3.8+ standard library only, plus
pyroute2 for netlink; bpf() through ctypes, no libbpf, bpftool or clang).

Layers, lowest first; a module imports only from its own layer or a lower
one, and no imports go round in a cycle (tests/unit/test_layers.py):

- bytecode_cache.py: each module imports it first; AnsiballZ's imports of module_utils then
  compile once per host and source digest, not on every task (imports nothing of ours)
- values.py: Record (slots-based objects with a generated ``__init__``) and copy_fields
- errors.py: the exceptions every layer raises (object and reason in each message)
- elf.py: ELF64 sections, symbols and relocations (objects, and BTF in ELF files)
- kernel/: the bpf() ABI, syscalls, instructions, host facts, bpffs, attach, netlink
- btf/: the lazy BTF reader, BTF.ext, CO-RE, layout comparison, kernel BTF and its per-run cache
- loader/: ELF object -> CollectionSpec -> kernel, one file per stage
- memlock/: how the kernel accounts BPF memory, and the footprint estimator
- deploy/: what the modules converge: collections, links, map entries, facts

Each package's ``__init__`` says what each of its files does. The loader
alone::

    from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load_file import load_file

    with load_file("/opt/bpf/policy.bpf.o", pin_dir="/sys/fs/bpf/ebpf_deploy/policy",
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
``pin_dir/progs/<program>`` (with '.' made '_': bpffs refuses dots).
"""
