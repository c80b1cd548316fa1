/* names.h - destinations by name: the map from an address to the host name the program resolved
 * for it (fed by the resolver wrappers, read at connect), the host names connections carry
 * (shared, counted references) and the key of a destination (a name and port, or an address). */
#ifndef CW_NAMES_H
#define CW_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "addr.h"
#include "cw.h"

#define CW_HOST_MAX 253 /* a DNS name's longest text form */

/* ---- the resolver's map: any thread, its own leaf lock ------------------------------------- */

/* Entries kept, at most: the least recently used goes first once it is full. */
#define CW_NAMES_CAP 4096

/* The program resolved name (as it asked, not yet normalized) to sa. */
CW_HIDDEN void cw_names_learn(const char *name, const struct sockaddr *sa, socklen_t salen);
/* The same for a raw address of family af (gethostbyname's h_addr_list). */
CW_HIDDEN void cw_names_learn_raw(const char *name, int af, const void *ip);

/* The name most recently resolved to a's address (its port aside) into out: its length, or 0
 * when none is known. No lock is taken while the map is empty. */
CW_HIDDEN size_t cw_names_lookup(const struct cw_addr *a, char out[CW_HOST_MAX + 1]);

/* Entries in the map now (tests, bench). */
CW_HIDDEN size_t cw_names_count(void);

/* fork: prepare / parent; the child makes the lock again */
CW_HIDDEN void cw_names_lock(void);
CW_HIDDEN void cw_names_unlock(void);
CW_HIDDEN void cw_names_fork_child(void);

/* ---- host names of connections: caller holds table_mu --------------------------------------- */

/* A connection's host: shared by every connection to the same name and port, freed with the
 * last. port is the destination's (the peer's, or a proxy's CONNECT target's). */
struct cw_host {
  uint32_t refs;
  uint16_t port;
  uint8_t len;
  char name[]; /* len bytes and a NUL */
};

/* A copy of the names of several connections in one block (a snapshot's): each distinct host
 * once. Caller holds table_mu from cw_host_copy_begin to the last cw_host_copy. */
struct cw_host_copy {
  char *buf;
  size_t used, size;
};
/* Room for every host alive: 0, or -ENOMEM. */
CW_HIDDEN int cw_host_copy_begin(struct cw_host_copy *hc);
/* h's name in the copy (NULL for NULL). */
CW_HIDDEN const char *cw_host_copy(struct cw_host_copy *hc, const struct cw_host *h);

/* A reference to the host (name, port): NULL when out of memory. */
CW_HIDDEN struct cw_host *cw_host_get(const char *name, uint16_t port);
CW_HIDDEN void cw_host_put(struct cw_host *h);
/* Distinct hosts alive (tests). */
CW_HIDDEN size_t cw_host_count(void);

/* ---- destination keys ----------------------------------------------------------------------- */

/* One destination: by name (len > 0: the name and the port in addr.port, the rest of addr zero)
 * or by address (len 0: the peer). Its first cw_dkey_len bytes are the key (zero padded, so that
 * they compare); the name ends in a NUL. */
struct cw_dkey {
  struct cw_addr addr;
  uint8_t len;
  char name[CW_HOST_MAX + 1];
};
static inline size_t cw_dkey_len(const struct cw_dkey *k) { return offsetof(struct cw_dkey, name) + k->len; }

/* CONNWARDEN_DEST_BY=address: set once at start-up (lifecycle), before any connection. */
extern CW_HIDDEN int cw_dest_by_address;

/* The destination of a connection to peer named host at port (host NULL: no name known), as
 * CONNWARDEN_DEST_BY counts destinations. */
CW_HIDDEN void cw_dkey_make(struct cw_dkey *k, const struct cw_addr *peer, const char *host, uint16_t port);

/* "api.example.com:443", "[::1]:8000", "127.0.0.1:8000". Returns buf. */
CW_HIDDEN char *cw_dkey_format(const struct cw_dkey *k, char *buf, size_t size);
#define CW_DKEY_STRLEN (CW_HOST_MAX + 10)

/* Where a connection goes, for log lines: "api.example.com:443 (127.0.0.2:443)", through a proxy
 * "api.example.com:443 via 127.0.0.1:3128", or the address alone when no name is known (host NULL
 * or ""). Returns buf. */
CW_HIDDEN char *cw_where(const struct cw_addr *peer, const char *host, uint16_t port, int via, char *buf,
                         size_t size);
#define CW_WHERE_STRLEN (CW_DKEY_STRLEN + CW_ADDR_STRLEN + 8)

/* "name:port" of a host ("[v6]:port" for an address literal). Returns buf. */
CW_HIDDEN char *cw_host_format(const struct cw_host *h, char *buf, size_t size);

#endif
