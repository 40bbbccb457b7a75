/* A program configured through maps: verdicts by source network (LPM
 * trie), by protocol (hash), a default (array) and a per-CPU switch. */
#include "common.h"

enum verdict { VERDICT_DEFAULT = 0, VERDICT_PASS = 2, VERDICT_DROP = 1 };

struct net_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct net_rule {
	enum verdict verdict;
	__u16 port_be;
	__u8 flags : 3;
	__u8 enabled : 1;
	char label[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct net_key);
	__type(value, struct net_rule);
} networks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u8);
	__type(value, enum verdict);
} protocols SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} default_verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bypass SEC(".maps");

SEC("xdp")
int filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct net_key key = { .prefixlen = 32 };
	struct net_rule *rule;
	enum verdict *v;
	__u32 zero = 0, *dflt;
	__u64 *by;

	by = bpf_map_lookup_elem(&bypass, &zero);
	if (by && *by)
		return XDP_PASS;
	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(key.addr, &ip->saddr, 4);
	rule = bpf_map_lookup_elem(&networks, &key);
	if (rule && rule->enabled && rule->verdict != VERDICT_DEFAULT)
		return rule->verdict;
	v = bpf_map_lookup_elem(&protocols, &ip->protocol);
	if (v && *v != VERDICT_DEFAULT)
		return *v;
	dflt = bpf_map_lookup_elem(&default_verdict, &zero);
	return dflt && *dflt ? *dflt : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
