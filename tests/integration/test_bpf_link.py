# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bpf_link on the real kernel: real packets through a veth pair into a
network namespace, a real cgroup, real execs; idempotence, detach, and an
upgrade with packets flowing in which no packet goes unseen."""

from __future__ import absolute_import, division, print_function

import os
import secrets
import socket
import struct
import subprocess
import threading
import time

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.collection import converge
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.desired import Desired
from ansible_collections.ebpf.deploy.plugins.module_utils.deploy.links import LinkRequest, converge_link
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError, NotSupportedError, SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from kernel_helpers import links_running
from playbook_runner import REPO, run_playbook

COUNTER = os.path.join(REPO, "examples", "bpf", "build", "packet_counter.o")


def cgroup2_root():
    """Where the cgroup v2 hierarchy is mounted (unified or hybrid), or None."""
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


@pytest.fixture(scope="module")
def veth():
    """A veth pair: host side in this namespace (10.231.x.1), peer in a fresh
    network namespace (10.231.x.2). Yields (host ifname, netns name, host ip, peer ip)."""
    tag = secrets.token_hex(3)
    ns, host, peer = "ebpfdt-%s" % tag, "edt%s" % tag, "edp%s" % tag
    octet = int(tag[:2], 16)
    host_ip, peer_ip = "10.231.%d.1" % octet, "10.231.%d.2" % octet
    cmds = [["ip", "netns", "add", ns],
            ["ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns],
            ["ip", "addr", "add", host_ip + "/24", "dev", host], ["ip", "link", "set", host, "up"],
            ["ip", "-n", ns, "addr", "add", peer_ip + "/24", "dev", peer], ["ip", "-n", ns, "link", "set", peer, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"]]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        pytest.skip("cannot build a veth pair into a network namespace here: %s" % e)
    yield host, ns, host_ip, peer_ip
    subprocess.run(["ip", "link", "del", host], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def send_from_netns(ns, dest, count, port=9999, gap=0.001):
    """Send ``count`` UDP datagrams from the namespace to ``dest``."""
    code = ("import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(%d):\n    s.sendto(b'x', (%r, %d)); time.sleep(%r)\n" % (count, dest, port, gap))
    subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", code], check=True)


def bss_counter(pin_dir, collection, name):
    spec = read_object(os.path.join(os.path.dirname(__file__), "..", "bpf", "build", "attach_targets.o"))
    offset = spec.symbol_offsets[(".bss", name)]
    fd = syscalls.obj_get(os.path.join(pin_dir, collection, "maps", "_bss"))
    try:
        info = syscalls.map_info(fd)
        return struct.unpack_from("=Q", syscalls.map_lookup(fd, b"\0" * 4, info.value_size), offset)[0]
    finally:
        os.close(fd)


@pytest.fixture
def targets(bpf_build, pin_dir):
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    converge(Desired("targets", pin_dir, path=path, programs=[
        "xdp_count", "tc_in", "tc_out", "cg_egress", "on_execve", "on_exec_raw", "on_exec_btf"]))
    yield pin_dir
    converge(Desired("targets", pin_dir, state="absent"))


def link(pin_dir, program, link_type="auto", **kw):
    return converge_link(LinkRequest(pin_dir, "targets", program, link_type, **kw))


def test_xdp_sees_real_packets_idempotent_and_detaches(targets, veth):
    host, ns, host_ip, _peer = veth
    first = link(targets, "xdp_count", "xdp", interface=host)
    assert first["changed"] and first["links"][0]["action"] == "attach"
    assert link(targets, "xdp_count", "xdp", interface=host)["changed"] is False
    send_from_netns(ns, host_ip, 20)
    seen = bss_counter(targets, "targets", "xdp_packets")
    assert seen >= 20
    assert link(targets, "xdp_count", "xdp", interface=host, state="absent")["changed"]
    send_from_netns(ns, host_ip, 20)
    assert bss_counter(targets, "targets", "xdp_packets") == seen
    assert link(targets, "xdp_count", "xdp", interface=host, state="absent")["changed"] is False


def test_xdp_drop_really_drops(pin_dir, veth):
    host, ns, host_ip, _peer = veth
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind((host_ip, 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    try:
        for drop, expect_data in ((17, False), (0, True)):
            converge(Desired("ctr", pin_dir, path=COUNTER, constants={"drop_protocol": drop}))
            converge_link(LinkRequest(pin_dir, "ctr", "count_packets", "xdp", interface=host))
            send_from_netns(ns, host_ip, 5, port=port)
            try:
                got = receiver.recv(16)
            except socket.timeout:
                got = None
            assert (got is not None) == expect_data, (drop, got)
    finally:
        receiver.close()
        converge(Desired("ctr", pin_dir, state="absent"))


def test_tc_ingress_and_egress(targets, veth):
    host, ns, host_ip, peer_ip = veth
    try:
        link(targets, "tc_in", "tc", interface=host)
        link(targets, "tc_out", "tc", interface=host)
    except NotSupportedError as e:
        pytest.skip(str(e))
    assert link(targets, "tc_in", "tc", interface=host)["changed"] is False
    send_from_netns(ns, host_ip, 10)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _packet in range(10):
        out.sendto(b"y", (peer_ip, 9999))
    out.close()
    assert bss_counter(targets, "targets", "tc_ingress_packets") >= 10
    assert bss_counter(targets, "targets", "tc_egress_packets") >= 10


@pytest.fixture
def cgroup():
    root = cgroup2_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    path = os.path.join(root, "ebpf_deploy_test_%s" % secrets.token_hex(3))
    os.mkdir(path)
    yield path
    for _attempt in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def _send_in_cgroup(cgroup, dest):
    """Run a process inside ``cgroup`` that sends one UDP datagram; its errno (0 if sent)."""
    code = ("import errno, socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try:\n    s.sendto(b'z', (%r, 9999)); print(0)\nexcept OSError as e:\n    print(e.errno)\n" % dest)
    procs = os.path.join(cgroup, "cgroup.procs")

    def enter():
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    out = subprocess.run(["python3", "-c", code], preexec_fn=enter, check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def test_cgroup_egress_counts_and_denies(bpf_build, pin_dir, cgroup, veth):
    _host, _ns, _host_ip, peer_ip = veth
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    try:
        converge(Desired("targets", pin_dir, path=path, programs=["cg_egress"]))
        converge_link(LinkRequest(pin_dir, "targets", "cg_egress", "cgroup", cgroup=cgroup))
        assert _send_in_cgroup(cgroup, peer_ip) == 0
        assert bss_counter(pin_dir, "targets", "cgroup_egress_packets") >= 1
        # A new version that denies: the link follows the program.
        converge(Desired("targets", pin_dir, path=path, programs=["cg_egress"], constants={"cgroup_deny": 1}))
        assert _send_in_cgroup(cgroup, peer_ip) == 1  # EPERM
        assert _send_in_cgroup(cgroup2_root(), peer_ip) == 0  # outside the cgroup: untouched
    finally:
        converge(Desired("targets", pin_dir, state="absent"))


def _run_true(count):
    for _run in range(count):
        subprocess.run(["/bin/true"], check=True)


@pytest.mark.parametrize("program, counter", [
    ("on_execve", "execve_calls"),
    ("on_exec_raw", "raw_exec_events"),
    ("on_exec_btf", "btf_exec_events"),
])
def test_tracing_programs_count_execs(targets, program, counter):
    try:
        r = link(targets, program)  # auto: the section names the target
    except LoaderError as e:
        if getattr(e, "errno", None) == 1:
            pytest.skip("the kernel refuses to attach %s here (EPERM)" % program)
        raise
    assert r["changed"] and link(targets, program)["changed"] is False
    before = bss_counter(targets, "targets", counter)
    _run_true(25)
    seen = bss_counter(targets, "targets", counter)
    assert seen - before >= 25
    link(targets, program, state="absent")
    # Read after the detach: other processes' execs before it still count.
    detached = bss_counter(targets, "targets", counter)
    assert detached >= seen
    _run_true(5)
    assert bss_counter(targets, "targets", counter) == detached


@pytest.mark.parametrize("program, counter", [
    ("on_execve", "execve_calls"),
    ("on_exec_raw", "raw_exec_events"),
    ("on_exec_btf", "btf_exec_events"),
])
def test_tracing_links_follow_an_upgrade(bpf_build, targets, program, counter):
    """Perf-event, raw and BTF tracepoint links cannot be re-pointed
    (BPF_LINK_UPDATE is EINVAL for them): the upgrade makes a new link
    for the new program from the link's request record, then drops the old."""
    try:
        link(targets, program)
    except LoaderError as e:
        if getattr(e, "errno", None) == 1:
            pytest.skip("the kernel refuses to attach %s here (EPERM)" % program)
        raise
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    programs = ["xdp_count", "tc_in", "tc_out", "cg_egress", "on_execve", "on_exec_raw", "on_exec_btf"]
    r = converge(Desired("targets", targets, path=path, programs=programs, constants={"cgroup_deny": 1}))
    assert r["changed"] and not any("detached" in w for w in r["warnings"]), r["warnings"]
    new_prog = [p for p in r["programs"] if p["name"] == program][0]
    pins = [n for n in os.listdir(os.path.join(targets, "targets", "links")) if n.startswith(program + "__")]
    assert len(pins) == 1
    lfd = syscalls.obj_get(os.path.join(targets, "targets", "links", pins[0]))
    try:
        assert syscalls.link_info(lfd).prog_id == new_prog["id"]
    finally:
        os.close(lfd)
    before = bss_counter(targets, "targets", counter)     # the new version's counter
    _run_true(10)
    assert bss_counter(targets, "targets", counter) - before >= 10
    assert link(targets, program)["changed"] is False     # the request record came along
    assert not os.path.exists(os.path.join(targets, "targets__staging"))


