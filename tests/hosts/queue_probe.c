/* queue_probe.c - what a program observes, call by call, on a non-blocking connect that has not
 * completed, for tests/e2e/queued_connect_matches_kernel.sh. Usage: queue_probe MODE SCENARIO
 * (queue_probe list names the scenarios). MODE reference runs without the library: the connect
 * waits in SYN_SENT on a listener whose accept queue is full (listen(fd, 0) and one filler never
 * accepted), "the slot comes" when the probe accepts the filler (the kernel's SYN retransmission
 * then completes the connect, up to ~3 s later), and the timeout is a refused connect. MODE queued
 * runs with the library and CONNWARDEN_MAX_CONNS=1: one connection holds the only slot, the
 * connect waits in connwarden's queue, the slot comes when that connection closes, and the timeout
 * is CONNWARDEN_QUEUE_TIMEOUT's. One line per call on stdout (probe_observe.h); lines starting
 * "time " are delays in ms, not compared. 127.0.0.1 only. Exit status 2 on a setup failure, so
 * that a broken setup never passes for a match; a scenario ends within seconds (alarm at 15). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "hostlib.h"
#include "probe_observe.h"

enum { REFERENCE, QUEUED };
static int mode;
static const char *mode_arg, *self_name;
/* What frees the slot: in reference, the full listener (accepting its filler empties its accept
 * queue); in queued, the connection holding the only slot (closing it frees the slot). */
static int slot_fd = -1;
static struct sockaddr_in target;
static double t_connect, t_free; /* CLOCK_MONOTONIC, ms */

#define WAIT_MS 4000 /* a wait for completion: the reference's retransmitted SYN comes at 1 s or 3 s */
#define SHORT_MS 20  /* a short wait while the connect is pending */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_until(double t) {
  for (double left; (left = t - now_ms()) > 0;) {
    long long ns = (long long)(left * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
  }
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "queue_probe %s: setup failed: %s\n", mode_arg, buf);
  exit(2);
}

/* "time after-slot NAME MS" (since the slot came) or "time after-connect NAME MS": a delay, on
 * a line the comparison skips and the test checks on its own */
static void time_line(const char *since, const char *what, double ms) {
  const char *p = obs_prefix;
  obs_prefix = "";
  obs_line("time %s %s%s %.0f", since, p, what, ms);
  obs_prefix = p;
}

/* "what = ok" for a call that returns a new fd (whose number is not printed) */
static void fd_result(const char *what, int rc, int err, int want) {
  if (rc < 0)
    obs_rc(what, rc, err, "");
  else
    obs_line("%s = %s", what, want < 0 || rc == want ? "ok" : "another number");
}

/* ---- setting the scene ------------------------------------------------------------------------ */

static int library_loaded(void) {
  FILE *f = fopen("/proc/self/maps", "re");
  char line[1024];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f))
    found = strstr(line, "libconnwarden") != NULL;
  if (f)
    fclose(f);
  return found;
}

/* The library's own count of connects waiting in its queue (`stats`, key "queued"), or -1. */
static long stats_queued(void) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  const char *s = getenv("CONNWARDEN_STATS"), *rd = getenv("CONNWARDEN_RUNDIR");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (s)
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", s);
  else if (rd)
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/%d.sock", rd, (int)getpid());
  else if (xdg && xdg[0] == '/')
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/connwarden/%d.sock", xdg, (int)getpid());
  else if (geteuid() == 0)
    snprintf(sun.sun_path, sizeof sun.sun_path, "/run/connwarden/%d.sock", (int)getpid());
  else
    snprintf(sun.sun_path, sizeof sun.sun_path, "/tmp/connwarden-%u/%d.sock", (unsigned)geteuid(),
             (int)getpid());
  char reply[8192];
  size_t len = 0;
  for (double deadline = now_ms() + 2000; now_ms() < deadline; sleep_until(now_ms() + 50)) {
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u < 0)
      return -1;
    if (connect(u, (struct sockaddr *)&sun, sizeof sun) < 0 || write(u, "stats\n", 6) != 6) {
      close(u);
      continue;
    }
    struct pollfd p = {.fd = u, .events = POLLIN};
    ssize_t n = 1;
    while (len < sizeof reply - 1 && poll(&p, 1, 2000) == 1 &&
           (n = read(u, reply + len, sizeof reply - 1 - len)) > 0)
      len += (size_t)n;
    close(u);
    reply[len] = '\0';
    const char *q = strstr(reply, "\"queued\":");
    return q ? strtol(q + 9, NULL, 10) : -1;
  }
  return -1;
}

