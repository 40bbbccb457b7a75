/* Maps the object leaves for user space to size (bpf_collection's per-map
 * value_size and max_entries): a stack-trace map sized by stack depth and a
 * ring buffer sized by the operator. The program writes one record to the
 * ring buffer so the test can see it was created as asked. */
#include "common.h"

struct {
	__uint(type, 7 /* BPF_MAP_TYPE_STACK_TRACE */);
	__uint(key_size, sizeof(__u32));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
} events SEC(".maps");

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	return bpf_ringbuf_output(&events, &len, sizeof(len), 0) == 0 ? 1 : 2;
}

char LICENSE[] SEC("license") = "GPL";
