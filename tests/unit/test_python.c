/* test_python.c - the parts of Python stacks with no interpreter in them: parsing the traceback
 * dumper's text, telling the program's frames from installed libraries' and the standard
 * library's, finding the frame that asked for the connection above the event loop, and the
 * reserved fd's sink doing nothing outside a capture.
 * objects: python.o table.o mem.o log.o config.o statspath.o sniff.o names.o addr.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mem.h"
#include "python.h"

static struct cw_bt *parse(const char *text) { return cw_py_parse(text, strlen(text)); }

static void test_parse_reads_each_frame_innermost_first(void **state) {
  (void)state;
  struct cw_bt *bt = parse("Stack (most recent call first):\n"
                           "  File \"/usr/lib/python3.11/socket.py\", line 836 in create_connection\n"
                           "  File \"/srv/app/proxy.py\", line 41 in forward\n"
                           "  File \"/srv/app/proxy.py\", line 90 in <module>\n");
  assert_non_null(bt);
  assert_int_equal(bt->npy, 3);
  assert_int_equal(bt->n, 0);
  assert_string_equal(cw_py_frame(bt, 0), "/usr/lib/python3.11/socket.py:836 in create_connection");
  assert_string_equal(cw_py_frame(bt, 1), "/srv/app/proxy.py:41 in forward");
  assert_string_equal(cw_py_frame(bt, 2), "/srv/app/proxy.py:90 in <module>");
  assert_int_equal(bt->own, 1);
  assert_int_equal(bt->lib, 1u);
  assert_int_equal(bt->flags & CW_BT_NO_CALLER, 0);
  assert_int_equal(bt->pylen, strlen(cw_py_frame(bt, 0)) + strlen(cw_py_frame(bt, 1)) + strlen(cw_py_frame(bt, 2)) + 3);
  cw_mem_free(bt);
}

static void test_parse_skips_what_is_not_a_frame_and_a_cut_last_line(void **state) {
  (void)state;
  assert_null(parse("Stack (most recent call first):\n  <no Python frame>\n"));
  assert_null(parse(""));
  struct cw_bt *bt = parse("  File ???, line ??? in ???\n"
                           "  File \"a.py\", line 3 in f\n"
                           "  ...\n"
                           "  File \"b.py\", line 4 in g"); /* no newline: cut off */
  assert_non_null(bt);
  assert_int_equal(bt->npy, 2);
  assert_string_equal(cw_py_frame(bt, 0), "???:??? in ???");
  assert_string_equal(cw_py_frame(bt, 1), "a.py:3 in f");
  cw_mem_free(bt);
}

static void test_parse_keeps_at_most_the_innermost_32_frames(void **state) {
  (void)state;
  char text[8192] = "";
  for (int i = 0; i < 60; i++) {
    char line[64];
    snprintf(line, sizeof line, "  File \"/x/m.py\", line %d in f%d\n", i, i);
    strcat(text, line);
  }
  struct cw_bt *bt = parse(text);
  assert_non_null(bt);
  assert_int_equal(bt->npy, CW_PY_MAX);
  assert_string_equal(cw_py_frame(bt, 0), "/x/m.py:0 in f0");
  assert_string_equal(cw_py_frame(bt, 31), "/x/m.py:31 in f31");
  cw_mem_free(bt);
}

static void test_library_frames_are_site_dist_packages_and_the_standard_library(void **state) {
  (void)state;
  assert_true(cw_py_is_lib("/usr/lib/python3/dist-packages/httpx/_client.py:1620 in send"));
  assert_true(cw_py_is_lib("/home/u/venv/lib/python3.11/site-packages/requests/api.py:59 in request"));
  assert_true(cw_py_is_lib("/usr/lib/python3.11/socket.py:836 in create_connection"));
  assert_true(cw_py_is_lib("/usr/local/lib/python3.12/asyncio/streams.py:48 in open_connection"));
  assert_true(cw_py_is_lib("/opt/py/lib64/python3.9/ssl.py:1 in wrap"));
  assert_true(cw_py_is_lib("<frozen runpy>:88 in _run_code"));
  assert_false(cw_py_is_lib("/srv/app/proxy.py:41 in forward"));
  assert_false(cw_py_is_lib("<string>:4 in <module>"));
  assert_false(cw_py_is_lib("/srv/lib/python/app.py:1 in f"));         /* no version: the program's */
  assert_false(cw_py_is_lib("/srv/app/site-packages.py:1 in f"));      /* a file, not the directory */
  assert_false(cw_py_is_lib("/srv/lib/python3.11x/app.py:1 in f"));
}

