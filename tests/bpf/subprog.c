/* bpf-to-bpf calls: static and global subprograms in .text, a chain of
 * calls, and a callback passed by address (bpf_loop). */
#include "common.h"

__u64 out;

static __noinline __u64 square(__u64 x)
{
	return x * x;
}

__noinline __u64 add_square(__u64 a, __u64 b)
{
	return a + square(b);
}

static int loop_cb(__u32 index, void *ctx)
{
	*(__u64 *)ctx += index;
	return 0;
}

SEC("xdp")
int calls(struct xdp_md *ctx)
{
	__u64 sum = 0;

	bpf_loop(10, loop_cb, &sum, 0);
	/* 3 + 4*4 + (0+1+...+9) = 64 */
	out = add_square(3, 4) + sum;
	return out == 64 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int calls_again(struct xdp_md *ctx)
{
	/* The same subprogram linked into a second program. */
	return square(2) == 4 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
