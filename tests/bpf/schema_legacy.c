/* A map `config` defined without BTF (legacy `maps` section): 4-byte key,
 * 8-byte value, as schema_v1.c's but with no types to convert by. */
#include "common.h"

struct bpf_map_def SEC("maps") config = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 2048,
};

SEC("xdp")
int touch_cfg(struct xdp_md *ctx)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&config, &k) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
