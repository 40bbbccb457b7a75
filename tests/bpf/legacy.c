/* Legacy map definitions in the "maps" section (no BTF needed for them). */
#include "common.h"

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 2,
};

SEC("xdp")
int legacy_prog(struct xdp_md *ctx)
{
	__u32 k = 1, v32 = 5;
	__u64 v = 0xabcdef;

	bpf_map_update_elem(&legacy_hash, &k, &v, BPF_ANY);
	bpf_map_update_elem(&legacy_array, &k, &v32, BPF_ANY);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
