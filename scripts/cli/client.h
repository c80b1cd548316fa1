/* client.h - finding and talking to stats sockets: the run directories, a target named by PID or
 * path (or the only live one), one request per connection with a 5 s deadline, and a scan of every
 * live shimmed process that removes stale sockets. Used by the query verbs and ls. */
#ifndef CW_CLI_CLIENT_H
#define CW_CLI_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#define CW_CLIENT_TIMEOUT_MS 5000
#define CW_SOCK_PATH_MAX 108 /* sizeof sun_path */
#define CW_MAX_RUNDIRS 4

/* The run directories in search order: $CONNWARDEN_RUNDIR, $XDG_RUNTIME_DIR/connwarden,
 * /run/connwarden (root only), /tmp/connwarden-UID; duplicates dropped, existing or not. */
struct cw_rundirs {
  int n;
  char dir[CW_MAX_RUNDIRS][PATH_MAX];
};
void cw_client_rundirs(struct cw_rundirs *rd);
/* "A, B and C" for messages. */
void cw_client_rundirs_text(const struct cw_rundirs *rd, char *buf, size_t len);

/* Send line plus "\n" to the socket at path and read the reply until EOF, all within
 * CW_CLIENT_TIMEOUT_MS. line NULL: only connect (a liveness probe), *reply stays NULL.
 * Returns 0 with *reply malloc'd and NUL-terminated, or -errno: -ECONNREFUSED and -ENOENT come
 * from connect only, -ETIMEDOUT when the deadline passed. */
int cw_client_request(const char *path, const char *line, char **reply);

/* One process to query. */
struct cw_target {
  char path[CW_SOCK_PATH_MAX];
  char label[CW_SOCK_PATH_MAX + 16]; /* "pid 42" or the path, for messages */
};
/* arg: a path (contains '/'), a PID, or NULL for the only live shimmed process. Returns 0, or
 * reports the problem and returns the exit status (CW_EXIT_USAGE for a malformed or ambiguous
 * target, CW_EXIT_FAIL when nothing answers to it). */
int cw_client_resolve(const char *arg, struct cw_target *t);
/* Request line from t. An "error: ..." reply, an empty one or an I/O error is reported and its
 * exit status returned; 0 leaves the reply (malloc'd) in *reply. */
int cw_client_ask(const struct cw_target *t, const char *line, char **reply);

/* A live shimmed process found by cw_client_scan. */
struct cw_live {
  int pid;
  char path[CW_SOCK_PATH_MAX];
  char *reply; /* the answer to the scan's command (malloc'd); NULL when there was none */
  int err;     /* 0, or -errno of a socket that is there but did not answer: kept, not stale */
};
/* Every PID.sock in the run directories, sorted by pid. A socket whose process is dead, or that
 * nobody listens on, is stale and removed without a word. cmd non-NULL is sent to each live one.
 * Returns the count with *out malloc'd (free with cw_client_scan_free), or -ENOMEM. */
int cw_client_scan(const char *cmd, struct cw_live **out);
void cw_client_scan_free(struct cw_live *v, int n);

/* The process's name from /proc/PID/comm, or "?". Returns buf. */
char *cw_client_comm(int pid, char *buf, size_t len);

/* The name a process goes by (CONNWARDEN_NAME or derived, connwarden(7)): "name" of its stats
 * reply (may be NULL), else its comm. Returns buf. */
char *cw_client_name(const json_t *stats, int pid, char *buf, size_t len);

#endif
