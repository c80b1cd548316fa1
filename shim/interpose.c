/* interpose.c - the exported wrappers. The IO and NEWFD kinds are expanded from hooks.def; the
 * rest are written by hand, each saying why. Runs in host threads. Every wrapper returns the real
 * result with the real errno; bookkeeping runs inside CW_SAVE_ERRNO. Only the lifecycle paths
 * (not read/write) take table_mu, and never across the real call. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "backtrace.h"
#include "config.h"
#include "follow.h"
#include "hooks.h"
#include "lifecycle.h"
#include "names.h"
#include "ownfd.h"
#include "policy.h"
#include "python.h"
#include "real.h"
#include "sniff.h"
#include "sock.h"
#include "table.h"

/* Before the real function is resolved: resolve now, unless we are inside the resolution (then
 * the kernel serves the call). The I/O kinds need none of this: their pointers start at a
 * resolving stub (real.c). */
#define CW_ENSURE(name, fallback)                                                                  \
  do {                                                                                             \
    if (CW_UNLIKELY(!CW_REAL(name))) {                                                             \
      if (!cw_guard)                                                                               \
        cw_real_init();                                                                            \
      if (!CW_REAL(name))                                                                          \
        return (fallback);                                                                         \
    }                                                                                              \
  } while (0)

/* The hot path. An untracked fd costs a masked slot load and a test, then a tail jump to libc:
 * no frame, no lock, no system call, errno untouched. A tracked one runs the call in a separate
 * function and then adds to the connection's own counters: plain adds (one writer per counter in
 * every host we know; see table.h), atomic only where ThreadSanitizer watches. */
#ifdef CW_TSAN
#define CW_BUMP(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)
#define CW_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define CW_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#else
#define CW_BUMP(field, v) ((field) += (v))
#define CW_SET(field, v) ((field) = (v))
#define CW_GET(field) (field)
#endif

/* A queued connect that failed is reported by the kernel as refused, once (SO_ERROR, or the next
 * read or write): that ECONNREFUSED becomes the errno the failure really has (the cap errno at a
 * queue timeout). On the failure path only. */
static inline void failed_errno(struct cw_conn *c) {
  if (CW_UNLIKELY(__atomic_load_n(&c->failed, __ATOMIC_ACQUIRE)) && errno == ECONNREFUSED)
    errno = (int)__atomic_load_n(&c->acked, __ATOMIC_RELAXED);
}

static inline void count_in(struct cw_conn *c, size_t r) {
  CW_BUMP(c->bytes_in, r);
  CW_BUMP(c->calls_in, 1);
  CW_SET(c->last_ns, cw_tick() & ~(int64_t)CW_LAST_WROTE);
}

static inline void count_out(struct cw_conn *c, size_t r) {
  CW_BUMP(c->bytes_out, r);
  CW_BUMP(c->calls_out, 1);
  CW_SET(c->last_ns, cw_tick() | CW_LAST_WROTE);
}

/* After a read-side call on a tracked connection: bytes, or a 0 return, which is EOF from the
 * peer unless the request was empty: it is marked for the reaper and snapshot to look at the TCP
 * state, which tells (CLOSE_WAIT). Keeping the length to tell here would cost every call. */
#define AFTER_IN(c, r)                                                                             \
  do {                                                                                             \
    if ((r) > 0)                                                                                   \
      count_in(c, (size_t)(r));                                                                    \
    else if ((r) == 0)                                                                             \
      CW_SET((c)->peer_closed, 1);                                                                 \
    else                                                                                           \
      failed_errno(c);                                                                             \
  } while (0)

#define AFTER_OUT(c, r)                                                                            \
  do {                                                                                             \
    if ((r) > 0)                                                                                   \
      count_out(c, (size_t)(r));                                                                   \
    else if ((r) < 0)                                                                              \
      failed_errno(c);                                                                             \
  } while (0)

/* The first write on a connection may name it (a TLS ClientHello's server name, a proxy request's
 * target): the bytes are parsed once, out of line. The tracked path only tests the call count
 * before the real call, while the arguments are still in their registers, and tail-jumps to
 * first_NAME (the real call, the parse, the count) when it is 0: it keeps no more registers than
 * before. SNIFF_name is how each write-side call passes its bytes. */
static __attribute__((noinline, cold)) void sniff_first(struct cw_conn *c, int fd, const void *buf,
                                                        const struct iovec *iov, size_t cnt, size_t n);
#define SNIFF_write sniff_first(c_, fd, buf, NULL, 0, (size_t)r)
#define SNIFF_send SNIFF_write
#define SNIFF_sendto SNIFF_write
#define SNIFF_writev sniff_first(c_, fd, NULL, iov, (size_t)(cnt < 0 ? 0 : cnt), (size_t)r)
#define SNIFF_sendmsg sniff_first(c_, fd, NULL, m->msg_iov, m->msg_iovlen, (size_t)r)
#define FIRST_OUT(ret, name, params, args)                                                         \
  static __attribute__((noinline, cold)) ret first_##name(STRIP params, struct cw_conn *c_) {      \
    ret r = CW_REAL(name) args;                                                                    \
    if (r > 0)                                                                                     \
      SNIFF_##name;                                                                                \
    AFTER_OUT(c_, r);                                                                              \
    return r;                                                                                      \
  }
#define IF_FIRST(name, args)                                                                       \
  if (CW_UNLIKELY(CW_GET(c_->calls_out) == 0))                                                     \
    return first_##name(STRIP args, c_);

/* A send with MSG_FASTOPEN on an fd with no record is a connect (TCP Fast Open): defined below,
 * beside connect(). Out of line, so that the untracked path keeps no frame. */
static __attribute__((noinline, cold)) ssize_t
fastopen_sendto(int fd, const void *buf, size_t n, int fl, const struct sockaddr *a, socklen_t al);
static __attribute__((noinline, cold)) ssize_t fastopen_sendmsg(int fd, const struct msghdr *m,
                                                               int fl);

#define STRIP(...) __VA_ARGS__
#define WRAP_IO_IN(ret, name, params, args, fdv, raw)                                              \
  WRAP_IO(ret, name, params, args, fdv, AFTER_IN(c_, r), )
#define WRAP_CHK_IN WRAP_IO_IN
#define WRAP_IO_OUT(ret, name, params, args, fdv, raw)                                             \
  FIRST_OUT(ret, name, params, args)                                                               \
  WRAP_IO(ret, name, params, args, fdv, AFTER_OUT(c_, r), , IF_FIRST(name, args))
