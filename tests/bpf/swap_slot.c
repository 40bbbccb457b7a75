/* A rule set reached through a map-in-map slot: slot 0 of `rulesets` (an
 * array of maps) holds a hash of u64 keys (u32 values). The program reads
 * a u64 from the packet after the Ethernet header and returns its value in
 * the map slot 0 holds, 0xffff when the key is absent, 0xfffd when the
 * slot is empty; so a test run proves which map the slot holds. */
#include "common.h"

struct ruleset {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, __u32);
};

struct ruleset rules_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ruleset);
} rulesets SEC(".maps") = {
	.values = { [0] = &rules_a },
};

SEC("xdp")
int lookup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 slot = 0, *v;
	__u64 key;
	void *m;

	if (data + 14 + sizeof(key) > end)
		return 0xfffe;
	__builtin_memcpy(&key, data + 14, sizeof(key));
	m = bpf_map_lookup_elem(&rulesets, &slot);
	if (!m)
		return 0xfffd;
	v = bpf_map_lookup_elem(m, &key);
	return v ? *v : 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