/* The scene: a target the probed connect waits on (refused: one that refuses it) and what frees
 * the slot. Everything made here is kept open until exit and inherited across exec. */
static void setup(int refused) {
  if (library_loaded() != (mode == QUEUED))
    die(mode == QUEUED ? "the library is not loaded (LD_PRELOAD)" : "the library is loaded");
  if (mode == QUEUED) {
    const char *max = getenv("CONNWARDEN_MAX_CONNS");
    if (!max || strcmp(max, "1") != 0)
      die("queued mode needs CONNWARDEN_MAX_CONNS=1");
    if (refused && !getenv("CONNWARDEN_QUEUE_TIMEOUT"))
      die("a timeout scenario needs CONNWARDEN_QUEUE_TIMEOUT");
    struct sockaddr_in a;
    int l = loopback_listener(&a, 16);
    slot_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || slot_fd < 0 || connect(slot_fd, (struct sockaddr *)&a, sizeof a) < 0)
      die("the connection that holds the slot: %s", strerror(errno));
    if (loopback_listener(&target, 16) < 0)
      die("the target listener: %s", strerror(errno));
    return;
  }
  if (refused) { /* a port bound, nobody listening: the kernel answers a SYN with a reset */
    socklen_t al = sizeof target;
    target = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int b = socket(AF_INET, SOCK_STREAM, 0);
    if (b < 0 || bind(b, (struct sockaddr *)&target, al) < 0 ||
        getsockname(b, (struct sockaddr *)&target, &al) < 0)
      die("the bound port: %s", strerror(errno));
    return;
  }
  slot_fd = loopback_listener(&target, 0);
  int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (slot_fd < 0 || filler < 0 ||
      (connect(filler, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS))
    die("the filler connection: %s", strerror(errno));
  struct pollfd p[2] = {{.fd = filler, .events = POLLOUT}, {.fd = slot_fd, .events = POLLIN}};
  if (poll(&p[0], 1, 1000) != 1 || p[0].revents != POLLOUT || poll(&p[1], 1, 1000) != 1)
    die("the filler did not connect (with a backlog of 0, only a SYN cookie admits it: "
        "net.ipv4.tcp_syncookies must be 1)");
}

static int probed_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    die("the probed socket: %s", strerror(errno));
  obs_ino0 = st.st_ino;
  return fd;
}

static int tcp_state(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ? -1 : ti.tcpi_state;
}

/* The probed connect, then a check that it waits as the mode says: in SYN_SENT for the
 * reference, in the library's queue when queued. */
static void probed_connect(int fd, int refused) {
  t_connect = now_ms();
  int rc = connect(fd, (struct sockaddr *)&target, sizeof target);
  int err = errno;
  obs_rc("connect", rc, err, "");
  if (mode == REFERENCE && !refused) {
    sleep_until(now_ms() + 10);
    if (rc == 0 || err != EINPROGRESS || tcp_state(fd) != TCP_SYN_SENT)
      die("the reference connect is not in SYN_SENT (TCP state %d)", tcp_state(fd));
  } else if (mode == QUEUED && rc < 0 && err == EINPROGRESS) {
    long q = stats_queued();
    if (q != 1)
      die("the connect is not in the library's queue (stats \"queued\": %ld)", q);
  }
}

static void free_slot(void) {
  t_free = now_ms();
  if (mode == REFERENCE) {
    if (accept(slot_fd, NULL, NULL) < 0) /* the filler, kept open */
      die("accepting the filler: %s", strerror(errno));
  } else if (close(slot_fd) < 0) {
    die("closing the connection that holds the slot: %s", strerror(errno));
  }
  slot_fd = -1;
}

/* After the slot came, as long as a connect still alive would take to complete. */
static void settle(void) {
  if (mode == QUEUED)
    sleep_until(now_ms() + 300);
  else /* the retransmitted SYN, 1 s after the connect (3 s if the slot came after that one) */
    sleep_until(t_connect + (t_free - t_connect < 900 ? 1500 : 3500));
}

