/* schema_v1.c whose key member `id` is gone (replaced by `slot`). */
#define CFG_KEY __u32 slot;
#define id slot
#include "schema_v1.c"
