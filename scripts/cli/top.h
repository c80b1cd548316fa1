/* top.h - the top verb: a live view of one shimmed process, redrawn every second on a terminal
 * (keys q quit, s change the destinations' sort), or one plain snapshot when stdout is not a
 * terminal. Returns the exit status. */
#ifndef CW_CLI_TOP_H
#define CW_CLI_TOP_H

int cw_top_run(int argc, char **argv); /* [PID|SOCKET] */

#endif
