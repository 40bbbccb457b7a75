// SPDX-License-Identifier: GPL-2.0
/* Six hooks of the link kinds the kernel cannot re-point, each counting into
 * its own slot of one array map: BTF, raw and perf-event tracepoints on exec,
 * fentry, fexit and kprobe on openat. The vm scenario attaches them all with
 * one type: auto bpf_link task and upgrades the collection (a new
 * `generation`): every link must run its own new program afterwards, and
 * every slot go on counting by the new generation. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

const volatile __u64 generation = 1;

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &slot);

	if (v)
		__sync_fetch_and_add(v, generation);
}

SEC("tp_btf/sched_process_exec")
int tpbtf_exec(void *ctx) { count(0); return 0; }

SEC("raw_tracepoint/sched_process_exec")
int rawtp_exec(void *ctx) { count(1); return 0; }

SEC("tracepoint/sched/sched_process_exec")
int tp_exec(void *ctx) { count(2); return 0; }

SEC("fentry/do_sys_openat2")
int fe_open(void *ctx) { count(3); return 0; }

SEC("fexit/do_sys_openat2")
int fx_open(void *ctx) { count(4); return 0; }

SEC("kprobe/do_sys_openat2")
int kp_open(void *ctx) { count(5); return 0; }

char _license[] SEC("license") = "GPL";
