/* vars.c - the names of the CONNWARDEN_* variables: those the library reads, those only the
 * connwarden command reads, the library's own mark, and those the contract names that this
 * version does not do. Checks an environment at start-up (lifecycle.c's constructor) and names
 * the closest known variable for one it does not know. Pure: reads what it is given, never
 * allocates, logs or touches errno. */
#define _GNU_SOURCE
#include "vars.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "statspath.h"
#include "tree.h"

#define PREFIX "CONNWARDEN_"
#define PREFIX_LEN (sizeof PREFIX - 1)

enum kind {
  READ,     /* read by the library (config.c) */
  COMMAND,  /* read by the connwarden command only: users export it, children inherit it */
  MARK,     /* set by the library itself for its descendants; never suggested */
};

static const struct {
  const char *name;
  enum kind kind;
} vars[] = {
    {"CONNWARDEN_MAX_CONNS", READ},
    {"CONNWARDEN_MAX_CONNS_PER_DEST", READ},
    {"CONNWARDEN_ON_CAP", READ},
    {"CONNWARDEN_QUEUE_TIMEOUT", READ},
    {"CONNWARDEN_CAP_ERRNO", READ},
    {"CONNWARDEN_IDLE_TIMEOUT", READ},
    {"CONNWARDEN_MAX_LIFETIME", READ},
    {"CONNWARDEN_REAP_GRACE", READ},
    {"CONNWARDEN_ONLY", READ},
    {"CONNWARDEN_EXCLUDE", READ},
    {"CONNWARDEN_EVICT_IDLE", READ},
    {"CONNWARDEN_ABANDON_AFTER", READ},
    {"CONNWARDEN_NAME", READ},
    {"CONNWARDEN_STATS", READ},
    {"CONNWARDEN_RUNDIR", READ},
    {"CONNWARDEN_LEAK_CHECK", READ},
    {"CONNWARDEN_LEAK_EXITCODE", READ},
    {"CONNWARDEN_REPORT", READ},
    {"CONNWARDEN_REPORT_FORMAT", READ},
    {"CONNWARDEN_BACKTRACE", READ},
    {"CONNWARDEN_LOG", READ},
    {"CONNWARDEN_LIB", COMMAND},
    {"CONNWARDEN_ADDR2LINE", COMMAND},
    {CW_STATS_OWNER_VAR, MARK},
    {"CONNWARDEN_CAP_SCOPE", READ},
    {CW_TREE_VAR, MARK},
    {"CONNWARDEN_DEST_BY", READ},
};

#define NAME_MAX_LEN 64 /* longer names are compared by their first 64 bytes */

/* Optimal string alignment distance (Levenshtein with adjacent transpositions), ignoring case,
 * between the first la bytes of a and the first lb of b (each at most NAME_MAX_LEN). */
static int distance(const char *a, size_t la, const char *b, size_t lb) {
  int rows[3][NAME_MAX_LEN + 1];
  int *prev2 = rows[0], *prev = rows[1], *cur = rows[2]; /* rows i-2, i-1 and i */
  for (size_t j = 0; j <= lb; j++)
    prev[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int ca = toupper((unsigned char)a[i - 1]);
    cur[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cb = toupper((unsigned char)b[j - 1]);
      int best = prev[j - 1] + (ca != cb); /* keep or substitute */
      if (prev[j] + 1 < best)             /* delete */
        best = prev[j] + 1;
      if (cur[j - 1] + 1 < best)          /* insert */
        best = cur[j - 1] + 1;
      if (i > 1 && j > 1 && ca == toupper((unsigned char)b[j - 2]) &&
          toupper((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
        best = prev2[j - 2] + 1;           /* swap two neighbours */
      cur[j] = best;
    }
    int *t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[lb];
}

/* The vars entry called name (len bytes), or -1. */
static int find(const char *name, size_t len) {
  for (size_t i = 0; i < CW_ARRAY_LEN(vars); i++)
    if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

int cw_vars_known(const char *name) { return find(name, strlen(name)) >= 0; }

const char *cw_vars_closest(const char *name, size_t len) {
  if (len < PREFIX_LEN || memcmp(name, PREFIX, PREFIX_LEN) != 0)
    return NULL;
  const char *tail = name + PREFIX_LEN;
  size_t lt = len - PREFIX_LEN;
  if (lt > NAME_MAX_LEN)
    lt = NAME_MAX_LEN;
  const char *best = NULL;
  int best_d = 0;
  for (size_t i = 0; i < CW_ARRAY_LEN(vars); i++) {
    if (vars[i].kind == MARK)
      continue;
    const char *kt = vars[i].name + PREFIX_LEN;
    size_t lk = strlen(kt);
    int d = distance(tail, lt, kt, lk);
    /* close: at most one edit in three of the longer name (MAXCONNS for MAX_CONNS, STAT for
     * STATS), so that a name that merely shares a word is not offered */
    if (d <= (int)((lt > lk ? lt : lk) / 3) && (!best || d < best_d)) {
      best = vars[i].name;
      best_d = d;
    }
  }
  return best;
}

int cw_vars_check(char *const *envp, char *err, size_t errlen) {
  for (size_t e = 0; envp && envp[e]; e++) {
    const char *entry = envp[e];
    if (strncmp(entry, PREFIX, PREFIX_LEN) != 0)
      continue;
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    if (find(entry, len) < 0) {
      const char *near = cw_vars_closest(entry, len);
      if (near)
        snprintf(err, errlen, "connwarden: %.*s is not a variable connwarden knows: did you mean %s?",
                 (int)(len < 100 ? len : 100), entry, near);
      else
        snprintf(err, errlen, "connwarden: %.*s is not a variable connwarden knows (connwarden(7) lists them)",
                 (int)(len < 100 ? len : 100), entry);
      return -EINVAL;
    }
  }
  return 0;
}
