/* test_procname.c - the name derived from a command line (cw_procname_derive): retitled servers
 * (nginx, PostgreSQL, gunicorn with setproctitle), interpreters and their options, plain programs
 * and their first argument, the bound and odd bytes; and the configured name winning.
 * objects: procname.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "procname.h"

/* The name of a command line written with '|' between the words (as /proc shows it, NULs). */
static const char *derive_n(const char *words, size_t len) {
  static char cmd[1024], out[CW_NAME_MAX + 1];
  assert_true(len < sizeof cmd);
  memcpy(cmd, words, len);
  for (size_t i = 0; i < len; i++)
    if (cmd[i] == '|')
      cmd[i] = '\0';
  size_t n = cw_procname_derive(cmd, len, out, sizeof out);
  assert_int_equal(n, strlen(out));
  return out;
}
static const char *derive(const char *words) { return derive_n(words, strlen(words)); }

static void test_retitled_servers_are_named_by_their_title(void **state) {
  /* nginx and PostgreSQL pad the old argument area with NULs */
  assert_string_equal(derive("nginx: worker process|||||"), "nginx: worker process");
  assert_string_equal(derive("nginx: master process /usr/sbin/nginx -g daemon off;||||"),
                      "nginx: master process /usr/sbin/nginx -g daemon off;");
  assert_string_equal(derive("postgres: user db 127.0.0.1(5555) idle|||"),
                      "postgres: user db 127.0.0.1(5555) idle");
  /* setproctitle: the title alone, or followed by what was left of the old words */
  assert_string_equal(derive("gunicorn: worker [app]"), "gunicorn: worker [app]");
  assert_string_equal(derive("gunicorn: worker [app]|"), "gunicorn: worker [app]");
  /* a title without a space: the later words are padding or garbled */
  assert_string_equal(derive("worker|||"), "worker");
  assert_string_equal(derive("worker|\x01\x02|"), "worker");
  /* trimmed, control bytes shown as '?' */
  assert_string_equal(derive("  redis-server *:6379   ||"), "redis-server *:6379");
  assert_string_equal(derive("app: \tjob\x1b[1m|"), "app: ?job?[1m");
}

static void test_python_is_named_by_its_module_or_script(void **state) {
  assert_string_equal(derive("/usr/bin/python3|-m|uvicorn|app:app|--port|8000"), "python3 -m uvicorn");
  assert_string_equal(derive("python3|-m|http.server|8080"), "python3 -m http.server");
  assert_string_equal(derive("python3|-mhttp.server"), "python3 -m http.server");
  assert_string_equal(derive("python3|-u|-X|dev|-W|ignore|/srv/app/app.py|--debug"), "python3 app.py");
  assert_string_equal(derive("python3.11|-Wignore|-OO|app.py"), "python3.11 app.py");
  assert_string_equal(derive("python3|-um|pytest|tests"), "python3 -m pytest");
  assert_string_equal(derive("/usr/bin/python3|/usr/bin/gunicorn|-w|2|app:app"), "python3 gunicorn");
  assert_string_equal(derive("python3|-c|import socket; print(1)"), "python3 -c");
  assert_string_equal(derive("python3|-I|-c|pass"), "python3 -c");
  assert_string_equal(derive("python3|--check-hash-based-pycs|never|x.py"), "python3 x.py");
  assert_string_equal(derive("python3|-"), "python3 -");
  assert_string_equal(derive("python3|--|run.py"), "python3 run.py");
  assert_string_equal(derive("python3"), "python3");
  assert_string_equal(derive("pypy3|app.py"), "pypy3 app.py");
}

