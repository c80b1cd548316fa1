/* test_names.c - destinations by name (names.c): the resolver's map (normalized names, literals
 * and bad names left out, the most recent name wins, bounded with the least recently used going
 * first), the shared host names of connections, destination keys and their text, and a
 * connection moving to the destination its first bytes named (table.c).
 * objects: names.o sniff.o addr.o table.o mem.o log.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "names.h"
#include "table.h"

static struct sockaddr_in sin4(const char *ip, uint16_t port) {
  struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
  assert_int_equal(inet_pton(AF_INET, ip, &s.sin_addr), 1);
  return s;
}

static void learn4(const char *name, const char *ip) {
  struct sockaddr_in s = sin4(ip, 443);
  cw_names_learn(name, (struct sockaddr *)&s, sizeof s);
}

static const char *lookup(struct cw_addr a) {
  static char out[CW_HOST_MAX + 1];
  return cw_names_lookup(&a, out) ? out : NULL;
}

/* The map's state carries over from test to test (one map a process): each uses addresses of
 * its own. The bounded test runs last. */

static void test_a_resolved_name_is_found_by_address_at_any_port(void **state) {
  learn4("API.Example.COM.", "10.1.0.1");
  assert_string_equal(lookup(v4("10.1.0.1", 8080)), "api.example.com");
  assert_null(lookup(v4("10.1.0.2", 443)));
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
  cw_names_learn("v6.example.com", (struct sockaddr *)&s6, sizeof s6);
  assert_string_equal(lookup(v6("2001:db8::1", 1)), "v6.example.com");
  assert_null(lookup(v4("32.1.13.184", 1))); /* the same first bytes, another family */
}

static void test_literals_bad_names_and_short_addresses_are_not_learned(void **state) {
  size_t before = cw_names_count();
  learn4("10.1.1.1", "10.1.1.1");
  learn4("2001:db8::5", "10.1.1.2");
  learn4("bad name", "10.1.1.3");
  learn4("", "10.1.1.4");
  learn4(NULL, "10.1.1.5");
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  learn4(longname, "10.1.1.6");
  struct sockaddr_in s = sin4("10.1.1.7", 1);
  cw_names_learn("short.example.com", (struct sockaddr *)&s, sizeof s - 1);
  cw_names_learn_raw("unix.example.com", AF_UNIX, "x");
  assert_int_equal(cw_names_count(), before);
}

static void test_the_most_recent_name_wins(void **state) {
  learn4("first.example.com", "10.2.0.1");
  learn4("second.example.com", "10.2.0.1");
  assert_string_equal(lookup(v4("10.2.0.1", 1)), "second.example.com");
  uint8_t ip[4] = {10, 2, 0, 1};
  cw_names_learn_raw("third.example.com", AF_INET, ip);
  assert_string_equal(lookup(v4("10.2.0.1", 1)), "third.example.com");
}

/* CW_NAMES_CAP entries at most, whatever is resolved; once full, the entry looked up or learned
 * least recently goes. */
static void test_the_map_is_bounded_and_forgets_the_least_recently_used(void **state) {
  char name[64], ip[32];
  for (int i = 0; i < CW_NAMES_CAP; i++) {
    snprintf(name, sizeof name, "n%d.example.com", i);
    snprintf(ip, sizeof ip, "10.3.%d.%d", i / 250, i % 250);
    learn4(name, ip);
  }
  assert_int_equal(cw_names_count(), CW_NAMES_CAP);
  assert_string_equal(lookup(v4("10.3.0.0", 1)), "n0.example.com"); /* used now: kept */
  for (int i = 0; i < 3 * CW_NAMES_CAP; i++) {
    snprintf(name, sizeof name, "m%d.example.com", i);
    snprintf(ip, sizeof ip, "10.4.%d.%d", i / 250, i % 250);
    learn4(name, ip);
    if (i == CW_NAMES_CAP / 2)
      assert_string_equal(lookup(v4("10.3.0.0", 1)), "n0.example.com");
    assert_int_equal(cw_names_count(), CW_NAMES_CAP);
  }
  assert_null(lookup(v4("10.3.0.1", 1)));
  assert_null(lookup(v4("10.3.0.0", 1))); /* not used for longer than the map holds */
  snprintf(ip, sizeof ip, "10.4.%d.%d", (3 * CW_NAMES_CAP - 1) / 250, (3 * CW_NAMES_CAP - 1) % 250);
  snprintf(name, sizeof name, "m%d.example.com", 3 * CW_NAMES_CAP - 1);
  assert_string_equal(lookup(v4(ip, 1)), name);
}

