/* run.c - `connwarden run [OPTIONS] -- CMD [ARGS...]`: each option becomes the CONNWARDEN_*
 * variable it mirrors (the library validates values at start-up and exits 2 naming the variable,
 * so nothing is parsed twice here), the library goes first in LD_PRELOAD, then execvp replaces
 * this process: CMD keeps our PID, signals and exit status need no relaying. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "elf.h"
#include "err.h"

#define LIB_NAME "libconnwarden.so"
#define DEFAULT_LEAK_EXITCODE "23"

struct opt {
  const char *name; /* without the leading "--" */
  const char *var;
  const char *arg;  /* the value's form; NULL: a flag that sets var to 1 */
  const char *help;
};

static const struct opt opts[] = {
    {"max-conns", "CONNWARDEN_MAX_CONNS", "N", "at most N open outbound connections (0: no cap)"},
    {"max-conns-per-dest", "CONNWARDEN_MAX_CONNS_PER_DEST", "N", "at most N to one peer address:port"},
    {"on-cap", "CONNWARDEN_ON_CAP", "queue|refuse", "at a cap, wait for a free slot or fail at once"},
    {"queue-timeout", "CONNWARDEN_QUEUE_TIMEOUT", "D", "how long a queued connect waits (10s)"},
    {"cap-errno", "CONNWARDEN_CAP_ERRNO", "NAME", "errno of a connect refused at a cap (ECONNREFUSED)"},
    {"idle-timeout", "CONNWARDEN_IDLE_TIMEOUT", "D", "reap a connection with no activity for D"},
    {"max-lifetime", "CONNWARDEN_MAX_LIFETIME", "D", "reap a connection open longer than D"},
    {"reap-grace", "CONNWARDEN_REAP_GRACE", "D", "time the program gets to close a reaped fd (5s)"},
    {"only", "CONNWARDEN_ONLY", "LIST", "apply policy only to: in, out, HOST:PORT, :PORT, CIDR"},
    {"exclude", "CONNWARDEN_EXCLUDE", "LIST", "never apply policy to these (same forms)"},
    {"stats", "CONNWARDEN_STATS", "PATH|off", "stats socket path (RUNDIR/PID.sock), or off"},
    {"rundir", "CONNWARDEN_RUNDIR", "DIR", "directory for the stats socket"},
    {"check-leaks", "CONNWARDEN_LEAK_CHECK", NULL, "report connections open at exit; exit 23 on leaks"},
    {"leak-exitcode", "CONNWARDEN_LEAK_EXITCODE", "N", "exit status when leaks are found"},
    {"report", "CONNWARDEN_REPORT", "stderr|DIR", "where leak reports go (a file per PID in DIR)"},
    {"backtrace", "CONNWARDEN_BACKTRACE", NULL, "record where each connection was opened"},
    {"log", "CONNWARDEN_LOG", "LEVEL", "off, error, warn, info or debug (warn)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void cw_run_usage(FILE *out) {
  for (size_t i = 0; i < NOPTS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
             opts[i].arg ? opts[i].arg : "");
    fprintf(out, "  %-34s %s\n", left, opts[i].help);
  }
}

static const struct opt *find_opt(const char *name, size_t len) {
  for (size_t i = 0; i < NOPTS; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
      return &opts[i];
  return NULL;
}

/* ---- the library ---------------------------------------------------------------------------- */

static int usable(const char *path, char *out) {
  struct stat st;
  return realpath(path, out) && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, R_OK) == 0;
}

/* $CONNWARDEN_LIB, else next to this program, else ../lib/connwarden/ from it (make install's
 * layout). out gets an absolute path (PATH_MAX bytes): children that chdir still find it. */
static int find_library(char *out) {
  const char *env = getenv("CONNWARDEN_LIB");
  if (env && *env) {
    errno = 0;
    if (!usable(env, out))
      return cw_err_fail("CONNWARDEN_LIB=%s: %s", env, errno ? strerror(errno) : "not a readable file");
    return 0;
  }
  char exe[PATH_MAX], a[PATH_MAX + 32], b[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0)
    return cw_err_fail("cannot find %s: /proc/self/exe: %s (set CONNWARDEN_LIB)", LIB_NAME,
                       strerror(errno));
  exe[n] = '\0';
  const char *dir = dirname(exe);
  snprintf(a, sizeof a, "%s/%s", dir, LIB_NAME);
  snprintf(b, sizeof b, "%s/../lib/connwarden/%s", dir, LIB_NAME);
  if (usable(a, out) || usable(b, out))
    return 0;
  return cw_err_fail("cannot find %s in %s or %s/../lib/connwarden (set CONNWARDEN_LIB)", LIB_NAME,
                     dir, dir);
}

