/* A netfilter program for tests/integration/test_netfilter_link.py: counts
 * every packet its hook sees in `seen` and gives the verdict the constant
 * `accept` says (1 NF_ACCEPT, 0 NF_DROP). */
#include "common.h"

const volatile __u32 accept = 1;
__u64 seen = 0;

SEC("netfilter")
int nf_hook(void *ctx)
{
	__sync_fetch_and_add(&seen, 1);
	if (accept == 0)
		return 0;
	return 1;
}

char _license[] SEC("license") = "GPL";
