/* spawn_storm.c - a host that starts 300 children from 3 threads (posix_spawn of /bin/true;
 * posix_spawnp whose file actions close, dup2 over and reopen tracked sockets, or closefrom; its own
 * image echoing over a connection handed down as fd 3, by posix_spawn and by vfork + dup2 +
 * close_range + execve) while 3 threads ping-pong with the echo server on 127.0.0.1:PORT and one
 * churns connections. Prints "spawns=..." (the same with or without preload) and "traffic ..." (its
 * own counts; movers= lists each open connection as fd:bytes_out:bytes_in:calls_out:calls_in),
 * holds until SIGTERM (at most 30 s), exits 0 when all was well. Usage: spawn_storm PORT | child */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MOVERS 3
#define SPAWNERS 3
#define PER_SPAWNER 100
#define KINDS 5
#define MOVER_MSG 512
#define CHURN_MSG 100
#define CHILD_MSG 200
#define CHURN_MAX 2000

extern char **environ;

static struct sockaddr_in echo_addr;
static char self_exe[4096];
static int stop; /* atomic: the spawners are done */
static volatile sig_atomic_t term;

/* Bytes and successful calls each way, as the host saw them. */
struct tally {
  long out, in, calls_out, calls_in;
};

/* The host's own counts: totals over every connection it closed, per mover for the open ones. */
static struct tally closed_tally;            /* atomic adds */
static long opened, closed, churned, errors; /* atomic */
static long spawned[KINDS], failed;          /* atomic */
static struct tally mover_tally[MOVERS];     /* each mover thread's own */
static long mover_rounds[MOVERS];
static int mover_fd[MOVERS];

static void bad(const char *what, int e) {
  fprintf(stderr, "spawn_storm: %s: %s\n", what, strerror(e));
  __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
}

static void add(long *v, long n) { __atomic_fetch_add(v, n, __ATOMIC_RELAXED); }

/* Send n bytes of a pattern seeded by seed on fd and read back the echo, comparing it. Counts
 * every successful call in *t. 0, or an errno value. */
static int echo_once(int fd, size_t n, int seed, struct tally *t) {
  char buf[MOVER_MSG], got[MOVER_MSG];
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)(seed * 31 + (int)i * 7);
  for (size_t done = 0; done < n;) {
    ssize_t w = write(fd, buf + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? errno : EPIPE;
    done += (size_t)w;
    t->out += w;
    t->calls_out++;
  }
  for (size_t done = 0; done < n;) {
    ssize_t r = read(fd, got + done, n - done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? errno : ECONNRESET;
    done += (size_t)r;
    t->in += r;
    t->calls_in++;
  }
  return memcmp(buf, got, n) == 0 ? 0 : EBADMSG;
}

static int echo_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&echo_addr, sizeof echo_addr) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  add(&opened, 1);
  return fd;
}

/* A connection this thread is done with: its bytes join the totals of closed connections. */
static void echo_close(int fd, const struct tally *t) {
  add(&closed_tally.out, t->out);
  add(&closed_tally.in, t->in);
  add(&closed_tally.calls_out, t->calls_out);
  add(&closed_tally.calls_in, t->calls_in);
  add(&closed, 1);
  close(fd);
}

/* ---- the host's traffic --------------------------------------------------------------------- */

static void *mover(void *arg) {
  int i = (int)(long)arg;
  for (int n = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); n++) {
    int e = echo_once(mover_fd[i], MOVER_MSG, n + i, &mover_tally[i]);
    if (e) {
      bad("mover echo", e);
      break;
    }
    mover_rounds[i]++;
  }
  return NULL;
}

static void *churn(void *arg) {
  for (int n = 0; n < CHURN_MAX && !__atomic_load_n(&stop, __ATOMIC_RELAXED); n++) {
    int fd = echo_connect();
    if (fd < 0) {
      bad("churn connect", errno);
      break;
    }
    struct tally t = {0};
    int e = echo_once(fd, CHURN_MSG, n, &t);
    echo_close(fd, &t);
    if (e) {
      bad("churn echo", e);
      break;
    }
    add(&churned, 1);
  }
  return arg;
}

/* ---- the children --------------------------------------------------------------------------- */

static int wait_child(pid_t pid, const char *what) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      bad(what, errno);
      return -1;
    }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "spawn_storm: %s: child wait status %d\n", what, st);
    return -1;
  }
  return 0;
}

/* A child of this image gets its own connection as fd 3: the parent echoes on it before and
 * after the child does, then closes it. vfork: dup2 and close_range run in the child through
 * whatever wraps them; posix_spawn: inside libc. */
static int spawn_echo_child(int use_vfork, int seed) {
  int fd = echo_connect();
  if (fd < 0) {
    bad("child connection", errno);
    return -1;
  }
  struct tally t = {0};
  int e = echo_once(fd, CHURN_MSG, seed, &t);
  char *argv[] = {"spawn_storm", "child", NULL};
  pid_t pid = -1;
  if (!e && use_vfork) {
    pid = vfork();
    if (pid == 0) {
      if (dup2(fd, 3) < 0 || close_range(4, ~0U, 0) < 0)
        _exit(120);
      execve(self_exe, argv, environ);
      _exit(127);
    }
    if (pid < 0)
      e = errno;
  } else if (!e) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 3);
    posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    e = posix_spawn(&pid, self_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
  }
  int rc = 0;
  if (e)
    bad("echo child", e);
  else if (wait_child(pid, use_vfork ? "vfork child" : "spawned child") < 0)
    rc = -1;
  if (!e && (e = echo_once(fd, CHURN_MSG, seed + 1, &t)) != 0)
    bad("echo after the child", e);
  echo_close(fd, &t);
  return e || rc ? -1 : 0;
}

