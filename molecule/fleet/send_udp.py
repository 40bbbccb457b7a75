# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send COUNT UDP datagrams from here (the root namespace) to ADDRESS:PORT
and say whether the host answered with ICMP port unreachable.

    send_udp.py ADDRESS COUNT [PORT]  ->  {"sent": COUNT, "refused": bool}

Nothing listens on the port, so a host whose stack sees a datagram
answers with ICMP port unreachable, which a connected UDP socket reports
as ECONNREFUSED. A host whose XDP program drops UDP never answers.
"""

import json
import socket
import sys
import time


def main(address, count, port=9):
    refused = False
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((address, port))
    sent = 0
    while sent < count:
        try:
            sock.send(b"ebpf.deploy fleet %d" % sent)
            sent += 1
        except ConnectionRefusedError:
            refused = True  # an ICMP error for an earlier datagram; this one was not sent
    # An ICMP answer to the last datagrams arrives within a round trip (microseconds on a veth).
    sock.settimeout(0.3)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        try:
            sock.recv(64)
        except socket.timeout:
            break
        except ConnectionRefusedError:
            refused = True
            break
    print(json.dumps({"sent": sent, "refused": refused}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *[int(a) for a in sys.argv[3:4]])
