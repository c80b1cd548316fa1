/* probe_observe.h - normalised observations of one socket, for differential probes such as
 * queue_probe.c: each helper makes one call and prints one line naming the call and its result
 * (a count, errno and flag names, an address family), never an fd number, port, address or time,
 * so that two runs compare as text. Each line goes out in one write(), so lines of threads and
 * forked children never mix. Header-only, like hostlib.h; its includer defines _GNU_SOURCE first. */
#ifndef CW_PROBE_OBSERVE_H
#define CW_PROBE_OBSERVE_H

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* what this thread's lines start with, such as "child: " in a forked child */
static __thread const char *obs_prefix = "";
/* when set, this thread's lines are kept here instead of written, for its caller to print them in
 * a fixed order (threads that wake together) */
struct obs_buf {
  char text[4096];
  size_t len;
};
static __thread struct obs_buf *obs_capture;
/* the socket's inode when it was made: "same_socket" says whether the number still names it */
static ino_t obs_ino0;
/* SIGPIPEs delivered to this process (the handler counts them; none is fatal) */
static volatile sig_atomic_t obs_sigpipes;

static void obs_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void obs_line(const char *fmt, ...) {
  char buf[512];
  int saved = errno;
  int n = snprintf(buf, sizeof buf, "%s", obs_prefix);
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof buf - 2)
    n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  if (obs_capture) {
    size_t room = sizeof obs_capture->text - obs_capture->len;
    size_t k = (size_t)n < room ? (size_t)n : room;
    memcpy(obs_capture->text + obs_capture->len, buf, k);
    obs_capture->len += k;
    errno = saved;
    return;
  }
  for (int off = 0; off < n;) {
    ssize_t w = write(1, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    off += (int)w;
  }
  errno = saved;
}

static const char *obs_errname(int e) {
  const char *s = strerrorname_np(e);
  return s ? s : "E?";
}

struct obs_flag {
  unsigned bit;
  const char *name;
};
#define OBS_FLAG(f) {f, #f}
static const struct obs_flag obs_poll_flags[] = {
    OBS_FLAG(POLLIN),     OBS_FLAG(POLLPRI),    OBS_FLAG(POLLOUT),    OBS_FLAG(POLLERR),
    OBS_FLAG(POLLHUP),    OBS_FLAG(POLLNVAL),   OBS_FLAG(POLLRDNORM), OBS_FLAG(POLLRDBAND),
    OBS_FLAG(POLLWRNORM), OBS_FLAG(POLLWRBAND), OBS_FLAG(POLLRDHUP), {0, NULL}};
static const struct obs_flag obs_epoll_flags[] = {
    OBS_FLAG(EPOLLIN),  OBS_FLAG(EPOLLPRI),   OBS_FLAG(EPOLLOUT), OBS_FLAG(EPOLLERR),
    OBS_FLAG(EPOLLHUP), OBS_FLAG(EPOLLRDHUP), {0, NULL}};

/* "POLLOUT|POLLHUP", "-" for none; an unknown bit as hex */
static const char *obs_flags(char *buf, size_t len, unsigned v, const struct obs_flag *t) {
  size_t n = 0;
  buf[0] = '\0';
  for (; t->name; t++)
    if (v & t->bit) {
      n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "", t->name);
      v &= ~t->bit;
    }
  if (v)
    snprintf(buf + n, len - n, "%s0x%x", n ? "|" : "", v);
  else if (!n)
    snprintf(buf, len, "-");
  return buf;
}

/* "what = rc" or "what = -1 ENAME"; extra (may be "") is appended */
static void obs_rc(const char *what, long rc, int err, const char *extra) {
  if (rc < 0)
    obs_line("%s = %ld %s%s", what, rc, obs_errname(err), extra);
  else
    obs_line("%s = %ld%s", what, rc, extra);
}

/* one call's line: its result, errno taken right after it */
#define OBS_RC(what, call)                                                                         \
  do {                                                                                             \
    long rc_ = (long)(call);                                                                       \
    int err_ = errno;                                                                              \
    obs_rc(what, rc_, err_, "");                                                                   \
  } while (0)

static void obs_count_sigpipe(int sig) {
  (void)sig;
  obs_sigpipes++;
}

static int obs_install_sigpipe_counter(void) {
  struct sigaction sa = {.sa_handler = obs_count_sigpipe};
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGPIPE, &sa, NULL);
}

/* ---- readiness -------------------------------------------------------------------------------- */

#define OBS_POLL_EVENTS (POLLIN | POLLPRI | POLLOUT | POLLRDHUP)
#define OBS_EPOLL_EVENTS (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP)

static void obs_poll_result(const char *what, int rc, int err, short revents) {
  char f[160];
  if (rc > 0)
    obs_line("%s = %d %s", what, rc, obs_flags(f, sizeof f, (unsigned short)revents, obs_poll_flags));
  else
    obs_rc(what, rc, err, "");
}

