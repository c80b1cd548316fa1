/* mem.h - the allocator for everything a wrapper may allocate: connection records, destinations,
 * stacks, waiters and the hash's buckets. Async-signal-safe: a host signal handler that connects
 * while its thread is inside malloc must not wait on malloc's lock, so nothing a wrapper reaches
 * calls malloc. Blocks come zeroed and are freed with cw_mem_free only. mem_mu is a leaf lock,
 * taken like the table's (cw_locked around it). */
#ifndef CW_MEM_H
#define CW_MEM_H

#include <stddef.h>
#include "cw.h"

CW_HIDDEN void *cw_mem_alloc(size_t n); /* zeroed, 16-byte aligned; NULL when mmap fails */
/* Bytes each block carries in front of it: a large block of K pages holds K * 4096 - this. */
#define CW_MEM_OVERHEAD 16
CW_HIDDEN void cw_mem_free(void *p);    /* NULL is a no-op */
CW_HIDDEN void cw_mem_lock(void);       /* for fork: prepare / parent */
CW_HIDDEN void cw_mem_unlock(void);
CW_HIDDEN void cw_mem_fork_child(void); /* re-create mem_mu */

/* What is mapped now, for tests and the soak's memory check: bytes in runs and large blocks. */
CW_HIDDEN size_t cw_mem_mapped(void);

#endif
