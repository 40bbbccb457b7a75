/* Three exec hooks of three link kinds the kernel cannot re-point (BTF
 * tracepoint, raw tracepoint, perf-event tracepoint), each counting into its
 * own slot of one array map: an upgrade must keep every link on its own
 * program, so all three slots go on counting. `generation` is a constant an
 * upgrade changes; each program adds it so a test can tell versions apart. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

const volatile __u64 generation = 1;

#ifndef EXEC_HOOKS_RAWTP_SECTION
#define EXEC_HOOKS_RAWTP_SECTION "raw_tracepoint/sched_process_exec"
#endif

static __attribute__((always_inline)) void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &slot);

	if (v)
		__sync_fetch_and_add(v, generation);
}

SEC("tp_btf/sched_process_exec")
int tpbtf_exec(void *ctx)
{
	count(0);
	return 0;
}

SEC(EXEC_HOOKS_RAWTP_SECTION)
int rawtp_exec(void *ctx)
{
	count(1);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tp_exec(void *ctx)
{
	count(2);
	return 0;
}

char _license[] SEC("license") = "GPL";
