/* Uses a field the kernel lacks without an existence check: the loader
 * poisons the instruction and the verifier must reject the program with an
 * error that names the unsatisfied relocation. */
#include "build/vmlinux.h"
#include "core_common.h"

struct task_struct___other {
	int no_such_field_in_the_kernel;
} __attribute__((preserve_access_index));

__u64 out;

SEC("xdp")
int core_unguarded(struct xdp_md *ctx)
{
	out = field_offset(struct task_struct___other, no_such_field_in_the_kernel);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
