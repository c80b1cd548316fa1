/* procname.h - the name a process goes by in `stats`, ls, top, the exporter and leak reports:
 * CONNWARDEN_NAME, else one derived from the command line as the process shows it now (servers
 * that retitle themselves included). Asked at stats and report time, never on a wrapper's path. */
#ifndef CW_PROCNAME_H
#define CW_PROCNAME_H

#include <stddef.h>
#include "cw.h"

#define CW_NAME_MAX 64 /* bytes of a name, CONNWARDEN_NAME's and a derived one alike */

/* The bytes of /proc/self/cmdline (NUL-separated words) into buf, NUL-terminated; their count,
 * 0 when it cannot be read. Raw system calls only: safe in any thread of ours and at exit. */
CW_HIDDEN size_t cw_procname_cmdline(char *buf, size_t size);

/* Pure: a command line (len bytes as /proc/PID/cmdline gives them) -> a name of at most
 * CW_NAME_MAX bytes, printable (control bytes become '?'), cut on a UTF-8 boundary, in out
 * (size > CW_NAME_MAX). Returns its length, 0 when the command line gives none. The rules:
 * - retitled (argv[0] holds a space, or every later word is empty or holds control bytes, as
 *   setproctitle leaves them): the title, trimmed (`nginx: worker process`);
 * - an interpreter (python*, pypy*, node, perl*, ruby*, php*, lua*, sh, bash, dash, zsh, ksh):
 *   its options skipped, `python3 -m uvicorn`, `python3 -c`, or the script's basename
 *   (`python3 app.py`), else the interpreter alone;
 * - otherwise: the program's basename and its first argument that is not an option (nor a number
 *   or address right after one, which is taken as the option's value), as a basename when it is a
 *   path (`gunicorn app:app`, `nginx nginx.conf`). */
CW_HIDDEN size_t cw_procname_derive(const char *cmd, size_t len, char *out, size_t size);

/* The name now: configured when not empty, else derived from /proc/self/cmdline, else the
 * kernel's name of the process (comm). out: size > CW_NAME_MAX. */
CW_HIDDEN void cw_procname_get(const char *configured, char *out, size_t size);

#endif
