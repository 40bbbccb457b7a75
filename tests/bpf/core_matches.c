/* TYPE_MATCHES relocations (clang 15+), compared with libbpf's answers. */
#include "build/vmlinux.h"
#include "core_common.h"

#define type_matches(type) __builtin_preserve_type_info(*(typeof(type) *)0, 2)

struct task_struct___same_pid {
	int pid;
} __attribute__((preserve_access_index));

struct task_struct___char_pid {
	char pid;
} __attribute__((preserve_access_index));

struct task_struct___no_such_member {
	int ebpf_deploy_not_in_kernel;
} __attribute__((preserve_access_index));

enum bpf_map_type___subset { BPF_MAP_TYPE_HASH___subset = 1, BPF_MAP_TYPE_ARRAY___subset = 2 };
enum bpf_map_type___renamed { EBPF_DEPLOY_NOT_AN_ENUMERATOR = 1 };

__u64 results[7];

SEC("xdp")
int core_matches(struct xdp_md *ctx)
{
	results[0] = type_matches(struct task_struct);
	results[1] = type_matches(struct task_struct___same_pid);
	results[2] = type_matches(struct task_struct___char_pid);
	results[3] = type_matches(struct task_struct___no_such_member);
	results[4] = type_matches(enum bpf_map_type___subset);
	results[5] = type_matches(enum bpf_map_type___renamed);
	results[6] = type_matches(struct sk_buff);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
