/*
 * The ingest service's loop (services/ingest/ingest.c), apart from main() so
 * that the program's start-up and the loop read separately.
 */
#ifndef NW_INGEST_H
#define NW_INGEST_H

#include <signal.h>

#include "config.h"

/* Run until *stop is set or a fatal error. *give_up is set (by the
 * shutdown watchdog) when sends still waiting for the broker must be
 * abandoned. Returns the process exit code: 0 after an orderly shutdown,
 * 2 when the configuration or a service is unusable at start, 1 after a
 * fatal error while running. */
int nw_ingest_run(const nw_config_t *cfg, volatile sig_atomic_t *stop,
                  volatile sig_atomic_t *give_up);

#endif
