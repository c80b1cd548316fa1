/* view.h - human views of parsed replies, printed on stdout: the stats summary (labelled lines,
 * then the destinations table) and the connection table. Each returns 0 or an exit status. */
#ifndef CW_CLI_VIEW_H
#define CW_CLI_VIEW_H

#include <jansson.h>

int cw_view_stats(json_t *stats); /* the `stats` reply object */
/* the `conns` reply array, shown sorted by fd; with stacks, each one's opening stack under it */
int cw_view_conns(json_t *conns, int stacks);

#endif
