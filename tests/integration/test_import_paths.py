# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each module's common paths import only what they run. Inside AnsiballZ
every imported module is compiled from source on every task (no .pyc is
kept), so an import a path does not use costs every host on every run.

Each path runs in a fresh interpreter that imports the module file (its own
static imports, as AnsiballZ does) and then does the work; the module_utils
modules it ends up with must be exactly the ones listed. A path that starts
importing more fails here: make the import lazy, or add it to the list and
say why in the change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import subprocess
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls

from kernel_helpers import PKT, u32, u64

PKG = "ansible_collections.ebpf.deploy.plugins.module_utils"

CHILD = r"""
import json, sys
PKG = %(pkg)r
kind, args = sys.argv[1], json.loads(sys.argv[2])
if kind == "collection":
    import ansible_collections.ebpf.deploy.plugins.modules.bpf_collection  # noqa: its static imports
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
    action = converge(Desired(**args))["action"]
else:
    import ansible_collections.ebpf.deploy.plugins.modules.bpf_map  # noqa: its static imports
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import converge_entries
    action = converge_entries(**args)["changed"]
print(json.dumps({"action": action, "modules": sorted(m[len(PKG) + 1:] for m in sys.modules
                                                       if m.startswith(PKG + "."))}))
""" % {"pkg": PKG}

# Every module imports the bytecode cache first (module_utils/bytecode_cache.py).
# What every path of bpf_collection needs: options, the lock, reading what is
# pinned (with the estimates the facts carry), the plan, the shipped-object
# check (the module's src path).
COMMON = {"btf", "btf.run_dir", "bytecode_cache", "deploy", "deploy.collection", "deploy.desired", "deploy.lock", "deploy.names",
          "deploy.observed", "deploy.plan", "deploy.records", "deploy.shipped", "deploy.versions", "errors", "kernel",
          "kernel.bpffs", "kernel.host", "kernel.syscalls", "kernel.uapi", "memlock", "memlock.accounting",
          "memlock.estimate", "values"}
# Reading an object and loading it: the ELF, its BTF (loaded into the kernel
# with the maps and programs), the loader's stages, apply.
LOAD_PLAIN = COMMON | {"btf.encode", "btf.ext", "btf.layout", "btf.reader", "btf.sanitize", "btf.strings",
                       "btf.types", "deploy.apply", "elf", "kernel.insn", "loader", "loader.load",
                       "loader.read_kconfig", "loader.read_maps", "loader.read_object", "loader.read_programs",
                       "loader.sections", "loader.set_constants", "loader.set_map_options", "loader.spec"}
# maps.o also pins a map by name: the maps collections share.
LOAD = LOAD_PLAIN | {"deploy.shared"}
# CO-RE: kernel BTF through the run's cache, and the relocator.
CORE = LOAD_PLAIN | {"btf.cache", "btf.core", "btf.index_format", "btf.kernel"}
# An upgrade: the live maps' layouts compared, entries migrated, links moved.
UPGRADE = LOAD | {"btf.compare", "deploy.migrate", "deploy.version_links"}
# A rollback: the kept version's maps compared through their BTF and
# entries copied back, links moved; no ELF, no loader. maps.o shares a map
# by name, whose memlock is counted apart (deploy.shared).
ROLLBACK = COMMON | {"btf.compare", "btf.layout", "btf.reader", "btf.strings", "btf.types", "deploy.migrate",
                     "deploy.rollback", "deploy.shared", "deploy.version_links"}
# Entries: the pinned map, and its BTF from the kernel, which turns the
# playbook's values into bytes member by member.
ENTRIES = {"btf", "btf.encode", "bytecode_cache", "btf.layout", "btf.reader", "btf.strings", "btf.types", "deploy", "deploy.entries",
           "deploy.lock", "deploy.module_run", "deploy.names", "errors", "kernel", "kernel.bpffs", "kernel.host",
           "kernel.syscalls", "kernel.uapi", "values"}


@contextlib.contextmanager
def pinned(pin_dir, rel):
    """An fd of the collection's pinned object ``rel`` (maps/x, progs/y)."""
    fd = syscalls.obj_get(os.path.join(pin_dir, "paths", rel))
    try:
        yield fd
    finally:
        os.close(fd)


def run_path(kind, **args):
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, json.dumps(args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ), check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check(found, expected):
    modules = set(found["modules"])
    assert modules == expected, "imports it does not use: %s; no longer imports: %s" % (
        sorted(modules - expected), sorted(expected - modules))


def test_bpf_collection_paths_import_only_what_they_use(bpf_build, pin_dir):
    plain = dict(name="paths", pin_root=pin_dir, path=bpf_build.path("maps"))
    try:
        first = run_path("collection", **plain)
        assert first["action"] == "create"
        check(first, LOAD)
        noop = run_path("collection", **plain)
        assert noop["action"] == "none"
        check(noop, COMMON)
        with pinned(pin_dir, "maps/array") as fd:
            syscalls.map_update(fd, u32(5), u64(99))
        upgrade = run_path("collection", maps={"hash_prealloc": {"max_entries": 128}}, **plain)
        assert upgrade["action"] == "replace"
        check(upgrade, UPGRADE)
        # What the upgrade did, read from the kernel: the reused array kept
        # its entry, the resized map is the one the new program writes into.
        with pinned(pin_dir, "maps/array") as fd:
            assert syscalls.map_lookup(fd, u32(5), 8) == u64(99)
        with pinned(pin_dir, "progs/fill_maps") as fd:
            syscalls.prog_test_run(fd, PKT)
        with pinned(pin_dir, "maps/hash_prealloc") as fd:
            assert syscalls.map_info(fd).max_entries == 128
            assert syscalls.map_lookup(fd, u64(7), 4) == u32(42)
        # A rollback reads no object: no loader, only the kept version's
        # maps compared and entries copied back, links moved.
        rollback = run_path("collection", name="paths", pin_root=pin_dir, state="rolled_back")
        assert rollback["action"] == "rollback"
        check(rollback, ROLLBACK)
        with pinned(pin_dir, "maps/hash_prealloc") as fd:
            assert syscalls.map_info(fd).max_entries == 32768
            assert syscalls.map_lookup(fd, u64(7), 4) == u32(42)
    finally:
        converge(Desired("paths", pin_dir, state="absent"))
    try:
        core = run_path("collection", name="paths", pin_root=pin_dir, path=bpf_build.path("core_kinds"),
                        programs=["core_guarded"])
        assert core["action"] == "create"
        check(core, CORE)
    finally:
        converge(Desired("paths", pin_dir, state="absent"))


def test_bpf_map_entries_path_imports_no_loader(bpf_build, pin_dir):
    converge(Desired("paths", pin_dir, path=bpf_build.path("maps")))
    try:
        written = run_path("map", pin_root=pin_dir, ref="paths/array", entries=[{"key": 1, "value": 2}])
        assert written["action"] is True
        check(written, ENTRIES)
    finally:
        converge(Desired("paths", pin_dir, state="absent"))
