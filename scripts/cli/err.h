/* err.h - the command's one-line errors and warnings on stderr, each prefixed "connwarden: ",
 * and its exit statuses. Every verb reports through these; nothing else writes to stderr. */
#ifndef CW_CLI_ERR_H
#define CW_CLI_ERR_H

#define CW_EXIT_OK 0
#define CW_EXIT_FAIL 1  /* the request failed: no socket, an error reply, I/O */
#define CW_EXIT_USAGE 2 /* the command line is wrong */

/* "connwarden: MESSAGE"; returns CW_EXIT_FAIL. */
int cw_err_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "connwarden: MESSAGE (see connwarden --help)"; returns CW_EXIT_USAGE. */
int cw_err_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "connwarden: warning: MESSAGE". */
void cw_err_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
