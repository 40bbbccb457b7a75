/* kfunc externs the loader must refuse, one per program: a strong kfunc
 * the kernel lacks, a kfunc declared with the wrong number of arguments,
 * strong typed and untyped ksyms the kernel lacks, a variable of the wrong
 * type, and a missing weak kfunc called unguarded (test_ksyms.py). */
#include "build/vmlinux.h"
#include "core_common.h"

#define __ksym __attribute__((section(".ksyms")))

extern void bpf_no_such_kfunc(int x) __ksym;
/* The kernel's takes one argument (s32 pid). */
extern struct task_struct *bpf_task_from_pid(s32 pid, int extra) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern const int no_such_typed_ksym __ksym;
extern const void no_such_untyped_ksym __ksym;
/* Weak and missing, called without a bpf_ksym_exists() guard. */
extern void bpf_no_such_weak_kfunc(int x) __ksym __attribute__((weak));
/* The kernel's cpu_number is an int. */
extern const struct rq cpu_number __ksym;

__u64 out;

SEC("syscall")
int missing_kfunc(void *ctx)
{
	bpf_no_such_kfunc(1);
	return 0;
}

SEC("syscall")
int wrong_proto(void *ctx)
{
	struct task_struct *t = bpf_task_from_pid(1, 2);

	if (t)
		bpf_task_release(t);
	return 0;
}

SEC("syscall")
int missing_typed(void *ctx)
{
	out = (__u64)&no_such_typed_ksym;
	return 0;
}

SEC("syscall")
int missing_untyped(void *ctx)
{
	out = (__u64)&no_such_untyped_ksym;
	return 0;
}

SEC("syscall")
int wrong_var_type(void *ctx)
{
	out = (__u64)&cpu_number;
	return 0;
}

SEC("syscall")
int unguarded_weak(void *ctx)
{
	bpf_no_such_weak_kfunc(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
