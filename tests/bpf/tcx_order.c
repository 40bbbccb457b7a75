/* Three tc programs for tests/integration/test_tcx_order.py: each adds
 * its id (a constant, 1..7) to the packet's mark, three bits a step
 * (mark = mark * 8 + id), and keeps the mark in `trace` and a count in
 * `runs_*`: `trace` then spells the order the chain ran them in for the
 * last packet. tc_b drops the packet (the programs after it never see it)
 * when `drop_b` is set; otherwise each hands the packet on (TCX_NEXT). */
#include "common.h"

struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
};

#define TCX_NEXT -1
#define TC_ACT_SHOT 2

const volatile __u32 id_a = 1;
const volatile __u32 id_b = 2;
const volatile __u32 id_c = 3;
const volatile __u32 drop_b = 0;
__u32 trace = 0;
__u64 runs_a = 0;
__u64 runs_b = 0;
__u64 runs_c = 0;

static __attribute__((always_inline)) void step(struct __sk_buff *skb, __u32 id)
{
	__u32 mark = skb->mark * 8 + id;

	skb->mark = mark;
	trace = mark;
}

SEC("tc/ingress")
int tc_a(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&runs_a, 1);
	step(skb, id_a);
	return TCX_NEXT;
}

SEC("tc/ingress")
int tc_b(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&runs_b, 1);
	step(skb, id_b);
	return drop_b ? TC_ACT_SHOT : TCX_NEXT;
}

SEC("tc/ingress")
int tc_c(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&runs_c, 1);
	step(skb, id_c);
	return TCX_NEXT;
}

char _license[] SEC("license") = "GPL";
