# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_link's and bpf_map's plans are pure: what is observed (a link's
program and what is pinned at its name; a map's layout and contents) goes
in as plain data, the decision comes out. No kernel, no root."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.entries import plan_entries
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import (
    Attachment, LinkRequest, Observation, Placement, plan_links)
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi


class Prog:
    """What observe_links reads of a pinned program."""
    name, section, id, tag, pin = "count", "xdp", 42, "f0436965e8747fa0", "/sys/fs/bpf/r/c/progs/count"


def observation(existing, skip=None):
    att = None if skip else Attachment("xdp", "xdp on eth0 (auto)", "count__xdp_eth0", None, ("ifindex", 2), {})
    return Observation(Prog(), att, "/sys/fs/bpf/r/c/links", existing, skip)


@pytest.mark.parametrize("state, existing, action", [
    ("present", None, "attach"),
    ("present", {"link_id": 7, "prog_id": 42, "matches": True}, "none"),
    ("present", {"link_id": 7, "prog_id": 41, "matches": True}, "update"),
    ("present", {"link_id": 7, "prog_id": 42, "matches": False}, "replace"),   # another interface
    ("absent", {"link_id": 7, "prog_id": 42, "matches": True}, "detach"),
    ("absent", None, "none"),
])
def test_link_actions(state, existing, action):
    steps, skipped = plan_links(LinkRequest("/sys/fs/bpf/r", "c", "count", state=state), [observation(existing)])
    assert [s.action for s in steps] == [action] and skipped == []
    assert steps[0].changed == (action != "none")
    if state == "present":
        assert steps[0].after == {"link": "count__xdp_eth0", "program_id": 42}


# A tcx chain as BPF_PROG_QUERY gives it: (prog id, link id) in order; our link is id 7.
CHAIN = [(40, 5), (42, 7), (43, 0), (44, 9)]


@pytest.mark.parametrize("option, value, kind, rel_id, prog_id, in_place, action", [
    ("before", "first", None, None, 42, False, "move"),
    ("after", "last", None, None, 42, False, "move"),
    ("after", "c/x", "link", 5, 42, True, "none"),          # right after it
    ("before", "c/y", "link", 9, 42, True, "none"),         # anywhere before it counts
    ("before", "c/x", "link", 5, 42, False, "move"),
    ("before", "c/p", "program", 43, 42, True, "none"),     # a program attached without a link
    ("after", "c/p", "program", 43, 41, False, "move"),     # out of place and on an old program: moved
    ("after", "c/x", "link", 5, 41, True, "update"),        # re-pointing keeps its place
])
def test_a_tcx_place_is_kept_or_the_link_moved(option, value, kind, rel_id, prog_id, in_place, action):
    placement = Placement(option, value, kind, "/pin" if kind else None, rel_id, CHAIN, 12, 7)
    assert placement.index == 1 and placement.in_place is in_place
    obs = observation({"link_id": 7, "prog_id": prog_id, "matches": True})
    obs.placement = placement
    steps, _skipped = plan_links(LinkRequest("/sys/fs/bpf/r", "c", "count"), [obs])
    assert steps[0].action == action
    assert steps[0].before["place"] == "2 of 4 in the chain"
    assert steps[0].after["place"] == "%s %s" % (option, value)


def test_a_tcx_place_at_either_end():
    assert Placement("before", "first", None, None, None, CHAIN, 1, 5).in_place
    assert Placement("after", "last", None, None, None, CHAIN, 1, 9).in_place
    assert not Placement("after", "last", None, None, None, CHAIN, 1, None).in_place   # not in the chain


def test_auto_skips_are_listed_not_planned():
    steps, skipped = plan_links(LinkRequest("/sys/fs/bpf/r", "c", None),
                                [observation(None, skip="its section names no kprobe target")])
    assert steps == [] and skipped == [{"program": "count", "section": "xdp",
                                        "reason": "its section names no kprobe target"}]


class HashLayout:
    """What plan_entries needs of a map: its type, size and codecs."""
    type, max_entries, lookup_size, path = uapi.BPF_MAP_TYPE_HASH, 3, 4, "/sys/fs/bpf/r/c/maps/m"

    @staticmethod
    def decode_key(data, formats):
        return struct.unpack("=I", data)[0]

    decode_value = decode_key


def raw(n):
    return struct.pack("=I", n)


def test_entries_write_only_what_differs_and_delete_with_exclusive():
    current = {raw(1): raw(10), raw(2): raw(20)}
    p = plan_entries(HashLayout, current, [(raw(1), raw(10)), (raw(3), raw(30))], True, "present", {}, {})
    assert p.writes == [(raw(3), raw(30))] and p.deletes == [raw(2)] and p.final == 2
    assert p.diff == {"before": {"entries": {"2": 20}}, "after": {"entries": {"3": 30}}}   # keys as text
    again = plan_entries(HashLayout, {raw(1): raw(10), raw(3): raw(30)}, [(raw(1), raw(10)), (raw(3), raw(30))],
                         True, "present", {}, {})
    assert not again.changed and again.diff == {"before": {"entries": {}}, "after": {"entries": {}}}


def test_entries_that_do_not_fit_change_nothing_and_say_how_many():
    current = {raw(1): raw(10), raw(2): raw(20)}
    with pytest.raises(LoaderError) as e:
        plan_entries(HashLayout, current, [(raw(3), raw(30)), (raw(4), raw(40))], False, "present", {}, {})
    assert "would hold 4 entries (2 now, 2 new), max_entries is 3; 1 do not fit" in str(e.value)


def test_array_index_beyond_its_size_is_refused():
    class ArrayLayout(HashLayout):
        type = uapi.BPF_MAP_TYPE_ARRAY

    with pytest.raises(SpecError):
        plan_entries(ArrayLayout, {raw(0): raw(0)}, [(raw(5), raw(1))], False, "present", {}, {})
