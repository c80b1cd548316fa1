/* server.h - the stats server: a thread serving the Unix socket (one command line in, one reply
 * out, then close). Prepared here; its thread started and reset only by lifecycle.c. */
#ifndef CW_SERVER_H
#define CW_SERVER_H

#include "render.h"

/* Create the directory and the socket. 1: ready for lifecycle to start cw_server_run on a thread
 * of its own; 0: off or running already; -errno: failed (logged once). */
CW_HIDDEN int cw_server_prepare(void);
CW_HIDDEN void *cw_server_run(void *arg);
CW_HIDDEN void cw_server_abandon(void); /* the thread could not start: undo prepare */

/* At exit: remove the socket path (the thread dies with the process). */
CW_HIDDEN void cw_server_exit(void);

/* In a fork child, from the atfork handler: forget the parent's thread and close our copies of
 * its fds, leaving the parent's socket path alone. Returns whether a server had been running. */
CW_HIDDEN int cw_server_fork_child(void);

/* Around exec: unlink the path; re-create the listener if exec failed. */
CW_HIDDEN void cw_server_unlink(void);
CW_HIDDEN void cw_server_relisten(void);

/* Run one command line (without its newline) and put the reply in out. Used by the server thread
 * and by unit tests. */
CW_HIDDEN void cw_server_command(const char *line, struct cw_buf *out);

#endif
