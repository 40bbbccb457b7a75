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

#define COMM_LEN 16

struct exec_key {
	char comm[COMM_LEN];
};

struct exec_stat {
	__u64 count;
	__u32 last_ppid;  /* task->real_parent->tgid */
	__u32 last_uid;   /* task->cred->uid.val */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_key);
	__type(value, struct exec_stat);
} exec_counts SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int count_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_key key = {};
	struct exec_stat init = {}, *stat;
	__u32 ppid, uid;

	BPF_CORE_READ_STR_INTO(&key.comm, task, comm);
	ppid = BPF_CORE_READ(task, real_parent, tgid);
	uid = BPF_CORE_READ(task, cred, uid.val);

	stat = bpf_map_lookup_elem(&exec_counts, &key);
	if (!stat) {
		bpf_map_update_elem(&exec_counts, &key, &init, BPF_NOEXIST);
		stat = bpf_map_lookup_elem(&exec_counts, &key);
		if (!stat)
			return 0;
	}
	__sync_fetch_and_add(&stat->count, 1);
	stat->last_ppid = ppid;
	stat->last_uid = uid;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
