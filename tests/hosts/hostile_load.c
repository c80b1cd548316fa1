/* hostile_load.c - a host that does what hostile programs do to an interposer while its threads
 * move data on loopback TCP: `storm` (a SIGALRM storm whose handler writes, dups, closes and
 * connects on sockets while others block in reads), `fork` (forks children while threads hold the
 * shim's locks), `prefork` (8 workers accepting on one listener). It checks its own results, prints
 * one "key=value ..." line, holds its connections until SIGTERM (at most 30 s) and exits 0 when
 * all was well. Usage: hostile_load storm|fork|prefork. Runs the same with or without preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAIRS 4
#define MSG 64
#define WORKERS 8
#define CLIENTS 400

static int stop; /* atomic */
static int term; /* atomic: set by the SIGTERM handler on any thread */
static long errors, eintrs, moved[PAIRS];

static void bad(const char *what) {
  fprintf(stderr, "hostile_load: %s: %s\n", what, strerror(errno));
  __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
}

static int listener(struct sockaddr_in *a, int backlog) {
  socklen_t al = sizeof *a;
  *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)a, &al) < 0) {
    perror("hostile_load: listener");
    exit(2);
  }
  return fd;
}

/* A connected pair through listener lfd: *c the client side, *s the accepted side. */
static void pair(int lfd, const struct sockaddr_in *a, int *c, int *s) {
  *c = socket(AF_INET, SOCK_STREAM, 0);
  if (*c < 0 || connect(*c, (const struct sockaddr *)a, sizeof *a) < 0 ||
      (*s = accept(lfd, NULL, NULL)) < 0) {
    perror("hostile_load: pair");
    exit(2);
  }
}

/* Exactly n bytes, retrying only EINTR (counted); 0, or -1 at EOF or another error. */
static int io_full(int fd, char *buf, size_t n, int out) {
  for (size_t done = 0; done < n;) {
    ssize_t r = out ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
    if (r < 0 && errno == EINTR) {
      __atomic_fetch_add(&eintrs, 1, __ATOMIC_RELAXED);
      continue;
    }
    if (r <= 0)
      return -1;
    done += (size_t)r;
  }
  return 0;
}

/* ---- ping-pong pairs: the host's own traffic ------------------------------------------------ */

static int pc[PAIRS], ps[PAIRS];

static void *pinger(void *arg) {
  int i = (int)(long)arg;
  char buf[MSG], want[MSG];
  for (long n = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); n++) {
    for (int k = 0; k < MSG; k++)
      want[k] = buf[k] = (char)(n * 7 + k + i);
    if (io_full(pc[i], buf, MSG, 1) < 0 || io_full(pc[i], buf, MSG, 0) < 0) {
      bad("ping");
      return NULL;
    }
    if (memcmp(buf, want, MSG) != 0) {
      fprintf(stderr, "hostile_load: pair %d: corrupt echo\n", i);
      __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
      return NULL;
    }
    __atomic_fetch_add(&moved[i], 1, __ATOMIC_RELAXED);
  }
  shutdown(pc[i], SHUT_WR);
  return NULL;
}

static void *ponger(void *arg) {
  int i = (int)(long)arg;
  char buf[MSG];
  while (io_full(ps[i], buf, MSG, 0) == 0)
    if (io_full(ps[i], buf, MSG, 1) < 0) {
      bad("pong");
      break;
    }
  return NULL;
}

/* ---- churn: connect, accept, close, as fast as it goes (the shim's lifecycle locks) --------- */

static int churn_lfd;
static struct sockaddr_in churn_addr;
static long churned;

static void *churn(void *arg) {
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    int c, s;
    c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&churn_addr, sizeof churn_addr) < 0) {
      if (errno != EINTR)
        bad("churn connect");
      if (c >= 0)
        close(c);
      continue;
    }
    while ((s = accept(churn_lfd, NULL, NULL)) < 0 && errno == EINTR)
      ;
    if (s < 0) {
      bad("churn accept");
      close(c);
      continue;
    }
    int d = dup(s);
    close(s);
    close(d);
    close(c);
    churned++;
  }
  return arg;
}

static pthread_t start(void *(*fn)(void *), long arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, (void *)arg) != 0) {
    perror("hostile_load: thread");
    exit(2);
  }
  return t;
}

static pthread_t pingers[PAIRS], pongers[PAIRS], churner;
static int main_lfd;
static struct sockaddr_in main_addr;

