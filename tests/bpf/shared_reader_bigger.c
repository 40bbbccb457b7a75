/* shared_reader.c declaring `shared_counts` with 8 entries instead of 4. */
#define SHARED_MAX 8
#include "shared_reader.c"
