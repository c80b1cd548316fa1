/* raw_close.c - closes a TCP connection where no wrapper can see it (the close system call by
 * inline assembly, no libc), then reuses its fd number; one command per stdin line, "pid=P port=L"
 * first, "N CMD ok fd=F [A=B...]" or "N CMD FAIL errno-name" per command, ends at EOF (at most
 * 30 s). Same with or without the preload. */

/* Each "open" connects to the host's own 127.0.0.1 listener (never accepted). Commands:
 *   open        connect a new connection (fd=F)
 *   rawclose    close the connection's fd by a raw system call
 *   pipe        pipe(): fd= the read end, w= the write end
 *   pipeio      100 bytes through the pipe: written to w, read back from the read end
 *   file        create and open a temporary file (fd=F)
 *   fileio      write 100 bytes to the file, read them back with pread
 *   socket      socket(AF_INET, SOCK_STREAM) (fd=F), not connected
 *   connect     connect that socket to the listener
 *   release     close the pipe, file or socket left by the commands above */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hostlib.h"

static struct sockaddr_in listen_addr;
static int cur = -1;            /* the fd of the last open/pipe/file/socket */
static int wend = -1;           /* the pipe's write end */
static char tmpl[] = "/tmp/raw_close.XXXXXX";

/* close(fd) straight to the kernel: nothing in libc or any preload library sees it */
static long raw_close(int fd) {
  long ret;
#if defined(__x86_64__)
  __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_close), "D"((long)fd) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_close;
  register long x0 __asm__("x0") = fd;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8) : "memory");
  ret = x0;
#else
#error "raw_close supports x86_64 and aarch64"
#endif
  return ret;
}

static int run(const char *c, char *extra, size_t extra_len) {
  char data[100], back[100];
  memset(data, 'p', sizeof data);
  extra[0] = '\0';
  if (strcmp(c, "open") == 0 || strcmp(c, "socket") == 0) {
    cur = socket(AF_INET, SOCK_STREAM, 0);
    if (cur < 0 || strcmp(c, "socket") == 0)
      return cur;
    return connect(cur, (struct sockaddr *)&listen_addr, sizeof listen_addr);
  }
  if (strcmp(c, "connect") == 0)
    return connect(cur, (struct sockaddr *)&listen_addr, sizeof listen_addr);
  if (strcmp(c, "rawclose") == 0) {
    long r = raw_close(cur);
    if (r < 0) {
      errno = (int)-r;
      return -1;
    }
    return 0;
  }
  if (strcmp(c, "pipe") == 0) {
    int p[2];
    if (pipe(p) < 0)
      return -1;
    cur = p[0];
    wend = p[1];
    snprintf(extra, extra_len, " w=%d", wend);
    return 0;
  }
  if (strcmp(c, "pipeio") == 0) {
    if (write(wend, data, sizeof data) != (ssize_t)sizeof data || read(cur, back, sizeof back) != (ssize_t)sizeof back)
      return -1;
    return memcmp(data, back, sizeof data) == 0 ? 0 : -1;
  }
  if (strcmp(c, "file") == 0) {
    strcpy(tmpl, "/tmp/raw_close.XXXXXX");
    cur = mkostemp(tmpl, O_CLOEXEC);
    if (cur >= 0)
      unlink(tmpl);
    return cur;
  }
  if (strcmp(c, "fileio") == 0) {
    if (write(cur, data, sizeof data) != (ssize_t)sizeof data ||
        pread(cur, back, sizeof back, 0) != (ssize_t)sizeof back)
      return -1;
    return memcmp(data, back, sizeof data) == 0 ? 0 : -1;
  }
  if (strcmp(c, "release") == 0) {
    if (wend >= 0)
      close(wend);
    wend = -1;
    int r = close(cur);
    cur = -1;
    return r;
  }
  errno = EINVAL;
  return -1;
}

int main(void) {
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int lfd = loopback_listener(&listen_addr, 64);
  if (lfd < 0) {
    perror("raw_close: listener");
    return 2;
  }
  printf("pid=%d port=%d\n", (int)getpid(), ntohs(listen_addr.sin_port));
  char line[128], extra[64];
  for (int n = 1; fgets(line, sizeof line, stdin); n++) {
    line[strcspn(line, "\r\n")] = '\0';
    if (run(line, extra, sizeof extra) >= 0)
      printf("%d %s ok fd=%d%s\n", n, line, cur, extra);
    else
      printf("%d %s FAIL %s\n", n, line, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
  }
  return 0;
}
