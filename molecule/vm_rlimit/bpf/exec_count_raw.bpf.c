// SPDX-License-Identifier: GPL-2.0
/* Counts exec()s by program name on the sched_process_exec raw tracepoint
 * and remembers the last uid that ran each one. A raw tracepoint because
 * the kernel this runs on (Debian 11's 5.10) cannot make a bpf_link of a
 * perf-event tracepoint (5.15); no CO-RE, only helpers, so it compiles
 * without any kernel's vmlinux.h. The map is sized by the deploy so that
 * it needs far more than 5.10's default RLIMIT_MEMLOCK of 64 KiB. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define EXEC_WHO last_pid  /* tgid of the process that exec'ed */
#include "exec_count.h"

SEC("raw_tp/sched_process_exec")
int count_exec(void *ctx)
{
	struct exec_key key = {};

	/* After exec: comm is already the new program's name. */
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	count_one_exec(&key, bpf_get_current_pid_tgid() >> 32, (__u32)bpf_get_current_uid_gid());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
