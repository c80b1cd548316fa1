/* names.c - destinations by name (names.h). The resolver's map is written by the resolver
 * wrappers and read by connect, on host threads, under its own leaf lock (never held while
 * another is taken); its storage is reserved once and never grows, so a program that resolves
 * millions of names keeps CW_NAMES_CAP entries. Host names are shared under table_mu. Neither
 * logs nor calls libc's resolver. */
#define _GNU_SOURCE
#include "names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "mem.h"
#include "sniff.h"
#include "table.h"

/* ---- the map -------------------------------------------------------------------------------- */

#define NBUCKETS (2 * CW_NAMES_CAP) /* power of two */
#define NONE (-1)

struct entry {
  uint8_t ip[16];
  uint16_t family;
  uint8_t len;
  int32_t chain;      /* next in its bucket */
  int32_t newer, older; /* the use order */
  char name[CW_HOST_MAX + 1];
};

struct map {
  int32_t bucket[NBUCKETS];
  int32_t newest, oldest;
  struct entry e[CW_NAMES_CAP];
};

static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static struct map *M; /* guarded by map_mu; mapped at the first name, never unmapped */
static size_t used;   /* entries in use: written under map_mu, read without it */

static uint32_t hash_ip(const uint8_t *ip, uint16_t family) {
  uint32_t h = 2166136261u ^ family;
  for (int i = 0; i < 16; i++)
    h = (h ^ ip[i]) * 16777619u;
  return h & (NBUCKETS - 1);
}