/* an untracked fd pays one test of a flag it was passed in a register */
#define WRAP_FASTOPEN(ret, name, params, args, fdv, raw)                                           \
  FIRST_OUT(ret, name, params, args)                                                               \
  WRAP_IO(ret, name, params, args, fdv, AFTER_OUT(c_, r),                                          \
          if (CW_UNLIKELY(fl & MSG_FASTOPEN)) return fastopen_##name args;, IF_FIRST(name, args))
/* write(): the reserved number (a constant, never an open fd) is CPython's traceback dumper's.
 * Its path is a function of its own, reached by a tail jump, so that the tracked path keeps no
 * more registers than the other writes' (one compare with a constant is all it adds). */
#define WRAP_SINK(ret, name, params, args, fdv, raw)                                               \
  static __attribute__((noinline, cold)) ret sink_##name(STRIP params, struct cw_conn *c_) {       \
    ret r = cw_py_sink_write(buf, n);                                                              \
    if (r >= 0)                                                                                    \
      return r;                                                                                    \
    r = CW_REAL(name) args;                                                                        \
    AFTER_OUT(c_, r);                                                                              \
    return r;                                                                                      \
  }                                                                                                \
  FIRST_OUT(ret, name, params, args)                                                               \
  WRAP_IO(ret, name, params, args, fdv, AFTER_OUT(c_, r), ,                                        \
          if (CW_UNLIKELY(fd == CW_PY_SINK_FD)) return sink_##name(STRIP args, c_);                \
          IF_FIRST(name, args))
#define WRAP_IO(ret, name, params, args, fdv, after, untracked, ...)                               \
  static __attribute__((noinline)) ret tracked_##name(STRIP params, struct cw_conn *c_) {          \
    __VA_ARGS__                                                                                    \
    ret r = CW_REAL(name) args;                                                                    \
    after;                                                                                         \
    return r;                                                                                      \
  }                                                                                                \
  ret cw_w_##name params {                                                                         \
    struct cw_conn *c_ = cw_table_get(fdv);                                                        \
    if (CW_LIKELY(c_ == NULL)) {                                                                   \
      untracked                                                                                    \
      return CW_REAL(name) args;                                                                   \
    }                                                                                              \
    return tracked_##name(STRIP args, c_); /* c_ last: the arguments stay in their registers */    \
  }
#define WRAP_NEWFD(ret, name, params, args, fdv, raw)
#define WRAP_HAND(ret, name, params, args, fdv, raw)

#define CW_HOOK(ret, name, params, args, kind, fdv, raw)                                      \
  WRAP_##kind(ret, name, params, args, fdv, raw)
#include "hooks.def"
#undef CW_HOOK

/* A new fd number: a record (a connection or a queued connect) or followed registrations still
 * on it were left by a close we could not see. */
static void after_newfd(int fd) {
  if (fd >= 0 && !cw_guard && !cw_locked && (cw_table_get(fd) || cw_fdflag(fd, CW_FD_FOLLOW)) &&
      !cw_in_foreign_child())
    CW_SAVE_ERRNO({
      cw_follow_drop(fd);
      if (cw_table_get(fd))
        cw_table_fd_reused(fd);
    });
}

/* socket(): a number handed out again ends any record left on it, and a TCP socket is marked so
 * that its connect need not ask the kernel what it is. */
int cw_w_socket(int dom, int type, int proto) {
  int r = CW_REAL(socket)(dom, type, proto);
  if (r >= 0) {
    after_newfd(r);
    int tcp = (dom == AF_INET || dom == AF_INET6) && (type & 0xf) == SOCK_STREAM &&
              (proto == 0 || proto == IPPROTO_TCP);
    if (tcp || cw_fdflag(r, CW_FD_TCP))
      cw_fdflag_set(r, CW_FD_TCP, tcp);
  }
  return r;
}

/* ---- connections begin ---------------------------------------------------------------------- */

/* Bookkeeping is skipped when the shim itself is the caller (cw_guard), in a signal handler that
 * interrupted the shim holding a lock (cw_locked), in a vfork child, and for good when the table
 * could not be made at start-up (then the shim starts nothing and opens no fd). */
static int may_track(void) { /* cw_in_foreign_child first: it runs init when it has not run */
  return !cw_guard && !cw_locked && !cw_in_foreign_child() && !cw_table_off;
}

/* Start tracking fd. Returns 0, or -errno when it is not a TCP socket or could not be tracked.
 * The caller has probed info (cw_sock_probe) and set its policy fields; info.bt is consumed. */
static int track(struct cw_conn_info *info) {
  int rc = cw_table_open(info);
  if (rc == 0 || rc == -ENOMEM || rc == -EBADF) /* tracked, or counted as untracked: show it */
    cw_lifecycle_want_server();
  return rc;
}

/* A blocking connect() whose connect is queued (policy.c): the thread waits in the kernel's own
 * connect on its socket, which is connecting to the shim's black hole, exactly as it would wait
 * for a slow peer; signals (EINTR), SO_SNDTIMEO and cancellation act on it there. The switch to
 * the real peer wakes it: it then waits for the real connect the same way. */
static int wait_queued(int fd, const struct sockaddr *sa, socklen_t salen, uint64_t id) {
  for (;;) {
    int r = CW_REAL(connect)(fd, sa, salen), e = r < 0 ? errno : 0, err = 0, st;
    CW_SAVE_ERRNO({
      cw_guard++;
      st = cw_policy_queued_state(fd, id, &err);
      cw_guard--;
    });
    switch (st) {
    case CW_Q_WAITING: /* a signal, or SO_SNDTIMEO: it goes on connecting, as the kernel's would */
      if (e == 0 || e == EPIPE || e == ECONNRESET || e == ECONNABORTED)
        continue; /* woken by a switch that is not ours to see: wait again */
      errno = e == EALREADY ? EINPROGRESS : e; /* the host's first connect: still in progress */
      return -1;
    case CW_Q_FAILED:
      errno = err;
      return -1;
    case CW_Q_STARTED:
      /* the real connect runs: wait for it (0 when it completed; EISCONN if it already had) */
      if (r == 0)
        return 0;
      r = CW_REAL(connect)(fd, sa, salen);
      if (r == 0 || errno == EISCONN)
        return 0;
      if (errno != EINTR && errno != EALREADY && errno != EINPROGRESS)
        CW_SAVE_ERRNO({
          cw_guard++;
          cw_policy_connect_failed(fd, id);
          cw_guard--;
        });
      return -1;
    default: /* the host closed it meanwhile */
      errno = e ? e : EBADF;
      return -1;
    }
  }
}

/* Does a call that names sa as its peer start a connection the caps may judge? */
static int may_police(const struct sockaddr *sa, socklen_t salen) {
  return sa && salen >= (socklen_t)sizeof(sa_family_t) &&
         (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) && may_track();
}

/* A call that opens a connection: connect() itself, or a send with MSG_FASTOPEN, which connects
 * and sends its data in one (TCP Fast Open). call(fd, arg, 0) makes the real call;
 * call(fd, arg, 1) runs once a blocking caller's queued connect has completed: a Fast Open send
 * then sends its data (connect has nothing left to do). */
typedef ssize_t (*opener)(int fd, const void *arg, int after_queue);

/* A call that opens a connection, as far as the caps and the table go: its admission, and the
 * connection it describes. */
struct opening {
  struct cw_admit ad;
  struct cw_conn_info info;
  int fd, probed;
};

/* After the real call: a connection that began is tracked (holding the slot it was admitted
 * with) and the bytes a Fast Open send carried are counted on it; otherwise the slot goes back. */
