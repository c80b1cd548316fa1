/* main.c - the `connwarden` command: picks the verb, prints --help and --version, and hands the
 * remaining words to the verb's module. Every verb returns its exit status; nothing here talks to
 * a process or the environment. */
#include <stdio.h>
#include <string.h>
#include "health.h"
#include "err.h"
#include "ls.h"
#include "query.h"
#include "run.h"
#include "top.h"
#include "exporter.h"

#ifndef CW_VERSION_STRING
#define CW_VERSION_STRING "unknown"
#endif

static void usage(FILE *out) {
  fputs("usage: connwarden COMMAND [ARGS...]\n"
        "\n"
        "Run a program with the connwarden library preloaded, or look into one that runs with it.\n"
        "\n"
        "commands:\n"
        "  run [OPTIONS] [--] CMD [ARGS...]       run CMD with the library preloaded (same PID,\n"
        "                                         unless --check-leaks: then run waits for it)\n"
        "  stats [--json|--prom] [PID|SOCKET]     counters, caps and destinations; --json the raw\n"
        "                                         stats reply, --prom the Prometheus metrics\n"
        "  conns [--json] [--stacks] [PID|SOCKET] one line per open connection (--stacks: and\n"
        "                                         where it was opened, with CONNWARDEN_BACKTRACE=1)\n"
        "  top [PID|SOCKET]                       live view, every second (q quit, s sort); one\n"
        "                                         snapshot when stdout is not a terminal\n"
        "  ls                                     shimmed processes of this user, with their names\n"
        "  set PID|SOCKET NAME VALUE              change max_conns, max_conns_per_dest,\n"
        "                                         idle_timeout, max_lifetime or evict_idle at\n"
        "                                         run time\n"
        "  reap PID|SOCKET FD                     reap one connection now (shutdown; released\n"
        "                                         after the grace period if still held)\n"
        "  check [PID|SOCKET|--all] [LIMITS]      health: exit 0 when no connection is abandoned\n"
        "                                         or leaking in close-wait now and no connect is\n"
        "                                         queued longer than the queue timeout; 1 with one\n"
        "                                         line per problem; 2 when it cannot ask. LIMITS:\n"
        "                                         --max-abandoned N, --max-close-wait N,\n"
        "                                         --max-queue-wait D\n"
        "  exporter --listen HOST:PORT            serve /metrics for every shimmed process of\n"
        "                                         this user, labelled pid, comm, name and tree\n"
        "                                         (Prometheus)\n"
        "  help, --help                           this text\n"
        "  --version                              the version\n"
        "\n"
        "run options (each sets the CONNWARDEN_* variable it names; --opt VALUE or --opt=VALUE):\n",
        out);
  cw_run_usage(out);
  fputs("\n"
        "D is a duration: 250ms, 30s, 10m, 1h or a number of seconds.\n"
        "The library is $CONNWARDEN_LIB, else libconnwarden.so next to this program, else\n"
        "../lib/connwarden/libconnwarden.so from it.\n"
        "\n"
        "A PID's stats socket is PID.sock in the first of $CONNWARDEN_RUNDIR,\n"
        "$XDG_RUNTIME_DIR/connwarden, /run/connwarden (root) and /tmp/connwarden-UID that has one.\n"
        "A SOCKET is a path (it contains a '/'). Without either, the one shimmed process running.\n"
        "\n"
        "Exit status: 0 done, 1 failed (no such process, an error reply), 2 bad command line;\n"
        "run: the command's own status, 127 when it is not found; check: 0 healthy,\n"
        "1 unhealthy, 2 when it cannot ask.\n",
        out);
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
  } verbs[] = {
      {"run", cw_run_exec}, {"stats", cw_query_stats}, {"conns", cw_query_conns},
      {"ls", cw_ls_run},    {"set", cw_query_set},     {"reap", cw_query_reap},
      {"top", cw_top_run},  {"exporter", cw_exporter_run}, {"check", cw_health_run},
  };
  if (argc < 2) {
    usage(stderr);
    return CW_EXIT_USAGE;
  }
  const char *verb = argv[1];
  if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
    usage(stdout);
    return fflush(stdout) == 0 ? CW_EXIT_OK : CW_EXIT_FAIL;
  }
  if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0 || strcmp(verb, "version") == 0) {
    puts("connwarden " CW_VERSION_STRING);
    return fflush(stdout) == 0 ? CW_EXIT_OK : CW_EXIT_FAIL;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
    if (strcmp(verb, verbs[i].name) != 0)
      continue;
    /* VERB --help: the one help text (for run, only before the command) */
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
      usage(stdout);
      return fflush(stdout) == 0 ? CW_EXIT_OK : CW_EXIT_FAIL;
    }
    return verbs[i].fn(argc - 2, argv + 2);
  }
  if (verb[0] == '-')
    return cw_err_usage("unknown option '%s'", verb);
  return cw_err_usage("unknown command '%s'", verb);
}
