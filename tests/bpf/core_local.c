/* CO-RE against a made-up target (core_target_types.c): the values this
 * program stores are checked against answers worked out by hand. Against
 * its own BTF every relocation is an identity. */
#include "common.h"
#include "core_common.h"

#define CORE __attribute__((preserve_access_index))

struct ebpf_deploy_rec {
	int a;
	int b;
	unsigned int flags : 4;
	unsigned int mode : 4;
	char name[8];
	int u1;
} CORE;

struct ebpf_deploy_other___v2 {
	int a;
	int gone;
} CORE;

enum ebpf_deploy_state { ST_IDLE = 0, ST_BUSY = 1, ST_DONE = 2 };

__u64 results[20];

SEC("xdp")
int core_local(struct xdp_md *ctx)
{
	results[0] = field_offset(struct ebpf_deploy_rec, a);
	results[1] = field_offset(struct ebpf_deploy_rec, b);
	results[2] = field_offset(struct ebpf_deploy_rec, name[2]);
	results[3] = field_size(struct ebpf_deploy_rec, name);
	results[4] = field_offset(struct ebpf_deploy_rec, u1);
	results[5] = field_lshift(struct ebpf_deploy_rec, flags);
	results[6] = field_rshift(struct ebpf_deploy_rec, flags);
	results[7] = field_offset(struct ebpf_deploy_rec, flags);
	results[8] = field_lshift(struct ebpf_deploy_rec, mode);
	results[9] = field_rshift(struct ebpf_deploy_rec, mode);
	results[10] = field_signed(struct ebpf_deploy_rec, b);
	results[11] = type_size(struct ebpf_deploy_rec);
	results[12] = field_offset(struct ebpf_deploy_other___v2, a);
	results[13] = field_exists(struct ebpf_deploy_other___v2, gone);
	results[14] = enumval_value(enum ebpf_deploy_state, ST_DONE);
	results[15] = enumval_exists(enum ebpf_deploy_state, ST_BUSY);
	results[16] = enumval_value(enum ebpf_deploy_state, ST_IDLE);
	results[17] = type_exists(struct ebpf_deploy_other___v2);
	results[18] = field_size(struct ebpf_deploy_rec, flags);
	results[19] = field_signed(struct ebpf_deploy_rec, flags);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
