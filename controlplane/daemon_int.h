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
#include <stdio.h>
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
	/* The configuration last applied (apply.c): what differs from it
	 * in the running state was changed at runtime. Kept in applied_path,
	 * beside the state file. */
	struct cp_model applied;
	char applied_path[PATH_MAX + 16];
	char last_apply[512];		/* the last apply's outcome, for status */
};

/* Makes the running state equal to the configuration in path as one
 * transaction (apply.c): validated whole, refused if it would undo
 * runtime changes or empty the running state unless forced, applied as
 * one diff, persisted once. why names the caller in the log ("reload").
 * Returns the reply: the changes, and whether they were applied. */
#define SLUICED_APPLY_DRY_RUN 1u
#define SLUICED_APPLY_FORCE 2u
json_t *sluiced_apply(struct sluiced *d, const char *path, unsigned int flags, const char *why);
/* At start, after the running state is loaded: the base (from
 * applied_path, else the config file), then a log line if the running
 * state differs from the config file. */
void sluiced_load_base(struct sluiced *d, int config_loaded);
void sluiced_tell_drift(struct sluiced *d);
/* sluiced --check-config: loads and validates path, says so on out. */
int sluiced_check_config(const char *path, const struct lb_params *limits, FILE *out);

/* The API socket's handler (cp_api_handler, handlers.c): decodes a
 * request, dispatches it over d's model and fast path, answers. */
json_t *sluiced_handle(void *arg, json_t *req, const struct ucred *peer);

#endif /* SLUICE_CP_DAEMON_INT_H */
