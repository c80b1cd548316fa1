/* errno_table.c - calls the interposed functions in failing and in successful cases, in a fixed
 * order, printing "name=ret/errno-name" per call ("sentinel": errno kept the value set before the
 * call, as a successful call must). Meant to print the same bytes with and without the preload;
 * leaves one outbound connection open at exit, for a leak check to show the shim was there. */
#define _GNU_SOURCE
#include <netdb.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/select.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SENTINEL 4242 /* no errno has this value */

/* The fortified entry points a program built with _FORTIFY_SOURCE calls, called here directly. */
extern ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
extern ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *from, socklen_t *fromlen);

/* Set up before the table runs; the cases refer to them. */
static int devnull = -1, tmpfile_fd = -1, lfd = -1, unconnected = -1, refused_sock = -1;
static int nonblock_sock = -1, epfd = -1, pipefd[2] = {-1, -1};
static int fastopen_sock = -1, fastopen_nb = -1;
static struct sockaddr_in listen_addr, closed_addr;
/* Made by the cases themselves. */
static int c = -1, a = -1, d = -1, c2 = -1, a2 = -1;
static char buf[64];
static struct iovec iov = {.iov_base = buf, .iov_len = 5};

static long make_refused_target(void) {
  /* a port bound but never listened on: connect() to it is refused */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  closed_addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof closed_addr;
  if (s < 0 || bind(s, (struct sockaddr *)&closed_addr, l) < 0 || getsockname(s, (struct sockaddr *)&closed_addr, &l) < 0)
    return -1;
  return s;
}

static void setup(void) {
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  char path[] = "/tmp/errno_table.XXXXXX";
  tmpfile_fd = mkostemp(path, O_CLOEXEC);
  if (tmpfile_fd >= 0) {
    unlink(path);
    if (write(tmpfile_fd, "0123456789", 10) != 10)
      tmpfile_fd = -1;
  }
  int keep = (int)make_refused_target(); /* held open so nothing else takes the port */
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  listen_addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof listen_addr;
  unconnected = socket(AF_INET, SOCK_STREAM, 0);
  refused_sock = socket(AF_INET, SOCK_STREAM, 0);
  nonblock_sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  fastopen_sock = socket(AF_INET, SOCK_STREAM, 0);
  fastopen_nb = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (devnull < 0 || tmpfile_fd < 0 || keep < 0 || lfd < 0 ||
      bind(lfd, (struct sockaddr *)&listen_addr, l) < 0 ||
      getsockname(lfd, (struct sockaddr *)&listen_addr, &l) < 0 || unconnected < 0 ||
      refused_sock < 0 || nonblock_sock < 0 || fastopen_sock < 0 || fastopen_nb < 0 || epfd < 0 ||
      pipe(pipefd) < 0 || write(pipefd[1], "spliced", 7) != 7) {
    perror("errno_table: setup");
    exit(2);
  }
}

#define SA(x) ((struct sockaddr *)&(x))
/* the fortified poll entry points, declared here: no header does without _FORTIFY_SOURCE */
int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m, size_t fdslen);
#define CASE(name, expr) static long case_##name(void) { return (long)(expr); }

