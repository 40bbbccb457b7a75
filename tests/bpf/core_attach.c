/* Programs whose attach target is resolved in kernel BTF at load time. */
#include "build/vmlinux.h"
#include "core_common.h"

__u64 calls;

SEC("fentry/do_sys_openat2")
int BPF_PROG_fentry(unsigned long long *ctx)
{
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG_fexit(unsigned long long *ctx)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG_tp_btf(unsigned long long *ctx)
{
	return 0;
}

SEC("fentry/ebpf_deploy_no_such_function")
int BPF_PROG_missing(unsigned long long *ctx)
{
	return 0;
}

char _license[] SEC("license") = "GPL";
