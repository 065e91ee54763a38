/*
 * interrupt.c — the process-wide "a stop signal arrived" flag that the CLI's
 * signal handlers set and the long phases of the library poll (lc_common.h).
 */
#include <signal.h>
#include <string.h>

#include "lc_common.h"

static volatile sig_atomic_t g_signal = 0;

void lc_interrupt_raise(int sig) { g_signal = sig > 0 ? sig : SIGINT; }

int lc_interrupt_pending(void) { return g_signal; }

void lc_interrupt_reset(void) { g_signal = 0; }

lc_status lc_interrupt_check(const char *what) {
    int sig = g_signal;
    if (!sig) return LC_OK;
    return lc_errorf(LC_ERR_INTERRUPTED, "interrupted (%s) while %s; nothing was written",
                     sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal", what);
}
