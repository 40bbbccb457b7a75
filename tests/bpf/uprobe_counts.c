/* uprobe and uretprobe programs for tests/integration/test_uprobe.py: each
 * adds `generation` to its own slot of `hits` (slot 0 entries, 1 returns,
 * 2 the libc probe, 4 and 5 the uprobe_multi entries and returns), and the
 * uretprobe adds the probed function's return value (x86-64 rax) to slot 3,
 * so a test sees what it returned. */
#include "common.h"

BTF_MAP(hits, BPF_MAP_TYPE_ARRAY, 8, __u32, __u64);

const volatile __u64 generation = 1;

static __attribute__((always_inline)) void add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &slot);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("uprobe")
int on_work(void *ctx)
{
	add(0, generation);
	return 0;
}

SEC("uretprobe")
int on_work_return(void *ctx)
{
	/* struct pt_regs on x86-64: ax is the eleventh word. */
	add(1, generation);
	add(3, ((__u64 *)ctx)[10]);
	return 0;
}

SEC("uprobe/libc.so.6:getppid")
int on_getppid(void *ctx)
{
	add(2, generation);
	return 0;
}

SEC("uprobe.multi")
int on_multi(void *ctx)
{
	add(4, generation);
	return 0;
}

SEC("uretprobe.multi")
int on_multi_return(void *ctx)
{
	add(5, generation);
	return 0;
}

char _license[] SEC("license") = "GPL";