def test_kprobe(bpf_build, pin_dir):
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    converge(Desired("kp", pin_dir, path=path, programs=["on_openat"]))
    try:
        converge_link(LinkRequest(pin_dir, "kp", "on_openat"))
    except NotSupportedError as e:
        assert "kprobe" in str(e)
        pytest.skip(str(e))
    finally:
        converge(Desired("kp", pin_dir, state="absent"))


def test_upgrade_under_traffic_loses_no_packet(pin_dir, veth):
    """Packets flow while the collection is replaced three times: the XDP
    link moves to each new program atomically and the (carried-over)
    counter map sees every packet."""
    host, ns, host_ip, _peer = veth
    converge(Desired("live", pin_dir, path=COUNTER))
    converge_link(LinkRequest(pin_dir, "live", "count_packets", "xdp", interface=host))
    sent = 1500
    sender = threading.Thread(target=send_from_netns, args=(ns, host_ip, sent), kwargs={"gap": 0.001})
    sender.start()
    upgrades = []
    for drop in (99, 98, 97):
        time.sleep(0.2)
        upgrades.append(converge(Desired("live", pin_dir, path=COUNTER, constants={"drop_protocol": drop})))
    sender.join()
    try:
        assert all(u["action"] == "replace" for u in upgrades)
        assert len(set(u["programs"][0]["id"] for u in upgrades)) == 3
        assert links_running(pin_dir, "live") == {
            "count_packets__xdp_%s" % host: ("count_packets", upgrades[-1]["programs"][0]["tag"])}
        fd = syscalls.obj_get(os.path.join(pin_dir, "live", "maps", "packets_by_protocol"))
        counted = struct.unpack("=Q", syscalls.map_lookup(fd, b"\x11", 8))[0]
        os.close(fd)
        assert counted == sent
    finally:
        converge(Desired("live", pin_dir, state="absent"))