static void start_load(void) {
  main_lfd = listener(&main_addr, 16);
  for (int i = 0; i < PAIRS; i++)
    pair(main_lfd, &main_addr, &pc[i], &ps[i]);
  churn_lfd = listener(&churn_addr, 128);
  for (long i = 0; i < PAIRS; i++) {
    pingers[i] = start(pinger, i);
    pongers[i] = start(ponger, i);
  }
  churner = start(churn, 0);
}

/* Stop the load; a thread that does not finish within 5 s is stuck (a deadlock). */
static int stop_load(void) {
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 5;
  int stuck = 0;
  for (int i = 0; i < PAIRS; i++) {
    stuck += pthread_timedjoin_np(pingers[i], NULL, &dl) != 0;
    stuck += pthread_timedjoin_np(pongers[i], NULL, &dl) != 0;
  }
  stuck += pthread_timedjoin_np(churner, NULL, &dl) != 0;
  return stuck;
}

static long total_moved(void) {
  long n = 0;
  for (int i = 0; i < PAIRS; i++)
    n += __atomic_load_n(&moved[i], __ATOMIC_RELAXED);
  return n;
}

static void on_term(int sig) { __atomic_store_n(&term, sig, __ATOMIC_RELAXED); }

/* Hold what is open until SIGTERM (at most 30 s). */
static void hold(void) {
  for (int i = 0; i < 300 && !__atomic_load_n(&term, __ATOMIC_RELAXED); i++)
    usleep(100000);
}

/* ---- storm ---------------------------------------------------------------------------------- */

static int sig_fd;                 /* a tracked connection the handler writes on */
static int sig_lfd;                /* the handler connects here; a thread accepts and closes */
static struct sockaddr_in sig_addr;
static long handled, handler_errors; /* atomics: the handler runs on any thread */

static void on_alarm(int sig) {
  int saved = errno;
  long n = __atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
  if (write(sig_fd, "x", 1) < 0 && errno != EAGAIN)
    __atomic_fetch_add(&handler_errors, 1, __ATOMIC_RELAXED);
  int d = dup(sig_fd);
  if (d < 0 || dup2(sig_fd, d) != d || close(d) < 0)
    __atomic_fetch_add(&handler_errors, 1, __ATOMIC_RELAXED);
  if (n % 8 == 0) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0)
      __atomic_fetch_add(&handler_errors, 1, __ATOMIC_RELAXED);
    else {
      if (connect(s, (struct sockaddr *)&sig_addr, sizeof sig_addr) < 0 && errno != EINPROGRESS &&
          errno != EAGAIN)
        __atomic_fetch_add(&handler_errors, 1, __ATOMIC_RELAXED);
      close(s);
    }
  }
  errno = saved;
  (void)sig;
}

static void *drain(void *arg) {
  int fd = (int)(long)arg;
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    ;
  return NULL;
}

static void *sig_acceptor(void *arg) {
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    int s = accept(sig_lfd, NULL, NULL);
    if (s >= 0)
      close(s);
  }
  return arg;
}

/* Opens BATCH connections, moves both ends of each onto the numbers from BATCH_FD up and ends
 * them all with one close_range, over and over: the shim holds its table lock across the whole
 * range, where the storm aimed at this thread lands inside it. */
#define BATCH 150
#define BATCH_FD 500
static int batch_lfd;
static struct sockaddr_in batch_addr;
static long batches;
static void *batcher(void *arg) {
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    int n = 0;
    for (; n < BATCH; n++) {
      int c, s;
      c = socket(AF_INET, SOCK_STREAM, 0);
      while (c >= 0 && connect(c, (struct sockaddr *)&batch_addr, sizeof batch_addr) < 0 &&
             errno == EINTR)
        ; /* the connect goes on in the kernel: its EINTR is only the wait's */
      while ((s = accept(batch_lfd, NULL, NULL)) < 0 && errno == EINTR)
        ;
      if (c < 0 || s < 0 || dup2(c, BATCH_FD + 2 * n) < 0 || dup2(s, BATCH_FD + 2 * n + 1) < 0) {
        bad("batch");
        return arg;
      }
      close(c);
      close(s);
    }
    if (close_range(BATCH_FD, BATCH_FD + 2 * BATCH - 1, 0) < 0)
      bad("batch close_range");
    __atomic_fetch_add(&batches, 1, __ATOMIC_RELAXED);
  }
  return arg;
}

