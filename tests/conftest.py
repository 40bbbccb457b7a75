# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: import path, the built test objects, the cilium/ebpf
corpus, pin directories on bpffs, and skipping kernel tests where bpf()
cannot be used.

Everything under tests/integration/ talks to the running kernel and is
skipped, with the reason, when not root, when bpf() is unavailable, or
(for pins) when bpffs is not mounted on /sys/fs/bpf.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import secrets
import shutil
import subprocess
import sys

import pytest

from import_path import setup_import_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPF_SRC = os.path.join(REPO, "tests", "bpf")
BPF_BUILD = os.path.join(BPF_SRC, "build")
CORPUS = os.path.normpath(os.path.join(REPO, "..", "shared", "corpus"))
INTEGRATION = os.path.join(REPO, "tests", "integration")
BPFFS = "/sys/fs/bpf"
PIN_PREFIX = "ebpf-deploy-test-"


setup_import_path()


# ---------------------------------------------------------------- skipping

_kernel_reason = []


def kernel_skip_reason():
    """Why kernel tests cannot run here, or None. Computed once."""
    if _kernel_reason:
        return _kernel_reason[0]
    reason = None
    if not sys.platform.startswith("linux"):
        reason = "needs Linux (bpf() system call)"
    elif os.geteuid() != 0:
        reason = "needs root for bpf(), bpffs and prog test runs (run with sudo)"
    else:
        try:
            from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
            from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
        except ImportError:
            # Not a reason to skip: let the tests fail on the import.
            reason = None
        else:
            try:
                fd = syscalls.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 1, name="probe")
            except Exception as e:  # SyscallError, or ctypes failing on an odd platform
                reason = "bpf() is not usable here: %s" % e
            else:
                os.close(fd)
    _kernel_reason.append(reason)
    return reason


def bpffs_mounted(path=BPFFS):
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == path and fields[2] == "bpf":
                    return True
    except (IOError, OSError):
        pass
    return False


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: needs root and a working bpf() (tests/integration)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = os.path.abspath(str(getattr(item, "path", item.fspath)))
        if path.startswith(INTEGRATION + os.sep):
            item.add_marker(pytest.mark.kernel)
    if not any(item.get_closest_marker("kernel") for item in items):
        return
    reason = kernel_skip_reason()
    if reason:
        for item in items:
            if item.get_closest_marker("kernel"):
                item.add_marker(pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------- objects

class BPFBuild:
    """The result of ``make -C tests/bpf``: ``path(name)`` gives the built
    object, failing the test with make's output when it is missing."""

    def __init__(self, directory, log):
        self.dir = directory
        self.log = log

    def path(self, name):
        if not name.endswith(".o"):
            name += ".o"
        p = os.path.join(self.dir, name)
        if not os.path.isfile(p):
            pytest.fail("tests/bpf/build/%s was not built; make said:\n%s" % (name, self.log or "(nothing)"))
        return p

    def objects(self):
        return sorted(f for f in os.listdir(self.dir) if f.endswith(".o")) if os.path.isdir(self.dir) else []


@pytest.fixture(scope="session")
def bpf_build():
    """Build tests/bpf once per session (``make -s -C tests/bpf``) and
    return a BPFBuild. Without make/clang, the objects already built are
    used; with none at all, the test is skipped."""
    log = ""
    if shutil.which("make") and shutil.which("clang"):
        # -k: one source that does not build must not hide the others.
        proc = subprocess.run(["make", "-s", "-k", "-C", BPF_SRC], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        log = proc.stdout
        if proc.returncode != 0 and not os.path.isdir(BPF_BUILD):
            pytest.fail("make -C tests/bpf failed:\n%s" % log)
    elif not os.path.isdir(BPF_BUILD):
        pytest.skip("tests/bpf is not built and make/clang are missing (apt-get install make clang)")
    return BPFBuild(BPF_BUILD, log)


@pytest.fixture(scope="session")
def corpus_dir():
    """../shared/corpus (objects built by cilium/ebpf); skip when absent."""
    if not os.path.isdir(CORPUS):
        pytest.skip("corpus of cilium/ebpf objects not found at %s" % CORPUS)
    return CORPUS


# ---------------------------------------------------------------- pins

def remove_tree(path):
    """Remove a bpffs directory tree: unlink pins, rmdir directories.
    Returns the paths that were there (for reporting)."""
    found = []
    if not os.path.lexists(path):
        return found
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return [path]
    for top, dirs, files in os.walk(path, topdown=False):
        for name in files:
            p = os.path.join(top, name)
            found.append(p)
            os.unlink(p)
        for name in dirs:
            p = os.path.join(top, name)
            if os.path.islink(p):
                os.unlink(p)
            else:
                os.rmdir(p)
    os.rmdir(path)
    return found


_SESSION_ROOTS = []


class PinRoot:
    """/sys/fs/bpf/ebpf-deploy-test-<random>/ for this session; ``new(label)``
    names a fresh (not yet created) directory inside it."""

    def __init__(self):
        self.path = os.path.join(BPFFS, PIN_PREFIX + secrets.token_hex(4))
        self._used = set()

    def new(self, label):
        # bpffs refuses '.' in names; keep the rest readable.
        base = re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_")[:80] or "pins"
        name, n = base, 1
        while name in self._used:
            n += 1
            name = "%s_%d" % (base, n)
        self._used.add(name)
        return os.path.join(self.path, name)

    @staticmethod
    def remove(path):
        return remove_tree(path)


@pytest.fixture(scope="session")
def pin_root():
    reason = kernel_skip_reason()
    if reason:
        pytest.skip(reason)
    if not bpffs_mounted():
        pytest.skip("bpffs is not mounted on %s (mount -t bpf bpf %s)" % (BPFFS, BPFFS))
    default_root = os.path.join(BPFFS, "ebpf_deploy")
    default_existed = os.path.lexists(default_root)
    root = PinRoot()
    os.mkdir(root.path, 0o700)
    _SESSION_ROOTS.append(root.path)
    yield root
    # Each pin_dir is cleaned after its test, so anything here now was
    # left by a module-scoped fixture or a test that escaped its pin_dir.
    leftovers = remove_tree(root.path)
    assert not leftovers, "pins left in %s at the end of the session: %s" % (root.path, leftovers)
    assert default_existed or not os.path.lexists(default_root), (
        "a test pinned under the loader's default root %s" % default_root)


@pytest.fixture
def pin_dir(pin_root, request):
    """A unique, not yet existing directory under
    /sys/fs/bpf/ebpf-deploy-test-<random>/; removed (pins and
    directories) after the test."""
    path = pin_root.new(request.node.name)
    yield path
    remove_tree(path)


def pytest_sessionfinish(session, exitstatus):
    # Belt and braces (e.g. an interrupted run): this session's directory
    # only; other pytest runs may be using theirs right now.
    for path in _SESSION_ROOTS:
        try:
            remove_tree(path)
        except OSError:
            pass
