/* leakcheck.c - the leak check: owns the close-wait leaks the reaper recorded; at exit (or exec)
 * merges them with the connections still open, minus the inherited, and writes LeakSanitizer's
 * text or JSON to stderr or a new file in CONNWARDEN_REPORT; notes execs that drop the preload.
 * Reports run in the exiting or exec'ing thread (cw_guard set); note runs in the reaper. */
#define _GNU_SOURCE
#include "leakcheck.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backtrace.h"
#include "config.h"
#include "python.h"
#include "procname.h"
#include "lifecycle.h"
#include "log.h"
#include "real.h"
#include "render.h"
#include "sock.h"

/* Close-wait leaks the reaper recorded, newest first. A record is never freed and only its pid
 * changes once linked in (to 0, when reported at an exec), so a reader may walk the list after
 * reading its head under the lock.
 * Guarded by table_mu; writer: the reaper (note); reader: the report. */
struct note {
  struct note *next;
  uint64_t id;
  pid_t pid; /* who recorded it: a fork child does not report its parent's */
  int64_t noted_ns;
  struct cw_leak_view v;
};
static struct note *notes;
static int nnotes, ndropped;
#define MAX_NOTES 1024

/* Keep c's details as a leak of this kind. Caller holds table_mu. */
static void note(const struct cw_conn *c, int64_t now, int kind, int teardown) {
  if (!cw_cfg.leak_check || c->inherited)
    return;
  struct note *n = nnotes < MAX_NOTES ? cw_mem_alloc(sizeof *n) : NULL; /* under table_mu: see mem.h */
  if (!n) {
    ndropped++;
    return;
  }
  n->id = c->id;
  n->pid = cw_pid;
  n->noted_ns = now;
  struct cw_leak_view *v = &n->v;
  v->kind = kind;
  v->teardown = teardown;
  v->open_at_exit = teardown;
  v->fd = c->fd;
  v->dir = c->dir;
  v->local = c->local;
  if (v->local.family == 0)
    cw_sock_local(c->fd, &v->local);
  v->peer = c->peer;
  v->state = cw_sock_state(c->fd);
  v->age_ms = (now - c->opened_ns) / 1000000;
  int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED), tick = cw_tick();
  v->idle_ms = tick > last ? (tick - last) / 1000000 : 0;
  if (v->idle_ms > v->age_ms)
    v->idle_ms = v->age_ms;
  v->held_ms = c->peer_closed_ns ? (now - c->peer_closed_ns) / 1000000 : -1;
  v->bytes_in = __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
  v->bytes_out = __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
  v->bt = cw_bt_dup(c->bt);
  v->opened_wall_ms = cw_wall_ms() - v->age_ms;
  cw_leak_name(v, c->host ? c->host->name : NULL, c->host ? c->host->port : 0, c->via);
  n->next = notes;
  notes = n;
  nnotes++;
}

void cw_leakcheck_note_close_wait(const struct cw_conn *c, int64_t now) { note(c, now, CW_LEAK_CLOSE_WAIT, 0); }

void cw_leakcheck_conn_ended(const struct cw_conn *c, int missed) {
  if (!missed && !c->inherited && !c->cw_logged && cw_py_finalizing())
    note(c, cw_now(), c->peer_closed == 1 ? CW_LEAK_CLOSE_WAIT : CW_LEAK_OPEN, 1);
}

/* The recorded notes of this process, oldest first, into a new array (NULL when none). */
static struct note **my_notes(int *count, int *dropped) {
  cw_table_lock();
  struct note *head = notes;
  int total = nnotes;
  *dropped = ndropped;
  cw_table_unlock();
  *count = 0;
  struct note **out = total ? calloc((size_t)total, sizeof *out) : NULL;
  if (!out)
    return NULL;
  int k = total;
  for (struct note *n = head; n && k > 0; n = n->next)
    if (n->pid == cw_pid)
      out[--k] = n;
  *count = total - k;
  memmove(out, out + k, (size_t)*count * sizeof *out);
  return out;
}

/* ---- writing a report ------------------------------------------------------------------------ */

/* Write text to stderr, or to DIR/connwarden.PID<what>.EXT (then .1, .2, ... if taken: pids are
 * reused within a long test run). The file appears whole: written under a temporary name, then
 * linked to its own. */