/* LD_PRELOAD=LIB[:existing]. ld.so splits the list on colons and blanks, so LIB may hold neither. */
static int set_preload(const char *lib) {
  if (strpbrk(lib, ": \t"))
    return cw_err_fail("%s: a library path with a colon or blank cannot go in LD_PRELOAD", lib);
  const char *old = getenv("LD_PRELOAD");
  char *v;
  if (old && *old ? asprintf(&v, "%s:%s", lib, old) < 0 : !(v = strdup(lib)))
    return cw_err_fail("out of memory");
  int rc = setenv("LD_PRELOAD", v, 1);
  free(v);
  return rc < 0 ? cw_err_fail("setting LD_PRELOAD: %s", strerror(errno)) : 0;
}

/* ---- the command ---------------------------------------------------------------------------- */

/* Where execvp will find cmd: the name itself when it has a slash, else the first executable
 * regular file along $PATH. 0 with the path in out (PATH_MAX bytes), or -ENOENT. */
static int find_command(const char *cmd, char *out) {
  struct stat st;
  if (strchr(cmd, '/')) {
    snprintf(out, PATH_MAX, "%s", cmd);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/bin:/usr/bin";
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    int n = end == p ? snprintf(out, PATH_MAX, "%s", cmd) /* an empty entry is the current dir */
                     : snprintf(out, PATH_MAX, "%.*s/%s", (int)(end - p), p, cmd);
    if (n > 0 && n < PATH_MAX && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return 0;
    if (!*end)
      return -ENOENT;
    p = end;
  }
}

int cw_run_exec(int argc, char **argv) {
  int i = 0, exitcode_given = 0, check_leaks = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-') /* the command starts; "--" before it is optional */
      break;
    if (a[1] != '-')
      return cw_err_usage("run: unknown option '%s'", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const struct opt *o = find_opt(name, nlen);
    if (!o)
      return cw_err_usage("run: unknown option '--%.*s'", (int)nlen, name);
    const char *val = "1";
    if (!o->arg) {
      if (eq)
        return cw_err_usage("run: --%s takes no value", o->name);
    } else if (eq) {
      val = eq + 1;
    } else if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0) {
      val = argv[++i];
    } else {
      return cw_err_usage("run: --%s needs a value: %s", o->name, o->arg);
    }
    if (setenv(o->var, val, 1) < 0)
      return cw_err_fail("setting %s: %s", o->var, strerror(errno));
    check_leaks |= strcmp(o->name, "check-leaks") == 0;
    exitcode_given |= strcmp(o->name, "leak-exitcode") == 0;
  }
  if (i >= argc)
    return cw_err_usage("run: no command given: connwarden run [OPTIONS] -- CMD [ARGS...]");
  if (check_leaks && !exitcode_given && setenv("CONNWARDEN_LEAK_EXITCODE", DEFAULT_LEAK_EXITCODE, 1) < 0)
    return cw_err_fail("setting CONNWARDEN_LEAK_EXITCODE: %s", strerror(errno));

  char lib[PATH_MAX], cmd_path[PATH_MAX];
  int rc;
  if ((rc = find_library(lib)) != 0 || (rc = set_preload(lib)) != 0)
    return rc;
  const char *cmd = argv[i];
  if (find_command(cmd, cmd_path) == 0 && cw_elf_is_static(cmd_path))
    cw_err_warn("%s is statically linked: the library cannot be preloaded into it, nothing is tracked",
                cmd);
  fflush(stdout);
  execvp(cmd, argv + i);
  int e = errno;
  if (e == ENOENT)
    cw_err_fail(strchr(cmd, '/') ? "%s: no such file" : "%s: command not found", cmd);
  else
    cw_err_fail("%s: %s", cmd, strerror(e));
  return e == ENOENT ? 127 : 126;
}
