/* leaks.c - collect the reports a checked process tree left (one JSON file per process, and a note
 * per exec that dropped the preload), resolve their stacks with addr2line, apply the suppressions
 * and hand the result to leakprint.c. Runs in the CLI after the command has ended; reads only the
 * report directory and never changes it (run removes a private one). */
#define _GNU_SOURCE
#include "leaks.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "err.h"
#include "symbolize.h"

long long cw_jint(const json_t *o, const char *key, long long def) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

const char *cw_jstr(const json_t *o, const char *key, const char *def) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : def;
}

/* connwarden.PID[.exec][.N].json, as the library names them. */
static int is_report_name(const char *name) {
  const char *p = name;
  if (strncmp(p, "connwarden.", 11) != 0)
    return 0;
  p += 11;
  if (*p < '0' || *p > '9')
    return 0;
  size_t len = strlen(p);
  return len > 5 && strcmp(p + len - 5, ".json") == 0;
}

static int skipped(const struct cw_leaks_run *r, const char *name) {
  for (int i = 0; i < r->nskip; i++)
    if (strcmp(r->skip[i], name) == 0)
      return 1;
  return 0;
}

static int by_pid(const void *a, const void *b) {
  long long x = cw_jint(*(json_t *const *)a, "pid", 0), y = cw_jint(*(json_t *const *)b, "pid", 0);
  return x < y ? -1 : x > y;
}

static void load(const struct cw_leaks_run *r, struct cw_tree *t) {
  DIR *d = opendir(r->dir);
  if (!d) {
    cw_err_warn("cannot read the report directory %s: %s", r->dir, strerror(errno));
    return;
  }
  size_t n = 0, cap = 0;
  json_t **got = NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!is_report_name(e->d_name) || skipped(r, e->d_name))
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!json_is_object(j)) {
      cw_err_warn("unreadable report %s: %s", path, j ? "not an object" : jerr.text);
      json_decref(j);
      continue;
    }
    const char *type = cw_jstr(j, "type", "");
    if (strcmp(type, "exec-unchecked") == 0) {
      json_array_append_new(t->unchecked, j);
      continue;
    }
    if (strcmp(type, "leaks") != 0 || !json_is_array(json_object_get(j, "leaks"))) {
      cw_err_warn("unreadable report %s: not a leak report", path);
      json_decref(j);
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      json_t **g = realloc(got, cap * sizeof *g);
      if (!g) {
        json_decref(j);
        break;
      }
      got = g;
    }
    got[n++] = j;
  }
  closedir(d);
  if (n) /* got is NULL when no report came: qsort's array must not be */
    qsort(got, n, sizeof *got, by_pid);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(t->reports, got[i]);
  free(got);
}

/* Every native frame of every leak, looked up with addr2line at its call address (pc - 1: a
 * return address points after the call). */
static void resolve(struct cw_tree *t) {
  size_t n = 0, i;
  json_t *rep, *leak, *frame;
  json_array_foreach(t->reports, i, rep) {
    size_t k;
    json_array_foreach(json_object_get(rep, "leaks"), k, leak) n += json_array_size(json_object_get(leak, "frames"));
  }
  if (n == 0)
    return;
  struct cw_sym *syms = calloc(n, sizeof *syms);
  json_t **frames = calloc(n, sizeof *frames);
  if (!syms || !frames)
    goto out;
  size_t m = 0;
  json_array_foreach(t->reports, i, rep) {
    size_t k, f;
    json_array_foreach(json_object_get(rep, "leaks"), k, leak) {
      json_array_foreach(json_object_get(leak, "frames"), f, frame) {
        if (json_object_get(frame, "python"))
          continue; /* a Python frame names its file and line already */
        uint64_t off = strtoull(cw_jstr(frame, "offset", "0"), NULL, 16);
        syms[m].module = cw_jstr(frame, "module", "");
        syms[m].addr = off ? off - 1 : 0;
        frames[m++] = frame;
      }
    }
  }
  if (cw_sym_resolve(syms, m) < 0) {
    t->symbolizer_missing = 1;
    goto out;
  }
  /* addr2line's function name is trusted only with debug information (a file and line): in a
   * stripped object it names the nearest exported symbol, often the wrong function */
  for (size_t s = 0; s < m; s++) {
    if (!syms[s].file)
      continue;
    if (syms[s].func)
      json_object_set_new(frames[s], "func", json_string(syms[s].func));
    json_object_set_new(frames[s], "file", json_string(syms[s].file));
    json_object_set_new(frames[s], "line", json_integer(syms[s].line));
  }
out:
  for (size_t s = 0; syms && s < n; s++) {
    free(syms[s].func);
    free(syms[s].file);
  }
  free(syms);
  free(frames);
}

