/* err.c - one-line errors and warnings on stderr for every verb. Holds no state; the caller
 * decides the exit status from what these return. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static void say(const char *prefix, const char *suffix, const char *fmt, va_list ap) {
  fflush(stdout); /* keep our output and the error in order on a shared terminal */
  fprintf(stderr, "connwarden: %s", prefix);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "%s\n", suffix);
}

int cw_err_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("", "", fmt, ap);
  va_end(ap);
  return CW_EXIT_FAIL;
}

int cw_err_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("", " (see connwarden --help)", fmt, ap);
  va_end(ap);
  return CW_EXIT_USAGE;
}

void cw_err_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("warning: ", "", fmt, ap);
  va_end(ap);
}
