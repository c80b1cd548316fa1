/* test_table.c - the connection table on fake fd numbers (it stores what it is told; no socket
 * is needed): counters per direction, dup'd fds sharing one record, missed closes found by
 * inode, per-destination counts, the duration histogram, fork_child and untracked fds.
 * Each test starts from an empty table with zeroed counters (see fresh_table).
 * objects: table.o mem.o log.o names.o addr.o sniff.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "config.h"
#include "table.h"

static int init_once(void **state) {
  assert_int_equal(cw_table_init(), 0);
  assert_true(cw_slot_cap >= 1024);
  return 0;
}

/* End every connection, forget the destinations and zero the counters: each test sees an empty
 * table. The table has no reset of its own (a process has one table for its whole life). */
static int fresh_table(void **state) {
  cw_table_close_range(0, UINT_MAX);
  cw_table_lock();
  struct cw_dest *d, *tmp;
  HASH_ITER(hh, cw_tab.dests, d, tmp) {
    HASH_DEL(cw_tab.dests, d);
    cw_mem_free(d);
  }
  cw_tab.ndests = 0;
  memset(&cw_tab.c, 0, sizeof cw_tab.c);
  cw_table_unlock();
  return 0;
}

static const struct cw_counters *k = &cw_tab.c;

static int open_full(int fd, int dir, uint64_t ino, struct cw_addr peer, int inherited) {
  struct cw_conn_info info;
  memset(&info, 0, sizeof info);
  info.fd = fd;
  info.dir = dir;
  info.inherited = inherited;
  info.ino = ino;
  info.local = v4("127.0.0.1", (uint16_t)(40000u + (unsigned)fd)); /* any fd, INT_MAX too */
  info.peer = peer;
  return cw_table_open(&info);
}

/* Tracked fds in these tests use inode 1000 + fd unless a test says otherwise. */
static void open_out(int fd, struct cw_addr peer) {
  assert_int_equal(open_full(fd, CW_DIR_OUT, 1000 + (uint64_t)fd, peer, 0), 0);
}

static void open_in(int fd) {
  assert_int_equal(open_full(fd, CW_DIR_IN, 1000 + (uint64_t)fd, v4("127.0.0.1", 55555), 0), 0);
}

static struct cw_dest *dest_of(struct cw_addr peer) {
  struct cw_dest *d = NULL;
  struct cw_dkey key;
  cw_dkey_make(&key, &peer, NULL, 0);
  HASH_FIND(hh, cw_tab.dests, &key, cw_dkey_len(&key), d);
  return d;
}

static const struct cw_addr *upstream(void) {
  static struct cw_addr a;
  a = v4("127.0.0.1", 8000);
  return &a;
}

static void test_open_counts_opened_active_and_peak_per_direction(void **state) {
  open_out(10, *upstream());
  open_out(11, *upstream());
  open_out(12, *upstream());
  open_in(20);
  assert_int_equal(k->opened[CW_DIR_OUT], 3);
  assert_int_equal(k->active[CW_DIR_OUT], 3);
  assert_int_equal(k->peak[CW_DIR_OUT], 3);
  assert_int_equal(k->opened[CW_DIR_IN], 1);
  assert_int_equal(k->active[CW_DIR_IN], 1);
  assert_int_equal(k->peak[CW_DIR_IN], 1);
  assert_int_equal(k->peak_total, 4);

  cw_table_close(11);
  assert_int_equal(k->active[CW_DIR_OUT], 2);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_IN], 0);
  assert_int_equal(k->peak[CW_DIR_OUT], 3); /* a peak never goes down */
  assert_int_equal(k->peak_total, 4);

  open_out(13, *upstream());
  assert_int_equal(k->peak[CW_DIR_OUT], 3);
  open_out(14, *upstream());
  assert_int_equal(k->peak[CW_DIR_OUT], 4);
  assert_int_equal(k->peak_total, 5);
  assert_int_equal(k->opened[CW_DIR_OUT], 5);

  cw_table_close(20);
  assert_int_equal(k->active[CW_DIR_IN], 0);
  assert_int_equal(k->closed[CW_DIR_IN], 1);
  assert_int_equal(k->peak[CW_DIR_IN], 1);
  assert_int_equal(k->missed_closes, 0);
}

