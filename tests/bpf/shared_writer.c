/* Collection `a` of the shared-map tests: adds one to `shared_counts`,
 * a map pinned by name that collection `b` (shared_reader.c) also declares. */
#include "common.h"

#ifndef SHARED_MAX
#define SHARED_MAX 4
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SHARED_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u64);
} shared_counts SEC(".maps");

SEC("xdp")
int count_up(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&shared_counts, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
