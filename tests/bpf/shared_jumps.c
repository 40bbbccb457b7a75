/* A prog array pinned by name whose tail-call targets are in another
 * collection (shared_targets.c): `jump` tail-calls slot 1 and returns
 * XDP_PASS only when the slot is empty. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} shared_jumps SEC(".maps");

SEC("xdp")
int jump(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &shared_jumps, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
