/* query.h - the verbs that ask one running process: stats (human, --json, --prom), conns (table or
 * --json), set and reap. Each takes the words after the verb and returns the exit status. */
#ifndef CW_CLI_QUERY_H
#define CW_CLI_QUERY_H

int cw_query_stats(int argc, char **argv); /* [--json|--prom] [PID|SOCKET] */
int cw_query_conns(int argc, char **argv); /* [--json] [PID|SOCKET] */
int cw_query_set(int argc, char **argv);   /* PID|SOCKET NAME VALUE */
int cw_query_reap(int argc, char **argv);  /* PID|SOCKET FD */

#endif
