/* slot_storm.c - a storm of connects and closes for SECONDS on THREADS threads, against one or more
 * destinations (127.0.0.1:PORT each), to show that a connection cap stays exact and loses no slot
 * whatever mix of calls a host makes. Each thread loops over a random mix of:
 *   blocking      a blocking connect, held a moment (nothing, a yield, a sleep or an echo)
 *   nb_wait       a non-blocking connect, then poll, select or epoll_wait (level, edge or one-shot,
 *                 registered before or after the connect) until writable, SO_ERROR, held
 *   probe         a non-blocking connect closed at once (a health-check probe), after a look
 *   eyeballs      two non-blocking connects: the first writable one wins, the other is closed at
 *                 once (the loser of happy eyeballs, most often still waiting for its slot)
 *   dup           a connection (blocking, or non-blocking and maybe still waiting) given a second
 *                 number by dup, dup2, dup3, F_DUPFD or F_DUPFD_CLOEXEC; either number is closed
 *                 first, the wait for writability may be on either, before or after
 *   close_range   a batch of 2 to 6 connections (one blocking, the others non-blocking) moved onto
 *                 the thread's own block of fd numbers and closed by one close_range over it
 * and every close is one of close, syscall(SYS_close), shutdown then close, or close_range of the
 * one fd (no shutdown while another number still names the socket). Meanwhile the main thread starts threads that make a blocking connect, most often while
 * the cap holds it back, and cancels them at a random moment; their cleanup handler closes their
 * fd. No thread makes a blocking connect while it holds another connection, so a cap of one or
 * more never stalls the storm.
 * Prints what it did ("storm ...", "connects ...", "errors ..."), then waits at "pause storm_done"
 * for a line on stdin (20 s at most). Then come the fresh connects: FRESH is rounds separated by
 * "/", each a comma list of destination indexes (default: one to each destination); each round's
 * blocking connects are made one after the other and held together, each timed and said to be
 * made at once or late ("fresh ..."), and closed before the next round. After the last round it
 * waits at "pause fresh", and exits.
 * Usage: slot_storm PORT[,PORT...] THREADS SECONDS SEED [FRESH] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "hostlib.h"

/* ThreadSanitizer (make check-tsan instruments the test hosts) follows an fd through the calls it
 * intercepts (socket, close, dup...), not through syscall() or close_range: closes made those ways
 * are announced to it, or it takes the next socket on that number for the old one. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/linux_syscall_hooks.h>
#define ANNOUNCE_CLOSE(fd) __sanitizer_syscall_pre_close(fd)
#endif
#endif
#ifndef ANNOUNCE_CLOSE
#define ANNOUNCE_CLOSE(fd) ((void)(fd))
#endif

#define MAXT 32
#define MAXD 4
#define BLK 16        /* fd numbers each thread owns for its close_range batches */
#define BLK_BASE 512  /* thread i owns [BLK_BASE + i * BLK, + BLK): far above any number in use */
#define WAIT_MS 5000  /* how long a non-blocking connect is waited for before it counts as slow */
#define NERR 256

enum op { OP_BLOCKING, OP_NB_WAIT, OP_PROBE, OP_EYEBALLS, OP_DUP, OP_CLOSE_RANGE, NOPS };
static const char *const op_names[NOPS] = {"blocking", "nb_wait", "probe", "eyeballs", "dup", "close_range"};
static const int op_weight[NOPS] = {20, 25, 15, 10, 20, 10};

struct tally {
  long ops[NOPS];
  long started, completed, slow; /* connects started, completed (connected), not writable in time */
  long errs[NERR];               /* connect failures by errno */
};

struct worker {
  int idx, ep;
  uint64_t rng;
  struct tally t;
  pthread_t th;
};

static struct sockaddr_in dests[MAXD];
static int ndest;
static int stopping;         /* atomic: set by main when the storm is over */
static struct tally victims; /* the cancelled threads' connects: atomic adds */

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}
static int pick(uint64_t *s, int n) { return (int)(rnd(s) % (uint64_t)n); }

static void failed(struct tally *t, int e) { __atomic_add_fetch(&t->errs[e > 0 && e < NERR ? e : 0], 1, __ATOMIC_RELAXED); }

static const struct sockaddr_in *dest(struct worker *w) { return &dests[pick(&w->rng, ndest)]; }

/* The ways a host closes a socket: close, syscall(SYS_close), close_range of the one fd, or (when
 * may_shut: this is the last number naming it) shutdown then close. While other numbers name the
 * socket, a shutdown would end its connection (or, while it connects, make it fail with
 * ECONNRESET, as the kernel does), so it is left out. */
