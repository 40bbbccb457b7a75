# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memlock_budget: a load or upgrade predicted to lock more fails before
anything is created, in check mode too, and leaves what is live alone."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from playbook_runner import run_playbook, run_role


def total(fact):
    """What a budget counts: the collection's own figure and the maps it
    shares with other collections (maps.o pins one by name), which its
    programs need as much."""
    return fact["after"] + fact.get("shared", {}).get("after", 0)


def test_a_load_over_budget_creates_nothing(bpf_build, pin_dir):
    path = bpf_build.path("maps")
    predicted = converge(Desired("b", pin_dir, path=path), check_mode=True)["bpf_memlock"]
    for check_mode in (True, False):
        with pytest.raises(LoaderError) as e:
            converge(Desired("b", pin_dir, path=path, memlock_budget=total(predicted) - 1), check_mode=check_mode)
        assert not os.path.exists(pin_dir)
        biggest = max(predicted["maps"].items(), key=lambda kv: kv[1]["after"])
        assert str(e.value).startswith("collection 'b' would lock %d bytes (maps " % total(predicted)), str(e.value)
        assert "largest maps: %s %d" % (biggest[0], biggest[1]["after"]) in str(e.value)
        assert str(e.value).endswith("over its memlock_budget of %d bytes; nothing was changed"
                                     % (total(predicted) - 1))
        assert "prealloc" in e.value.hint
    # Exactly the prediction fits.
    loaded = converge(Desired("b", pin_dir, path=path, memlock_budget=total(predicted)))
    try:
        assert loaded["changed"] and total(loaded["bpf_memlock"]) == total(predicted)
    finally:
        converge(Desired("b", pin_dir, state="absent"))


def test_an_upgrade_over_budget_leaves_the_live_version(bpf_build, pin_dir):
    path = bpf_build.path("maps")
    first = converge(Desired("b", pin_dir, path=path, memlock_budget="64M", facts="full"))
    try:
        bigger = {"hash_prealloc": {"max_entries": 65536}}
        with pytest.raises(LoaderError) as e:
            converge(Desired("b", pin_dir, path=path, maps=bigger, memlock_budget=first["bpf_memlock"]["after"]))
        assert "would lock" in str(e.value) and "largest maps: hash_prealloc" in str(e.value), str(e.value)
        again = converge(Desired("b", pin_dir, path=path, facts="full", memlock_budget="64M"))
        assert again["action"] == "none", again
        assert [(m["name"], m["id"], m["max_entries"]) for m in again["maps"]] == \
            [(m["name"], m["id"], m["max_entries"]) for m in first["maps"]]
        # A budget is not part of the deployed state: changing it alone changes nothing,
        # and a live collection above it is told so.
        tight = converge(Desired("b", pin_dir, path=path, memlock_budget=1024))
        assert tight["action"] == "none" and not tight["changed"]
        assert [w for w in tight["warnings"] if "over its memlock_budget of 1024 bytes" in w
                and w.startswith("collection 'b' locks ")], tight["warnings"]
    finally:
        converge(Desired("b", pin_dir, state="absent"))


@pytest.mark.parametrize("value,expected", [(4096, 4096), ("4096", 4096), ("64M", 64 << 20), ("512K", 512 << 10),
                                            ("1G", 1 << 30), ("1.5M", 3 << 19), (None, None)])
def test_budget_units(value, expected):
    assert Desired("b", "/sys/fs/bpf/x", memlock_budget=value).memlock_budget == expected


@pytest.mark.parametrize("value", ["12 parsecs", "64MiB", True, -1, [1]])
def test_bad_budgets_are_named(value):
    with pytest.raises(SpecError) as e:
        Desired("b", "/sys/fs/bpf/x", memlock_budget=value)
    assert str(e.value).startswith("memlock_budget %r: " % (value,)), str(e.value)


def test_module_refuses_over_budget_without_a_traceback(tmp_path, pin_dir, bpf_build):
    proc, (r,) = run_playbook(tmp_path, [{"ebpf.deploy.bpf_collection": {
        "name": "b", "path": bpf_build.path("maps"), "pin_root": pin_dir, "memlock_budget": "4K"}}])
    assert r["failed"] and "over its memlock_budget of 4096 bytes; nothing was changed" in r["msg"], r
    assert "Traceback" not in proc.stdout and "hint" in r
    assert not os.path.exists(pin_dir)


def test_host_budget_counts_every_collection_before_changing_anything(tmp_path, pin_dir, bpf_build):
    one = {"name": "one", "path": bpf_build.path("maps")}
    two = {"name": "two", "path": bpf_build.path("config_maps")}
    alone = converge(Desired("one", pin_dir, path=one["path"]), check_mode=True)["bpf_memlock"]["after"]
    proc = run_role(tmp_path, pin_dir, [one], "64M")
    try:
        assert proc.returncode == 0, proc.stdout
        assert os.path.isdir(os.path.join(pin_dir, "one"))
        # "one" fits by itself; with "two" the host's sum is over: nothing of "two" is made.
        for check in (True, False):
            proc = run_role(tmp_path, pin_dir, [one, two], str(alone), check=check)
            assert proc.returncode != 0, proc.stdout
            assert "over the host's bpf_deploy_memlock_budget of %d bytes" % alone in proc.stdout, proc.stdout
            assert '"one": %d' % alone in proc.stdout and '"two": ' in proc.stdout, proc.stdout
            assert not os.path.exists(os.path.join(pin_dir, "two"))
        proc = run_role(tmp_path, pin_dir, [one, two], "64M")
        assert proc.returncode == 0, proc.stdout
        assert os.path.isdir(os.path.join(pin_dir, "two"))
    finally:
        run_role(tmp_path, pin_dir, [one, two], "", state="absent")
    assert not os.path.exists(pin_dir)
