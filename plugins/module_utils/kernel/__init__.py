# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel layer: what ebpf.deploy asks of the running kernel, and nothing
above it (imports only errors.py, and elf.py for the binaries uprobes read).

- uapi.py: the bpf() ABI: commands, map, program, attach and link types, their names, the release
  that brought each, and what each map type is (is_percpu, holds_fds, prealloc_rule, ...)
- syscalls.py: bpf() through ctypes: maps, programs, BTF, links, pins, info, and fdinfo (Fdinfo)
- insn.py: eBPF instruction encoding and the fields relocations patch
- host.py: the host: kernel release, possible CPUs and the per-CPU value stride, this process's capabilities
- bpffs.py: bpffs: safe pin names, a loaded version's maps/ and progs/, atomic directory swaps, removal
- attach.py: attaching programs as bpf_links (XDP, tcx, cgroup, tracepoints, kprobes, BTF tracing)
- uprobe.py: user-space probes: a binary's path (libraries through the library directories), a function's
  file offset from its symbols and segments, attaching through the uprobe PMU
- netlink_tc.py: tc clsact filters through netlink (pyroute2), for kernels before tcx
"""
