/* mem.c - the shim's async-signal-safe allocator (see mem.h). Called from wrappers on any host
 * thread, from a host signal handler, and from the shim's threads. Small blocks (with their
 * header, 32 bytes to 4 KiB in powers of two) are carved from 64 KiB runs taken from mmap and kept
 * on one free list per size once freed: their memory is reused, never handed back, so what is
 * mapped follows the peak of records held, not their churn. Larger blocks are mapped on their own
 * and unmapped when freed. Only system calls, never malloc; never logs. */
#include "mem.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include "table.h"

#define MIN_SHIFT 5  /* 32 bytes */
#define MAX_SHIFT 12 /* 4 KiB */
#define NCLASSES (MAX_SHIFT - MIN_SHIFT + 1)
#define RUN (64 * 1024)
#define BIG 0xffffffffu
#define MAGIC 0x636d656du /* "cmem": a block in use; one that is not is never freed */
#define FREED 0x66726565u /* "free": a small block on its list, so a second free is ignored (a
                             large one is unmapped: freeing it twice is the caller's bug) */

/* In front of every block, keeping what follows 16-byte aligned. */
struct hdr {
  uint32_t cls; /* a size class, or BIG */
  uint32_t magic;
  union {
    struct hdr *next_free; /* a small block on its free list */
    size_t len;            /* a large block: the length mapped */
  };
};
_Static_assert(sizeof(struct hdr) == CW_MEM_OVERHEAD, "mem.h's CW_MEM_OVERHEAD");

/* guarded by mem_mu */
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hdr *free_lists[NCLASSES];
static char *run_cur, *run_end; /* the rest of the run being carved */
static size_t mapped;

static void *map(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void cw_mem_lock(void) { cw_lock(&mem_mu); }
void cw_mem_unlock(void) { cw_unlock(&mem_mu); }

void cw_mem_fork_child(void) { cw_mutex_remake(&mem_mu); }

/* A block of class k from its free list or the current run; a new run when this one is spent (its
 * tail, smaller than the block, goes to the smaller classes' lists). Caller holds mem_mu. */
static struct hdr *small_locked(unsigned k) {
  struct hdr *h = free_lists[k];
  if (h) {
    free_lists[k] = h->next_free;
    h->magic = MAGIC;
    return h;
  }
  size_t sz = (size_t)1 << (k + MIN_SHIFT);
  if ((size_t)(run_end - run_cur) < sz) {
    for (unsigned j = k; j-- > 0 && run_cur < run_end;) { /* keep the tail */
      size_t js = (size_t)1 << (j + MIN_SHIFT);
      while ((size_t)(run_end - run_cur) >= js) {
        struct hdr *t = (struct hdr *)run_cur;
        t->cls = j;
        t->magic = FREED;
        t->next_free = free_lists[j];
        free_lists[j] = t;
        run_cur += js;
      }
    }
    char *r = map(RUN);
    if (!r)
      return NULL;
    __atomic_add_fetch(&mapped, RUN, __ATOMIC_RELAXED);
    run_cur = r;
    run_end = r + RUN;
  }
  h = (struct hdr *)run_cur;
  run_cur += sz;
  h->cls = k;
  h->magic = MAGIC;
  return h;
}

void *cw_mem_alloc(size_t n) {
  if (n > ((size_t)1 << MAX_SHIFT) - sizeof(struct hdr)) {
    size_t len = (n + sizeof(struct hdr) + 4095) & ~(size_t)4095;
    if (len < n)
      return NULL;
    struct hdr *h = map(len); /* fresh pages are zero */
    if (!h)
      return NULL;
    h->cls = BIG;
    h->magic = MAGIC;
    h->len = len;
    __atomic_add_fetch(&mapped, len, __ATOMIC_RELAXED);
    return h + 1;
  }
  unsigned k = 0;
  while (((size_t)1 << (k + MIN_SHIFT)) - sizeof(struct hdr) < n)
    k++;
  cw_mem_lock();
  struct hdr *h = small_locked(k);
  cw_mem_unlock();
  if (!h)
    return NULL;
  memset(h + 1, 0, ((size_t)1 << (k + MIN_SHIFT)) - sizeof *h);
  return h + 1;
}

void cw_mem_free(void *p) {
  if (!p)
    return;
  struct hdr *h = (struct hdr *)p - 1;
  if (h->magic != MAGIC)
    return;
  if (h->cls == BIG) {
    size_t len = h->len;
    h->magic = 0;
    __atomic_sub_fetch(&mapped, len, __ATOMIC_RELAXED);
    munmap(h, len);
    return;
  }
  if (h->cls >= NCLASSES)
    return;
  cw_mem_lock();
  if (h->magic == MAGIC) { /* checked again under the lock: two racing frees put it back once */
    h->magic = FREED;
    h->next_free = free_lists[h->cls];
    free_lists[h->cls] = h;
  }
  cw_mem_unlock();
}

size_t cw_mem_mapped(void) { return __atomic_load_n(&mapped, __ATOMIC_RELAXED); }