/* Blocks in read on a connection that never gets data: every signal must come back as EINTR. */
static int idle_fd;
static long idle_eintr, idle_other;
static void *idle_reader(void *arg) {
  char c;
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    ssize_t r = read(idle_fd, &c, 1);
    if (r < 0 && errno == EINTR)
      idle_eintr++;
    else if (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
      idle_other++;
  }
  return arg;
}

static int storm(void) {
  signal(SIGTERM, on_term);
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: blocked reads see EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  /* what the handler and the storm's threads use is set before any thread starts (ThreadSanitizer
   * cannot see that the timer starts later) */
  struct sockaddr_in pa;
  int plfd = listener(&pa, 4), sc, ss, ic, is;
  pair(plfd, &pa, &sig_fd, &ss);
  fcntl(sig_fd, F_SETFL, O_NONBLOCK);
  pair(plfd, &pa, &ic, &is);
  close(plfd);
  idle_fd = is;
  sig_lfd = listener(&sig_addr, 128);
  batch_lfd = listener(&batch_addr, BATCH);
  start_load();
  pthread_t dt = start(drain, ss), at = start(sig_acceptor, 0), it = start(idle_reader, 0),
            bt = start(batcher, 0);
  struct itimerval every = {.it_interval = {0, 200}, .it_value = {0, 200}};
  setitimer(ITIMER_REAL, &every, NULL);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do { /* 1.5 s (sleeps end early at each signal), and the idle reader is hit directly too */
    pthread_kill(it, SIGALRM);
    pthread_kill(bt, SIGALRM);
    usleep(1000);
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  int stuck = stop_load();
  pthread_kill(it, SIGALRM);
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 5;
  stuck += pthread_timedjoin_np(bt, NULL, &dl) != 0;
  for (int i = 0; i < 50 && pthread_tryjoin_np(it, NULL) != 0; i++) {
    pthread_kill(it, SIGALRM);
    usleep(100000);
  }
  close(sig_lfd); /* wakes nothing in accept on Linux: the acceptor is left to exit with us */
  (void)at;
  (void)sc;
  shutdown(sig_fd, SHUT_WR);
  stuck += pthread_timedjoin_np(dt, NULL, &dl) != 0;
  /* open now: 4 pairs, the idle pair and the signal pair's accepted side (its client is shut
   * for writing only): 12 connections */
  long h = __atomic_load_n(&handled, __ATOMIC_RELAXED);
  long herr = __atomic_load_n(&handler_errors, __ATOMIC_RELAXED);
  printf("handled=%ld handler_errors=%ld eintr=%ld idle_eintr=%ld idle_other=%ld moved=%ld "
         "churned=%ld batches=%ld stuck=%d errors=%ld open=12\n",
         h, herr, eintrs, idle_eintr, idle_other, total_moved(), churned,
         __atomic_load_n(&batches, __ATOMIC_RELAXED), stuck, errors);
  hold();
  return stuck || errors || herr || idle_other || !idle_eintr || !h;
}

/* ---- fork ----------------------------------------------------------------------------------- */

/* In a child: a connection of its own works, and under the shim its own stats server answers. */
static int child_works(void) {
  struct sockaddr_in a;
  int lfd = listener(&a, 4), c, s;
  pair(lfd, &a, &c, &s);
  char buf[5];
  if (write(c, "hello", 5) != 5 || read(s, buf, 5) != 5 || memcmp(buf, "hello", 5) != 0)
    return 3;
  const char *rundir = getenv("CONNWARDEN_RUNDIR"), *pre = getenv("LD_PRELOAD");
  if (rundir && pre && strstr(pre, "connwarden")) {
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    snprintf(u.sun_path, sizeof u.sun_path, "%s/%d.sock", rundir, (int)getpid());
    char reply[8192], want[64];
    size_t got = 0;
    int ok = 0;
    for (int tries = 0; tries < 100 && !ok; tries++) { /* the server thread may still be starting */
      int q = socket(AF_UNIX, SOCK_STREAM, 0);
      if (connect(q, (struct sockaddr *)&u, sizeof u) == 0 && write(q, "stats\n", 6) == 6) {
        ssize_t r;
        got = 0;
        while (got < sizeof reply - 1 && (r = read(q, reply + got, sizeof reply - 1 - got)) > 0)
          got += (size_t)r;
        reply[got] = '\0';
        snprintf(want, sizeof want, "\"pid\": %d,", (int)getpid());
        ok = strstr(reply, want) != NULL;
      }
      close(q);
      if (!ok)
        usleep(10000);
    }
    if (!ok)
      return 4;
  }
  close(c);
  close(s);
  close(lfd);
  return 0;
}

static int forks(void) {
  signal(SIGTERM, on_term);
  start_load();
  int children = 0, ok = 0, deadlocked = 0, failed = 0;
  for (int i = 0; i < 60; i++) {
    pid_t p = fork();
    if (p < 0) {
      bad("fork");
      break;
    }
    if (p == 0) {
      alarm(5); /* a child stuck on a lock the parent's threads held dies of SIGALRM */
      exit(child_works());
    }
    children++;
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
      ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
      ok++;
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
      deadlocked++;
    else {
      failed++;
      fprintf(stderr, "hostile_load: child %d: status %#x\n", (int)p, st);
    }
  }
  int stuck = stop_load();
  printf("children=%d ok=%d deadlocked=%d failed=%d moved=%ld churned=%ld stuck=%d errors=%ld "
         "open=%d\n",
         children, ok, deadlocked, failed, total_moved(), churned, stuck, errors, 2 * PAIRS);
  hold();
  return stuck || errors || ok != children || !children;
}

/* ---- prefork -------------------------------------------------------------------------------- */

static int worker(int lfd) {
  long accepted = 0;
  struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  while (!__atomic_load_n(&term, __ATOMIC_RELAXED)) {
    int s = accept(lfd, NULL, NULL);
    if (s < 0) {
      if (errno == EINVAL) /* the parent shut the listener down: the end */
        break;
      if (errno != EINTR && errno != EAGAIN)
        return 3;
      continue;
    }
    accepted++;
    char buf[4096];
    ssize_t r;
    while ((r = read(s, buf, sizeof buf)) > 0)
      if (io_full(s, buf, (size_t)r, 1) < 0)
        break;
    close(s);
  }
  printf("worker pid=%d accepted=%ld\n", (int)getpid(), accepted);
  return 0;
}

static struct sockaddr_in pre_addr;
static long served[4];
static void *client(void *arg) {
  long k = (long)arg;
  char buf[100], back[100];
  for (int i = 0; i < CLIENTS / 4; i++) {
    memset(buf, (int)('a' + (k * 31 + i) % 26), sizeof buf);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&pre_addr, sizeof pre_addr) < 0) {
      bad("client connect");
      if (c >= 0)
        close(c);
      continue;
    }
    if (io_full(c, buf, sizeof buf, 1) < 0 || shutdown(c, SHUT_WR) < 0 ||
        io_full(c, back, sizeof back, 0) < 0 || memcmp(buf, back, sizeof buf) != 0)
      bad("client echo");
    else
      served[k]++;
    close(c);
  }
  return NULL;
}

