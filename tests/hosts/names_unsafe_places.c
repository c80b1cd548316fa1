/* names_unsafe_places.c - the resolver where the shim must change nothing, with
 * preload_fakedns.so answering (see there):
 * vfork: a vfork child resolves lo-child.fake.test (127.0.0.1) and exits; the parent then connects
 *   to 127.0.0.1 by address and prints "vfork connected" (a test reads that its connection has
 *   no name: the child learned nothing into the parent's memory);
 * signal: for SECS seconds the main thread resolves hN.fake.test names in a loop while a timer's
 *   SIGALRM handler (every 200 us) resolves sig-handler.fake.test, and checks each answer; prints
 *   {"handler_calls": H, "main_calls": M, "wrong": W} (nothing may hang: the test bounds it).
 * Usage: names_unsafe_places vfork|signal [SECS]. Then waits for its stdin to close. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handler_calls, wrong;

static int is_loopback(const struct addrinfo *ai) {
  return ai && ai->ai_family == AF_INET &&
         ((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(0x7f000001);
}

static void on_alarm(int sig) {
  int e = errno;
  struct addrinfo *res;
  if (getaddrinfo("sig-handler.fake.test", "80", NULL, &res) != 0 || !is_loopback(res))
    wrong++;
  else
    freeaddrinfo(res);
  handler_calls++;
  errno = e;
}

static int listener(struct sockaddr_in *sa) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t len = sizeof *sa;
  *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  if (l < 0 || bind(l, (struct sockaddr *)sa, sizeof *sa) < 0 || listen(l, 4) < 0 ||
      getsockname(l, (struct sockaddr *)sa, &len) < 0)
    exit(1);
  return l;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "vfork") == 0) {
    struct sockaddr_in sa;
    listener(&sa);
    pid_t p = vfork();
    if (p == 0) {
      struct addrinfo *res;
      _exit(getaddrinfo("lo-child.fake.test", "80", NULL, &res) == 0 && is_loopback(res) ? 0 : 1);
    }
    int st;
    if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return 1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
      return 1;
    printf("vfork connected\n");
  } else {
    double secs = argc > 2 ? atof(argv[2]) : 2;
    struct sigaction act = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &act, NULL);
    struct itimerval it = {.it_interval = {0, 200}, .it_value = {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    long main_calls = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
      char name[64];
      snprintf(name, sizeof name, "h%ld.fake.test", main_calls);
      struct addrinfo *res;
      if (getaddrinfo(name, "80", NULL, &res) == 0)
        freeaddrinfo(res);
      else
        wrong++;
      main_calls++;
      clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("{\"handler_calls\": %d, \"main_calls\": %ld, \"wrong\": %d}\n", (int)handler_calls, main_calls,
           (int)wrong);
  }
  fflush(stdout);
  char b;
  while (read(0, &b, 1) > 0)
    ;
  return 0;
}
