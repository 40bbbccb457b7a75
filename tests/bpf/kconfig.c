/* .kconfig externs filled from the running kernel. */
#include "common.h"

enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };

extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern _Bool CONFIG_EBPF_DEPLOY_DOES_NOT_EXIST __kconfig __weak;

__u64 seen_version;
__u64 seen_syscall;
__u64 seen_jit;
__u64 seen_hz;
__u64 seen_missing;

SEC("xdp")
int read_kconfig(struct xdp_md *ctx)
{
	seen_version = LINUX_KERNEL_VERSION;
	seen_syscall = CONFIG_BPF_SYSCALL;
	seen_jit = CONFIG_BPF_JIT;
	seen_hz = CONFIG_HZ;
	seen_missing = CONFIG_EBPF_DEPLOY_DOES_NOT_EXIST;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
