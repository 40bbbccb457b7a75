/* exec_hooks.c with rawtp_exec turned into an XDP program: an upgrade to it
 * cannot keep rawtp_exec's raw tracepoint link, and must fail before the swap. */
#define EXEC_HOOKS_RAWTP_SECTION "xdp"
#include "exec_hooks.c"