static void write_out(const char *text, size_t len, const char *what, const char *ext) {
  if (!cw_cfg.report_dir[0]) {
    cw_write_all(2, text, len);
    return;
  }
  const char *dir = cw_cfg.report_dir;
  char tmp[CW_PATH_MAX + 64], path[CW_PATH_MAX + 96];
  snprintf(tmp, sizeof tmp, "%s/.connwarden.%d%s.tmp", dir, (int)cw_pid, what);
  unlink(tmp); /* left by a killed process that had this pid */
  int fd = cw_log_report_open(dir, tmp, O_WRONLY | O_CREAT | O_EXCL);
  int rc = fd < 0 ? fd : cw_write_all(fd, text, len);
  if (rc < 0) {
    cw_log(CW_LOG_ERROR, CW_EV_REPORT, "cannot write the leak report in %s: %s", dir, strerror(-rc));
    if (fd >= 0) {
      CW_REAL(close)(fd);
      unlink(tmp);
    }
    cw_write_all(2, text, len);
    return;
  }
  CW_REAL(close)(fd);
  for (int k = 0; k < 1000; k++) {
    cw_log_report_name(path, sizeof path, dir, (int)cw_pid, what, k, ext);
    if (link(tmp, path) == 0)
      break;
    if (errno == EEXIST)
      continue;
    if (access(path, F_OK) != 0 && rename(tmp, path) == 0) /* no hard links here */
      return;
    cw_log(CW_LOG_ERROR, CW_EV_REPORT, "cannot write the leak report %s: %s", path, strerror(errno));
    break;
  }
  unlink(tmp);
}

/* The command line from /proc/self/cmdline: up to max words in buf. */
static int read_cmdline(char *buf, size_t size, const char **argv, int max) {
  size_t n = cw_procname_cmdline(buf, size);
  int argc = 0;
  for (char *p = buf; p < buf + n && argc < max; p += strlen(p) + 1)
    argv[argc++] = p;
  return argc;
}

static void report(struct cw_leak_view *leaks, int n, int dropped, int status, const char *event) {
  static char cmd[4096], name[CW_NAME_MAX + 1];
  const char *argv[64];
  cw_procname_get(cw_cfg.name, name, sizeof name);
  struct cw_leak_report r = {
      .pid = cw_pid, .ppid = getppid(), .prog = program_invocation_short_name, .name = name, .argv = argv,
      .exit_status = status, .event = event, .leaks = leaks, .n = n, .dropped = dropped};
  r.argc = read_cmdline(cmd, sizeof cmd, argv, (int)CW_ARRAY_LEN(argv));
  struct cw_buf b = {0};
  if (cw_cfg.report_json)
    cw_render_leak_json(&b, &r);
  else
    cw_render_leak_text(&b, &r);
  if (b.failed)
    cw_log(CW_LOG_ERROR, CW_EV_REPORT, "leak report cut short: out of memory");
  if (b.len)
    write_out(b.p, b.len, "", cw_cfg.report_json ? "json" : "txt");
  cw_buf_free(&b);
}

/* ---- at exit and at exec --------------------------------------------------------------------- */

int cw_leakcheck_run(int status) {
  struct cw_snapshot s;
  if (cw_snapshot_take(&s, CW_SNAP_CONNS | CW_SNAP_BT) < 0) {
    cw_log(CW_LOG_ERROR, CW_EV_REPORT, "leak check skipped: out of memory");
    return 0;
  }
  int nn, dropped;
  struct note **mine = my_notes(&nn, &dropped);
  struct cw_leak_view *v = calloc((size_t)(s.nconns + nn) + 1, sizeof *v);
  if (!v) {
    cw_log(CW_LOG_ERROR, CW_EV_REPORT, "leak check skipped: out of memory");
    free(mine);
    cw_snapshot_free(&s);
    return 0;
  }
  int64_t now = cw_now();
  int n = 0;
  for (int i = 0; i < s.nconns; i++) {
    const struct cw_conn_view *c = &s.conns[i];
    if (c->inherited || c->queued) /* a queued connect never became a connection */
      continue;
    struct cw_leak_view *l = &v[n++];
    cw_leak_from_conn(l, c);
    for (int k = 0; k < nn; k++)
      if (mine[k] && mine[k]->id == c->id) { /* recorded by the reaper, still held */
        l->kind = CW_LEAK_CLOSE_WAIT;
        l->held_ms = mine[k]->v.held_ms + (now - mine[k]->noted_ns) / 1000000;
        mine[k] = NULL;
      }
  }
  for (int k = 0; k < nn; k++)
    if (mine[k]) /* closed since: still a leak, as LeakSanitizer would not forgive it either */
      v[n++] = mine[k]->v;
  report(v, n, dropped, status, "exit");
  free(v);
  free(mine);
  cw_snapshot_free(&s);
  return n + dropped;
}

