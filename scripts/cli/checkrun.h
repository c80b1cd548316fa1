/* checkrun.h - `run --check-leaks`: run CMD as a child with the leak check on in its whole tree,
 * wait for the tree, print one summary and return the run's exit status. */
#ifndef CW_CLI_CHECKRUN_H
#define CW_CLI_CHECKRUN_H

struct cw_check {
  char **cmd;              /* CMD and its arguments */
  const char *report_dir;  /* --report-dir, or NULL for a private, removed one */
  const char *supp_path;   /* --suppressions, or NULL */
  int json;                /* --report-format json */
  int leak_exitcode;       /* the status when a leak was found (23) */
  int (*prepare_env)(void *arg); /* in the child, before the check's own variables: 0 or -1 */
  void *arg;
};

/* Returns the exit status: CMD's own when it failed (128+N for signal N), else leak_exitcode on
 * an unsuppressed leak, else 0; 2 for an unreadable suppression file, 126/127 when CMD cannot be
 * run. */
int cw_check_run(const struct cw_check *c);

/* One line for a command that could not be exec'd; returns 127 (not found) or 126. */
int cw_exec_failed(const char *cmd, int e);

#endif