static void suppress_and_count(const struct cw_leaks_run *r, struct cw_tree *t) {
  size_t i;
  json_t *rep;
  json_array_foreach(t->reports, i, rep) {
    size_t k;
    json_t *leak;
    int mine = 0;
    t->nprocs++;
    json_array_foreach(json_object_get(rep, "leaks"), k, leak) {
      json_t *frames = json_object_get(leak, "frames");
      size_t nf = json_array_size(frames);
      struct cw_supp_frame *sf = calloc(nf + 1, sizeof *sf);
      for (size_t f = 0; sf && f < nf; f++) {
        sf[f].func = cw_jstr(json_array_get(frames, f), "func", NULL);
        sf[f].module = cw_jstr(json_array_get(frames, f), "module", NULL);
      }
      int hit = r->supp && sf ? cw_supp_match(r->supp, cw_jstr(leak, "peer", ""), sf, (int)nf) : -1;
      free(sf);
      if (hit >= 0) {
        t->hits[hit]++;
        t->nsuppressed++;
        json_object_set_new(leak, "suppressed_by", json_string(r->supp->v[hit].text));
      } else {
        json_object_set_new(leak, "suppressed_by", json_null());
        mine++;
      }
    }
    /* a process that dropped close-wait records still leaked them */
    mine += (int)cw_jint(rep, "dropped", 0);
    json_object_set_new(rep, "leak_count", json_integer(mine));
    t->nleaks += mine;
    t->nleaky += mine > 0;
  }
}

static void running(const struct cw_leaks_run *r, struct cw_tree *t) {
  for (int i = 0; i < r->nrunning; i++) {
    char path[64], comm[64] = "?";
    snprintf(path, sizeof path, "/proc/%d/comm", r->running[i]);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    json_array_append_new(t->running, json_pack("{s:i, s:s}", "pid", r->running[i], "program", comm));
  }
}

static void save(const struct cw_leaks_run *r, const struct cw_tree *t, int status) {
  char path[4096];
  snprintf(path, sizeof path, "%s/connwarden.summary.%s", r->save_dir, r->json ? "json" : "txt");
  FILE *f = fopen(path, "w");
  if (!f) {
    cw_err_warn("cannot write %s: %s", path, strerror(errno));
    return;
  }
  if (r->json)
    cw_leaks_print_json(f, t, r, status);
  else
    cw_leaks_print_text(f, t, r);
  if (fclose(f) != 0)
    cw_err_warn("cannot write %s: %s", path, strerror(errno));
}

int cw_leaks_summarise(const struct cw_leaks_run *r) {
  struct cw_tree t = {.reports = json_array(), .unchecked = json_array(), .running = json_array()};
  t.hits = calloc((size_t)(r->supp ? r->supp->n : 0) + 1, sizeof *t.hits);
  load(r, &t);
  resolve(&t);
  suppress_and_count(r, &t);
  running(r, &t);
  int status = r->cmd_status != 0 ? r->cmd_status : t.nleaks > 0 ? r->leak_exitcode : 0;
  fflush(stdout);
  if (r->json) {
    cw_leaks_print_warnings(stderr, &t, r);
    cw_leaks_print_json(stdout, &t, r, status);
  } else
    cw_leaks_print_text(stderr, &t, r);
  if (r->save_dir)
    save(r, &t, status);
  fflush(stdout);
  json_decref(t.reports);
  json_decref(t.unchecked);
  json_decref(t.running);
  free(t.hits);
  return status;
}
