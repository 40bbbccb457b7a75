/* The exec counter both VM scenarios deploy: one hash map keyed by program
 * name, and the update of one exec's entry. Each program includes its own
 * kernel types first (vmlinux.h for CO-RE on 6.1, <linux/bpf.h> for 5.10)
 * and names the process it remembers with EXEC_WHO (vm reads the parent,
 * vm_rlimit the process itself): the scenarios' verify steps read those
 * fields by name. */
#ifndef EXEC_COUNT_H
#define EXEC_COUNT_H

#define COMM_LEN 16

struct exec_key {
	char comm[COMM_LEN];
};

struct exec_stat {
	__u64 count;
	__u32 EXEC_WHO;
	__u32 last_uid;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_key);
	__type(value, struct exec_stat);
} exec_counts SEC(".maps");

static __always_inline void count_one_exec(struct exec_key *key, __u32 who, __u32 uid)
{
	struct exec_stat init = {}, *stat;

	stat = bpf_map_lookup_elem(&exec_counts, key);
	if (!stat) {
		bpf_map_update_elem(&exec_counts, key, &init, BPF_NOEXIST);
		stat = bpf_map_lookup_elem(&exec_counts, key);
		if (!stat)
			return;
	}
	__sync_fetch_and_add(&stat->count, 1);
	stat->EXEC_WHO = who;
	stat->last_uid = uid;
}

#endif
