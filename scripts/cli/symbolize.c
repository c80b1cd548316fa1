/* symbolize.c - frames -> function, file and line through addr2line, one child process per module
 * (in batches), with an environment stripped of the preload so the tool itself is not checked.
 * Called by the leak summary after the command has ended; never fails the run: what addr2line
 * cannot tell stays unknown. */
#define _GNU_SOURCE
#include "symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 200

extern char **environ;

static int find_addr2line(char *out) {
  const char *env = getenv("CONNWARDEN_ADDR2LINE");
  if (env && *env) {
    if (strcmp(env, "off") == 0 || access(env, X_OK) != 0)
      return -ENOENT;
    snprintf(out, PATH_MAX, "%s", env);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/bin:/bin";
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    struct stat st;
    int n = snprintf(out, PATH_MAX, "%.*s/addr2line", (int)(end - p), p);
    if (end > p && n > 0 && n < PATH_MAX && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
        access(out, X_OK) == 0)
      return 0;
    if (!*end)
      return -ENOENT;
    p = end;
  }
}

/* The environment minus LD_PRELOAD and CONNWARDEN_*: a NULL-terminated array of pointers into
 * environ. */
static char **clean_env(void) {
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 1, sizeof *env);
  if (!env)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "CONNWARDEN_", 11) != 0)
      env[k++] = environ[i];
  return env;
}

/* Run tool with argv; its stdout into a malloc'd string. NULL on any failure. */
static char *run_capture(const char *tool, char **argv, char **env) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return NULL;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(p[1], 1);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 2);
    }
    execve(tool, argv, env);
    _exit(127);
  }
  close(p[1]);
  char *out = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&out, &len);
  char buf[8192];
  ssize_t r;
  while ((r = read(p[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0 && mem)
      fwrite(buf, 1, (size_t)r, mem);
  close(p[0]);
  if (mem)
    fclose(mem);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

/* "func\nfile:line\n" per address, in order. "??" is unknown; " (discriminator N)" is dropped. */
static void take_answers(char *out, struct cw_sym **batch, size_t n) {
  char *save = NULL, *ln = strtok_r(out, "\n", &save);
  for (size_t i = 0; i < n && ln; i++) {
    char *where = strtok_r(NULL, "\n", &save);
    if (!where)
      break;
    if (strcmp(ln, "??") != 0)
      batch[i]->func = strdup(ln);
    char *disc = strstr(where, " (discriminator");
    if (disc)
      *disc = '\0';
    char *colon = strrchr(where, ':');
    if (colon && strncmp(where, "??", 2) != 0) {
      *colon = '\0';
      int line = atoi(colon + 1);
      if (line > 0) {
        batch[i]->file = strdup(where);
        batch[i]->line = line;
      }
    }
    ln = strtok_r(NULL, "\n", &save);
  }
}

static int by_module(const void *a, const void *b) {
  return strcmp((*(struct cw_sym *const *)a)->module, (*(struct cw_sym *const *)b)->module);
}

int cw_sym_resolve(struct cw_sym *syms, size_t n) {
  char tool[PATH_MAX];
  if (find_addr2line(tool) < 0)
    return -ENOENT;
  if (n == 0)
    return 0;
  struct cw_sym **order = calloc(n, sizeof *order);
  char **env = clean_env();
  char **argv = calloc(BATCH + 8, sizeof *argv);
  char (*addrs)[24] = calloc(BATCH, sizeof *addrs);
  if (!order || !env || !argv || !addrs)
    goto out;
  for (size_t i = 0; i < n; i++)
    order[i] = &syms[i];
  qsort(order, n, sizeof *order, by_module);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && j - i < BATCH && strcmp(order[j]->module, order[i]->module) == 0)
      j++;
    const char *mod = order[i]->module;
    if (mod[0] == '/' && access(mod, R_OK) == 0) {
      int a = 0;
      argv[a++] = "addr2line";
      argv[a++] = "-f";
      argv[a++] = "-C";
      argv[a++] = "-e";
      argv[a++] = (char *)mod;
      for (size_t k = i; k < j; k++) {
        snprintf(addrs[k - i], sizeof addrs[0], "0x%llx", (unsigned long long)order[k]->addr);
        argv[a++] = addrs[k - i];
      }
      argv[a] = NULL;
      char *out = run_capture(tool, argv, env);
      if (out)
        take_answers(out, order + i, j - i);
      free(out);
    }
    i = j;
  }
out:
  free(order);
  free(env);
  free(argv);
  free(addrs);
  return 0;
}