/* Reserved once: pages are touched as entries are used. 0 or -1. */
static int map_make(void) {
  if (M)
    return 0;
  void *p = mmap(NULL, sizeof *M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return -1;
  M = p;
  for (int i = 0; i < NBUCKETS; i++)
    M->bucket[i] = NONE;
  M->newest = M->oldest = NONE;
  return 0;
}

static void unlink_use(int32_t i) {
  struct entry *e = &M->e[i];
  if (e->newer != NONE)
    M->e[e->newer].older = e->older;
  else
    M->newest = e->older;
  if (e->older != NONE)
    M->e[e->older].newer = e->newer;
  else
    M->oldest = e->newer;
}

static void use(int32_t i) { /* the newest now */
  struct entry *e = &M->e[i];
  e->newer = NONE;
  e->older = M->newest;
  if (M->newest != NONE)
    M->e[M->newest].newer = i;
  M->newest = i;
  if (M->oldest == NONE)
    M->oldest = i;
}

static int32_t find(const uint8_t *ip, uint16_t family, uint32_t b) {
  for (int32_t i = M->bucket[b]; i != NONE; i = M->e[i].chain)
    if (M->e[i].family == family && memcmp(M->e[i].ip, ip, 16) == 0)
      return i;
  return NONE;
}

static void unchain(int32_t i) {
  struct entry *e = &M->e[i];
  int32_t *p = &M->bucket[hash_ip(e->ip, e->family)];
  while (*p != i)
    p = &M->e[*p].chain;
  *p = e->chain;
}

/* ip (16 bytes, zero padded) of family af now resolves from name (normalized, len bytes). */
static void put(const uint8_t *ip, uint16_t af, const char *name, size_t len) {
  uint32_t b = hash_ip(ip, af);
  int32_t i = find(ip, af, b);
  if (i != NONE) { /* known: the most recent name wins */
    unlink_use(i);
  } else {
    if (used < CW_NAMES_CAP) {
      i = (int32_t)used;
      __atomic_store_n(&used, used + 1, __ATOMIC_RELAXED);
    } else { /* full: the least recently used goes */
      i = M->oldest;
      unlink_use(i);
      unchain(i);
    }
    memcpy(M->e[i].ip, ip, 16);
    M->e[i].family = af;
    M->e[i].chain = M->bucket[b];
    M->bucket[b] = i;
  }
  memcpy(M->e[i].name, name, len + 1);
  M->e[i].len = (uint8_t)len;
  use(i);
}

/* A name worth keeping: not an address literal, and a host name DNS allows. Normalized into out
 * (lowercase, no trailing dot): its length, or 0. */
static size_t keepable(const char *name, char out[CW_HOST_MAX + 2]) {
  if (!name)
    return 0;
  size_t len = strnlen(name, CW_HOST_MAX + 2);
  if (len == 0 || len > CW_HOST_MAX + 1) /* +1: a trailing dot */
    return 0;
  memcpy(out, name, len + 1);
  unsigned char a[16];
  if (inet_pton(AF_INET, out, a) == 1 || inet_pton(AF_INET6, out, a) == 1 || !cw_host_normalize(out))
    return 0;
  return strlen(out);
}

void cw_names_learn_raw(const char *name, int af, const void *ip) {
  char norm[CW_HOST_MAX + 2];
  size_t len;
  if ((af != AF_INET && af != AF_INET6) || !(len = keepable(name, norm)))
    return;
  uint8_t key[16] = {0};
  memcpy(key, ip, af == AF_INET ? 4 : 16);
  cw_lock(&map_mu);
  if (map_make() == 0)
    put(key, (uint16_t)af, norm, len);
  cw_unlock(&map_mu);
}

void cw_names_learn(const char *name, const struct sockaddr *sa, socklen_t salen) {
  if (sa && sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in))
    cw_names_learn_raw(name, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
  else if (sa && sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6))
    cw_names_learn_raw(name, AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

size_t cw_names_lookup(const struct cw_addr *a, char out[CW_HOST_MAX + 1]) {
  if (!__atomic_load_n(&used, __ATOMIC_RELAXED) || !a->family)
    return 0;
  size_t len = 0;
  cw_lock(&map_mu);
  int32_t i = M ? find(a->ip, a->family, hash_ip(a->ip, a->family)) : NONE;
  if (i != NONE) {
    len = M->e[i].len;
    memcpy(out, M->e[i].name, len + 1);
    unlink_use(i);
    use(i);
  }
  cw_unlock(&map_mu);
  return len;
}

size_t cw_names_count(void) { return __atomic_load_n(&used, __ATOMIC_RELAXED); }

void cw_names_lock(void) { cw_lock(&map_mu); }
void cw_names_unlock(void) { cw_unlock(&map_mu); }
void cw_names_fork_child(void) { cw_mutex_remake(&map_mu); }

/* ---- host names of connections -------------------------------------------------------------- */

struct hostrec { /* the hash's record around a host: the key is h's port, len and name */
  UT_hash_handle hh;
  uint64_t copy_gen; /* the copy that has it (cw_host_copy) */
  size_t copy_off;   /* and where */
  struct cw_host h;
};

static struct hostrec *hosts; /* guarded by table_mu */
static size_t nhosts, host_bytes; /* alive: how many, and their names' bytes with NULs */
static uint64_t copy_gen;

#define HOST_KEY(h) ((const char *)&(h)->port)
#define HOST_KEYLEN(len) (offsetof(struct cw_host, name) - offsetof(struct cw_host, port) + (len))

struct cw_host *cw_host_get(const char *name, uint16_t port) {
  size_t len = strnlen(name, CW_HOST_MAX + 1);
  if (len == 0 || len > CW_HOST_MAX)
    return NULL;
  struct {
    uint16_t port;
    uint8_t len;
    char name[CW_HOST_MAX + 1];
  } __attribute__((packed)) key;
  _Static_assert(offsetof(struct cw_host, len) - offsetof(struct cw_host, port) == 2 &&
                     offsetof(struct cw_host, name) - offsetof(struct cw_host, port) == 3,
                 "the host's key is port, len, name with no padding");
  key.port = port;
  key.len = (uint8_t)len;
  memcpy(key.name, name, len);
  struct hostrec *r;
  HASH_FIND(hh, hosts, &key, HOST_KEYLEN(len), r);
  if (r) {
    r->h.refs++;
    return &r->h;
  }
  r = cw_mem_alloc(sizeof *r + len + 1);
  if (!r)
    return NULL;
  r->h.refs = 1;
  r->h.port = port;
  r->h.len = (uint8_t)len;
  memcpy(r->h.name, name, len);
  r->h.name[len] = '\0';
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(e) oom = 1
  int oom = 0;
  HASH_ADD_KEYPTR(hh, hosts, HOST_KEY(&r->h), HOST_KEYLEN(len), r);
  if (oom) {
    cw_mem_free(r);
    return NULL;
  }
  nhosts++;
  host_bytes += len + 1;
  return &r->h;
}

void cw_host_put(struct cw_host *h) {
  if (!h || --h->refs)
    return;
  struct hostrec *r = (struct hostrec *)((char *)h - offsetof(struct hostrec, h));
  HASH_DELETE(hh, hosts, r);
  nhosts--;
  host_bytes -= (size_t)h->len + 1;
  cw_table_defer_free(r);
}

size_t cw_host_count(void) { return nhosts; }

int cw_host_copy_begin(struct cw_host_copy *hc) {
  copy_gen++;
  hc->used = 0;
  hc->size = host_bytes;
  hc->buf = hc->size ? cw_mem_alloc(hc->size) : NULL;
  return hc->size && !hc->buf ? -ENOMEM : 0;
}

const char *cw_host_copy(struct cw_host_copy *hc, const struct cw_host *h) {
  if (!h || !hc->buf)
    return NULL;
  struct hostrec *r = (struct hostrec *)((char *)h - offsetof(struct hostrec, h));
  if (r->copy_gen != copy_gen) {
    if (hc->used + h->len + 1 > hc->size)
      return NULL;
    r->copy_gen = copy_gen;
    r->copy_off = hc->used;
    memcpy(hc->buf + hc->used, h->name, (size_t)h->len + 1);
    hc->used += (size_t)h->len + 1;
  }
  return hc->buf + r->copy_off;
}

/* ---- destination keys ----------------------------------------------------------------------- */

int cw_dest_by_address;

void cw_dkey_make(struct cw_dkey *k, const struct cw_addr *peer, const char *host, uint16_t port) {
  memset(k, 0, offsetof(struct cw_dkey, name)); /* the bytes a key's length covers */
  size_t len = host ? strnlen(host, CW_HOST_MAX + 1) : 0;
  if (len && len <= CW_HOST_MAX && !cw_dest_by_address) {
    k->addr.port = port;
    k->len = (uint8_t)len;
    memcpy(k->name, host, len);
  } else {
    k->addr = *peer;
  }
  k->name[k->len] = '\0';
}

/* name:port, with an IPv6 literal in brackets */
static char *name_port(const char *name, uint16_t port, char *buf, size_t size) {
  int v6 = strchr(name, ':') != NULL;
  snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", name, v6 ? "]" : "", (unsigned)port);
  return buf;
}

char *cw_dkey_format(const struct cw_dkey *k, char *buf, size_t size) {
  return k->len ? name_port(k->name, k->addr.port, buf, size) : cw_addr_format(&k->addr, buf, size);
}

char *cw_host_format(const struct cw_host *h, char *buf, size_t size) {
  return name_port(h->name, h->port, buf, size);
}

char *cw_where(const struct cw_addr *peer, const char *host, uint16_t port, int via, char *buf, size_t size) {
  char a[CW_ADDR_STRLEN];
  cw_addr_format(peer, a, sizeof a);
  if (!host || !*host) {
    snprintf(buf, size, "%s", a);
    return buf;
  }
  char n[CW_DKEY_STRLEN];
  name_port(host, port, n, sizeof n);
  snprintf(buf, size, via ? "%s via %s" : "%s (%s)", n, a);
  return buf;
}
