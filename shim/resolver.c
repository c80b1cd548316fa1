/* resolver.c - the resolver's wrappers: each returns exactly what libc's function returned, with
 * its errno and h_errno, and on success tells names.c which addresses the asked-for name
 * resolved to. Runs in host threads (libuv's and curl's resolver threads included). A call from
 * the shim itself, from a signal handler that interrupted the shim holding a lock, or in a vfork
 * child learns nothing. The entry points are those programs call: getaddrinfo (CPython, Node.js
 * through libuv, curl, nginx at start-up), the gethostbyname family (older programs, CPython's
 * gethostbyname_ex), and getaddrinfo_a with gai_error (its results are learned when the program
 * waits with GAI_WAIT or asks gai_error how a request went). */
#define _GNU_SOURCE
#include <netdb.h>
#include "hooks.h"
#include "lifecycle.h"
#include "names.h"
#include "real.h"
#include "table.h"

static int may_learn(const char *name) {
  return name && *name && !cw_guard && !cw_locked && !cw_table_off && !cw_in_foreign_child();
}

static void learn_ai(const char *name, const struct addrinfo *ai) {
  CW_SAVE_ERRNO({
    if (may_learn(name)) {
      cw_guard++;
      for (; ai; ai = ai->ai_next) /* the same address once per socket type: the map keeps one */
        cw_names_learn(name, ai->ai_addr, ai->ai_addrlen);
      cw_guard--;
    }
  });
}

static void learn_hostent(const char *name, const struct hostent *h) {
  if (!h || !h->h_addr_list || (h->h_addrtype != AF_INET && h->h_addrtype != AF_INET6))
    return;
  CW_SAVE_ERRNO({
    if (may_learn(name)) {
      cw_guard++;
      for (char *const *a = h->h_addr_list; *a; a++)
        cw_names_learn_raw(name, h->h_addrtype, *a);
      cw_guard--;
    }
  });
}

/* Before the real function is resolved (a call from inside dlsym, in practice never): resolve
 * now, or fail as a resolver does when the system cannot serve it (then `also` runs: h_errno and
 * the result of the gethostbyname family). */
#define RESOLVE(fn, fail, ...)                                                                     \
  do {                                                                                             \
    if (CW_UNLIKELY(!CW_REAL(fn))) {                                                               \
      if (!cw_guard)                                                                               \
        cw_real_init();                                                                            \
      if (!CW_REAL(fn)) {                                                                          \
        errno = ENOSYS;                                                                            \
        __VA_ARGS__;                                                                               \
        return fail;                                                                               \
      }                                                                                            \
    }                                                                                              \
  } while (0)

int cw_w_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                     struct addrinfo **res) {
  RESOLVE(getaddrinfo, EAI_SYSTEM);
  int r = CW_REAL(getaddrinfo)(node, service, hints, res);
  if (r == 0 && res)
    learn_ai(node, *res);
  return r;
}

struct hostent *cw_w_gethostbyname(const char *name) {
  RESOLVE(gethostbyname, NULL, h_errno = NO_RECOVERY);
  struct hostent *h = CW_REAL(gethostbyname)(name);
  if (h)
    learn_hostent(name, h);
  return h;
}

struct hostent *cw_w_gethostbyname2(const char *name, int af) {
  RESOLVE(gethostbyname2, NULL, h_errno = NO_RECOVERY);
  struct hostent *h = CW_REAL(gethostbyname2)(name, af);
  if (h)
    learn_hostent(name, h);
  return h;
}

int cw_w_gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                         struct hostent **result, int *h_errnop) {
  RESOLVE(gethostbyname_r, ENOSYS, *result = NULL, *h_errnop = NO_RECOVERY);
  int r = CW_REAL(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop);
  if (r == 0 && result && *result)
    learn_hostent(name, *result);
  return r;
}

int cw_w_gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                          struct hostent **result, int *h_errnop) {
  RESOLVE(gethostbyname2_r, ENOSYS, *result = NULL, *h_errnop = NO_RECOVERY);
  int r = CW_REAL(gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop);
  if (r == 0 && result && *result)
    learn_hostent(name, *result);
  return r;
}

/* A request of getaddrinfo_a that has completed well: its answer. */
static void learn_gaicb(const struct gaicb *g) {
  if (g && g->ar_result)
    learn_ai(g->ar_name, g->ar_result);
}

int cw_w_getaddrinfo_a(int mode, struct gaicb **list, int nitems, struct sigevent *sevp) {
  RESOLVE(getaddrinfo_a, EAI_SYSTEM);
  int r = CW_REAL(getaddrinfo_a)(mode, list, nitems, sevp);
  if (r == 0 && mode == GAI_WAIT && list && CW_REAL(gai_error))
    for (int i = 0; i < nitems; i++)
      if (list[i] && CW_REAL(gai_error)(list[i]) == 0)
        learn_gaicb(list[i]);
  return r;
}

int cw_w_gai_error(struct gaicb *req) {
  RESOLVE(gai_error, EAI_SYSTEM);
  int r = CW_REAL(gai_error)(req);
  if (r == 0)
    learn_gaicb(req);
  return r;
}