static void settle_opening(struct opening *o, int started, ssize_t sent) {
  CW_SAVE_ERRNO({
    cw_guard++;
    if (o->probed && started) {
      o->info.policed = o->ad.policed;
      o->info.holds_slot = o->ad.result == CW_ADMIT_OK;
      struct cw_conn *nc;
      if (track(&o->info) < 0)
        cw_policy_abandon(&o->ad);
      else if (sent > 0 && (nc = cw_table_get(o->fd)) != NULL)
        count_out(nc, (size_t)sent); /* a Fast Open send's bytes */
    } else {
      if (o->probed)
        cw_mem_free(o->info.bt);
      cw_policy_abandon(&o->ad);
    }
    cw_guard--;
  });
}

/* A thread cancelled in the real call: a connect the kernel had begun goes on without it, as
 * after EINTR, so it is tracked and keeps its slot until the host closes the fd (in its cleanup
 * handler, most often); a connect that never began gives its slot back. */
static void settle_on_cancel(void *arg) {
  struct opening *o = arg;
  int started;
  CW_SAVE_ERRNO(started = cw_sock_connecting(o->fd));
  settle_opening(o, started, 0);
}

/* The caps around an opener on fd (a TCP socket, or so the caller thinks) to sa; c is fd's
 * record when it has one, never a queued one. The call may be admitted, refused, or queued
 * (non-blocking: -1 EINPROGRESS with nothing sent; blocking: the thread waits in connect). What
 * it opens is tracked, and the bytes a Fast Open send sent are counted on it. */
static ssize_t open_policed(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_conn *c,
                            opener call, const void *arg) {
  /* connect() and send() are cancellation points: a pending cancellation acts here, as at the
   * real call, before the policy may queue or refuse this one without making it */
  pthread_testcancel();
  struct opening o = {.ad = {.result = CW_ADMIT_PASS}, .fd = fd};
  CW_SAVE_ERRNO({
    cw_guard++;
    o.probed = cw_sock_probe(fd, CW_DIR_OUT, sa, salen, cw_fdflag(fd, CW_FD_TCP), &o.info) == 0;
    /* a repeated connect on a socket we track already (checking on progress) takes no slot */
    if (o.probed && !(c && c->ino == o.info.ino)) {
      cw_names_lookup(&o.info.peer, o.info.host); /* the name the program resolved, if any */
      o.info.bt = cw_bt_capture(fd, 0);
      cw_policy_connect(fd, sa, salen, &o.info, &o.ad);
    } else {
      o.probed = 0;
    }
    cw_guard--;
  });
  switch (o.ad.result) {
  case CW_ADMIT_REFUSE:
    cw_mem_free(o.info.bt);
    errno = cw_cfg.cap_errno;
    return -1;
  case CW_ADMIT_QUEUED: {
    CW_SAVE_ERRNO(cw_lifecycle_want_server());
    if (o.ad.nonblock) {
      errno = EINPROGRESS;
      return -1;
    }
    if (wait_queued(fd, sa, salen, o.ad.id) < 0)
      return -1;
    return call(fd, arg, 1);
  }
  default:
    break;
  }
  ssize_t r;
  pthread_cleanup_push(settle_on_cancel, &o);
  r = call(fd, arg, 0);
  pthread_cleanup_pop(0);
  /* EINPROGRESS: a non-blocking connect under way; EINTR: a blocking one goes on in the kernel */
  settle_opening(&o, r >= 0 || errno == EINPROGRESS || errno == EINTR, r);
  return r;
}

struct connect_args {
  const struct sockaddr *sa;
  socklen_t salen;
};

static ssize_t open_by_connect(int fd, const void *arg, int after_queue) {
  const struct connect_args *a = arg;
  return after_queue ? 0 : CW_REAL(connect)(fd, a->sa, a->salen);
}

/* A connect on a fresh TCP socket to an IPv4/IPv6 peer goes through the caps (open_policed).
 * Everything else is passed through and, when it starts a connection, tracked. */
int cw_w_connect(int fd, const struct sockaddr *sa, socklen_t salen) {
  CW_ENSURE(connect, CW_RAW(SYS_connect, fd, sa, salen));
  if (!may_police(sa, salen))
    return CW_REAL(connect)(fd, sa, salen);
  struct cw_conn *c = cw_table_get(fd);
  int queued = c && __atomic_load_n(&c->queued, __ATOMIC_RELAXED);
  if (CW_UNLIKELY(c != NULL) && (queued || __atomic_load_n(&c->failed, __ATOMIC_RELAXED))) {
    /* the host asks again about a queued connect: the kernel answers (EALREADY), a blocking one
     * waits for its turn, and a failure is told as such */
    int nb;
    CW_SAVE_ERRNO({
      cw_guard++;
      nb = cw_policy_nonblocking(fd);
      cw_guard--;
    });
    if (queued && !nb)
      return wait_queued(fd, sa, salen, c->id);
    int r = CW_REAL(connect)(fd, sa, salen);
    if (r < 0)
      failed_errno(c);
    return r;
  }
  struct connect_args a = {sa, salen};
  return (int)open_policed(fd, sa, salen, c, open_by_connect, &a);
}

/* TCP Fast Open: sendto or sendmsg with MSG_FASTOPEN and a peer address, on a socket with no
 * connection record, connects and sends in one call. It is judged by the caps as connect() is. A
 * queued non-blocking one returns -1 EINPROGRESS having sent nothing, as a Fast Open send without
 * a cookie does: the host sends its data once the socket is writable. A queued blocking one waits
 * as a blocking connect does, then sends its data (without MSG_FASTOPEN: it is connected). */
struct sendto_args {
  const void *buf;
  size_t n;
  int fl;
  const struct sockaddr *a;
  socklen_t al;
};

static ssize_t open_by_sendto(int fd, const void *arg, int after_queue) {
  const struct sendto_args *s = arg;
  if (after_queue)
    return cw_w_sendto(fd, s->buf, s->n, s->fl & ~MSG_FASTOPEN, NULL, 0);
  return CW_REAL(sendto)(fd, s->buf, s->n, s->fl, s->a, s->al);
}

static ssize_t fastopen_sendto(int fd, const void *buf, size_t n, int fl, const struct sockaddr *a,
                               socklen_t al) {
  if (!may_police(a, al))
    return CW_REAL(sendto)(fd, buf, n, fl, a, al);
  struct sendto_args s = {buf, n, fl, a, al};
  return open_policed(fd, a, al, NULL, open_by_sendto, &s);
}

struct sendmsg_args {
  const struct msghdr *m;
  int fl;
};

static ssize_t open_by_sendmsg(int fd, const void *arg, int after_queue) {
  const struct sendmsg_args *s = arg;
  if (!after_queue)
    return CW_REAL(sendmsg)(fd, s->m, s->fl);
  struct msghdr m = *s->m;
  m.msg_name = NULL;
  m.msg_namelen = 0;
  return cw_w_sendmsg(fd, &m, s->fl & ~MSG_FASTOPEN);
}

static ssize_t fastopen_sendmsg(int fd, const struct msghdr *m, int fl) {
  if (!m || !may_police(m->msg_name, m->msg_namelen))
    return CW_REAL(sendmsg)(fd, m, fl);
  struct sendmsg_args s = {m, fl};
  return open_policed(fd, m->msg_name, m->msg_namelen, NULL, open_by_sendmsg, &s);
}