static int obs_poll(int fd, int ms, const char *name) {
  struct pollfd p = {.fd = fd, .events = OBS_POLL_EVENTS};
  int rc = poll(&p, 1, ms);
  int err = errno;
  char what[96];
  snprintf(what, sizeof what, "%s(%dms)", name, ms);
  obs_poll_result(what, rc, err, p.revents);
  return rc;
}

static int obs_ppoll(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = OBS_POLL_EVENTS};
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  sigset_t none;
  sigemptyset(&none);
  int rc = ppoll(&p, 1, &ts, &none);
  int err = errno;
  char what[64];
  snprintf(what, sizeof what, "ppoll(%dms)", ms);
  obs_poll_result(what, rc, err, p.revents);
  return rc;
}

/* select or pselect with fd in all three sets: "= 1 read=0 write=1 except=0" */
static int obs_select(int fd, int ms, int use_pselect) {
  fd_set r, w, x;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&x);
  FD_SET(fd, &r);
  FD_SET(fd, &w);
  FD_SET(fd, &x);
  int rc;
  if (use_pselect) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    rc = pselect(fd + 1, &r, &w, &x, &ts, NULL);
  } else {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    rc = select(fd + 1, &r, &w, &x, &tv);
  }
  int err = errno;
  char what[64];
  snprintf(what, sizeof what, "%s(%dms)", use_pselect ? "pselect" : "select", ms);
  if (rc > 0)
    obs_line("%s = %d read=%d write=%d except=%d", what, rc, !!FD_ISSET(fd, &r), !!FD_ISSET(fd, &w),
             !!FD_ISSET(fd, &x));
  else
    obs_rc(what, rc, err, "");
  return rc;
}

/* epoll_wait on ep: the count and each event's flags; "data=changed" when an event does not
 * carry the data it was registered with (tag) */
static int obs_epoll(int ep, const char *name, int ms, uint64_t tag) {
  struct epoll_event ev[4];
  int rc = epoll_wait(ep, ev, 4, ms);
  int err = errno;
  char what[96], line[256], f[128];
  snprintf(what, sizeof what, "epoll_wait[%s](%dms)", name, ms);
  if (rc <= 0) {
    obs_rc(what, rc, err, "");
    return rc;
  }
  int n = snprintf(line, sizeof line, "%s = %d", what, rc);
  for (int i = 0; i < rc && n < (int)sizeof line; i++)
    n += snprintf(line + n, sizeof line - (size_t)n, " %s%s",
                  obs_flags(f, sizeof f, ev[i].events, obs_epoll_flags),
                  ev[i].data.u64 == tag ? "" : " data=changed");
  obs_line("%s", line);
  return rc;
}

/* epoll_ctl(op) of fd on ep with OBS_EPOLL_EVENTS | extra: "epoll_ctl[name] ADD = 0" */
static int obs_epoll_ctl(int ep, int op, int fd, unsigned extra, uint64_t tag, const char *name) {
  struct epoll_event ev = {.events = OBS_EPOLL_EVENTS | extra, .data.u64 = tag};
  int rc = epoll_ctl(ep, op, fd, &ev);
  int err = errno;
  char what[96];
  snprintf(what, sizeof what, "epoll_ctl[%s] %s", name,
           op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : "DEL");
  obs_rc(what, rc, err, "");
  return rc;
}

/* ---- the socket's state ----------------------------------------------------------------------- */

static void obs_sockopt_int(int fd, int level, int name, const char *what) {
  int v = -1;
  socklen_t len = sizeof v;
  int rc = getsockopt(fd, level, name, &v, &len);
  if (rc < 0)
    obs_rc(what, rc, errno, "");
  else if (level == SOL_SOCKET && name == SO_ERROR)
    obs_line("%s = %s", what, v ? obs_errname(v) : "0");
  else
    obs_line("%s = %d", what, v);
}

static void obs_so_error(int fd) { obs_sockopt_int(fd, SOL_SOCKET, SO_ERROR, "getsockopt(SO_ERROR)"); }

/* getpeername or getsockname: success and the family only */
static void obs_name(int fd, int peer) {
  struct sockaddr_storage ss = {0};
  socklen_t len = sizeof ss;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
  const char *what = peer ? "getpeername" : "getsockname";
  if (rc < 0)
    obs_rc(what, rc, errno, "");
  else
    obs_line("%s = 0 %s", what, ss.ss_family == AF_INET ? "AF_INET" : ss.ss_family == AF_INET6 ? "AF_INET6" : "other");
}

static void obs_ioctl(int fd, unsigned long req, const char *what) {
  int v = -1;
  int rc = ioctl(fd, req, &v);
  if (rc < 0)
    obs_rc(what, rc, errno, "");
  else
    obs_line("%s = %d", what, v);
}

