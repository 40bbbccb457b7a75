/* Kernel symbols: kfunc calls, typed and untyped __ksym variables, and
 * __weak externs the kernel lacks, guarded by bpf_ksym_exists(). A
 * syscall program (BPF_PROG_TYPE_SYSCALL) so that BPF_PROG_TEST_RUN runs
 * it on this kernel; test_ksyms.py reads the results from .bss. Typed
 * kernel variables are in ksyms_typed.c. */
#include "build/vmlinux.h"
#include "core_common.h"

#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
/* As libbpf's bpf_helpers.h (Debian's libbpf 1.1 lacks it). */
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;
/* A weak kfunc that no kernel has: its call is dead code on every kernel. */
extern void bpf_no_such_kfunc(int x) __ksym __weak;
/* A weak kfunc the kernel has: bpf_ksym_exists() is true. */
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;

/* A typed ksym (a VAR in kernel BTF) no kernel has; ksyms_typed.c has real ones. */
extern const int no_such_typed_ksym __ksym __weak;
/* Untyped ksyms: addresses from /proc/kallsyms (a function: this kernel
 * lists no data symbols there, CONFIG_KALLSYMS_ALL is off). */
extern const void bpf_prog_put __ksym;
extern const void no_such_untyped_ksym __ksym __weak;

static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;

__u64 task_pid;	/* the tgid of the task bpf_task_from_pid() acquired */
__u64 cpumask_has_1;
__u64 cpumask_has_0;
__u64 weak_missing;	/* 1: fallback branch taken, 2: called it */
__u64 weak_present;	/* 1: bpf_ksym_exists(bpf_task_acquire) */
__u64 typed_weak_missing;
__u64 prog_put_addr;
__u64 untyped_weak_addr;
__u64 rcu_done;

SEC("syscall")
int kfuncs(void *ctx)
{
	struct task_struct *t;
	struct bpf_cpumask *mask;

	/* The caller of BPF_PROG_TEST_RUN: the task of its own process id. */
	t = bpf_task_from_pid(bpf_get_current_pid_tgid() >> 32);
	if (!t)
		return 1;
	task_pid = t->tgid;
	bpf_task_release(t);

	mask = bpf_cpumask_create();
	if (!mask)
		return 2;
	bpf_cpumask_set_cpu(1, mask);
	cpumask_has_1 = bpf_cpumask_test_cpu(1, (const struct cpumask *)mask) + 10;
	cpumask_has_0 = bpf_cpumask_test_cpu(0, (const struct cpumask *)mask) + 10;
	bpf_cpumask_release(mask);

	bpf_rcu_read_lock();
	rcu_done = 7;
	bpf_rcu_read_unlock();

	if (bpf_ksym_exists(bpf_no_such_kfunc)) {
		bpf_no_such_kfunc(1);
		weak_missing = 2;
	} else {
		weak_missing = 1;
	}
	weak_present = bpf_ksym_exists(bpf_task_acquire) ? 1 : 3;
	return 0;
}

SEC("syscall")
int other_vars(void *ctx)
{
	typed_weak_missing = bpf_ksym_exists(&no_such_typed_ksym) ? 2 : 1;
	prog_put_addr = (__u64)&bpf_prog_put;
	untyped_weak_addr = (__u64)&no_such_untyped_ksym;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