/* a wait in the reference that must end: else the kernel did not do what the setup relies on */
static void reference_woke(int rc, const char *what) {
  if (mode == REFERENCE && rc <= 0)
    die("%s: the reference connect did not end within %d ms", what, WAIT_MS);
}

/* After the slot came: how poll sees the connect complete, and when. */
static void wait_done(int fd) {
  reference_woke(obs_poll(fd, WAIT_MS, "poll"), "poll");
  time_line("after-slot", "poll", now_ms() - t_free);
}

static void connect_again(int fd) {
  OBS_RC("connect(again)", connect(fd, (struct sockaddr *)&target, sizeof target));
}

/* Everything a program may ask of a pending connect without changing it. */
static void observe_pending(int fd) {
  obs_poll(fd, 0, "poll");
  obs_state(fd);
  obs_reads(fd);
  obs_writes(fd);
}

static void observe_done(int fd) {
  obs_state(fd);
  obs_reads(fd);
  obs_writes(fd);
  obs_poll(fd, 0, "poll");
}

static int epoll_instance(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1: %s", strerror(errno));
  return ep;
}

/* ---- scenarios -------------------------------------------------------------------------------- */

/* epoll registrations made before or after the connect; some changed while it waits */
static const struct ep_case {
  const char *name;
  int before;
  unsigned add;
  enum { KEEP, MOD, DEL } change;
  unsigned mod_to;
} ep_cases[] = {
    {"before,level", 1, 0, KEEP, 0},
    {"before,edge", 1, EPOLLET, KEEP, 0},
    {"before,oneshot", 1, EPOLLONESHOT, KEEP, 0},
    {"after,level", 0, 0, KEEP, 0},
    {"after,edge", 0, EPOLLET, KEEP, 0},
    {"after,oneshot", 0, EPOLLONESHOT, KEEP, 0},
    {"before,level>edge", 1, 0, MOD, EPOLLET},
    {"after,level>oneshot", 0, 0, MOD, EPOLLONESHOT},
    {"before,deleted", 1, 0, DEL, 0},
    {"after,deleted", 0, 0, DEL, 0},
};
#define N_EP (sizeof ep_cases / sizeof ep_cases[0])
#define TAG(i) (0x7a90000000ULL + (i))

/* The connect waits and is asked everything; then the slot comes and it is asked again. */
static void scenario_pending(void) {
  setup(0);
  int ep[N_EP];
  for (size_t i = 0; i < N_EP; i++)
    ep[i] = epoll_instance();
  int fd = probed_socket();
  for (size_t i = 0; i < N_EP; i++)
    if (ep_cases[i].before)
      obs_epoll_ctl(ep[i], EPOLL_CTL_ADD, fd, ep_cases[i].add, TAG(i), ep_cases[i].name);
  probed_connect(fd, 0);
  for (size_t i = 0; i < N_EP; i++)
    if (!ep_cases[i].before)
      obs_epoll_ctl(ep[i], EPOLL_CTL_ADD, fd, ep_cases[i].add, TAG(i), ep_cases[i].name);
  obs_epoll_ctl(ep[3], EPOLL_CTL_ADD, fd, 0, TAG(3), ep_cases[3].name); /* EEXIST */
  for (size_t i = 0; i < N_EP; i++) {
    if (ep_cases[i].change == MOD)
      obs_epoll_ctl(ep[i], EPOLL_CTL_MOD, fd, ep_cases[i].mod_to, TAG(i), ep_cases[i].name);
    if (ep_cases[i].change == DEL) {
      obs_epoll_ctl(ep[i], EPOLL_CTL_DEL, fd, 0, 0, ep_cases[i].name);
      obs_epoll_ctl(ep[i], EPOLL_CTL_DEL, fd, 0, 0, ep_cases[i].name); /* ENOENT */
    }
  }
  obs_poll(fd, 0, "poll");
  obs_poll(fd, SHORT_MS, "poll");
  obs_ppoll(fd, 0);
  obs_ppoll(fd, SHORT_MS);
  obs_select(fd, 0, 0);
  obs_select(fd, SHORT_MS, 0);
  obs_select(fd, 0, 1);
  obs_select(fd, SHORT_MS, 1);
  for (size_t i = 0; i < N_EP; i++)
    obs_epoll(ep[i], ep_cases[i].name, 0, TAG(i));
  obs_epoll(ep[0], ep_cases[0].name, SHORT_MS, TAG(0));
  obs_epoll(ep[4], ep_cases[4].name, SHORT_MS, TAG(4));
  observe_pending(fd);
  connect_again(fd);
  int one = 1;
  OBS_RC("setsockopt(TCP_NODELAY)", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
  OBS_RC("setsockopt(SO_KEEPALIVE)", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
  OBS_RC("fcntl(F_SETFD, FD_CLOEXEC)", fcntl(fd, F_SETFD, FD_CLOEXEC));
  obs_poll(fd, 0, "poll");
  for (size_t i = 0; i < N_EP; i++)
    obs_epoll(ep[i], ep_cases[i].name, 0, TAG(i));

  free_slot();
  wait_done(fd);
  for (size_t i = 0; i < N_EP; i++) { /* twice: edge and one-shot report once */
    obs_epoll(ep[i], ep_cases[i].name, 0, TAG(i));
    obs_epoll(ep[i], ep_cases[i].name, 0, TAG(i));
  }
  obs_sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, "getsockopt(TCP_NODELAY)");
  obs_sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, "getsockopt(SO_KEEPALIVE)");
  connect_again(fd); /* the first after completion reports it: 0 */
  connect_again(fd); /* then EISCONN */
  observe_done(fd);
}

