/* server.c - the stats thread: accepts on the Unix socket, checks the peer's uid, reads one line
 * per client (at most 1 KiB, within a deadline), runs it against a snapshot and writes the reply.
 * Never blocks on a client: every socket is non-blocking under one poll loop. Its fds are the
 * shim's own (lifecycle.c protects them) and it calls libc only through CW_REAL for interposed
 * names. Commands go to render (via snapshot), config, and, for `set` and `reap`, to policy and
 * the reaper. Runs with every signal blocked and cw_guard set. */
#define _GNU_SOURCE
#include "server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "command.h"
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "policy.h"
#include "real.h"
#include "reaper.h"
#include "rundir.h"
#include "tree.h"

#define MAX_CLIENTS 32
#define LINE_MAX_BYTES 1024
#define CLIENT_MS 2000
#define LISTEN_QUIET_MS 100
#define SILENT_MS 100

struct client {
  int fd; /* -1 when free; registered as an own fd */
  char in[LINE_MAX_BYTES + 1];
  size_t inlen;
  struct cw_buf out;
  size_t outoff;
  int replying;
  int64_t since_ns, deadline_ns;
};

/* The server's state. Written by cw_server_start (host thread, under lifecycle's start lock,
 * before the thread exists), by the thread itself, and by the fork-child handler (single-threaded
 * then). listen_fd and wake_fd change under the thread only through cw_own_relocate, atomically. */
static struct {
  int listen_fd, wake_fd;
  int running;
  int relisten; /* set by cw_server_relisten, consumed by the thread */
  int64_t listen_quiet_ns; /* no slot, or accept failed for want of fds: leave the listener till then */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  struct client clients[MAX_CLIENTS];
} srv = {.listen_fd = -1, .wake_fd = -1};

/* ---- commands ------------------------------------------------------------------------------- */

void cw_server_command(const char *line, struct cw_buf *out) {
  struct cw_cmd cmd;
  char err[256];
  if (cw_cmd_parse(line, &cmd, err, sizeof err) < 0) {
    cw_buf_printf(out, "error: %s\n", err);
    return;
  }
  if (cmd.verb == CW_CMD_HELP) {
    cw_render_help(out);
    return;
  }
  if (cmd.verb == CW_CMD_SET) {
    if (cw_config_set(&cw_cfg, cmd.name, cmd.value, err, sizeof err) < 0) {
      cw_buf_printf(out, "error: %s\n", err);
      return;
    }
    cw_buf_printf(out, "ok %s %s\n", cmd.name, cmd.value);
    cw_log(CW_LOG_INFO, CW_EV_CONFIG, "set %s %s", cmd.name, cmd.value);
    if (cw_tree_member())
      cw_tree_publish_settings(); /* the tree's setting: every member's at once */
    cw_policy_grant(); /* a raised cap admits the queue at once */
    cw_reaper_wake();  /* new timeouts take effect now */
    return;
  }
  if (cmd.verb == CW_CMD_REAP) {
    int rc = cw_reaper_reap_fd(cmd.fd);
    cw_reaper_publish_tree(); /* the tree counts it now */
    if (rc == -ENOENT)
      cw_buf_printf(out, "error: fd %d is not a tracked connection\n", cmd.fd);
    else if (rc == -EALREADY)
      cw_buf_printf(out, "error: fd %d was reaped already\n", cmd.fd);
    else
      cw_buf_printf(out, "ok reaped fd %d\n", cmd.fd);
    return;
  }
  struct cw_snapshot s;
  int flags = cmd.verb == CW_CMD_CONNS    ? CW_SNAP_CONNS | CW_SNAP_BT
              : cmd.verb == CW_CMD_HEALTH ? CW_SNAP_CONNS | CW_SNAP_BT /* to say where */
                                          : 0;
  if (cw_snapshot_take(&s, flags) < 0) {
    cw_buf_printf(out, "error: out of memory\n");
    return;
  }
  if (cmd.verb == CW_CMD_STATS)
    cw_render_stats(out, &s);
  else if (cmd.verb == CW_CMD_CONNS)
    cw_render_conns(out, &s);
  else if (cmd.verb == CW_CMD_METRICS)
    cw_render_metrics(out, &s);
  else if (cmd.verb == CW_CMD_HEALTH)
    cw_render_health(out, &s, &cmd.health);
  else
    cw_render_config(out, &s);
  cw_snapshot_free(&s);
  if (out->failed) {
    cw_buf_free(out);
    cw_buf_printf(out, "error: out of memory\n");
  }
}

