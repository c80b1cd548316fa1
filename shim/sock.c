/* sock.c - kernel facts about an fd (type, addresses, inode, TCP state). Any thread; takes no
 * lock; non-blocking system calls only. */
#define _GNU_SOURCE
#include "sock.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include "config.h"
#include "real.h"

int cw_sock_is_tcp(int fd) {
  int v;
  socklen_t l = sizeof v;
  if (CW_REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || (v != AF_INET && v != AF_INET6))
    return 0;
  l = sizeof v;
  if (CW_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM)
    return 0;
  l = sizeof v;
  if (CW_REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) < 0 || v != IPPROTO_TCP)
    return 0;
  return 1;
}

uint64_t cw_sock_ino(int fd) {
  struct stat st;
  if (CW_RAW(SYS_fstat, fd, &st) < 0)
    return 0;
  return (uint64_t)st.st_ino;
}

void cw_sock_local(int fd, struct cw_addr *a) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (CW_RAW(SYS_getsockname, fd, &ss, &l) == 0)
    cw_addr_from_sockaddr(a, (struct sockaddr *)&ss, l);
}

static void peer_of(int fd, struct cw_addr *a) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (CW_RAW(SYS_getpeername, fd, &ss, &l) == 0)
    cw_addr_from_sockaddr(a, (struct sockaddr *)&ss, l);
}

int cw_sock_probe(int fd, int dir, const struct sockaddr *sa, socklen_t salen, int known_tcp,
                  struct cw_conn_info *info) {
  memset(info, 0, offsetof(struct cw_conn_info, host)); /* the name is empty: its first byte */
  info->host[0] = '\0';
  if (!known_tcp && !cw_sock_is_tcp(fd))
    return -ENOTSOCK;
  info->fd = fd;
  info->dir = dir;
  info->ino = cw_sock_ino(fd);
  cw_addr_from_sockaddr(&info->peer, sa, salen);
  if (info->peer.family == 0)
    peer_of(fd, &info->peer);
  return 0;
}

static int ephemeral(uint16_t port) {
  static unsigned lo = 32768, hi = 60999; /* the kernel default, refined once below */
  static int read_range;                  /* written once, at start-up, by the constructor */
  if (!read_range) {
    read_range = 1;
    char buf[64];
    long fd = CW_RAW(SYS_openat, AT_FDCWD, "/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
    long n = fd < 0 ? -1 : CW_RAW(SYS_read, fd, buf, sizeof buf - 1);
    if (fd >= 0)
      CW_RAW(SYS_close, fd);
    unsigned a, b;
    if (n > 0 && (buf[n] = '\0', sscanf(buf, "%u %u", &a, &b) == 2)) {
      lo = a;
      hi = b;
    }
  }
  return port >= lo && port <= hi;
}

int cw_sock_probe_inherited(int fd, struct cw_conn_info *info) {
  int v;
  socklen_t l = sizeof v;
  if (CW_REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || v)
    return -ENOTSOCK; /* a listener is not a connection */
  int rc = cw_sock_probe(fd, CW_DIR_OUT, NULL, 0, 0, info);
  if (rc < 0)
    return rc;
  cw_sock_local(fd, &info->local);
  if (info->peer.family == 0)
    return -ENOTCONN;
  info->inherited = 1;
  info->dir = ephemeral(info->local.port) ? CW_DIR_OUT : CW_DIR_IN;
  return 0;
}

const char *cw_tcp_state_name(int state) {
  static const char *const names[] = {
      "?",          "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
      "CLOSE",      "CLOSE_WAIT",  "LAST_ACK", "LISTEN",     "CLOSING",   "NEW_SYN_RECV"};
  if (state < 0 || (size_t)state >= CW_ARRAY_LEN(names))
    return "?";
  return names[state];
}

int cw_sock_connecting(int fd) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  return CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state != TCP_CLOSE;
}

int cw_sock_connect_failed(int fd) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  return CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state == TCP_CLOSE;
}

int cw_sock_unread(int fd) {
  int inq = 0;
  if (CW_RAW(SYS_ioctl, fd, SIOCINQ, &inq) < 0 || inq < 0)
    inq = 0;
  return inq;
}

const char *cw_sock_state(int fd) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  if (CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
    return "?";
  return cw_tcp_state_name(ti.tcpi_state);
}
