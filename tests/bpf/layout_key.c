/* layout_v1.c with the key split into two 16-bit members (same 4 bytes). */
#define CFG_KEY __u16 zone; __u16 id;
#define CFG_SET_KEY(k) ((k).id = 7)
#include "layout_v1.c"