/* A connection's first write: what its bytes say of the host it is for (a TLS server name, a
 * proxy request's target) names it. Once per connection; a shim caller, a signal handler that
 * interrupted the shim and a vfork child change nothing. n bytes were written. The record's
 * direction is read under table_mu (policy.c), not here: it shares a word with flags the reaper
 * writes. An inbound connection's first write (an answer) names nothing, quickly. */
static void sniff_first(struct cw_conn *c, int fd, const void *buf, const struct iovec *iov, size_t cnt,
                        size_t n) {
  if (cw_guard || cw_locked)
    return;
  CW_SAVE_ERRNO({
    char host[CW_HOST_MAX + 1];
    uint16_t port = 0;
    int kind = iov ? cw_sniff_iov(iov, cnt, n, host, &port) : cw_sniff(buf, n, host, &port);
    if (kind != CW_SNIFF_NONE && !cw_in_foreign_child()) {
      cw_guard++;
      cw_policy_named(fd, c->id, host, port, kind != CW_SNIFF_SNI);
      cw_guard--;
    }
  });
}

static int after_accept(int fd, int r, struct sockaddr *sa, socklen_t *salen) {
  if (r < 0 || !may_track())
    return r;
  CW_SAVE_ERRNO({
    cw_guard++;
    cw_table_newfd(r);
    /* the peer as the caller got it, unless it gave no room or it was cut short */
    socklen_t l = (sa && salen) ? *salen : 0;
    struct cw_conn_info info;
    int tcp = cw_fdflag(fd, CW_FD_TCP);
    if (tcp)
      cw_fdflag_set(r, CW_FD_TCP, 1);
    if (cw_sock_probe(r, CW_DIR_IN, l <= sizeof(struct sockaddr_storage) ? sa : NULL, l, tcp, &info) == 0) {
      info.policed = cw_policy_scoped(CW_DIR_IN, &info.peer, NULL, 0);
      info.bt = cw_bt_capture(r, 1);
      track(&info);
    }
    cw_guard--;
  });
  return r;
}

int cw_w_accept(int fd, struct sockaddr *sa, socklen_t *salen) {
  CW_ENSURE(accept, CW_RAW(SYS_accept, fd, sa, salen));
  return after_accept(fd, CW_REAL(accept)(fd, sa, salen), sa, salen);
}

int cw_w_accept4(int fd, struct sockaddr *sa, socklen_t *salen, int fl) {
  CW_ENSURE(accept4, CW_RAW(SYS_accept4, fd, sa, salen, fl));
  return after_accept(fd, CW_REAL(accept4)(fd, sa, salen, fl), sa, salen);
}

/* listen() on a TCP socket starts the stats server, so a fresh server shows up in `ls`. */
int cw_w_listen(int fd, int backlog) {
  CW_ENSURE(listen, CW_RAW(SYS_listen, fd, backlog));
  int r = CW_REAL(listen)(fd, backlog);
  if (r == 0 && may_track())
    CW_SAVE_ERRNO({
      cw_guard++;
      if (cw_sock_is_tcp(fd))
        cw_lifecycle_want_server();
      cw_guard--;
    });
  return r;
}

/* ---- connections end ------------------------------------------------------------------------ */

/* The fd number is about to stop naming what it names: end its share of a connection (or of a
 * queued connect, which then leaves the queue), and forget its followed registrations. */
static void forget(int fd) {
  cw_follow_drop(fd);
  if (cw_table_get(fd)) {
    int was = cw_table_defer_slots(1);
    cw_table_close(fd);
    cw_table_defer_slots(was);
  }
}

static void forget_range(unsigned first, unsigned last) {
  cw_follow_drop_range(first, last);
  int was = cw_table_defer_slots(1);
  cw_table_close_range(first, last);
  cw_table_defer_slots(was);
}

/* After the real close: the slots this wrapper freed (those above mark, the height of the
 * thread's pending slots when it began) count as free, and go to waiters. Only now, so that the
 * peer sees this connection's FIN before the next one's SYN and never more than the cap at once.
 * Nothing here while the thread holds a shim lock (a signal handler's close that interrupted the
 * shim: it deferred nothing) or in a vfork child (the parent's fds are not its own). */
static void grant_waiters(int mark) {
  if (CW_UNLIKELY(cw_table_slots_pending() > mark)
          ? !cw_locked /* deferred here, so tracked here: neither guarded nor a vfork child */
          : CW_UNLIKELY(__atomic_load_n(&cw_tab.c.queued, __ATOMIC_RELAXED) > 0) && !cw_guard &&
                !cw_locked && !cw_in_foreign_child())
    CW_SAVE_ERRNO(cw_policy_closed(mark));
}

/* close() and fclose() are cancellation points: a thread cancelled in one still gives back the
 * slots its bookkeeping deferred (the fd may or may not be closed then, as without the shim). */
static void grant_on_cancel(void *mark) { grant_waiters(*(int *)mark); }
#define CW_CANCELLABLE_CLOSE(mark, call)                                                           \
  do {                                                                                             \
    if (CW_LIKELY(cw_table_slots_pending() <= (mark))) {                                           \
      call;                                                                                        \
      break;                                                                                       \
    }                                                                                              \
    pthread_cleanup_push(grant_on_cancel, &(mark));                                                \
    call;                                                                                          \
    pthread_cleanup_pop(0);                                                                        \
  } while (0)

/* Forget fd before the real close: the moment the kernel frees the number, another thread may
 * be handed it, and its record must not meet ours. On Linux the fd is gone after close() even
 * when it reports EINTR or EIO. */
int cw_w_close(int fd) {
  CW_ENSURE(close, CW_RAW(SYS_close, fd));
  if (CW_UNLIKELY(cw_own_is(fd)) && !cw_guard && !cw_in_foreign_child()) {
    errno = EBADF; /* as for any fd the host never opened */
    return -1;
  }
  if (CW_UNLIKELY(cw_table_get(fd) != NULL || cw_fdflag(fd, CW_FD_FOLLOW)) && may_track()) {
    int mark = cw_table_slots_pending(), r;
    CW_SAVE_ERRNO(forget(fd));
    CW_CANCELLABLE_CLOSE(mark, r = CW_REAL(close)(fd));
    grant_waiters(mark);
    return r;
  }
  return CW_REAL(close)(fd);
}

/* close_range and closefrom: forget the range, and go around the shim's own fds. */
static int real_close_range(unsigned first, unsigned last, int fl) {
  if (CW_REAL(close_range))
    return CW_REAL(close_range)(first, last, fl);
  return (int)CW_RAW(SYS_close_range, first, last, fl);
}

