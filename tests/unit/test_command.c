/* test_command.c - the stats protocol's command line parser (cw_cmd_parse): every verb, the
 * argument rules, tolerated blanks and \r, and the lines it must refuse with a reason.
 * Pure: no sockets, no state.
 * objects: command.o config.o statspath.o vars.o sniff.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "command.h"

struct parsed {
  int rc;
  struct cw_cmd cmd;
  char err[256];
};

static struct parsed parse(const char *line) {
  struct parsed p;
  memset(&p, 0, sizeof p);
  p.cmd.verb = (enum cw_verb)-1;
  p.rc = cw_cmd_parse(line, &p.cmd, p.err, sizeof p.err);
  return p;
}

/* The reason is one line, without the "error: " prefix the server adds. */
static void assert_refused_with(const struct parsed *p, const char *reason_part) {
  assert_int_equal(p->rc, -EINVAL);
  if (!strstr(p->err, reason_part))
    fail_msg("reason '%s' does not mention '%s'", p->err, reason_part);
  assert_null(strchr(p->err, '\n'));
  assert_true(strncmp(p->err, "error", 5) != 0);
}

static void test_each_verb_without_arguments_is_recognised(void **state) {
  static const struct {
    const char *line;
    enum cw_verb verb;
  } cases[] = {{"stats", CW_CMD_STATS},   {"conns", CW_CMD_CONNS}, {"metrics", CW_CMD_METRICS},
               {"config", CW_CMD_CONFIG}, {"help", CW_CMD_HELP}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct parsed p = parse(cases[i].line);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.cmd.verb, cases[i].verb);
    assert_string_equal(p.cmd.name, "");
    assert_string_equal(p.cmd.value, "");
  }
}

static void test_set_takes_a_name_and_a_value(void **state) {
  struct parsed p = parse("set max_conns 10");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.cmd.verb, CW_CMD_SET);
  assert_string_equal(p.cmd.name, "max_conns");
  assert_string_equal(p.cmd.value, "10");

  p = parse("set idle_timeout 250ms");
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.cmd.name, "idle_timeout");
  assert_string_equal(p.cmd.value, "250ms");
}

static void test_set_value_is_not_checked_by_the_parser(void **state) {
  /* names and values are judged by cw_config_set, which can say what the accepted forms are */
  struct parsed p = parse("set no_such_setting banana");
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.cmd.name, "no_such_setting");
  assert_string_equal(p.cmd.value, "banana");
}

static void test_reap_takes_one_fd_number(void **state) {
  static const struct {
    const char *line;
    int fd;
  } cases[] = {{"reap 7", 7}, {"reap 0", 0}, {" reap\t12 \r", 12}, {"reap 2147483647", 2147483647}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct parsed p = parse(cases[i].line);
    if (p.rc != 0)
      fail_msg("'%s' refused: %s", cases[i].line, p.err);
    assert_int_equal(p.cmd.verb, CW_CMD_REAP);
    assert_int_equal(p.cmd.fd, cases[i].fd);
  }
}

static void test_reap_refuses_what_is_not_an_fd_number(void **state) {
  static const char *const lines[] = {"reap -1", "reap +3",  "reap x",          "reap 7x",
                                      "reap 0x7", "reap 1.0", "reap 2147483648", "reap 99999999999999999999"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    if (p.rc != -EINVAL)
      fail_msg("'%s' accepted as fd %d", lines[i], p.cmd.fd);
    assert_refused_with(&p, "is not an fd number");
  }
  struct parsed p = parse("reap");
  assert_refused_with(&p, "usage: reap FD");
  p = parse("reap 1 2");
  assert_refused_with(&p, "usage: reap FD");
}

static void test_health_without_limits_takes_the_defaults(void **state) {
  struct parsed p = parse("health");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.cmd.verb, CW_CMD_HEALTH);
  assert_int_equal(p.cmd.health.max_abandoned, -1);
  assert_int_equal(p.cmd.health.max_close_wait, -1);
  assert_int_equal(p.cmd.health.max_queue_wait_ms, -1);
}

