# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules do on a hostile or broken host: symlinks planted among
the pins, a non-root user, a read-only bpffs, a full /run, and several
collections deployed at once. Each failure is a clear message and
changes nothing; nothing outside the pin root is touched."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import threading

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import converge_entries
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from playbook_runner import COLLECTIONS, playbooks_at_once

CONVERGE = """
import json, sys
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
try:
    r = converge(Desired(sys.argv[1], sys.argv[2], path=sys.argv[3]))
    print(json.dumps({"changed": r["changed"]}))
except LoaderError as e:
    print(json.dumps({"error": str(e), "hint": e.hint}))
"""


def converge_in(cmd_prefix, name, pin_root, obj):
    """Run a converge in a child process started through ``cmd_prefix``
    (setpriv, unshare ...); returns its JSON answer."""
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run(cmd_prefix + [sys.executable, "-c", CONVERGE, name, pin_root, obj], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                          check=False)
    assert proc.stdout.strip(), proc
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def maps_o(bpf_build):
    return bpf_build.path("maps.o")


@pytest.fixture
def foreign(pin_dir):
    """Another tool's map, pinned beside our pin root, with one entry."""
    os.makedirs(pin_dir + "_other", 0o700)
    fd = syscalls.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 4, 8, name="foreign")
    syscalls.map_update(fd, b"\1\0\0\0", b"\7\0\0\0")
    path = os.path.join(pin_dir + "_other", "table")
    syscalls.obj_pin(fd, path)
    yield path, fd
    os.close(fd)
    os.unlink(path)
    os.rmdir(pin_dir + "_other")


def test_planted_symlinks_are_never_followed_and_are_repaired(pin_dir, maps_o, foreign):
    path, fd = foreign
    converge(Desired("c", pin_dir, path=maps_o))
    live = os.path.join(pin_dir, "c")
    os.symlink(path, os.path.join(live, "maps", "table"))
    if not os.path.isdir(os.path.join(live, "links")):
        os.mkdir(os.path.join(live, "links"), 0o700)
    os.symlink(path, os.path.join(live, "links", "hijack"))   # carry_links must not re-point it
    r = converge(Desired("c", pin_dir, path=maps_o))
    assert r["changed"] and any("symbolic link" in reason for reason in r["reasons"]), r["reasons"]
    # Ours again, without the symlinks; theirs untouched, entry and all.
    assert not os.path.lexists(os.path.join(live, "maps", "table"))
    assert not os.path.lexists(os.path.join(live, "links", "hijack"))
    assert syscalls.map_lookup(fd, b"\1\0\0\0", 4) == b"\7\0\0\0" and os.path.exists(path)
    assert converge(Desired("c", pin_dir, path=maps_o))["changed"] is False
    # A symlinked maps directory: not read, repaired.
    maps_dir = os.path.join(live, "maps")
    for name in os.listdir(maps_dir):
        os.unlink(os.path.join(maps_dir, name))
    os.rmdir(maps_dir)
    os.symlink(os.path.dirname(path), maps_dir)
    r = converge(Desired("c", pin_dir, path=maps_o))
    assert r["changed"] and not os.path.islink(maps_dir) and os.path.exists(path)
    converge(Desired("c", pin_dir, state="absent"))
    assert os.path.exists(path)


def test_map_entries_refuse_a_symlinked_map(pin_dir, foreign):
    path, _fd = foreign
    os.makedirs(pin_dir, 0o700)
    link = os.path.join(pin_dir, "alias")
    os.symlink(path, link)
    with pytest.raises(LoaderError, match="symbolic link, not a pin"):
        converge_entries(pin_dir, link, [{"key": 1, "value": 9}])
    os.unlink(link)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "/abs", "x.y", ""])
def test_names_cannot_escape_the_pin_root(pin_dir, maps_o, name):
    with pytest.raises(LoaderError):
        converge(Desired(name, pin_dir, path=maps_o))
    assert not os.path.exists(pin_dir)
    assert not os.path.exists(os.path.join(os.path.dirname(pin_dir), "escape"))


def test_pin_root_through_a_symlink_is_refused(pin_dir, maps_o, tmp_path):
    os.makedirs(pin_dir + "_real", 0o700)
    os.symlink(pin_dir + "_real", pin_dir)
    try:
        with pytest.raises(LoaderError, match="symlink"):
            converge(Desired("c", pin_dir, path=maps_o))
        assert os.listdir(pin_dir + "_real") == []
    finally:
        os.unlink(pin_dir)
        os.rmdir(pin_dir + "_real")