/* Call close_range over [first, last] minus our own fds. Returns the first failure. */
static int close_range_around_own(unsigned first, unsigned last, int fl) {
  int all[CW_OWN_MAX], own[CW_OWN_MAX], n = 0;
  int m = cw_own_list(all, CW_OWN_MAX);
  for (int i = 0; i < m; i++)
    if ((unsigned)all[i] >= first && (unsigned)all[i] <= last)
      own[n++] = all[i];
  for (int i = 1; i < n; i++) /* insertion sort: a few dozen at most */
    for (int j = i; j > 0 && own[j - 1] > own[j]; j--) {
      int t = own[j];
      own[j] = own[j - 1];
      own[j - 1] = t;
    }
  int rc = 0, err = 0;
  unsigned lo = first;
  for (int i = 0; i <= n; i++) {
    unsigned hi = i < n ? (unsigned)own[i] : last;
    /* close [lo, hi) before an own fd, or [lo, last] at the end */
    if (i < n ? lo < hi : lo <= hi) {
      if (real_close_range(lo, i < n ? hi - 1 : hi, fl) < 0 && rc == 0) {
        rc = -1;
        err = errno;
      }
    }
    if (i < n) {
      if ((unsigned)own[i] == ~0U)
        break;
      lo = (unsigned)own[i] + 1;
    }
  }
  if (rc < 0)
    errno = err;
  return rc;
}

int cw_w_close_range(unsigned first, unsigned last, int fl) {
  CW_ENSURE(close_range, real_close_range(first, last, fl));
  /* CLOEXEC only marks; bad arguments fail in the kernel exactly as without us, and change
   * nothing here */
  if ((fl & CLOSE_RANGE_CLOEXEC) || (fl & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) ||
      first > last || !may_track())
    return CW_REAL(close_range)(first, last, fl);
  int mark = cw_table_slots_pending();
  CW_SAVE_ERRNO(forget_range(first, last));
  int r = __atomic_load_n(&cw_own_count, __ATOMIC_RELAXED) == 0
              ? CW_REAL(close_range)(first, last, fl)
              : close_range_around_own(first, last, fl);
  grant_waiters(mark);
  return r;
}

void cw_w_closefrom(int lowfd) {
  if (!CW_REAL(closefrom) && !cw_guard)
    cw_real_init();
  if (!CW_REAL(closefrom) || lowfd < 0 || !may_track()) {
    if (CW_REAL(closefrom))
      CW_REAL(closefrom)(lowfd);
    else
      real_close_range((unsigned)lowfd, ~0U, 0);
    return;
  }
  int saved = errno, mark = cw_table_slots_pending();
  forget_range((unsigned)lowfd, ~0U);
  if (__atomic_load_n(&cw_own_count, __ATOMIC_RELAXED) == 0)
    CW_REAL(closefrom)(lowfd);
  else
    close_range_around_own((unsigned)lowfd, ~0U, 0);
  grant_waiters(mark);
  errno = saved;
}

/* fclose of an fdopen'd socket closes the fd inside libc, where no wrapper sees it. */
int cw_w_fclose(FILE *fp) {
  CW_ENSURE(fclose, EOF);
  int mark = cw_table_slots_pending(), r;
  if (fp && may_track())
    CW_SAVE_ERRNO({
      int fd = fileno(fp);
      if (fd >= 0)
        forget(fd);
    });
  CW_CANCELLABLE_CLOSE(mark, r = CW_REAL(fclose)(fp));
  grant_waiters(mark);
  return r;
}

/* ---- fds that name the same socket ---------------------------------------------------------- */

/* The new number names what oldfd names: its connection, and whether it is a TCP socket (so a
 * later connect() on it is judged by what it is, not by what the number named before). */
static void after_dup(int oldfd, int r) {
  if (r >= 0 && r != oldfd && may_track())
    CW_SAVE_ERRNO({
      int tcp = cw_fdflag(oldfd, CW_FD_TCP);
      if (tcp != cw_fdflag(r, CW_FD_TCP))
        cw_fdflag_set(r, CW_FD_TCP, tcp);
      if (cw_table_get(oldfd) || cw_table_get(r))
        cw_table_dup(oldfd, r);
    });
}

int cw_w_dup(int fd) {
  CW_ENSURE(dup, CW_RAW(SYS_dup, fd));
  int r = CW_REAL(dup)(fd);
  after_dup(fd, r);
  return r;
}

/* dup2/dup3 onto one of our own fds: move ours away first, then let the host have the number.
 * Onto a queued connect's fd: the host replaces it, so that number's share of it ends. */
static void before_dup_onto(int fd, int fd2) {
  if (CW_UNLIKELY(cw_own_is(fd2)) && may_track())
    CW_SAVE_ERRNO(cw_own_relocate(fd2));
  /* the number is about to name another file: forget what it names now, as close() does, so the
   * reaper never acts on it after the swap (unless the dup2 is bound to fail) */
  if (CW_UNLIKELY(cw_table_get(fd2) != NULL || cw_fdflag(fd2, CW_FD_FOLLOW)) && fd != fd2 &&
      may_track())
    CW_SAVE_ERRNO({
      if (CW_REAL(fcntl)(fd, F_GETFD) >= 0)
        forget(fd2);
    });
}

int cw_w_dup2(int fd, int fd2) {
  CW_ENSURE(dup2, CW_RAW(SYS_dup3, fd, fd2, 0)); /* dup3 refuses fd == fd2; rare before init */
  int mark = cw_table_slots_pending();
  before_dup_onto(fd, fd2);
  int r = CW_REAL(dup2)(fd, fd2);
  after_dup(fd, r);
  grant_waiters(mark);
  return r;
}

int cw_w_dup3(int fd, int fd2, int fl) {
  CW_ENSURE(dup3, CW_RAW(SYS_dup3, fd, fd2, fl));
  if (fd == fd2 || (fl & ~O_CLOEXEC)) /* EINVAL: the kernel changes nothing, nor do we */
    return CW_REAL(dup3)(fd, fd2, fl);
  int mark = cw_table_slots_pending();
  before_dup_onto(fd, fd2);
  int r = CW_REAL(dup3)(fd, fd2, fl);
  after_dup(fd, r);
  grant_waiters(mark);
  return r;
}

/* fcntl is variadic: its third argument is an int or a pointer, which the ABI passes the same
 * way, so it is read as a pointer-sized value and passed on unchanged (as glibc itself does). */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg) {
  int r = real(fd, cmd, arg);
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
    after_dup(fd, r);
  return r;
}

int cw_w_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  CW_ENSURE(fcntl, (int)CW_RAW(SYS_fcntl, fd, cmd, arg));
  return fcntl_common(CW_REAL(fcntl), fd, cmd, arg);
}

int cw_w_fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  CW_ENSURE(fcntl64, (int)CW_RAW(SYS_fcntl, fd, cmd, arg));
  return fcntl_common(CW_REAL(fcntl64), fd, cmd, arg);
}

/* Wait out a switch of a queued socket to its peer (policy.c) that is running now: what the
 * kernel shows in its middle is not for the host to see. */
static void after_switch(void) {
  if (CW_UNLIKELY(cw_switch_gen_now() & 1) && may_track())
    CW_SAVE_ERRNO({
      cw_table_lock();
      cw_table_unlock();
    });
}

/* SO_ERROR of a queued connect is the kernel's (0 while it waits); a failed one's refusal is told
 * with its real errno. Only tracked fds are looked at. */