static void test_health_takes_its_limits_in_any_order(void **state) {
  struct parsed p = parse("health max_queue_wait=2.5s max_abandoned=3 max_close_wait=0");
  if (p.rc != 0)
    fail_msg("refused: %s", p.err);
  assert_int_equal(p.cmd.health.max_abandoned, 3);
  assert_int_equal(p.cmd.health.max_close_wait, 0);
  assert_int_equal(p.cmd.health.max_queue_wait_ms, 2500);
  p = parse("health max_queue_wait=off");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.cmd.health.max_queue_wait_ms, 0);
  assert_int_equal(p.cmd.health.max_abandoned, -1);
}

static void test_health_refuses_bad_limits_naming_them(void **state) {
  static const struct {
    const char *line, *reason;
  } cases[] = {
      {"health max_abandoned=x", "bad value 'x' for max_abandoned: expected a whole number"},
      {"health max_abandoned=-1", "bad value '-1' for max_abandoned"},
      {"health max_close_wait=", "bad value '' for max_close_wait"},
      {"health max_queue_wait=5 min", "unknown limit 'min'"},
      {"health max_queue_wait=5x", "bad value '5x' for max_queue_wait: expected a duration"},
      {"health max_abandoned", "unknown limit 'max_abandoned'"},
      {"health max_abandonedx=1", "unknown limit 'max_abandonedx=1'"},
      {"health abandoned=1", "unknown limit 'abandoned=1'"},
      {"health max_abandoned=1 max_abandoned=2", "max_abandoned given twice"},
      {"health max_abandoned=1 max_close_wait=1 max_queue_wait=1 x=1",
       "usage: health [max_abandoned=N] [max_close_wait=N] [max_queue_wait=D]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct parsed p = parse(cases[i].line);
    if (p.rc != -EINVAL)
      fail_msg("'%s' accepted", cases[i].line);
    assert_refused_with(&p, cases[i].reason);
  }
}

static void test_verbs_without_arguments_refuse_extra_words(void **state) {
  static const char *const lines[] = {"stats now", "conns 7", "metrics x", "config all", "help me"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    assert_refused_with(&p, "takes no arguments");
  }
  struct parsed p = parse("stats --json");
  assert_refused_with(&p, "stats takes no arguments");
}

static void test_set_with_too_few_or_too_many_words_shows_usage(void **state) {
  static const char *const lines[] = {"set", "set max_conns", "set max_conns 1 2",
                                      "set max_conns 1 2 3 4 5 6"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    assert_refused_with(&p, "usage: set NAME VALUE");
  }
}

static void test_trailing_cr_and_blanks_are_ignored(void **state) {
  static const char *const lines[] = {"stats\r", "stats ", "  stats", "\tstats\t", "stats \r",
                                      " stats \t \r"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    if (p.rc != 0)
      fail_msg("line %zu refused: %s", i, p.err);
    assert_int_equal(p.cmd.verb, CW_CMD_STATS);
  }
  struct parsed p = parse("set  max_conns\t 5 \r");
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.cmd.name, "max_conns");
  assert_string_equal(p.cmd.value, "5");
}

static void test_unknown_command_is_named_in_the_reason(void **state) {
  struct parsed p = parse("bogus");
  assert_refused_with(&p, "unknown command 'bogus'");
  p = parse("STATS"); /* verbs are lower case */
  assert_refused_with(&p, "unknown command 'STATS'");
  p = parse("stat");
  assert_refused_with(&p, "unknown command 'stat'");
  p = parse("GET / HTTP/1.1\r");
  assert_refused_with(&p, "unknown command 'GET'");
}

