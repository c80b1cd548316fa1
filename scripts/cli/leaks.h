/* leaks.h - `run --check-leaks` after the command has ended: read the report every process of the
 * tree left in the report directory, resolve their stacks, apply the suppressions, print one
 * summary (LeakSanitizer's text on stderr, or JSON on stdout) and decide the exit status. */
#ifndef CW_CLI_LEAKS_H
#define CW_CLI_LEAKS_H

#include <jansson.h>
#include <stdio.h>
#include "suppress.h"

/* What run hands over once the command has ended. */
struct cw_leaks_run {
  const char *dir;         /* the report directory (CONNWARDEN_REPORT of the tree) */
  char **skip;             /* file names that were there before the command started */
  int nskip;
  struct cw_supp_list *supp; /* may be empty */
  int json;                /* --report-format json */
  char *const *cmd;        /* the command's argv */
  int cmd_status;          /* its exit status; 128+N when killed by signal N */
  int leak_exitcode;       /* the status when a leak was found and the command succeeded */
  const int *running;      /* processes of the tree still running when we stopped waiting */
  int nrunning;
  const char *save_dir;    /* also write the summary here as connwarden.summary.txt/json; NULL: no */
};

/* Print the summary. Returns the run's exit status: the command's when it failed, else
 * leak_exitcode when an unsuppressed leak was found, else 0. */
int cw_leaks_summarise(const struct cw_leaks_run *r);

/* ---- between leaks.c (collect, resolve, suppress) and leakprint.c (print) ---- */

struct cw_tree {
  json_t *reports;   /* "leaks" reports, by pid; leaks annotated with suppressed_by, frames with
                        func/file/line from addr2line */
  json_t *unchecked; /* "exec-unchecked" notes */
  json_t *running;   /* [{pid, program}] */
  int nprocs, nleaky, nleaks, nsuppressed;
  int *hits;         /* per suppression rule */
  int symbolizer_missing; /* frames were left as module+offset: no addr2line */
};

/* Write the summary of t (text or JSON) to out. status is the run's exit status. */
void cw_leaks_print_text(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r);
void cw_leaks_print_json(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r, int status);
/* The "connwarden: warning: ..." lines: execs that dropped the check, processes still running,
 * no addr2line. Part of the text summary; on stderr beside the JSON one. */
void cw_leaks_print_warnings(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r);

/* Small readers of a report's JSON: a member as integer / string, or def when absent. */
long long cw_jint(const json_t *o, const char *key, long long def);
const char *cw_jstr(const json_t *o, const char *key, const char *def);

#endif