/* ---- failures ---- */
CASE(close_minus1, close(-1))
CASE(close_9999, close(9999))
CASE(read_badfd, read(-1, buf, 10))
CASE(write_badfd, write(9999, buf, 10))
CASE(readv_badfd, readv(-1, &iov, 1))
CASE(writev_badfd, writev(-1, &iov, 1))
CASE(recv_badfd, recv(-1, buf, 10, 0))
CASE(send_badfd, send(-1, buf, 10, 0))
CASE(recv_notsock, recv(devnull, buf, 10, 0))
CASE(send_notsock, send(devnull, buf, 10, 0))
CASE(recvfrom_badfd, recvfrom(-1, buf, 10, 0, NULL, NULL))
CASE(sendto_badfd, sendto(-1, buf, 10, 0, NULL, 0))
CASE(recvmsg_badfd, recvmsg(-1, &(struct msghdr){.msg_iov = &iov, .msg_iovlen = 1}, 0))
CASE(sendmsg_badfd, sendmsg(-1, &(struct msghdr){.msg_iov = &iov, .msg_iovlen = 1}, 0))
CASE(recvmmsg_badfd, recvmmsg(-1, &(struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}}, 1, 0, NULL))
CASE(sendmmsg_badfd, sendmmsg(-1, &(struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}}, 1, 0))
CASE(socket_badtype, socket(AF_INET, 12345, 0))
CASE(socket_badfamily, socket(12345, SOCK_STREAM, 0))
CASE(connect_refused, connect(refused_sock, SA(closed_addr), sizeof closed_addr))
CASE(connect_notsock, connect(devnull, SA(listen_addr), sizeof listen_addr))
CASE(connect_badfd, connect(-1, SA(listen_addr), sizeof listen_addr))
CASE(listen_badfd, listen(-1, 1))
CASE(accept_notlistening, accept(unconnected, NULL, NULL))
CASE(accept_badfd, accept(-1, NULL, NULL))
CASE(accept4_badflags, accept4(unconnected, NULL, NULL, 0x7fff))
CASE(shutdown_notconn, shutdown(unconnected, SHUT_RDWR))
CASE(shutdown_badfd, shutdown(-1, SHUT_RDWR))
CASE(dup_badfd, dup(-1))
CASE(dup2_to_minus1, dup2(devnull, -1))
CASE(dup2_badfd, dup2(-1, 50))
CASE(dup3_same_fd, dup3(devnull, devnull, 0))
CASE(fcntl_dupfd_badfd, fcntl(-1, F_DUPFD, 0))
CASE(fcntl_dupfd_badarg, fcntl(devnull, F_DUPFD, -1))
CASE(fcntl_getfl_badfd, fcntl(9999, F_GETFL))
CASE(close_range_inverted, close_range(5, 3, 0))
CASE(close_range_badflags, close_range(100000, 100001, 1u << 30))
CASE(sendfile_badfds, sendfile(-1, -1, NULL, 10))
CASE(splice_badfds, splice(-1, NULL, -1, NULL, 10, 0))
CASE(syscall_close_minus1, syscall(SYS_close, -1))
CASE(syscall_dup_badfd, syscall(SYS_dup, -1))
CASE(getsockopt_notsock, getsockopt(devnull, SOL_SOCKET, SO_ERROR, buf, &(socklen_t){sizeof(int)}))
static struct pollfd *volatile bad_pollfds = (struct pollfd *)8; /* EFAULT, unseen by the compiler */
CASE(poll_badaddr, poll(bad_pollfds, 1, 0))
CASE(ppoll_badtime, ppoll(&(struct pollfd){.fd = -1}, 1, &(struct timespec){.tv_nsec = -1}, NULL))
CASE(__poll_chk_badaddr, __poll_chk(bad_pollfds, 1, 0, 8))
CASE(__ppoll_chk_badtime, __ppoll_chk(&(struct pollfd){.fd = -1}, 1, &(struct timespec){.tv_nsec = -1}, NULL, 8))
CASE(select_badnfds, select(-1, NULL, NULL, NULL, &(struct timeval){0}))
CASE(pselect_badnfds, pselect(-1, NULL, NULL, NULL, &(struct timespec){0}, NULL))
CASE(epoll_ctl_badfd, epoll_ctl(epfd, EPOLL_CTL_ADD, -1, &(struct epoll_event){.events = EPOLLIN}))
CASE(execve_missing, execve("/nonexistent/errno_table", (char *[]){"x", NULL}, (char *[]){NULL}))
CASE(__read_chk_badfd, __read_chk(-1, buf, 10, sizeof buf))
CASE(__recv_chk_badfd, __recv_chk(-1, buf, 10, sizeof buf, 0))
CASE(__recvfrom_chk_badfd, __recvfrom_chk(-1, buf, 10, sizeof buf, 0, NULL, NULL))
CASE(fcntl64_getfl_badfd, fcntl64(9999, F_GETFL))
CASE(sendfile64_badfds, sendfile64(-1, -1, NULL, 10))
#define MISSING "/nonexistent/errno_table"
#define NOT_ON_PATH "connwarden-errno-table-no-such-program"
CASE(execv_missing, execv(MISSING, (char *[]){"x", NULL}))
CASE(execvp_missing, execvp(NOT_ON_PATH, (char *[]){"x", NULL}))
CASE(execvpe_missing, execvpe(NOT_ON_PATH, (char *[]){"x", NULL}, (char *[]){NULL}))
CASE(execveat_badfd, execveat(-1, "x", (char *[]){"x", NULL}, (char *[]){NULL}, 0))
CASE(fexecve_badfd, fexecve(-1, (char *[]){"x", NULL}, (char *[]){NULL}))
CASE(execl_missing, execl(MISSING, "x", (char *)NULL))
CASE(execlp_missing, execlp(NOT_ON_PATH, "x", (char *)NULL))
CASE(execle_missing, execle(MISSING, "x", (char *)NULL, (char *[]){NULL}))

