/* test_tree.c - the process tree's shared file (tree.c, included whole for its internals): the
 * repair after a member died holding the tree's lock. A forked child takes the lock and leaves
 * the rows as a member killed in the middle of a change would, then exits without letting go.
 * objects: config.o log.o ownfd.o real.o rundir.o table.o mem.o statspath.o vars.o addr.o procname.o sniff.o names.o
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include "../../shim/tree.c"

#include <sys/wait.h>

__thread int cw_guard __attribute__((tls_model("initial-exec")));
pid_t cw_pid;

static char dir[] = "/tmp/cw-unit-tree.XXXXXX";

static int setup(void **state) {
  assert_non_null(mkdtemp(dir));
  cw_real_close = close; /* no wrappers here: libc's own */
  cw_real_fcntl = fcntl;
  assert_int_equal(cw_table_init(), 0);
  cw_pid = getpid();
  unsetenv(CW_TREE_VAR);
  snprintf(cw_cfg.rundir, sizeof cw_cfg.rundir, "%s/run", dir);
  cw_cfg.cap_scope = CW_SCOPE_TREE;
  cw_cfg.max_conns = 2;
  cw_tree_init();
  assert_true(cw_tree_on);
  return 0;
}

static int teardown(void **state) {
  cw_tree_exit();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd);
}

/* A member killed in a backward shift leaves a row twice; one killed in a release after it let
 * go of the socket leaves a row nobody holds. The repair counts the first once and frees the
 * second's slot: the cap's two slots are one taken, one free. */
static void test_repair_after_a_holder_died(void **state) {
  struct cw_addr peer = v4("127.0.0.1", 80);
  struct cw_dkey d;
  cw_dkey_make(&d, &peer, "api.example.com", 80); /* a destination by name */
  int tidx;
  assert_int_equal(cw_tree_admit(&d, NULL, 100, 0, &tidx), 1);
  assert_int_equal(cw_tree_admit(&d, NULL, 101, 0, &tidx), 1);
  assert_int_equal(cw_tree_admit(&d, NULL, 102, 0, &tidx), 0); /* the cap */
  pid_t p = fork();
  if (p == 0) {
    pthread_mutex_lock(&T->mu);
    struct sock *a = sock_find(100), *b = sock_find(101);
    uint32_t i = (uint32_t)(a - T->socks);
    while (T->socks[i].ino)
      i = (i + 1) & (NSOCK - 1);
    T->socks[i] = *a;             /* the copy a shift made before it died */
    memset(b->holders, 0, sizeof b->holders); /* released, not yet deleted */
    _exit(0);                     /* the lock is left held */
  }
  int st;
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_int_equal(cw_tree_admit(&d, NULL, 103, 0, &tidx), 1); /* the repair runs first */
  assert_int_equal(T->slots, 2);
  assert_int_equal(cw_tree_admit(&d, NULL, 104, 0, &tidx), 0);
  cw_tree_drop(100);
  cw_tree_drop(103);
  assert_int_equal(T->slots, 0);
  assert_int_equal(T->nsocks, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_repair_after_a_holder_died),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
