# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kill -9 in the middle of a replace, at each step: the host holds the old
or the new collection, complete, with every map entry and its link; the
next run converges and says whether it changed anything."""

from __future__ import absolute_import, division, print_function

import hashlib
import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.observed import observe
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel.bpffs import CollectionPins

from kernel_helpers import converge_killed

# The steps an upgrade is killed at (the child dies at the Nth call of the function).
STEPS = [
    ("load_collection", 1, "before the new version is built"),
    ("create_state_map", 1, "after staging, before its state record"),
    ("map_update", 500, "half way through copying 1000 entries"),
    ("exchange", 1, "just before the swap"),
    ("carry_links", 1, "after the swap, before the link moved"),
    ("obj_pin", 1, "while pinning"),
    ("remove_tree", 2, "after the swap, while removing the old version"),
]


def entries_digest(pin):
    fd = syscalls.obj_get(pin)
    try:
        items = sorted((k, syscalls.map_lookup(fd, k, 4)) for k in syscalls.map_keys(fd, 8))
    finally:
        os.close(fd)
    return len(items), hashlib.sha256(repr(items).encode()).hexdigest()


@pytest.mark.parametrize("target, nth, when", STEPS, ids=[s[2] for s in STEPS])
def test_kill_during_replace(bpf_build, pin_dir, target, nth, when):
    obj = os.path.join(bpf_build.dir, "maps.o")
    old = dict(name="f", pin_root=pin_dir, path=obj)
    new = dict(old, maps={"hash_prealloc": {"max_entries": 50000}}, constants={})
    converge(Desired(**old))
    link_req = LinkRequest(pin_dir, "f", "fill_maps", "xdp", interface="lo", mode="skb")
    converge_link(link_req)
    pins = CollectionPins(pin_dir, "f")
    pin = os.path.join(pins.live, "maps", "hash_prealloc")
    fd = syscalls.obj_get(pin)
    for i in range(1000):
        # Key 7 holds 42, what fill_maps writes there on every packet: loopback
        # traffic from other processes during the test then changes nothing.
        syscalls.map_update(fd, i.to_bytes(8, "little"), (42 if i == 7 else i * 3).to_bytes(4, "little"))
    os.close(fd)
    want = entries_digest(pin)

    converge_killed(target, nth, new)

    # Whatever the step: a complete version is live, with all its entries
    # and a link that runs one of the programs pinned on this host.
    observed = observe(pins)
    assert observed.problems == [], observed.problems
    assert observed.record["options"]["maps"] in ({}, {"hash_prealloc": {"max_entries": 50000}})
    assert entries_digest(pin) == want
    # The link still runs: pinned in the live version or, killed between
    # the swap and its move, in the old one beside it.
    link_pins = [os.path.join(d, "links", "fill_maps__xdp_lo") for d in (pins.live, pins.staging)]
    present = [p for p in link_pins if os.path.lexists(p)]
    assert present, "link lost"
    lfd = syscalls.obj_get(present[0])
    assert syscalls.link_info(lfd).prog_id
    os.close(lfd)

    # The next run converges, honestly.
    result = converge(Desired(**new))
    assert result["changed"] or result["action"] == "none"
    assert not os.path.exists(pins.staging)
    again = converge(Desired(**new))
    assert again["changed"] is False, again["reasons"]
    assert entries_digest(pin) == want
    lfd = syscalls.obj_get(os.path.join(pins.live, "links", "fill_maps__xdp_lo"))
    live_prog = syscalls.obj_get(os.path.join(pins.live, "progs", "fill_maps"))
    assert syscalls.link_info(lfd).prog_id == int(syscalls.fdinfo(live_prog)["prog_id"])
    os.close(lfd)
    os.close(live_prog)
    converge(Desired(name="f", pin_root=pin_dir, state="absent"))