/* ---- successes: errno must stay the sentinel ---- */
CASE(listen_ok, listen(lfd, 8)) /* under the shim: the stats server starts here, the first
                                   TCP listen or connection of the process */
CASE(socket_ok, c = socket(AF_INET, SOCK_STREAM, 0))
CASE(connect_ok, connect(c, SA(listen_addr), sizeof listen_addr)) /* first tracked connection */
CASE(accept_ok, a = accept(lfd, NULL, NULL))
CASE(send_ok, send(c, "hello", 5, 0))
CASE(recv_ok, recv(a, buf, 5, 0))
CASE(write_ok, write(a, "world", 5))
CASE(read_ok, read(c, buf, 5))
CASE(writev_ok, writev(c, &iov, 1))
CASE(readv_ok, readv(a, &iov, 1))
CASE(sendmsg_ok, sendmsg(a, &(struct msghdr){.msg_iov = &iov, .msg_iovlen = 1}, 0))
CASE(recvmsg_ok, recvmsg(c, &(struct msghdr){.msg_iov = &iov, .msg_iovlen = 1}, 0))
CASE(sendto_ok, sendto(c, "12345", 5, 0, NULL, 0))
CASE(recvfrom_ok, recvfrom(a, buf, 5, 0, NULL, NULL))
CASE(sendmmsg_ok, sendmmsg(a, &(struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}}, 1, 0))
CASE(recvmmsg_ok, recvmmsg(c, &(struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}}, 1, MSG_WAITALL, NULL))
CASE(send_for_chk_ok, send(c, "abcdefghijklmno", 15, 0))
CASE(__read_chk_ok, __read_chk(a, buf, 5, sizeof buf))
CASE(__recv_chk_ok, __recv_chk(a, buf, 5, sizeof buf, MSG_WAITALL))
CASE(__recvfrom_chk_ok, __recvfrom_chk(a, buf, 5, sizeof buf, MSG_WAITALL, NULL, NULL))
CASE(recv_tracked_wouldblock, recv(a, buf, 5, MSG_DONTWAIT))
CASE(sendfile_ok, sendfile(c, tmpfile_fd, &(off_t){0}, 10))
CASE(splice_ok, splice(pipefd[0], NULL, c, NULL, 7, 0))
CASE(recv_all_ok, recv(a, buf, 17, MSG_WAITALL))
CASE(sendfile64_ok, sendfile64(c, tmpfile_fd, &(off64_t){0}, 10))
CASE(recv_sendfile64_ok, recv(a, buf, 10, MSG_WAITALL))
CASE(fcntl64_getfl_ok, fcntl64(c, F_GETFL))
CASE(second_socket_ok, c2 = socket(AF_INET, SOCK_STREAM, 0))
CASE(second_connect_ok, connect(c2, SA(listen_addr), sizeof listen_addr))
CASE(accept4_ok, a2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC))
CASE(close_second_pair_ok, close(c2) | close(a2))
CASE(getsockopt_ok, getsockopt(c, SOL_SOCKET, SO_ERROR, buf, &(socklen_t){sizeof(int)}))
CASE(poll_ok, poll(&(struct pollfd){.fd = c, .events = POLLOUT}, 1, 0))
CASE(ppoll_ok, ppoll(&(struct pollfd){.fd = c, .events = POLLOUT}, 1, &(struct timespec){0}, NULL))
CASE(__poll_chk_ok, __poll_chk(&(struct pollfd){.fd = c, .events = POLLOUT}, 1, 0, sizeof(struct pollfd)))
CASE(__ppoll_chk_ok, __ppoll_chk(&(struct pollfd){.fd = c, .events = POLLOUT}, 1, &(struct timespec){0}, NULL, sizeof(struct pollfd)))
CASE(select_ok, select(0, NULL, NULL, NULL, &(struct timeval){0}))
CASE(pselect_ok, pselect(0, NULL, NULL, NULL, &(struct timespec){0}, NULL))
CASE(epoll_ctl_ok, epoll_ctl(epfd, EPOLL_CTL_ADD, c, &(struct epoll_event){.events = EPOLLIN}))
CASE(dup_ok, d = dup(c))
CASE(dup2_ok, dup2(c, 50))
CASE(dup3_ok, dup3(c, 51, O_CLOEXEC))
CASE(fcntl_dupfd_ok, fcntl(c, F_DUPFD, 60))
CASE(fcntl_dupfd_cloexec_ok, fcntl(c, F_DUPFD_CLOEXEC, 70))
CASE(fcntl_getfl_ok, fcntl(c, F_GETFL))
CASE(close_ok, close(d))
CASE(close_range_ok, close_range(50, 51, 0))
CASE(syscall_close_ok, syscall(SYS_close, 60))
CASE(closefrom_ok, (closefrom(70), 0))
CASE(fclose_ok, fclose(fdopen(dup(devnull), "r")))
CASE(shutdown_ok, shutdown(c, SHUT_WR))
CASE(close_accepted_ok, close(a))

