# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_link before/after on the real kernel: tcx links placed at the head
or tail of an interface's chain, or before/after a link or program of any
collection. Real packets from another namespace go through the chain and
each program adds its id to the packet's mark (tests/bpf/tcx_order.c), so
the order they ran in is read back from the last packet, and checked
against BPF_PROG_QUERY; a link already in place reports ok, one out of
place is moved, an upgrade keeps the order, a dropping program hides the
packet from those after it, and bad requests are refused word for word,
changing nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import NotSupportedError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import attach, host, syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object

from kernel_helpers import links_running
# The veth pair into a fresh namespace, and packets sent from it.
from test_bpf_link import send_from_netns, veth  # noqa: F401 pylint: disable=unused-import


@pytest.fixture
def order(bpf_build, pin_dir, veth):
    """Deploys collections of tcx_order.o (deploy(name, **constants));
    removes them (and so their links) after the test."""
    path = bpf_build.path("tcx_order")
    names = []
    if host.kernel_older_than("6.6"):
        pytest.skip("tcx links need Linux 6.6")

    def deploy(name="ord", **constants):
        if name not in names:
            names.append(name)
        return converge(Desired(name, pin_dir, path=path, constants=constants))
    yield pin_dir, deploy, read_object(path).symbol_offsets
    for name in names:
        # Detached here: unpinning frees a link later, from a kernel worker.
        links = os.path.join(pin_dir, name, "links")
        for link in os.listdir(links) if os.path.isdir(links) else []:
            fd = syscalls.obj_get(os.path.join(links, link))
            try:
                syscalls.link_detach(fd)
            finally:
                os.close(fd)
        converge(Desired(name, pin_dir, state="absent"))
    assert attach.tcx_chain(veth[0], "ingress")[0] == []


def place(pin_dir, program, interface, collection="ord", **kw):
    return converge_link(LinkRequest(pin_dir, collection, program, "tc", interface=interface, **kw))


def bss(pin_dir, collection, offsets, name, fmt="=Q"):
    fd = syscalls.obj_get(os.path.join(pin_dir, collection, "maps", "_bss"))
    try:
        size = syscalls.map_info(fd).value_size
        return struct.unpack_from(fmt, syscalls.map_lookup(fd, b"\0" * 4, size), offsets[(".bss", name)])[0]
    finally:
        os.close(fd)


def ran(pin_dir, offsets, veth, collections=("ord",)):
    """Send packets through the chain; the ids of the programs that ran on
    the last one, in order (the longest trace any collection kept)."""
    host_if, ns, host_ip, _peer = veth
    send_from_netns(ns, host_ip, 5)
    trace = max(bss(pin_dir, c, offsets, "trace", "=I") for c in collections)
    ids = []
    while trace:
        ids.insert(0, trace % 8)
        trace //= 8
    return ids


def chain_links(pin_dir, veth, *names):
    """The chain's order as the names of our links ('?' for others)."""
    by_id = {}
    for name in names:
        collection, link = name.split("/")
        fd = syscalls.obj_get(os.path.join(pin_dir, collection, "links", link))
        try:
            by_id[syscalls.link_info(fd).id] = name
        finally:
            os.close(fd)
    return [by_id.get(lid, "?") for _pid, lid in attach.tcx_chain(veth[0], "ingress")[0]]


