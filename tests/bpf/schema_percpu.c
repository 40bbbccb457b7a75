/* schema_v1.c with `config` a per-CPU hash (each CPU's value converted). */
#define CFG_MAP_TYPE BPF_MAP_TYPE_PERCPU_HASH
#include "schema_v1.c"