/* ---- failures on a live, tracked connection ---- */
CASE(epoll_ctl_exists, epoll_ctl(epfd, EPOLL_CTL_ADD, c, &(struct epoll_event){.events = EPOLLIN}))
CASE(connect_isconn, connect(c, SA(listen_addr), sizeof listen_addr))
CASE(send_after_shutdown, send(c, "x", 1, MSG_NOSIGNAL))
CASE(recv_tracked_badflags, recv(c, buf, 5, MSG_OOB | MSG_DONTWAIT))
CASE(connect_nonblocking_refused, connect(nonblock_sock, SA(closed_addr), sizeof closed_addr))
/* TCP Fast Open sends connect (EOPNOTSUPP where the machine has the client side off) */
CASE(sendto_fastopen_refused, sendto(fastopen_sock, "x", 1, MSG_FASTOPEN, SA(closed_addr), sizeof closed_addr))
CASE(sendmsg_fastopen_nonblocking,
     sendmsg(fastopen_nb, &(struct msghdr){.msg_name = &closed_addr, .msg_namelen = sizeof closed_addr,
                                           .msg_iov = &iov, .msg_iovlen = 1}, MSG_FASTOPEN))

static void *nothing(void *arg) { return arg; }
static long case_pthread_create_ok(void) {
  pthread_t t;
  int rc = pthread_create(&t, NULL, nothing, NULL);
  int e = errno; /* the creator's errno, kept across the join */
  if (rc == 0)
    pthread_join(t, NULL);
  errno = e;
  return rc;
}

static long case_fork_ok(void) {
  fflush(stdout); /* the child must not print the parent's buffered lines again (ThreadSanitizer's
                     _exit flushes stdio) */
  errno = SENTINEL;
  pid_t p = fork();
  if (p == 0)
    _exit(0);
  int e = errno; /* the parent's errno right after fork, kept across waitpid */
  if (p > 0)
    waitpid(p, NULL, 0);
  errno = e;
  return p > 0 ? 1 : p; /* a pid differs from run to run: 1 stands for "a child" */
}

/* ---- the resolver: its result (and h_errno, which must be kept as well) ---- */

static const struct addrinfo stream_hints = {.ai_socktype = SOCK_STREAM};
static const struct addrinfo numeric_hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};

static long gai(const char *name, const struct addrinfo *hints) {
  struct addrinfo *res = NULL;
  int r = getaddrinfo(name, "80", hints, &res);
  int e = errno;
  if (res)
    freeaddrinfo(res);
  errno = e;
  return r;
}

/* a hostent's answer and h_errno as one number: found * 1000 + h_errno */
static long hostent_result(const struct hostent *h) { return (h != NULL) * 1000 + h_errno; }

static long ghbn_r(const char *name, int af) {
  struct hostent he, *res = NULL;
  char space[4096];
  int err = 0;
  h_errno = 0;
  int r = af ? gethostbyname2_r(name, af, &he, space, sizeof space, &res, &err)
             : gethostbyname_r(name, &he, space, sizeof space, &res, &err);
  return r * 100000 + (res != NULL) * 1000 + err;
}

/* getaddrinfo_a with nothing to do, and gai_error on a request never submitted: the C library
 * answers both at once, starting no thread (ThreadSanitizer crashes in the resolver's own thread,
 * with or without the shim: tests/e2e/names_getaddrinfo_a_names_connections.sh resolves for real) */
static struct gaicb gcb = {.ar_name = "localhost", .ar_request = &stream_hints};
static long gai_a(void) {
  struct gaicb *list[] = {&gcb};
  return getaddrinfo_a(GAI_NOWAIT, list, 0, NULL);
}

CASE(getaddrinfo_ok, gai("localhost", &stream_hints))
CASE(getaddrinfo_not_numeric, gai("localhost", &numeric_hints))
CASE(gethostbyname_found, (h_errno = 0, hostent_result(gethostbyname("localhost"))))
CASE(gethostbyname2_found, (h_errno = 0, hostent_result(gethostbyname2("localhost", AF_INET))))
CASE(gethostbyname2_badfamily, (h_errno = 0, hostent_result(gethostbyname2("localhost", AF_UNIX))))
CASE(gethostbyname_r_found, ghbn_r("localhost", 0))
CASE(gethostbyname2_r_found, ghbn_r("localhost", AF_INET))
CASE(getaddrinfo_a_ok, gai_a())
CASE(gai_error_ok, gai_error(&gcb))