@pytest.mark.parametrize("kw, words", [
    (dict(program="xdp_count", link_type="xdp", interface="no_such_if0"), ["no_such_if0", "does not exist"]),
    (dict(program="xdp_count", link_type="tc", interface="lo"), ["xdp program", "type tc needs"]),
    (dict(program="xdp_count", link_type="xdp"), ["needs interface"]),
    (dict(program="nope", link_type="xdp", interface="lo"), ["no program 'nope'"]),
])
def test_bad_requests_are_refused_clearly(targets, kw, words):
    with pytest.raises(LoaderError) as info:
        link(targets, **kw)
    for word in words:
        assert word in str(info.value)
    assert not os.path.exists(os.path.join(targets, "targets", "links")) or \
        os.listdir(os.path.join(targets, "targets", "links")) == []


def test_collection_not_deployed(pin_dir):
    with pytest.raises(SpecError) as info:
        converge_link(LinkRequest(pin_dir, "nothing_here", "p", "xdp", interface="lo"))
    assert "not deployed" in str(info.value)


def test_module_check_idempotent_diff_absent(tmp_path, pin_dir, veth, bpf_build):
    host = veth[0]
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    t_load = {"ebpf.deploy.bpf_collection": {"name": "targets", "path": path, "pin_root": pin_dir,
                                             "programs": ["xdp_count"]}}
    t_link = {"ebpf.deploy.bpf_link": {"collection": "targets", "program": "xdp_count", "type": "xdp",
                                       "interface": host, "pin_root": pin_dir}}
    t_unlink = {"ebpf.deploy.bpf_link": dict(t_link["ebpf.deploy.bpf_link"], state="absent")}
    t_drop = {"ebpf.deploy.bpf_collection": {"name": "targets", "pin_root": pin_dir, "state": "absent"}}
    proc, (load, check, real, again, unlink, drop) = run_playbook(
        tmp_path, [t_load, dict(t_link, check_mode=True), t_link, t_link, t_unlink, t_drop], diff=True)
    assert not load.get("failed"), proc.stdout
    assert check["changed"] and check["links"][0]["action"] == "attach"
    assert real["changed"] and real["links"][0]["link_id"]
    assert again["changed"] is False
    assert unlink["changed"] and drop["changed"]
    assert "program_id" in proc.stdout  # diff shown
    assert not os.path.exists(pin_dir)   # ebpf.deploy created the pin root and removed it with the last collection


