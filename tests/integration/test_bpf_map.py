# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_map: entries declared as plain values, encoded through the map's BTF,
checked by what a program that reads them does (BPF_PROG_TEST_RUN)."""

from __future__ import absolute_import, division, print_function

import os
import socket
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import converge_entries
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.host import possible_cpus
from playbook_runner import run_playbook

XDP_DROP, XDP_PASS = 1, 2


def packet(src, protocol=17):
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 0, 0, 64, protocol, 0, socket.inet_aton(src),
                     socket.inet_aton("10.9.9.9"))
    return eth + ip + b"\0" * 32


@pytest.fixture
def cfg(bpf_build, pin_dir):
    converge(Desired("cfg", pin_dir, path=os.path.join(bpf_build.dir, "config_maps.o")))
    prog = syscalls.obj_get(os.path.join(pin_dir, "cfg", "progs", "filter"))
    yield pin_dir, lambda src, proto=17: syscalls.prog_test_run(prog, packet(src, proto))[0]
    os.close(prog)
    converge(Desired("cfg", pin_dir, state="absent"))


def entries(pin_dir, name, items, **kw):
    return converge_entries(pin_dir, "cfg/" + name, items, **kw)


def test_lpm_trie_with_cidr_keys_and_struct_values(cfg):
    pin_dir, verdict = cfg
    rules = [{"key": "10.1.0.0/16", "value": {"verdict": "VERDICT_DROP", "enabled": 1, "label": "lab"}},
             {"key": "10.1.2.0/24", "value": {"verdict": "VERDICT_PASS", "enabled": 1, "port_be": 8080}}]
    r = entries(pin_dir, "networks", rules, key_format="cidr", value_format={"port_be": "be16"})
    assert r["changed"] and r["written"] == 2
    assert verdict("10.1.7.7") == XDP_DROP        # the /16
    assert verdict("10.1.2.3") == XDP_PASS        # the longer /24 wins
    assert verdict("10.2.0.1") == XDP_PASS        # no rule: default pass
    again = entries(pin_dir, "networks", rules, key_format="cidr", value_format={"port_be": "be16"})
    assert again["changed"] is False
    # The kernel's copy decodes back to what was declared.
    assert again["diff"] == {"before": {"entries": {}}, "after": {"entries": {}}}
    disabled = [dict(rules[0], value=dict(rules[0]["value"], enabled=0))]
    r = entries(pin_dir, "networks", disabled, key_format="cidr", exclusive=True)
    assert r["written"] == 1 and r["deleted"] == 1
    before, after = r["diff"]["before"]["entries"], r["diff"]["after"]["entries"]
    assert before["10.1.0.0/16"]["enabled"] == 1 and after["10.1.0.0/16"]["enabled"] == 0
    assert before["10.1.2.0/24"]["port_be"] == 36895  # 8080 read as a host-order u16
    assert verdict("10.1.7.7") == XDP_PASS


def test_hash_with_enum_values_and_absent(cfg):
    pin_dir, verdict = cfg
    assert verdict("10.3.0.1", proto=6) == XDP_PASS
    entries(pin_dir, "protocols", [{"key": 6, "value": "VERDICT_DROP"}, {"key": 17, "value": 2}])
    assert verdict("10.3.0.1", proto=6) == XDP_DROP
    r = entries(pin_dir, "protocols", [{"key": 6}], state="absent")
    assert r["deleted"] == 1 and verdict("10.3.0.1", proto=6) == XDP_PASS
    assert entries(pin_dir, "protocols", [{"key": 6}], state="absent")["changed"] is False


def test_array_default_and_check_mode(cfg):
    pin_dir, verdict = cfg
    r = entries(pin_dir, "default_verdict", [{"key": 0, "value": XDP_DROP}], check_mode=True)
    assert r["changed"] and verdict("10.4.0.1") == XDP_PASS
    entries(pin_dir, "default_verdict", [{"key": 0, "value": XDP_DROP}])
    assert verdict("10.4.0.1") == XDP_DROP


def test_per_cpu_values_one_or_per_cpu(cfg):
    pin_dir, verdict = cfg
    entries(pin_dir, "default_verdict", [{"key": 0, "value": XDP_DROP}])
    entries(pin_dir, "bypass", [{"key": 0, "value": 1}])   # the same on every CPU
    assert verdict("10.5.0.1") == XDP_PASS
    ncpus = possible_cpus()
    r = entries(pin_dir, "bypass", [{"key": 0, "value": [0] * ncpus}])
    assert r["changed"] and verdict("10.5.0.1") == XDP_DROP
    assert entries(pin_dir, "bypass", [{"key": 0, "value": 0}])["changed"] is False


@pytest.mark.parametrize("name, items, kw, words", [
    ("networks", [{"key": "10.0.0.0/8", "value": {"nope": 1}}], {"key_format": "cidr"}, ["no member 'nope'"]),
    ("networks", [{"key": "10.0.0.0/8", "value": {"flags": 9}}], {"key_format": "cidr"},
     ["member 'flags'", "3-bit"]),
    ("networks", [{"key": "300.0.0.0/8", "value": {}}], {"key_format": "cidr"}, ["entries[0]: key"]),
    ("protocols", [{"key": 256, "value": 1}], {}, ["entries[0]: key", "256"]),
    ("protocols", [{"key": 1, "value": "VERDICT_MAYBE"}], {}, ["not a value of enum verdict"]),
    ("protocols", [{"key": k, "value": 1} for k in range(5)], {}, ["full", "max_entries is 4", "1 do not fit"]),
    ("protocols", [{"key": 1, "value": 1}, {"key": 1, "value": 2}], {}, ["listed twice"]),
    ("default_verdict", [{"key": 3, "value": 1}], {}, ["beyond the array"]),
    ("no_such_map", [], {}, ["not pinned"]),
])
def test_bad_entries_name_entry_and_field_and_write_nothing(cfg, name, items, kw, words):
    pin_dir, verdict = cfg
    with pytest.raises(LoaderError) as info:
        entries(pin_dir, name, items, **kw)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert verdict("10.6.0.1", proto=1) == XDP_PASS  # nothing was written


def test_module_with_diff(tmp_path, cfg):
    pin_dir, verdict = cfg
    t = {"ebpf.deploy.bpf_map": {"map": "cfg/networks", "pin_root": pin_dir, "key_format": "cidr",
                                 "entries": [{"key": "10.7.0.0/16", "value": {"verdict": "VERDICT_DROP",
                                                                              "enabled": 1}}]}}
    proc, (check, real, again) = run_playbook(tmp_path, [dict(t, check_mode=True), t, t], diff=True)
    assert check["changed"] and real["changed"] and again["changed"] is False, proc.stdout
    assert "10.7.0.0/16" in proc.stdout and "VERDICT_DROP" in proc.stdout
    assert verdict("10.7.1.1") == XDP_DROP


def test_query_reads_back_what_the_kernel_holds(tmp_path, cfg):
    pin_dir, verdict = cfg
    rules = [{"key": "10.8.0.0/16", "value": {"verdict": "VERDICT_DROP", "enabled": 1, "label": "lab"}}]
    entries(pin_dir, "networks", rules, key_format="cidr")
    entries(pin_dir, "default_verdict", [{"key": 0, "value": XDP_DROP}])
    q = {"ebpf.deploy.bpf_map": {"map": "cfg/networks", "pin_root": pin_dir, "key_format": "cidr",
                                 "state": "query"}}
    arr = {"ebpf.deploy.bpf_map": {"map": "cfg/default_verdict", "pin_root": pin_dir, "state": "query"}}
    bad = {"ebpf.deploy.bpf_map": {"map": "cfg/networks", "pin_root": pin_dir, "state": "query",
                                   "entries": [{"key": 1}]}, "ignore_errors": True}
    proc, (nets, verdicts, refused) = run_playbook(tmp_path, [q, arr, bad])
    assert nets["changed"] is False and len(nets["contents"]) == 1, proc.stdout
    got = nets["contents"][0]
    assert got["key"] == "10.8.0.0/16"
    assert got["value"]["verdict"] == "VERDICT_DROP" and got["value"]["label"] == "lab"
    # Array: only the non-zero slot (the array has more slots, all zero).
    assert verdicts["contents"] == [{"key": 0, "value": XDP_DROP}]
    assert refused["failed"] and "must be empty with state=query" in refused["msg"]
