/* layout_v1.c written differently with the same layout: a typedef for a
 * member's type does not change what the bytes mean. */
typedef unsigned int act_t;
#define CFG_VAL act_t action; __u16 weight; __u16 flags;
#include "layout_v1.c"
