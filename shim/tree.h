/* tree.h - one policy for a process tree (CONNWARDEN_CAP_SCOPE=tree): the caps, the FIFO queue,
 * the counters and the run-time settings live in a file the tree's first process creates in the
 * run directory and names in the environment (CW_TREE_VAR); every process it forks or execs maps
 * it. Called by policy (slots and the queue), table (sockets opened and ended), the reaper (the
 * tick: settings, counters, dead members), lifecycle (fork, exec, exit) and snapshot/render.
 *
 * Everything here is a no-op until cw_tree_init joined a tree (cw_tree_on). Lock order: table_mu,
 * then the tree's lock (a robust, process-shared mutex in the file: a member killed while holding
 * it costs the next locker a repair, never a wedge). */
#ifndef CW_TREE_H
#define CW_TREE_H

#include <stdint.h>
#include "addr.h"
#include "names.h"
#include "cw.h"

#define CW_TREE_VAR "CONNWARDEN_TREE"
#define CW_TREE_MEMBERS 128 /* processes at once; one more runs with its own caps, and says so */
#define CW_TREE_WAITS 1024  /* connects waiting in the tree's queue at once */

extern CW_HIDDEN int cw_tree_on; /* this process is a member; written at start-up, in a fork child and
                                   * at exit (under table_mu): read it under table_mu, or with
                                   * cw_tree_member() */
static inline int cw_tree_member(void) { return __atomic_load_n(&cw_tree_on, __ATOMIC_ACQUIRE); }

/* At start-up, after the configuration: join the tree named in the environment, or create one
 * (CAP_SCOPE=tree) and name it there. On any failure: one line, and per-process caps. */
CW_HIDDEN void cw_tree_init(void);

/* ---- slots (caller holds table_mu) ---------------------------------------------------------- */
/* Hand free slots to the tree's waiters, oldest first; then, if a slot fits dest, take it for the
 * socket ino (this process holds it): 1. Otherwise, with since_ns 0, 0; with since_ns, the connect
 * waits in the tree's queue from then: 0 and *tidx its place, or -1 when the queue is full. row (may
 * be NULL) caches dest's row in the tree (its row + 1; 0 unknown): looked up once per process. */
CW_HIDDEN int cw_tree_admit(const struct cw_dkey *dest, int32_t *row, uint64_t ino, int64_t since_ns, int *tidx);
/* Is there no room for dest now (the tree's cap, or dest's)? Unlocked: a hint for eviction. */
CW_HIDDEN int cw_tree_full(const struct cw_dkey *dest, int *global);
/* This process's hold on socket ino ends (its last fd of it closed, or it was released): the
 * socket's slot and count go when no member holds it. */
CW_HIDDEN void cw_tree_drop(uint64_t ino);
/* Socket ino is a connection of this process now (opened, accepted, adopted): counted once in the
 * tree, however many members hold it. */
CW_HIDDEN void cw_tree_open(uint64_t ino, int dir);
/* Socket ino, a connection of this process, turned out to be for destination dest (its first
 * bytes named it): its slot, when it holds one, moves there (a waiter for the old one may go). */
CW_HIDDEN void cw_tree_redest(uint64_t ino, const struct cw_dkey *dest);
/* Does socket ino hold a slot of the tree (and this process's hold on it)? */
CW_HIDDEN int cw_tree_holds(uint64_t ino);

/* ---- the queue (caller holds table_mu) ------------------------------------------------------ */
/* This process's waiting connect of socket ino (after exec), or -1. */
CW_HIDDEN int cw_tree_find_wait(uint64_t ino);
/* It leaves the queue (gone, timed out, or its grant taken); a grant not taken is given back. */
CW_HIDDEN void cw_tree_dequeue(int idx, uint64_t ino, int taken);
/* Give free slots to the tree's waiters. Then: was idx granted (the slot is taken for it)? */
CW_HIDDEN void cw_tree_grant(void);
CW_HIDDEN int cw_tree_granted(int idx, uint64_t ino);

