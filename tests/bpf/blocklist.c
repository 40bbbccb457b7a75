/* A blocklist at fleet scale: a hash map of 2^20 u64 keys (u32 value),
 * an array of u32, and a struct-keyed hash. The program reads a u64 from
 * the packet after the Ethernet header and returns the blocklist's value
 * for it, or 0xffff when the key is absent, so a test run proves what the
 * map holds. */
#include "common.h"

struct flow {
	__u32 addr;
	__u16 port;
	__u8 proto;
};

struct action {
	__u32 verdict;
	__u64 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, __u32);
} blocklist SEC(".maps");

BTF_MAP(slots, BPF_MAP_TYPE_ARRAY, 64, __u32, __u32);

BTF_MAP(flows, BPF_MAP_TYPE_HASH, 8, struct flow, struct action);

SEC("xdp")
int lookup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 key;
	__u32 *v;

	if (data + 14 + sizeof(key) > end)
		return 0xfffe;
	__builtin_memcpy(&key, data + 14, sizeof(key));
	v = bpf_map_lookup_elem(&blocklist, &key);
	return v ? *v : 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
