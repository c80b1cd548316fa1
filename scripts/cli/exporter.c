/* exporter.c - `connwarden exporter --listen HOST:PORT`: libmicrohttpd serves HTTP from its one
 * internal thread, so scrapes run one at a time. Each GET /metrics scans the run directories
 * (client.c: stale sockets of dead processes are removed and skipped), asks every live process for
 * its stats (for its name and its tree's) and its metrics, and merges them into one exposition:
 * each family once, with its HELP and TYPE, every sample labelled pid, comm, name and tree. The
 * main thread only binds the socket and waits for a signal. */
#define _GNU_SOURCE
#include "exporter.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include "client.h"
#include "err.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define MAX_FAMILIES 256       /* far above the library's ~15; a flood from one reply stops here */
#define CONNECTION_LIMIT 64    /* concurrent HTTP clients */
#define CONNECTION_TIMEOUT_S 10 /* an idle HTTP client is dropped after this */

/* ---- merging expositions -------------------------------------------------------------------- */

struct family {
  char *name, *help, *type; /* help and type: from the first process that gave them */
  char *samples;            /* every process's samples of this family, labelled */
  size_t len;
  FILE *out; /* open_memstream over samples/len until the merge is finished */
};

struct merge {
  struct family fam[MAX_FAMILIES];
  int n;
  int failed;
};

static struct family *family(struct merge *m, const char *name, size_t len) {
  for (int i = 0; i < m->n; i++)
    if (strlen(m->fam[i].name) == len && memcmp(m->fam[i].name, name, len) == 0)
      return &m->fam[i];
  if (m->n == MAX_FAMILIES)
    return NULL;
  struct family *f = &m->fam[m->n];
  memset(f, 0, sizeof *f);
  if (!(f->name = strndup(name, len)) || !(f->out = open_memstream(&f->samples, &f->len))) {
    free(f->name);
    m->failed = 1;
    return NULL;
  }
  m->n++;
  return f;
}

static size_t name_len(const char *s) {
  size_t n = 0;
  while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || s[n] == '_' || s[n] == ':' ||
         (n > 0 && s[n] >= '0' && s[n] <= '9'))
    n++;
  return n;
}

/* Does sample name (len bytes) belong to family f: the name itself, or a histogram's or summary's
 * series of it? */
static int member(const struct family *f, const char *name, size_t len) {
  static const char *const suffixes[] = {"", "_bucket", "_sum", "_count", "_created"};
  size_t fl = strlen(f->name);
  if (len < fl || memcmp(name, f->name, fl) != 0)
    return 0;
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
    if (len - fl == strlen(suffixes[i]) && memcmp(name + fl, suffixes[i], len - fl) == 0)
      return 1;
  return 0;
}

/* "# HELP name text" / "# TYPE name type": the family, its text kept when it is the first. */
static struct family *meta(struct merge *m, const char *line, int is_type) {
  const char *name = line + 7;
  size_t nl = name_len(name);
  if (nl == 0 || (name[nl] != ' ' && name[nl] != '\0'))
    return NULL;
  struct family *f = family(m, name, nl);
  const char *text = name[nl] ? name + nl + 1 : "";
  char **slot = f ? (is_type ? &f->type : &f->help) : NULL;
  if (slot && !*slot && !(*slot = strdup(text)))
    m->failed = 1;
  return f;
}

/* One process's exposition into the merge, each sample with the process's labels (labels, an
 * escaped label list) put first. Returns the count of lines that were not understood. */
static int add_exposition(struct merge *m, const char *text, const char *labels) {
  struct family *cur = NULL;
  int bad = 0;
  for (const char *p = text, *end; *p; p = *end ? end + 1 : end) {
    end = strchrnul(p, '\n');
    size_t ll = (size_t)(end - p);
    char *line = strndup(p, ll);
    if (!line) {
      m->failed = 1;
      return bad;
    }
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
      cur = meta(m, line, line[2] == 'T');
      bad += cur == NULL;
    } else if (line[0] != '#' && line[0] != '\0') {
      size_t nl = name_len(line);
      struct family *f = NULL;
      if (nl > 0 && (line[nl] == '{' || line[nl] == ' '))
        f = cur && member(cur, line, nl) ? cur : family(m, line, nl);
      if (!f) {
        bad++;
      } else if (line[nl] == ' ') {
        fprintf(f->out, "%.*s{%s}%s\n", (int)nl, line, labels, line + nl);
      } else {
        const char *rest = line + nl + 1; /* after '{' */
        fprintf(f->out, "%.*s{%s%s%s\n", (int)nl, line, labels, rest[0] == '}' ? "" : ",", rest);
      }
    }
    free(line);
  }
  return bad;
}

