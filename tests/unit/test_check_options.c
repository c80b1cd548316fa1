/* test_check_options.c - the words of `connwarden check` (scripts/cli/health.c, compiled in: it
 * is the CLI's, not a shim module): the target or --all, the limits in either form and any order
 * as the `health` line carries them, and the command lines it refuses with a reason.
 * objects:
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include "../../scripts/cli/client.c"
#include "../../scripts/cli/err.c"
#include "../../scripts/cli/health.c"

static struct cw_health_opts o;
static char err[256];

static int parse(int argc, char **argv) {
  err[0] = '\0';
  return cw_health_parse(argc, argv, &o, err, sizeof err);
}
#define PARSE(...) parse(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *), (char *[]){__VA_ARGS__})

static void test_no_words_ask_the_only_process_with_the_defaults(void **state) {
  assert_int_equal(parse(0, NULL), 0);
  assert_null(o.target);
  assert_int_equal(o.all, 0);
  assert_string_equal(o.line, "health");
}

static void test_target_or_all(void **state) {
  assert_int_equal(PARSE("4242"), 0);
  assert_string_equal(o.target, "4242");
  assert_int_equal(PARSE("/run/connwarden/4242.sock"), 0);
  assert_string_equal(o.target, "/run/connwarden/4242.sock");
  assert_int_equal(PARSE("--all"), 0);
  assert_int_equal(o.all, 1);
  assert_null(o.target);
  assert_int_equal(PARSE("--", "-7"), 0); /* after --, a word is the target (resolve judges it) */
  assert_string_equal(o.target, "-7");
}

static void test_limits_in_either_form_and_any_order(void **state) {
  assert_int_equal(PARSE("--max-queue-wait=1.5s", "--max-close-wait", "0", "4242", "--max-abandoned=3"), 0);
  assert_string_equal(o.target, "4242");
  assert_string_equal(o.line, "health max_abandoned=3 max_close_wait=0 max_queue_wait=1.5s");
  assert_int_equal(PARSE("--all", "--max-abandoned", "2"), 0);
  assert_string_equal(o.line, "health max_abandoned=2");
  static const char *const durations[] = {"off", "250ms", "30s", "10m", "1h", "5", "0.5"};
  for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
    char *argv[] = {"--max-queue-wait", (char *)durations[i]};
    if (parse(2, argv) != 0)
      fail_msg("--max-queue-wait %s refused: %s", durations[i], err);
  }
}

static void test_bad_words_are_refused_with_a_reason(void **state) {
  static const struct {
    const char *words[4];
    int n;
    const char *reason;
  } cases[] = {
      {{"--max-abandoned", "x"}, 2, "--max-abandoned takes a whole number, not 'x'"},
      {{"--max-abandoned=-1"}, 1, "--max-abandoned takes a whole number, not '-1'"},
      {{"--max-close-wait", "12345678901"}, 2, "--max-close-wait takes a whole number"},
      {{"--max-queue-wait", "5x"}, 2, "--max-queue-wait takes a duration"},
      {{"--max-queue-wait", "1.s"}, 2, "--max-queue-wait takes a duration"},
      {{"--max-queue-wait="}, 1, "--max-queue-wait takes a duration"},
      {{"--max-abandoned"}, 1, "--max-abandoned needs a value: N"},
      {{"--max-abandoned", "1", "--max-abandoned=2"}, 3, "--max-abandoned given twice"},
      {{"--max-abandon", "1"}, 2, "unknown option '--max-abandon'"},
      {{"-q"}, 1, "unknown option '-q'"},
      {{"1", "2"}, 2, "one target at most, got '1' and '2'"},
      {{"--all", "42"}, 2, "--all or a target, not both"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (parse(cases[i].n, (char **)cases[i].words) != -1)
      fail_msg("case %zu accepted", i);
    if (!strstr(err, cases[i].reason))
      fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].reason);
    assert_null(strchr(err, '\n'));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_words_ask_the_only_process_with_the_defaults),
      cmocka_unit_test(test_target_or_all),
      cmocka_unit_test(test_limits_in_either_form_and_any_order),
      cmocka_unit_test(test_bad_words_are_refused_with_a_reason),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