/* shutdown(SHUT_WR) while the connect waits */
static void scenario_shutdown(void) {
  setup(0);
  int ep = epoll_instance();
  int fd = probed_socket();
  obs_epoll_ctl(ep, EPOLL_CTL_ADD, fd, 0, TAG(0), "level");
  probed_connect(fd, 0);
  OBS_RC("shutdown(SHUT_WR)", shutdown(fd, SHUT_WR));
  obs_epoll(ep, "level", 0, TAG(0));
  observe_pending(fd);
  free_slot();
  settle();
  obs_poll(fd, 0, "poll");
  obs_epoll(ep, "level", 0, TAG(0));
  obs_state(fd);
}

/* Threads blocked in each kind of wait when the slot comes. */
struct waiter {
  const char *name;
  int kind; /* 0 poll, 1 ppoll, 2 select, 3 pselect, 4 epoll */
  int fd, ep;
  uint64_t tag;
  double woke;
  int rc;
  struct obs_buf out;
};

static void *wait_thread(void *arg) {
  struct waiter *w = arg;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "thread[%s]: ", w->name);
  obs_prefix = prefix;
  obs_capture = &w->out;
  switch (w->kind) {
  case 0: w->rc = obs_poll(w->fd, WAIT_MS, "poll"); break;
  case 1: w->rc = obs_ppoll(w->fd, WAIT_MS); break;
  case 2: w->rc = obs_select(w->fd, WAIT_MS, 0); break;
  case 3: w->rc = obs_select(w->fd, WAIT_MS, 1); break;
  default: w->rc = obs_epoll(w->ep, w->name, WAIT_MS, w->tag); break;
  }
  w->woke = now_ms();
  obs_so_error(w->fd);
  obs_name(w->fd, 1);
  return NULL;
}

