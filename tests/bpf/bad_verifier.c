/* Rejected by the verifier: reads packet data without a bounds check. */
#include "common.h"

SEC("xdp")
int unchecked_packet_read(struct xdp_md *ctx)
{
	__u32 *first = (__u32 *)(long)ctx->data;

	return *first ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
