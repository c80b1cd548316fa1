/* test_log.c - event lines: the limiter lets one line of a kind through a second and counts the
 * rest, kinds apart; the summary line says how many, when the next line comes or a flush finds
 * the second over (at exit, at once); lines below the level are not counted. Where lines go:
 * stderr when it is a file, pipe, terminal or Unix socket, asked again at every line; never into
 * a TCP socket on fd 2 (the report directory's file instead, or dropped and counted); lines kept
 * under a lock go the same way. Each test starts with fresh windows and fd 2 on a file of its own.
 * objects: log.o table.o mem.o names.o addr.o sniff.o
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"

#define SEC 1000000000LL
#define T0 (1000 * SEC) /* any time: the limiter only compares times */

static int saved_stderr = -1;
static char dir[64];      /* this test's temporary directory */
static char err_path[96]; /* the file on fd 2 */

static int setup(void **state) {
  cw_log_fork_child(); /* fresh windows and count, as a new process has */
  cw_log_level = CW_LOG_WARN;
  cw_log_dir = NULL;
  snprintf(dir, sizeof dir, "/tmp/cw-test-log.XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(err_path, sizeof err_path, "%s/err", dir);
  int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
  return 0;
}

static int teardown(void **state) {
  dup2(saved_stderr, 2);
  close(saved_stderr);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

/* What a file holds, up to 4 KiB, as a string. */
static const char *slurp(const char *path) {
  static char buf[4096];
  buf[0] = '\0';
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return buf;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

/* What a socket or pipe end holds now (never waits). */
static const char *drain(int fd) {
  static char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n < 0 && errno == ENOTSOCK) {
    fcntl(fd, F_SETFL, O_NONBLOCK);
    n = read(fd, buf, sizeof buf - 1);
  }
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void assert_matches(const char *text, const char *pattern) {
  regex_t re;
  assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
  int rc = regexec(&re, text, 0, NULL, 0);
  regfree(&re);
  if (rc != 0)
    fail_msg("/%s/ not in: %s", pattern, text);
}

/* ---- the limiter ---------------------------------------------------------------------------- */

static void test_one_line_of_a_kind_a_second_and_the_rest_counted(void **state) {
  int64_t more, since;
  assert_true(cw_log_admit(CW_EV_REFUSED, T0, &more, &since));
  assert_int_equal(more, 0);
  for (int i = 1; i < 20; i++)
    assert_false(cw_log_admit(CW_EV_REFUSED, T0 + i * 50000000LL, &more, &since)); /* 0.05s .. 0.95s */
  assert_false(cw_log_admit(CW_EV_REFUSED, T0 + SEC - 1, &more, &since));
  /* the second is over: this line goes, after the summary of the 20 held back */
  assert_true(cw_log_admit(CW_EV_REFUSED, T0 + SEC, &more, &since));
  assert_int_equal(more, 20);
  assert_int_equal(since, T0);
  /* a new second from that line on */
  assert_false(cw_log_admit(CW_EV_REFUSED, T0 + SEC + SEC / 2, &more, &since));
  assert_true(cw_log_admit(CW_EV_REFUSED, T0 + 5 * SEC, &more, &since));
  assert_int_equal(more, 1);
  assert_int_equal(since, T0 + SEC);
  /* a quiet kind: every line goes, with nothing to sum up */
  for (int i = 6; i < 9; i++) {
    assert_true(cw_log_admit(CW_EV_REFUSED, T0 + i * SEC, &more, &since));
    assert_int_equal(more, 0);
  }
}

static void test_kinds_are_limited_apart(void **state) {
  int64_t more, since;
  for (int ev = 0; ev < CW_EV_KINDS; ev++) /* each kind's first line goes, at the same moment */
    assert_true(cw_log_admit((enum cw_event)ev, T0, &more, &since));
  for (int i = 0; i < 3; i++)
    assert_false(cw_log_admit(CW_EV_REFUSED, T0 + 1000, &more, &since));
  for (int i = 0; i < 5; i++)
    assert_false(cw_log_admit(CW_EV_QUEUE_TIMEOUT, T0 + 1000, &more, &since));
  assert_true(cw_log_admit(CW_EV_REFUSED, T0 + SEC, &more, &since));
  assert_int_equal(more, 3);
  assert_true(cw_log_admit(CW_EV_QUEUE_TIMEOUT, T0 + SEC, &more, &since));
  assert_int_equal(more, 5);
  assert_true(cw_log_admit(CW_EV_CLOSE_WAIT, T0 + SEC, &more, &since));
  assert_int_equal(more, 0);
}

static void test_every_kind_has_a_label(void **state) {
  for (int ev = 0; ev < CW_EV_KINDS; ev++) {
    const char *l = cw_log_label((enum cw_event)ev);
    assert_non_null(l);
    assert_true(l[0] != '\0');
    for (int other = 0; other < ev; other++)
      assert_string_not_equal(l, cw_log_label((enum cw_event)other));
  }
  assert_string_equal(cw_log_label(CW_EV_QUEUE_TIMEOUT), "queue timeout");
}

/* ---- summary lines -------------------------------------------------------------------------- */

static void test_twenty_lines_at_once_give_one_line_and_one_summary(void **state) {
  for (int i = 0; i < 20; i++)
    cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: connect fd %d to 127.0.0.1:9 waited 5ms", 100 + i);
  int64_t now = cw_now_coarse();
  cw_log_flush_summaries(now + SEC / 2); /* the second is not over: nothing yet */
  const char *out = slurp(err_path);
  assert_int_equal(count_lines(out), 1);
  char want[160];
  snprintf(want, sizeof want, "^connwarden\\[%d\\]: queue timeout: connect fd 100 to 127.0.0.1:9 waited 5ms$",
           (int)getpid());
  assert_matches(out, want);

  cw_log_flush_summaries(now + SEC); /* as the reaper's tick does */
  out = slurp(err_path);
  assert_int_equal(count_lines(out), 2);
  snprintf(want, sizeof want, "^connwarden\\[%d\\]: queue timeout: 19 more in the last 1\\.[0-9]s$", (int)getpid());
  assert_matches(out, want);

  cw_log_flush_summaries(now + 3 * SEC); /* told once */
  cw_log_flush_all_summaries();
  assert_int_equal(count_lines(slurp(err_path)), 2);
  assert_int_equal(cw_log_dropped(), 0);
}

static void test_the_next_line_after_the_second_brings_the_summary_first(void **state) {
  cw_log(CW_LOG_WARN, CW_EV_REAPED, "reaped: one");
  cw_log(CW_LOG_WARN, CW_EV_REAPED, "reaped: two");
  cw_log(CW_LOG_WARN, CW_EV_REAPED, "reaped: three");
  usleep(1020000);
  cw_log(CW_LOG_WARN, CW_EV_REAPED, "reaped: four");
  const char *out = slurp(err_path);
  assert_int_equal(count_lines(out), 3);
  assert_matches(out, "reaped: one\nconnwarden\\[[0-9]+\\]: reaped: 2 more in the last 1\\.[0-9]s\n"
                      "connwarden\\[[0-9]+\\]: reaped: four\n");
}

static void test_pending_summaries_are_written_at_exit(void **state) {
  cw_log(CW_LOG_ERROR, CW_EV_STATS, "stats off: a");
  cw_log(CW_LOG_ERROR, CW_EV_STATS, "stats off: b");
  cw_log(CW_LOG_ERROR, CW_EV_RELEASED, "released: c");
  cw_log_flush_all_summaries();
  const char *out = slurp(err_path);
  assert_int_equal(count_lines(out), 3);
  assert_matches(out, "^connwarden\\[[0-9]+\\]: stats off: 1 more in the last 0\\.[0-9]s$");
}

static void test_lines_below_the_level_are_neither_written_nor_counted(void **state) {
  for (int i = 0; i < 5; i++)
    cw_log(CW_LOG_INFO, CW_EV_REAPED, "reaped: %d", i);
  cw_log_level = CW_LOG_OFF;
  cw_log(CW_LOG_ERROR, CW_EV_REAPED, "reaped: off");
  cw_log_flush_all_summaries();
  assert_string_equal(slurp(err_path), "");
  cw_log_level = CW_LOG_INFO; /* the first line that passes goes at once: nothing was counted */
  cw_log(CW_LOG_INFO, CW_EV_REAPED, "reaped: shown");
  assert_int_equal(count_lines(slurp(err_path)), 1);
}

/* ---- where lines go ------------------------------------------------------------------------- */

/* A connected TCP pair on 127.0.0.1: *client and *server. */
static void tcp_pair(int *client, int *server) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(bind(l, (struct sockaddr *)&a, al), 0);
  assert_int_equal(listen(l, 1), 0);
  assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
  *client = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(*client, (struct sockaddr *)&a, al), 0);
  *server = accept(l, NULL, NULL);
  assert_true(*server >= 0);
  close(l);
}

static void test_a_tcp_socket_on_stderr_never_gets_a_line(void **state) {
  int c, s;
  tcp_pair(&c, &s);
  dup2(c, 2);
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: one");
  assert_int_equal(cw_log_dropped(), 1); /* no report directory: dropped, and counted */
  char rep[128];
  snprintf(rep, sizeof rep, "%s/reports", dir); /* created on the first line */
  cw_log_dir = rep;
  cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: two");
  assert_int_equal(cw_log_dropped(), 1);
  assert_string_equal(drain(s), "");
  char path[160];
  snprintf(path, sizeof path, "%s/connwarden.%d.log", rep, (int)getpid());
  assert_matches(slurp(path), "^connwarden\\[[0-9]+\\]: queue timeout: two\n$");
  cw_log(CW_LOG_WARN, CW_EV_CLOSE_WAIT, "close-wait leak: three"); /* appended */
  assert_int_equal(count_lines(slurp(path)), 2);
  assert_string_equal(drain(s), "");
  close(c);
  close(s);
}

static void test_stderr_is_asked_again_at_every_line(void **state) {
  int c, s, up[2], pp[2];
  tcp_pair(&c, &s);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, up), 0);
  assert_int_equal(pipe(pp), 0);
  int file = dup(2);

  dup2(up[0], 2); /* the journal's kind of stderr */
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: unix");
  assert_matches(drain(up[1]), "^connwarden\\[[0-9]+\\]: refused: unix\n$");
  dup2(c, 2);
  cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: tcp");
  dup2(pp[1], 2);
  cw_log(CW_LOG_WARN, CW_EV_REAPED, "reaped: pipe");
  assert_matches(drain(pp[0]), "^connwarden\\[[0-9]+\\]: reaped: pipe\n$");
  int null = open("/dev/null", O_WRONLY);
  dup2(null, 2); /* a device that is not a terminal */
  cw_log(CW_LOG_WARN, CW_EV_RELEASED, "released: null");
  close(2); /* no stderr at all */
  cw_log(CW_LOG_WARN, CW_EV_STATS, "stats off: closed");
  dup2(file, 2);
  cw_log(CW_LOG_WARN, CW_EV_CONFIG, "config: file");

  assert_string_equal(drain(s), "");
  assert_int_equal(cw_log_dropped(), 3);
  assert_matches(slurp(err_path), "^connwarden\\[[0-9]+\\]: config: file\n$");
  int fds[] = {c, s, up[0], up[1], pp[0], pp[1], file, null};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    close(fds[i]);
}