static void test_get_returns_the_record_as_it_was_opened(void **state) {
  struct cw_addr peer = v4("192.0.2.1", 443);
  int64_t before = cw_now();
  open_out(10, peer);
  open_in(11);
  struct cw_conn *c = cw_table_get(10);
  assert_non_null(c);
  assert_int_equal(c->fd, 10);
  assert_int_equal(c->nfds, 1);
  assert_int_equal(c->dir, CW_DIR_OUT);
  assert_int_equal(c->inherited, 0);
  assert_int_equal(c->ino, 1010);
  assert_memory_equal(&c->peer, &peer, sizeof peer);
  struct cw_addr local = v4("127.0.0.1", 40010);
  assert_memory_equal(&c->local, &local, sizeof local);
  assert_in_range(c->opened_ns, before, cw_now());
  assert_int_equal(c->bytes_in + c->bytes_out + c->calls_in + c->calls_out, 0);

  struct cw_conn *in = cw_table_get(11);
  assert_non_null(in);
  assert_int_equal(in->dir, CW_DIR_IN);
  assert_null(in->dest); /* destinations are outbound only */
  assert_true(in->id != c->id);

  assert_null(cw_table_get(12));
  assert_null(cw_table_get(-1));
  assert_null(cw_table_get((int)cw_slot_cap));
}

static void test_repeated_open_with_the_same_inode_is_eexist(void **state) {
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  uint64_t id = c->id;
  assert_int_equal(open_full(10, CW_DIR_OUT, 1010, *upstream(), 0), -EEXIST);
  assert_ptr_equal(cw_table_get(10), c);
  assert_int_equal(c->id, id);
  assert_int_equal(k->opened[CW_DIR_OUT], 1);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->missed_closes, 0);
  assert_int_equal(dest_of(*upstream())->opened, 1);
}

