/* elf.h - is a program statically linked (an ELF executable with no program interpreter)? Such a
 * program never loads the preload library; run warns about it before exec. */
#ifndef CW_CLI_ELF_H
#define CW_CLI_ELF_H

/* 1: path is an ELF executable of this machine's byte order without PT_INTERP; 0: it has one, is
 * not ELF (a script), or cannot be read. */
int cw_elf_is_static(const char *path);

#endif
