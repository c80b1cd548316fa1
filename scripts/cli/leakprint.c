/* leakprint.c - the summary of a checked run: per leaking process, LeakSanitizer's block (banner,
 * ==PID==ERROR, one line per leak with its stack, SUMMARY); then the suppressed leaks, the warnings
 * and one SUMMARY line over the whole tree. Or the same facts as one JSON document. Formatting
 * only, into the caller's FILE; the facts come from leaks.c. */
#define _GNU_SOURCE
#include <string.h>
#include "fmt.h"
#include "leaks.h"

#define BANNER "================================================================="
#define RULE "-----------------------------------------------------"

static const char *plural(long long n) { return n == 1 ? "" : "s"; }

static void cmdline(FILE *out, const json_t *rep) {
  size_t i;
  json_t *w;
  size_t used = 0;
  json_array_foreach(json_object_get(rep, "cmdline"), i, w) {
    const char *s = json_string_value(w);
    if (!s)
      continue;
    if (used > 200) {
      fputs(" ...", out);
      break;
    }
    fprintf(out, "%s%s", i ? " " : "", s);
    used += strlen(s) + 1;
  }
}

/* The line the library's own text report uses, with the kind spelled out for close-wait leaks. */
static void leak_line(FILE *out, const json_t *l, const char *lead) {
  char age[32], idle[32], in[32], outb[32], held[32];
  const char *dest = cw_jstr(l, "dest", "");
  int via = json_is_string(json_object_get(l, "via")); /* the proxy's address */
  fprintf(out, "%s fd %lld %s %s -> %s%s%s%s%s %s, age %s, idle %s, in %s, out %s", lead, cw_jint(l, "fd", -1),
          cw_jstr(l, "dir", "?"), cw_jstr(l, "local", "?"), cw_jstr(l, "peer", "?"), *dest ? " (" : "", dest,
          *dest && via ? " via proxy" : "", *dest ? ")" : "", cw_jstr(l, "state", "?"),
          cw_fmt_duration(cw_jint(l, "age_ms", 0), age, sizeof age),
          cw_fmt_duration(cw_jint(l, "idle_ms", 0), idle, sizeof idle),
          cw_fmt_size((uint64_t)cw_jint(l, "bytes_in", 0), in, sizeof in),
          cw_fmt_size((uint64_t)cw_jint(l, "bytes_out", 0), outb, sizeof outb));
  if (strcmp(cw_jstr(l, "kind", ""), "close-wait") == 0) {
    int open = json_is_true(json_object_get(l, "open_at_exit"));
    long long h = cw_jint(l, "held_ms", -1);
    if (h >= 0)
      fprintf(out, ", close-wait: held %s after the peer closed, %s", cw_fmt_duration(h, held, sizeof held),
              open ? "still open at exit" : "closed before exit");
    else
      fprintf(out, ", close-wait: the peer closed, still open at exit");
  }
  if (json_is_true(json_object_get(l, "teardown")))
    fputs(", closed only by the interpreter's teardown at exit", out);
}

static void frames(FILE *out, const json_t *l) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(l, "frames"), i, f) {
    const char *py = cw_jstr(f, "python", NULL);
    if (py) { /* a Python frame: file:line in function, as the library wrote it */
      if (json_is_true(json_object_get(f, "awaiting")) &&
          (i == 0 || !json_is_true(json_object_get(json_array_get(json_object_get(l, "frames"), i - 1), "awaiting"))))
        fputs("    (awaited by this task:)\n", out);
      fprintf(out, "    #%zu %s%s\n", i, py,
              json_is_true(json_object_get(f, "own"))       ? "   <- the program's code"
              : json_is_true(json_object_get(f, "library")) ? "   (library)"
                                                            : "");
      continue;
    }
    const char *func = cw_jstr(f, "func", NULL), *file = cw_jstr(f, "file", NULL);
    fprintf(out, "    #%zu %s", i, cw_jstr(f, "pc", "0x0"));
    if (func && file)
      fprintf(out, " in %s %s:%lld\n", func, file, cw_jint(f, "line", 0));
    else
      fprintf(out, "%s%s (%s+%s)\n", func ? " in " : "", func ? func : "", cw_jstr(f, "module", "?"),
              cw_jstr(f, "offset", "0x0"));
  }
  const char *when = cw_jstr(l, "opened_at", NULL);
  if (when)
    fprintf(out, "    opened %s\n", when);
}

static void process_block(FILE *out, const json_t *rep) {
  long long n = cw_jint(rep, "leak_count", 0), cw = 0, pid = cw_jint(rep, "pid", 0);
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(rep, "leaks"), i, l) {
    if (json_is_null(json_object_get(l, "suppressed_by")))
      cw += strcmp(cw_jstr(l, "kind", ""), "close-wait") == 0;
  }
  cw += cw_jint(rep, "dropped", 0);
  fprintf(out, BANNER "\n==%lld==ERROR: connwarden: %lld leaked connection%s (%lld open at exit, %lld close-wait)\n",
          pid, n, plural(n), n - cw, cw);
  fprintf(out, "Process %lld (%s), parent %lld, ", pid, cw_jstr(rep, "program", "?"), cw_jint(rep, "ppid", 0));
  if (strcmp(cw_jstr(rep, "event", "exit"), "exec") == 0)
    fputs("reported at exec", out);
  else if (json_is_integer(json_object_get(rep, "exit_status")))
    fprintf(out, "exit status %lld", cw_jint(rep, "exit_status", 0));
  else
    fputs("exit status unknown", out);
  fputs(": ", out);
  cmdline(out, rep);
  fputc('\n', out);
  json_array_foreach(json_object_get(rep, "leaks"), i, l) {
    if (!json_is_null(json_object_get(l, "suppressed_by")))
      continue;
    leak_line(out, l, "Leaked connection");
    fputs(json_array_size(json_object_get(l, "frames")) ? ", opened at:\n" : "\n", out);
    frames(out, l);
    fputc('\n', out);
  }
  if (cw_jint(rep, "dropped", 0))
    fprintf(out, "(%lld more close-wait leaks were not recorded)\n", cw_jint(rep, "dropped", 0));
  fprintf(out, "SUMMARY: connwarden: %lld leaked connection%s in %s (pid %lld)\n", n, plural(n),
          cw_jstr(rep, "name", cw_jstr(rep, "program", "?")), pid);
}

