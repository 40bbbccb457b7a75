/* A program in a section no loader convention names. */
#include "common.h"

SEC("not_a_program_type/foo")
int mystery(void *ctx)
{
	return 0;
}

SEC("xdp")
int fine(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
