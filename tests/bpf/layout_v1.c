/* A program configured through a hash map of structs: it answers
 * `answer + cv->action` for key 7. The layout_*.c variants change the key or
 * value layout at the same size (reordered, renamed, retyped members, a
 * split key), which an upgrade must not let the new program misread. */
#include "common.h"

#ifndef CFG_KEY
#define CFG_KEY __u32 id;
#define CFG_SET_KEY(k) ((k).id = 7)
#endif
#ifndef CFG_VAL
#define CFG_VAL __u32 action; __u16 weight; __u16 flags;
#endif
#ifndef CFG_ACTION
#define CFG_ACTION action
#endif

struct cfg_key { CFG_KEY };
struct cfg_val { CFG_VAL };

BTF_MAP(config, BPF_MAP_TYPE_HASH, 64, struct cfg_key, struct cfg_val);

const volatile __u32 answer = 1;

SEC("xdp")
int read_cfg(struct xdp_md *ctx)
{
	struct cfg_key k = {};
	struct cfg_val *cv;

	CFG_SET_KEY(k);
	cv = bpf_map_lookup_elem(&config, &k);
	if (!cv)
		return answer;
	return answer + cv->CFG_ACTION;
}

char _license[] SEC("license") = "GPL";
