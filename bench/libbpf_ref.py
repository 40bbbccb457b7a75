# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Current libbpf's reference loader (lbload) for the benchmarks: $LBLOAD,
or built by ../shared/tools/libbpf-ref/build.sh from the libbpf snapshot
in $LIBBPF_GIT (default ../.mirror/libbpf+libbpf/repo, what the tool
library's `fetch github:libbpf/libbpf` leaves) into /var/tmp/libbpf-ref,
which build.sh rebuilds only when the snapshot changes."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SH = os.path.join(ROOT, "..", "shared", "tools", "libbpf-ref", "build.sh")
OUT = "/var/tmp/libbpf-ref"


def lbload_path():
    if os.environ.get("LBLOAD"):
        return os.environ["LBLOAD"]
    src = os.environ.get("LIBBPF_GIT", os.path.join(ROOT, "..", ".mirror", "libbpf+libbpf", "repo"))
    if not os.path.exists(BUILD_SH) or not os.path.isdir(src):
        sys.exit("bench: no reference loader: set LBLOAD, or LIBBPF_GIT to a libbpf git snapshot "
                 "(fetch github:libbpf/libbpf), with %s beside the project" % BUILD_SH)
    out = subprocess.run(["bash", BUILD_SH, src, OUT], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    return out.strip().splitlines()[-1]
