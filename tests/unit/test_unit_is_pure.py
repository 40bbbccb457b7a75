# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of tests/unit/conftest.py fail a unit test that needs root, bpf(), bpffs or clang;
and no unit test imports what only integration tests may use."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import builtins
import os
import subprocess
import types

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from unit import conftest

UNIT = os.path.dirname(os.path.abspath(__file__))
INTEGRATION_ONLY = ("kernel_helpers", "playbook_runner", "conftest")


def refused(purity, call, *args):
    with pytest.raises(pytest.fail.Exception) as info:
        call(*args)
    assert purity.violations, "the call was not recorded"
    del purity.violations[:]  # this test did it on purpose
    return str(info.value)


@pytest.mark.parametrize("argv", [["clang", "--version"], ["/usr/bin/clang-16", "-v"], ["make", "-C", "tests/bpf"],
                                  ["mount", "-t", "tmpfs", "tmpfs", "/mnt"], "sudo true"])
def test_running_the_toolchain_or_root_tools_fails(unit_purity, argv):
    assert "belongs in tests/integration/" in refused(unit_purity, subprocess.run, argv)


def test_other_programs_run():
    assert subprocess.run(["true"], check=False).returncode == 0
    assert conftest.impure_program(["makedumpfile"]) is None and conftest.impure_program(["llvm-readelf"]) is None


def test_bpf_through_the_loader_fails(unit_purity):
    assert "calls bpf()" in refused(unit_purity, syscalls.map_create, uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 1)


@pytest.mark.parametrize("module, name", [(builtins, "open"), (os, "open"), (os, "mkdir")])
def test_touching_bpffs_fails(unit_purity, module, name):
    call = getattr(module, name)  # now, as the guard has replaced it
    # In a directory that does not exist: were the guard broken, nothing would be created.
    path = "/sys/fs/bpf/ebpf-deploy-unit-absent/x"
    args = (path, os.O_RDONLY) if module is os and name == "open" else (path,)
    assert path in refused(unit_purity, call, *args)


def test_a_swallowed_failure_still_fails_at_teardown():
    purity = conftest.Purity()
    try:
        purity.refuse("runs clang")
    except BaseException:  # pylint: disable=broad-except
        pass  # what a careless caller might do
    assert purity.violations == ["runs clang"]


@pytest.mark.parametrize("fixtures, marker, message", [
    (["tmp_path", "bpf_build"], None, "uses the fixture bpf_build"),
    (["pin_dir", "pin_root"], None, "uses the fixture pin_root"),
    (["tmp_path"], "kernel", "is marked kernel"),
])
def test_kernel_fixtures_and_marker_fail_before_setup(fixtures, marker, message):
    item = types.SimpleNamespace(path=os.path.join(UNIT, "test_x.py"), fixturenames=fixtures,
                                 get_closest_marker=lambda name: name if name == marker else None)
    with pytest.raises(pytest.fail.Exception, match=message):
        conftest.pytest_runtest_setup(item)
    conftest.pytest_runtest_setup(types.SimpleNamespace(path="/elsewhere/tests/integration/test_x.py",
                                                        fixturenames=fixtures, get_closest_marker=item.get_closest_marker))


def unit_sources():
    for top, _dirs, files in os.walk(UNIT):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(top, name)


def test_no_unit_test_imports_integration_helpers():
    found = []
    for path in unit_sources():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += ["%s imports %s" % (os.path.relpath(path, UNIT), n) for n in names
                      if n.split(".")[0] in INTEGRATION_ONLY]
    assert not found, found