static void close_by(struct worker *w, int fd, int may_shut) {
  switch (pick(&w->rng, may_shut ? 4 : 3)) {
  case 0:
    close(fd);
    break;
  case 1:
    ANNOUNCE_CLOSE(fd);
    syscall(SYS_close, fd);
    break;
  case 2:
    ANNOUNCE_CLOSE(fd);
    close_range((unsigned)fd, (unsigned)fd, 0);
    break;
  default:
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
}
static void close_last(struct worker *w, int fd) { close_by(w, fd, 1); }

/* A blocking connect: the connected fd, or -1 (the failure counted). */
static int dial_blocking(struct worker *w, const struct sockaddr_in *d) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  w->t.started++;
  if (connect(fd, (const struct sockaddr *)d, sizeof *d) == 0) {
    w->t.completed++;
    return fd;
  }
  failed(&w->t, errno);
  close(fd);
  return -1;
}

/* A non-blocking connect under way (pre: the epoll registration to make before it, or 0): the fd,
 * or -1 (the failure counted). */
static int dial_nb(struct worker *w, const struct sockaddr_in *d, uint32_t pre) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (pre) {
    struct epoll_event ev = {.events = pre, .data.fd = fd};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
  }
  w->t.started++;
  if (connect(fd, (const struct sockaddr *)d, sizeof *d) == 0 || errno == EINPROGRESS)
    return fd;
  failed(&w->t, errno);
  close(fd);
  return -1;
}

static uint32_t epoll_mode(struct worker *w) {
  static const uint32_t modes[3] = {0, EPOLLET, EPOLLONESHOT};
  return EPOLLOUT | modes[pick(&w->rng, 3)];
}

/* Wait until fd is writable, by poll, select or epoll_wait (with the registration made before the
 * connect, if pre). 1: connected; 0: not writable within ms (counted slow when ms is WAIT_MS); -1:
 * failed (counted). */
static int wait_connected(struct worker *w, int fd, uint32_t pre, int ms) {
  int how = pre ? 2 : pick(&w->rng, 3), ready = 0;
  if (how == 1 && fd >= FD_SETSIZE)
    how = 0;
  if (how == 0) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    ready = poll(&p, 1, ms) == 1;
  } else if (how == 1) {
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(fd, &ws);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    ready = select(fd + 1, NULL, &ws, NULL, &tv) == 1;
  } else {
    struct epoll_event ev = {.events = pre ? pre : epoll_mode(w), .data.fd = fd}, got;
    if (!pre)
      epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
    ready = epoll_wait(w->ep, &got, 1, ms) == 1 && got.data.fd == fd;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
  }
  if (!ready) {
    w->t.slow += ms == WAIT_MS;
    return 0;
  }
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
    err = errno;
  if (err) {
    failed(&w->t, err);
    return -1;
  }
  w->t.completed++;
  return 1;
}

/* Hold a connection a moment: nothing, a yield, a short sleep, or one byte echoed. */
static void hold(struct worker *w, int fd) {
  switch (pick(&w->rng, 4)) {
  case 1:
    sched_yield();
    break;
  case 2:
    usleep((useconds_t)pick(&w->rng, 1500));
    break;
  case 3: {
    char b = 'x';
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (send(fd, &b, 1, MSG_NOSIGNAL) == 1 && poll(&p, 1, 1000) == 1)
      recv(fd, &b, 1, MSG_DONTWAIT);
    break;
  }
  default:
    break;
  }
}

static void op_nb_wait(struct worker *w) {
  uint32_t pre = pick(&w->rng, 4) == 0 ? epoll_mode(w) : 0;
  int fd = dial_nb(w, dest(w), pre);
  if (fd < 0)
    return;
  if (wait_connected(w, fd, pre, WAIT_MS) == 1)
    hold(w, fd);
  close_last(w, fd);
}

static void op_probe(struct worker *w) {
  int fd = dial_nb(w, dest(w), 0);
  if (fd < 0)
    return;
  if (pick(&w->rng, 2)) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 0);
  }
  close_last(w, fd);
}

static void op_eyeballs(struct worker *w) {
  int a = dial_nb(w, dest(w), 0), b = dial_nb(w, dest(w), 0);
  if (a < 0 || b < 0) {
    if (a >= 0)
      close_last(w, a);
    if (b >= 0)
      close_last(w, b);
    return;
  }
  struct pollfd p[2] = {{.fd = a, .events = POLLOUT}, {.fd = b, .events = POLLOUT}};
  int winner = -1, loser = -1;
  if (poll(p, 2, WAIT_MS) > 0) {
    winner = p[0].revents ? a : b;
    loser = p[0].revents ? b : a;
  }
  if (winner < 0) {
    w->t.slow++;
    close_last(w, a);
    close_last(w, b);
    return;
  }
  close_last(w, loser); /* at once: it is most often still waiting for its slot */
  int err = 0;
  socklen_t l = sizeof err;
  getsockopt(winner, SOL_SOCKET, SO_ERROR, &err, &l);
  if (err) {
    failed(&w->t, err);
  } else {
    w->t.completed++;
    hold(w, winner);
  }
  close_last(w, winner);
}

