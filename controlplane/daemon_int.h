/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_int.h - the daemon core's own state, shared by its rooms and no
 * one else: daemon.c (options, loading, the event loop) and handlers.c
 * (what each API request answers). daemon.h is what a program that
 * embeds the core (sluiced, sluice-dpdk) sees.
 */
#ifndef SLUICE_CP_DAEMON_INT_H
#define SLUICE_CP_DAEMON_INT_H

#include <limits.h>
#include <sys/socket.h>
#include <jansson.h>

#include "driver.h"
#include "model.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

/* The daemon's state: the desired state, the fast path it is pushed to,
 * and where it is kept and served. Owned by the control thread. */
struct sluiced {
	struct cp_model model;
	struct cp_driver driver;	/* ops NULL: no fast path (--no-fastpath) */
	int adopted;			/* the pinned program was adopted at start */
	char state_path[PATH_MAX];	/* "" : not persisted */
	char config_path[PATH_MAX];
	char socket_path[PATH_MAX];
	char health_path[PATH_MAX];	/* the health file; "" : not kept */
	int health_none;		/* --health-file none */
	__u64 health_saved;		/* model.health_changes last written */
	int healthd_silent;		/* said so in the log */
};

/* The API socket's handler (cp_api_handler, handlers.c): decodes a
 * request, dispatches it over d's model and fast path, answers. */
json_t *sluiced_handle(void *arg, json_t *req, const struct ucred *peer);

#endif /* SLUICE_CP_DAEMON_INT_H */
