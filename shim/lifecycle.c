/* lifecycle.c - the constructor, pthread_once'd resolution, atfork handlers, the exit handler and
 * the shim's own fds: the one place threads start. Runs in whichever host thread is starting,
 * forking or exiting. Lock order: start_mu, table_mu, own_mu (a leaf). */
#define _GNU_SOURCE
#include "lifecycle.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include "backtrace.h"
#include "python.h"
#include "config.h"
#include "leakcheck.h"
#include "log.h"
#include "names.h"
#include "ownfd.h"
#include "policy.h"
#include "reaper.h"
#include "real.h"
#include "server.h"
#include "sock.h"
#include "statspath.h"
#include "table.h"
#include "tree.h"
#include "vars.h"

__thread int cw_guard __attribute__((tls_model("initial-exec")));

pid_t cw_pid;        /* written at start-up and in a fork child (single-threaded then) */
int64_t cw_start_ns; /* likewise */

/* 1 once the stats server was started (or tried) in this process. Guarded by start_mu for
 * writers; read with acquire loads. */
int cw_server_wanted;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static int child_restart; /* set by the atfork child handler, read by the fork wrapper's child */

/* ---- the stats server and the reaper ----------------------------------------------------------------------- */

/* Start one of the shim's threads: detached, on a small stack, with every signal blocked (the
 * host's handlers never run on it). 0 or an error number. */
static int spawn(void *(*fn)(void *), size_t stack) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, stack);
  pthread_t t;
  int rc = pthread_create(&t, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

void cw_lifecycle_start_server(void) {
  cw_lock(&start_mu);
  if (!cw_server_wanted) {
    __atomic_store_n(&cw_server_wanted, 1, __ATOMIC_RELEASE);
    cw_guard++; /* also tells the pthread_create wrapper these threads are ours */
    if (cw_server_prepare() > 0 && spawn(cw_server_run, 256 * 1024) != 0)
      cw_server_abandon();
    if (cw_reaper_prepare() > 0 && spawn(cw_reaper_run, 128 * 1024) != 0)
      cw_reaper_abandon();
    cw_guard--;
  }
  if (!cw_unlock(&start_mu))
    cw_log_flush();
}

/* ---- fork and exec -------------------------------------------------------------------------- */

static void fork_prepare(void) {
  cw_lock(&start_mu);
  cw_table_lock();
  cw_policy_fork_prepare();
  cw_own_lock();
  cw_mem_lock();
  cw_names_lock();
}

static void fork_parent(void) {
  cw_names_unlock();
  cw_policy_forked();
  cw_mem_unlock();
  cw_own_unlock();
  cw_tree_fork_parent(); /* closes the child's row's fd here: an own fd (own_mu) */
  cw_table_unlock();
  cw_unlock(&start_mu);
}

/* Single-threaded: the locks held by prepare are ours, but re-created rather than unlocked. */
static void fork_child(void) {
  cw_pid = (pid_t)cw_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
  cw_start_ns = cw_now();
  cw_locked = 0; /* the prepare handler's locks are not held here: their mutexes are re-made */
  pthread_setcancelstate(cw_lock_cancel, NULL); /* as it was before the prepare handler's */
  cw_real_use_raw(1); /* the child has one thread, this one */
  cw_log_fork_child();
  cw_mutex_remake(&start_mu);
  cw_mem_fork_child();
  cw_names_fork_child();
  cw_own_fork_child();
  cw_table_fork_child();
  cw_policy_fork_child();
  cw_reaper_fork_child();
  cw_py_fork_child();
  child_restart = cw_server_fork_child();
  cw_server_wanted = 0;
  cw_cfg.stats_first = 0; /* the exact CONNWARDEN_STATS path stays the parent's */
  cw_statspath_build(&cw_cfg, cw_pid); /* too long: the server says so when it starts */
}

void cw_lifecycle_fork_child(void) {
  if (child_restart) {
    child_restart = 0;
    cw_lifecycle_start_server();
  }
}

void cw_lifecycle_before_exec(char *const envp[]) {
  if (cw_cfg.leak_check) {
    cw_guard++;
    cw_leakcheck_before_exec(envp); /* exec runs no exit handler */
    cw_guard--;
  }
  cw_server_unlink();
  cw_guard++;
  cw_policy_before_exec();
  cw_guard--;
}
void cw_lifecycle_exec_failed(void) {
  cw_guard++;
  cw_policy_exec_failed();
  cw_guard--;
  cw_server_relisten();
}

/* ---- start-up and exit ---------------------------------------------------------------------- */

static const char *env_get(const char *name) { return getenv(name); }

/* Threads in the process now (another library's constructor may have started some). */
static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  if (!d)
    return 2; /* unknown: assume the host has threads */
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Sockets the process was given (by exec or its parent): tracked, marked inherited, never
 * counted as its leaks. */
static int adopt_inherited(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 0;
  int self = dirfd(d), n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end || fd < 0 || fd == self || cw_own_is((int)fd) || cw_table_get((int)fd))
      continue;
    struct cw_conn_info info;
    if (cw_sock_probe_inherited((int)fd, &info) == 0 && cw_table_open(&info) == 0)
      n++;
  }
  closedir(d);
  return n;
}

