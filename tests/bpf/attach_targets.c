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

SEC("tc/ingress")
int tc_in(void *skb)
{
	__sync_fetch_and_add(&tc_ingress_packets, 1);
	return 0; /* TC_ACT_OK */
}

SEC("tc/egress")
int tc_out(void *skb)
{
	__sync_fetch_and_add(&tc_egress_packets, 1);
	return 0;
}

SEC("cgroup_skb/egress")
int cg_egress(void *skb)
{
	__sync_fetch_and_add(&cgroup_egress_packets, 1);
	return cgroup_deny ? 0 : 1;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(void *ctx)
{
	__sync_fetch_and_add(&execve_calls, 1);
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int on_exec_raw(void *ctx)
{
	__sync_fetch_and_add(&raw_exec_events, 1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int on_exec_btf(void *ctx)
{
	__sync_fetch_and_add(&btf_exec_events, 1);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int on_openat(void *ctx)
{
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