/* The oldest connect in the tree's queue that no slot fits, for eviction and the starvation
 * warning (any member's idle pool may be what holds it up): its destination, whether the tree's
 * own cap holds it, since when it waits, and how many wait with it. 0 when the queue moves. */
CW_HIDDEN int cw_tree_stuck(struct cw_dkey *dest, int *global, int64_t *since_ns, int *waiting);

/* ---- settings and the tick ------------------------------------------------------------------ */
/* `set` here: the tree's settings become this process's, and every member picks them up. */
CW_HIDDEN void cw_tree_publish_settings(void);
/* The tree's settings, if they changed, into cw_cfg. Cheap when they did not. */
CW_HIDDEN void cw_tree_sync_settings(void);
/* The reaper's tick: settings, this process's counters, and (at most every 250 ms across the tree)
 * members that died give back their slots and leave the queue. Returns when the next is due. */
CW_HIDDEN int64_t cw_tree_tick(int64_t now);
/* The reaper's sleep: until deadline (monotonic ns), a local wake (seq changed) or another
 * member's grant. seq: read with cw_tree_seq before deciding to sleep. */
CW_HIDDEN uint32_t cw_tree_seq(void);
CW_HIDDEN void cw_tree_sleep(uint32_t seq, int64_t deadline_ns);
CW_HIDDEN void cw_tree_wake_self(void);

/* ---- fork, exec, exit ----------------------------------------------------------------------- */
/* prepare: a row for the child, holding every socket this process holds */
CW_HIDDEN void cw_tree_fork_prepare(void); /* table_mu held, before own_mu */
CW_HIDDEN void cw_tree_fork_parent(void);
CW_HIDDEN void cw_tree_fork_child(void);   /* after the table's own fork-child handler */
/* exec: the membership survives in the same process (its fd stays open across exec, its number
 * in the line written here); exec_failed undoes it; adopt reads it in the new image. */
CW_HIDDEN int cw_tree_carry_line(char *buf, int size);
CW_HIDDEN void cw_tree_before_exec(void);
CW_HIDDEN void cw_tree_exec_failed(void);
CW_HIDDEN void cw_tree_adopt(int idx, int fd);
/* After the carried state is read: holds of sockets the exec closed end, and the waits of this
 * member other than keep (the places the new image waits on) leave the queue. */
CW_HIDDEN void cw_tree_after_exec(const int *keep, int nkeep);
CW_HIDDEN void cw_tree_exit(void);

/* ---- what stats shows ----------------------------------------------------------------------- */
/* The counters `stats` shows, for a process or summed over its tree. */
struct cw_counts {
  int64_t active[2], peak[2], peak_total, opened[2], closed[2], queued;
  int64_t refused, waited, wait_ms, queue_timeouts, reaped[4], released, close_wait_leaks;
  int64_t close_wait_now, abandoned, abandoned_now, bytes_in, bytes_out;
};
struct cw_tree_view {
  char name[65]; /* CW_NAME_MAX + 1 */
  int root_pid, processes;
  int pids[CW_TREE_MEMBERS];
  struct cw_counts c;
  int64_t slots;
  int64_t max_conns, max_conns_per_dest, idle_timeout_ms, max_lifetime_ms, evict_idle_ms;
};
/* This process's own counters, published into the tree (the reaper's tick, and at exit). */
struct cw_tree_pub {
  int64_t refused, waited, wait_ms, queue_timeouts, reaped[4], released, close_wait_leaks;
  int64_t abandoned, abandoned_now, close_wait_now, bytes_in, bytes_out;
};
CW_HIDDEN void cw_tree_publish(const struct cw_tree_pub *p);
CW_HIDDEN int cw_tree_view(struct cw_tree_view *v); /* 0, or -1 when not a member */

#endif