/* Label value escaping of the text format (\\, \" and \n); other bytes outside printable ASCII
 * become '?'. */
static void label_value(char *out, size_t len, const char *in) {
  size_t o = 0;
  for (; *in && o + 3 < len; in++) {
    unsigned char c = (unsigned char)*in;
    if (c == '\\' || c == '"' || c == '\n') {
      out[o++] = '\\';
      out[o++] = c == '\n' ? 'n' : (char)c;
    } else {
      out[o++] = c >= ' ' && c <= '~' ? (char)c : '?';
    }
  }
  out[o] = '\0';
}

/* pid="P",comm="C",name="N",tree="T" for the process whose stats reply is stats: name is the
 * process's (CONNWARDEN_NAME or derived), tree the name of its tree's root when its caps are
 * shared by a tree ("tree": {"name": ...}), else its own name. Escaped, into out (malloc'd). */
static char *process_labels(int pid, const json_t *stats) {
  char comm[64], name[256], comm_esc[160], name_esc[1024], tree_esc[1024];
  label_value(comm_esc, sizeof comm_esc, cw_client_comm(pid, comm, sizeof comm));
  label_value(name_esc, sizeof name_esc, cw_client_name(stats, pid, name, sizeof name));
  const char *tree = json_string_value(json_object_get(json_object_get(stats, "tree"), "name"));
  if (tree && tree[0])
    label_value(tree_esc, sizeof tree_esc, tree);
  else
    memcpy(tree_esc, name_esc, strlen(name_esc) + 1);
  char *labels = NULL;
  if (asprintf(&labels, "pid=\"%d\",comm=\"%s\",name=\"%s\",tree=\"%s\"", pid, comm_esc, name_esc,
               tree_esc) < 0)
    return NULL;
  return labels;
}

