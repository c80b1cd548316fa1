/* symbolize.h - function names, files and lines for stack frames, from addr2line (binutils), run
 * once per module with all of that module's addresses. Without addr2line, frames keep what the
 * library wrote (exported function names, module and offset). */
#ifndef CW_CLI_SYMBOLIZE_H
#define CW_CLI_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct cw_sym {
  const char *module; /* in: the object's path */
  uint64_t addr;      /* in: the ELF address to look up (for a return address, the call: pc - 1) */
  char *func;         /* out: malloc'd, NULL when unknown */
  char *file;         /* out: malloc'd, NULL when unknown */
  int line;           /* out: 0 when unknown */
};

/* Resolve what addr2line can. Returns 0, or -ENOENT when no addr2line is available (nothing is
 * filled). $CONNWARDEN_ADDR2LINE names the program to use, or "off"; otherwise addr2line is
 * looked up on $PATH. */
int cw_sym_resolve(struct cw_sym *syms, size_t n);

#endif