static void joined(FILE *out, const json_t *arr, const char *sep) {
  size_t i;
  json_t *w;
  json_array_foreach(arr, i, w) fprintf(out, "%s%s", i ? sep : "", json_string_value(w) ? json_string_value(w) : "?");
}

void cw_leaks_print_warnings(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r) {
  size_t i;
  json_t *n;
  json_array_foreach(t->unchecked, i, n) {
    fprintf(out, "connwarden: warning: pid %lld (", cw_jint(n, "pid", 0));
    cmdline(out, n);
    fputs(") started a program whose environment drops ", out);
    joined(out, json_object_get(n, "lost"), ", ");
    fputs(": that program and its children were not checked\n", out);
  }
  if (json_array_size(t->running)) {
    fprintf(out, "connwarden: warning: %zu process%s of the command still running, not checked:",
            json_array_size(t->running), json_array_size(t->running) == 1 ? "" : "es");
    json_array_foreach(t->running, i, n) fprintf(out, " %lld (%s)", cw_jint(n, "pid", 0), cw_jstr(n, "program", "?"));
    fputc('\n', out);
  }
  if (t->symbolizer_missing && t->nleaks + t->nsuppressed > 0)
    fputs("connwarden: note: addr2line (binutils) not found: frames show module+offset and "
          "exported function names only\n", out);
}

void cw_leaks_print_text(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r) {
  size_t i;
  json_t *rep;
  json_array_foreach(t->reports, i, rep) {
    if (cw_jint(rep, "leak_count", 0) > 0)
      process_block(out, rep);
  }
  if (t->nsuppressed) {
    fputs(RULE "\n", out);
    json_array_foreach(t->reports, i, rep) {
      size_t k;
      json_t *l;
      json_array_foreach(json_object_get(rep, "leaks"), k, l) {
        if (json_is_null(json_object_get(l, "suppressed_by")))
          continue;
        leak_line(out, l, "Suppressed connection");
        fprintf(out, ", in %s (pid %lld), by %s\n", cw_jstr(rep, "program", "?"), cw_jint(rep, "pid", 0),
                cw_jstr(l, "suppressed_by", "?"));
      }
    }
    fputs("Suppressions used:\n  count rule\n", out);
    for (int s = 0; s < r->supp->n; s++)
      if (t->hits[s])
        fprintf(out, "  %5d %s\n", t->hits[s], r->supp->v[s].text);
    fputs(RULE "\n", out);
  }
  cw_leaks_print_warnings(out, t, r);
  if (t->nleaks)
    fprintf(out, "SUMMARY: connwarden: %d leaked connection%s in %d of %d process%s", t->nleaks,
            plural(t->nleaks), t->nleaky, t->nprocs, t->nprocs == 1 ? "" : "es");
  else
    fprintf(out, "SUMMARY: connwarden: 0 leaked connections in %d process%s", t->nprocs,
            t->nprocs == 1 ? "" : "es");
  if (t->nsuppressed)
    fprintf(out, " (%d suppressed)", t->nsuppressed);
  fputc('\n', out);
}

void cw_leaks_print_json(FILE *out, const struct cw_tree *t, const struct cw_leaks_run *r, int status) {
  json_t *doc = json_object(), *cmd = json_array(), *reports = json_array(), *rules = json_array();
  for (int i = 0; r->cmd && r->cmd[i]; i++)
    json_array_append_new(cmd, json_string(r->cmd[i]));
  size_t i;
  json_t *rep;
  /* processes with leaks (suppressed ones included); the rest are only counted */
  json_array_foreach(t->reports, i, rep) {
    if (json_array_size(json_object_get(rep, "leaks")) || cw_jint(rep, "dropped", 0))
      json_array_append(reports, rep);
  }
  for (int s = 0; r->supp && s < r->supp->n; s++)
    json_array_append_new(rules, json_pack("{s:s, s:i, s:i}", "rule", r->supp->v[s].text, "line",
                                           r->supp->v[s].line, "hits", t->hits[s]));
  json_object_set_new(doc, "version", json_string("0.1.0"));
  json_object_set_new(doc, "command", cmd);
  json_object_set_new(doc, "command_status", json_integer(r->cmd_status));
  json_object_set_new(doc, "exit_status", json_integer(status));
  json_object_set_new(doc, "leaks", json_integer(t->nleaks));
  json_object_set_new(doc, "suppressed", json_integer(t->nsuppressed));
  json_object_set_new(doc, "processes", json_integer(t->nprocs));
  json_object_set_new(doc, "processes_with_leaks", json_integer(t->nleaky));
  json_object_set_new(doc, "reports", reports);
  json_object_set(doc, "unchecked", t->unchecked);
  json_object_set(doc, "still_running", t->running);
  json_object_set_new(doc, "suppressions", rules);
  json_object_set_new(doc, "symbolized", json_boolean(!t->symbolizer_missing));
  json_dumpf(doc, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(doc);
}
