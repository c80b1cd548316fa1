/* leakcheck.h - the leak check: connections still open at exit, close-wait leaks the reaper
 * recorded, reported in LeakSanitizer's shape (or JSON) to stderr or CONNWARDEN_REPORT's
 * directory; and the note left when an exec drops the preload. */
#ifndef CW_LEAKCHECK_H
#define CW_LEAKCHECK_H

#include "cw.h"
#include "table.h"

/* Report the leaks of this process; status is what it passed to exit(). Returns the number of
 * leaks. Called once, from the exit handler, in the exiting thread, with cw_guard set. */
CW_HIDDEN int cw_leakcheck_run(int status);

/* The reaper counted c as a close-wait leak at time now: keep its details (and a copy of its
 * stack) so the report lists it even if the program closes it later. Caller holds table_mu.
 * Does nothing unless the leak check is on; never blocks (one malloc, bounded list). */
CW_HIDDEN void cw_leakcheck_note_close_wait(const struct cw_conn *c, int64_t now);

/* c ended (missed: its close was not seen). One the interpreter's teardown closed at exit (a
 * module still held it) is kept as open at exit: the exit check runs after that teardown.
 * Installed as cw_table_on_end when the leak check is on. Caller holds table_mu. */
CW_HIDDEN void cw_leakcheck_conn_ended(const struct cw_conn *c, int missed);

/* The process is about to exec with environment envp. If the new image would run without the
 * check (LD_PRELOAD no longer names this library, or the check's variables changed), leave a
 * note in the report directory; exec runs no exit handler, so close-wait leaks recorded so far
 * are reported now. Called by lifecycle's exec hook in the process itself (never a vfork child). */
CW_HIDDEN void cw_leakcheck_before_exec(char *const envp[]);

#endif