/* The whole /metrics body (malloc'd, *len bytes), or NULL when memory ran out. */
static char *scrape(size_t *len) {
  struct cw_live *v;
  struct merge *m = calloc(1, sizeof *m);
  int n = m ? cw_client_scan("stats", &v) : -ENOMEM;
  int processes = 0, errors = 0;
  char *body = NULL;
  if (n < 0) {
    free(m);
    return NULL;
  }
  for (int i = 0; i < n && !m->failed; i++) {
    char *metrics = NULL, *labels = NULL;
    json_t *stats = NULL;
    /* a process that answers stats but not metrics (it died in between) is an error too */
    if (v[i].err || !v[i].reply || !(stats = json_loads(v[i].reply, 0, NULL)) ||
        cw_client_request(v[i].path, "metrics", &metrics) < 0 || strncmp(metrics, "error:", 6) == 0 ||
        metrics[0] == '\0') {
      errors++;
    } else if (!(labels = process_labels(v[i].pid, stats))) {
      m->failed = 1;
    } else {
      errors += add_exposition(m, metrics, labels) > 0;
      processes++;
    }
    free(labels);
    free(metrics);
    json_decref(stats);
  }
  cw_client_scan_free(v, n);

  FILE *out = open_memstream(&body, len);
  for (int i = 0; i < m->n; i++) {
    struct family *f = &m->fam[i];
    if (fclose(f->out) != 0)
      m->failed = 1;
    if (!out || m->failed || f->len == 0)
      continue;
    if (f->help)
      fprintf(out, "# HELP %s %s\n", f->name, f->help);
    if (f->type)
      fprintf(out, "# TYPE %s %s\n", f->name, f->type);
    fwrite(f->samples, 1, f->len, out);
  }
  if (out) {
    fprintf(out,
            "# HELP connwarden_exporter_processes Shimmed processes whose metrics this scrape holds.\n"
            "# TYPE connwarden_exporter_processes gauge\n"
            "connwarden_exporter_processes %d\n"
            "# HELP connwarden_exporter_scrape_errors Live shimmed processes whose metrics could "
            "not be read, wholly or in part, in this scrape.\n"
            "# TYPE connwarden_exporter_scrape_errors gauge\n"
            "connwarden_exporter_scrape_errors %d\n",
            processes, errors);
    if (fclose(out) != 0)
      m->failed = 1;
  }
  for (int i = 0; i < m->n; i++) {
    free(m->fam[i].name);
    free(m->fam[i].help);
    free(m->fam[i].type);
    free(m->fam[i].samples);
  }
  if (!out || m->failed) {
    free(body);
    body = NULL;
  }
  free(m);
  return body;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static const char index_page[] =
    "<html><head><title>connwarden exporter</title></head><body><h1>connwarden exporter</h1>"
    "<p><a href=\"/metrics\">Metrics</a> of every shimmed process of this user.</p></body></html>\n";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (!r) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

#define TEXT(s) (char *)(s), sizeof(s) - 1, MHD_RESPMEM_PERSISTENT

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **state) {
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", TEXT("only GET and HEAD\n"));
  if (strcmp(url, "/metrics") == 0) {
    size_t len;
    char *body = scrape(&len);
    if (!body)
      return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", TEXT("out of memory\n"));
    return reply(c, MHD_HTTP_OK, CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
  }
  if (strcmp(url, "/") == 0)
    return reply(c, MHD_HTTP_OK, "text/html", TEXT(index_page));
  return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", TEXT("not found: the metrics are at /metrics\n"));
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  cw_err_warn("exporter: %s", msg);
}

/* ---- the verb ------------------------------------------------------------------------------- */

/* "HOST:PORT" or "[IPV6]:PORT" -> a listening socket. Returns the fd, or minus the exit status
 * after reporting the problem. */
static int listen_on(const char *spec, char *shown, size_t shown_len) {
  char host[256];
  const char *port, *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1] || strlen(spec) >= sizeof host)
    return -cw_err_usage("exporter: --listen takes HOST:PORT, got '%s'", spec);
  port = colon + 1;
  snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
  if (host[0] == '[') {
    size_t hl = strlen(host);
    if (hl < 3 || host[hl - 1] != ']')
      return -cw_err_usage("exporter: --listen: bad address '%s'", spec);
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  } else if (strchr(host, ':')) {
    return -cw_err_usage("exporter: --listen: put an IPv6 address in brackets: [%s]:%s", host, port);
  }
  if (strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
    return -cw_err_usage("exporter: --listen: bad port '%s'", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai != 0)
    return -cw_err_fail("exporter: %s: %s", host, gai_strerror(gai));
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, e = 0;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0)
    e = errno;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char nhost[NI_MAXHOST], nport[NI_MAXSERV];
  if (!e && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
      getnameinfo((struct sockaddr *)&ss, sl, nhost, sizeof nhost, nport, sizeof nport,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0)
    snprintf(shown, shown_len, strchr(nhost, ':') ? "[%s]:%s" : "%s:%s", nhost, nport);
  else
    snprintf(shown, shown_len, "%s", spec);
  freeaddrinfo(ai);
  if (e) {
    if (fd >= 0)
      close(fd);
    return -cw_err_fail("exporter: listening on %s: %s", spec, strerror(e));
  }
  return fd;
}

int cw_exporter_run(int argc, char **argv) {
  const char *spec = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
      spec = argv[++i];
    else if (strncmp(argv[i], "--listen=", 9) == 0)
      spec = argv[i] + 9;
    else if (strcmp(argv[i], "--listen") == 0)
      return cw_err_usage("exporter: --listen needs HOST:PORT");
    else
      return cw_err_usage("exporter: unexpected '%s'", argv[i]);
  }
  if (!spec)
    return cw_err_usage("exporter: --listen HOST:PORT is required (e.g. --listen 127.0.0.1:9464)");
  char shown[NI_MAXHOST + NI_MAXSERV + 4];
  int fd = listen_on(spec, shown, sizeof shown);
  if (fd < 0)
    return -fd;

  /* the daemon's thread inherits this mask: the signals are left to sigwait below */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, so that every message goes through it */
      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
  if (!d) {
    close(fd);
    return cw_err_fail("exporter: the HTTP server did not start");
  }
  printf("connwarden exporter: serving http://%s/metrics\n", shown);
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d); /* closes the listening socket too */
  return CW_EXIT_OK;
}
