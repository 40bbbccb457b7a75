/* layout_v1.c with the value's first member signed (same size). */
#define CFG_VAL __s32 action; __u16 weight; __u16 flags;
#include "layout_v1.c"