def test_first_last_program_and_link_places_idempotent_and_moved(order, veth):
    pin_dir, deploy, offsets = order
    host_if = veth[0]
    deploy()
    name = dict((p, "ord/%s__tc_%s_ingress" % (p, host_if)) for p in ("tc_a", "tc_b", "tc_c"))
    assert place(pin_dir, "tc_a", host_if)["links"][0]["action"] == "attach"
    assert place(pin_dir, "tc_b", host_if, after="tc_a")["links"][0]["action"] == "attach"
    first = place(pin_dir, "tc_c", host_if, before="first")
    assert first["links"][0]["action"] == "attach"
    assert first["links"][0]["attach_point"] == "tc ingress on %s (before first)" % host_if
    assert chain_links(pin_dir, veth, *name.values()) == [name["tc_c"], name["tc_a"], name["tc_b"]]
    assert ran(pin_dir, offsets, veth) == [3, 1, 2]
    # Where asked already: ok, nothing changes.
    assert place(pin_dir, "tc_b", host_if, after="tc_a")["changed"] is False
    assert place(pin_dir, "tc_c", host_if, before="first")["changed"] is False
    assert place(pin_dir, "tc_b", host_if, after="last")["changed"] is False
    # Anywhere before the one named is in place, not only next to it.
    assert place(pin_dir, "tc_c", host_if, before=name["tc_b"])["changed"] is False
    # Out of place: check mode says move and changes nothing; then it moves.
    req = LinkRequest(pin_dir, "ord", "tc_c", "tc", interface=host_if, after=name["tc_b"])
    checked = converge_link(req, check_mode=True)
    assert checked["changed"] and checked["links"][0]["action"] == "move"
    assert checked["diff"]["before"]["links"][name["tc_c"][4:]]["place"] == "1 of 3 in the chain"
    assert checked["diff"]["after"]["links"][name["tc_c"][4:]]["place"] == "after %s" % name["tc_b"]
    assert chain_links(pin_dir, veth, *name.values())[0] == name["tc_c"]
    moved = place(pin_dir, "tc_c", host_if, after=name["tc_b"])
    assert moved["links"][0]["action"] == "move"
    assert chain_links(pin_dir, veth, *name.values()) == [name["tc_a"], name["tc_b"], name["tc_c"]]
    assert ran(pin_dir, offsets, veth) == [1, 2, 3]
    assert place(pin_dir, "tc_c", host_if, after=name["tc_b"])["changed"] is False
    # The head, by a pin path of the link that is first now.
    pin_a = os.path.join(pin_dir, "ord", "links", name["tc_a"][4:])
    assert place(pin_dir, "tc_b", host_if, before=pin_a)["links"][0]["action"] == "move"
    assert ran(pin_dir, offsets, veth) == [2, 1, 3]
    assert place(pin_dir, "tc_b", host_if, before="first")["changed"] is False


def test_a_dropping_program_hides_the_packet_from_those_after_it(order, veth):
    pin_dir, deploy, offsets = order
    host_if = veth[0]
    deploy(drop_b=1)
    place(pin_dir, "tc_b", host_if)
    place(pin_dir, "tc_c", host_if, before="tc_b")
    assert ran(pin_dir, offsets, veth) == [3, 2]
    seen = bss(pin_dir, "ord", offsets, "runs_c")
    assert seen >= 5
    assert place(pin_dir, "tc_c", host_if, after="tc_b")["links"][0]["action"] == "move"
    before = bss(pin_dir, "ord", offsets, "runs_b")
    assert ran(pin_dir, offsets, veth) == [2]
    assert bss(pin_dir, "ord", offsets, "runs_b") >= before + 5
    assert bss(pin_dir, "ord", offsets, "runs_c") == seen


def test_places_among_another_collections_links_and_an_upgrade_keeps_them(order, veth):
    pin_dir, deploy, offsets = order
    host_if = veth[0]
    deploy()
    deploy("ord2", id_a=4, id_b=5, id_c=6)
    a, b = "ord/tc_a__tc_%s_ingress" % host_if, "ord/tc_b__tc_%s_ingress" % host_if
    a2 = "ord2/tc_a__tc_%s_ingress" % host_if
    place(pin_dir, "tc_a", host_if)
    place(pin_dir, "tc_b", host_if)
    # Between two links of the other collection, named by link and by program.
    place(pin_dir, "tc_a", host_if, collection="ord2", before=b)
    assert chain_links(pin_dir, veth, a, b, a2) == [a, a2, b]
    assert ran(pin_dir, offsets, veth, ("ord", "ord2")) == [1, 4, 2]
    assert place(pin_dir, "tc_a", host_if, collection="ord2", after="ord/tc_a")["changed"] is False
    assert links_running(pin_dir, "ord2") == {a2[5:]: ("tc_a", links_running(pin_dir, "ord2")[a2[5:]][1])}
    kept = _link_prog_id(pin_dir, a2)
    # The request is kept with the link.
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.records import read_record
    record = read_record(os.path.join(pin_dir, "ord2", "link_requests", a2[5:]))
    assert (record["before"], record.get("after")) == (b, None)
    # Upgrades of both collections re-point the links in place: the order holds.
    up = deploy(id_a=7)
    assert up["action"] == "replace"
    up2 = deploy("ord2", id_a=6, id_b=5, id_c=4)
    assert chain_links(pin_dir, veth, a, b, a2) == [a, a2, b]
    assert ran(pin_dir, offsets, veth, ("ord", "ord2")) == [7, 6, 2]
    assert _link_prog_id(pin_dir, a2) != kept
    assert _link_prog_id(pin_dir, a2) == [p["id"] for p in up2["programs"] if p["name"] == "tc_a"][0]
    assert list(links_running(pin_dir, "ord2")) == [a2[5:]]
    assert place(pin_dir, "tc_a", host_if, collection="ord2", before=b)["changed"] is False
    assert place(pin_dir, "tc_a", host_if, collection="ord2", after="ord/tc_a")["changed"] is False