static void test_hosts_are_shared_by_name_and_port_and_freed_with_the_last(void **state) {
  cw_table_lock();
  size_t before = cw_host_count();
  struct cw_host *a = cw_host_get("api.example.com", 443), *b = cw_host_get("api.example.com", 443);
  struct cw_host *c = cw_host_get("api.example.com", 80);
  assert_ptr_equal(a, b);
  assert_ptr_not_equal(a, c);
  assert_int_equal(a->refs, 2);
  assert_int_equal(cw_host_count(), before + 2);
  struct cw_host_copy hc;
  assert_int_equal(cw_host_copy_begin(&hc), 0);
  const char *x = cw_host_copy(&hc, a), *y = cw_host_copy(&hc, b);
  assert_ptr_equal(x, y); /* copied once */
  assert_string_equal(x, "api.example.com");
  assert_null(cw_host_copy(&hc, NULL));
  cw_mem_free(hc.buf);
  cw_host_put(a);
  cw_host_put(b);
  cw_host_put(c);
  assert_int_equal(cw_host_count(), before);
  assert_null(cw_host_get("", 1));
  cw_table_unlock();
}

static void test_keys_and_their_text_follow_dest_by(void **state) {
  struct cw_addr peer = v4("127.0.0.2", 8000);
  struct cw_dkey k;
  char buf[CW_DKEY_STRLEN], w[CW_WHERE_STRLEN];
  cw_dkey_make(&k, &peer, "api.example.com", 8000);
  assert_string_equal(cw_dkey_format(&k, buf, sizeof buf), "api.example.com:8000");
  assert_int_equal(cw_dkey_len(&k), offsetof(struct cw_dkey, name) + strlen("api.example.com"));
  cw_dkey_make(&k, &peer, NULL, 0);
  assert_string_equal(cw_dkey_format(&k, buf, sizeof buf), "127.0.0.2:8000");
  cw_dkey_make(&k, &peer, "::1", 443); /* a proxy's target given as an address */
  assert_string_equal(cw_dkey_format(&k, buf, sizeof buf), "[::1]:443");
  cw_dest_by_address = 1;
  cw_dkey_make(&k, &peer, "api.example.com", 8000);
  assert_string_equal(cw_dkey_format(&k, buf, sizeof buf), "127.0.0.2:8000");
  cw_dest_by_address = 0;
  assert_string_equal(cw_where(&peer, "api.example.com", 8000, 0, w, sizeof w), "api.example.com:8000 (127.0.0.2:8000)");
  assert_string_equal(cw_where(&peer, "api.example.com", 443, 1, w, sizeof w), "api.example.com:443 via 127.0.0.2:8000");
  assert_string_equal(cw_where(&peer, NULL, 0, 0, w, sizeof w), "127.0.0.2:8000");
}

/* A connection named by its first bytes moves to its name's destination: counts and its slot. */
static void test_a_connection_named_late_moves_to_its_names_destination(void **state) {
  static int inited;
  if (!inited++)
    assert_int_equal(cw_table_init(), 0);
  struct cw_conn_info info = {.fd = 40, .dir = CW_DIR_OUT, .holds_slot = 1, .ino = 4040};
  info.peer = v4("127.0.0.1", 3128);
  cw_table_lock();
  assert_int_equal(cw_table_open_locked(&info), 0);
  struct cw_conn *c = cw_table_get(40);
  struct cw_dest *proxy = c->dest;
  assert_non_null(proxy);
  proxy->slots++; /* as the policy takes it */
  assert_int_equal(cw_table_rename_locked(c, "api.example.com", 443, 1), 1);
  struct cw_dest *named = c->dest;
  assert_ptr_not_equal(named, proxy);
  assert_int_equal(proxy->active, 0);
  assert_int_equal(proxy->opened, 1); /* a counter: it opened there */
  assert_int_equal(proxy->slots, 0);
  assert_int_equal(named->active, 1);
  assert_int_equal(named->opened, 1);
  assert_int_equal(named->slots, 1);
  assert_true(c->via);
  assert_string_equal(c->host->name, "api.example.com");
  assert_int_equal(c->host->port, 443);
  assert_int_equal(cw_table_rename_locked(c, "sni.example.com", 443, 0), 0); /* named already */
  assert_string_equal(c->host->name, "api.example.com");
  cw_table_unlock();
  cw_table_close(40);
  assert_int_equal(named->active, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_resolved_name_is_found_by_address_at_any_port),
      cmocka_unit_test(test_literals_bad_names_and_short_addresses_are_not_learned),
      cmocka_unit_test(test_the_most_recent_name_wins),
      cmocka_unit_test(test_hosts_are_shared_by_name_and_port_and_freed_with_the_last),
      cmocka_unit_test(test_keys_and_their_text_follow_dest_by),
      cmocka_unit_test(test_a_connection_named_late_moves_to_its_names_destination),
      cmocka_unit_test(test_the_map_is_bounded_and_forgets_the_least_recently_used),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
