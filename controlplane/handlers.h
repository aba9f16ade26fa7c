/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handlers.h - sluiced's state as the API handlers see it.
 */
#ifndef SLUICE_CP_HANDLERS_H
#define SLUICE_CP_HANDLERS_H

#include <limits.h>
#include <sys/socket.h>
#include <jansson.h>

#include "driver.h"
#include "model.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

struct sluiced {
	struct cp_model model;
	struct cp_driver driver;	/* ops NULL: no fast path (--no-fastpath) */
	int adopted;			/* the pinned program was adopted at start */
	char state_path[PATH_MAX];	/* "" : not persisted */
	char config_path[PATH_MAX];
	char socket_path[PATH_MAX];
};

/* cp_api_handler for sluiced: decodes, dispatches, answers. */
json_t *sluiced_handle(void *arg, json_t *req, const struct ucred *peer);

#endif /* SLUICE_CP_HANDLERS_H */
