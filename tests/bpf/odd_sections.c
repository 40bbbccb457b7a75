/* Sections bpf_link's auto cannot attach on its own: a bare kprobe (no
 * target), a uprobe and a kprobe.multi (kinds bpf_link does not attach yet),
 * beside one it can (a raw tracepoint the section names completely). */
#include "common.h"

__u64 events;

SEC("kprobe")
int kp_bare(void *ctx)
{
	return 0;
}

SEC("uprobe.session//bin/true:main")
int up_main(void *ctx)
{
	return 0;
}

SEC("kprobe.multi/do_sys_open*")
int kpm_open(void *ctx)
{
	return 0;
}

COUNTING_PROG("raw_tracepoint/sched_process_exec", ok_exec, events, 0)

char _license[] SEC("license") = "GPL";