static void test_unknown_long_command_is_echoed_cut_short(void **state) {
  char line[301];
  memset(line, 'x', sizeof line - 1);
  line[sizeof line - 1] = '\0';
  struct parsed p = parse(line);
  assert_refused_with(&p, "unknown command");
  /* the echo is bounded: a client cannot fill the reply with its own bytes */
  assert_true(strlen(p.err) < 100);
}

static void test_empty_line_is_refused(void **state) {
  static const char *const lines[] = {"", " ", "\r", " \t \r"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    assert_refused_with(&p, "empty command");
  }
}

static void test_control_characters_are_refused(void **state) {
  static const char *const lines[] = {"sta\x01ts", "stats\x1b[2J", "stats\n", "\x7fstats",
                                      "set max_conns 1\x08", "help\x0b"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct parsed p = parse(lines[i]);
    assert_refused_with(&p, "control characters");
  }
}

static void test_line_of_one_kib_is_accepted_and_longer_is_refused(void **state) {
  char line[1100];
  /* 1024 bytes: "stats" then blanks */
  memset(line, ' ', 1024);
  memcpy(line, "stats", 5);
  line[1024] = '\0';
  struct parsed p = parse(line);
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.cmd.verb, CW_CMD_STATS);

  line[1024] = ' ';
  line[1025] = '\0';
  p = parse(line);
  assert_refused_with(&p, "longer than 1024 bytes");

  memset(line, 'a', sizeof line - 1);
  line[sizeof line - 1] = '\0';
  p = parse(line);
  assert_refused_with(&p, "longer than");
}

static void test_set_refuses_over_long_name_or_value(void **state) {
  char name[64], line[200];
  memset(name, 'n', 63);
  name[63] = '\0';
  snprintf(line, sizeof line, "set %s 1", name); /* 63 bytes: fits */
  struct parsed p = parse(line);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.cmd.name, name);

  snprintf(line, sizeof line, "set %sn 1", name); /* 64 bytes: too long */
  p = parse(line);
  assert_refused_with(&p, "too long");

  snprintf(line, sizeof line, "set max_conns %s", name); /* value of 63 bytes fits */
  p = parse(line);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.cmd.value, name);

  snprintf(line, sizeof line, "set max_conns %s9", name);
  p = parse(line);
  assert_refused_with(&p, "too long");
}

static void test_reason_fits_a_small_error_buffer(void **state) {
  struct cw_cmd cmd;
  char err[16];
  memset(err, 'Z', sizeof err);
  assert_int_equal(cw_cmd_parse("bogus-command-here", &cmd, err, sizeof err), -EINVAL);
  assert_int_equal(strlen(err), sizeof err - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_verb_without_arguments_is_recognised),
      cmocka_unit_test(test_set_takes_a_name_and_a_value),
      cmocka_unit_test(test_set_value_is_not_checked_by_the_parser),
      cmocka_unit_test(test_reap_takes_one_fd_number),
      cmocka_unit_test(test_reap_refuses_what_is_not_an_fd_number),
      cmocka_unit_test(test_health_without_limits_takes_the_defaults),
      cmocka_unit_test(test_health_takes_its_limits_in_any_order),
      cmocka_unit_test(test_health_refuses_bad_limits_naming_them),
      cmocka_unit_test(test_verbs_without_arguments_refuse_extra_words),
      cmocka_unit_test(test_set_with_too_few_or_too_many_words_shows_usage),
      cmocka_unit_test(test_trailing_cr_and_blanks_are_ignored),
      cmocka_unit_test(test_unknown_command_is_named_in_the_reason),
      cmocka_unit_test(test_unknown_long_command_is_echoed_cut_short),
      cmocka_unit_test(test_empty_line_is_refused),
      cmocka_unit_test(test_control_characters_are_refused),
      cmocka_unit_test(test_line_of_one_kib_is_accepted_and_longer_is_refused),
      cmocka_unit_test(test_set_refuses_over_long_name_or_value),
      cmocka_unit_test(test_reason_fits_a_small_error_buffer),
  };
  return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