static void test_reopening_a_number_with_another_inode_ends_the_old_one_as_missed(void **state) {
  open_out(10, *upstream());
  uint64_t old_id = cw_table_get(10)->id;
  struct cw_addr other = v4("127.0.0.1", 9000);
  assert_int_equal(open_full(10, CW_DIR_OUT, 777, other, 0), 0);
  struct cw_conn *c = cw_table_get(10);
  assert_non_null(c);
  assert_true(c->id != old_id);
  assert_int_equal(c->ino, 777);
  assert_memory_equal(&c->peer, &other, sizeof other);
  assert_int_equal(k->missed_closes, 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(k->opened[CW_DIR_OUT], 2);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(dest_of(*upstream())->active, 0);
  assert_int_equal(dest_of(other)->active, 1);
}

static void test_fd_reused_ends_the_record_as_a_missed_close(void **state) {
  open_out(10, *upstream());
  open_out(11, *upstream());
  cw_table_fd_reused(10);
  assert_null(cw_table_get(10));
  assert_int_equal(k->missed_closes, 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(k->active[CW_DIR_OUT], 1);

  cw_table_newfd(11); /* the inline fast check takes the same path */
  assert_null(cw_table_get(11));
  assert_int_equal(k->missed_closes, 2);

  cw_table_newfd(12); /* an untracked number: nothing to end */
  assert_int_equal(k->missed_closes, 2);
  assert_int_equal(k->closed[CW_DIR_OUT], 2);
}

static void test_dup_fds_share_one_record_that_ends_at_the_last_close(void **state) {
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  cw_table_dup(10, 11);
  cw_table_dup(11, 12);
  assert_ptr_equal(cw_table_get(11), c);
  assert_ptr_equal(cw_table_get(12), c);
  assert_int_equal(c->nfds, 3);
  assert_int_equal(k->opened[CW_DIR_OUT], 1);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(dest_of(*upstream())->active, 1);

  cw_table_close(10);
  assert_null(cw_table_get(10));
  assert_int_equal(c->nfds, 2);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
  cw_table_close(12);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
  cw_table_close(11);
  assert_null(cw_table_get(11));
  assert_int_equal(k->active[CW_DIR_OUT], 0);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(dest_of(*upstream())->active, 0);
  assert_int_equal(k->missed_closes, 0);
}

static void test_closing_one_of_two_dup_fds_keeps_the_connection(void **state) {
  open_out(10, *upstream());
  cw_table_dup(10, 11);
  cw_table_close(11);
  struct cw_conn *c = cw_table_get(10);
  assert_non_null(c);
  assert_int_equal(c->nfds, 1);
  assert_int_equal(c->fd, 10);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
}

static void test_closing_the_fd_that_names_the_record_moves_its_name(void **state) {
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  cw_table_dup(10, 17);
  cw_table_dup(10, 14);
  assert_int_equal(c->fd, 10);
  cw_table_close(10);
  assert_int_equal(c->fd, 14); /* a remaining fd: the lowest */
  cw_table_close(14);
  assert_int_equal(c->fd, 17);
  assert_ptr_equal(cw_table_get(17), c);
  cw_table_close(17);
  assert_int_equal(k->active[CW_DIR_OUT], 0);
}

static void test_dup_over_a_tracked_fd_ends_its_connection(void **state) {
  struct cw_addr b = v4("127.0.0.1", 9001);
  open_out(10, *upstream());
  open_out(11, b);
  struct cw_conn *a = cw_table_get(10);
  cw_table_dup(10, 11); /* dup2(10, 11) closes what 11 named */
  assert_ptr_equal(cw_table_get(11), a);
  assert_int_equal(a->nfds, 2);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(k->missed_closes, 0); /* seen, not missed */
  assert_int_equal(dest_of(b)->active, 0);
}

static void test_dup_between_two_fds_of_one_connection_keeps_it(void **state) {
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  cw_table_dup(10, 11);
  cw_table_dup(11, 10); /* dup2 onto an fd of the same connection */
  assert_ptr_equal(cw_table_get(10), c);
  assert_ptr_equal(cw_table_get(11), c);
  assert_int_equal(c->nfds, 2);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
  cw_table_close(10);
  cw_table_close(11);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
}

static void test_dup_of_an_untracked_fd_over_a_tracked_one_ends_it(void **state) {
  open_out(11, *upstream());
  cw_table_dup(30, 11); /* 30 is a file or pipe */
  assert_null(cw_table_get(11));
  assert_int_equal(k->active[CW_DIR_OUT], 0);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
}

static void test_dup_onto_itself_and_close_of_untracked_change_nothing(void **state) {
  open_out(10, *upstream());
  cw_table_dup(10, 10);
  assert_int_equal(cw_table_get(10)->nfds, 1);
  cw_table_close(11);
  cw_table_close(-1);
  cw_table_close((int)cw_slot_cap + 5);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
  assert_int_equal(k->closed[CW_DIR_IN], 0);
}

static void test_close_range_ends_every_tracked_fd_in_the_range(void **state) {
  for (int fd = 10; fd <= 15; fd++)
    open_out(fd, *upstream());
  cw_table_dup(12, 40);
  cw_table_close_range(11, 13);
  assert_non_null(cw_table_get(10));
  assert_null(cw_table_get(11));
  assert_null(cw_table_get(12));
  assert_null(cw_table_get(13));
  assert_non_null(cw_table_get(14));
  assert_non_null(cw_table_get(15));
  assert_non_null(cw_table_get(40)); /* 12's connection lives on in its dup */
  assert_int_equal(cw_table_get(40)->fd, 40);
  assert_int_equal(k->closed[CW_DIR_OUT], 2);
  assert_int_equal(k->active[CW_DIR_OUT], 4);

  cw_table_close_range(15, 15);
  assert_null(cw_table_get(15));
  cw_table_close_range(41, UINT_MAX); /* above every tracked fd */
  assert_int_equal(k->active[CW_DIR_OUT], 3);

  cw_table_close_range(0, UINT_MAX);
  assert_int_equal(k->active[CW_DIR_OUT], 0);
  assert_int_equal(k->closed[CW_DIR_OUT], 6);
  assert_int_equal(dest_of(*upstream())->active, 0);
}

static void test_end_missed_ends_only_the_record_with_that_id(void **state) {
  open_out(10, *upstream());
  uint64_t id = cw_table_get(10)->id;
  assert_int_equal(cw_table_end_missed(10, id + 1000), 0);
  assert_non_null(cw_table_get(10));
  assert_int_equal(cw_table_end_missed(11, id), 0);
  assert_int_equal(cw_table_end_missed((int)cw_slot_cap, id), 0);
  assert_int_equal(k->missed_closes, 0);

  assert_int_equal(cw_table_end_missed(10, id), 1);
  assert_null(cw_table_get(10));
  assert_int_equal(k->missed_closes, 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  assert_int_equal(k->active[CW_DIR_OUT], 0);
}

static void test_end_missed_on_a_dup_keeps_the_connection_on_its_other_fd(void **state) {
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  cw_table_dup(10, 11);
  assert_int_equal(cw_table_end_missed(10, c->id), 0);
  assert_null(cw_table_get(10));
  assert_ptr_equal(cw_table_get(11), c);
  assert_int_equal(c->fd, 11);
  assert_int_equal(c->nfds, 1);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_int_equal(k->closed[CW_DIR_OUT], 0);
}

static void test_destinations_count_active_and_opened_per_peer(void **state) {
  struct cw_addr a = v4("127.0.0.1", 8000), b = v4("127.0.0.1", 8001), a_other_ip = v4("127.0.0.2", 8000);
  open_out(10, a);
  open_out(11, a);
  open_out(12, a);
  open_out(13, b);
  open_out(14, a_other_ip);
  open_in(15);
  struct cw_dest *da = dest_of(a), *db = dest_of(b), *dc = dest_of(a_other_ip);
  assert_non_null(da);
  assert_non_null(db);
  assert_non_null(dc);
  assert_int_equal(cw_tab.ndests, 3); /* the inbound peer is no destination */
  assert_ptr_equal(cw_table_get(10)->dest, da);
  assert_int_equal(da->active, 3);
  assert_int_equal(da->opened, 3);
  assert_int_equal(db->active, 1);
  assert_int_equal(db->opened, 1);
  assert_int_equal(dc->active, 1);

  cw_table_close(11);
  cw_table_close(13);
  assert_int_equal(da->active, 2);
  assert_int_equal(da->opened, 3);
  assert_int_equal(db->active, 0);
  assert_int_equal(db->opened, 1);

  open_out(13, b);
  assert_ptr_equal(dest_of(b), db); /* the same record comes back */
  assert_int_equal(db->active, 1);
  assert_int_equal(db->opened, 2);
  assert_int_equal(da->refused + da->reaped + db->refused + db->reaped, 0);
}

/* Pretend the connection on fd was opened `seconds` ago. */
static void age(int fd, double seconds) {
  struct cw_conn *c = cw_table_get(fd);
  assert_non_null(c);
  c->opened_ns -= (int64_t)(seconds * 1e9);
}

static void test_duration_histogram_counts_each_closed_connection_once(void **state) {
  open_out(10, *upstream());
  cw_table_close(10); /* well under 5ms */
  open_out(11, *upstream());
  age(11, 2.0); /* in the (1, 5] bucket */
  cw_table_dup(11, 12);
  cw_table_close(11);
  cw_table_close(12);
  open_in(13);
  age(13, 0.07); /* (0.05, 0.1] */
  cw_table_close(13);
  open_out(14, *upstream());
  age(14, 7200); /* beyond the last bound: +Inf */
  cw_table_close(14);

  int64_t want[CW_HIST_BUCKETS + 1] = {0};
  want[0] = 1;
  want[3] = 1;
  want[6] = 1;
  want[CW_HIST_BUCKETS] = 1;
  for (int i = 0; i <= CW_HIST_BUCKETS; i++)
    if (k->hist[i] != want[i])
      fail_msg("bucket %d: %lld, want %lld", i, (long long)k->hist[i], (long long)want[i]);
  assert_true(k->hist_sum_s > 7202.06 && k->hist_sum_s < 7202.2);
}

static void test_histogram_bounds_increase(void **state) {
  for (int i = 1; i < CW_HIST_BUCKETS; i++)
    assert_true(cw_hist_bounds_s[i] > cw_hist_bounds_s[i - 1]);
  assert_true(cw_hist_bounds_s[0] > 0);
}

static void test_inherited_connections_stay_out_of_the_histogram(void **state) {
  assert_int_equal(open_full(10, CW_DIR_OUT, 5, *upstream(), 1), 0);
  assert_int_equal(k->inherited, 1);
  assert_int_equal(cw_table_get(10)->inherited, 1);
  cw_table_close(10);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  for (int i = 0; i <= CW_HIST_BUCKETS; i++)
    assert_int_equal(k->hist[i], 0);
}

static void test_bytes_of_ended_connections_are_kept(void **state) {
  open_out(10, *upstream());
  open_in(11);
  struct cw_conn *c = cw_table_get(10);
  c->bytes_in = 100;
  c->bytes_out = 1000;
  cw_table_get(11)->bytes_in = 5;
  cw_table_close(10);
  cw_table_fd_reused(11);
  assert_int_equal(k->bytes_in_closed, 105);
  assert_int_equal(k->bytes_out_closed, 1000);
}

static void test_shutdown_records_which_side_was_shut(void **state) {
  open_out(10, *upstream());
  cw_table_shutdown(10, SHUT_RD);
  assert_int_equal(cw_table_get(10)->shut, 1);
  cw_table_shutdown(10, SHUT_WR);
  assert_int_equal(cw_table_get(10)->shut, 3);
  open_out(11, *upstream());
  cw_table_shutdown(11, SHUT_RDWR);
  assert_int_equal(cw_table_get(11)->shut, 3);
  cw_table_shutdown(12, SHUT_RDWR); /* untracked: nothing to record */
  assert_null(cw_table_get(12));
}

static void test_fork_child_marks_all_inherited_and_restarts_counters(void **state) {
  struct cw_addr b = v4("127.0.0.1", 9002);
  open_out(10, *upstream());
  open_out(11, *upstream());
  open_out(12, *upstream());
  open_out(13, b);
  open_in(14);
  cw_table_close(12);
  cw_table_fd_reused(13); /* a missed close, and a histogram sample */
  cw_tab.c.refused = 3;
  cw_tab.c.reaped[0] = 2;
  dest_of(*upstream())->refused = 4;
  dest_of(*upstream())->reaped = 1;
  cw_table_count_untracked();

  cw_table_fork_child();

  assert_int_equal(cw_table_get(10)->inherited, 1);
  assert_int_equal(cw_table_get(11)->inherited, 1);
  assert_int_equal(cw_table_get(14)->inherited, 1);
  assert_int_equal(k->opened[CW_DIR_OUT], 2);
  assert_int_equal(k->active[CW_DIR_OUT], 2);
  assert_int_equal(k->opened[CW_DIR_IN], 1);
  assert_int_equal(k->active[CW_DIR_IN], 1);
  assert_int_equal(k->peak[CW_DIR_OUT], 2);
  assert_int_equal(k->peak[CW_DIR_IN], 1);
  assert_int_equal(k->peak_total, 3);
  assert_int_equal(k->inherited, 3);
  assert_int_equal(k->closed[CW_DIR_OUT] + k->closed[CW_DIR_IN], 0);
  assert_int_equal(k->missed_closes + k->untracked + k->refused + k->reaped[0], 0);
  for (int i = 0; i <= CW_HIST_BUCKETS; i++)
    assert_int_equal(k->hist[i], 0);
  assert_int_equal(k->bytes_in_closed + k->bytes_out_closed, 0);
  struct cw_dest *d = dest_of(*upstream());
  assert_int_equal(d->active, 2);
  assert_int_equal(d->opened, 2);
  assert_int_equal(d->refused + d->reaped, 0);
  assert_int_equal(dest_of(b)->opened, 0);

  /* the table goes on working in the child, with its own lock */
  open_out(12, *upstream());
  assert_int_equal(cw_table_get(12)->inherited, 0);
  assert_int_equal(k->active[CW_DIR_OUT], 3);
  cw_table_close(10);
  assert_int_equal(k->closed[CW_DIR_OUT], 1);
  for (int i = 0; i <= CW_HIST_BUCKETS; i++) /* an inherited close is no duration sample */
    assert_int_equal(k->hist[i], 0);
  assert_int_equal(d->active, 2);
}

/* The reaper takes bytes the kernel counts beyond a record's own for another holder's activity
 * only when the record's counts start with the connection: one opened here, and its copy in a
 * fork child (a parent's accepted connection its child serves), but not one adopted across exec,
 * whose earlier bytes are unknown until the reaper's first look. */
static void test_byte_counts_start_with_the_connection_unless_adopted(void **state) {
  open_in(10);
  assert_int_equal(open_full(11, CW_DIR_IN, 1011, v4("127.0.0.1", 55555), 1), 0);
  assert_int_equal(cw_table_get(10)->acked_base, 1);
  assert_int_equal(cw_table_get(11)->acked_base, 0);
  cw_table_fork_child();
  assert_int_equal(cw_table_get(10)->acked_base, 1);
  assert_int_equal(cw_table_get(11)->acked_base, 0);
}

static void test_fd_beyond_the_slot_array_is_counted_as_untracked(void **state) {
  int top = (int)cw_slot_cap - 1;
  open_out(top, *upstream()); /* the last slot is tracked */
  assert_non_null(cw_table_get(top));

  assert_int_equal(open_full((int)cw_slot_cap, CW_DIR_OUT, 1, *upstream(), 0), -EBADF);
  assert_int_equal(k->untracked, 1);
  assert_int_equal(open_full(INT_MAX, CW_DIR_IN, 2, *upstream(), 0), -EBADF);
  assert_int_equal(open_full(-1, CW_DIR_OUT, 3, *upstream(), 0), -EBADF);
  assert_int_equal(k->untracked, 3);
  assert_int_equal(k->opened[CW_DIR_OUT], 1);
  assert_int_equal(k->opened[CW_DIR_IN], 0);
  assert_int_equal(k->active[CW_DIR_OUT], 1);
  assert_null(cw_table_get((int)cw_slot_cap));

  cw_table_dup(top, (int)cw_slot_cap); /* a dup out of range is not followed */
  assert_int_equal(cw_table_get(top)->nfds, 1);

  cw_table_count_untracked();
  assert_int_equal(k->untracked, 4);
  cw_table_close(top);
  assert_int_equal(k->active[CW_DIR_OUT], 0);
}

static void test_open_keeps_the_backtrace_it_is_given(void **state) {
  struct cw_bt *bt = cw_mem_alloc(sizeof *bt);
  assert_non_null(bt);
  bt->n = 1;
  bt->pc[0] = (void *)&test_open_keeps_the_backtrace_it_is_given;
  struct cw_conn_info info = {.fd = 10, .dir = CW_DIR_OUT, .ino = 1, .peer = *upstream(), .bt = bt};
  assert_int_equal(cw_table_open(&info), 0);
  assert_ptr_equal(cw_table_get(10)->bt, bt);
  /* a refused open still takes (and frees) the backtrace: nothing to leak for the caller */
  struct cw_bt *bt2 = cw_mem_alloc(sizeof *bt2);
  assert_non_null(bt2);
  info.bt = bt2;
  assert_int_equal(cw_table_open(&info), -EEXIST);
  assert_ptr_equal(cw_table_get(10)->bt, bt);
  cw_table_close(10);
}

/* The activity clock is the reaper's tick, which can be old when a connection opens (the reaper
 * starts with the first connection and ticks a tenth of a timeout later): activity right after
 * the open must not be dated before it, or the connection is reaped early. */
static void test_activity_right_after_open_is_not_dated_before_it(void **state) {
  __atomic_store_n(&cw_tick_ns, cw_now_coarse() - 5000000000, __ATOMIC_RELAXED); /* 5 s stale */
  open_out(10, *upstream());
  struct cw_conn *c = cw_table_get(10);
  assert_non_null(c);
  int64_t active = cw_tick(); /* what a read wrapper stores as the last activity */
  assert_true(active >= c->last_ns);
  assert_true(c->opened_ns - active < 100000000); /* within the coarse clock's resolution */
  cw_table_close(10);
}

#define T(f) cmocka_unit_test_setup(f, fresh_table)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_open_counts_opened_active_and_peak_per_direction),
      T(test_get_returns_the_record_as_it_was_opened),
      T(test_repeated_open_with_the_same_inode_is_eexist),
      T(test_reopening_a_number_with_another_inode_ends_the_old_one_as_missed),
      T(test_fd_reused_ends_the_record_as_a_missed_close),
      T(test_dup_fds_share_one_record_that_ends_at_the_last_close),
      T(test_closing_one_of_two_dup_fds_keeps_the_connection),
      T(test_closing_the_fd_that_names_the_record_moves_its_name),
      T(test_dup_over_a_tracked_fd_ends_its_connection),
      T(test_dup_between_two_fds_of_one_connection_keeps_it),
      T(test_dup_of_an_untracked_fd_over_a_tracked_one_ends_it),
      T(test_dup_onto_itself_and_close_of_untracked_change_nothing),
      T(test_close_range_ends_every_tracked_fd_in_the_range),
      T(test_end_missed_ends_only_the_record_with_that_id),
      T(test_end_missed_on_a_dup_keeps_the_connection_on_its_other_fd),
      T(test_destinations_count_active_and_opened_per_peer),
      T(test_duration_histogram_counts_each_closed_connection_once),
      T(test_histogram_bounds_increase),
      T(test_inherited_connections_stay_out_of_the_histogram),
      T(test_bytes_of_ended_connections_are_kept),
      T(test_shutdown_records_which_side_was_shut),
      T(test_fork_child_marks_all_inherited_and_restarts_counters),
      T(test_byte_counts_start_with_the_connection_unless_adopted),
      T(test_fd_beyond_the_slot_array_is_counted_as_untracked),
      T(test_open_keeps_the_backtrace_it_is_given),
      T(test_activity_right_after_open_is_not_dated_before_it),
  };
  return cmocka_run_group_tests_name("table", tests, init_once, NULL);
}