static int prefork(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int lfd = listener(&pre_addr, 128);
  pid_t w[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    w[i] = fork();
    if (w[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a parent killed by a failing test */
      alarm(60);
      _exit(worker(lfd));
    }
  }
  signal(SIGTERM, on_term);
  pthread_t t[4];
  for (long k = 0; k < 4; k++)
    t[k] = start(client, k);
  for (int k = 0; k < 4; k++)
    pthread_join(t[k], NULL);
  long total = served[0] + served[1] + served[2] + served[3];
  printf("clients=%d served=%ld errors=%ld workers=", CLIENTS, total, errors);
  for (int i = 0; i < WORKERS; i++)
    printf("%d%s", (int)w[i], i + 1 < WORKERS ? "," : "\n");
  hold();
  /* The workers' end: the shared listener shut down (accept fails with EINVAL in every one), or
   * SIGTERM, whichever reaches them (ThreadSanitizer delivers no signal to the fork children of a
   * threaded parent). */
  shutdown(lfd, SHUT_RDWR);
  int bad_workers = 0;
  for (int i = 0; i < WORKERS; i++) {
    kill(w[i], SIGTERM);
    int st;
    if (waitpid(w[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad_workers++;
  }
  printf("bad_workers=%d\n", bad_workers);
  return bad_workers || errors || total != CLIENTS;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp(argv[1], "storm") == 0)
    return storm();
  if (argc == 2 && strcmp(argv[1], "fork") == 0)
    return forks();
  if (argc == 2 && strcmp(argv[1], "prefork") == 0)
    return prefork();
  fprintf(stderr, "usage: hostile_load storm|fork|prefork\n");
  return 2;
}
