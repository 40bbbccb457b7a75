/* The tail-call targets of shared_jumps.c: the same prog array, pinned by
 * name, with `drop` in slot 1. */
#include "common.h"

int drop(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} shared_jumps SEC(".maps") = {
	.values = { [1] = (void *)&drop },
};

SEC("xdp")
int drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
