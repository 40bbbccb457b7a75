/* schema_v1.c with a member added at the end (the value grows 8 -> 16). */
#define CFG_VAL __u32 action; __u16 weight; __u16 flags; __u64 hits;
#define CFG_HITS(v) ((v)->hits)
#include "schema_v1.c"
