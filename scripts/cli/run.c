/* run.c - `connwarden run [OPTIONS] -- CMD [ARGS...]`: each option becomes the CONNWARDEN_*
 * variable it mirrors (the library validates values at start-up and exits 2 naming the variable,
 * so nothing is parsed twice here) and the library goes first in LD_PRELOAD, after only the
 * sanitizer runtimes that lead it. Plain runs exec CMD in place (same PID, no signal or status
 * relaying); --check-leaks hands CMD to checkrun.c, which runs it as a child and sets these
 * variables in the child only. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "checkrun.h"
#include "elf.h"
#include "err.h"

#define LIB_NAME "libconnwarden.so"
#define DEFAULT_LEAK_EXITCODE 23 /* LeakSanitizer's */

struct opt {
  const char *name; /* without the leading "--" */
  const char *var;  /* NULL: an option of run itself */
  const char *arg;  /* the value's form; NULL: a flag that sets var to 1 */
  const char *help;
};

static const struct opt opts[] = {
    {"max-conns", "CONNWARDEN_MAX_CONNS", "N", "at most N open outbound connections (0: no cap)"},
    {"max-conns-per-dest", "CONNWARDEN_MAX_CONNS_PER_DEST", "N", "at most N to one destination (see --dest-by)"},
    {"dest-by", "CONNWARDEN_DEST_BY", "name|address",
     "one destination is a host name and port the program resolved (name), or an address:port"},
    {"on-cap", "CONNWARDEN_ON_CAP", "queue|refuse", "at a cap, wait for a free slot or fail at once"},
    {"cap-scope", "CONNWARDEN_CAP_SCOPE", "process|tree",
     "caps per process, or one cap, queue and counters for CMD and every process it starts"},
    {"queue-timeout", "CONNWARDEN_QUEUE_TIMEOUT", "D", "how long a queued connect waits (10s)"},
    {"cap-errno", "CONNWARDEN_CAP_ERRNO", "NAME", "errno of a connect refused at a cap (ECONNREFUSED)"},
    {"idle-timeout", "CONNWARDEN_IDLE_TIMEOUT", "D", "reap a connection with no activity for D"},
    {"max-lifetime", "CONNWARDEN_MAX_LIFETIME", "D", "reap a connection open longer than D"},
    {"reap-grace", "CONNWARDEN_REAP_GRACE", "D", "time the program gets to close a reaped fd (5s)"},
    {"evict-idle", "CONNWARDEN_EVICT_IDLE", "D", "at a cap with connects waiting, evict a connection idle D"},
    {"abandon-after", "CONNWARDEN_ABANDON_AFTER", "D|off", "unread bytes this long make a connection abandoned (60s)"},
    {"name", "CONNWARDEN_NAME", "NAME", "the processes' name in ls, top, the exporter and reports"},
    {"only", "CONNWARDEN_ONLY", "LIST", "apply policy only to: out (default), in, all, IP:PORT, NAME:PORT, *.DOMAIN, :PORT, CIDR, IP"},
    {"exclude", "CONNWARDEN_EXCLUDE", "LIST", "never apply policy to these (same forms)"},
    {"stats", "CONNWARDEN_STATS", "PATH|off", "stats socket path (RUNDIR/PID.sock; %p: the PID), or off"},
    {"rundir", "CONNWARDEN_RUNDIR", "DIR", "directory for the stats socket"},
    {"check-leaks", "CONNWARDEN_LEAK_CHECK", NULL,
     "check CMD and every process it starts for leaked connections; one summary, exit 23 on leaks"},
    {"report-dir", NULL, "DIR", "with --check-leaks: keep the per-process reports and the summary in DIR"},
    {"suppressions", NULL, "FILE", "with --check-leaks: leaks to ignore (peer:HOST:PORT, func:NAME, ...)"},
    {"report-format", NULL, "text|json", "with --check-leaks: summary as text (stderr) or JSON (stdout)"},
    {"leak-exitcode", "CONNWARDEN_LEAK_EXITCODE", "N",
     "exit status when leaks are found (with --check-leaks: of run, 23 by default)"},
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

/* The command line, parsed: variables to set (in order, later ones win) and run's own options. */
struct setting {
  const char *var, *val;
};
struct run_opts {
  struct setting *set;
  int nset;
  int check_leaks, json;
  const char *report_dir, *supp_path, *report;
  char **cmd;
};

static int parse(int argc, char **argv, struct run_opts *o) {
  int i = 0;
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
    const struct opt *op = find_opt(name, nlen);
    if (!op)
      return cw_err_usage("run: unknown option '--%.*s'", (int)nlen, name);
    const char *val = "1";
    if (!op->arg) {
      if (eq)
        return cw_err_usage("run: --%s takes no value", op->name);
    } else if (eq) {
      val = eq + 1;
    } else if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0) {
      val = argv[++i];
    } else {
      return cw_err_usage("run: --%s needs a value: %s", op->name, op->arg);
    }
    if (strcmp(op->name, "report-dir") == 0) {
      o->report_dir = val;
    } else if (strcmp(op->name, "suppressions") == 0) {
      o->supp_path = val;
    } else if (strcmp(op->name, "report-format") == 0) {
      if (strcmp(val, "text") != 0 && strcmp(val, "json") != 0)
        return cw_err_usage("run: --report-format is text or json, not '%s'", val);
      o->json = val[0] == 'j';
    } else {
      o->set[o->nset++] = (struct setting){op->var, val};
      o->check_leaks |= strcmp(op->name, "check-leaks") == 0;
      if (strcmp(op->name, "report") == 0)
        o->report = val;
    }
  }
  if (i >= argc)
    return cw_err_usage("run: no command given: connwarden run [OPTIONS] -- CMD [ARGS...]");
  if (!o->check_leaks && (o->report_dir || o->supp_path || o->json))
    return cw_err_usage("run: --report-dir, --suppressions and --report-format go with --check-leaks");
  if (o->check_leaks && !o->report_dir && o->report && strcmp(o->report, "stderr") != 0)
    o->report_dir = o->report; /* --report DIR names the directory too */
  o->cmd = argv + i;
  return 0;
}

