/* schema_v1.c with its members widened and reordered (16 bytes). */
#define CFG_VAL __u16 flags; __u32 weight; __u64 action;
#include "schema_v1.c"