static void op_dup(struct worker *w) {
  int nb = pick(&w->rng, 2);
  int fd = nb ? dial_nb(w, dest(w), 0) : dial_blocking(w, dest(w));
  if (fd < 0)
    return;
  int fd2 = -1, spare;
  switch (pick(&w->rng, 5)) {
  case 0:
    fd2 = dup(fd);
    break;
  case 1: /* onto a number this thread holds (a file), which dup2 closes */
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fd2 = spare < 0 ? -1 : dup2(fd, spare);
    break;
  case 2:
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fd2 = spare < 0 ? -1 : dup3(fd, spare, O_CLOEXEC);
    break;
  case 3:
    fd2 = fcntl(fd, F_DUPFD, 0);
    break;
  default:
    fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  }
  if (fd2 < 0) {
    failed(&w->t, errno);
    close_last(w, fd);
    return;
  }
  int waited = !nb;
  if (nb && pick(&w->rng, 2)) {
    waited = 1;
    wait_connected(w, pick(&w->rng, 2) ? fd : fd2, 0, WAIT_MS);
  }
  int first = pick(&w->rng, 2) ? fd : fd2, second = first == fd ? fd2 : fd;
  close_by(w, first, 0);
  if (!waited && pick(&w->rng, 2))
    wait_connected(w, second, 0, WAIT_MS); /* its other number is gone: it waits on */
  else if (waited)
    hold(w, second);
  close_last(w, second);
}

static void op_close_range(struct worker *w) {
  unsigned lo = BLK_BASE + (unsigned)w->idx * BLK;
  int k = 2 + pick(&w->rng, 5);
  for (int i = 0; i < k; i++) {
    /* the first may block: the thread holds nothing yet */
    int fd = i == 0 ? dial_blocking(w, dest(w)) : dial_nb(w, dest(w), 0);
    if (fd < 0)
      continue;
    int moved = pick(&w->rng, 2) ? dup2(fd, (int)lo + i) : dup3(fd, (int)lo + i, O_CLOEXEC);
    close(fd);
    if (moved < 0)
      failed(&w->t, errno);
    else if (i > 0 && pick(&w->rng, 3) == 0)
      wait_connected(w, moved, 0, 20); /* briefly: this thread may hold every slot itself */
  }
  if (pick(&w->rng, 2))
    usleep((useconds_t)pick(&w->rng, 1000));
  for (unsigned fd = lo; fd < lo + BLK; fd++)
    ANNOUNCE_CLOSE(fd);
  close_range(lo, lo + BLK - 1, 0);
}

static void *storm(void *arg) {
  struct worker *w = arg;
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  int total = 0;
  for (int i = 0; i < NOPS; i++)
    total += op_weight[i];
  while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
    int r = pick(&w->rng, total), op = 0;
    while (r >= op_weight[op])
      r -= op_weight[op++];
    w->t.ops[op]++;
    switch (op) {
    case OP_BLOCKING: {
      int fd = dial_blocking(w, dest(w));
      if (fd >= 0) {
        hold(w, fd);
        close_last(w, fd);
      }
      break;
    }
    case OP_NB_WAIT:
      op_nb_wait(w);
      break;
    case OP_PROBE:
      op_probe(w);
      break;
    case OP_EYEBALLS:
      op_eyeballs(w);
      break;
    case OP_DUP:
      op_dup(w);
      break;
    default:
      op_close_range(w);
    }
  }
  close(w->ep);
  return NULL;
}

/* A thread cancelled in (most often) a blocking connect held back by the cap. Its fd lives in
 * the victim's argument, not in a local: a local written after pthread_cleanup_push (a setjmp)
 * may be read back stale by the cleanup handler after the unwind. */
struct victim {
  const struct sockaddr_in *d;
  int fd;
};

static void close_fd(void *arg) {
  struct victim *v = arg;
  if (v->fd >= 0)
    close(v->fd);
}