int cw_w_getsockopt(int fd, int lvl, int name, void *val, socklen_t *len) {
  CW_ENSURE(getsockopt, (int)CW_RAW(SYS_getsockopt, fd, lvl, name, val, len));
  struct cw_conn *c = cw_table_get(fd);
  if (CW_LIKELY(c == NULL) || lvl != SOL_SOCKET || name != SO_ERROR)
    return CW_REAL(getsockopt)(fd, lvl, name, val, len);
  after_switch();
  int r = CW_REAL(getsockopt)(fd, lvl, name, val, len);
  if (r != 0 || !val || !len || *len < (socklen_t)sizeof(int) || *(int *)val == 0)
    return r;
  if (__atomic_load_n(&c->failed, __ATOMIC_ACQUIRE)) {
    if (*(int *)val == ECONNREFUSED)
      *(int *)val = (int)__atomic_load_n(&c->acked, __ATOMIC_RELAXED);
  } else if (c->dir == CW_DIR_OUT && c->holds_slot && !__atomic_load_n(&c->calls_out, __ATOMIC_RELAXED) &&
             !__atomic_load_n(&c->calls_in, __ATOMIC_RELAXED) && may_track()) {
    /* a non-blocking connect that failed: the connection never was, and its slot goes back now,
     * not when the program gets round to closing the fd */
    uint64_t id = c->id;
    CW_SAVE_ERRNO({
      cw_guard++;
      if (cw_sock_connect_failed(fd))
        cw_policy_connect_failed(fd, id);
      cw_guard--;
    });
  }
  return r;
}

/* epoll registrations of TCP sockets that are not connected yet, or queued, are followed
 * (follow.c): a queued socket's switch to its peer takes them off and puts them back. The real
 * call and the note of it are one step under table_mu, so a switch never comes between them. */
static __attribute__((noinline)) int epoll_ctl_followed(int epfd, int op, int fd,
                                                       struct epoll_event *ev) {
  if (!may_track())
    return CW_REAL(epoll_ctl)(epfd, op, fd, ev);
  int r;
  cw_table_lock();
  r = CW_REAL(epoll_ctl)(epfd, op, fd, ev);
  if (r == 0 && cw_follow_wanted(fd))
    CW_SAVE_ERRNO(cw_follow_ctl_locked(epfd, op, fd, ev));
  CW_SAVE_ERRNO(cw_table_unlock());
  return r;
}

/* The fast path: an fd whose registrations are not followed (anything but a TCP socket not yet
 * connected, or queued) costs two loads and a tail jump to libc. */
int cw_w_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  CW_ENSURE(epoll_ctl, (int)CW_RAW(SYS_epoll_ctl, epfd, op, fd, ev));
  if (CW_LIKELY(!cw_follow_wanted(fd)))
    return CW_REAL(epoll_ctl)(epfd, op, fd, ev);
  return epoll_ctl_followed(epfd, op, fd, ev);
}

/* ---- waiting for readiness ------------------------------------------------------------------ */

/* poll and select are the kernel's, with one addition while connects are queued: if a queued
 * socket was switched to its peer while the call waited (cw_switch_gen moved), what it reported for
 * tracked fds may be the switch's passing state. Those fds are looked at again once the switch is
 * over (under table_mu), and if nothing is left to report the wait goes on for the time that
 * remains. With no connect queued this is one load. */
static int queue_empty(void) { return CW_LIKELY(__atomic_load_n(&cw_tab.c.queued, __ATOMIC_RELAXED) == 0); }

static int switched(unsigned g0) { return (g0 & 1) || cw_switch_gen_now() != g0; }

/* Monotonic deadline from a timeout (-1: none), and what is left of it for the next wait. */
static int64_t deadline_of(int64_t ns) { return ns < 0 ? -1 : cw_now() + ns; }
static int64_t left_of(int64_t deadline) {
  if (deadline < 0)
    return -1;
  int64_t l = deadline - cw_now();
  return l > 0 ? l : 0;
}

/* Look again at the tracked fds poll reported on. Returns how many have something to report. */
static int poll_recheck(struct pollfd *fds, nfds_t n) {
  int count = 0, saved = errno;
  cw_guard++;
  cw_table_lock();
  for (nfds_t i = 0; i < n; i++) {
    if (fds[i].revents && fds[i].fd >= 0 && cw_table_get(fds[i].fd)) {
      struct pollfd one = {.fd = fds[i].fd, .events = fds[i].events};
      fds[i].revents = CW_RAW(SYS_poll, &one, 1, 0) == 1 ? one.revents : 0;
    }
    count += fds[i].revents != 0;
  }
  cw_table_unlock();
  cw_guard--;
  errno = saved;
  return count;
}

/* poll/ppoll with a timeout in ns (-1: none) and an optional signal mask (ppoll's). */
static int poll_queued(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *mask, int pp) {
  int64_t deadline = deadline_of(timeout_ns);
  for (;;) {
    int64_t left = left_of(deadline);
    unsigned g0 = cw_switch_gen_now();
    int r;
    if (pp) {
      struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
      r = CW_REAL(ppoll)(fds, n, left < 0 ? NULL : &ts, mask);
    } else {
      r = CW_REAL(poll)(fds, n, left < 0 ? -1 : (int)((left + 999999) / 1000000));
    }
    if (r <= 0 || !switched(g0) || !may_track())
      return r;
    if ((r = poll_recheck(fds, n)) > 0 || (deadline >= 0 && left_of(deadline) == 0))
      return r;
  }
}

static int64_t ms_ns(int ms) { return ms < 0 ? -1 : (int64_t)ms * 1000000; }
static int64_t ts_ns(const struct timespec *t) {
  return t ? (int64_t)t->tv_sec * 1000000000 + t->tv_nsec : -1;
}

int cw_w_poll(struct pollfd *fds, nfds_t n, int ms) {
  CW_ENSURE(poll, (int)CW_RAW(SYS_poll, fds, n, ms));
  if (queue_empty())
    return CW_REAL(poll)(fds, n, ms);
  return poll_queued(fds, n, ms_ns(ms), NULL, 0);
}

int cw_w___poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen) {
  CW_ENSURE(__poll_chk, (int)CW_RAW(SYS_poll, fds, n, ms));
  if (queue_empty() || fdslen / sizeof *fds < n) /* the check's failure is libc's to report */
    return CW_REAL(__poll_chk)(fds, n, ms, fdslen);
  return poll_queued(fds, n, ms_ns(ms), NULL, 0);
}

int cw_w_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m) {
  CW_ENSURE(ppoll, (int)CW_RAW(SYS_ppoll, fds, n, t, m, 8));
  if (queue_empty() || (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)))
    return CW_REAL(ppoll)(fds, n, t, m);
  return poll_queued(fds, n, ts_ns(t), m, 1);
}

int cw_w___ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m,
                     size_t fdslen) {
  CW_ENSURE(__ppoll_chk, (int)CW_RAW(SYS_ppoll, fds, n, t, m, 8));
  if (queue_empty() || fdslen / sizeof *fds < n ||
      (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)))
    return CW_REAL(__ppoll_chk)(fds, n, t, m, fdslen);
  return poll_queued(fds, n, ts_ns(t), m, 1);
}

/* select's sets, as the host passed them, for a wait that goes on after a recheck. */
#define SEL_MAX 65536 /* beyond this many fds (rare: FD_SETSIZE is 1024), no recheck */
struct sel {
  int nfds;
  fd_set *set[3];
  size_t bytes;
};

static int sel_isset(const fd_set *s, int fd) { return s && FD_ISSET(fd, s); }

