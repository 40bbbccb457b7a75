/* Example collection: count packets per IP protocol at XDP, drop one
 * protocol chosen at load time through a constant. */
#include "../../tests/bpf/common.h"

#define ETH_P_IP 0x0800

/* Set by the deploy (constants: {drop_protocol: 17}); 0 drops nothing. */
const volatile __u8 drop_protocol = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u8);
	__type(value, __u64);
} packets_by_protocol SEC(".maps");

__u64 packets_dropped;

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u64 one = 1, *count;
	__u8 proto;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != __builtin_bswap16(ETH_P_IP))
		return XDP_PASS;
	proto = ip->protocol;
	count = bpf_map_lookup_elem(&packets_by_protocol, &proto);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&packets_by_protocol, &proto, &one, BPF_ANY);
	if (drop_protocol && proto == drop_protocol) {
		__sync_fetch_and_add(&packets_dropped, 1);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