def _tc_filters(ns_or_none, ifname, direction):
    cmd = ["tc", "filter", "show", "dev", ifname, direction]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def test_tc_through_netlink_idempotent_upgrade_and_foreign_filter(bpf_build, pin_dir, veth):
    """The pre-6.6 path: clsact + bpf filter through pyroute2."""
    pytest.importorskip("pyroute2")
    host, ns, host_ip, _peer = veth
    path = os.path.join(bpf_build.dir, "attach_targets.o")
    req = dict(link_type="tc", interface=host, method="netlink", priority=7, handle=3)
    try:
        converge(Desired("nl", pin_dir, path=path, programs=["tc_in"]))
        first = converge_link(LinkRequest(pin_dir, "nl", "tc_in", **req))
        assert first["changed"] and first["links"][0]["method"] == "netlink"
        assert "ebpf_deploy:tc_in@" in _tc_filters(None, host, "ingress")
        assert converge_link(LinkRequest(pin_dir, "nl", "tc_in", **req))["changed"] is False
        send_from_netns(ns, host_ip, 10)
        assert bss_counter(pin_dir, "nl", "tc_ingress_packets") >= 10
        # An upgrade replaces the filter's program in place.
        upgraded = converge(Desired("nl", pin_dir, path=path, programs=["tc_in"], constants={"cgroup_deny": 1}))
        new_id = upgraded["programs"][0]["id"]
        assert "ebpf_deploy:tc_in@%d" % new_id in _tc_filters(None, host, "ingress")
        assert converge_link(LinkRequest(pin_dir, "nl", "tc_in", **req))["changed"] is False
        # Another tool's filter at a priority/handle we are asked to use is
        # left alone, and the request refused.
        from pyroute2 import IPRoute
        from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load_file import load_file
        foreign = load_file(path, programs=["tc_in"])
        with IPRoute() as ipr:
            ipr.tc("add-filter", "bpf", ipr.link_lookup(ifname=host)[0], 3, fd=foreign.programs["tc_in"].fd,
                   name="other-tool", parent=0xfffffff2, direct_action=True, prio=9, classid=1)
        foreign.close()
        with pytest.raises(LoaderError) as info:
            converge_link(LinkRequest(pin_dir, "nl", "tc_in", name="second", **{**req, "priority": 9}))
        assert "refusing" in str(info.value) and "other-tool" in str(info.value)
    finally:
        converge(Desired("nl", pin_dir, state="absent"))
    # Removing the collection removed our filter but not the foreign one,
    # so the clsact qdisc stays.
    remaining = _tc_filters(None, host, "ingress")
    assert "ebpf_deploy" not in remaining
    assert "other-tool" in remaining
    subprocess.run(["tc", "qdisc", "del", "dev", host, "clsact"], check=True)
