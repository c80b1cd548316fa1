/* ls.h - the ls verb: every shimmed process of this user across the run directories, one line
 * each, with stale sockets removed on the way. Returns the exit status. */
#ifndef CW_CLI_LS_H
#define CW_CLI_LS_H

int cw_ls_run(int argc, char **argv);

/* ls --tree (lstree.c): the processes grouped by the tree they share a policy with. */
int cw_ls_tree_run(void);

#endif
