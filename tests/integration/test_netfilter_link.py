# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_link type netfilter on the real kernel: a hook in another network
namespace (the peer side of a veth pair) sees exactly the packets sent to
it, its verdict drops or lets through a real TCP connection, an upgrade
makes the link again (netfilter links cannot be re-pointed) in the same
namespace, and bad requests are refused naming the option."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import struct

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, SpecError, SyscallError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object

from kernel_helpers import links_running
# The veth pair into a fresh namespace, as a fixture.
from test_bpf_link import veth  # noqa: F401 pylint: disable=unused-import


@pytest.fixture
def nf(bpf_build, pin_dir):
    path = bpf_build.path("netfilter_hook")

    def deploy(accept=1):
        return converge(Desired("nf", pin_dir, path=path, constants={"accept": accept}))
    deploy()
    yield pin_dir, deploy, read_object(path).symbol_offsets[(".bss", "seen")]
    converge(Desired("nf", pin_dir, state="absent"))


def seen(pin_dir, offset):
    fd = syscalls.obj_get(os.path.join(pin_dir, "nf", "maps", "_bss"))
    try:
        size = syscalls.map_info(fd).value_size
        return struct.unpack_from("=Q", syscalls.map_lookup(fd, b"\0" * 4, size), offset)[0]
    finally:
        os.close(fd)


def netfilter_links(prog_name="nf_hook"):
    """Ids of the kernel's netfilter links that run a program called
    ``prog_name`` (only this file's tests make such links)."""
    out, cur = [], 0
    while True:
        cur = syscalls.next_id("link", cur)
        if cur is None:
            return out
        try:
            fd = syscalls.get_fd_by_id("link", cur)
        except SyscallError:
            continue  # gone meanwhile
        try:
            info = syscalls.link_info(fd)
        finally:
            os.close(fd)
        if info.type != uapi.BPF_LINK_TYPE_NETFILTER:
            continue
        try:
            pfd = syscalls.get_fd_by_id("prog", info.prog_id)
        except SyscallError:
            continue
        try:
            if syscalls.prog_info(pfd).name == prog_name:
                out.append(cur)
        finally:
            os.close(pfd)


def hook(pin_dir, ns, **kw):
    options = dict(family="ipv4", hook="input", netns="/run/netns/%s" % ns)
    options.update(kw)
    return converge_link(LinkRequest(pin_dir, "nf", "nf_hook", "netfilter", **options))


def send_udp(dest, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _i in range(count):
            s.sendto(b"x", (dest, 9))
    finally:
        s.close()


def connect_outcome(dest):
    """'refused' (the peer answered with a reset: nothing listens) or
    'timeout' (the SYN went unanswered: dropped)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        err = s.connect_ex((dest, 9))
    finally:
        s.close()
    return {errno.ECONNREFUSED: "refused", errno.EAGAIN: "timeout", errno.EWOULDBLOCK: "timeout",
            errno.ETIMEDOUT: "timeout", errno.EINPROGRESS: "timeout"}.get(err, errno.errorcode.get(err, err))


def test_a_hook_in_another_namespace_counts_drops_and_follows_an_upgrade(nf, veth):  # noqa: F811
    pin_dir, deploy, offset = nf
    _host, ns, _host_ip, peer_ip = veth
    first = hook(pin_dir, ns)
    assert first["changed"] and first["links"][0]["action"] == "attach"
    assert netfilter_links() == [first["links"][0]["link_id"]]
    name = first["links"][0]["name"]
    assert name == "nf_hook__netfilter_ipv4_input_%s" % ns
    assert hook(pin_dir, ns)["changed"] is False
    before = seen(pin_dir, offset)
    send_udp(peer_ip, 25)
    # The peer's namespace is quiet: its input hook sees just these.
    assert seen(pin_dir, offset) - before == 25
    # This namespace's traffic does not reach a hook in the peer's.
    before = seen(pin_dir, offset)
    send_udp("127.0.0.1", 10)
    assert seen(pin_dir, offset) == before
    assert connect_outcome(peer_ip) == "refused"

    # A new version that drops: the link is made again for it, in the peer's namespace.
    deploy(accept=0)
    assert links_running(pin_dir, "nf")[name][0] == "nf_hook"
    # One hook left: the old version's went in the hand-over, and so did the bridge.
    assert len(netfilter_links()) == 1 and netfilter_links() != [first["links"][0]["link_id"]]
    assert connect_outcome(peer_ip) == "timeout"
    dropped_from = seen(pin_dir, offset)
    send_udp(peer_ip, 5)
    assert seen(pin_dir, offset) - dropped_from == 5
    assert hook(pin_dir, ns)["changed"] is False

    gone = hook(pin_dir, ns, state="absent")
    assert gone["changed"] and gone["links"][0]["action"] == "detach"
    assert connect_outcome(peer_ip) == "refused"
    after = seen(pin_dir, offset)
    send_udp(peer_ip, 5)
    assert seen(pin_dir, offset) == after
    assert links_running(pin_dir, "nf") == {} and netfilter_links() == []


def test_check_mode_attaches_nothing(nf, veth):  # noqa: F811
    pin_dir, _deploy, offset = nf
    _host, ns, _host_ip, peer_ip = veth
    planned = converge_link(LinkRequest(pin_dir, "nf", "nf_hook", "netfilter", family="ipv4", hook="input",
                                        netns="/run/netns/%s" % ns), check_mode=True)
    assert planned["changed"] and planned["links"][0]["action"] == "attach"
    send_udp(peer_ip, 3)
    assert seen(pin_dir, offset) == 0
    assert links_running(pin_dir, "nf") == {}


@pytest.mark.parametrize("kw, error, words", [
    (dict(family=None), SpecError, "program 'nf_hook': type netfilter needs family"),
    (dict(hook=None), SpecError, "program 'nf_hook': type netfilter needs hook"),
    (dict(hook="sideways"), SpecError, "program 'nf_hook': hook 'sideways': want one of prerouting, input, "
                                       "forward, output, postrouting"),
    (dict(priority=0x7fffffff), SpecError, "program 'nf_hook': priority 2147483647: netfilter keeps the first and "
                                           "last places (INT_MIN and INT_MAX) for itself"),
    (dict(netns="/run/netns/ebpf-deploy-no-such-ns"), LoaderError,
     "network namespace '/run/netns/ebpf-deploy-no-such-ns': No such file or directory"),
])
def test_bad_requests_are_refused_and_attach_nothing(nf, veth, kw, error, words):  # noqa: F811
    pin_dir, _deploy, _offset = nf
    _host, ns, _host_ip, _peer = veth
    with pytest.raises(error) as info:
        hook(pin_dir, ns, **kw)
    assert words in str(info.value)
    assert links_running(pin_dir, "nf") == {}


def test_auto_without_a_program_skips_it_and_says_why(nf):
    pin_dir, _deploy, _offset = nf
    result = converge_link(LinkRequest(pin_dir, "nf", None, "auto"))
    assert result["changed"] is False
    assert result["skipped"] == [{"program": "nf_hook", "section": "netfilter",
                                  "reason": "netfilter needs a family and a hook, which no section names"}]
