/* test_mem.c - the shim's allocator: zeroed, aligned, non-overlapping blocks of every size; freed
 * blocks reused (so churn maps nothing new) and large ones unmapped; a second free ignored;
 * threads at once; a fork child with the lock held by the parent; and a signal handler that
 * allocates, as a wrapper in a handler does, while its thread is inside the allocator.
 * objects: mem.o table.o log.o names.o addr.o sniff.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mem.h"
#include "table.h"

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

static void test_blocks_are_zeroed_aligned_and_apart(void **state) {
  enum { N = 300 };
  unsigned char *blocks[N];
  size_t sizes[N];
  for (int i = 0; i < N; i++) {
    sizes[i] = (size_t)(1 + (i * 37) % 9000); /* small and large alike */
    blocks[i] = cw_mem_alloc(sizes[i]);
    assert_non_null(blocks[i]);
    assert_int_equal((uintptr_t)blocks[i] % 16, 0);
    assert_true(all_zero(blocks[i], sizes[i]));
    memset(blocks[i], i & 0xff, sizes[i]);
  }
  for (int i = 0; i < N; i++) { /* no block was written over by another's fill */
    for (size_t b = 0; b < sizes[i]; b++)
      if (blocks[i][b] != (unsigned char)(i & 0xff))
        fail_msg("block %d byte %zu is %d", i, b, blocks[i][b]);
    cw_mem_free(blocks[i]);
  }
}

static void test_a_freed_block_is_reused_and_zeroed_again(void **state) {
  unsigned char *a = cw_mem_alloc(100);
  memset(a, 0xab, 100);
  cw_mem_free(a);
  unsigned char *b = cw_mem_alloc(90); /* the same size class */
  assert_ptr_equal(a, b);
  assert_true(all_zero(b, 90));
  cw_mem_free(b);
}

static void test_churn_maps_nothing_new(void **state) {
  void *p[64];
  for (int i = 0; i < 64; i++)
    p[i] = cw_mem_alloc((size_t)(16 << (i % 8)));
  for (int i = 0; i < 64; i++)
    cw_mem_free(p[i]);
  size_t before = cw_mem_mapped();
  for (int round = 0; round < 2000; round++) {
    for (int i = 0; i < 64; i++)
      p[i] = cw_mem_alloc((size_t)(16 << (i % 8)));
    for (int i = 0; i < 64; i++)
      cw_mem_free(p[i]);
  }
  assert_int_equal(cw_mem_mapped(), before);
}

static void test_a_large_block_is_unmapped_when_freed(void **state) {
  size_t before = cw_mem_mapped();
  char *p = cw_mem_alloc(100000);
  assert_non_null(p);
  assert_true(cw_mem_mapped() >= before + 100000);
  p[99999] = 1;
  cw_mem_free(p);
  assert_int_equal(cw_mem_mapped(), before);
}

static void test_a_second_free_is_ignored(void **state) {
  void *a = cw_mem_alloc(200);
  cw_mem_free(a);
  cw_mem_free(a);
  void *b = cw_mem_alloc(200), *c = cw_mem_alloc(200);
  assert_ptr_not_equal(b, c); /* a double free would have put a on the list twice */
  cw_mem_free(b);
  cw_mem_free(c);
  cw_mem_free(NULL);
}

static void *churn(void *arg) {
  uintptr_t tag = (uintptr_t)arg;
  for (int round = 0; round < 2000; round++) {
    uintptr_t *p[8];
    for (int i = 0; i < 8; i++) {
      p[i] = cw_mem_alloc(sizeof(uintptr_t) * (size_t)(1 + (round + i) % 60));
      if (!p[i])
        return (void *)1;
      p[i][0] = tag;
    }
    for (int i = 0; i < 8; i++) {
      if (p[i][0] != tag)
        return (void *)1;
      cw_mem_free(p[i]);
    }
  }
  return NULL;
}

static void test_threads_never_share_a_block(void **state) {
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert_null(r);
  }
}

static void test_fork_child_allocates_while_the_parent_holds_the_lock(void **state) {
  cw_mem_lock(); /* as the atfork prepare handler leaves it */
  pid_t p = fork();
  if (p == 0) {
    cw_locked = 0;
    cw_mem_fork_child();
    void *a = cw_mem_alloc(64);
    _exit(a ? 0 : 1);
  }
  cw_mem_unlock();
  assert_true(p > 0);
  int st;
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* A handler that, like a wrapper, allocates only when its thread holds no shim lock. */
static volatile sig_atomic_t handled, skipped;
static void on_alarm(int sig) {
  (void)sig;
  if (cw_locked) {
    skipped++;
    return;
  }
  void *p = cw_mem_alloc(48);
  if (p)
    handled++;
  cw_mem_free(p);
}

static void test_a_signal_handler_allocates_while_its_thread_is_inside(void **state) {
  struct sigaction sa = {.sa_handler = on_alarm}, old;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, &old);
  struct itimerval it = {.it_interval = {0, 50}, .it_value = {0, 50}};
  setitimer(ITIMER_REAL, &it, NULL);
  for (long i = 0; i < 3000000 && handled < 2000; i++) /* ends by count, never by time */
    cw_mem_free(cw_mem_alloc((size_t)(8 + i % 500)));
  struct itimerval off = {0};
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  assert_true(handled > 0);
  print_message("handled %d, skipped inside the allocator %d\n", (int)handled, (int)skipped);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocks_are_zeroed_aligned_and_apart),
      cmocka_unit_test(test_a_freed_block_is_reused_and_zeroed_again),
      cmocka_unit_test(test_churn_maps_nothing_new),
      cmocka_unit_test(test_a_large_block_is_unmapped_when_freed),
      cmocka_unit_test(test_a_second_free_is_ignored),
      cmocka_unit_test(test_threads_never_share_a_block),
      cmocka_unit_test(test_fork_child_allocates_while_the_parent_holds_the_lock),
      cmocka_unit_test(test_a_signal_handler_allocates_while_its_thread_is_inside),
  };
  return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