static int apply_settings(const struct run_opts *o) {
  for (int i = 0; i < o->nset; i++)
    if (setenv(o->set[i].var, o->set[i].val, 1) < 0)
      return cw_err_fail("setting %s: %s", o->set[i].var, strerror(errno));
  return 0;
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

/* Sanitizer runtimes (ASan, TSan, LSan, UBSan, HWASan; GCC's libNAME.so and LLVM's
 * libclang_rt.*): the runtime refuses to start unless it comes before every other preloaded
 * library, so the library goes after them. word: one LD_PRELOAD entry, len bytes. */
static int sanitizer_runtime(const char *word, size_t len) {
  static const char *const names[] = {"libasan.so", "libtsan.so", "liblsan.so", "libubsan.so",
                                      "libhwasan.so", "libclang_rt."};
  const char *base = word;
  for (size_t i = 0; i < len; i++)
    if (word[i] == '/')
      base = word + i + 1;
  size_t blen = len - (size_t)(base - word);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t n = strlen(names[i]);
    if (blen >= n && strncmp(base, names[i], n) == 0)
      return 1;
  }
  return 0;
}

/* How much of an LD_PRELOAD value its leading sanitizer runtimes take, separators included. */
static size_t runtimes_first(const char *old) {
  size_t keep = 0, i = 0;
  for (;;) {
    while (old[i] == ':' || old[i] == ' ') /* ld.so's separators; empty entries are skipped */
      i++;
    size_t len = strcspn(old + i, ": ");
    if (len == 0 || !sanitizer_runtime(old + i, len))
      return keep;
    keep = i + len;
    i = keep;
  }
}

/* LD_PRELOAD=LIB[:existing], or RUNTIMES:LIB[:rest] when the existing value starts with sanitizer
 * runtimes. ld.so splits the list on colons and blanks, so LIB may hold neither. */
static int set_preload(const char *lib) {
  if (strpbrk(lib, ": \t"))
    return cw_err_fail("%s: a library path with a colon or blank cannot go in LD_PRELOAD", lib);
  const char *old = getenv("LD_PRELOAD");
  if (!old)
    old = "";
  size_t keep = runtimes_first(old);
  const char *rest = old + keep;
  rest += strspn(rest, ": ");
  char *v;
  if (asprintf(&v, "%.*s%s%s%s%s", (int)keep, old, keep ? ":" : "", lib, *rest ? ":" : "", rest) < 0)
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

/* Would the loader run path in secure mode (set-user-ID or set-group-ID to someone else, on a
 * file system that honours it)? Then it ignores LD_PRELOAD. */
static int runs_setuid(const char *path) {
  struct stat st;
  struct statvfs vfs;
  if (stat(path, &st) != 0 || (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)))
    return 0;
  return ((st.st_mode & S_ISUID) && st.st_uid != geteuid()) || ((st.st_mode & S_ISGID) && st.st_gid != getegid());
}

/* One line when the preload cannot reach cmd; it still runs. */
static void warn_unreachable(const char *cmd) {
  char path[PATH_MAX];
  if (find_command(cmd, path) != 0)
    return;
  if (cw_elf_is_static(path))
    cw_err_warn("%s is statically linked: the library cannot be preloaded into it, nothing is tracked", cmd);
  else if (runs_setuid(path))
    cw_err_warn("%s is setuid or setgid: the loader ignores LD_PRELOAD for it, nothing is tracked", cmd);
}

/* For --check-leaks: the child's environment, set in the child. */
struct child_env {
  const struct run_opts *o;
  const char *lib;
};
static int prepare_child_env(void *arg) {
  const struct child_env *e = arg;
  return apply_settings(e->o) == 0 && set_preload(e->lib) == 0 ? 0 : -1;
}

int cw_run_exec(int argc, char **argv) {
  struct run_opts o = {.set = calloc((size_t)argc + 1, sizeof(struct setting))};
  char lib[PATH_MAX];
  int rc;
  if (!o.set)
    return cw_err_fail("out of memory");
  if ((rc = parse(argc, argv, &o)) != 0 || (rc = find_library(lib)) != 0)
    goto out;
  warn_unreachable(o.cmd[0]);
  if (o.check_leaks) {
    struct child_env env = {&o, lib};
    struct cw_check c = {.cmd = o.cmd, .report_dir = o.report_dir, .supp_path = o.supp_path,
                         .json = o.json, .leak_exitcode = DEFAULT_LEAK_EXITCODE,
                         .prepare_env = prepare_child_env, .arg = &env};
    for (int i = 0; i < o.nset; i++)
      if (strcmp(o.set[i].var, "CONNWARDEN_LEAK_EXITCODE") == 0)
        c.leak_exitcode = (int)strtol(o.set[i].val, NULL, 10);
    rc = cw_check_run(&c);
    goto out;
  }
  if ((rc = apply_settings(&o)) != 0 || (rc = set_preload(lib)) != 0)
    goto out;
  fflush(stdout);
  execvp(o.cmd[0], o.cmd);
  rc = cw_exec_failed(o.cmd[0], errno);
out:
  free(o.set);
  return rc;
}
