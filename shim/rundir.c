/* rundir.c - the run directory (and the directory of a stats path the user named): made if
 * missing, then checked safe before anything of ours goes in it. Used by the stats server and the
 * process tree's shared file. */
#define _GNU_SOURCE
#include "rundir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "log.h"

/* mkdir -p with 0700 for what we create; then the directory itself must be safe. A run directory
 * (RUNDIR, ours for sockets) must be a real directory of ours, private (0700). The directory of a
 * path the user named (CONNWARDEN_STATS) follows OpenSSH's StrictModes: after symbolic links, owned
 * by the user or root and writable by no one else, so that nobody else can replace the socket;
 * the warning names the real directory. */
int cw_rundir_ensure(const char *dir, int named, int ev, const char *off) {
  char tmp[CW_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0700);
      *p = '/';
    }
  if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
    cw_log(CW_LOG_WARN, ev, "%s: cannot create %s: %s", off, dir, strerror(errno));
    return -errno;
  }
  const char *shown = dir;
  if (named) {
    if (!realpath(dir, tmp)) {
      cw_log(CW_LOG_WARN, ev, "%s: %s: %s", off, dir, strerror(errno));
      return -errno;
    }
    shown = tmp;
  }
  struct stat st;
  if ((named ? stat(shown, &st) : lstat(shown, &st)) < 0)
    return -errno;
  char why[96] = "";
  unsigned mode = (unsigned)(st.st_mode & 07777);
  if (S_ISLNK(st.st_mode))
    snprintf(why, sizeof why, "is a symbolic link");
  else if (!S_ISDIR(st.st_mode))
    snprintf(why, sizeof why, "is not a directory");
  else if (st.st_uid != geteuid() && !(named && st.st_uid == 0))
    snprintf(why, sizeof why, "is owned by another user (uid %u)", (unsigned)st.st_uid);
  else if (!named && (mode & 077))
    snprintf(why, sizeof why, "is open to group or others (mode %04o, must be 0700)", mode);
  else if (named && (mode & 022))
    snprintf(why, sizeof why, "is writable by group or others (mode %04o)", mode);
  if (why[0]) {
    cw_log(CW_LOG_WARN, ev, "%s: %s %s", off, shown, why);
    return -EPERM;
  }
  return 0;
}
