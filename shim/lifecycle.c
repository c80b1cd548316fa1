/* lifecycle.c - the constructor, pthread_once'd resolution, atfork handlers, the exit handler and
 * the shim's own fds: the one place threads start. Runs in whichever host thread is starting,
 * forking or exiting. Lock order: start_mu, then table_mu (prepare); own_mu is a leaf. */
#define _GNU_SOURCE
#include "lifecycle.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include "backtrace.h"
#include "config.h"
#include "leakcheck.h"
#include "log.h"
#include "real.h"
#include "server.h"
#include "sock.h"
#include "table.h"

__thread int cw_guard __attribute__((tls_model("initial-exec")));

pid_t cw_pid;        /* written at start-up and in a fork child (single-threaded then) */
int64_t cw_start_ns; /* likewise */

/* 1 once the stats server was started (or tried) in this process. Guarded by start_mu for
 * writers; read with acquire loads. */
int cw_server_wanted;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static int child_restart; /* set by the atfork child handler, read by the fork wrapper's child */

/* ---- own fds -------------------------------------------------------------------------------- */

unsigned char *cw_own_map; /* written under own_mu; read lock-free by cw_own_is */
int cw_own_count;          /* likewise */
static int *own_refs[CW_OWN_MAX]; /* guarded by own_mu */
static pthread_mutex_t own_mu = PTHREAD_MUTEX_INITIALIZER;

static void own_mark(int fd, unsigned char v) {
  if (cw_own_map && fd >= 0 && (unsigned)fd < cw_slot_cap)
    __atomic_store_n(&cw_own_map[fd], v, __ATOMIC_RELAXED);
}

int cw_own_add(int *ref) {
  int rc = -ENOSPC;
  pthread_mutex_lock(&own_mu);
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (!own_refs[i]) {
      own_refs[i] = ref;
      own_mark(*ref, 1);
      __atomic_add_fetch(&cw_own_count, 1, __ATOMIC_RELAXED);
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&own_mu);
  return rc;
}

void cw_own_del(int *ref) {
  pthread_mutex_lock(&own_mu);
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (own_refs[i] == ref) {
      own_refs[i] = NULL;
      own_mark(*ref, 0);
      __atomic_sub_fetch(&cw_own_count, 1, __ATOMIC_RELAXED);
      break;
    }
  pthread_mutex_unlock(&own_mu);
}

int cw_own_list(int *out, int max) {
  int n = 0;
  pthread_mutex_lock(&own_mu);
  for (int i = 0; i < CW_OWN_MAX && n < max; i++)
    if (own_refs[i])
      out[n++] = __atomic_load_n(own_refs[i], __ATOMIC_RELAXED);
  pthread_mutex_unlock(&own_mu);
  return n;
}

/* Our fds live near the top of the fd range, out of the way of the host's low numbers. */
static int high_base(void) {
  struct rlimit rl;
  long top = cw_slot_cap;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < top)
    top = (long)rl.rlim_cur;
  return top > 256 ? (int)(top - 64) : 3;
}

int cw_own_high_fd(int fd) {
  int base = high_base();
  if (fd >= base)
    return fd;
  int nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, base);
  if (nfd < 0)
    return fd;
  CW_REAL(close)(fd);
  return nfd;
}

void cw_own_relocate(int fd) {
  pthread_mutex_lock(&own_mu);
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (own_refs[i] && __atomic_load_n(own_refs[i], __ATOMIC_RELAXED) == fd) {
      /* low numbers too: the host may own everything above */
      int nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, high_base());
      if (nfd < 0)
        nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
      if (nfd < 0)
        break;
      own_mark(nfd, 1);
      __atomic_store_n(own_refs[i], nfd, __ATOMIC_RELEASE);
      own_mark(fd, 0);
      /* the host's dup2/dup3 now replaces the old number, closing our old copy */
    }
  pthread_mutex_unlock(&own_mu);
}

/* ---- the stats server ----------------------------------------------------------------------- */

void cw_lifecycle_start_server(void) {
  pthread_mutex_lock(&start_mu);
  if (!cw_server_wanted) {
    __atomic_store_n(&cw_server_wanted, 1, __ATOMIC_RELEASE);
    cw_guard++;
    cw_server_start();
    cw_guard--;
  }
  pthread_mutex_unlock(&start_mu);
}

/* ---- fork and exec -------------------------------------------------------------------------- */

static void fork_prepare(void) {
  pthread_mutex_lock(&start_mu);
  pthread_mutex_lock(&own_mu);
  cw_table_lock();
}

static void fork_parent(void) {
  cw_table_unlock();
  pthread_mutex_unlock(&own_mu);
  pthread_mutex_unlock(&start_mu);
}

/* Single-threaded: the locks held by prepare are ours, but re-created rather than unlocked. */
static void fork_child(void) {
  cw_pid = (pid_t)cw_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
  cw_start_ns = cw_now();
  pthread_mutex_init(&start_mu, NULL);
  pthread_mutex_init(&own_mu, NULL);
  cw_table_fork_child();
  child_restart = cw_server_fork_child();
  cw_server_wanted = 0;
  if (!cw_cfg.stats_explicit)
    cw_config_default_stats_path(&cw_cfg, cw_pid);
}

void cw_lifecycle_fork_child(void) {
  if (child_restart) {
    child_restart = 0;
    cw_lifecycle_start_server();
  }
}

void cw_lifecycle_before_exec(void) { cw_server_unlink(); }
void cw_lifecycle_exec_failed(void) { cw_server_relisten(); }

/* ---- start-up and exit ---------------------------------------------------------------------- */

static const char *env_get(const char *name) { return getenv(name); }

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
    if (*end || fd < 0 || fd == self)
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
  int leaks = cw_cfg.leak_check ? cw_leakcheck_run() : 0;
  cw_server_exit();
  if (leaks > 0 && cw_cfg.leak_exitcode && status == 0) {
    /* like LeakSanitizer: the report decides the status, after the host's output is out */
    fflush(NULL);
    _exit(cw_cfg.leak_exitcode);
  }
  cw_guard--;
}

__attribute__((constructor(101))) static void cw_init(void) {
  cw_guard++;
  cw_real_init();
  cw_pid = getpid();
  cw_start_ns = cw_now();
  char err[1024];
  if (cw_config_load(&cw_cfg, env_get, err, sizeof err) < 0) {
    /* before main: the host has not started, so stopping it here loses nothing */
    size_t n = strlen(err);
    err[n] = '\n';
    cw_write_all(2, err, n + 1);
    _exit(2);
  }
  cw_log_level = (enum cw_level)cw_cfg.log_level;
  if (cw_table_init() < 0) {
    cw_log(CW_LOG_ERROR, "cannot map the connection table: tracking is off");
  } else {
    void *m = mmap(NULL, cw_slot_cap, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m != MAP_FAILED)
      cw_own_map = m;
  }
  if (cw_cfg.backtrace)
    cw_bt_warm();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  on_exit(at_exit, NULL);
  if (adopt_inherited() > 0)
    cw_lifecycle_start_server();
  cw_guard--;
}