def test_non_root_gets_a_clear_message(pin_dir, maps_o):
    answer = converge_in(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"],
                         "c", pin_dir, maps_o)
    assert "needs root (or CAP_BPF or CAP_SYS_ADMIN)" in answer["error"] and "uid 65534" in answer["error"]
    assert "become" in answer["hint"]
    assert not os.path.exists(pin_dir)


def test_read_only_bpffs_fails_clearly_and_keeps_the_live_version(pin_dir, maps_o):
    converge(Desired("c", pin_dir, path=maps_o))
    before = sorted(os.listdir(os.path.join(pin_dir, "c", "maps")))
    ro = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
          "mount --bind /sys/fs/bpf /sys/fs/bpf && mount -o remount,bind,ro /sys/fs/bpf && exec \"$0\" \"$@\""]
    # A change forces a replace, which must write.
    maps_changed = [sys.executable, "-c", CONVERGE.replace(
        "path=sys.argv[3])", "path=sys.argv[3], maps={'hash_prealloc': {'max_entries': 64}})")]
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run(ro + maps_changed + ["c", pin_dir, maps_o], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False)
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "Read-only file system" in answer["error"], answer
    assert "mounted read-only" in answer["hint"]
    assert sorted(os.listdir(os.path.join(pin_dir, "c", "maps"))) == before
    assert converge(Desired("c", pin_dir, path=maps_o))["changed"] is False
    converge(Desired("c", pin_dir, state="absent"))


def test_full_run_degrades_to_no_cache_with_a_warning(tmp_path, pin_dir, bpf_build):
    """/run/ebpf_deploy full: CO-RE loads go on without the BTF cache and
    src objects are sent per task, each said in a warning."""
    play = tmp_path / "play.yml"
    core = bpf_build.path("core_kinds.o")
    play.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                 "vars": {"ansible_python_interpreter": sys.executable},
                                 "tasks": [{"ebpf.deploy.bpf_collection": {"name": n, "src": core,
                                                                           "pin_root": pin_dir},
                                            "register": "r_" + n} for n in ("c1", "c2")] + [
                                     {"ansible.builtin.copy": {"content": "{{ [r_c1, r_c2] | to_json }}",
                                                               "dest": str(tmp_path / "out.json"),
                                                               "mode": "0600"}}]}]))
    script = ("mkdir -p /run/ebpf_deploy && mount -t tmpfs -o size=4k tmpfs /run/ebpf_deploy && "
              "head -c 4096 /dev/zero > /run/ebpf_deploy/filler 2>/dev/null; "
              "exec %s -i localhost, %s" % (os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                                            play))
    from playbook_runner import ansible_env
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout
    first, second = json.loads((tmp_path / "out.json").read_text())
    for r in (first, second):
        assert r["changed"] and r["btf_cache"]["status"] == "bypassed"
        assert any("BTF cache not used" in w for w in r["warnings"]), r["warnings"]
        assert any("cannot keep" in w for w in r["warnings"]), r["warnings"]
        assert r["src_sent"] is True     # nothing kept, so sent again
    for name in ("c1", "c2"):
        converge(Desired(name, pin_dir, state="absent"))


def test_several_collections_at_once(pin_dir, bpf_build):
    """Four collections deployed in parallel on one host, then all replaced
    in parallel: each ends complete and correct."""
    objects = {"maps": "maps.o", "globals": "globals.o", "subprog": "subprog.o", "cfg": "config_maps.o"}
    errors = []

    def deploy(name, obj, **kw):
        try:
            converge(Desired(name, pin_dir, path=bpf_build.path(obj), **kw))
        except Exception as e:  # collected and reported below
            errors.append((name, e))

    for kw in ({}, {"prealloc": False}):
        threads = [threading.Thread(target=deploy, args=(n, o), kwargs=kw) for n, o in objects.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for name in objects:
            assert converge(Desired(name, pin_dir, path=bpf_build.path(objects[name]), **kw))["changed"] is False
    # Each replaced version is kept beside its collection (keep_versions: 1),
    # and maps.o pins 'pinned_by_name' by name: it lives under pin_root/shared.
    assert sorted(os.listdir(pin_dir)) == sorted(list(objects) + [n + "__kept" for n in objects] + ["shared"])
    for name in objects:
        converge(Desired(name, pin_dir, state="absent"))


def test_two_playbooks_deploying_different_collections_at_once(tmp_path, pin_dir, bpf_build):
    results = playbooks_at_once(tmp_path, dict(
        (name, [{"ebpf.deploy.bpf_collection": {"name": name, "pin_root": pin_dir, "src": bpf_build.path(obj)}}])
        for name, obj in (("one", "maps.o"), ("two", "globals.o"))))
    for name in ("one", "two"):
        proc, (r,) = results[name]
        assert r["changed"] and not r.get("failed"), proc.stdout
        converge(Desired(name, pin_dir, state="absent"))