struct entry {
  const char *name;
  long (*fn)(void);
};
#define E(name) {#name, case_##name}
static const struct entry table[] = {
    E(close_minus1), E(close_9999), E(read_badfd), E(write_badfd), E(readv_badfd),
    E(writev_badfd), E(recv_badfd), E(send_badfd), E(recv_notsock), E(send_notsock),
    E(recvfrom_badfd), E(sendto_badfd), E(recvmsg_badfd), E(sendmsg_badfd), E(recvmmsg_badfd),
    E(sendmmsg_badfd), E(socket_badtype), E(socket_badfamily), E(connect_refused),
    E(connect_notsock), E(connect_badfd), E(listen_badfd), E(accept_notlistening),
    E(accept_badfd), E(accept4_badflags), E(shutdown_notconn), E(shutdown_badfd), E(dup_badfd),
    E(dup2_to_minus1), E(dup2_badfd), E(dup3_same_fd), E(fcntl_dupfd_badfd),
    E(fcntl_dupfd_badarg), E(fcntl_getfl_badfd), E(close_range_inverted),
    E(close_range_badflags), E(sendfile_badfds), E(splice_badfds), E(syscall_close_minus1),
    E(syscall_dup_badfd), E(getsockopt_notsock), E(poll_badaddr), E(ppoll_badtime), E(__poll_chk_badaddr),
    E(__ppoll_chk_badtime), E(select_badnfds), E(pselect_badnfds), E(epoll_ctl_badfd), E(execve_missing),
    E(__read_chk_badfd), E(__recv_chk_badfd), E(__recvfrom_chk_badfd), E(fcntl64_getfl_badfd),
    E(sendfile64_badfds), E(execv_missing), E(execvp_missing), E(execvpe_missing),
    E(execveat_badfd), E(fexecve_badfd), E(execl_missing), E(execlp_missing), E(execle_missing),
    E(listen_ok), E(socket_ok), E(connect_ok), E(accept_ok), E(send_ok), E(recv_ok), E(write_ok),
    E(read_ok), E(writev_ok), E(readv_ok), E(sendmsg_ok), E(recvmsg_ok), E(sendto_ok),
    E(recvfrom_ok), E(sendmmsg_ok), E(recvmmsg_ok), E(send_for_chk_ok), E(__read_chk_ok),
    E(__recv_chk_ok), E(__recvfrom_chk_ok), E(recv_tracked_wouldblock), E(sendfile_ok),
    E(splice_ok), E(recv_all_ok), E(sendfile64_ok), E(recv_sendfile64_ok), E(fcntl64_getfl_ok),
    E(second_socket_ok), E(second_connect_ok), E(accept4_ok), E(close_second_pair_ok),
    E(pthread_create_ok), E(getsockopt_ok), E(poll_ok), E(ppoll_ok), E(__poll_chk_ok),
    E(__ppoll_chk_ok), E(select_ok), E(pselect_ok), E(epoll_ctl_ok), E(dup_ok), E(dup2_ok),
    E(dup3_ok), E(fcntl_dupfd_ok), E(fcntl_dupfd_cloexec_ok), E(fcntl_getfl_ok), E(close_ok),
    E(close_range_ok), E(syscall_close_ok), E(closefrom_ok), E(fclose_ok), E(fork_ok),
    E(shutdown_ok), E(close_accepted_ok),
    E(epoll_ctl_exists), E(connect_isconn), E(send_after_shutdown), E(recv_tracked_badflags),
    E(connect_nonblocking_refused), E(sendto_fastopen_refused), E(sendmsg_fastopen_nonblocking),
    E(getaddrinfo_ok), E(getaddrinfo_not_numeric), E(gethostbyname_found), E(gethostbyname2_found),
    E(gethostbyname2_badfamily), E(gethostbyname_r_found), E(gethostbyname2_r_found), E(getaddrinfo_a_ok),
    E(gai_error_ok),
};

int main(void) {
  alarm(30); /* never outlive a broken test */
  setup();
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    errno = SENTINEL;
    long r = table[i].fn();
    int e = errno;
    const char *en = e == SENTINEL ? "sentinel" : strerrorname_np(e);
    if (en)
      printf("%s=%ld/%s\n", table[i].name, r, en);
    else
      printf("%s=%ld/%d\n", table[i].name, r, e);
  }
  fflush(stdout);
  return 0; /* c stays open: the one connection a leak check reports */
}