static int spawn_true(int kind) {
  char *argv[] = {"true", NULL};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  pid_t pid;
  int e;
  if (kind == 0) {
    e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
  } else if (kind == 1) { /* the child's copies of tracked fds: closed, dup2'd over, reopened */
    posix_spawn_file_actions_addclose(&fa, mover_fd[0]);
    posix_spawn_file_actions_adddup2(&fa, mover_fd[1], mover_fd[0]);
    posix_spawn_file_actions_addopen(&fa, mover_fd[2], "/dev/null", O_RDONLY, 0);
    e = posix_spawnp(&pid, "true", &fa, NULL, argv, environ);
  } else { /* every fd above stderr closed in the child (close_range inside libc) */
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    e = posix_spawnp(&pid, "true", &fa, &at, argv, environ);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (e) {
    bad("posix_spawn", e);
    return -1;
  }
  return wait_child(pid, "true");
}

static void *spawner(void *arg) {
  int t = (int)(long)arg;
  for (int k = 0; k < PER_SPAWNER; k++) {
    int i = t * PER_SPAWNER + k, kind = i % KINDS, rc;
    if (kind == 2 || kind == 4)
      rc = spawn_echo_child(kind == 4, i);
    else
      rc = spawn_true(kind == 3 ? 3 : kind);
    add(&spawned[kind], 1);
    if (rc < 0)
      add(&failed, 1);
  }
  return NULL;
}

/* ---- main ----------------------------------------------------------------------------------- */

/* The child of this image: one echo over fd 3. Exit status 0 when it came back intact. With
 * SPAWN_STORM_CHILD_LOG set, appends "child pid=P sock=S" to that file, S telling whether a stats
 * socket of its own pid was in $CONNWARDEN_RUNDIR while it ran (the shim came along). */
static int child_main(void) {
  struct tally t = {0};
  int e = echo_once(3, CHILD_MSG, 77, &t);
  if (e) {
    fprintf(stderr, "spawn_storm child: %s\n", strerror(e));
    return 1;
  }
  const char *log = getenv("SPAWN_STORM_CHILD_LOG"), *rundir = getenv("CONNWARDEN_RUNDIR");
  if (log) {
    char sock[4096], line[128];
    snprintf(sock, sizeof sock, "%s/%d.sock", rundir ? rundir : "", (int)getpid());
    int n = snprintf(line, sizeof line, "child pid=%d sock=%d\n", (int)getpid(),
                     rundir && access(sock, F_OK) == 0);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
      return 3;
    close(fd);
  }
  return t.out == CHILD_MSG && t.in == CHILD_MSG ? 0 : 2;
}

static void on_term(int sig) { term = sig; }

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "child") == 0)
    return child_main();
  if (argc != 2) {
    fprintf(stderr, "usage: spawn_storm PORT | spawn_storm child\n");
    return 2;
  }
  alarm(60);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, on_term);
  ssize_t sl = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (sl <= 0) {
    perror("spawn_storm: readlink");
    return 2;
  }
  self_exe[sl] = '\0';
  echo_addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < MOVERS; i++)
    if ((mover_fd[i] = echo_connect()) < 0) {
      perror("spawn_storm: connect");
      return 2;
    }
  pthread_t mt[MOVERS], st[SPAWNERS], ct;
  for (long i = 0; i < MOVERS; i++)
    pthread_create(&mt[i], NULL, mover, (void *)i);
  pthread_create(&ct, NULL, churn, NULL);
  for (long i = 0; i < SPAWNERS; i++)
    pthread_create(&st[i], NULL, spawner, (void *)i);
  for (int i = 0; i < SPAWNERS; i++)
    pthread_join(st[i], NULL);
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < MOVERS; i++)
    pthread_join(mt[i], NULL);
  pthread_join(ct, NULL);

  long total = 0;
  for (int k = 0; k < KINDS; k++)
    total += spawned[k];
  printf("spawns=%ld kinds=%ld,%ld,%ld,%ld,%ld failed=%ld errors=%ld\n", total, spawned[0],
         spawned[1], spawned[2], spawned[3], spawned[4], failed, errors);
  struct tally all = closed_tally;
  long rounds = 0;
  char movers[512] = "";
  for (int i = 0; i < MOVERS; i++) {
    const struct tally *m = &mover_tally[i];
    all.out += m->out;
    all.in += m->in;
    all.calls_out += m->calls_out;
    all.calls_in += m->calls_in;
    rounds += mover_rounds[i];
    snprintf(movers + strlen(movers), sizeof movers - strlen(movers), "%s%d:%ld:%ld:%ld:%ld",
             i ? "," : "", mover_fd[i], m->out, m->in, m->calls_out, m->calls_in);
  }
  printf("traffic opened=%ld closed=%ld churned=%ld bytes_out=%ld bytes_in=%ld calls_out=%ld "
         "calls_in=%ld rounds=%ld movers=%s\n",
         opened, closed, churned, all.out, all.in, all.calls_out, all.calls_in, rounds, movers);
  for (int i = 0; i < 300 && !term; i++)
    usleep(100000);
  for (int i = 0; i < MOVERS; i++)
    close(mover_fd[i]);
  printf("done\n");
  return failed || errors ? 1 : 0;
}
