/* checkrun.c - `run --check-leaks`: runs CMD as a child (not in place) with the check's variables,
 * as the subreaper of its whole tree; passes SIGTERM and SIGHUP on and outlives ^C; waits for the
 * tree (a little longer for processes that outlive CMD); then hands the report directory to
 * leaks.c for the summary and the exit status. A private report directory is removed after. */
#define _GNU_SOURCE
#include "checkrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "leaks.h"
#include "suppress.h"

#define ORPHAN_WAIT_MS 2000 /* how long the tree may outlive CMD before it is left unchecked */

int cw_exec_failed(const char *cmd, int e) {
  if (e == ENOENT)
    cw_err_fail(strchr(cmd, '/') ? "%s: no such file" : "%s: command not found", cmd);
  else
    cw_err_fail("%s: %s", cmd, strerror(e));
  return e == ENOENT ? 127 : 126;
}

static volatile sig_atomic_t child_pid; /* the command, while it runs: signals are passed on */

static void pass_on(int sig) {
  if (child_pid > 0)
    kill((pid_t)child_pid, sig);
}

static void set_signals(int checking) {
  struct sigaction sa = {0};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  /* the terminal sends ^C and ^\ to the whole foreground group, CMD included: we only outlive it */
  sa.sa_handler = checking ? SIG_IGN : SIG_DFL;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  sa.sa_handler = checking ? pass_on : SIG_DFL;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After CMD: its descendants that outlived it are ours (subreaper). Reap them as they end, for up
 * to ORPHAN_WAIT_MS; the pids of those still running go to running (at most max). */
static int wait_orphans(int *running, int max) {
  int64_t deadline = now_ms() + ORPHAN_WAIT_MS;
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p > 0)
      continue;
    if (p < 0 && errno != EINTR)
      return 0; /* ECHILD: the whole tree has ended */
    if (now_ms() >= deadline)
      break;
    usleep(20000);
  }
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d)) && n < max) {
    char path[300], buf[512];
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *close = strrchr(buf, ')'); /* "pid (comm) S ppid ..." and comm may hold anything */
    int ppid;
    char state;
    if (close && sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() && state != 'Z')
      running[n++] = atoi(e->d_name);
  }
  if (d)
    closedir(d);
  return n;
}

static int read_suppressions(const char *path, struct cw_supp_list *l) {
  FILE *f = fopen(path, "r");
  if (!f) {
    cw_err_fail("--suppressions %s: %s", path, strerror(errno));
    return CW_EXIT_USAGE;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  char buf[8192];
  size_t n;
  while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, n, mem);
  fclose(f);
  if (!mem || fclose(mem) != 0) {
    free(text);
    return cw_err_fail("reading %s: out of memory", path);
  }
  char err[256];
  int rc = cw_supp_parse(text, len, l, err, sizeof err);
  free(text);
  if (rc < 0)
    return cw_err_usage("run: %s: %s", path, rc == -ENOMEM ? "out of memory" : err);
  return 0;
}

/* The report directory: --report-dir (created 0700 if missing; the reports already in it are
 * remembered and left out), else a private one under $TMPDIR. dir gets an absolute path. */
static int report_dir(const char *given, char *dir, char ***skip, int *nskip) {
  if (!given) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, PATH_MAX, "%s/connwarden-leaks.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : cw_err_fail("cannot make a report directory %s: %s", dir, strerror(errno));
  }
  if (mkdir(given, 0700) < 0 && errno != EEXIST)
    return cw_err_fail("--report-dir %s: %s", given, strerror(errno));
  if (!realpath(given, dir))
    return cw_err_fail("--report-dir %s: %s", given, strerror(errno));
  DIR *d = opendir(dir);
  if (!d)
    return cw_err_fail("--report-dir %s: %s", given, strerror(errno));
  struct dirent *e;
  int cap = 0;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "connwarden.", 11) != 0)
      continue;
    if (*nskip == cap) {
      cap = cap ? cap * 2 : 32;
      char **s = realloc(*skip, (size_t)cap * sizeof *s);
      if (!s)
        break;
      *skip = s;
    }
    (*skip)[(*nskip)++] = strdup(e->d_name);
  }
  closedir(d);
  return 0;
}

/* Remove a private report directory: only what the library writes there. */
static void remove_private(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "connwarden.", 11) == 0 || strncmp(e->d_name, ".connwarden.", 12) == 0) {
      char path[PATH_MAX + 300];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  }
  if (d)
    closedir(d);
  rmdir(dir);
}

/* In the child: CMD's environment (run's settings and preload, the check's variables), then exec.
 * errno goes up the pipe when exec fails. */
static void exec_checked(const struct cw_check *c, const char *dir, int errfd) {
  set_signals(0);
  int ok = c->prepare_env(c->arg) == 0 &&
           setenv("CONNWARDEN_LEAK_CHECK", "1", 1) == 0 && setenv("CONNWARDEN_BACKTRACE", "1", 1) == 0 &&
           setenv("CONNWARDEN_REPORT", dir, 1) == 0 && setenv("CONNWARDEN_REPORT_FORMAT", "json", 1) == 0 &&
           unsetenv("CONNWARDEN_LEAK_EXITCODE") == 0; /* run decides the status, not each process */
  int e = -1; /* the child's environment could not be set: said already */
  if (ok) {
    execvp(c->cmd[0], c->cmd);
    e = errno;
  }
  while (write(errfd, &e, sizeof e) < 0 && errno == EINTR)
    ;
  _exit(127);
}

int cw_check_run(const struct cw_check *c) {
  struct cw_supp_list supp = {0};
  char dir[PATH_MAX] = "";
  char **skip = NULL;
  int nskip = 0, status = CW_EXIT_FAIL, rc;
  int running[64];
  if (c->supp_path && (rc = read_suppressions(c->supp_path, &supp)) != 0) {
    cw_supp_free(&supp);
    return rc;
  }
  if ((status = report_dir(c->report_dir, dir, &skip, &nskip)) != 0) {
    dir[0] = '\0';
    goto out;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) {
    status = cw_err_fail("pipe: %s", strerror(errno));
    goto out;
  }
  set_signals(1);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    status = cw_err_fail("fork: %s", strerror(errno));
    close(ep[0]);
    close(ep[1]);
    goto out;
  }
  if (pid == 0) {
    close(ep[0]);
    exec_checked(c, dir, ep[1]);
  }
  child_pid = pid;
  close(ep[1]);
  int e = 0;
  ssize_t got;
  while ((got = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR)
    ;
  close(ep[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  child_pid = 0;
  if (got == (ssize_t)sizeof e) {
    status = e < 0 ? CW_EXIT_FAIL : cw_exec_failed(c->cmd[0], e);
    goto out;
  }
  int cmd_status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
  int nrunning = wait_orphans(running, (int)(sizeof running / sizeof running[0]));
  struct cw_leaks_run r = {.dir = dir, .skip = skip, .nskip = nskip, .supp = &supp, .json = c->json,
                           .cmd = c->cmd, .cmd_status = cmd_status, .leak_exitcode = c->leak_exitcode,
                           .running = running, .nrunning = nrunning, .save_dir = c->report_dir ? dir : NULL};
  status = cw_leaks_summarise(&r);
out:
  if (!c->report_dir && dir[0])
    remove_private(dir);
  for (int i = 0; i < nskip; i++)
    free(skip[i]);
  free(skip);
  cw_supp_free(&supp);
  return status;
}