static void test_other_interpreters_skip_their_options(void **state) {
  assert_string_equal(derive("node|--require|dotenv/config|--inspect|server.js|8080"), "node server.js");
  assert_string_equal(derive("node|-r|ts-node/register|src/main.ts"), "node main.ts");
  assert_string_equal(derive("node|--loader=tsx|main.ts"), "node main.ts");
  assert_string_equal(derive("node|-e|require('http')"), "node -e");
  assert_string_equal(derive("node|--eval=1"), "node --eval");
  assert_string_equal(derive("perl|-w|-I|lib|-MFoo|script.pl"), "perl script.pl");
  assert_string_equal(derive("perl|-wle|print 1"), "perl -e");
  assert_string_equal(derive("ruby|-I|lib|-r|bundler/setup|bin/rails|server"), "ruby rails");
  assert_string_equal(derive("/bin/sh|-c|exec app"), "sh -c");
  assert_string_equal(derive("bash|-e|-o|pipefail|./deploy.sh|prod"), "bash deploy.sh");
  assert_string_equal(derive("bash|--rcfile|x|run.sh"), "bash run.sh");
  assert_string_equal(derive("php|-d|memory_limit=1G|-f|/srv/index.php"), "php index.php");
  assert_string_equal(derive("php8.2|artisan|serve"), "php8.2 artisan");
  /* a name that merely starts like an interpreter's is a program of its own */
  assert_string_equal(derive("python3-config|--libs"), "python3-config");
  assert_string_equal(derive("perlbrew|list"), "perlbrew list");
  assert_string_equal(derive("shellcheck|x.sh"), "shellcheck x.sh");
}

static void test_programs_are_named_with_their_first_argument(void **state) {
  assert_string_equal(derive("/usr/local/bin/gunicorn|app:app"), "gunicorn app:app");
  assert_string_equal(derive("gunicorn|-w|4|-b|0.0.0.0:8000|app:app"), "gunicorn app:app");
  assert_string_equal(derive("gunicorn|--workers=4|app:app"), "gunicorn app:app");
  assert_string_equal(derive("uvicorn|--port|8000|main:app|--reload"), "uvicorn main:app");
  assert_string_equal(derive("./build/hosts/leaker|127.0.0.1|8000"), "leaker 127.0.0.1");
  assert_string_equal(derive("nginx|-c|/etc/nginx/site.conf"), "nginx site.conf");
  assert_string_equal(derive("envoy|--|/etc/envoy/"), "envoy envoy");
  assert_string_equal(derive("sleep|30"), "sleep 30");
  assert_string_equal(derive("haproxy"), "haproxy");
  assert_string_equal(derive("haproxy|-f"), "haproxy");
  assert_string_equal(derive("/"), "/");
}

static void test_names_are_bounded_and_empty_ones_are_none(void **state) {
  char cmd[300];
  memset(cmd, 'a', sizeof cmd);
  memcpy(cmd, "x: ", 3);
  const char *t = derive_n(cmd, sizeof cmd);
  assert_int_equal(strlen(t), CW_NAME_MAX);
  /* a UTF-8 character the bound would split is left out whole */
  char u[CW_NAME_MAX + 8];
  memset(u, 'b', CW_NAME_MAX - 1);
  memcpy(u + CW_NAME_MAX - 1, "\xc3\xa9 x", 4); /* é at bytes 63-64 */
  memcpy(u, "t: ", 3);
  t = derive_n(u, CW_NAME_MAX + 3);
  assert_int_equal(strlen(t), CW_NAME_MAX - 1);
  assert_int_equal(t[CW_NAME_MAX - 2], 'b');
  /* a short output buffer bounds it too */
  char out[8];
  assert_int_equal(cw_procname_derive("gunicorn\0app:app", 16, out, sizeof out), 7);
  assert_string_equal(out, "gunicor");
  /* nothing to name */
  assert_int_equal(cw_procname_derive("", 0, out, sizeof out), 0);
  assert_string_equal(out, "");
  assert_int_equal(cw_procname_derive("\0\0", 2, out, sizeof out), 0);
}

static void test_the_configured_name_wins_and_a_process_always_has_one(void **state) {
  char out[CW_NAME_MAX + 1];
  cw_procname_get("myproxy", out, sizeof out);
  assert_string_equal(out, "myproxy");
  /* this test program's own command line: test_procname, with no arguments */
  cw_procname_get("", out, sizeof out);
  assert_string_equal(out, "test_procname");
  cw_procname_get(NULL, out, sizeof out);
  assert_string_equal(out, "test_procname");
  char cmd[64];
  assert_true(cw_procname_cmdline(cmd, sizeof cmd) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retitled_servers_are_named_by_their_title),
      cmocka_unit_test(test_python_is_named_by_its_module_or_script),
      cmocka_unit_test(test_other_interpreters_skip_their_options),
      cmocka_unit_test(test_programs_are_named_with_their_first_argument),
      cmocka_unit_test(test_names_are_bounded_and_empty_ones_are_none),
      cmocka_unit_test(test_the_configured_name_wins_and_a_process_always_has_one),
  };
  return cmocka_run_group_tests_name("procname", tests, NULL, NULL);
}
