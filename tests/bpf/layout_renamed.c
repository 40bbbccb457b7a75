/* layout_v1.c with the value's first member renamed. */
#define CFG_VAL __u32 verdict; __u16 weight; __u16 flags;
#define CFG_ACTION verdict
#include "layout_v1.c"
