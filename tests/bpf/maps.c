/* One map of each kind a collection declares; the program writes to each
 * so the test can read the kernel's copy back. */
#include "common.h"

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, __u32);
} hash_prealloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u32);
} hash_noprealloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u32);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__uint(value_size, 4);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__uint(value_size, 4);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u32);
} pinned_by_name SEC(".maps");

typedef struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} typedef_map_t;
typedef_map_t typedefd SEC(".maps");

SEC("xdp")
int fill_maps(struct xdp_md *ctx)
{
	__u64 k64 = 7;
	__u32 k = 3, v = 42;
	__u64 v64 = 0x1122334455667788ULL;
	struct lpm_key lk = { .prefixlen = 24, .addr = 0x0002000a };

	bpf_map_update_elem(&hash_prealloc, &k64, &v, BPF_ANY);
	bpf_map_update_elem(&hash_noprealloc, &k64, &v, BPF_ANY);
	bpf_map_update_elem(&array, &k, &v64, BPF_ANY);
	bpf_map_update_elem(&percpu_hash, &k, &v64, BPF_ANY);
	bpf_map_update_elem(&percpu_array, &k, &v64, BPF_ANY);
	bpf_map_update_elem(&lru, &k, &v, BPF_ANY);
	bpf_map_update_elem(&lpm, &lk, &v, BPF_ANY);
	bpf_map_push_elem(&queue, &v, BPF_ANY);
	bpf_map_push_elem(&stack, &v, BPF_ANY);
	bpf_ringbuf_output(&ringbuf, &v, sizeof(v), 0);
	bpf_map_update_elem(&pinned_by_name, &k, &v, BPF_ANY);
	bpf_map_update_elem(&typedefd, &k, &v, BPF_ANY);
	(void)events;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