/* Look again at the tracked fds select reported on. Returns how many bits are left. */
static int select_recheck(struct sel *sl, fd_set *const in[3]) {
  static const short want[3] = {POLLIN, POLLOUT, POLLPRI};
  static const short says[3] = {POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI};
  int count = 0, saved = errno;
  cw_guard++;
  cw_table_lock();
  for (int fd = 0; fd < sl->nfds; fd++) {
    int any = 0;
    for (int k = 0; k < 3; k++)
      any |= sel_isset(sl->set[k], fd);
    if (any && cw_table_get(fd)) {
      struct pollfd one = {.fd = fd};
      for (int k = 0; k < 3; k++)
        if (sel_isset(in[k], fd))
          one.events |= want[k];
      short rev = CW_RAW(SYS_poll, &one, 1, 0) == 1 ? one.revents : 0;
      for (int k = 0; k < 3; k++)
        if (sl->set[k] && sel_isset(in[k], fd) && !(rev & says[k]))
          FD_CLR(fd, sl->set[k]);
    }
    for (int k = 0; k < 3; k++)
      count += sel_isset(sl->set[k], fd);
  }
  cw_table_unlock();
  cw_guard--;
  errno = saved;
  return count;
}

static int select_queued(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t timeout_ns,
                         struct timeval *tv, const sigset_t *mask, int ps) {
  struct sel sl = {.nfds = nfds, .set = {r, w, e}, .bytes = ((size_t)nfds + 63) / 64 * 8};
  char copy[3][sl.bytes ? sl.bytes : 1];
  fd_set *in[3];
  for (int k = 0; k < 3; k++) {
    in[k] = sl.set[k] ? (fd_set *)copy[k] : NULL;
    if (in[k])
      memcpy(in[k], sl.set[k], sl.bytes);
  }
  int64_t deadline = deadline_of(timeout_ns);
  for (;;) {
    int64_t left = left_of(deadline);
    unsigned g0 = cw_switch_gen_now();
    int rc;
    if (ps) {
      struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
      rc = CW_REAL(pselect)(nfds, r, w, e, left < 0 ? NULL : &ts, mask);
    } else {
      struct timeval t = {.tv_sec = left / 1000000000, .tv_usec = (left % 1000000000) / 1000};
      rc = CW_REAL(select)(nfds, r, w, e, left < 0 ? NULL : &t);
      if (tv && left >= 0) /* Linux tells what is left of the timeout */
        *tv = t;
    }
    if (rc <= 0 || !switched(g0) || !may_track())
      return rc;
    if ((rc = select_recheck(&sl, in)) > 0 || (deadline >= 0 && left_of(deadline) == 0))
      return rc;
    for (int k = 0; k < 3; k++)
      if (in[k])
        memcpy(sl.set[k], in[k], sl.bytes);
  }
}

int cw_w_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
  CW_ENSURE(select, (int)CW_RAW(SYS_select, nfds, r, w, e, tv));
  if (queue_empty() || nfds <= 0 || nfds > SEL_MAX ||
      (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)))
    return CW_REAL(select)(nfds, r, w, e, tv);
  return select_queued(nfds, r, w, e, tv ? (int64_t)tv->tv_sec * 1000000000 + tv->tv_usec * 1000 : -1,
                       tv, NULL, 0);
}

int cw_w_pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                 const sigset_t *m) {
  CW_ENSURE(pselect, (int)CW_RAW(SYS_pselect6, nfds, r, w, e, t, 0));
  if (queue_empty() || nfds <= 0 || nfds > SEL_MAX ||
      (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)))
    return CW_REAL(pselect)(nfds, r, w, e, t, m);
  return select_queued(nfds, r, w, e, ts_ns(t), NULL, m, 1);
}

int cw_w_shutdown(int fd, int how) {
  CW_ENSURE(shutdown, CW_RAW(SYS_shutdown, fd, how));
  int r = CW_REAL(shutdown)(fd, how);
  if (r == 0 && cw_table_get(fd) && may_track())
    CW_SAVE_ERRNO(cw_table_shutdown(fd, how));
  return r;
}

/* ---- data paths with several fds or messages ------------------------------------------------ */

int cw_w_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int fl, struct timespec *t) {
  CW_ENSURE(recvmmsg, CW_RAW(SYS_recvmmsg, fd, v, n, fl, t));
  int r = CW_REAL(recvmmsg)(fd, v, n, fl, t);
  struct cw_conn *c = cw_table_get(fd);
  if (CW_UNLIKELY(c != NULL) && r > 0) {
    size_t bytes = 0;
    for (int i = 0; i < r; i++)
      bytes += v[i].msg_len;
    AFTER_IN(c, (ssize_t)bytes);
  }
  return r;
}

int cw_w_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int fl) {
  CW_ENSURE(sendmmsg, CW_RAW(SYS_sendmmsg, fd, v, n, fl));
  int r = CW_REAL(sendmmsg)(fd, v, n, fl);
  struct cw_conn *c = cw_table_get(fd);
  if (CW_UNLIKELY(c != NULL) && r > 0) {
    size_t bytes = 0;
    for (int i = 0; i < r; i++)
      bytes += v[i].msg_len;
    count_out(c, bytes);
  }
  return r;
}

/* sendfile and splice move data between two fds inside the kernel: either end may be ours. */
static void count_pair(int in, int out, ssize_t r) {
  struct cw_conn *ci = cw_table_get(in), *co = cw_table_get(out);
  if (ci)
    AFTER_IN(ci, r);
  if (co)
    AFTER_OUT(co, r);
}

ssize_t cw_w_sendfile(int out, int in, off_t *off, size_t n) {
  CW_ENSURE(sendfile, CW_RAW(SYS_sendfile, out, in, off, n));
  ssize_t r = CW_REAL(sendfile)(out, in, off, n);
  count_pair(in, out, r);
  return r;
}

ssize_t cw_w_sendfile64(int out, int in, off64_t *off, size_t n) {
  CW_ENSURE(sendfile64, CW_RAW(SYS_sendfile, out, in, off, n));
  ssize_t r = CW_REAL(sendfile64)(out, in, off, n);
  count_pair(in, out, r);
  return r;
}

ssize_t cw_w_splice(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned fl) {
  CW_ENSURE(splice, CW_RAW(SYS_splice, in, offin, out, offout, n, fl));
  ssize_t r = CW_REAL(splice)(in, offin, out, offout, n, fl);
  count_pair(in, out, r);
  return r;
}

/* ---- processes ------------------------------------------------------------------------------ */

/* The host's first thread of its own ends the raw I/O path (real.h), before the thread exists:
 * from then on it could cancel a thread blocked in read(), which only libc's read() honours. The
 * shim's own threads are created with cw_guard set. */
int cw_w_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  CW_ENSURE(pthread_create, EAGAIN);
  if (!cw_guard)
    cw_real_use_raw(0);
  return CW_REAL(pthread_create)(t, attr, fn, arg);
}

/* The atfork handlers (lifecycle.c) keep the table consistent for every fork; this wrapper adds
 * what may not run inside a handler: restarting the stats server in the child. */
