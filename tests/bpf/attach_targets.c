/* One program per attach type bpf_link handles; each counts its events in
 * .bss so a test can see it run, and stops counting once detached. */
#include "common.h"

__u64 xdp_packets;
__u64 tc_ingress_packets;
__u64 tc_egress_packets;
__u64 cgroup_egress_packets;
__u64 execve_calls;
__u64 raw_exec_events;
__u64 btf_exec_events;
__u64 kprobe_hits;

/* Set by a constant: the cgroup program drops egress when non-zero. */
const volatile __u32 cgroup_deny = 0;

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&xdp_packets, 1);
	return XDP_PASS;
}

COUNTING_PROG("tc/ingress", tc_in, tc_ingress_packets, 0 /* TC_ACT_OK */)
COUNTING_PROG("tc/egress", tc_out, tc_egress_packets, 0)
/* 0 drops the packet, 1 lets it go. */
COUNTING_PROG("cgroup_skb/egress", cg_egress, cgroup_egress_packets, cgroup_deny ? 0 : 1)
COUNTING_PROG("tracepoint/syscalls/sys_enter_execve", on_execve, execve_calls, 0)
COUNTING_PROG("raw_tracepoint/sched_process_exec", on_exec_raw, raw_exec_events, 0)
COUNTING_PROG("tp_btf/sched_process_exec", on_exec_btf, btf_exec_events, 0)
COUNTING_PROG("kprobe/do_sys_openat2", on_openat, kprobe_hits, 0)

char _license[] SEC("license") = "GPL";