static void test_frames_past_the_event_loop_do_not_name_the_caller(void **state) {
  (void)state;
  /* a task of a library's connected: its frames hold none of the program's above the loop; the
   * program's <module> that runs the loop is not the caller */
  struct cw_bt *bt = parse("  File \"/usr/lib/python3/dist-packages/anyio/_core/_sockets.py\", line 164 in try_connect\n"
                           "  File \"/usr/lib/python3.11/asyncio/events.py\", line 80 in _run\n"
                           "  File \"/usr/lib/python3.11/asyncio/base_events.py\", line 1922 in _run_once\n"
                           "  File \"/usr/lib/python3.11/asyncio/runners.py\", line 118 in run\n"
                           "  File \"/srv/app/main.py\", line 9 in <module>\n");
  assert_non_null(bt);
  assert_int_equal(bt->flags & CW_BT_NO_CALLER, CW_BT_NO_CALLER);
  assert_int_equal(bt->own, 4); /* the best there is, for the reports */
  cw_mem_free(bt);
  /* the program's coroutine above the loop: that is the caller */
  bt = parse("  File \"/usr/lib/python3.11/asyncio/streams.py\", line 48 in open_connection\n"
             "  File \"/srv/app/main.py\", line 5 in fetch\n"
             "  File \"/usr/lib/python3.11/asyncio/events.py\", line 80 in _run\n"
             "  File \"/srv/app/main.py\", line 9 in <module>\n");
  assert_int_equal(bt->flags & CW_BT_NO_CALLER, 0);
  assert_int_equal(bt->own, 1);
  cw_mem_free(bt);
  /* uvloop runs the loop in C: no loop frame, the runner's frames come straight after */
  bt = parse("  File \"/usr/lib/python3/dist-packages/anyio/_core/_sockets.py\", line 164 in try_connect\n"
             "  File \"/usr/lib/python3.11/asyncio/runners.py\", line 118 in run\n"
             "  File \"/srv/app/main.py\", line 9 in <module>\n");
  assert_int_equal(bt->flags & CW_BT_NO_CALLER, CW_BT_NO_CALLER);
  cw_mem_free(bt);
}

static void test_awaiting_task_frames_name_the_caller(void **state) {
  (void)state;
  struct cw_bt *bt = parse("  File \"/usr/lib/python3/dist-packages/anyio/_core/_sockets.py\", line 164 in try_connect\n"
                           "  File \"/usr/lib/python3.11/asyncio/locks.py\", line 213 in wait\n"
                           "  File \"/usr/lib/python3/dist-packages/httpx/_client.py\", line 1620 in send\n"
                           "  File \"/srv/app/proxy.py\", line 41 in forward\n");
  bt->join = 1; /* frames from 1 on are the awaiting task's chain */
  cw_py_classify(bt);
  assert_int_equal(bt->flags & CW_BT_NO_CALLER, 0);
  assert_int_equal(bt->own, 3);
  assert_int_equal(bt->lib, 7u);
  cw_mem_free(bt);
}

static void test_the_sink_takes_nothing_outside_a_capture(void **state) {
  (void)state;
  assert_int_equal(cw_py_sink_write("abc", 3), -1);
  assert_true(CW_PY_SINK_FD > 0 && (unsigned)CW_PY_SINK_FD < CW_SLOTS / 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_reads_each_frame_innermost_first),
      cmocka_unit_test(test_parse_skips_what_is_not_a_frame_and_a_cut_last_line),
      cmocka_unit_test(test_parse_keeps_at_most_the_innermost_32_frames),
      cmocka_unit_test(test_library_frames_are_site_dist_packages_and_the_standard_library),
      cmocka_unit_test(test_frames_past_the_event_loop_do_not_name_the_caller),
      cmocka_unit_test(test_awaiting_task_frames_name_the_caller),
      cmocka_unit_test(test_the_sink_takes_nothing_outside_a_capture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
