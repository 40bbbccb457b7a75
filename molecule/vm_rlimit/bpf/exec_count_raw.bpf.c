// SPDX-License-Identifier: GPL-2.0
/* Counts exec()s by program name on the sched_process_exec raw tracepoint
 * and remembers the last uid that ran each one. A raw tracepoint because
 * the kernel this runs on (Debian 11's 5.10) cannot make a bpf_link of a
 * perf-event tracepoint (5.15); no CO-RE, only helpers, so it compiles
 * without any kernel's vmlinux.h. The map is sized by the deploy so that
 * it needs far more than 5.10's default RLIMIT_MEMLOCK of 64 KiB. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define COMM_LEN 16

struct exec_key {
	char comm[COMM_LEN];
};

struct exec_stat {
	__u64 count;
	__u32 last_pid;  /* tgid of the process that exec'ed */
	__u32 last_uid;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_key);
	__type(value, struct exec_stat);
} exec_counts SEC(".maps");

SEC("raw_tp/sched_process_exec")
int count_exec(void *ctx)
{
	struct exec_key key = {};
	struct exec_stat init = {}, *stat;

	/* After exec: comm is already the new program's name. */
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	stat = bpf_map_lookup_elem(&exec_counts, &key);
	if (!stat) {
		bpf_map_update_elem(&exec_counts, &key, &init, BPF_NOEXIST);
		stat = bpf_map_lookup_elem(&exec_counts, &key);
		if (!stat)
			return 0;
	}
	__sync_fetch_and_add(&stat->count, 1);
	stat->last_pid = bpf_get_current_pid_tgid() >> 32;
	stat->last_uid = (__u32)bpf_get_current_uid_gid();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
