/* follow.c - the host's epoll registrations of TCP sockets that may yet be queued, so that the
 * switch of a queued socket to its real peer can take them off and put them back (follow.h).
 * Written by interpose's epoll_ctl and close paths and by policy, all under table_mu. Makes only
 * non-blocking system calls (epoll_ctl), allocates from mem.c, never logs. */
#define _GNU_SOURCE
#include "follow.h"

#include <string.h>
#include "real.h"

struct reg {
  struct reg *next;
  int epfd;
  int live; /* the last off found it in its set: on puts it back */
  struct epoll_event ev;
};

struct followed {
  int fd; /* key */
  struct reg *regs;
  UT_hash_handle hh;
};

static struct followed *all; /* guarded by table_mu */
static int any;               /* a fast "none": set once anything was followed */

static struct followed *find(int fd) {
  struct followed *f;
  HASH_FIND_INT(all, &fd, f);
  return f;
}

void cw_follow_ctl_locked(int epfd, int op, int fd, const struct epoll_event *ev) {
  struct followed *f = find(fd);
  struct reg **pr = NULL, *r = NULL;
  if (f)
    for (pr = &f->regs; (r = *pr) && r->epfd != epfd; pr = &r->next)
      ;
  if (op == EPOLL_CTL_DEL) {
    if (r) {
      *pr = r->next;
      cw_mem_free(r);
    }
    return;
  }
  if (!ev || (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD))
    return;
  if (!f) {
    if (!(f = cw_mem_alloc(sizeof *f)))
      return; /* not followed: its switch may show through to this set (counted nowhere) */
    f->fd = fd;
    f->regs = NULL;
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(e) oom = 1
    int oom = 0;
    HASH_ADD_INT(all, fd, f);
    if (oom) {
      cw_mem_free(f);
      return;
    }
    cw_fdflag_set(fd, CW_FD_FOLLOW, 1);
    __atomic_store_n(&any, 1, __ATOMIC_RELAXED);
  }
  if (!r) {
    if (!(r = cw_mem_alloc(sizeof *r)))
      return;
    r->epfd = epfd;
    r->next = f->regs;
    f->regs = r;
  }
  r->ev = *ev;
  r->live = 0;
}

void cw_follow_drop_locked(int fd) {
  struct followed *f = find(fd);
  cw_fdflag_set(fd, CW_FD_FOLLOW, 0);
  if (!f)
    return;
  HASH_DEL(all, f);
  for (struct reg *r = f->regs, *n; r; r = n) {
    n = r->next;
    cw_mem_free(r);
  }
  cw_mem_free(f);
}

void cw_follow_drop_slow(int fd) {
  cw_table_lock();
  cw_follow_drop_locked(fd);
  cw_table_unlock();
}

void cw_follow_drop_range(unsigned first, unsigned last) {
  if (!__atomic_load_n(&any, __ATOMIC_RELAXED))
    return;
  cw_table_lock();
  cw_follow_drop_range_locked(first, last);
  cw_table_unlock();
}

void cw_follow_drop_range_locked(unsigned first, unsigned last) {
  struct followed *f, *t;
  HASH_ITER(hh, all, f, t) {
    if ((unsigned)f->fd >= first && (unsigned)f->fd <= last)
      cw_follow_drop_locked(f->fd);
  }
}

/* A registration is taken off only where it still is: an epoll fd that the host closed (or that
 * now names another set without this socket in it) answers EBADF, EINVAL or ENOENT, and then
 * nothing is put back there, so no set ever gets a registration the host did not make. */
void cw_follow_off_locked(int fd) {
  struct followed *f = find(fd);
  if (!f)
    return;
  for (struct reg *r = f->regs; r; r = r->next)
    r->live = CW_REAL(epoll_ctl)(r->epfd, EPOLL_CTL_DEL, fd, NULL) == 0;
}

void cw_follow_on_locked(int fd) {
  struct followed *f = find(fd);
  if (!f)
    return;
  for (struct reg *r = f->regs; r; r = r->next) {
    if (!r->live)
      continue;
    struct epoll_event ev = r->ev;
    CW_REAL(epoll_ctl)(r->epfd, EPOLL_CTL_ADD, fd, &ev);
    r->live = 0;
  }
}