static void test_a_terminal_on_stderr_gets_the_lines(void **state) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
    skip(); /* no pseudo-terminals here */
  int t = open(ptsname(m), O_RDWR | O_NOCTTY);
  assert_true(t >= 0);
  dup2(t, 2);
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: tty");
  usleep(20000);
  assert_matches(drain(m), "refused: tty");
  assert_int_equal(cw_log_dropped(), 0);
  close(t);
  close(m);
}

static void test_lines_kept_under_a_lock_go_the_same_way(void **state) {
  int c, s;
  tcp_pair(&c, &s);
  dup2(c, 2);
  cw_locked++; /* as inside a shim lock: kept, not written */
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: held");
  cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: held");
  assert_int_equal(cw_log_dropped(), 0);
  cw_locked--;
  cw_log_flush(); /* as the last unlock does */
  assert_int_equal(cw_log_dropped(), 2);
  assert_string_equal(drain(s), "");
  close(c);
  close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_one_line_of_a_kind_a_second_and_the_rest_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kinds_are_limited_apart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_kind_has_a_label, setup, teardown),
      cmocka_unit_test_setup_teardown(test_twenty_lines_at_once_give_one_line_and_one_summary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_the_next_line_after_the_second_brings_the_summary_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pending_summaries_are_written_at_exit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lines_below_the_level_are_neither_written_nor_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_tcp_socket_on_stderr_never_gets_a_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stderr_is_asked_again_at_every_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_terminal_on_stderr_gets_the_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lines_kept_under_a_lock_go_the_same_way, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
