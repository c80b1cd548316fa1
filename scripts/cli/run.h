/* run.h - the run verb: turn options into CONNWARDEN_* variables, prepend the library to
 * LD_PRELOAD and exec the command in place (same PID). Returns only when that fails. */
#ifndef CW_CLI_RUN_H
#define CW_CLI_RUN_H

#include <stdio.h>

/* argv: the words after "run". Returns an exit status: 2 usage, 1 no library, 126/127 exec. */
int cw_run_exec(int argc, char **argv);
/* The option list for --help. */
void cw_run_usage(FILE *out);

#endif
