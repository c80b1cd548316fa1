/* snapshot.c - copies the table and counters under table_mu; then checks each copied fd's inode,
 * reads its TCP state and the process's name (procname.c) without the lock. Called by the stats
 * server and the leak check. */
#define _GNU_SOURCE
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>
#include "backtrace.h"
#include "lifecycle.h"
#include "policy.h"
#include "log.h"
#include "procname.h"
#include "sock.h"

int cw_snapshot_take(struct cw_snapshot *s, int flags) {
  memset(s, 0, sizeof *s);
  s->pid = cw_pid;
  int64_t now = cw_now(), now_coarse = cw_now_coarse();
  int64_t wall_ms = cw_wall_ms();
  s->uptime_s = (double)(now - cw_start_ns) / 1e9;
  uint64_t *inos = NULL;

  if (cw_tree_member())
    cw_tree_sync_settings(); /* a `set` elsewhere in the tree shows here at once */
  cw_table_lock();
  s->has_tree = cw_tree_view(&s->tree) == 0;
  s->c = cw_tab.c;
  s->c.wait_ms += cw_policy_waiting_ms_locked(now); /* waits still going on count too */
  s->c.log_dropped = cw_log_dropped();
  s->cfg = cw_cfg;
  int n = (int)HASH_COUNT(cw_tab.conns); /* the records, and the anchor when it is in */
  s->bytes_in = s->c.bytes_in_closed;
  s->bytes_out = s->c.bytes_out_closed;
  s->dests = cw_mem_alloc(((size_t)cw_tab.ndests + 1) * sizeof *s->dests);
  int nomem = 0;
  if (flags & CW_SNAP_CONNS) {
    s->conns = cw_mem_alloc(((size_t)n + 1) * sizeof *s->conns);
    inos = cw_mem_alloc(((size_t)n + 1) * sizeof *inos);
    nomem = cw_host_copy_begin(&s->hosts) < 0;
  }
  if (!s->dests || nomem || ((flags & CW_SNAP_CONNS) && (!s->conns || !inos))) {
    cw_table_unlock();
    cw_mem_free(inos);
    cw_snapshot_free(s);
    return -ENOMEM;
  }
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (c->failed) /* a queued connect that failed: never a connection */
      continue;
    uint64_t bin = __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
    uint64_t bout = __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
    s->bytes_in += (int64_t)bin;
    s->bytes_out += (int64_t)bout;
    s->c.abandoned_now += c->abandoned != CW_AB_NO;
    s->c.close_wait_now += c->cw_logged;
    if (!(flags & CW_SNAP_CONNS))
      continue;
    struct cw_conn_view *v = &s->conns[s->nconns];
    inos[s->nconns++] = c->ino;
    v->fd = c->fd;
    v->dir = c->dir;
    v->inherited = c->inherited;
    v->peer_closed = __atomic_load_n(&c->peer_closed, __ATOMIC_RELAXED) == 1;
    v->shut = c->shut;
    v->reaped = c->reaped;
    v->released = c->released;
    v->abandoned = c->abandoned;
    v->close_wait = c->cw_logged;
    v->held_ms = c->peer_closed_ns ? (now - c->peer_closed_ns) / 1000000 : 0;
    if (c->reaped && !c->queued) {
      v->reaped_reason = (int)c->reaped - 1;
      v->reaped_ms = (now - c->reaped_ns) / 1000000;
    } else if (!c->queued && c->unread_ns) {
      v->unread_ms = (now - c->unread_ns) / 1000000;
    }
    v->id = c->id;
    v->local = c->local;
    v->peer = c->peer;
    v->host = cw_host_copy(&s->hosts, c->host);
    v->hport = c->host ? c->host->port : 0;
    v->via = c->via;
    v->age_ms = (now - c->opened_ns) / 1000000;
    int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED);
    v->idle_ms = now_coarse > last ? (now_coarse - last) / 1000000 : 0;
    if (v->idle_ms > v->age_ms) /* last activity is a reaper tick, which may predate the open */
      v->idle_ms = v->age_ms;
    v->opened_wall_ms = wall_ms - (now - c->opened_ns) / 1000000;
    v->bytes_in = bin;
    v->bytes_out = bout;
    v->calls_in = __atomic_load_n(&c->calls_in, __ATOMIC_RELAXED);
    v->calls_out = __atomic_load_n(&c->calls_out, __ATOMIC_RELAXED);
    if (c->queued) {
      v->queued = 1;
      v->wait_ms = (now - cw_policy_queued_since_locked(c)) / 1000000;
      v->age_ms = v->idle_ms = 0;
    }
    v->bt = (flags & CW_SNAP_BT) ? cw_bt_dup(c->bt) : NULL;
  }
  struct cw_dest *d, *dt;
  HASH_ITER(hh, cw_tab.dests, d, dt) {
    if (!d->active && !d->opened && !d->refused && !d->reaped)
      continue; /* made for a connect that never counted anywhere: nothing to show */
    struct cw_dest_view *v = &s->dests[s->ndests++];
    memset(&v->key, 0, sizeof v->key);
    memcpy(&v->key, &d->key, cw_dkey_len(&d->key));
    v->peer = d->peer;
    v->active = d->active;
    v->opened = d->opened;
    v->refused = d->refused;
    v->reaped = d->reaped;
  }
  cw_table_unlock();

  /* Outside the lock: the fd may have been closed and its number reused since the copy. A record
   * whose fd names another file was closed where no wrapper saw it. */
  int kept = 0;
  for (int i = 0; i < s->nconns; i++) {
    struct cw_conn_view *v = &s->conns[i];
    if (cw_sock_ino(v->fd) != inos[i]) {
      cw_mem_free(v->bt);
      v->bt = NULL;
      if (cw_table_end_missed(v->fd, v->id)) {
        s->c.active[v->dir]--;
        s->c.closed[v->dir]++;
        s->c.missed_closes++;
        s->c.abandoned_now -= v->abandoned != CW_AB_NO;
        s->c.close_wait_now -= v->close_wait;
      }
      continue;
    }
    v->state = v->queued ? "QUEUED" : v->released ? "RELEASED" : cw_sock_state(v->fd);
    if (v->abandoned == CW_AB_UNREAD && !v->released)
      v->unread = (uint32_t)cw_sock_unread(v->fd);
    if (v->local.family == 0 && !v->released && !v->queued)
      cw_sock_local(v->fd, &v->local);
    /* the peer closed: the kernel says so (a read that returned 0 only hints at it) */
    if (!v->released && !v->queued)
      v->peer_closed = strcmp(v->state, "CLOSE_WAIT") == 0 || strcmp(v->state, "LAST_ACK") == 0;
    s->conns[kept++] = *v;
  }
  s->nconns = kept;
  cw_mem_free(inos);
  cw_procname_get(s->cfg.name, s->name, sizeof s->name); /* a retitled server: its title now */
  return 0;
}

void cw_snapshot_free(struct cw_snapshot *s) {
  for (int i = 0; s->conns && i < s->nconns; i++)
    cw_mem_free(s->conns[i].bt);
  cw_mem_free(s->conns);
  cw_mem_free(s->dests);
  cw_mem_free(s->hosts.buf);
  s->conns = NULL;
  s->dests = NULL;
  s->hosts.buf = NULL;
}