static void scenario_threads(void) {
  setup(0);
  int ep_level = epoll_instance(), ep_edge = epoll_instance(), ep_oneshot = epoll_instance();
  int fd = probed_socket();
  obs_epoll_ctl(ep_level, EPOLL_CTL_ADD, fd, 0, TAG(0), "before,level");
  probed_connect(fd, 0);
  obs_epoll_ctl(ep_edge, EPOLL_CTL_ADD, fd, EPOLLET, TAG(1), "after,edge");
  obs_epoll_ctl(ep_oneshot, EPOLL_CTL_ADD, fd, EPOLLONESHOT, TAG(2), "after,oneshot");
  struct waiter w[] = {
      {.name = "poll", .kind = 0},         {.name = "ppoll", .kind = 1},
      {.name = "select", .kind = 2},       {.name = "pselect", .kind = 3},
      {.name = "before,level", .kind = 4, .ep = ep_level, .tag = TAG(0)},
      {.name = "after,edge", .kind = 4, .ep = ep_edge, .tag = TAG(1)},
      {.name = "after,oneshot", .kind = 4, .ep = ep_oneshot, .tag = TAG(2)},
  };
  enum { N = sizeof w / sizeof w[0] };
  pthread_t t[N];
  for (int i = 0; i < N; i++) {
    w[i].fd = fd;
    if (pthread_create(&t[i], NULL, wait_thread, &w[i]) != 0)
      die("pthread_create");
  }
  sleep_until(now_ms() + 100); /* all in their waits */
  free_slot();
  for (int i = 0; i < N; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) {
    if (write(1, w[i].out.text, w[i].out.len) != (ssize_t)w[i].out.len)
      die("stdout");
    char what[64];
    snprintf(what, sizeof what, "thread[%s]", w[i].name);
    reference_woke(w[i].rc, what);
    time_line("after-slot", what, w[i].woke - t_free);
  }
}

/* The queue timeout; the reference's is a refused connect. order: what the program asks first. */
static void scenario_timeout(int order) {
  setup(1);
  int ep_level = epoll_instance(), ep_edge = epoll_instance();
  int fd = probed_socket();
  obs_epoll_ctl(ep_level, EPOLL_CTL_ADD, fd, 0, TAG(0), "before,level");
  probed_connect(fd, 1);
  obs_epoll_ctl(ep_edge, EPOLL_CTL_ADD, fd, EPOLLET, TAG(1), "after,edge");
  reference_woke(obs_poll(fd, WAIT_MS, "poll"), "poll");
  time_line("after-connect", "poll", now_ms() - t_connect);
  obs_epoll(ep_level, "before,level", 0, TAG(0));
  obs_epoll(ep_edge, "after,edge", 0, TAG(1));
  obs_epoll(ep_edge, "after,edge", 0, TAG(1));
  switch (order) {
  case 0:
    obs_so_error(fd);
    obs_so_error(fd);
    obs_reads(fd);
    obs_writes(fd);
    break;
  case 1:
    obs_reads(fd);
    obs_so_error(fd);
    obs_writes(fd);
    break;
  default:
    obs_writes(fd);
    obs_so_error(fd);
    obs_reads(fd);
    break;
  }
  obs_name(fd, 1);
  obs_poll(fd, 0, "poll");
  obs_epoll(ep_level, "before,level", 0, TAG(0));
}

/* Copies of the pending fd by dup, dup2, dup3 (O_CLOEXEC) and F_DUPFD; the original or the
 * copies are closed, and whatever is left must complete. */
static const char *const copy_names[] = {"dup", "dup2", "dup3", "F_DUPFD"};

static void make_copies(int fd, int copy[4]) {
  int t1 = open("/dev/null", O_RDONLY), t2 = open("/dev/null", O_RDONLY);
  if (t1 < 0 || t2 < 0)
    die("/dev/null: %s", strerror(errno));
  copy[0] = dup(fd);
  fd_result("dup", copy[0], errno, -1);
  copy[1] = dup2(fd, t1);
  fd_result("dup2", copy[1], errno, t1);
  copy[2] = dup3(fd, t2, O_CLOEXEC);
  fd_result("dup3(O_CLOEXEC)", copy[2], errno, t2);
  copy[3] = fcntl(fd, F_DUPFD, 3);
  fd_result("fcntl(F_DUPFD)", copy[3], errno, -1);
  for (int i = 0; i < 4; i++) {
    char what[32];
    snprintf(what, sizeof what, "poll[%s]", copy_names[i]);
    obs_poll(copy[i], 0, what);
  }
}

/* the lines about one number, prefixed with its name */
static void observe_copy(int fd, const char *name, int wait) {
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%s: ", name);
  obs_prefix = prefix;
  if (wait)
    wait_done(fd);
  else
    obs_poll(fd, 0, "poll");
  obs_so_error(fd);
  obs_name(fd, 1);
  obs_fd_flags(fd);
  obs_same_socket(fd);
  obs_prefix = "";
}

