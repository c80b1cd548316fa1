/* test_suppressions.c - the suppression file parser and matcher of `run --check-leaks`
 * (scripts/cli/suppress.c, compiled in: it is the CLI's, not a shim module): every rule form,
 * comments and blanks, errors that name the line, and which leaks each rule silences.
 * objects:
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include "../../scripts/cli/suppress.c"

static struct cw_supp_list list;
static char err[256];

static int parse(const char *text) {
  cw_supp_free(&list);
  err[0] = '\0';
  return cw_supp_parse(text, strlen(text), &list, err, sizeof err);
}

static int teardown(void **state) {
  cw_supp_free(&list);
  return 0;
}

static const struct cw_supp_frame worker_stack[] = {
    {"open_cache_connection", "/build/hosts/leaks_worker"},
    {"main", "/build/hosts/leaks_worker"},
    {NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
};

static void test_every_rule_form_is_parsed_with_its_line(void **state) {
  assert_int_equal(parse("# known leaks\n"
                         "\n"
                         "peer:127.0.0.1:8000\n"
                         "  peer::9000  \n"
                         "peer:[::1]:443\n"
                         "peer:::1:8443\r\n"
                         "func:open_*_connection\n"
                         "module:libpq.so*\n"
                         "peer:10.0.0.1:*\n"),
                   0);
  assert_int_equal(list.n, 7);
  assert_int_equal(list.v[0].kind, CW_SUPP_PEER);
  assert_int_equal(list.v[0].line, 3);
  assert_int_equal(list.v[0].family, AF_INET);
  assert_int_equal(list.v[0].port, 8000);
  assert_string_equal(list.v[1].text, "peer::9000");
  assert_int_equal(list.v[1].family, 0);
  assert_int_equal(list.v[1].port, 9000);
  assert_int_equal(list.v[2].family, AF_INET6);
  assert_int_equal(list.v[2].port, 443);
  assert_int_equal(list.v[3].family, AF_INET6);
  assert_int_equal(list.v[3].port, 8443);
  assert_string_equal(list.v[3].text, "peer:::1:8443");
  assert_int_equal(list.v[4].kind, CW_SUPP_FUNC);
  assert_string_equal(list.v[4].name, "open_*_connection");
  assert_int_equal(list.v[5].kind, CW_SUPP_MODULE);
  assert_int_equal(list.v[5].line, 8);
  assert_int_equal(list.v[6].port, 0);
}

static void test_empty_and_comment_only_files_have_no_rules(void **state) {
  assert_int_equal(parse(""), 0);
  assert_int_equal(list.n, 0);
  assert_int_equal(parse("# nothing\n   \n\t# indented comment\n"), 0);
  assert_int_equal(list.n, 0);
}

static void test_bad_rules_are_refused_naming_the_line(void **state) {
  static const struct {
    const char *text, *why;
  } cases[] = {
      {"leak:malloc\n", "line 1: unknown kind"},
      {"# ok\npeer:localhost:80\n", "line 2: expected peer:HOST:PORT"},
      {"peer:127.0.0.1\n", "line 1: expected peer:HOST:PORT"},
      {"peer:127.0.0.1:0\n", "line 1: expected peer:HOST:PORT"},
      {"peer:127.0.0.1:65536\n", "line 1: expected peer:HOST:PORT"},
      {"peer::80x\n", "line 1: expected peer:HOST:PORT"},
      {"peer:[::1:80\n", "line 1: expected peer:HOST:PORT"},
      {"\n\nfunc:\n", "line 3: empty name"},
      {"module:\n", "line 1: empty name"},
      {"just words\n", "line 1: expected peer:HOST:PORT, peer::PORT, func:NAME or module:NAME"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(parse(cases[i].text), -EINVAL);
    if (!strstr(err, cases[i].why))
      fail_msg("'%s': error '%s' lacks '%s'", cases[i].text, err, cases[i].why);
  }
}

static void test_a_nul_byte_is_refused_not_cut_short(void **state) {
  static const char text[] = "peer::80\nfunc:a\0b\n";
  cw_supp_free(&list);
  assert_int_equal(cw_supp_parse(text, sizeof text - 1, &list, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "line 2: a NUL byte"));
}

static void test_the_buffer_is_read_to_its_length_only(void **state) {
  static const char text[] = "func:main\nfunc:never_read";
  cw_supp_free(&list);
  assert_int_equal(cw_supp_parse(text, 9, &list, err, sizeof err), 0);
  assert_int_equal(list.n, 1);
  assert_string_equal(list.v[0].name, "main");
}

static void test_peer_rules_match_host_and_port(void **state) {
  assert_int_equal(parse("peer:127.0.0.1:8000\npeer::9000\npeer:[::1]:443\npeer:10.0.0.1:*\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:8000", NULL, 0), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.2:8000", NULL, 0), -1);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:8001", NULL, 0), -1);
  assert_int_equal(cw_supp_match(&list, "192.168.1.9:9000", NULL, 0), 1);
  assert_int_equal(cw_supp_match(&list, "[2001:db8::1]:9000", NULL, 0), 1);
  assert_int_equal(cw_supp_match(&list, "[::1]:443", NULL, 0), 2);
  assert_int_equal(cw_supp_match(&list, "[0:0::1]:443", NULL, 0), 2); /* compared as addresses */
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:443", NULL, 0), -1);
  assert_int_equal(cw_supp_match(&list, "10.0.0.1:5432", NULL, 0), 3);
  assert_int_equal(cw_supp_match(&list, "?", NULL, 0), -1);
  assert_int_equal(cw_supp_match(&list, NULL, NULL, 0), -1);
}

static void test_func_rules_match_any_frame_with_wildcards(void **state) {
  assert_int_equal(parse("func:open_cache_connection\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("func:main\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0); /* frame #1 */
  assert_int_equal(parse("func:open_*\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("func:open_cache\nfunc:cache_connection\n"), 0); /* whole names only */
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), -1);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", NULL, 0), -1);
}

static void test_module_rules_match_the_file_name_or_a_path(void **state) {
  assert_int_equal(parse("module:leaks_worker\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("module:libc.so*\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("module:/usr/lib/*/libc.so.6\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("module:/build/*\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), 0);
  assert_int_equal(parse("module:libssl.so*\nmodule:worker\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:1", worker_stack, 3), -1);
}

static void test_the_first_matching_rule_is_named(void **state) {
  assert_int_equal(parse("module:nothing\nfunc:main\npeer::8000\n"), 0);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:8000", worker_stack, 3), 1);
  assert_int_equal(cw_supp_match(&list, "127.0.0.1:8000", NULL, 0), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, teardown)
      T(test_every_rule_form_is_parsed_with_its_line),
      T(test_empty_and_comment_only_files_have_no_rules),
      T(test_bad_rules_are_refused_naming_the_line),
      T(test_a_nul_byte_is_refused_not_cut_short),
      T(test_the_buffer_is_read_to_its_length_only),
      T(test_peer_rules_match_host_and_port),
      T(test_func_rules_match_any_frame_with_wildcards),
      T(test_module_rules_match_the_file_name_or_a_path),
      T(test_the_first_matching_rule_is_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
