/* Not a program: a second "kernel" for CO-RE tests. Its BTF is the target
 * that core_local.o is relocated against (as a btf_path file): fields
 * reordered, bitfields resized, an enum renumbered and one value renamed,
 * a member moved into an anonymous union. */
struct ebpf_deploy_rec {
	long long added_first;
	unsigned int flags : 3;
	unsigned int mode : 5;
	int b;
	char name[16];
	int a;
	union {
		int u1;
		long long u2;
	};
};

struct ebpf_deploy_other {
	int pad[3];
	int a;
};

enum ebpf_deploy_state { ST_IDLE = 10, ST_BUSY_RENAMED = 11, ST_DONE = 12 };

struct ebpf_deploy_rec rec_instance;
struct ebpf_deploy_other other_instance;
enum ebpf_deploy_state state_instance;
