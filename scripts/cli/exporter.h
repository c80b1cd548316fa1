/* exporter.h - the exporter verb: an HTTP server whose /metrics holds the metrics of every live
 * shimmed process of this user, each sample labelled pid and comm, for Prometheus to scrape.
 * Runs until SIGINT or SIGTERM; returns the exit status. */
#ifndef CW_CLI_EXPORTER_H
#define CW_CLI_EXPORTER_H

int cw_exporter_run(int argc, char **argv); /* --listen HOST:PORT */

#endif