pid_t cw_w_fork(void) {
  CW_ENSURE(fork, (pid_t)CW_RAW(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  pid_t p = CW_REAL(fork)();
  if (p == 0)
    CW_SAVE_ERRNO(cw_lifecycle_fork_child());
  return p;
}

/* exec replaces the image: take the stats socket off the file system (the new image, if it runs
 * the shim, makes its own under the same pid), and put it back if exec fails. glibc's exec
 * functions reach the kernel through its internal execve, so each is wrapped. In a vfork child
 * nothing is touched: the socket belongs to the parent. */
#define CW_EXEC(name, envp, fallback, call)                                                        \
  do {                                                                                             \
    CW_ENSURE(name, fallback);                                                                     \
    int mine_ = may_track();                                                                       \
    if (mine_)                                                                                     \
      CW_SAVE_ERRNO(cw_lifecycle_before_exec(envp));                                               \
    int r_ = call;                                                                                 \
    if (mine_)                                                                                     \
      CW_SAVE_ERRNO(cw_lifecycle_exec_failed());                                                   \
    return r_;                                                                                     \
  } while (0)

int cw_w_execve(const char *path, char *const argv[], char *const envp[]) {
  CW_EXEC(execve, envp, (int)CW_RAW(SYS_execve, path, argv, envp), CW_REAL(execve)(path, argv, envp));
}

int cw_w_execv(const char *path, char *const argv[]) {
  CW_EXEC(execv, environ, (int)CW_RAW(SYS_execve, path, argv, environ), CW_REAL(execv)(path, argv));
}

int cw_w_execvp(const char *file, char *const argv[]) {
  CW_EXEC(execvp, environ, (errno = ENOSYS, -1), CW_REAL(execvp)(file, argv));
}

int cw_w_execvpe(const char *file, char *const argv[], char *const envp[]) {
  CW_EXEC(execvpe, envp, (errno = ENOSYS, -1), CW_REAL(execvpe)(file, argv, envp));
}

int cw_w_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int fl) {
  CW_EXEC(execveat, envp, (int)CW_RAW(SYS_execveat, dirfd, path, argv, envp, fl),
          CW_REAL(execveat)(dirfd, path, argv, envp, fl));
}

int cw_w_fexecve(int fd, char *const argv[], char *const envp[]) {
  CW_EXEC(fexecve, envp, (int)CW_RAW(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH),
          CW_REAL(fexecve)(fd, argv, envp));
}

/* execl, execlp, execle: the argument list becomes an argv on the stack (no malloc: a vfork
 * child may call them), then the vector form runs through its wrapper. */
#define CW_EXECL_ARGV(arg, ap, argv, envp_out)                                                     \
  size_t n_ = 1;                                                                                   \
  va_list cp_;                                                                                     \
  va_copy(cp_, ap);                                                                                \
  while (va_arg(cp_, const char *))                                                                \
    n_++;                                                                                          \
  va_end(cp_);                                                                                     \
  const char *argv[n_ + 1];                                                                        \
  argv[0] = arg;                                                                                   \
  for (size_t i_ = 1; i_ <= n_; i_++)                                                              \
    argv[i_] = va_arg(ap, const char *);                                                           \
  envp_out

int cw_w_execl(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CW_EXECL_ARGV(arg, ap, argv, ;);
  va_end(ap);
  return cw_w_execv(path, (char *const *)argv);
}

int cw_w_execlp(const char *file, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CW_EXECL_ARGV(arg, ap, argv, ;);
  va_end(ap);
  return cw_w_execvp(file, (char *const *)argv);
}

int cw_w_execle(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  CW_EXECL_ARGV(arg, ap, argv, char *const *envp = va_arg(ap, char *const *));
  va_end(ap);
  return cw_w_execve(path, (char *const *)argv, envp);
}

/* syscall() is variadic and libuv (uvloop, Node.js) closes every socket with
 * syscall(SYS_close, fd). The calls the shim follows are routed to their wrappers, which behave
 * as the raw system call does (-1 and errno); everything else goes to the real syscall(). */
long cw_w_syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  if (CW_UNLIKELY(!CW_REAL(syscall))) {
    if (!cw_guard)
      cw_real_init();
    if (!CW_REAL(syscall))
      return cw_raw_call(nr, a, b, c, d, e, f);
  }
  switch (nr) {
  case SYS_close:
    return cw_w_close((int)a);
  case SYS_close_range:
    return cw_w_close_range((unsigned)a, (unsigned)b, (int)c);
  case SYS_connect:
    return cw_w_connect((int)a, (const struct sockaddr *)b, (socklen_t)c);
  case SYS_accept:
    return cw_w_accept((int)a, (struct sockaddr *)b, (socklen_t *)c);
  case SYS_accept4:
    return cw_w_accept4((int)a, (struct sockaddr *)b, (socklen_t *)c, (int)d);
  case SYS_listen:
    return cw_w_listen((int)a, (int)b);
  case SYS_socket:
    return cw_w_socket((int)a, (int)b, (int)c);
  case SYS_dup:
    return cw_w_dup((int)a);
#ifdef SYS_dup2
  case SYS_dup2:
    return cw_w_dup2((int)a, (int)b);
#endif
  case SYS_dup3:
    return cw_w_dup3((int)a, (int)b, (int)c);
  case SYS_fcntl:
    return cw_w_fcntl((int)a, (int)b, (void *)c);
  case SYS_shutdown:
    return cw_w_shutdown((int)a, (int)b);
  case SYS_getsockopt:
    return cw_w_getsockopt((int)a, (int)b, (int)c, (void *)d, (socklen_t *)e);
  case SYS_epoll_ctl:
    return cw_w_epoll_ctl((int)a, (int)b, (int)c, (struct epoll_event *)d);
  case SYS_read:
    return cw_w_read((int)a, (void *)b, (size_t)c);
  case SYS_write:
    return cw_w_write((int)a, (const void *)b, (size_t)c);
  case SYS_readv:
    return cw_w_readv((int)a, (const struct iovec *)b, (int)c);
  case SYS_writev:
    return cw_w_writev((int)a, (const struct iovec *)b, (int)c);
  case SYS_recvfrom:
    return cw_w_recvfrom((int)a, (void *)b, (size_t)c, (int)d, (struct sockaddr *)e, (socklen_t *)f);
  case SYS_sendto:
    return cw_w_sendto((int)a, (const void *)b, (size_t)c, (int)d, (const struct sockaddr *)e, (socklen_t)f);
  case SYS_recvmsg:
    return cw_w_recvmsg((int)a, (struct msghdr *)b, (int)c);
  case SYS_sendmsg:
    return cw_w_sendmsg((int)a, (const struct msghdr *)b, (int)c);
  case SYS_recvmmsg:
    return cw_w_recvmmsg((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d, (struct timespec *)e);
  case SYS_sendmmsg:
    return cw_w_sendmmsg((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d);
  case SYS_sendfile:
    return cw_w_sendfile((int)a, (int)b, (off_t *)c, (size_t)d);
  case SYS_splice:
    return cw_w_splice((int)a, (loff_t *)b, (int)c, (loff_t *)d, (size_t)e, (unsigned)f);
  default:
    return CW_REAL(syscall)(nr, a, b, c, d, e, f);
  }
}
