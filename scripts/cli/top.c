/* top.c - `connwarden top [PID|SOCKET]`: on a terminal, owns the screen (alternate screen, keys
 * read raw) and repaints the frame topframe.c lays out every second, giving the terminal back on
 * every way out (q, a signal, the process going away); otherwise prints one plain snapshot and
 * exits. Single-threaded; the signal handlers only set flags. */
#define _GNU_SOURCE
#include "top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "client.h"
#include "err.h"
#include "topframe.h"

#define TICK_MS 1000

/* ---- the terminal --------------------------------------------------------------------------- */

static volatile sig_atomic_t quit_signal, resized, suspended; /* set by handlers, read by the loop */
static struct termios saved_tio;                            /* immutable once the view starts */
static int tio_saved;

static void on_quit(int sig) { quit_signal = sig; }
static void on_winch(int sig) { resized = 1; }
static void on_tstp(int sig) { suspended = 1; }

static void term_enter(void) {
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
    struct termios raw = saved_tio;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout); /* alternate screen, no cursor */
  fflush(stdout);
}

static void term_leave(void) {
  fputs("\033[?25h\033[?1049l", stdout);
  fflush(stdout);
  if (tio_saved)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
  tio_saved = 0;
}

static void term_size(int *rows, int *cols) {
  struct winsize ws;
  *rows = 24;
  *cols = 80;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    *rows = ws.ws_row;
    *cols = ws.ws_col;
  }
}

/* The frame at the top of the screen, each line cut to the width, the rows below it cleared, the
 * last line (the footer) on the bottom row. Lines that do not fit are left out, never wrapped. */
static void paint(const struct cw_frame *f, int rows, int cols) {
  size_t body = f->n ? f->n - 1 : 0, room = rows > 1 ? (size_t)rows - 1 : 0;
  if (body > room)
    body = room;
  for (size_t i = 0; i < body; i++)
    printf("\033[%zu;1H%s%.*s\033[0m\033[K", i + 1, f->heading[i] ? "\033[7m" : "", cols, f->line[i]);
  printf("\033[%zu;1H\033[J", body + 1);
  if (f->n)
    printf("\033[%d;1H\033[7m%.*s\033[0m", rows, cols, f->line[f->n - 1]);
  fflush(stdout);
}

static void handle(int sig, void (*fn)(int)) {
  struct sigaction sa = {.sa_handler = fn}; /* no SA_RESTART: poll() returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

/* ---- the verb ------------------------------------------------------------------------------- */

static int gone(const struct cw_target *t, const char *err) { return cw_err_fail("%s: %s", t->label, err); }

static int snapshot(const struct cw_target *t, struct cw_sample *first) {
  struct cw_sample cur;
  char err[256];
  int rc;
  usleep(TICK_MS * 1000); /* a second sample, for the rates */
  if ((rc = cw_topframe_fetch(t, &cur, err, sizeof err)) < 0)
    return gone(t, err);
  struct cw_frame f = {0};
  cw_topframe_draw(&f, &cur, first, 0, 0, "");
  for (size_t i = 0; i < f.n && !f.failed; i++)
    puts(f.line[i]);
  rc = f.failed ? cw_err_fail("out of memory") : 0;
  cw_topframe_free(&f);
  cw_topframe_sample_free(&cur);
  if (rc == 0 && fflush(stdout) != 0)
    rc = cw_err_fail("writing the output failed");
  return rc;
}

static int live(const struct cw_target *t, struct cw_sample *first) {
  struct cw_sample cur = *first, prev = {0};
  char err[256], status[300] = "";
  int rc = 0, rows, cols, keys = 1, sort = 0;
  int64_t next = cur.at_ms + TICK_MS;
  handle(SIGINT, on_quit);
  handle(SIGTERM, on_quit);
  handle(SIGHUP, on_quit);
  handle(SIGWINCH, on_winch);
  handle(SIGTSTP, on_tstp);
  term_enter();
  while (!quit_signal) {
    struct cw_frame f = {0};
    term_size(&rows, &cols);
    cw_topframe_draw(&f, &cur, &prev, rows, sort, status);
    if (f.failed) {
      cw_topframe_free(&f);
      rc = -ENOMEM;
      break;
    }
    paint(&f, rows, cols);
    cw_topframe_free(&f);
    int redraw = 0;
    while (!redraw && !quit_signal) {
      int64_t left = next - cw_topframe_now_ms();
      if (left <= 0)
        break;
      struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
      int pr = poll(&p, keys ? 1 : 0, (int)left);
      if (suspended) { /* Ctrl-Z: give the terminal back while stopped */
        suspended = 0;
        term_leave();
        signal(SIGTSTP, SIG_DFL);
        raise(SIGTSTP);
        handle(SIGTSTP, on_tstp);
        term_enter();
        redraw = 1;
      }
      if (resized) {
        resized = 0;
        redraw = 1;
      }
      if (pr <= 0)
        continue;
      char k[16];
      ssize_t got = read(STDIN_FILENO, k, sizeof k);
      if (got <= 0) {
        keys = got < 0 && errno == EINTR; /* end of input: no more keys, the view goes on */
        continue;
      }
      for (ssize_t i = 0; i < got; i++) {
        if (k[i] == 'q' || k[i] == 'Q')
          quit_signal = -1;
        else if (k[i] == 's' || k[i] == 'S') {
          sort = (sort + 1) % CW_TOPFRAME_NSORTS;
          redraw = 1;
        }
      }
    }
    if (quit_signal || redraw)
      continue;
    struct cw_sample fresh;
    int fr = cw_topframe_fetch(t, &fresh, err, sizeof err);
    next = cw_topframe_now_ms() + TICK_MS;
    if (fr == -ENOENT || fr == -ECONNREFUSED) {
      rc = fr;
      break;
    }
    if (fr < 0) { /* keep the last sample on the screen and say why it is old */
      snprintf(status, sizeof status, "no new sample: %s", err);
      continue;
    }
    status[0] = '\0';
    cw_topframe_sample_free(&prev);
    prev = cur;
    cur = fresh;
    if (cw_topframe_pid(&prev) != cw_topframe_pid(&cur)) /* another process on the same path */
      cw_topframe_sample_free(&prev);
  }
  term_leave();
  cw_topframe_sample_free(&prev);
  cw_topframe_sample_free(&cur);
  if (rc == -ENOMEM)
    return cw_err_fail("out of memory");
  if (rc < 0)
    return gone(t, err);
  if (quit_signal > 0) /* as a signal would have ended us */
    return 128 + quit_signal;
  return fflush(stdout) == 0 ? CW_EXIT_OK : CW_EXIT_FAIL;
}

int cw_top_run(int argc, char **argv) {
  const char *arg = NULL;
  struct cw_target t;
  struct cw_sample first;
  char err[256];
  int rc;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0 && i + 1 == argc - 1 && !arg) {
      arg = argv[++i];
      break;
    }
    if (argv[i][0] == '-' && argv[i][1])
      return cw_err_usage("top: unknown option '%s'", argv[i]);
    if (arg)
      return cw_err_usage("top: one target at most, got '%s' and '%s'", arg, argv[i]);
    arg = argv[i];
  }
  if ((rc = cw_client_resolve(arg, &t)) != 0)
    return rc;
  if ((rc = cw_topframe_fetch(&t, &first, err, sizeof err)) < 0)
    return gone(&t, err);
  if (!isatty(STDOUT_FILENO)) {
    rc = snapshot(&t, &first);
    cw_topframe_sample_free(&first);
    return rc;
  }
  return live(&t, &first);
}
