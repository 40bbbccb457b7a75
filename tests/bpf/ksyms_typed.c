/* Typed __ksym variables: per-CPU variables in the kernel's BTF, read
 * through bpf_this_cpu_ptr()/bpf_per_cpu_ptr(). The verifier looks their
 * addresses up in kallsyms, so this loads only on kernels built with
 * CONFIG_KALLSYMS_ALL (test_ksyms.py). */
#include "build/vmlinux.h"
#include "core_common.h"

#define __ksym __attribute__((section(".ksyms")))

extern const int cpu_number __ksym;
extern const struct rq runqueues __ksym;

static void *(*bpf_per_cpu_ptr)(const void *percpu_ptr, __u32 cpu) = (void *)153;
static void *(*bpf_this_cpu_ptr)(const void *percpu_ptr) = (void *)154;
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;

__u64 cpu_number_match;	/* 1: this CPU's cpu_number is the CPU we run on */
__u64 rq0_cpu;		/* CPU 0's runqueue's cpu + 100 */

SEC("syscall")
int typed_vars(void *ctx)
{
	const int *n = bpf_this_cpu_ptr(&cpu_number);
	const struct rq *rq = bpf_per_cpu_ptr(&runqueues, 0);

	cpu_number_match = (*n == bpf_get_smp_processor_id()) ? 1 : 2;
	if (rq)
		rq0_cpu = rq->cpu + 100;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