def test_bad_places_are_refused_word_for_word_and_change_nothing(order, veth, bpf_build, monkeypatch):
    pin_dir, deploy, _offsets = order
    host_if = veth[0]
    deploy()
    place(pin_dir, "tc_a", host_if)
    converge(Desired("xdp", pin_dir, path=bpf_build.path("attach_targets"), programs=["xdp_count"]))
    try:
        chain = attach.tcx_chain(host_if, "ingress")[0]
        cases = [
            (dict(program="tc_b", before="first", after="tc_a"), SpecError,
             "before 'first' and after 'tc_a': give one of them, not both"),
            (dict(program="tc_b", after="ord/nope"), SpecError,
             "after 'ord/nope': collection 'ord' has no link or program 'nope'"),
            (dict(program="tc_b", after="gone/tc_a"), SpecError,
             "after 'gone/tc_a': collection 'gone' is not deployed under %s" % pin_dir),
            (dict(program="tc_b", after="tc_c"), SpecError,
             "program 'tc_b': after 'tc_c': that program (id %d) is not attached to tc ingress on %s" % (
                 _prog_id(pin_dir, "tc_c"), host_if)),
            (dict(program="tc_b", after="first"), SpecError,
             "program 'tc_b': after 'first' means no place: the head of the chain is 'before: first', its tail "
             "'after: last'"),
            (dict(program="tc_b", before="tc_b"), SpecError,
             "program 'tc_b': before 'tc_b' names this link itself (the program it runs)"),
            (dict(program="tc_a", before="tc_a__tc_%s_ingress" % host_if), SpecError,
             "program 'tc_a': before 'tc_a__tc_%s_ingress' names this link itself" % host_if),
            (dict(program=None, before="first"), SpecError, "before 'first' places one link: give program"),
            (dict(program="tc_b", before="/sys/fs/bpf/no_such_pin_here"), SpecError,
             "before '/sys/fs/bpf/no_such_pin_here': nothing is pinned there"),
            (dict(program="tc_b", before="first", method="netlink"), SpecError,
             "program 'tc_b': before 'first': method netlink orders tc filters by priority; before and after place "
             "tcx links (method link or auto)"),
            (dict(collection="xdp", program="xdp_count", link_type="xdp", before="first"), SpecError,
             "program 'xdp_count': before 'first': only tc links (tcx) have a place among others; type xdp has "
             "none"),
        ]
        for kw, error, words in cases:
            kw = dict(kw)
            where = (kw.pop("collection", "ord"), kw.pop("program"), kw.pop("link_type", "tc"))
            with pytest.raises(error) as info:
                converge_link(LinkRequest(pin_dir, *where, interface=host_if, **kw))
            assert str(info.value) == words
            assert attach.tcx_chain(host_if, "ingress")[0] == chain
        monkeypatch.setattr(host, "kernel_version", lambda release=None: (6, 5))
        with pytest.raises(NotSupportedError) as info:
            place(pin_dir, "tc_b", host_if, before="first")
        assert str(info.value) == ("program 'tc_b': before 'first': a place in the tc chain needs tcx links "
                                   "(needs Linux 6.6 or later)")
        monkeypatch.undo()
        assert attach.tcx_chain(host_if, "ingress")[0] == chain
        assert sorted(os.listdir(os.path.join(pin_dir, "ord", "links"))) == ["tc_a__tc_%s_ingress" % host_if]
    finally:
        converge(Desired("xdp", pin_dir, state="absent"))


def _link_prog_id(pin_dir, name):
    fd = syscalls.obj_get(os.path.join(pin_dir, name.split("/")[0], "links", name.split("/")[1]))
    try:
        return syscalls.link_info(fd).prog_id
    finally:
        os.close(fd)


def _prog_id(pin_dir, program):
    fd = syscalls.obj_get(os.path.join(pin_dir, "ord", "progs", program))
    try:
        return syscalls.fdinfo(fd).prog_id
    finally:
        os.close(fd)


