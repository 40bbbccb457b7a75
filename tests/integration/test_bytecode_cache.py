# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-side bytecode cache of module_utils (module_utils/bytecode_cache.py).

Each case runs a fresh interpreter that imports module_utils from a zip,
as AnsiballZ does, with the cache in a private directory of the test; it
counts the calls of ``compile`` (how we know the cache was used) and
checks the imported code works. Then a real task through ansible-playbook
fills the real directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import zipfile

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache

from playbook_runner import run_playbook

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_DIR = "ansible_collections/ebpf/deploy/plugins/module_utils"

CHILD = r"""
import builtins, json, os, sys
cache_dir, zip_path = sys.argv[1], sys.argv[2]
sys.path = [zip_path] + [p for p in sys.path if "ansible_collections" not in p and p != %(repo)r]
compiled = []
real_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    compiled.append(filename)
    return real_compile(source, filename, *args, **kwargs)
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache
# Importing it put the hook on for the real directory: this run's is the test's.
sys.meta_path[:] = [h for h in sys.meta_path if not isinstance(h, bytecode_cache.CacheFinder)]
hook = bytecode_cache.install(cache_dir)
builtins.compile = counting_compile
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.btf.strings import StringTable
builtins.compile = real_compile
print(json.dumps({
    "hook": hook is not None,
    "compiled": sorted(f for f in compiled if f.startswith(%(pkg)r)),
    "loader": type(uapi.__loader__).__name__,
    "works": uapi.BPF_MAP_TYPE_HASH == 1 and StringTable(b"\0a\0").get(1) == "a",
    "file": uapi.__file__,
}))
""" % {"repo": REPO, "pkg": PKG_DIR}

IMPORTED = ["kernel", "kernel/uapi", "btf", "btf/strings", "errors"]


