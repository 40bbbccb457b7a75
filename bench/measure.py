# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the load benchmarks share: one measured process (wall time from fork to exit, peak RSS
from wait4()), the loader's child script that also times bpf(), `bpftool prog loadall` as the
reference, and the pin directory they load into (removed after each load)."""

from __future__ import absolute_import, division, print_function

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PIN_BASE = "/sys/fs/bpf/ebpf_deploy_bench"

# The start of every child script: bpf() timed, the total in inside[0]. The
# bytecode cache first, as every module imports it (it acts only on imports
# from a zip: see ansiballz_env).
TIMED_BPF = r"""
import json, sys, time
from ansible_collections.ebpf.deploy.plugins.module_utils import bytecode_cache
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
inside = [0.0]
real_bpf = syscalls.bpf
def timed_bpf(*args, **kwargs):
    t = time.perf_counter()
    try:
        return real_bpf(*args, **kwargs)
    finally:
        inside[0] += time.perf_counter() - t
syscalls.bpf = timed_bpf
"""


def run(cmd, env=None):
    """(wall seconds, peak RSS bytes, stdout) of ``cmd``; RuntimeError when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), err.decode(errors="replace")[-2000:]))
    return wall, usage.ru_maxrss * 1024, out


def child_env():
    """Environment of a measured loader process: the collection importable
    and bytecode cached (an installed collection has its .pyc; inside
    AnsiballZ, modules compile on every run, which the module benchmark
    measures)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, ".venv", "collections")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def ansiballz_env(zip_path, bytecode_cache=True):
    """Environment of a measured loader process that imports module_utils
    from ``zip_path`` (made by ``module_utils_zip``), as a module under
    AnsiballZ does: Python keeps no bytecode for a zip, so without the
    collection's bytecode cache every import is compiled."""
    env = dict(os.environ, PYTHONPATH=zip_path, PYTHONDONTWRITEBYTECODE="1")
    env["EBPF_DEPLOY_BYTECODE_CACHE"] = "on" if bytecode_cache else "off"
    return env


def module_utils_zip(path):
    """A zip at ``path`` of this checkout's module_utils, laid out as
    AnsiballZ ships them (empty __init__ files above module_utils)."""
    inner = "ansible_collections/ebpf/deploy/plugins/module_utils"
    root = os.path.join(ROOT, "plugins", "module_utils")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for part in ("ansible_collections", "ansible_collections/ebpf", "ansible_collections/ebpf/deploy",
                     "ansible_collections/ebpf/deploy/plugins", inner):
            z.writestr(part + "/__init__.py", "")
        for top, _dirs, files in os.walk(root):
            for name in files:
                full = os.path.join(top, name)
                if name.endswith(".py") and full != os.path.join(root, "__init__.py"):
                    z.write(full, inner + "/" + os.path.relpath(full, root).replace(os.sep, "/"))
    return path


def unpin(path):
    if os.path.isdir(path):
        shutil.rmtree(path)


@contextlib.contextmanager
def child_script(body):
    """A temporary script of TIMED_BPF then ``body`` (which prints one JSON object); yields a
    function (object, pin directory, *arguments, env=child_env()) -> (wall seconds, peak RSS
    bytes, that object) that runs it in a fresh process and removes the pins."""
    default_env = child_env()
    child = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    child.write(TIMED_BPF + body)
    child.close()

    def measured(obj, pin, *args, **kwargs):
        env = kwargs.get("env") or default_env
        wall, rss, out = run([sys.executable, child.name, obj, pin] + list(args), env)
        unpin(pin)
        return wall, rss, json.loads(out)

    try:
        yield measured
    finally:
        os.unlink(child.name)


def bpftool_loadall(obj):
    """(wall seconds, peak RSS bytes) of `bpftool prog loadall` of ``obj`` under PIN_BASE; pins removed."""
    progs, maps = os.path.join(PIN_BASE, "bpftool_progs"), os.path.join(PIN_BASE, "bpftool_maps")
    wall, rss, _out = run(["bpftool", "prog", "loadall", obj, progs, "pinmaps", maps])
    unpin(progs)
    unpin(maps)
    return wall, rss


def write_results(path, results):
    """Write ``results`` as indented JSON to ``path`` when one is given (--json)."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
