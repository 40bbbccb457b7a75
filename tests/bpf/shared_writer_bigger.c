/* shared_writer.c declaring `shared_counts` with 8 entries: an upgrade that
 * resizes the shared map. */
#define SHARED_MAX 8
#include "shared_writer.c"
