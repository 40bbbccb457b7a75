/* layout_v1.c with the value's members reordered (same 8 bytes). */
#define CFG_VAL __u16 weight; __u16 flags; __u32 action;
#include "layout_v1.c"
