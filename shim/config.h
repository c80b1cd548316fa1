/* config.h - the effective configuration: read from the environment once, in the constructor,
 * with strict parsers that the unit tests and fuzzers call directly. The policy fields that
 * `set` may change at run time are atomics; everything else is immutable after start-up. */
#ifndef CW_CONFIG_H
#define CW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>
#include "addr.h"
#include "cw.h"
#include "names.h"
#include "procname.h" /* CW_NAME_MAX */

enum cw_dir { CW_DIR_OUT = 0, CW_DIR_IN = 1 };
enum cw_on_cap { CW_ON_CAP_QUEUE = 0, CW_ON_CAP_REFUSE = 1 };
enum cw_scope { CW_SCOPE_PROCESS = 0, CW_SCOPE_TREE = 1 };
enum cw_dest_by { CW_DEST_BY_NAME = 0, CW_DEST_BY_ADDRESS = 1 };

/* One item of CONNWARDEN_ONLY / CONNWARDEN_EXCLUDE. */
enum cw_filter_kind { CW_F_IN, CW_F_OUT, CW_F_ALL, CW_F_HOSTPORT, CW_F_PORT, CW_F_CIDR, CW_F_NAMEPORT, CW_F_DOMAIN };
struct cw_filter {
  enum cw_filter_kind kind;
  struct cw_addr addr; /* HOSTPORT: ip, family and port; PORT, NAMEPORT: port; CIDR: ip and family */
  int prefix;          /* CIDR prefix length */
  char name[CW_HOST_MAX + 1]; /* NAMEPORT: the host name; DOMAIN: the domain (lowercase) */
};

#define CW_MAX_FILTERS 32
#define CW_PATH_MAX 4096

struct cw_config {
  /* run-time settable (stats `set`): read with relaxed atomics */
  int64_t max_conns;          /* 0 = no cap */
  int64_t max_conns_per_dest; /* 0 = no cap */
  int64_t idle_timeout_ms;    /* 0 = off */
  int64_t max_lifetime_ms;    /* 0 = off */
  int64_t evict_idle_ms;      /* 0 = off; eviction at a cap with connects waiting */
  /* immutable after start-up */
  enum cw_on_cap on_cap;
  enum cw_scope cap_scope; /* tree: caps, queue and counters shared by the process tree (tree.h) */
  enum cw_dest_by dest_by; /* what one destination is: a name and port (the address when no name
                            * is known), or an address */
  int64_t queue_timeout_ms;
  int cap_errno;
  int64_t reap_grace_ms;
  int64_t abandon_after_ms; /* 0 = off; unread bytes this long, or released unclosed: abandoned */
  struct cw_filter only[CW_MAX_FILTERS];
  int n_only;
  struct cw_filter exclude[CW_MAX_FILTERS];
  int n_exclude;
  char only_text[512], exclude_text[512]; /* as given, for `config`; ONLY is "out" by default */
  int stats_off;
  int stats_explicit; /* CONNWARDEN_STATS named the path (stats_spec) */
  /* This process keeps the exact path of a CONNWARDEN_STATS without %p: it read the path first
   * (no ancestor marked it, see statspath.h). Cleared in a fork child. */
  int stats_first;
  char stats_spec[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* as given; %p is the PID */
  char stats_path[CW_PATH_MAX]; /* this process's socket path */
  char rundir[CW_PATH_MAX];     /* the directory the socket lives in (created 0700 if missing) */
  int leak_check;
  int leak_exitcode;
  char report_dir[CW_PATH_MAX]; /* "" = stderr */
  int report_json;              /* CONNWARDEN_REPORT_FORMAT=json: reports are JSON, one per process */
  int backtrace; /* enum cw_bt_mode */
  char name[CW_NAME_MAX + 1]; /* CONNWARDEN_NAME; "" derives it from the command line when asked */
  int log_level; /* enum cw_level */
};

/* CONNWARDEN_BACKTRACE: 1 records the language stack where the host runs one connwarden reads
 * (CPython), else the native stack; native: native frames only. */
enum cw_bt_mode { CW_BT_OFF = 0, CW_BT_LANG = 1, CW_BT_NATIVE = 2 };

/* guarded by: atomics for the settable fields; the rest immutable after cw_config_load */
extern CW_HIDDEN struct cw_config cw_cfg;

/* Parsers. Each returns 0 and fills *out, or -EINVAL; none allocates or touches errno. */
CW_HIDDEN int cw_parse_duration_ms(const char *s, int64_t *out); /* 250ms 30s 10m 1h 1.5s 5; "off" */
CW_HIDDEN int cw_parse_count(const char *s, int64_t *out);       /* 0 .. 1,000,000,000 */
CW_HIDDEN int cw_parse_errno_name(const char *s, int *out);      /* ECONNREFUSED, ... */
CW_HIDDEN int cw_parse_filters(const char *s, struct cw_filter *out, int max, int *n);

/* Does connection (dir, peer; host and hport its name and port, host NULL when no name is known)
 * match any of the filters? */
CW_HIDDEN int cw_filters_match(const struct cw_filter *f, int n, int dir, const struct cw_addr *peer,
                               const char *host, uint16_t hport);

/* Fill cfg from getenv_fn (getenv in production, a table in tests). On a bad value returns -EINVAL
 * and writes one line naming the variable, the value and the accepted forms into err. */
CW_HIDDEN int cw_config_load(struct cw_config *cfg, const char *(*getenv_fn)(const char *),
                             char *err, size_t errlen);

/* Set one run-time field by its stats name (max_conns, max_conns_per_dest, idle_timeout,
 * max_lifetime, evict_idle). Returns 0, or -EINVAL with a reason in err. */
CW_HIDDEN int cw_config_set(struct cw_config *cfg, const char *name, const char *value, char *err,
                            size_t errlen);

static inline int64_t cw_cfg_get(const int64_t *field) {
  return __atomic_load_n(field, __ATOMIC_RELAXED);
}

#endif
