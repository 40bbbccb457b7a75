# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write and compile a CO-RE object with N kprobe programs, each reading
task->nsproxy->mnt_ns->ns.inum (four CO-RE relocations per program)."""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

HEAD = r'''#include "vmlinux.h"
#define SEC(name) __attribute__((section(name), used))
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
#define READ(dst, src) bpf_probe_read_kernel(&(dst), sizeof(dst), &(src))
__u64 seen[%(n)d];
'''

PROG = '''
SEC("kprobe/do_sys_openat2")
int read_mnt_ns_%(i)d(void *ctx)
{
\tstruct task_struct *task = (void *)bpf_get_current_task();
\tstruct nsproxy *nsproxy;
\tstruct mnt_namespace *mnt_ns;
\tunsigned int inum;

\tREAD(nsproxy, task->nsproxy);
\tREAD(mnt_ns, nsproxy->mnt_ns);
\tREAD(inum, mnt_ns->ns.inum);
\tseen[%(i)d] = inum;
\treturn 0;
}
'''


def build(count, out_dir):
    """Compile the object for ``count`` programs; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    header = os.path.join(out_dir, "vmlinux.h")
    if not os.path.exists(header):
        with open(header + ".tmp", "w") as f:
            subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
                           stdout=f, check=True)
        os.rename(header + ".tmp", header)
    src = os.path.join(out_dir, "core_%d.c" % count)
    with open(src, "w") as f:
        f.write(HEAD % {"n": count})
        for i in range(count):
            f.write(PROG % {"i": i})
        f.write('char _license[] SEC("license") = "GPL";\n')
    obj = src[:-2] + ".o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-c", src, "-o", obj], check=True)
    return obj


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else 100, os.path.join(HERE, "build")))
