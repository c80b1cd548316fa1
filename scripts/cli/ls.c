/* ls.c - lists the live shimmed processes that client.c's scan finds (it removes stale sockets),
 * with a few counters and the process's name from each one's stats reply and its comm from /proc.
 * A process that is there but does not answer is listed with dashes and a warning, never dropped
 * silently. */
#include "ls.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "client.h"
#include "err.h"
#include "fmt.h"

static const char *count(json_t *j, const char *obj, const char *key, char *buf, size_t len) {
  json_t *v = json_object_get(json_object_get(j, obj), key);
  if (!json_is_integer(v))
    return "-";
  snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  return buf;
}

/* opened in + out, or "-" */
static const char *opened_total(json_t *j, char *buf, size_t len) {
  json_t *o = json_object_get(j, "opened");
  json_t *in = json_object_get(o, "in"), *out = json_object_get(o, "out");
  if (!json_is_integer(in) || !json_is_integer(out))
    return "-";
  snprintf(buf, len, "%lld", (long long)(json_integer_value(in) + json_integer_value(out)));
  return buf;
}

int cw_ls_run(int argc, char **argv) {
  /* NAME last: it may hold spaces (nginx: worker process), as ps puts the command last */
  static const char *const heads[] = {"PID", "COMM", "ACTIVE", "IN", "OUT", "PEAK", "OPENED", "SOCKET", "NAME"};
  if (argc == 1 && strcmp(argv[0], "--tree") == 0)
    return cw_ls_tree_run();
  if (argc > 0)
    return cw_err_usage("ls takes no arguments but --tree, got '%s'", argv[0]);
  struct cw_live *v;
  int n = cw_client_scan("stats", &v);
  if (n < 0)
    return cw_err_fail("scanning the run directories: %s", strerror(-n));
  if (n == 0) {
    cw_client_scan_free(v, n);
    puts("no shimmed processes");
    return fflush(stdout) == 0 ? CW_EXIT_OK : CW_EXIT_FAIL;
  }
  struct cw_table t;
  int rc = 0;
  cw_table_init(&t, 9, heads, "rlrrrrrll");
  for (int i = 0; i < n && rc == 0; i++) {
    char pid[16], comm[64], act[24], in[24], out[24], peak[24], opened[24], name[256];
    json_t *j = NULL;
    if (v[i].err)
      cw_err_warn("pid %d (%s): %s", v[i].pid, v[i].path, strerror(-v[i].err));
    else if (strncmp(v[i].reply, "error: ", 7) == 0)
      cw_err_warn("pid %d (%s): %.*s", v[i].pid, v[i].path, (int)strcspn(v[i].reply + 7, "\n"),
                  v[i].reply + 7);
    else if (!(j = json_loads(v[i].reply, 0, NULL)) || !json_is_object(j))
      cw_err_warn("pid %d (%s): unreadable stats reply", v[i].pid, v[i].path);
    snprintf(pid, sizeof pid, "%d", v[i].pid);
    const char *cells[] = {
        pid,
        cw_client_comm(v[i].pid, comm, sizeof comm),
        count(j, "active", "total", act, sizeof act),
        count(j, "active", "in", in, sizeof in),
        count(j, "active", "out", out, sizeof out),
        count(j, "peak", "total", peak, sizeof peak),
        opened_total(j, opened, sizeof opened),
        v[i].path,
        j ? cw_fmt_printable(cw_client_name(j, v[i].pid, name, sizeof name)) : "-",
    };
    rc = cw_table_add(&t, cells);
    json_decref(j);
  }
  if (rc == 0)
    cw_table_print(&t, stdout);
  cw_table_free(&t);
  cw_client_scan_free(v, n);
  if (rc < 0)
    return cw_err_fail("out of memory");
  return fflush(stdout) == 0 ? CW_EXIT_OK : cw_err_fail("writing the output failed");
}