static const char *env_find(char *const envp[], const char *name) {
  size_t len = strlen(name);
  for (int i = 0; envp && envp[i]; i++)
    if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
      return envp[i] + len + 1;
  return NULL;
}

/* Does an LD_PRELOAD value name this library (its path, or a file of the same name)? ld.so splits
 * the list on colons and blanks. */
static int names_self(const char *list) {
  Dl_info di;
  if (!list || !dladdr((void *)&cw_leakcheck_run, &di) || !di.dli_fname)
    return 0;
  const char *self = di.dli_fname, *base = strrchr(self, '/');
  base = base ? base + 1 : self;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ": \t");
    const char *b = p;
    for (const char *q = p; q < p + len; q++)
      if (*q == '/')
        b = q + 1;
    if ((len == strlen(self) && strncmp(p, self, len) == 0) ||
        ((size_t)(p + len - b) == strlen(base) && strncmp(b, base, strlen(base)) == 0))
      return 1;
    p += len;
    p += *p != '\0';
  }
  return 0;
}

static void exec_note(const char *const *lost, int nlost) {
  static char cmd[4096];
  const char *argv[64];
  int argc = read_cmdline(cmd, sizeof cmd, argv, (int)CW_ARRAY_LEN(argv));
  struct cw_buf b = {0};
  cw_buf_printf(&b, "{\"type\": \"exec-unchecked\", \"version\": \"%s\", \"pid\": %d, \"ppid\": %d, \"program\": ",
                CW_VERSION, (int)cw_pid, (int)getppid());
  cw_buf_json_str(&b, program_invocation_short_name);
  cw_buf_printf(&b, ", \"cmdline\": [");
  for (int i = 0; i < argc; i++) {
    cw_buf_printf(&b, "%s", i ? ", " : "");
    cw_buf_json_str(&b, argv[i]);
  }
  cw_buf_printf(&b, "], \"lost\": [");
  for (int i = 0; i < nlost; i++)
    cw_buf_printf(&b, "%s\"%s\"", i ? ", " : "", lost[i]);
  cw_buf_printf(&b, "]}\n");
  if (!b.failed)
    write_out(b.p, b.len, ".exec", "json");
  cw_buf_free(&b);
}

void cw_leakcheck_before_exec(char *const envp[]) {
  if (!cw_cfg.leak_check)
    return;
  const char *lost[3];
  int nlost = 0;
  if (!names_self(env_find(envp, "LD_PRELOAD")))
    lost[nlost++] = "LD_PRELOAD";
  const char *v = env_find(envp, "CONNWARDEN_LEAK_CHECK");
  if (!v || strcmp(v, "1") != 0)
    lost[nlost++] = "CONNWARDEN_LEAK_CHECK";
  v = env_find(envp, "CONNWARDEN_REPORT");
  if (cw_cfg.report_dir[0] && (!v || strcmp(v, cw_cfg.report_dir) != 0))
    lost[nlost++] = "CONNWARDEN_REPORT";
  if (nlost && cw_cfg.report_dir[0])
    exec_note(lost, nlost);
  /* the new image starts a fresh list: report what was recorded here */
  int nn, dropped;
  struct note **mine = my_notes(&nn, &dropped);
  if (nn) {
    struct cw_leak_view *leaks = calloc((size_t)nn, sizeof *leaks);
    if (leaks) {
      for (int k = 0; k < nn; k++)
        leaks[k] = mine[k]->v;
      report(leaks, nn, 0, -1, "exec");
      free(leaks);
      cw_table_lock(); /* reported: not again at exit if the exec fails */
      for (int k = 0; k < nn; k++)
        mine[k]->pid = 0;
      cw_table_unlock();
    }
  }
  free(mine);
}
