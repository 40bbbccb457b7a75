/* Map-in-map: an array of maps whose slot 1 is initialised with an inner
 * map of the same object, plus a hash of maps with an inner template only. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [1] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps");

SEC("xdp")
int through_outer(struct xdp_md *ctx)
{
	__u32 slot = 1, k = 0, v = 99;
	void *m = bpf_map_lookup_elem(&outer, &slot);

	if (!m)
		return XDP_ABORTED;
	bpf_map_update_elem(m, &k, &v, BPF_ANY);
	(void)outer_hash;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
