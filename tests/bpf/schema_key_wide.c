/* schema_v1.c with the key widened to 64 bits and a key member added. */
#define CFG_KEY __u64 id; __u32 zone;
#include "schema_v1.c"