static void scenario_dup(int close_original) {
  setup(0);
  int ep = epoll_instance();
  int fd = probed_socket(), copy[4];
  obs_epoll_ctl(ep, EPOLL_CTL_ADD, fd, 0, TAG(0), "before,level");
  probed_connect(fd, 0);
  make_copies(fd, copy);
  if (close_original) {
    OBS_RC("close(original)", close(fd));
  } else {
    for (int i = 0; i < 4; i++) {
      char what[32];
      snprintf(what, sizeof what, "close(%s)", copy_names[i]);
      OBS_RC(what, close(copy[i]));
    }
  }
  obs_epoll(ep, "before,level", 0, TAG(0));
  free_slot();
  if (close_original)
    for (int i = 0; i < 4; i++)
      observe_copy(copy[i], copy_names[i], i == 0);
  else
    observe_copy(fd, "original", 1);
  obs_epoll(ep, "before,level", 0, TAG(0));
}

/* The pending fd closed by close or close_range (from its number up); a new socket then takes
 * the number, and must stay what it is when the slot comes. */
static void scenario_close(int use_range) {
  setup(0);
  int ep = epoll_instance();
  int fd = probed_socket();
  obs_epoll_ctl(ep, EPOLL_CTL_ADD, fd, 0, TAG(0), "before,level");
  probed_connect(fd, 0);
  if (use_range) {
    OBS_RC("close_range(CLOSE_RANGE_CLOEXEC)", close_range((unsigned)fd, (unsigned)fd, CLOSE_RANGE_CLOEXEC));
    obs_fd_flags(fd);
    obs_poll(fd, 0, "poll");
    OBS_RC("close_range(fd, ~0U)", close_range((unsigned)fd, ~0U, 0));
  } else {
    OBS_RC("close", close(fd));
  }
  obs_fd_flags(fd);
  obs_poll(fd, 0, "poll");
  obs_epoll(ep, "before,level", 0, TAG(0));
  int s = probed_socket(); /* obs_ino0 is now this one's; it may have taken the number itself */
  int rc = s == fd ? fd : dup2(s, fd);
  fd_result("new socket at the number", rc, errno, fd);
  if (s != fd)
    close(s);
  free_slot();
  settle();
  obs_poll(fd, 0, "poll");
  obs_so_error(fd);
  obs_name(fd, 1);
  obs_same_socket(fd);
  obs_epoll(ep, "before,level", 0, TAG(0));
}

static void tell(int p) {
  if (write(p, "x", 1) != 1)
    die("sync pipe: %s", strerror(errno));
}
static void await(int p) {
  char c;
  if (read(p, &c, 1) != 1)
    die("sync pipe closed");
}
static void reap(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("the child failed (status 0x%x)", st);
}

/* fork while the connect waits. who_closes: 0 nobody (both look, the child first; when the slot
 * comes both wait at once, the parent's lines kept until the child's are out), 1 the parent
 * closes its copy at once (the child waits for completion), 2 the child closes its own (the
 * parent waits). */
