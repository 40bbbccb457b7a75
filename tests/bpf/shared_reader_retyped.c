/* shared_reader.c declaring `shared_counts` with a signed value (same size). */
#define SHARED_VALUE __s64
#include "shared_reader.c"
