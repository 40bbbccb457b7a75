// SPDX-License-Identifier: GPL-2.0
/* Counts exec()s by program name, on the sched/sched_process_exec
 * tracepoint, and remembers who ran each one. Every field of the task is
 * read through CO-RE (BPF_CORE_READ), so the loader must relocate the
 * offsets of task_struct, cred and the parent's task_struct to the running
 * kernel: they differ between 6.1 and 6.18, and a wrong one reads garbage
 * (which the molecule `vm` scenario's verify checks against the real
 * parent pid and uid). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define EXEC_WHO last_ppid  /* task->real_parent->tgid */
#include "exec_count.h"

SEC("tracepoint/sched/sched_process_exec")
int count_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_key key = {};

	BPF_CORE_READ_STR_INTO(&key.comm, task, comm);
	count_one_exec(&key, BPF_CORE_READ(task, real_parent, tgid),
		       BPF_CORE_READ(task, cred, uid.val));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
