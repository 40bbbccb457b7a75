/* schema_percpu.c with a member added at the end (8 -> 16 bytes per CPU). */
#define CFG_MAP_TYPE BPF_MAP_TYPE_PERCPU_HASH
#define CFG_VAL __u32 action; __u16 weight; __u16 flags; __u64 hits;
#define CFG_HITS(v) ((v)->hits)
#include "schema_v1.c"
