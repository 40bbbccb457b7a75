/* One CO-RE relocation of each kind against this kernel's types; the
 * program stores the relocated values so a test can compare them with
 * what bpftool says of the same kernel BTF, and with libbpf's output. */
#include "build/vmlinux.h"
#include "core_common.h"

/* A flavour of a real kernel type with one field the kernel lacks. */
struct task_struct___mine {
	int pid;
	int tgid;
	int no_such_field_in_the_kernel;
} __attribute__((preserve_access_index));

struct ebpf_deploy_no_such_type {
	int x;
} __attribute__((preserve_access_index));

enum ebpf_deploy_no_such_enum { EBPF_DEPLOY_NOPE = 1 };

__u64 results[24];

SEC("xdp")
int core_kinds(struct xdp_md *ctx)
{
	results[0] = field_offset(struct task_struct, pid);
	results[1] = field_size(struct task_struct, pid);
	results[2] = field_exists(struct task_struct, tgid);
	results[3] = field_exists(struct task_struct___mine, no_such_field_in_the_kernel);
	results[4] = field_signed(struct task_struct, pid);
	results[5] = field_offset(struct sk_buff, len);
	results[6] = field_offset(struct task_struct___mine, tgid);
	results[7] = type_exists(struct task_struct);
	results[8] = type_exists(struct ebpf_deploy_no_such_type);
	results[9] = type_size(struct task_struct);
	results[10] = type_id_target(struct task_struct);
	results[11] = type_id_local(struct task_struct);
	results[12] = enumval_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	results[13] = enumval_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	results[14] = enumval_exists(enum ebpf_deploy_no_such_enum, EBPF_DEPLOY_NOPE);
	results[15] = field_offset(struct nsproxy, mnt_ns);
	results[16] = field_offset(struct ns_common, inum);
	/* an array element and a nested, anonymous-union member */
	results[17] = field_offset(struct task_struct, comm[3]);
	results[18] = field_size(struct task_struct, comm);
	results[19] = field_offset(struct sk_buff, tstamp);
	/* bitfields: shifts that extract them from a u64 load */
	results[20] = field_lshift(struct sk_buff, pkt_type);
	results[21] = field_rshift(struct sk_buff, pkt_type);
	results[22] = field_offset(struct sk_buff, pkt_type);
	results[23] = field_size(struct sk_buff, pkt_type);
	return XDP_PASS;
}

/* Reaches a field the kernel lacks only behind an existence check: the
 * poisoned instruction is dead code, so the program loads. */
SEC("xdp")
int core_guarded(struct xdp_md *ctx)
{

	if (field_exists(struct task_struct___mine, no_such_field_in_the_kernel))
		return field_offset(struct task_struct___mine, no_such_field_in_the_kernel);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
