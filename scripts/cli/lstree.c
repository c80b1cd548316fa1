/* lstree.c - `ls --tree`: the shimmed processes grouped by the process tree they share a policy
 * with (CONNWARDEN_CAP_SCOPE=tree), each tree with its totals from a member's `tree` object, then
 * the processes in no tree. */
#include "ls.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "err.h"
#include "fmt.h"

static long long num(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(o, a);
  if (b)
    v = json_object_get(v, b);
  return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* A process's row: PID ACTIVE IN OUT QUEUED OPENED SOCKET NAME (last, as in ls: it may hold spaces). */
static int add_row(struct cw_table *t, const struct cw_live *l, json_t *j) {
  char pid[16], name[128], act[24], in[24], out[24], q[24], opened[24];
  snprintf(pid, sizeof pid, "%d", l->pid);
  const char *nm = json_string_value(json_object_get(j, "name"));
  if (!nm)
    nm = cw_client_comm(l->pid, name, sizeof name);
  else
    snprintf(name, sizeof name, "%s", nm);
  long long vals[] = {num(j, "active", "total"), num(j, "active", "in"), num(j, "active", "out"),
                      num(j, "queued", NULL),
                      num(j, "opened", "in") < 0 ? -1 : num(j, "opened", "in") + num(j, "opened", "out")};
  char *bufs[] = {act, in, out, q, opened};
  for (int i = 0; i < 5; i++) {
    if (vals[i] < 0)
      snprintf(bufs[i], 24, "-");
    else
      snprintf(bufs[i], 24, "%lld", vals[i]);
  }
  const char *cells[] = {pid, act, in, out, q, opened, l->path, name};
  return cw_table_add(t, cells);
}

/* The tree's line: its name, root, processes and totals. */
static void tree_line(json_t *tree) {
  long long cap = num(tree, "config", "max_conns");
  char capt[32];
  if (cap > 0)
    snprintf(capt, sizeof capt, " of %lld", cap);
  else
    snprintf(capt, sizeof capt, " (no cap)");
  printf("tree %s (root pid %lld): %lld processes, active %lld (in %lld, out %lld), slots %lld%s, "
         "queued %lld, opened %lld, refused %lld, queue timeouts %lld\n",
         json_string_value(json_object_get(tree, "name")) ? json_string_value(json_object_get(tree, "name")) : "?",
         num(tree, "root_pid", NULL), num(tree, "processes", NULL), num(tree, "active", "total"),
         num(tree, "active", "in"), num(tree, "active", "out"), num(tree, "slots", NULL), capt,
         num(tree, "queued", NULL), num(tree, "opened", "in") + num(tree, "opened", "out"),
         num(tree, "refused", NULL), num(tree, "queue_timeouts", NULL));
}

int cw_ls_tree_run(void) {
  static const char *const heads[] = {"PID", "ACTIVE", "IN", "OUT", "QUEUED", "OPENED", "SOCKET", "NAME"};
  struct cw_live *v;
  int n = cw_client_scan("stats", &v);
  if (n < 0)
    return cw_err_fail("scanning the run directories: %s", strerror(-n));
  json_t **js = calloc((size_t)n + 1, sizeof *js);
  long long *root = calloc((size_t)n + 1, sizeof *root);
  int rc = js && root ? 0 : -1;
  for (int i = 0; i < n && rc == 0; i++) {
    if (v[i].err)
      cw_err_warn("pid %d (%s): %s", v[i].pid, v[i].path, strerror(-v[i].err));
    else if (!(js[i] = json_loads(v[i].reply, 0, NULL)) || !json_is_object(js[i]))
      cw_err_warn("pid %d (%s): unreadable stats reply", v[i].pid, v[i].path);
    root[i] = num(json_object_get(js[i], "tree"), "root_pid", NULL);
  }
  int trees = 0, alone = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    if (root[i] < 0) {
      alone++;
      continue;
    }
    int first = 1;
    for (int k = 0; k < i; k++)
      first &= root[k] != root[i];
    if (!first)
      continue;
    if (trees++)
      putchar('\n');
    tree_line(json_object_get(js[i], "tree"));
    struct cw_table t;
    cw_table_init(&t, 8, heads, "rrrrrrll");
    for (int k = i; k < n && rc == 0; k++)
      if (root[k] == root[i])
        rc = add_row(&t, &v[k], js[k]);
    if (rc == 0)
      cw_table_print(&t, stdout);
    cw_table_free(&t);
  }
  if (alone && rc == 0) {
    if (trees)
      printf("\nnot in a tree:\n");
    struct cw_table t;
    cw_table_init(&t, 8, heads, "rrrrrrll");
    for (int i = 0; i < n && rc == 0; i++)
      if (root[i] < 0)
        rc = add_row(&t, &v[i], js[i]);
    if (rc == 0)
      cw_table_print(&t, stdout);
    cw_table_free(&t);
  }
  if (n == 0)
    puts("no shimmed processes");
  for (int i = 0; js && i < n; i++)
    json_decref(js[i]);
  free(js);
  free(root);
  cw_client_scan_free(v, n);
  if (rc < 0)
    return cw_err_fail("out of memory");
  return fflush(stdout) == 0 ? CW_EXIT_OK : cw_err_fail("writing the output failed");
}