static void at_exit(int status, void *arg) {
  (void)arg;
  if (cw_in_foreign_child())
    return;
  cw_guard++;
  cw_log_flush_all_summaries(); /* the reaper's next tick will not come */
  int leaks = cw_cfg.leak_check ? cw_leakcheck_run(status) : 0;
  cw_server_exit();
  cw_reaper_publish_tree(); /* the tree keeps this process's counts */
  if (cw_tree_on) {
    /* under table_mu, which every connect, close and grant holds from its look at cw_tree_on to
     * the tree's lock: none of them takes a slot for this member after it left */
    cw_table_lock();
    cw_tree_exit();
    cw_table_unlock();
  }
  if (leaks > 0 && cw_cfg.leak_exitcode && status == 0) {
    /* like LeakSanitizer: the report decides the status, after the host's output is out */
    fflush(NULL);
    _exit(cw_cfg.leak_exitcode);
  }
  cw_guard--;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void) {
  cw_guard++;
  cw_real_init();
  cw_pid = getpid();
  cw_start_ns = cw_now();
  char err[1024];
  if (cw_vars_check(environ, err, sizeof err) < 0 || cw_config_load(&cw_cfg, env_get, err, sizeof err) < 0) {
    /* before main: the host has not started, so stopping it here loses nothing */
    size_t n = strlen(err);
    err[n] = '\n';
    cw_write_all(2, err, n + 1);
    _exit(2);
  }
  cw_log_level = (enum cw_level)cw_cfg.log_level;
  cw_dest_by_address = cw_cfg.dest_by == CW_DEST_BY_ADDRESS;
  char mark[sizeof cw_cfg.stats_spec + 16];
  if (cw_statspath_mark(&cw_cfg, cw_pid, mark, sizeof mark) && setenv(CW_STATS_OWNER_VAR, mark, 1) < 0)
    cw_log(CW_LOG_WARN, CW_EV_CONFIG, "cannot set %s: programs its children exec will find %s taken", CW_STATS_OWNER_VAR,
           cw_cfg.stats_path);
  cw_log_dir = cw_cfg.report_dir[0] ? cw_cfg.report_dir : NULL;
  cw_real_use_raw(count_threads() == 1);
  if (cw_table_init() < 0) { /* inert from here on: no handler, no report, no adoption */
    cw_log(CW_LOG_ERROR, CW_EV_STARTUP, "cannot map the connection table: tracking and stats are off");
    cw_guard--;
    return;
  }
  cw_policy_init();
  cw_py_init();
  if (cw_cfg.leak_check)
    cw_table_on_end = cw_leakcheck_conn_ended;
  if (cw_cfg.backtrace)
    cw_bt_warm();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  on_exit(at_exit, NULL);
  int carried = cw_policy_adopt_carried(); /* before adoption: those fds are queued connects */
  cw_tree_init(); /* after the carried state (an exec keeps its membership), before adoption */
  if (adopt_inherited() + carried > 0)
    cw_lifecycle_start_server();
  cw_guard--;
}

/* Reached from wrappers too (a call made before our constructor ran): start-up reads files and
 * the environment, and must leave the host's errno as the host's call left it. */
void cw_lifecycle_init(void) {
  if (!cw_guard)
    CW_SAVE_ERRNO(pthread_once(&init_once, init));
}

__attribute__((constructor(101))) static void cw_init(void) { cw_lifecycle_init(); }