static void *victim(void *arg) {
  struct victim *v = arg;
  pthread_cleanup_push(close_fd, v);
  v->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  __atomic_add_fetch(&victims.started, 1, __ATOMIC_RELAXED);
  if (connect(v->fd, (const struct sockaddr *)v->d, sizeof *v->d) == 0) {
    __atomic_add_fetch(&victims.completed, 1, __ATOMIC_RELAXED);
    usleep(1000); /* a cancellation point, holding the connection */
  } else {
    failed(&victims, errno);
  }
  /* the close in the handler is a cancellation point too: a cancellation acting there, before
   * the kernel closed the fd, would leave it open (the handler already popped) */
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  pthread_cleanup_pop(1);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: slot_storm PORT[,PORT...] THREADS SECONDS SEED [FRESH]\n");
    return 2;
  }
  for (char *tok = strtok(argv[1], ","); tok && ndest < MAXD; tok = strtok(NULL, ","))
    dests[ndest++] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(tok)),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int nthreads = atoi(argv[2]), seconds = atoi(argv[3]);
  uint64_t seed = strtoull(argv[4], NULL, 10);
  if (ndest < 1 || nthreads < 1 || nthreads > MAXT || seconds < 1)
    return 2;
  alarm((unsigned)seconds + 90); /* never outlive a broken test */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < BLK_BASE + MAXT * BLK + 64) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  static struct worker w[MAXT];
  for (int i = 0; i < nthreads; i++) {
    w[i].idx = i;
    w[i].rng = seed * 1000003 + (uint64_t)i + 1;
    pthread_create(&w[i].th, NULL, storm, &w[i]);
  }
  printf("storm started\n");
  fflush(stdout);
  uint64_t rng = seed + 7;
  long cancelled = 0, finished = 0;
  double end = mono() + seconds;
  while (mono() < end) {
    pthread_t t;
    void *res = NULL;
    struct victim v = {.d = &dests[pick(&rng, ndest)], .fd = -1};
    if (pthread_create(&t, NULL, victim, &v) != 0)
      break;
    usleep((useconds_t)pick(&rng, 3000));
    pthread_cancel(t);
    pthread_join(t, &res);
    if (res == PTHREAD_CANCELED)
      cancelled++;
    else
      finished++;
    usleep(2000);
  }
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  struct tally sum = victims;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(w[i].th, NULL);
    for (int k = 0; k < NOPS; k++)
      sum.ops[k] += w[i].t.ops[k];
    sum.started += w[i].t.started;
    sum.completed += w[i].t.completed;
    sum.slow += w[i].t.slow;
    for (int e = 0; e < NERR; e++)
      sum.errs[e] += w[i].t.errs[e];
  }

  printf("storm threads=%d seconds=%d destinations=%d", nthreads, seconds, ndest);
  for (int k = 0; k < NOPS; k++)
    printf(" %s=%ld", op_names[k], sum.ops[k]);
  printf(" victims=%ld cancelled=%ld\n", cancelled + finished, cancelled);
  printf("connects started=%ld completed=%ld slow=%ld\n", sum.started, sum.completed, sum.slow);
  printf("errors");
  int any = 0;
  for (int e = 0; e < NERR; e++)
    if (sum.errs[e]) {
      const char *n = e ? strerrorname_np(e) : NULL;
      printf(" %s=%ld", n ? n : "?", sum.errs[e]);
      any = 1;
    }
  printf("%s\n", any ? "" : " none");
  pause_for("storm_done");

  static const char *const one_each[MAXD] = {"0", "0,1", "0,1,2", "0,1,2,3"};
  char fresh_default[8];
  snprintf(fresh_default, sizeof fresh_default, "%s", one_each[ndest - 1]);
  char *fresh = argc > 5 ? argv[5] : fresh_default, *rsave = NULL;
  int fds[64], nfds = 0;
  for (char *round = strtok_r(fresh, "/", &rsave); round; round = strtok_r(NULL, "/", &rsave)) {
    while (nfds > 0) /* the round before */
      close(fds[--nfds]);
    char *isave = NULL;
    for (char *item = strtok_r(round, ",", &isave); item && nfds < 64; item = strtok_r(NULL, ",", &isave)) {
      const struct sockaddr_in *d = &dests[atoi(item) % ndest];
      double t0 = mono();
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int r = connect(fd, (const struct sockaddr *)d, sizeof *d);
      double ms = (mono() - t0) * 1e3;
      printf("fresh %d %s in %.1f ms: %s\n", ntohs(d->sin_port), res(r, errno), ms,
             r == 0 && ms < 250 ? "at once" : "late");
      fflush(stdout);
      fds[nfds++] = fd;
    }
  }
  pause_for("fresh");
  while (nfds > 0)
    close(fds[--nfds]);
  return 0;
}
