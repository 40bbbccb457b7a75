# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests are pure: no root, no bpf(), no bpffs, no clang or make.

What needs those is an integration test (tests/integration/). Here, a unit test fails when it

- asks for a fixture of tests/conftest.py that builds or pins (``bpf_build``, ``pin_root``,
  ``pin_dir``) or carries the ``kernel`` marker (checked before its fixtures are set up);
- runs clang, llc, make, mount, umount or sudo, calls bpf() through the loader, or opens or
  creates anything under /sys/fs/bpf (checked while it runs, by the autouse ``unit_purity``).

tests/unit/test_unit_is_pure.py checks that these checks do fail.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import builtins
import os
import subprocess

import pytest

UNIT = os.path.dirname(os.path.abspath(__file__))
IMPURE_FIXTURES = ("bpf_build", "pin_root", "pin_dir")
IMPURE_PROGRAMS = ("clang", "llc", "make", "mount", "umount", "sudo")
BPFFS = "/sys/fs/bpf"


def in_unit(item):
    path = os.path.abspath(str(getattr(item, "path", None) or item.fspath))
    return path.startswith(UNIT + os.sep)


def impure_fixtures(fixturenames):
    """The fixtures in ``fixturenames`` a unit test may not use."""
    return [name for name in fixturenames if name in IMPURE_FIXTURES]


def impure_program(args):
    """The program of a subprocess argument list (or command string) a unit test may not run, or None."""
    if isinstance(args, (str, bytes)):
        args = args.split()
    if not args:
        return None
    name = os.path.basename(os.fsdecode(args[0]))
    for program in IMPURE_PROGRAMS:
        if name == program or name.startswith(program + "-"):  # clang-16, llc-14
            return name
    return None


def under_bpffs(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:  # a file descriptor
        return False
    return path == BPFFS or path.startswith(BPFFS + os.sep)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # tryfirst: before the fixtures are set up (a bpf_build would run make).
    if not in_unit(item):
        return
    reasons = ["uses the fixture %s" % name for name in impure_fixtures(item.fixturenames)]
    if item.get_closest_marker("kernel"):
        reasons.append("is marked kernel")
    if reasons:
        pytest.fail("a unit test %s: it belongs in tests/integration/" % ", ".join(reasons), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item.unit_call_failed = outcome.get_result().failed


class Purity:
    """What a unit test did that it may not; ``refuse`` fails the test at once and records it, so a
    caller that swallows the failure does not hide it (the fixture fails at teardown)."""

    def __init__(self):
        self.violations = []

    def refuse(self, what):
        self.violations.append(what)
        pytest.fail("a unit test %s: it belongs in tests/integration/" % what, pytrace=False)


@pytest.fixture(autouse=True)
def unit_purity(request):
    purity = Purity()
    monkeypatch = pytest.MonkeyPatch()
    real_popen_init = subprocess.Popen.__init__
    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def popen_init(self, args, *a, **kw):
        program = impure_program(args)
        if program:
            purity.refuse("runs %s" % program)
        real_popen_init(self, args, *a, **kw)

    def checked(real, verb):
        def call(path, *a, **kw):
            if under_bpffs(path):
                purity.refuse("%s %s" % (verb, path))
            return real(path, *a, **kw)
        return call

    def no_bpf(cmd, *a, **kw):
        purity.refuse("calls bpf() (command %s)" % cmd)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)
    monkeypatch.setattr(builtins, "open", checked(real_open, "opens"))
    monkeypatch.setattr(os, "open", checked(real_os_open, "opens"))
    monkeypatch.setattr(os, "mkdir", checked(real_mkdir, "creates"))
    from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
    monkeypatch.setattr(syscalls, "bpf", no_bpf)
    yield purity
    monkeypatch.undo()
    if purity.violations and not getattr(request.node, "unit_call_failed", False):
        pytest.fail("a unit test %s (the failure was caught, not the deed)" % "; ".join(purity.violations),
                    pytrace=False)
