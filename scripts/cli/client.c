/* client.c - the client side of the stats protocol: where sockets live, how a target is named,
 * one request per connection under a 5 s deadline, and the scan behind ls that removes stale
 * sockets. Single-threaded; reports problems through err.c and never prints replies itself. */
#define _GNU_SOURCE
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "err.h"

#define MAX_REPLY (64u << 20) /* far above any real reply; stops a runaway server */
#define MAX_LINE 1024         /* the server's own limit */
#define REFUSED_RETRY_US 20000

/* ---- run directories ------------------------------------------------------------------------ */

static void add_dir(struct cw_rundirs *rd, const char *dir) {
  struct stat a, b;
  for (int i = 0; i < rd->n; i++) {
    if (strcmp(rd->dir[i], dir) == 0)
      return;
    if (stat(rd->dir[i], &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
      return; /* the same directory by another name */
  }
  if (rd->n < CW_MAX_RUNDIRS && strlen(dir) < sizeof rd->dir[0])
    snprintf(rd->dir[rd->n++], sizeof rd->dir[0], "%s", dir);
}

void cw_client_rundirs(struct cw_rundirs *rd) {
  char tmp[PATH_MAX];
  rd->n = 0;
  const char *v = getenv("CONNWARDEN_RUNDIR");
  if (v && *v)
    add_dir(rd, v);
  v = getenv("XDG_RUNTIME_DIR");
  if (v && v[0] == '/' && strlen(v) < sizeof tmp - 16) { /* the library takes only absolute ones */
    snprintf(tmp, sizeof tmp, "%s/connwarden", v);
    add_dir(rd, tmp);
  }
  if (geteuid() == 0)
    add_dir(rd, "/run/connwarden");
  snprintf(tmp, sizeof tmp, "/tmp/connwarden-%u", (unsigned)geteuid());
  add_dir(rd, tmp);
}

void cw_client_rundirs_text(const struct cw_rundirs *rd, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < rd->n && off < len; i++) {
    const char *sep = i == 0 ? "" : i == rd->n - 1 ? " and " : ", ";
    int w = snprintf(buf + off, len - off, "%s%s", sep, rd->dir[i]);
    if (w < 0)
      break;
    off += (size_t)w;
  }
}

/* ---- one request ---------------------------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_line(int fd, const char *line) {
  char msg[MAX_LINE + 2];
  int n = snprintf(msg, sizeof msg, "%s\n", line);
  if (n < 0 || (size_t)n >= sizeof msg)
    return -EMSGSIZE;
  for (size_t off = 0; off < (size_t)n;) {
    ssize_t w = send(fd, msg + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    off += (size_t)w;
  }
  return 0;
}

/* Read until EOF or the deadline into a malloc'd, NUL-terminated buffer. */
static int read_reply(int fd, int64_t deadline, char **reply) {
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  if (!buf)
    return -ENOMEM;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      goto timeout;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int pr = poll(&p, 1, (int)left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr == 0)
      goto timeout;
    if (len + 1 >= cap) {
      if (cap >= MAX_REPLY) {
        free(buf);
        return -EFBIG;
      }
      char *p2 = realloc(buf, cap * 2);
      if (!p2) {
        free(buf);
        return -ENOMEM;
      }
      buf = p2;
      cap *= 2;
    }
    ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      return -e;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  *reply = buf;
  return 0;
timeout:
  free(buf);
  return -ETIMEDOUT;
}

int cw_client_request(const char *path, const char *line, char **reply) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  size_t plen = strlen(path);
  int rc = 0;
  *reply = NULL;
  if (plen >= sizeof sun.sun_path)
    return -ENAMETOOLONG;
  memcpy(sun.sun_path, path, plen + 1);
  int64_t deadline = now_ms() + CW_CLIENT_TIMEOUT_MS;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  /* connect() waits while the server's backlog is full; SO_SNDTIMEO bounds that wait (and send) */
  struct timeval tv = {.tv_sec = CW_CLIENT_TIMEOUT_MS / 1000,
                       .tv_usec = (CW_CLIENT_TIMEOUT_MS % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    rc = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
    goto out;
  }
  if (!line)
    goto out;
  if ((rc = send_line(fd, line)) < 0)
    goto out;
  rc = read_reply(fd, deadline, reply);
out:
  close(fd);
  return rc;
}

/* ---- naming a target ------------------------------------------------------------------------ */

static int pid_alive(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/* "123" -> 123; anything else (signs, blanks, 0, overflow) -> -1. */
static int parse_pid(const char *s, size_t len) {
  long v = 0;
  if (len == 0 || len > 10)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v > 0 && v <= INT32_MAX ? (int)v : -1;
}

char *cw_client_name(const json_t *stats, int pid, char *buf, size_t len) {
  const char *name = json_string_value(json_object_get(stats, "name"));
  if (name && name[0])
    snprintf(buf, len, "%s", name);
  else
    cw_client_comm(pid, buf, len);
  return buf;
}

char *cw_client_comm(int pid, char *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  snprintf(buf, len, "?");
  FILE *f = fopen(path, "re");
  if (!f)
    return buf;
  if (fgets(buf, (int)len, f))
    buf[strcspn(buf, "\n")] = '\0';
  else
    snprintf(buf, len, "?");
  fclose(f);
  return buf;
}

static int resolve_pid(int pid, struct cw_target *t) {
  struct cw_rundirs rd;
  struct stat st;
  cw_client_rundirs(&rd);
  for (int i = 0; i < rd.n; i++) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%d.sock", rd.dir[i], pid);
    if (n < 0 || (size_t)n >= sizeof t->path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
      continue;
    memcpy(t->path, path, (size_t)n + 1);
    snprintf(t->label, sizeof t->label, "pid %d", pid);
    return 0;
  }
  if (!pid_alive(pid))
    return cw_err_fail("no process with pid %d", pid);
  char dirs[4 * PATH_MAX];
  cw_client_rundirs_text(&rd, dirs, sizeof dirs);
  return cw_err_fail("pid %d has no stats socket in %s (not running under connwarden, or its "
                     "stats are off or elsewhere: name the socket path)",
                     pid, dirs);
}

/* No target named: the one live shimmed process, if there is exactly one. */
static int resolve_only(struct cw_target *t) {
  struct cw_live *v;
  int n = cw_client_scan(NULL, &v);
  if (n < 0)
    return cw_err_fail("scanning the run directories: %s", strerror(-n));
  if (n == 1) {
    snprintf(t->path, sizeof t->path, "%s", v[0].path);
    snprintf(t->label, sizeof t->label, "pid %d", v[0].pid);
    cw_client_scan_free(v, n);
    return 0;
  }
  if (n == 0) {
    struct cw_rundirs rd;
    char dirs[4 * PATH_MAX];
    cw_client_rundirs(&rd);
    cw_client_rundirs_text(&rd, dirs, sizeof dirs);
    cw_client_scan_free(v, n);
    return cw_err_fail("no shimmed processes (looked in %s)", dirs);
  }
  char list[2048] = "";
  size_t off = 0;
  for (int i = 0; i < n && off < sizeof list; i++) {
    char comm[64];
    int w = snprintf(list + off, sizeof list - off, "%s%d (%s)", i ? ", " : "", v[i].pid,
                     cw_client_comm(v[i].pid, comm, sizeof comm));
    if (w < 0)
      break;
    off += (size_t)w;
  }
  cw_client_scan_free(v, n);
  cw_err_fail("%d shimmed processes, name one: %s", n, list);
  return CW_EXIT_USAGE;
}

int cw_client_resolve(const char *arg, struct cw_target *t) {
  memset(t, 0, sizeof *t);
  if (!arg)
    return resolve_only(t);
  if (strchr(arg, '/')) {
    if (strlen(arg) >= sizeof t->path)
      return cw_err_fail("%s: socket path too long (at most %zu bytes)", arg, sizeof t->path - 1);
    snprintf(t->path, sizeof t->path, "%s", arg);
    snprintf(t->label, sizeof t->label, "%s", arg);
    return 0;
  }
  int pid = parse_pid(arg, strlen(arg));
  if (pid < 0)
    return cw_err_usage("'%s' is neither a PID nor a socket path", arg);
  return resolve_pid(pid, t);
}

int cw_client_ask(const struct cw_target *t, const char *line, char **reply) {
  int rc = cw_client_request(t->path, line, reply);
  int named_by_path = strcmp(t->label, t->path) == 0;
  char where[sizeof t->label + sizeof t->path + 4];
  snprintf(where, sizeof where, named_by_path ? "%s" : "%s (%s)", t->label, t->path);
  switch (rc) {
  case 0:
    break;
  case -ENOENT:
    return cw_err_fail("%s: no such socket", where);
  case -ECONNREFUSED:
    return cw_err_fail("%s: nobody is listening (a stale socket: the process is gone)", where);
  case -ETIMEDOUT:
    return cw_err_fail("%s: no reply within %d s", where, CW_CLIENT_TIMEOUT_MS / 1000);
  default:
    return cw_err_fail("%s: %s", where, strerror(-rc));
  }
  char *r = *reply;
  if (strncmp(r, "error: ", 7) == 0 || strcmp(r, "error:\n") == 0) {
    r[strcspn(r, "\n")] = '\0';
    cw_err_fail("%s: %s", t->label, r[6] ? r + 7 : "error");
    goto fail;
  }
  if (r[0] == '\0') {
    cw_err_fail("%s: empty reply", t->label);
    goto fail;
  }
  return 0;
fail:
  free(r);
  *reply = NULL;
  return CW_EXIT_FAIL;
}

/* ---- the scan ------------------------------------------------------------------------------- */

/* "123.sock" -> 123, anything else -> -1 */
static int sock_name_pid(const char *name) {
  size_t len = strlen(name);
  if (len <= 5 || strcmp(name + len - 5, ".sock") != 0)
    return -1;
  return parse_pid(name, len - 5);
}

static int by_pid(const void *a, const void *b) {
  const struct cw_live *x = a, *y = b;
  return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Query one socket. 1: live (entry filled), 0: stale or gone (removed when stale). */
static int check_one(int pid, const char *path, const char *cmd, struct cw_live *e) {
  char *reply = NULL;
  int rc = cw_client_request(path, cmd, &reply);
  if (rc == -ECONNREFUSED && pid_alive(pid)) {
    /* a server between bind() and listen() refuses too: look once more before judging */
    usleep(REFUSED_RETRY_US);
    rc = cw_client_request(path, cmd, &reply);
  }
  if (rc == -ENOENT) /* its process removed it meanwhile */
    return 0;
  if (rc == -ECONNREFUSED || (rc < 0 && !pid_alive(pid))) {
    unlink(path);
    return 0;
  }
  e->pid = pid;
  memcpy(e->path, path, strlen(path) + 1); /* the caller checked it fits */
  e->reply = reply;
  e->err = rc;
  return 1;
}

int cw_client_scan(const char *cmd, struct cw_live **out) {
  struct cw_rundirs rd;
  struct cw_live *v = NULL;
  int n = 0, cap = 0;
  cw_client_rundirs(&rd);
  for (int i = 0; i < rd.n; i++) {
    DIR *d = opendir(rd.dir[i]);
    if (!d)
      continue;
    for (struct dirent *de; (de = readdir(d));) {
      int pid = sock_name_pid(de->d_name);
      char path[PATH_MAX];
      struct stat st;
      if (pid < 0)
        continue;
      int len = snprintf(path, sizeof path, "%s/%s", rd.dir[i], de->d_name);
      if (len < 0 || (size_t)len >= CW_SOCK_PATH_MAX || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        continue;
      if (n == cap) {
        int ncap = cap ? cap * 2 : 8;
        struct cw_live *nv = realloc(v, (size_t)ncap * sizeof *nv);
        if (!nv) {
          closedir(d);
          cw_client_scan_free(v, n);
          return -ENOMEM;
        }
        v = nv;
        cap = ncap;
      }
      n += check_one(pid, path, cmd, &v[n]);
    }
    closedir(d);
  }
  if (n > 1)
    qsort(v, (size_t)n, sizeof *v, by_pid);
  *out = v;
  return n;
}

void cw_client_scan_free(struct cw_live *v, int n) {
  for (int i = 0; i < n; i++)
    free(v[i].reply);
  free(v);
}
