/* leakcheck.h - the exit-time report of connections still open (LeakSanitizer's shape). */
#ifndef CW_LEAKCHECK_H
#define CW_LEAKCHECK_H

#include "cw.h"

/* Report the leaks (to stderr or CONNWARDEN_REPORT's directory). Returns the number of leaked
 * connections. Called once, from the exit handler, in the exiting thread. */
CW_HIDDEN int cw_leakcheck_run(void);

#endif
