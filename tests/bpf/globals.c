/* Global data in .data, .rodata and .bss plus custom sections; the
 * program combines them so a constants rewrite shows in its result. */
#include "common.h"

const volatile __u32 multiplier = 3;
const volatile __s32 offset = -5;
const volatile __u8 enabled = 1;
const volatile char greeting[8] = "hello";
const volatile __u64 custom_ro SEC(".rodata.custom") = 1000;

__u32 counter = 10;
__u64 custom_rw SEC(".data.custom") = 77;
__u32 result;
__u64 calls;

SEC("xdp")
int compute(struct xdp_md *ctx)
{
	calls++;
	counter++;
	if (!enabled)
		return XDP_DROP;
	result = counter * multiplier + offset + (__u32)custom_ro + (__u32)custom_rw + greeting[0];
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