static void obs_fd_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    obs_rc("fcntl(F_GETFL)", fl, errno, "");
  else
    obs_line("fcntl(F_GETFL) = %s%s%s", (fl & O_ACCMODE) == O_RDWR ? "O_RDWR" : "other",
             fl & O_NONBLOCK ? "|O_NONBLOCK" : "", fl & O_ASYNC ? "|O_ASYNC" : "");
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0)
    obs_rc("fcntl(F_GETFD)", fdfl, errno, "");
  else
    obs_line("fcntl(F_GETFD) = %s", fdfl & FD_CLOEXEC ? "FD_CLOEXEC" : "0");
}

static void obs_same_socket(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    obs_rc("fstat", -1, errno, "");
  else
    obs_line("fstat = 0 %s%s", S_ISSOCK(st.st_mode) ? "socket" : "not-a-socket",
             st.st_ino == obs_ino0 ? " same_socket" : " other_socket");
}

/* Everything about the socket that reading it does not change, SO_ERROR (which it may) first. */
static void obs_state(int fd) {
  obs_so_error(fd);
  obs_name(fd, 1);
  obs_name(fd, 0);
  obs_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, "getsockopt(SO_ACCEPTCONN)");
  obs_sockopt_int(fd, SOL_SOCKET, SO_TYPE, "getsockopt(SO_TYPE)");
  obs_ioctl(fd, SIOCINQ, "ioctl(SIOCINQ)");
  obs_ioctl(fd, SIOCOUTQ, "ioctl(SIOCOUTQ)");
  obs_fd_flags(fd);
  obs_same_socket(fd);
}

/* ---- reading and writing ---------------------------------------------------------------------- */

static void obs_reads(int fd) {
  char b[16];
  struct iovec iov = {b, sizeof b};
  OBS_RC("read", read(fd, b, sizeof b));
  OBS_RC("readv", readv(fd, &iov, 1));
  OBS_RC("recv", recv(fd, b, sizeof b, 0));
  OBS_RC("recv(MSG_PEEK)", recv(fd, b, sizeof b, MSG_PEEK));
  OBS_RC("recvfrom", recvfrom(fd, b, sizeof b, 0, NULL, NULL));
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  OBS_RC("recvmsg", recvmsg(fd, &m, 0));
  struct mmsghdr mm = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
  OBS_RC("recvmmsg", recvmmsg(fd, &mm, 1, 0, NULL));
}

/* one write-family call's line: its result and the SIGPIPEs it raised */
#define OBS_SEND(what, call)                                                                       \
  do {                                                                                             \
    int before_ = obs_sigpipes;                                                                    \
    long rc_ = (long)(call);                                                                       \
    int err_ = errno;                                                                              \
    char extra_[32];                                                                               \
    snprintf(extra_, sizeof extra_, " sigpipe=%d", obs_sigpipes - before_);                        \
    obs_rc(what, rc_, err_, extra_);                                                               \
  } while (0)

/* a file of 5 bytes for sendfile (memfd: nothing on disk) */
static int obs_small_file(void) {
  int f = memfd_create("probe", MFD_CLOEXEC);
  if (f >= 0 && write(f, "hello", 5) != 5) {
    close(f);
    f = -1;
  }
  return f;
}

/* Every write-family call, 1 byte each (sendfile and splice 5), with and without MSG_NOSIGNAL. */
static void obs_writes(int fd) {
  struct iovec iov = {"x", 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  struct mmsghdr mm = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
  OBS_SEND("write", write(fd, "x", 1));
  OBS_SEND("writev", writev(fd, &iov, 1));
  OBS_SEND("send", send(fd, "x", 1, 0));
  OBS_SEND("send(MSG_NOSIGNAL)", send(fd, "x", 1, MSG_NOSIGNAL));
  OBS_SEND("sendto(MSG_NOSIGNAL)", sendto(fd, "x", 1, MSG_NOSIGNAL, NULL, 0));
  OBS_SEND("sendmsg", sendmsg(fd, &m, 0));
  OBS_SEND("sendmsg(MSG_NOSIGNAL)", sendmsg(fd, &m, MSG_NOSIGNAL));
  OBS_SEND("sendmmsg", sendmmsg(fd, &mm, 1, 0));
  OBS_SEND("sendmmsg(MSG_NOSIGNAL)", sendmmsg(fd, &mm, 1, MSG_NOSIGNAL));
  int f = obs_small_file();
  off_t off = 0;
  OBS_SEND("sendfile", f < 0 ? -1 : sendfile(fd, f, &off, 5));
  if (f >= 0)
    close(f);
  int p[2];
  if (pipe2(p, O_CLOEXEC) == 0) {
    if (write(p[1], "hello", 5) == 5)
      OBS_SEND("splice", splice(p[0], NULL, fd, NULL, 5, SPLICE_F_NONBLOCK));
    close(p[0]);
    close(p[1]);
  }
}

#endif
