/* Collection `b` of the shared-map tests: reads `shared_counts` (pinned by
 * name, written by shared_writer.c), copies it into its own map `seen` and
 * returns it. SHARED_MAX / SHARED_VALUE change the declaration for the
 * refusal tests (shared_reader_bigger.o, shared_reader_retyped.o). */
#include "common.h"

#ifndef SHARED_MAX
#define SHARED_MAX 4
#endif
#ifndef SHARED_VALUE
#define SHARED_VALUE __u64
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SHARED_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, SHARED_VALUE);
} shared_counts SEC(".maps");

BTF_MAP(seen, BPF_MAP_TYPE_ARRAY, 1, __u32, __u64);

SEC("xdp")
int read_counts(struct xdp_md *ctx)
{
	__u32 k = 0;
	SHARED_VALUE *v = bpf_map_lookup_elem(&shared_counts, &k);
	__u64 copy;

	if (!v)
		return -1;
	copy = *(__u64 *)v;
	bpf_map_update_elem(&seen, &k, &copy, BPF_ANY);
	return (int)copy;
}

char _license[] SEC("license") = "GPL";