def test_the_chain_query_names_programs_attached_without_a_link(order, veth):
    """BPF_PROG_QUERY as the witness: a program attached with
    BPF_PROG_ATTACH (no link) shows with link id 0, and a link can be
    placed after it by naming the program."""
    pin_dir, deploy, offsets = order
    host_if = veth[0]
    deploy()
    fd = syscalls.obj_get(os.path.join(pin_dir, "ord", "progs", "tc_a"))
    try:
        _prog_attach(uapi.BPF_PROG_ATTACH, host_if, fd)
        try:
            place(pin_dir, "tc_b", host_if, before="tc_a")
            chain = attach.tcx_chain(host_if, "ingress")[0]
            assert [lid == 0 for _pid, lid in chain] == [False, True]
            assert chain[1][0] == _prog_id(pin_dir, "tc_a")
            assert ran(pin_dir, offsets, veth) == [2, 1]
            assert place(pin_dir, "tc_b", host_if, before="tc_a")["changed"] is False
        finally:
            _prog_attach(uapi.BPF_PROG_DETACH, host_if, fd)
    finally:
        os.close(fd)


def _prog_attach(cmd, interface, prog_fd):
    """BPF_PROG_ATTACH/DETACH of a program to tcx ingress, with no link."""
    attr = syscalls.buffer(syscalls.PROG_ATTACH_ATTR.size)
    syscalls.PROG_ATTACH_ATTR.pack_into(attr, 0, attach.ifindex(interface), prog_fd, uapi.BPF_TCX_INGRESS, 0, 0)
    syscalls.bpf(cmd, attr, "tcx ingress of %s" % interface)


def test_module_places_checks_and_refuses(tmp_path, pin_dir, veth, bpf_build):
    """The options through ansible-playbook: a place, ok when in place,
    check mode reporting a move, both options refused by message."""
    if host.kernel_older_than("6.6"):
        pytest.skip("tcx links need Linux 6.6")
    from playbook_runner import run_playbook

    host_if = veth[0]
    t_load = {"ebpf.deploy.bpf_collection": {"name": "ord", "path": bpf_build.path("tcx_order"), "pin_root": pin_dir}}

    def t_link(program, **kw):
        return {"ebpf.deploy.bpf_link": dict({"collection": "ord", "program": program, "type": "tc",
                                              "interface": host_if, "pin_root": pin_dir}, **kw)}
    t_drop = {"ebpf.deploy.bpf_collection": {"name": "ord", "pin_root": pin_dir, "state": "absent"}}
    t_unlink = [t_link(p, state="absent") for p in ("tc_a", "tc_b")]
    proc, results = run_playbook(tmp_path, [
        t_load, t_link("tc_a"), t_link("tc_b", before="first"), t_link("tc_b", before="first"),
        dict(t_link("tc_b", after="tc_a"), check_mode=True), t_link("tc_b", before="first", after="last")]
        + t_unlink + [t_drop], diff=True)
    load, first, placed, again, check, both = results[:6]
    assert not load.get("failed"), proc.stdout
    assert first["links"][0]["action"] == "attach"
    assert placed["links"][0]["action"] == "attach"
    assert placed["links"][0]["attach_point"] == "tc ingress on %s (before first)" % host_if
    assert again["changed"] is False
    assert check["changed"] and check["links"][0]["action"] == "move"
    assert both["failed"] and both["msg"] == "before 'first' and after 'last': give one of them, not both"
    assert all(r["changed"] for r in results[6:]), proc.stdout
    assert attach.tcx_chain(host_if, "ingress")[0] == []


def test_a_move_that_cannot_attach_puts_the_program_back(order, veth, monkeypatch):
    """The attach after the detach fails (made to, here): the program goes
    back where it was, before the one that followed it, and its pin holds
    the link that runs it there."""
    from ansible_collections.ebpf.deploy.plugins.module_utils.deploy import links
    from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

    pin_dir, deploy, offsets = order
    host_if = veth[0]
    deploy()
    for program in ("tc_a", "tc_b", "tc_c"):
        place(pin_dir, program, host_if)
    assert ran(pin_dir, offsets, veth) == [1, 2, 3]

    def refuse(*_args, **_kw):
        raise LoaderError("refused for the test")
    monkeypatch.setattr(links.Placement, "attach", refuse)
    with pytest.raises(LoaderError) as info:
        place(pin_dir, "tc_b", host_if, after="tc_c")
    assert str(info.value) == "refused for the test"
    monkeypatch.undo()
    assert ran(pin_dir, offsets, veth) == [1, 2, 3]
    names = ["ord/%s__tc_%s_ingress" % (p, host_if) for p in ("tc_a", "tc_b", "tc_c")]
    assert chain_links(pin_dir, veth, *names) == names
    assert place(pin_dir, "tc_b", host_if, after="tc_c")["links"][0]["action"] == "move"
    assert ran(pin_dir, offsets, veth) == [1, 3, 2]
