/* elf.c - reads just enough of an ELF file (header and program header types) to tell a statically
 * linked program from a dynamic one. Read-only, bounded reads; any doubt answers "not static". */
#define _GNU_SOURCE
#include "elf.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define MAX_PHNUM 4096

static int native_data(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one ? ELFDATA2LSB : ELFDATA2MSB;
}

int cw_elf_is_static(const char *path) {
  unsigned char ident[EI_NIDENT];
  uint64_t phoff;
  unsigned phentsize, phnum, type;
  int is_static = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident ||
      memcmp(ident, ELFMAG, SELFMAG) != 0 || ident[EI_DATA] != native_data())
    goto out;
  if (ident[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
      goto out;
    type = h.e_type, phoff = h.e_phoff, phentsize = h.e_phentsize, phnum = h.e_phnum;
  } else if (ident[EI_CLASS] == ELFCLASS32) {
    Elf32_Ehdr h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
      goto out;
    type = h.e_type, phoff = h.e_phoff, phentsize = h.e_phentsize, phnum = h.e_phnum;
  } else {
    goto out;
  }
  /* p_type is the first word of a program header in both classes */
  if ((type != ET_EXEC && type != ET_DYN) || phnum == 0 || phnum > MAX_PHNUM || phentsize < 4)
    goto out;
  is_static = 1;
  for (unsigned i = 0; i < phnum && is_static; i++) {
    uint32_t pt;
    if (pread(fd, &pt, sizeof pt, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof pt)
      is_static = 0; /* truncated: not a program we can judge */
    else if (pt == PT_INTERP)
      is_static = 0;
  }
out:
  close(fd);
  return is_static;
}