/* ---- the socket ----------------------------------------------------------------------------- */

/* Is a live server answering on path? (Another process given the same CONNWARDEN_STATS.) */
static int path_in_use(const struct sockaddr_un *sun) {
  int fd = CW_REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int live = CW_REAL(connect)(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
  CW_REAL(close)(fd);
  return live;
}

static int make_listener(void) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  size_t plen = strlen(cw_cfg.stats_path);
  if (plen >= sizeof sun.sun_path) { /* a descendant's PATH.PID; config refuses the others */
    cw_log(CW_LOG_WARN, CW_EV_STATS, "stats off: %s is too long for a Unix socket (at most %zu bytes)",
           cw_cfg.stats_path, sizeof sun.sun_path - 1);
    return -ENAMETOOLONG;
  }
  memcpy(sun.sun_path, cw_cfg.stats_path, plen + 1);
  int fd = CW_REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (lstat(sun.sun_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      cw_log(CW_LOG_WARN, CW_EV_STATS, "stats off: %s exists and is not a socket", sun.sun_path);
      goto fail;
    }
    if (path_in_use(&sun)) {
      cw_log(CW_LOG_INFO, CW_EV_STATS, "stats off: %s is served by another process", sun.sun_path);
      goto fail;
    }
    unlink(sun.sun_path); /* stale: a dead process's, or ours before exec */
  }
  if (CW_RAW(SYS_bind, fd, &sun, sizeof sun) < 0) {
    cw_log(CW_LOG_WARN, CW_EV_STATS, "stats off: bind %s: %s", sun.sun_path, strerror(errno));
    goto fail;
  }
  chmod(sun.sun_path, 0600); /* the 0700 directory keeps others out meanwhile */
  if (CW_REAL(listen)(fd, 64) < 0) {
    unlink(sun.sun_path);
    goto fail;
  }
  snprintf(srv.path, sizeof srv.path, "%s", sun.sun_path);
  return cw_own_high_fd(fd);
fail:
  CW_REAL(close)(fd);
  return -1;
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* Close a client so that what we wrote reaches it: a close with its unread input still queued
 * would reset the connection and lose the reply. */
static void hang_up(int fd) {
  char sink[4096];
  CW_REAL(shutdown)(fd, SHUT_WR);
  for (int i = 0; i < 16 && CW_REAL(recv)(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
    ;
  CW_REAL(close)(fd);
}

/* Say one line to a client we will not serve, and hang up. */
static void refuse(int fd, const char *line) {
  CW_REAL(send)(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
  hang_up(fd);
}

static void client_close(struct client *c) {
  cw_own_del(&c->fd);
  hang_up(c->fd);
  c->fd = -1;
  cw_buf_free(&c->out);
  srv.listen_quiet_ns = 0; /* a slot is free: whoever waits in the backlog can come in */
}

/* A slot for a client that is waiting to be accepted. All taken: the client that has waited longest
 * without saying anything (at least SILENT_MS) gives way, so silent clients cannot lock the others
 * out for their whole deadline. None can: NULL, and *when is the first time one could (INT64_MAX:
 * only when a slot frees); the newcomer waits in the listen backlog meanwhile. */
static struct client *free_slot(int64_t now, int64_t *when) {
  struct client *old = NULL;
  *when = INT64_MAX;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &srv.clients[i];
    if (c->fd < 0)
      return c;
    if (c->replying || c->inlen > 0)
      continue;
    if (c->since_ns + SILENT_MS * 1000000 > now) {
      if (c->since_ns + SILENT_MS * 1000000 < *when)
        *when = c->since_ns + SILENT_MS * 1000000;
    } else if (!old || c->since_ns < old->since_ns) {
      old = c;
    }
  }
  if (old) {
    CW_REAL(send)(old->fd, "error: timed out waiting for a command line\n", 44, MSG_NOSIGNAL | MSG_DONTWAIT);
    client_close(old);
  }
  return old;
}

/* Queue a reply and stop reading. */
static void client_reply(struct client *c, const char *line) {
  c->replying = 1;
  c->outoff = 0;
  c->deadline_ns = cw_now() + (int64_t)CLIENT_MS * 1000000;
  if (line)
    cw_server_command(line, &c->out);
}

static void accept_clients(void) {
  for (int burst = 0; burst < 64; burst++) {
    int64_t when;
    struct client *c = free_slot(cw_now(), &when);
    if (!c) {
      srv.listen_quiet_ns = when; /* client_close ends the wait sooner */
      return;
    }
    int fd = cw_own_accept(srv.listen_fd);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        srv.listen_quiet_ns = cw_now() + LISTEN_QUIET_MS * 1000000; /* else it stays ready: a spin */
      return;
    }
    struct ucred cred;
    socklen_t l = sizeof cred;
    if (CW_REAL(getsockopt)(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
      refuse(fd, "error: permission denied\n");
      continue;
    }
    int64_t now = cw_now();
    memset(c, 0, sizeof *c);
    c->since_ns = now;
    c->fd = cw_own_high_fd(fd);
    if (cw_own_add(&c->fd) < 0) {
      CW_REAL(close)(c->fd);
      c->fd = -1;
      continue;
    }
    c->deadline_ns = cw_now() + (int64_t)CLIENT_MS * 1000000;
  }
}

static void client_read(struct client *c) {
  ssize_t r = CW_REAL(recv)(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (r <= 0) { /* gone, or half-closed without a full line */
    if (r == 0 && c->inlen > 0) {
      c->in[c->inlen] = '\0';
      client_reply(c, c->in);
    } else {
      client_close(c);
    }
    return;
  }
  c->inlen += (size_t)r;
  c->in[c->inlen] = '\0';
  char *nl = memchr(c->in, '\n', c->inlen);
  if (nl) {
    *nl = '\0';
    client_reply(c, c->in);
  } else if (c->inlen >= LINE_MAX_BYTES) {
    client_reply(c, NULL);
    cw_buf_printf(&c->out, "error: command line longer than %d bytes\n", LINE_MAX_BYTES);
  }
}

static void client_write(struct client *c) {
  while (c->outoff < c->out.len) {
    ssize_t w = CW_REAL(send)(c->fd, c->out.p + c->outoff, c->out.len - c->outoff,
                              MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR)
        return;
      break;
    }
    c->outoff += (size_t)w;
  }
  client_close(c);
}

static void take_relisten(void) {
  if (!__atomic_exchange_n(&srv.relisten, 0, __ATOMIC_ACQ_REL))
    return;
  int fd = make_listener();
  if (fd < 0)
    return;
  cw_own_del(&srv.listen_fd);
  CW_REAL(close)(srv.listen_fd);
  __atomic_store_n(&srv.listen_fd, fd, __ATOMIC_RELEASE);
  cw_own_add(&srv.listen_fd);
}

void *cw_server_run(void *arg) {
  (void)arg;
  cw_guard = 1;
  struct pollfd pfd[2 + MAX_CLIENTS];
  struct client *who[2 + MAX_CLIENTS];
  for (;;) {
    int n = 0;
    int64_t now = cw_now(), next = INT64_MAX;
    pfd[n++] = (struct pollfd){.fd = __atomic_load_n(&srv.wake_fd, __ATOMIC_ACQUIRE), .events = POLLIN};
    n++; /* pfd[1], the listener: filled in below, once the clients have settled */
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &srv.clients[i];
      if (c->fd < 0)
        continue;
      if (now >= c->deadline_ns) { /* a slow or silent client: say so once and drop it */
        if (!c->replying) {
          client_reply(c, NULL);
          cw_buf_printf(&c->out, "error: timed out waiting for a command line\n");
        } else {
          client_close(c);
          continue;
        }
      }
      if (c->deadline_ns < next)
        next = c->deadline_ns;
      who[n] = c;
      pfd[n++] = (struct pollfd){.fd = __atomic_load_n(&c->fd, __ATOMIC_ACQUIRE),
                                 .events = c->replying ? POLLOUT : POLLIN};
    }
    int quiet = now < srv.listen_quiet_ns;
    if (quiet && srv.listen_quiet_ns < next)
      next = srv.listen_quiet_ns;
    pfd[1] = (struct pollfd){.fd = __atomic_load_n(&srv.listen_fd, __ATOMIC_ACQUIRE), .events = quiet ? 0 : POLLIN};
    struct timespec ts, *tsp = NULL;
    if (next != INT64_MAX) {
      int64_t wait = next > now ? next - now + 1000000 : 0; /* late rather than early */
      ts = (struct timespec){wait / 1000000000, wait % 1000000000};
      tsp = &ts;
    }
    if (CW_RAW(SYS_ppoll, pfd, n, tsp, NULL, 8) < 0)
      continue;
    if (pfd[0].revents) {
      uint64_t v;
      CW_REAL(read)(pfd[0].fd, &v, sizeof v);
      take_relisten();
    }
    if (pfd[1].revents)
      accept_clients();
    for (int i = 2; i < n; i++) {
      if (!pfd[i].revents || who[i]->fd < 0)
        continue;
      if (who[i]->replying)
        client_write(who[i]);
      else
        client_read(who[i]);
      if (who[i]->fd >= 0 && who[i]->replying && who[i]->outoff == 0)
        client_write(who[i]); /* the reply usually fits at once */
    }
  }
  return NULL;
}

int cw_server_prepare(void) {
  if (cw_cfg.stats_off || srv.running)
    return 0;
  int rc = cw_rundir_ensure(cw_cfg.rundir, cw_cfg.stats_explicit, CW_EV_STATS, "stats off");
  if (rc < 0)
    return rc;
  for (int i = 0; i < MAX_CLIENTS; i++)
    srv.clients[i].fd = -1;
  srv.listen_fd = make_listener();
  if (srv.listen_fd < 0)
    return -EIO;
  srv.wake_fd = (int)CW_RAW(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (srv.wake_fd >= 0)
    srv.wake_fd = cw_own_high_fd(srv.wake_fd);
  if (srv.wake_fd < 0 || cw_own_add(&srv.listen_fd) < 0 || cw_own_add(&srv.wake_fd) < 0) {
    cw_server_abandon();
    return -EIO;
  }
  srv.running = 1;
  return 1;
}

void cw_server_abandon(void) {
  cw_log(CW_LOG_WARN, CW_EV_STATS, "stats off: cannot start the server thread");
  srv.running = 0;
  unlink(srv.path);
  cw_own_del(&srv.listen_fd);
  cw_own_del(&srv.wake_fd);
  if (srv.listen_fd >= 0)
    CW_REAL(close)(srv.listen_fd);
  if (srv.wake_fd >= 0)
    CW_REAL(close)(srv.wake_fd);
  srv.listen_fd = srv.wake_fd = -1;
}

void cw_server_exit(void) {
  if (srv.running)
    unlink(srv.path);
}

void cw_server_unlink(void) {
  if (srv.running)
    unlink(srv.path);
}

void cw_server_relisten(void) {
  if (!srv.running)
    return;
  __atomic_store_n(&srv.relisten, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  CW_REAL(write)(srv.wake_fd, &one, sizeof one);
}

int cw_server_fork_child(void) {
  if (!srv.running)
    return 0; /* nothing was opened: the client table was never set up */
  srv.running = 0;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (srv.clients[i].fd >= 0) {
      cw_own_del(&srv.clients[i].fd);
      CW_REAL(close)(srv.clients[i].fd);
      srv.clients[i].fd = -1;
      /* the parent's buffers are ours now too: this copy may free its own */
      cw_buf_free(&srv.clients[i].out);
    }
  int *fds[] = {&srv.listen_fd, &srv.wake_fd};
  for (size_t i = 0; i < CW_ARRAY_LEN(fds); i++)
    if (*fds[i] >= 0) {
      cw_own_del(fds[i]);
      CW_REAL(close)(*fds[i]);
      *fds[i] = -1;
    }
  srv.path[0] = '\0';
  return 1;
}
