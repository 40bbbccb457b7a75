#!/usr/bin/env python3
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Demo: load the example collection on this host with the bundled loader,
send it a few packets through BPF_PROG_TEST_RUN, and report what was
pinned and what it costs in locked kernel memory."""

from __future__ import absolute_import, division, print_function

import argparse
import os
import struct
import sys

from ansible_collections.ebpf.deploy.plugins.module_utils import syscalls, uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.collection import load_file
from ansible_collections.ebpf.deploy.plugins.module_utils.errors import LoaderError

HERE = os.path.dirname(os.path.abspath(__file__))
OBJECT = os.path.join(HERE, "..", "examples", "bpf", "build", "packet_counter.o")


def packet(protocol):
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 0, 0, 64, protocol, 0, b"\x0a\0\0\1", b"\x0a\0\0\2")
    return eth + ip + b"\0" * 32


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pin-root", default="/sys/fs/bpf/ebpf_deploy")
    parser.add_argument("--keep", action="store_true", help="leave the collection pinned")
    args = parser.parse_args()
    pin_dir = os.path.join(args.pin_root, "demo")
    try:
        coll = load_file(OBJECT, pin_dir=pin_dir, constants={"drop_protocol": 17})
    except LoaderError as e:
        print("load failed: %s" % e, file=sys.stderr)
        if e.hint:
            print("hint: %s" % e.hint, file=sys.stderr)
        return 1
    with coll:
        prog = coll.programs["count_packets"]
        verdicts = [syscalls.prog_test_run(prog.fd, packet(p))[0] for p in (6, 6, 17, 1)]
        counts = coll.maps["packets_by_protocol"]
        print("collection 'demo' loaded from %s" % os.path.relpath(OBJECT))
        print("XDP verdicts for TCP, TCP, UDP, ICMP packets: %s (1 = drop, 2 = pass; UDP dropped by "
              "constant drop_protocol=17)" % verdicts)
        for key in syscalls.map_keys(counts.fd, counts.key_size):
            value = syscalls.map_lookup(counts.fd, key, counts.value_size)
            print("  packets_by_protocol[%d] = %d" % (key[0], struct.unpack("=Q", value)[0]))
        print("pinned:")
        for obj in list(coll.maps.values()) + list(coll.programs.values()):
            kind = uapi.MAP_TYPE_NAMES.get(obj.type) if obj in coll.maps.values() else uapi.PROG_TYPE_NAMES.get(obj.type)
            print("  %-55s id %-5d %-10s memlock %8d B" % (obj.pin, obj.id, kind, obj.memlock))
        print("memlock total: %d B" % coll.memlock)
        if args.keep:
            print("kept pinned under %s" % pin_dir)
        else:
            coll.unpin()
            print("unpinned (run with --keep to leave it loaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
