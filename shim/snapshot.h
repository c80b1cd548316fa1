/* snapshot.h - a consistent copy of the table, counters and configuration, taken under table_mu,
 * and the process's name as it is now; everything after (rendering, reports) reads the copy
 * without a lock. */
#ifndef CW_SNAPSHOT_H
#define CW_SNAPSHOT_H

#include <sys/types.h>
#include "config.h"
#include "table.h"
#include "tree.h"

struct cw_conn_view {
  int fd, dir, inherited, peer_closed, shut;
  int reaped, released; /* reaped: 0, or 1 + enum cw_reason */
  int queued;           /* a connect waiting for a cap slot (state QUEUED, wait_ms) */
  int64_t wait_ms;
  int abandoned;        /* abandoned now: enum cw_abandon (state ABANDONED) */
  int close_wait;       /* counted as a close-wait leak, and still open */
  uint32_t unread;      /* abandoned for unread bytes: how many wait now */
  int64_t unread_ms;    /* how long the bytes unread have waited with no read (0: none wait, or
                         * not known once reaped) */
  int64_t held_ms;      /* how long since the reaper saw the peer closed (0: not seen) */
  int reaped_reason;    /* reaped: enum cw_reason */
  int64_t reaped_ms;    /* reaped: how long ago */
  uint64_t id;
  struct cw_addr local, peer;
  const char *host; /* its name (in the snapshot's hosts block), NULL when none is known */
  uint16_t hport;   /* the port its name goes with (a proxy's CONNECT target's) */
  int via;          /* named by a proxy request: peer is the proxy */
  const char *state; /* static string: the kernel's TCP state, RELEASED or QUEUED */
  int64_t age_ms, idle_ms, opened_wall_ms;
  uint64_t bytes_in, bytes_out, calls_in, calls_out;
  struct cw_bt *bt; /* a copy (mem.c, freed with the snapshot); NULL when not captured or not
                     * asked for */
};

struct cw_dest_view {
  struct cw_dkey key;  /* the destination: a name and port, or an address */
  struct cw_addr peer; /* the address of its latest connection */
  int64_t active, opened, refused, reaped;
};

struct cw_snapshot {
  pid_t pid;
  double uptime_s;
  struct cw_counters c;
  int64_t bytes_in, bytes_out; /* ended plus live connections */
  struct cw_conn_view *conns;
  int nconns;
  struct cw_dest_view *dests;
  int ndests;
  struct cw_host_copy hosts; /* the connections' names */
  struct cw_config cfg; /* settable fields as they are now */
  int has_tree;         /* tree scope: the tree's counters and members */
  struct cw_tree_view tree;
  char name[CW_NAME_MAX + 1]; /* the process's name now (procname.h) */
};

enum { CW_SNAP_CONNS = 1, CW_SNAP_BT = 2 };

/* Take a snapshot. With CW_SNAP_CONNS, each connection's fd is checked against its recorded
 * socket inode (outside the lock): one that names another file now is ended as a missed close
 * and left out. Returns 0 or -ENOMEM. Any thread except inside a wrapper holding table_mu. */
CW_HIDDEN int cw_snapshot_take(struct cw_snapshot *s, int flags);
CW_HIDDEN void cw_snapshot_free(struct cw_snapshot *s);

#endif
