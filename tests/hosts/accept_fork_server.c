/* accept_fork_server.c - a server that accepts, then forks a child to serve each connection, as
 * PostgreSQL's postmaster does. It listens on 127.0.0.1 ("pid=P port=L") and accepts N
 * connections, forking a child for each ("child=C fd=F"). MODE says what the parent does with its
 * own copy of the connection:
 *   close  closes it at once (PostgreSQL): the child is then its only holder;
 *   keep   keeps it, untouched, until that child has exited: both hold it all along (later
 *          children close the copies they inherit of earlier connections).
 * A child greets with "child C\n", echoes until the end of the connection or an error, says
 * "child=C end=eof" (or "end=-1 ERRNAME") and exits 0. The parent then waits for its children,
 * says "reaped=N bad=B" and exits. Usage: accept_fork_server MODE [N]. Everything ends within
 * 30 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/wait.h>
#include "hostlib.h"

static void serve(int fd) {
  char buf[4096];
  int n = snprintf(buf, sizeof buf, "child %d\n", (int)getpid());
  ssize_t r = write_all(fd, buf, (size_t)n);
  while (r == 0 && (r = read(fd, buf, sizeof buf)) > 0)
    r = write_all(fd, buf, (size_t)r);
  printf("child=%d end=%s\n", (int)getpid(), r == 0 ? "eof" : res(-1, errno));
  close(fd);
  /* a moment before exiting, as a server's own clean-up takes: an event line the shim's reaper
   * holds while it finishes its round (written when it lets go of its lock) dies with a process
   * that exits the instant the reap woke it */
  usleep(100000);
  exit(0);
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "close") && strcmp(argv[1], "keep"))) {
    fprintf(stderr, "usage: accept_fork_server close|keep [N]\n");
    return 2;
  }
  int keep = !strcmp(argv[1], "keep"), n = argc > 2 ? atoi(argv[2]) : 1;
  alarm(30); /* never outlive a broken test (a fork child sets its own) */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a;
  int lfd = loopback_listener(&a, 16);
  if (lfd < 0 || n < 1 || n > 64) {
    perror("accept_fork_server: listener");
    return 2;
  }
  printf("pid=%d port=%d\n", (int)getpid(), ntohs(a.sin_port));
  pid_t kids[64];
  int kept[64];
  for (int i = 0; i < n; i++) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      perror("accept_fork_server: accept");
      return 2;
    }
    pid_t child = fork();
    if (child < 0) {
      perror("accept_fork_server: fork");
      return 2;
    }
    if (child == 0) {
      alarm(30);
      close(lfd);
      for (int j = 0; j < i; j++) /* the copies the parent keeps of earlier connections */
        if (kept[j] >= 0)
          close(kept[j]);
      serve(fd);
    }
    printf("child=%d fd=%d\n", (int)child, fd);
    kids[i] = child;
    kept[i] = keep ? fd : -1;
    if (!keep)
      close(fd);
  }
  close(lfd);
  int bad = 0;
  for (int done = 0; done < n; done++) {
    int st;
    pid_t p = wait(&st);
    if (p < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad++;
    for (int i = 0; i < n; i++)
      if (kids[i] == p && kept[i] >= 0) {
        close(kept[i]);
        kept[i] = -1;
      }
  }
  printf("reaped=%d bad=%d\n", n, bad);
  return bad ? 1 : 0;
}
