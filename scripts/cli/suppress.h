/* suppress.h - leak suppressions, one per line as in LeakSanitizer's files: peer:HOST:PORT,
 * peer::PORT, func:NAME, module:NAME (NAME may use * and ? wildcards), # comments and blank lines.
 * Pure functions: no I/O, no global state; the parser takes a buffer and its length, so a fuzzer
 * can feed it anything. */
#ifndef CW_CLI_SUPPRESS_H
#define CW_CLI_SUPPRESS_H

#include <stddef.h>

enum cw_supp_kind { CW_SUPP_PEER, CW_SUPP_FUNC, CW_SUPP_MODULE };

struct cw_supp {
  enum cw_supp_kind kind;
  char *text; /* the rule as written, trimmed: "peer::8000", for reports */
  int line;   /* 1-based line number in the file */
  /* FUNC, MODULE: a wildcard pattern. MODULE: a pattern with a '/' is matched against the full
   * path, otherwise against the file name. */
  char *name;
  /* PEER: family 0 is any host; port 0 is any port ("*") */
  int family;
  unsigned char ip[16];
  int port;
};

struct cw_supp_list {
  struct cw_supp *v;
  int n;
};

/* Parse len bytes of text (no terminating NUL needed; a NUL inside is an error) into out, which
 * the caller frees with cw_supp_free even on failure. Returns 0, -EINVAL with "line N: why" in err,
 * or -ENOMEM. */
int cw_supp_parse(const char *text, size_t len, struct cw_supp_list *out, char *err, size_t errlen);
void cw_supp_free(struct cw_supp_list *l);

/* A frame of the stack that opened a connection, as far as it is known (NULL: unknown). */
struct cw_supp_frame {
  const char *func, *module;
};

/* The index of the first rule that matches a leak to peer ("127.0.0.1:8000", "[::1]:8000") opened
 * from frames[0..n), or -1. */
int cw_supp_match(const struct cw_supp_list *l, const char *peer, const struct cw_supp_frame *frames,
                  int n);

#endif