static void scenario_fork(int who_closes) {
  setup(0);
  int fd = probed_socket();
  probed_connect(fd, 0);
  int up[2], down[2]; /* child to parent, parent to child */
  if (pipe(up) < 0 || pipe(down) < 0)
    die("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(10); /* a fork child has no alarm of its own */
    close(up[0]);
    close(down[1]); /* so that it sees EOF should the parent die */
    obs_prefix = "child: ";
    if (who_closes == 2) {
      OBS_RC("close", close(fd));
      _exit(0);
    }
    if (who_closes == 0)
      observe_pending(fd);
    tell(up[1]);
    await(down[0]);
    t_free = now_ms();
    wait_done(fd);
    obs_state(fd);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  if (who_closes == 2) {
    reap(pid);
  } else {
    await(up[0]);
    if (who_closes == 1)
      OBS_RC("close", close(fd));
  }
  if (who_closes == 0)
    observe_pending(fd);
  free_slot();
  if (who_closes != 2)
    tell(down[1]);
  struct obs_buf mine = {.len = 0};
  if (who_closes == 0)
    obs_capture = &mine;
  if (who_closes != 1) {
    wait_done(fd);
    obs_state(fd);
  }
  obs_capture = NULL;
  if (who_closes != 2)
    reap(pid);
  if (mine.len && write(1, mine.text, mine.len) != (ssize_t)mine.len)
    die("stdout");
}

/* exec while the connect waits: the probe runs itself again, which looks at the inherited fd
 * ("exec-observe", below) and frees the slot. */
static void scenario_exec(void) {
  setup(0);
  int fd = probed_socket();
  probed_connect(fd, 0);
  char a_fd[16], a_slot[16], a_ino[32];
  snprintf(a_fd, sizeof a_fd, "%d", fd);
  snprintf(a_slot, sizeof a_slot, "%d", slot_fd);
  snprintf(a_ino, sizeof a_ino, "%llu", (unsigned long long)obs_ino0);
  char *args[] = {(char *)self_name, (char *)mode_arg, "exec-observe", a_fd, a_slot, a_ino, NULL};
  execv("/proc/self/exe", args);
  die("execv: %s", strerror(errno));
}

static void exec_observe(int argc, char **argv) {
  if (argc != 6)
    die("exec-observe FD SLOT_FD INODE");
  int fd = atoi(argv[3]);
  slot_fd = atoi(argv[4]);
  obs_ino0 = (ino_t)strtoull(argv[5], NULL, 10);
  if (library_loaded() != (mode == QUEUED))
    die("the library was %s across exec", mode == QUEUED ? "lost" : "gained");
  obs_prefix = "exec: ";
  observe_pending(fd);
  free_slot();
  wait_done(fd);
  obs_state(fd);
}

static void pending(void) { scenario_pending(); }
static void shut(void) { scenario_shutdown(); }
static void timeout_so_error_first(void) { scenario_timeout(0); }
static void timeout_read_first(void) { scenario_timeout(1); }
static void timeout_write_first(void) { scenario_timeout(2); }
static void dup_close_original(void) { scenario_dup(1); }
static void dup_close_copies(void) { scenario_dup(0); }
static void close_plain(void) { scenario_close(0); }
static void close_range_over(void) { scenario_close(1); }
static void fork_both_look(void) { scenario_fork(0); }
static void fork_parent_closes(void) { scenario_fork(1); }
static void fork_child_closes(void) { scenario_fork(2); }

static const struct scenario {
  const char *name;
  void (*run)(void);
  int timeout; /* needs CONNWARDEN_QUEUE_TIMEOUT when queued */
} scenarios[] = {
    {"pending", pending, 0},
    {"shutdown", shut, 0},
    {"dup_close_original", dup_close_original, 0},
    {"dup_close_copies", dup_close_copies, 0},
    {"close", close_plain, 0},
    {"close_range", close_range_over, 0},
    {"fork", fork_both_look, 0},
    {"fork_parent_closes", fork_parent_closes, 0},
    {"fork_child_closes", fork_child_closes, 0},
    {"exec", scenario_exec, 0},
    {"threads", scenario_threads, 0},
    {"timeout", timeout_so_error_first, 1},
    {"timeout_read_first", timeout_read_first, 1},
    {"timeout_write_first", timeout_write_first, 1},
};

static void usage(void) __attribute__((noreturn));
static void usage(void) {
  fprintf(stderr, "usage: queue_probe reference|queued SCENARIO\n       queue_probe list\n");
  exit(2);
}

int main(int argc, char **argv) {
  self_name = argv[0];
  if (argc == 2 && strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
      printf("%s%s\n", scenarios[i].name, scenarios[i].timeout ? " timeout" : "");
    return 0;
  }
  if (argc < 3)
    usage();
  mode_arg = argv[1];
  if (strcmp(mode_arg, "reference") == 0)
    mode = REFERENCE;
  else if (strcmp(mode_arg, "queued") == 0)
    mode = QUEUED;
  else
    usage();
  alarm(15); /* a probe that hangs fails (SIGALRM), it never looks like a match */
  if (obs_install_sigpipe_counter() < 0)
    die("sigaction: %s", strerror(errno));
  if (strcmp(argv[2], "exec-observe") == 0) {
    exec_observe(argc, argv);
    return 0;
  }
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
    if (strcmp(argv[2], scenarios[i].name) == 0) {
      scenarios[i].run();
      return 0;
    }
  usage();
}
