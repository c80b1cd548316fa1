/* fd_budget.c - what connects waiting at a cap cost the program's fd budget. It holds one
 * connection to 127.0.0.1:PORT and starts N non-blocking connects there ("pause queued": under a
 * cap of one they wait in the queue), then opens /dev/null and unconnected sockets by turns until
 * a call fails (EMFILE), and counts them. It also lists the fds below its soft RLIMIT_NOFILE that
 * it did not open itself ("foreign"), by kind ("pause exhausted"). Then it closes what it opened
 * and the held connection, and serves the N connects as poll says each became writable: SO_ERROR,
 * then close (which, under the cap, lets the next one start). It says how many completed, in
 * which order (the order they were started in, or the first one out of it), and what failed.
 * Lines name no fd number, so runs with and without the preload compare line by line; the pauses
 * wait for a line on stdin (20 s at most). Usage: fd_budget PORT N */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hostlib.h"

#define MAXN 4096
#define MAXFD 65536

static unsigned char mine[MAXFD]; /* fds this program opened (or was given: 0, 1, 2) */

static void own(int fd) {
  if (fd >= 0 && fd < MAXFD)
    mine[fd] = 1;
}

/* What kind of file fd is, for the list of foreign fds. */
static const char *kind(int fd) {
  static char k[64];
  char path[64], target[128];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  target[n > 0 ? n : 0] = '\0';
  if (strncmp(target, "socket:", 7) != 0) {
    snprintf(k, sizeof k, "%.63s", strncmp(target, "anon_inode:", 11) == 0 ? target + 11 : "file");
    return k;
  }
  int dom = 0, listening = 0;
  socklen_t l = sizeof dom;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
  l = sizeof listening;
  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
  snprintf(k, sizeof k, "%s%s", dom == AF_UNIX ? "unix" : dom == AF_INET ? "tcp" : dom == AF_INET6 ? "tcp6" : "socket",
           listening ? "-listener" : "");
  return k;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fd_budget PORT N\n");
    return 2;
  }
  alarm(120);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int n = atoi(argv[2]);
  if (n < 1 || n > MAXN)
    return 2;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  long limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > MAXFD ? MAXFD : (long)rl.rlim_cur;
  own(0), own(1), own(2);

  int held = socket(AF_INET, SOCK_STREAM, 0);
  own(held);
  int r = connect(held, (struct sockaddr *)&to, sizeof to);
  printf("held %s\n", res(r, errno));
  static int q[MAXN];
  int inprogress = 0, other = 0;
  for (int i = 0; i < n; i++) {
    q[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    own(q[i]);
    if (connect(q[i], (struct sockaddr *)&to, sizeof to) < 0 && errno == EINPROGRESS)
      inprogress++;
    else
      other++;
  }
  printf("started %d: EINPROGRESS %d, other %d\n", n, inprogress, other);
  pause_for("queued");

  /* files and sockets by turns until a call fails */
  static int extra[MAXFD];
  int nextra = 0, err = 0;
  for (;;) {
    int fd = nextra % 2 ? socket(AF_INET, SOCK_STREAM, 0) : open("/dev/null", O_RDONLY);
    if (fd < 0) {
      err = errno;
      break;
    }
    own(fd);
    extra[nextra++] = fd;
  }
  printf("opened %d more, then %s\n", nextra, res(-1, err));
  static char kinds[MAXFD][16];
  int nforeign = 0;
  for (int fd = 0; fd < limit; fd++)
    if (!mine[fd] && fcntl(fd, F_GETFD) >= 0)
      snprintf(kinds[nforeign++], sizeof kinds[0], "%.15s", kind(fd));
  qsort(kinds, (size_t)nforeign, sizeof kinds[0], by_name);
  printf("foreign below the limit %d:", nforeign);
  for (int i = 0; i < nforeign; i++)
    printf(" %s", kinds[i]);
  printf("\n");
  pause_for("exhausted");

  for (int i = 0; i < nextra; i++)
    close(extra[i]);
  close(held);
  /* serve the connects as they become writable, each closed at once */
  static struct pollfd p[MAXN];
  static int idx[MAXN], done[MAXN], errs[256];
  int completed = 0, left = n, order_ok = 1, first_out = -1, next_in_order = 0;
  double t0 = mono();
  while (left > 0 && mono() - t0 < 60) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if (!done[i]) {
        p[m] = (struct pollfd){.fd = q[i], .events = POLLOUT};
        idx[m++] = i;
      }
    if (poll(p, (nfds_t)m, 1000) <= 0)
      continue;
    for (int k = 0; k < m; k++) {
      if (!p[k].revents)
        continue;
      int i = idx[k], soerr = 0;
      socklen_t sl = sizeof soerr;
      getsockopt(q[i], SOL_SOCKET, SO_ERROR, &soerr, &sl);
      if (soerr)
        errs[soerr < 256 ? soerr : 0]++;
      else
        completed++;
      if (i != next_in_order && order_ok) {
        order_ok = 0;
        first_out = next_in_order;
      }
      next_in_order++;
      done[i] = 1;
      left--;
      close(q[i]);
    }
  }
  printf("completed %d of %d, %s", completed, n, order_ok ? "in the order started" : "out of order");
  if (!order_ok)
    printf(" (the first out of order: %d)", first_out);
  printf("; not done %d; errors", left);
  int any = 0;
  for (int e = 0; e < 256; e++)
    if (errs[e]) {
      printf(" %s=%d", strerrorname_np(e) ? strerrorname_np(e) : "?", errs[e]);
      any = 1;
    }
  printf("%s\n", any ? "" : " none");
  fprintf(stderr, "served the connects in %.2f s\n", mono() - t0);
  pause_for("served");
  return 0;
}
