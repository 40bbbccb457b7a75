/* schema_v1.c whose value member `action` became a struct (same size). */
#define CFG_VAL struct { __u16 lo; __u16 hi; } action; __u16 weight; __u16 flags;
#define CFG_ACTION(v) ((v)->action.lo)
#include "schema_v1.c"
