/* server.h - the stats server: a thread serving the Unix socket (one command line in, one reply
 * out, then close). Started and reset only by lifecycle.c. */
#ifndef CW_SERVER_H
#define CW_SERVER_H

#include "render.h"

/* Create the directory and socket and start the thread. 0 or -errno (logged once). */
CW_HIDDEN int cw_server_start(void);

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