def make_zip(path, replace=None):
    """module_utils of this checkout in a zip at ``path``, laid out as
    AnsiballZ ships it (empty __init__ files above module_utils);
    ``replace`` maps a file inside module_utils to other source."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for part in ("ansible_collections", "ansible_collections/ebpf", "ansible_collections/ebpf/deploy",
                     "ansible_collections/ebpf/deploy/plugins", PKG_DIR):
            z.writestr(part + "/__init__.py", "")
        root = os.path.join(REPO, "plugins", "module_utils")
        for top, _dirs, files in os.walk(root):
            for name in files:
                if not name.endswith(".py") or (top == root and name == "__init__.py"):
                    continue
                rel = os.path.relpath(os.path.join(top, name), root).replace(os.sep, "/")
                with open(os.path.join(top, name)) as f:
                    source = f.read()
                z.writestr(PKG_DIR + "/" + rel, (replace or {}).get(rel, source))
    return path


def child(cache_dir, zip_path, **env):
    out = subprocess.run([sys.executable, "-c", CHILD, str(cache_dir), str(zip_path)],
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **env), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def compiled(result):
    return [f[len(PKG_DIR) + 1:-len(".py")].replace("/__init__", "") for f in result["compiled"]]


@pytest.fixture
def cache(tmp_path):
    os.chmod(str(tmp_path), 0o700)
    return tmp_path / "bytecode"


@pytest.fixture
def payload(tmp_path):
    return make_zip(str(tmp_path / "payload.zip"))


def test_the_second_task_compiles_nothing(cache, payload):
    first = child(cache, payload)
    assert first["hook"] and first["works"] and first["loader"] == "CachedLoader"
    assert sorted(compiled(first)) == sorted(IMPORTED)
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    files = sorted(os.listdir(str(cache)))
    assert len(files) == len(IMPORTED)
    assert all(oct((cache / f).stat().st_mode & 0o777) == "0o600" for f in files)
    second = child(cache, payload)
    assert second["works"] and compiled(second) == []
    assert sorted(os.listdir(str(cache))) == files


def test_a_new_version_is_compiled_and_replaces_the_old_one(cache, payload, tmp_path):
    child(cache, payload)
    old = sorted(f for f in os.listdir(str(cache)) if f.startswith("kernel.uapi."))
    with open(os.path.join(REPO, "plugins", "module_utils", "kernel", "uapi.py")) as f:
        changed = f.read() + "\nNEW_IN_THIS_VERSION = 1\n"
    newer = make_zip(str(tmp_path / "newer.zip"), {"kernel/uapi.py": changed})
    result = child(cache, newer)
    assert compiled(result) == ["kernel/uapi"]
    now = sorted(f for f in os.listdir(str(cache)) if f.startswith("kernel.uapi."))
    assert len(old) == len(now) == 1 and old != now


@pytest.mark.parametrize("spoil", ["group-readable", "symlink", "wrong digest", "corrupt", "truncated"])
def test_an_untrusted_or_broken_file_is_not_run(cache, payload, tmp_path, spoil):
    child(cache, payload)
    name = [f for f in os.listdir(str(cache)) if f.startswith("kernel.uapi.")][0]
    path = cache / name
    data = path.read_bytes()
    if spoil == "group-readable":
        os.chmod(str(path), 0o640)
    elif spoil == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(data)
        os.chmod(str(target), 0o600)
        path.unlink()
        path.symlink_to(target)
    elif spoil == "wrong digest":
        cut = len(bytecode_cache._HEADER) + 4
        path.write_bytes(data[:cut] + bytes(32) + data[cut + 32:])
    elif spoil == "corrupt":
        cut = len(bytecode_cache._HEADER) + 4 + 32
        path.write_bytes(data[:cut] + b"\xff" * 16)
    else:
        path.write_bytes(data[:len(data) // 2])
    result = child(cache, payload)
    assert result["works"] and compiled(result) == ["kernel/uapi"]


def test_a_directory_others_can_write_is_not_used(cache, payload):
    cache.mkdir(mode=0o700)
    os.chmod(str(cache), 0o770)
    first = child(cache, payload)
    second = child(cache, payload)
    assert first["works"] and sorted(compiled(second)) == sorted(IMPORTED)
    assert os.listdir(str(cache)) == []


def test_switched_off_or_not_root_means_no_hook(cache, payload):
    off = child(cache, payload, EBPF_DEPLOY_BYTECODE_CACHE="off")
    assert off["works"] and not off["hook"] and off["loader"] != "CachedLoader"
    assert not cache.exists()
    nobody = subprocess.run(
        # Debian's interpreter: this one may live where nobody cannot read.
        ["/usr/bin/python3", "-I", "-c", "import os; os.setuid(65534); import sys; sys.path.insert(0, %r);"
         "from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache as b;"
         "print(b.install('/nonexistent/x') is None)" % os.path.join(REPO, ".venv", "collections")],
        stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert nobody.stdout.strip() == "True"


def test_a_task_through_ansible_fills_the_real_cache(tmp_path):
    """Two bpf_facts tasks: the first leaves a file for every module_utils
    module bpf_facts imports (and only those), the second reuses them."""
    proc, results = run_playbook(tmp_path, [{"ebpf.deploy.bpf_facts": {"gather_subset": ["host"]}}])
    assert proc.returncode == 0 and not results[0].get("failed"), proc.stdout
    kept = dict((f.split(".cpython")[0], os.stat(os.path.join(bytecode_cache.DIRECTORY, f)).st_mtime_ns)
                for f in os.listdir(bytecode_cache.DIRECTORY) if ".cpython" in f)
    assert {"deploy", "deploy.facts", "kernel", "kernel.syscalls", "errors"} <= set(kept)
    run_playbook(tmp_path, [{"ebpf.deploy.bpf_facts": {"gather_subset": ["host"]}}])
    again = dict((f.split(".cpython")[0], os.stat(os.path.join(bytecode_cache.DIRECTORY, f)).st_mtime_ns)
                 for f in os.listdir(bytecode_cache.DIRECTORY) if ".cpython" in f)
    assert {m: again[m] for m in kept} == kept, "the second task rewrote files: it compiled again"
