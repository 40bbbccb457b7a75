/* A program configured through a hash map of structs, whose types later
 * versions change (the schema_*.c variants: a member added, widened,
 * reordered, retyped, a key widened or changed). `sum_cfg` looks up keys 0 to
 * 1023 and adds each member of every entry found into `sums`, so a test reads
 * back what the new program sees of entries an old version wrote. */
#include "common.h"

#ifndef CFG_KEY
#define CFG_KEY __u32 id;
#endif
#ifndef CFG_VAL
#define CFG_VAL __u32 action; __u16 weight; __u16 flags;
#endif
#ifndef CFG_ACTION
#define CFG_ACTION(v) ((v)->action)
#endif
#ifndef CFG_HITS
#define CFG_HITS(v) 0
#endif
#ifndef CFG_MAP_TYPE
#define CFG_MAP_TYPE BPF_MAP_TYPE_HASH
#endif

struct cfg_key { CFG_KEY };
struct cfg_val { CFG_VAL };
struct sums { __u64 found, action, weight, flags, hits, mix; };

BTF_MAP(config, CFG_MAP_TYPE, 2048, struct cfg_key, struct cfg_val);
BTF_MAP(sums, BPF_MAP_TYPE_ARRAY, 1, __u32, struct sums);

SEC("xdp")
int sum_cfg(struct xdp_md *ctx)
{
	__u32 zero = 0, i;
	struct sums *s = bpf_map_lookup_elem(&sums, &zero);

	if (!s)
		return XDP_ABORTED;
	s->found = s->action = s->weight = s->flags = s->hits = s->mix = 0;
	for (i = 0; i < 1024; i++) {
		struct cfg_key k = {};
		struct cfg_val *v;

		k.id = i;
		v = bpf_map_lookup_elem(&config, &k);
		if (!v)
			continue;
		s->found += 1;
		s->action += CFG_ACTION(v);
		s->weight += v->weight;
		s->flags += v->flags;
		s->hits += CFG_HITS(v);
		s->mix += (__u64)i * v->weight;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
