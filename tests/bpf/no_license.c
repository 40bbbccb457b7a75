/* No license section, yet a GPL-only helper (bpf_trace_printk). */
#include "common.h"

SEC("xdp")
int printk_without_license(struct xdp_md *ctx)
{
	char fmt[] = "hi\n";

	bpf_trace_printk(fmt, sizeof(fmt));
	return XDP_PASS;
}
